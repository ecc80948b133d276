//! btt's iostat-like output (`-I FILE`, every `-S` seconds of trace time, then totals): the
//! counters each device keeps and the lines they print as.
//!
//! As in btt, reads are index 1 and writes index 0, and the TOTAL line of an interval sums
//! per-second rates taken after the interval's counters were reset (so they show zero).

use std::io::{self, Write};

use super::time::{fixed, to_sec};

pub const HEADER: &str = "Device:       rrqm/s   wrqm/s     r/s     w/s    rsec/s    wsec/s     \
rkB/s     wkB/s avgrq-sz avgqu-sz   await   svctm  %util   Stamp\n";

/// One set of counters: the current interval's or the whole trace's.
#[derive(Debug, Clone, Default)]
pub struct Counters {
    merges: [u64; 2],
    ios: [u64; 2],
    sectors: [u64; 2],
    wait: u64,
    service: u64,
    last_queue_change: f64,
    last_busy_change: f64,
    queue_time: f64,
    idle_time: f64,
    in_queue: i32,
    on_device: i32,
}

impl Counters {
    fn account_queue(&mut self, now: f64) {
        self.queue_time += (now - self.last_queue_change) * f64::from(self.in_queue);
        self.last_queue_change = now;
    }

    fn reset_interval(&mut self) {
        self.merges = [0; 2];
        self.ios = [0; 2];
        self.sectors = [0; 2];
        self.wait = 0;
        self.service = 0;
        self.queue_time = 0.0;
        self.idle_time = 0.0;
    }
}

/// A device's interval and whole-trace counters.
#[derive(Debug, Clone, Default)]
pub struct DeviceIostat {
    interval: Counters,
    all: Counters,
}

/// Index of reads (1) or writes (0).
fn rw(is_read: bool) -> usize {
    usize::from(is_read)
}

impl DeviceIostat {
    fn both(&mut self, f: impl Fn(&mut Counters)) {
        f(&mut self.interval);
        f(&mut self.all);
    }

    fn account_idle(&mut self, now: f64, force: bool) {
        let idle = self.interval.on_device == 0 || force;
        self.both(|c| {
            if idle {
                c.idle_time += now - c.last_busy_change;
            }
            c.last_busy_change = now;
        });
    }

    pub fn getrq(&mut self, now: f64) {
        self.both(|c| {
            c.account_queue(now);
            c.in_queue += 1;
        });
    }

    pub fn merge(&mut self, is_read: bool) {
        self.both(|c| c.merges[rw(is_read)] += 1);
    }

    pub fn issue(&mut self, is_read: bool, sectors: u64, now: f64) {
        self.both(|c| {
            c.ios[rw(is_read)] += 1;
            c.sectors[rw(is_read)] = c.sectors[rw(is_read)].wrapping_add(sectors);
        });
        self.account_idle(now, false);
        self.both(|c| c.on_device += 1);
    }

    /// Insert (or merge) to completion, added to the completing device.
    pub fn wait(&mut self, ns: u64) {
        self.both(|c| c.wait = c.wait.wrapping_add(ns));
    }

    pub fn complete(&mut self, now: f64, queue_to_complete: u64) {
        self.both(|c| {
            c.account_queue(now);
            c.in_queue -= 1;
        });
        self.account_idle(now, false);
        self.both(|c| {
            c.on_device -= 1;
            c.service = c.service.wrapping_add(queue_to_complete);
        });
    }
}

/// Rates summed over devices for the TOTAL line.
#[derive(Debug, Default)]
pub struct Totals {
    n: f64,
    merges: [f64; 2],
    ios: [f64; 2],
    sectors: [f64; 2],
    avg_size: f64,
    avg_queue: f64,
    await_ms: f64,
    service_ms: f64,
    util: f64,
}

/// Prints one device's line. `all`: the whole trace up to `stamp`, else the interval that
/// started at `interval_start` (whose counters are then reset).
pub fn write_device(
    out: &mut dyn Write,
    header: &str,
    dev: &mut DeviceIostat,
    stamp: u64,
    interval_start: u64,
    all: bool,
    totals: &mut Totals,
) -> io::Result<()> {
    let now = to_sec(stamp);
    let dt = if all {
        stamp as f64 / 1.0e9
    } else {
        stamp.wrapping_sub(interval_start) as f64 / 1.0e9
    };
    dev.account_idle(now, true);
    dev.both(|c| c.account_queue(now));
    let c = if all { &mut dev.all } else { &mut dev.interval };
    let nios = (c.ios[0] + c.ios[1]) as f64;
    let nrqm = (c.merges[0] + c.merges[1]) as f64;
    let (avg_size, service_ms) = if nios > 0.0 {
        (
            (c.sectors[0].wrapping_add(c.sectors[1])) as f64 / nios,
            1000.0 * to_sec(c.service) / nios,
        )
    } else {
        (0.0, 0.0)
    };
    let await_ms = if nios + nrqm > 0.0 {
        1000.0 * to_sec(c.wait) / (nios + nrqm)
    } else {
        0.0
    };
    let util = if c.idle_time <= dt {
        100.0 * (1.0 - c.idle_time / dt)
    } else {
        0.0
    };
    let fields = [
        (c.merges[1] as f64 / dt, 8),
        (c.merges[0] as f64 / dt, 8),
        (c.ios[1] as f64 / dt, 7),
        (c.ios[0] as f64 / dt, 7),
        (c.sectors[1] as f64 / dt, 9),
        (c.sectors[0] as f64 / dt, 9),
        ((c.sectors[1] / 2) as f64 / dt, 9),
        ((c.sectors[0] / 2) as f64 / dt, 9),
        (avg_size, 8),
        (c.queue_time / dt, 8),
        (await_ms, 7),
        (service_ms, 7),
    ];
    write_line(out, header, fields, util, stamp, all)?;
    if !all {
        c.reset_interval();
    }

    totals.n += 1.0;
    for i in 0..2 {
        totals.merges[i] += c.merges[i] as f64 / dt;
        totals.ios[i] += c.ios[i] as f64 / dt;
        totals.sectors[i] += c.sectors[i] as f64 / dt;
    }
    totals.avg_size += avg_size;
    totals.avg_queue += c.queue_time / dt;
    totals.await_ms += await_ms;
    totals.service_ms += service_ms;
    totals.util += util;
    Ok(())
}

/// The TOTAL line, when more than one device printed.
pub fn write_totals(out: &mut dyn Write, t: &Totals, stamp: u64, all: bool) -> io::Result<()> {
    if t.n < 2.0 {
        return Ok(());
    }
    let fields = [
        (t.merges[0], 8),
        (t.merges[1], 8),
        (t.ios[0], 7),
        (t.ios[1], 7),
        (t.sectors[0], 9),
        (t.sectors[1], 9),
        (t.sectors[0] / 2.0, 9),
        (t.sectors[1] / 2.0, 9),
        (t.avg_size / t.n, 8),
        (t.avg_queue / t.n, 8),
        (t.await_ms / t.n, 7),
        (t.service_ms / t.n, 7),
    ];
    write_line(out, "TOTAL", fields, t.util / t.n, stamp, all)
}

/// One line: the label, twelve values with their widths, %util, then the time of the
/// interval's end (or TOTAL for the whole trace).
fn write_line(
    out: &mut dyn Write,
    label: &str,
    fields: [(f64, usize); 12],
    util: f64,
    stamp: u64,
    all: bool,
) -> io::Result<()> {
    let mut line = format!("{label:<11} ");
    for (v, w) in fields {
        line += &fixed(v, w, 2);
        line.push(' ');
    }
    line += &fixed(util, 6, 2);
    if all {
        line += "   TOTAL\n";
    } else {
        line += &fixed(to_sec(stamp), 8, 2);
        line.push('\n');
    }
    out.write_all(line.as_bytes())
}
