//! What btt does with each record: follows every queued I/O through getrq, insert, merge,
//! issue and completion, and adds each step's latency to the system's, the device's and the
//! process's statistics. The rules (which events count, which are skipped, what a duplicate
//! or a device's first events mean) are btt 2.09's, so that the report matches it.

use std::collections::HashMap;
use std::io::{self, Write};

use super::active::ActivePeriods;
use super::avg::{Span, Spans};
use super::device::{Device, QueuedIo, devno, is_remapper};
use super::iostat_file::{self as iostat, Totals};
use super::latency::Latency;
use super::plots::Plots;
use super::process::{ProcessId, Processes};
use super::ranges::Regions;
use super::sps::SeekStream;
use super::time::{bit_time, stamp, to_sec};
use super::trees::IoTrees;
use crate::blktrace::format::{Trace, TraceHeader, act, category, notify};

/// Buckets of btt's size histograms: 1..=1024 blocks, then larger.
pub const SIZE_BUCKETS: usize = 1025;

/// Choices that change the analysis (as opposed to what is printed).
#[derive(Debug, Clone)]
pub struct Settings {
    /// `-a`: seek distances from the previous end even for overlapping I/Os.
    pub seek_absolute: bool,
    /// `-A`: also keep the Q2D histogram.
    pub all_data: bool,
    /// `-d`: gaps shorter than this many seconds join activity ranges.
    pub range_delta: f64,
    /// `-r`: ignore remap records.
    pub ignore_remaps: bool,
    /// `-t`/`-T`: only events within these seconds.
    pub window: Option<(f64, f64)>,
    /// `-S`: the iostat interval in nanoseconds.
    pub iostat_interval: u64,
    /// `-D`: the devices to report, in this order (all, in order of appearance, when empty).
    pub devices: Vec<u32>,
    /// `-M`: names for devices, by `MAJ,MIN`.
    pub device_names: Vec<(String, String)>,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            seek_absolute: false,
            all_data: false,
            range_delta: 0.1,
            ignore_remaps: false,
            window: None,
            iostat_interval: 1_000_000_000,
            devices: Vec::new(),
            device_names: Vec::new(),
        }
    }
}

/// Where the outputs written while reading go.
pub struct Sinks {
    /// Messages (`blk_add_trace_msg`) as they are read.
    pub messages: Box<dyn Write>,
    /// `-I`: the iostat-like lines.
    pub iostat: Option<Box<dyn Write>>,
    /// `-p`: every I/O's path when it completes.
    pub per_io: Option<Box<dyn Write>>,
    /// `-P`: per device, each completion's queue, issue and completion times.
    pub trees: Option<IoTrees>,
    /// `-B -l -L -m -q -Q -s -u -z`: the per-device plot-data files.
    pub plots: Plots,
}

/// The state of one btt run.
pub struct Analysis {
    pub settings: Settings,
    pub sinks: Sinks,
    pub devices: Vec<Device>,
    by_dev: HashMap<u32, usize>,
    pub processes: Processes,
    pub spans: Spans,
    pub regions: Regions,
    pub active: ActivePeriods,
    last_q: Option<u64>,
    pub queue_sizes: Vec<u64>,
    pub issue_sizes: Vec<u64>,
    /// Block events analysed (btt's `n_traces`).
    pub traces: u64,
    /// Past the end of the `-T` window: nothing more is read.
    pub done: bool,
    iostat_start: Option<u64>,
    pub last_stamp: u64,
}

/// The path steps btt knows an event as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Queue,
    Remap,
    GetRq,
    Sleep,
    Merge,
    Insert,
    Issue,
    Complete,
    Requeue,
    Message,
}

impl Analysis {
    pub fn new(settings: Settings, sinks: Sinks) -> io::Result<Analysis> {
        let mut a = Analysis {
            settings,
            sinks,
            devices: Vec::new(),
            by_dev: HashMap::new(),
            processes: Processes::default(),
            spans: Spans::default(),
            regions: Regions::default(),
            active: ActivePeriods::default(),
            last_q: None,
            queue_sizes: vec![0; SIZE_BUCKETS],
            issue_sizes: vec![0; SIZE_BUCKETS],
            traces: 0,
            done: false,
            iostat_start: None,
            last_stamp: 0,
        };
        if let Some(out) = a.sinks.iostat.as_mut() {
            out.write_all(iostat::HEADER.as_bytes())?;
        }
        Ok(a)
    }

    /// Takes one record.
    pub fn add(&mut self, t: &Trace) -> io::Result<()> {
        let h = &t.header;
        if h.is(category::NOTIFY) {
            if h.action & !act::CGROUP == notify::PROCESS {
                self.processes.named(h.pid, t.payload_text());
            } else if h.is_message() {
                self.message(t)?;
            }
            return Ok(());
        }
        if h.is(category::PC) {
            return Ok(());
        }
        if let Some((start, end)) = self.settings.window {
            let now = bit_time(h.time);
            if now < start {
                return Ok(());
            }
            if now > end {
                self.done = true;
                return Ok(());
            }
        }
        self.traces += 1;
        self.iostat_tick(h.time)?;
        // The cgroup flag is not part of the action (btt 2.09 skips such records).
        match h.action & 0xffff & !act::CGROUP {
            act::QUEUE => self.queue(h)?,
            act::REMAP => self.remap(t),
            act::INSERT => self.step(h, Step::Insert),
            act::GETRQ => self.step(h, Step::GetRq),
            act::BACKMERGE | act::FRONTMERGE => self.step(h, Step::Merge),
            act::SLEEPRQ => self.step(h, Step::Sleep),
            act::REQUEUE => self.requeue(h),
            act::ISSUE => self.issue(h)?,
            act::COMPLETE => self.complete(h)?,
            act::PLUG => {
                if let Some(d) = self.device_mut(h.device) {
                    d.plugs.plug(bit_time(h.time));
                }
            }
            act::UNPLUG_IO | act::UNPLUG_TIMER => {
                let by_timer = h.action & 0xffff & !act::CGROUP == act::UNPLUG_TIMER;
                let ios = t.payload_u64();
                if let Some(&i) = self.by_dev.get(&h.device) {
                    // btt's histogram counts every unplug by I/O count, plugged or not.
                    if !by_timer {
                        self.sinks.plots.unplug(i, ios);
                    }
                    self.devices[i]
                        .plugs
                        .unplug(bit_time(h.time), ios, by_timer);
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn device_mut(&mut self, dev: u32) -> Option<&mut Device> {
        let &i = self.by_dev.get(&dev)?;
        Some(&mut self.devices[i])
    }

    /// btt's `dip_alloc`: the device of an event, created on first sight. Until a device's
    /// first queue (or remap) its events are skipped: they belong to I/Os queued before the
    /// trace started.
    fn follow(&mut self, h: &TraceHeader, step: Step) -> Option<usize> {
        let now = bit_time(h.time);
        let i = match self.by_dev.get(&h.device) {
            Some(&i) => i,
            None => {
                let devno = devno(h.device);
                let name = self
                    .settings
                    .device_names
                    .iter()
                    .find(|(_, no)| *no == devno)
                    .map(|(name, _)| name.clone());
                let file_name = name.as_deref().unwrap_or(&devno);
                if let Some(trees) = self.sinks.trees.as_mut() {
                    trees.add_device(h.device, file_name);
                }
                self.sinks.plots.add_device(file_name);
                self.devices.push(Device::new(h.device, name, now));
                self.by_dev.insert(h.device, self.devices.len() - 1);
                self.devices.len() - 1
            }
        };
        let d = &mut self.devices[i];
        if d.waiting_for_queue {
            if matches!(step, Step::Queue | Step::Remap) {
                d.waiting_for_queue = false;
            } else {
                return None;
            }
        }
        d.end_secs = now;
        Some(i)
    }

    /// Adds a span to the system's, the device's and the process's statistics.
    fn add_span(&mut self, dev: usize, process: ProcessId, span: Span, ns: u64) {
        self.spans.add(span, ns);
        self.devices[dev].spans.add(span, ns);
        self.processes.get_mut(process).spans.add(span, ns);
    }

    fn queue(&mut self, h: &TraceHeader) -> io::Result<()> {
        if h.bytes == 0 {
            return Ok(());
        }
        let Some(dev) = self.follow(h, Step::Queue) else {
            return Ok(());
        };
        let io = QueuedIo {
            time: h.time,
            sector: h.sector,
            bytes: h.bytes,
            process: 0,
            sleep_time: 0,
            getrq_time: None,
            insert_time: None,
            merge_time: None,
            issue_time: None,
            issue_at: (0, 0),
        };
        let (sector, end) = (io.sector, io.end());
        let at = self.devices[dev].enqueue(io);
        let process = self.processes.of_pid(h.pid);
        self.devices[dev].queued.get_mut(at).process = process;
        let (absolute, delta) = (self.settings.seek_absolute, self.settings.range_delta);
        let remapper = is_remapper(h.device);
        let q2q = if remapper { Span::Q2Qdm } else { Span::Q2Q };

        let d = &mut self.devices[dev];
        let dist = d.q2q_seeks.add(sector, end, absolute);
        let (now, read) = (bit_time(h.time), is_read(h));
        self.sinks
            .plots
            .seek(dev, SeekStream::Q2q, now, dist, read)?;
        let d = &mut self.devices[dev];
        self.regions.queued.update(h.time, delta);
        if let Some(gap) = since(&mut d.last_q, h.time) {
            d.spans.add(q2q, gap);
        }
        d.regions.queued.update(h.time, delta);
        let p = self.processes.get_mut(process);
        if let Some(gap) = since(&mut p.last_q, h.time) {
            p.spans.add(q2q, gap);
        }
        p.regions.queued.update(h.time, delta);
        if !remapper {
            count_size(&mut self.queue_sizes, h.bytes);
        }
        if let Some(gap) = since(&mut self.last_q, h.time) {
            self.spans.add(q2q, gap);
        }
        let d = &mut self.devices[dev];
        d.queues += 1;
        d.active_at_q_total += d.active_at_q;
        d.active_at_q += 1;
        Ok(())
    }

    /// Getrq, sleep, insert and merge: each marks the queued I/O at its sector.
    fn step(&mut self, h: &TraceHeader, step: Step) {
        if h.bytes == 0 {
            return;
        }
        let Some(dev) = self.follow(h, step) else {
            return;
        };
        self.processes.of_pid(h.pid);
        let d = &mut self.devices[dev];
        match step {
            Step::GetRq => d.iostat.getrq(to_sec(h.time)),
            Step::Merge => d.iostat.merge(is_read(h)),
            _ => {}
        }
        let mut spans: [Option<(Span, u64)>; 2] = [None, None];
        let mut process = 0;
        if let Some(q) = d.queued_at(h.sector) {
            process = q.process;
            match step {
                Step::GetRq => {
                    q.getrq_time = Some(h.time);
                    spans[0] = Some((Span::Q2G, tdelta(q.time, h.time)));
                    if q.sleep_time != 0 {
                        spans[1] = Some((Span::S2G, tdelta(q.sleep_time, h.time)));
                    }
                }
                Step::Sleep => q.sleep_time = h.time,
                Step::Insert => {
                    q.insert_time = Some(h.time);
                    spans[0] = q.getrq_time.map(|g| (Span::G2I, tdelta(g, h.time)));
                }
                Step::Merge => {
                    q.merge_time = Some(h.time);
                    spans[0] = Some((Span::Q2M, tdelta(q.time, h.time)));
                }
                _ => {}
            }
        }
        if step == Step::Merge {
            let d = &mut self.devices[dev];
            d.active_at_q = d.active_at_q.saturating_sub(1);
        }
        for (span, ns) in spans.into_iter().flatten() {
            self.add_span(dev, process, span, ns);
        }
    }

    fn requeue(&mut self, h: &TraceHeader) {
        let Some(dev) = self.follow(h, Step::Requeue) else {
            return;
        };
        self.processes.of_pid(h.pid);
        let d = &mut self.devices[dev];
        d.queues += 1;
        d.active_at_q_total += d.active_at_q;
        d.active_at_q += 1;
    }

    /// A remap: Q2A for the I/O queued on the device it came from.
    fn remap(&mut self, t: &Trace) {
        if self.settings.ignore_remaps {
            return;
        }
        let h = &t.header;
        let Some(remap) = t.remap() else {
            return;
        };
        if self.follow(h, Step::Remap).is_none() {
            return;
        }
        self.processes.of_pid(h.pid);
        let Some(&from) = self.by_dev.get(&remap.device_from) else {
            return;
        };
        let from_dev = self.devices[from].dev;
        let Some(q) = self.devices[from].queued_at(remap.sector_from) else {
            return;
        };
        let (process, ns) = (q.process, tdelta(q.time, h.time));
        let span = if is_remapper(from_dev) {
            Span::Q2Adm
        } else {
            Span::Q2A
        };
        self.add_span(from, process, span, ns);
    }

    fn issue(&mut self, h: &TraceHeader) -> io::Result<()> {
        if h.bytes == 0 {
            return Ok(());
        }
        let Some(dev) = self.follow(h, Step::Issue) else {
            return Ok(());
        };
        self.processes.of_pid(h.pid);
        let absolute = self.settings.seek_absolute;
        let all_data = self.settings.all_data;
        let sectors = h.sectors();
        let end = h.sector.wrapping_add(u64::from(sectors));
        let d = &mut self.devices[dev];
        d.active_at_q = d.active_at_q.saturating_sub(1);
        let dist = d.d2d_seeks.add(h.sector, end, absolute);
        let (now, read) = (bit_time(h.time), is_read(h));
        let plots = &mut self.sinks.plots;
        plots.seek(dev, SeekStream::D2d, now, dist, read)?;
        plots.issue(dev, now, h.sector, end, read)?;
        let d = &mut self.devices[dev];
        d.iostat
            .issue(is_read(h), u64::from(sectors), to_sec(h.time));
        d.issues += 1;
        if !is_remapper(h.device) {
            count_size(&mut self.issue_sizes, h.bytes);
        }
        let mut spans = Vec::new();
        let mut waits = Vec::new();
        for at in d.queued_within(h.sector, end) {
            let q = d.queued.get_mut(at);
            if let Some(i) = q.insert_time {
                spans.push((q.process, Span::I2D, tdelta(i, h.time)));
            } else if let Some(m) = q.merge_time {
                spans.push((q.process, Span::M2D, tdelta(m, h.time)));
            }
            q.issue_time = Some(h.time);
            q.issue_at = (h.sector, sectors);
            // Not btt's tdelta: an issue stamped before its queue wraps around.
            let wait = h.time.wrapping_sub(q.time);
            if all_data {
                d.q2d.add(wait);
            }
            waits.push(wait);
        }
        for (process, span, ns) in spans {
            self.add_span(dev, process, span, ns);
        }
        for wait in waits {
            self.sinks.plots.latency(dev, Latency::Q2d, h.time, wait)?;
        }
        Ok(())
    }

    fn complete(&mut self, h: &TraceHeader) -> io::Result<()> {
        if h.bytes == 0 {
            return Ok(());
        }
        let Some(dev) = self.follow(h, Step::Complete) else {
            return Ok(());
        };
        let completer = self.processes.of_pid(h.pid);
        let delta = self.settings.range_delta;
        let blocks = u64::from(h.sectors());
        self.spans.blocks.add(blocks);
        self.devices[dev].spans.blocks.add(blocks);
        self.processes.get_mut(completer).spans.blocks.add(blocks);
        self.regions.completed.update(h.time, delta);
        self.devices[dev].regions.completed.update(h.time, delta);
        self.processes
            .get_mut(completer)
            .regions
            .completed
            .update(h.time, delta);

        self.sinks.plots.complete(dev, bit_time(h.time))?;
        let end = h.sector.wrapping_add(blocks);
        let covered = self.devices[dev].queued_within(h.sector, end);
        let mut queue_times = Vec::new();
        let mut last_issue = None;
        for at in covered {
            let q = self.devices[dev].queued.remove(at);
            queue_times.push(q.time);
            last_issue = q.issue_time.or(last_issue);
            let q2c = tdelta(q.time, h.time);
            let span = if is_remapper(self.devices[dev].dev) {
                Span::Q2Cdm
            } else {
                Span::Q2C
            };
            self.add_span(dev, q.process, span, q2c);
            self.sinks.plots.latency(dev, Latency::Q2c, q.time, q2c)?;
            if let Some(issued) = q.issue_time {
                self.devices[dev].active.add(issued, h.time);
                self.active.add(issued, h.time);
                let d2c = tdelta(issued, h.time);
                self.add_span(dev, q.process, Span::D2C, d2c);
                self.sinks.plots.latency(dev, Latency::D2c, h.time, d2c)?;
                let d = &mut self.devices[dev];
                if let Some(i) = q.insert_time.or(q.merge_time) {
                    d.iostat.wait(tdelta(i, h.time));
                }
                d.iostat.complete(to_sec(h.time), q2c);
            }
            if let Some(out) = self.sinks.per_io.as_mut() {
                write_io_path(out, &q, h)?;
            }
        }
        if let Some(out) = self.sinks.per_io.as_mut() {
            out.write_all(b"-----------------------------------------\n")?;
        }
        if let Some(trees) = self.sinks.trees.as_mut() {
            trees.completion(h.device, &queue_times, last_issue, h.time)?;
        }
        Ok(())
    }

    fn message(&mut self, t: &Trace) -> io::Result<()> {
        let h = &t.header;
        let Some(dev) = self.follow(h, Step::Message) else {
            return Ok(());
        };
        self.processes.of_pid(h.pid);
        let mut line = format!("{} {} ", self.devices[dev].header(15), stamp(h.time)).into_bytes();
        line.extend_from_slice(t.payload_text());
        line.push(b'\n');
        self.sinks.messages.write_all(&line)
    }

    /// The devices to report, in order: `-D`'s list, or all in order of appearance.
    pub fn report_order(&self) -> Vec<usize> {
        if self.settings.devices.is_empty() {
            (0..self.devices.len()).collect()
        } else {
            self.settings
                .devices
                .iter()
                .filter_map(|dev| self.by_dev.get(dev).copied())
                .collect()
        }
    }

    /// Prints an iostat interval when one has passed.
    fn iostat_tick(&mut self, time: u64) -> io::Result<()> {
        if self.sinks.iostat.is_none() {
            return Ok(());
        }
        match self.iostat_start {
            None => self.iostat_start = Some(time),
            Some(start) if time.wrapping_sub(start) >= self.settings.iostat_interval => {
                self.write_iostat(time, false)?;
                self.iostat_start = Some(time);
            }
            Some(_) => {}
        }
        self.last_stamp = time;
        Ok(())
    }

    /// One iostat block: an interval ending at `stamp`, or (`all`) the whole trace.
    pub fn write_iostat(&mut self, stamp: u64, all: bool) -> io::Result<()> {
        let order = self.report_order();
        let start = self.iostat_start.unwrap_or(0);
        let Some(out) = self.sinks.iostat.as_mut() else {
            return Ok(());
        };
        if all {
            out.write_all(iostat::HEADER.as_bytes())?;
        }
        let mut totals = Totals::default();
        for i in order {
            let d = &mut self.devices[i];
            let header = d.header(11);
            iostat::write_device(out, &header, &mut d.iostat, stamp, start, all, &mut totals)?;
        }
        iostat::write_totals(out, &totals, stamp, all)?;
        if !all {
            out.write_all(b"\n")?;
        }
        Ok(())
    }
}

/// The time since the previous queue (at least 1 ns), and this queue remembered.
fn since(last: &mut Option<u64>, time: u64) -> Option<u64> {
    let gap = last.map(|l| if time > l { time - l } else { 1 });
    *last = Some(time);
    gap
}

/// `to - from`, at least 1 ns (btt's `tdelta`).
fn tdelta(from: u64, to: u64) -> u64 {
    if from < to { to - from } else { 1 }
}

fn is_read(h: &TraceHeader) -> bool {
    h.is(category::READ)
}

fn count_size(buckets: &mut [u64], bytes: u32) {
    let blocks = (bytes >> 9) as usize;
    if let Some(i) = blocks.checked_sub(1) {
        buckets[i.min(SIZE_BUCKETS - 1)] += 1;
    }
}

/// `-p`: one I/O's path, from queue to completion.
fn write_io_path(out: &mut dyn Write, q: &QueuedIo, c: &TraceHeader) -> io::Result<()> {
    let sectors = q.bytes >> 9;
    let mut text = format!(
        "{:3},{:<3}: ",
        crate::blktrace::format::major(c.device),
        crate::blktrace::format::minor(c.device)
    );
    let line = |time: u64, letter: char, sector: u64, n: u32| {
        format!("{} {letter} {sector:10}+{n:<4}\n", stamp(time))
    };
    text += &line(q.time, 'Q', q.sector, sectors);
    let indent = "         ";
    for (time, letter) in [
        (q.getrq_time, 'G'),
        (q.insert_time, 'I'),
        (q.merge_time, 'M'),
    ] {
        if let Some(time) = time {
            text += indent;
            text += &line(time, letter, q.sector, sectors);
        }
    }
    if let Some(issued) = q.issue_time {
        text += indent;
        text += &line(issued, 'D', q.issue_at.0, q.issue_at.1);
    }
    text += indent;
    text += &line(c.time, 'C', c.sector, c.sectors());
    text.push('\n');
    out.write_all(text.as_bytes())
}
