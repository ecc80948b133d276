//! The reports: sysstat's iostat.c computing and printing, as pure functions of two samples
//! (previous and current counters, and the uptime between them).

use std::fmt::Write as _;

use super::{
    devices::{AddAs, DeviceEntry, DeviceKind, DeviceList, DevmapLookup},
    format::{Printer, Unit},
    naming::Naming,
    options::{IostatOptions, Selection},
};
use crate::host::{
    counters::{CpuCounters, IoCounters},
    stat_files::{SourceError, StatFiles},
};

pub use crate::host::system::Host;

/// sysstat's first line (and a blank one): `Linux 6.18.0 (host) \t12/01/26 \t_x86_64_\t(2 CPU)`.
pub fn text_banner(host: &Host, date: &str) -> String {
    format!(
        "{} {} ({}) \t{} \t_{}_\t({} CPU)\n\n",
        host.sysname, host.release, host.nodename, date, host.machine, host.cpus
    )
}

/// The state iostat carries from report to report.
pub struct IostatReport {
    options: IostatOptions,
    printer: Printer,
    naming: Naming,
    devices: DeviceList,
    /// Which of the two sample slots is current.
    current: usize,
    uptime_cs: [u64; 2],
    cpu: [CpuCounters; 2],
}

impl IostatReport {
    /// Lists the devices and groups named on the command line, in their order.
    pub fn new(
        options: IostatOptions,
        printer: Printer,
        naming: Naming,
        files: &StatFiles,
    ) -> Self {
        let mut devices = DeviceList::default();
        for selected in &options.selections {
            let devmap = |name: &str| naming.dm_name_of_registered(name);
            let devmap: Option<DevmapLookup> = options.devmap_names.then_some(&devmap);
            let (name, how) = match &selected.what {
                Selection::Device(name) => (name, AddAs::Found),
                Selection::DeviceAndPartitions(name) => (name, AddAs::DiskAndPartitions),
                Selection::Group(name) => (name, AddAs::Group),
            };
            devices.add(name, how, None, selected.sorted, files, devmap);
        }
        Self {
            options,
            printer,
            naming,
            devices,
            current: 1,
            uptime_cs: [0; 2],
            cpu: [CpuCounters::default(); 2],
        }
    }

    pub fn options(&self) -> &IostatOptions {
        &self.options
    }

    /// The first lines: `Linux 6.1.0 (host) \t11/24/26 \t_x86_64_\t(2 CPU)`, or the JSON head.
    pub fn banner(&self, host: &Host, date: &str) -> String {
        if !self.options.json {
            return text_banner(host, date);
        }
        let mut s = String::from("{\"sysstat\": {\n\t\"hosts\": [\n\t\t{\n");
        let _ = writeln!(s, "\t\t\t\"nodename\": \"{}\",", host.nodename);
        let _ = writeln!(s, "\t\t\t\"sysname\": \"{}\",", host.sysname);
        let _ = writeln!(s, "\t\t\t\"release\": \"{}\",", host.release);
        let _ = writeln!(s, "\t\t\t\"machine\": \"{}\",", host.machine);
        let _ = writeln!(s, "\t\t\t\"number-of-cpus\": {},", host.cpus);
        let _ = writeln!(s, "\t\t\t\"date\": \"{date}\",");
        s.push_str("\t\t\t\"statistics\": [\n");
        s
    }

    /// The JSON document's end.
    pub fn footer(&self) -> &'static str {
        if self.options.json {
            "\t\t\t]\n\t\t}\n\t]\n}}\n"
        } else {
            ""
        }
    }

    /// Reads the current sample: uptime, CPU, and the devices.
    pub fn sample(&mut self, files: &StatFiles) -> Result<(), SourceError> {
        let slot = self.current;
        self.devices.mark_all_missing();
        self.uptime_cs[slot] = files.uptime_cs()?;
        self.cpu[slot] = files.cpu()?;
        let sorted = self.options.keeps_sorted();
        if self.options.everything {
            self.devices
                .read_diskstats(slot, files, self.options.extended, sorted);
        } else {
            self.devices
                .read_sysfs(slot, files, self.options.all_devices, sorted);
        }
        Ok(())
    }

    /// The current sample becomes the previous one.
    pub fn advance(&mut self) {
        self.current ^= 1;
    }

    /// One report (sysstat's write_stats). With `skip` (-y's first sample) nothing is printed
    /// but group membership is still counted, as sysstat does.
    pub fn write_stats(&mut self, timestamp: &str, skip: bool) -> String {
        let mut out = String::new();
        let json = self.options.json;
        let mut tab = 4;
        if json && !skip {
            tabs(&mut out, tab);
            out.push_str("{\n");
            tab += 1;
        }
        if self.options.timestamp && !skip {
            if json {
                tabs(&mut out, tab);
                let _ = writeln!(out, "\"timestamp\": \"{timestamp}\",");
            } else {
                let _ = writeln!(out, "{timestamp}");
            }
        }
        if self.options.cpu && !skip {
            self.write_cpu(&mut out, tab);
            if json {
                if self.options.disk {
                    out.push(',');
                }
                out.push('\n');
            }
        }
        let itv = interval(
            self.uptime_cs[self.current ^ 1],
            self.uptime_cs[self.current],
        );
        if self.options.disk {
            self.write_disks(&mut out, &mut tab, itv, skip);
        }
        if !skip {
            if json {
                tab -= 1;
                tabs(&mut out, tab);
                out.push('}');
            } else {
                out.push('\n');
            }
        }
        out
    }

    fn write_cpu(&self, out: &mut String, tab: usize) {
        let (prev, curr) = (&self.cpu[self.current ^ 1], &self.cpu[self.current]);
        let total = interval(prev.total(), curr.total());
        let share = |p: u64, c: u64| {
            if c < p {
                0.0
            } else {
                (c - p) as f64 / total as f64 * 100.0
            }
        };
        let values = [
            share(prev.user, curr.user),
            share(prev.nice, curr.nice),
            // System time includes hard and soft interrupts.
            share(
                prev.system + prev.softirq + prev.hardirq,
                curr.system + curr.softirq + curr.hardirq,
            ),
            share(prev.iowait, curr.iowait),
            share(prev.steal, curr.steal),
            share(prev.idle, curr.idle),
        ];
        if self.options.json {
            tabs(out, tab);
            let _ = write!(
                out,
                "\"avg-cpu\":  {{\"user\": {:.2}, \"nice\": {:.2}, \"system\": {:.2}, \"iowait\": {:.2}, \"steal\": {:.2}, \"idle\": {:.2}}}",
                values[0], values[1], values[2], values[3], values[4], values[5]
            );
            return;
        }
        out.push_str("avg-cpu:  %user   %nice %system %iowait  %steal   %idle\n       ");
        for value in values {
            self.printer.percent(out, self.options.human, 7, 2, value);
        }
        out.push_str("\n\n");
    }

    fn write_disks(&mut self, out: &mut String, tab: &mut usize, itv: u64, skip: bool) {
        let o = &self.options;
        // Human pretty -x prints four sections (read, write, discard, flush) one after another.
        let (first, last) = if o.pretty && o.extended && !o.short && !o.json && !o.compact {
            (1, 4)
        } else {
            (0, 0)
        };
        let mut next = false;
        for part in first..=last {
            if !skip {
                self.write_header(out, tab, part);
            }
            for (entry, counters) in self.visible_entries(part == first) {
                if skip {
                    continue;
                }
                if self.options.json && next {
                    out.push_str(",\n");
                }
                next = true;
                if self.options.extended && matches!(entry.kind, DeviceKind::Group { members: 0 }) {
                    // sysstat's extended writers skip a group without members (after the comma).
                    continue;
                }
                let name = self.naming.display_name(&entry, &self.options);
                let members = match entry.kind {
                    DeviceKind::Group { members } => members.max(1),
                    _ => 1,
                };
                let sample = DeltaSample {
                    prev: &counters.0,
                    curr: &counters.1,
                    itv,
                };
                if self.options.extended {
                    self.write_extended(out, *tab, part, &sample, members, &name);
                } else {
                    self.write_basic(out, *tab, &sample, &name);
                }
            }
            if part > 0 && part < last && !skip {
                out.push('\n');
            }
        }
        if self.options.json && !skip {
            out.push('\n');
            *tab -= 1;
            tabs(out, *tab);
            out.push_str("]\n");
        }
    }

    /// The entries a report prints, in list order, with groups following their members and
    /// holding their sums (sysstat's walk in write_stats). `count_members` is true on the
    /// first section only, so four human sections count each member once.
    fn visible_entries(
        &mut self,
        count_members: bool,
    ) -> Vec<(DeviceEntry, (IoCounters, IoCounters))> {
        let slot = self.current;
        let o = &self.options;
        let mut shown = Vec::new();
        let mut group: Option<usize> = None;
        let mut index = 0;
        let len = self.devices.entries.len();
        loop {
            // Which entry to consider now: the next one, or a group that just ended.
            let at = if index < len {
                let at = index;
                index += 1;
                if matches!(self.devices.entries[at].kind, DeviceKind::Group { .. }) {
                    let previous = group.replace(at);
                    self.devices.entries[at].stats[slot] = IoCounters::default();
                    match previous {
                        Some(previous) => previous,
                        None => continue,
                    }
                } else {
                    at
                }
            } else {
                match group.take() {
                    Some(g) => g,
                    None => break,
                }
            };
            let entry = &self.devices.entries[at];
            let is_group = matches!(entry.kind, DeviceKind::Group { .. });
            if !entry.exists && !is_group {
                continue;
            }
            if let (Some(g), false, true) = (group, is_group, count_members) {
                let stats = entry.stats[slot];
                let filtered = !o.unfiltered && !stats.has_io();
                let group_entry = &mut self.devices.entries[g];
                if let DeviceKind::Group { members } = &mut group_entry.kind {
                    *members += 1;
                }
                if !filtered {
                    group_entry.stats[slot].accumulate(&stats);
                }
            }
            if o.group_total_only && group.is_some() && !is_group {
                continue;
            }
            let entry = &self.devices.entries[at];
            let curr = entry.stats[slot];
            let mut prev = entry.stats[slot ^ 1];
            if !o.unfiltered && !curr.has_io() {
                continue;
            }
            if o.zero_omit
                && curr.rd_ios == prev.rd_ios
                && curr.wr_ios == prev.wr_ios
                && curr.dc_ios == prev.dc_ios
                && curr.fl_ios == prev.fl_ios
            {
                continue;
            }
            if was_reinserted(&prev, &curr) {
                prev = IoCounters::default();
            }
            shown.push((entry.clone(), (prev, curr)));
        }
        shown
    }

    fn write_header(&self, out: &mut String, tab: &mut usize, part: u8) {
        let o = &self.options;
        let (units, space) = self.units();
        if o.json {
            tabs(out, *tab);
            out.push_str("\"disk\": [\n");
            *tab += 1;
            return;
        }
        if !o.pretty {
            out.push_str("Device       ");
        }
        if o.extended {
            if o.short {
                let _ = write!(
                    out,
                    "      tps     {space}{units}/s    rqm/s   await  areq-sz  aqu-sz  %util"
                );
            } else {
                if part == 1 || part == 0 {
                    let _ = write!(
                        out,
                        "     r/s    {space}r{units}/s   rrqm/s  %rrqm r_await rareq-sz"
                    );
                }
                if part == 2 || part == 0 {
                    let _ = write!(
                        out,
                        "     w/s    {space}w{units}/s   wrqm/s  %wrqm w_await wareq-sz"
                    );
                }
                if part == 3 || part == 0 {
                    let _ = write!(
                        out,
                        "     d/s    {space}d{units}/s   drqm/s  %drqm d_await dareq-sz"
                    );
                }
                if part == 4 || part == 0 {
                    out.push_str("     f/s f_await  aqu-sz  %util");
                }
            }
        } else if o.short {
            let _ = write!(
                out,
                "      tps   {space}{units}_read/s    {space}{units}_w+d/s   {space}{units}_read    {space}{units}_w+d"
            );
        } else {
            let _ = write!(
                out,
                "      tps   {space}{units}_read/s   {space}{units}_wrtn/s   {space}{units}_dscd/s   {space}{units}_read   {space}{units}_wrtn   {space}{units}_dscd"
            );
        }
        if o.pretty {
            out.push_str(" Device");
        }
        out.push('\n');
    }

    /// The unit name and the space that keeps columns aligned, and the sectors per unit.
    fn units(&self) -> (&'static str, &'static str) {
        let o = &self.options;
        if o.kilobytes {
            ("kB", " ")
        } else if o.megabytes {
            ("MB", " ")
        } else if o.extended {
            ("sec", "")
        } else {
            ("Blk", "")
        }
    }

    fn sectors_per_unit(&self) -> f64 {
        if self.options.kilobytes {
            2.0
        } else if self.options.megabytes {
            2048.0
        } else {
            1.0
        }
    }

    fn write_basic(&self, out: &mut String, tab: usize, s: &DeltaSample, name: &str) {
        let o = &self.options;
        let fctr = self.sectors_per_unit();
        let (rd_sec, wr_sec, dc_sec) = (
            sector_delta(s.prev.rd_sectors, s.curr.rd_sectors),
            sector_delta(s.prev.wr_sectors, s.curr.wr_sectors),
            sector_delta(s.prev.dc_sectors, s.curr.dc_sectors),
        );
        let tps = s.rate(|c| c.rd_ios.wrapping_add(c.wr_ios).wrapping_add(c.dc_ios));
        let (mut rsec, mut wsec, mut dsec) = (
            s.rate(|c| c.rd_sectors),
            s.rate(|c| c.wr_sectors),
            s.rate(|c| c.dc_sectors),
        );
        // Whole units, truncated like sysstat's integer division.
        let total = |sectors: u64| sectors / fctr as u64;
        if o.json {
            tabs(out, tab);
            let (units, _) = match (o.kilobytes, o.megabytes) {
                (true, _) => ("kB", ""),
                (_, true) => ("MB", ""),
                _ => ("Blk", ""),
            };
            let _ = write!(
                out,
                "{{\"disk_device\": \"{name}\", \"tps\": {tps:.2}, \"{units}_read/s\": {:.2}, \"{units}_wrtn/s\": {:.2}, \"{units}_dscd/s\": {:.2}, \"{units}_read\": {}, \"{units}_wrtn\": {}, \"{units}_dscd\": {}}}",
                rsec / fctr,
                wsec / fctr,
                dsec / fctr,
                total(rd_sec),
                total(wr_sec),
                total(dc_sec)
            );
            return;
        }
        if !o.pretty {
            self.printer.item(out, &format!("{name:<13}"));
        }
        if !o.human {
            rsec /= fctr;
            wsec /= fctr;
            dsec /= fctr;
        }
        let p = &self.printer;
        p.float(out, Unit::None, 8, 2, tps);
        let unit = if o.human { Unit::Sector } else { Unit::None };
        let amount = |sectors: u64| if o.human { sectors } else { total(sectors) };
        if o.short {
            p.float(out, unit, 12, 2, rsec);
            p.float(out, unit, 12, 2, wsec + dsec);
            p.integer(out, unit, 10, amount(rd_sec));
            p.integer(out, unit, 10, amount(wr_sec.wrapping_add(dc_sec)));
        } else {
            for v in [rsec, wsec, dsec] {
                p.float(out, unit, 12, 2, v);
            }
            for v in [rd_sec, wr_sec, dc_sec] {
                p.integer(out, unit, 10, amount(v));
            }
        }
        if o.pretty {
            self.printer.item(out, &format!(" {name}"));
        }
        out.push('\n');
    }

    fn write_extended(
        &self,
        out: &mut String,
        tab: usize,
        part: u8,
        s: &DeltaSample,
        members: u32,
        name: &str,
    ) {
        let o = &self.options;
        let x = ExtendedStats::compute(s);
        let fctr = self.sectors_per_unit();
        let util = x.util / 10.0 / f64::from(members);
        let aqu = s.rate32(|c| c.rq_ticks) / 1000.0;
        let rqm = |f: fn(&IoCounters) -> u64| s.rate(f);
        if o.json {
            self.write_extended_json(out, tab, s, &x, name, util, aqu);
            return;
        }
        let p = &self.printer;
        if !o.pretty {
            p.item(out, &format!("{name:<13}"));
        }
        let sector_unit = if o.human { Unit::Sector } else { Unit::None };
        let kb_unit = if o.human { Unit::Kilobyte } else { Unit::None };
        let per_unit = |sectors: f64| if o.human { sectors } else { sectors / fctr };
        if o.short {
            p.float(
                out,
                Unit::None,
                8,
                2,
                s.rate(|c| c.rd_ios.wrapping_add(c.wr_ios).wrapping_add(c.dc_ios)),
            );
            p.float(
                out,
                sector_unit,
                9,
                2,
                per_unit(x.rsectors + x.wsectors + x.dsectors),
            );
            p.float(
                out,
                Unit::None,
                8,
                2,
                rqm(|c| {
                    c.rd_merges
                        .wrapping_add(c.wr_merges)
                        .wrapping_add(c.dc_merges)
                }),
            );
            p.float(out, Unit::None, 7, 2, x.await_ms);
            p.float(out, kb_unit, 8, 2, x.arqsz / 2.0);
            p.float(out, Unit::None, 7, 2, aqu);
            p.percent(out, o.human, 6, 2, util);
        } else {
            let sections = [
                (
                    1,
                    rqm(|c| c.rd_ios),
                    x.rsectors,
                    rqm(|c| c.rd_merges),
                    x.rrqm_pc,
                    x.r_await,
                    x.rarqsz,
                ),
                (
                    2,
                    rqm(|c| c.wr_ios),
                    x.wsectors,
                    rqm(|c| c.wr_merges),
                    x.wrqm_pc,
                    x.w_await,
                    x.warqsz,
                ),
                (
                    3,
                    rqm(|c| c.dc_ios),
                    x.dsectors,
                    rqm(|c| c.dc_merges),
                    x.drqm_pc,
                    x.d_await,
                    x.darqsz,
                ),
            ];
            for (section, ios, sectors, merges, merge_pc, await_ms, size) in sections {
                if part == section || part == 0 {
                    p.float(out, Unit::None, 7, 2, ios);
                    p.float(out, sector_unit, 9, 2, per_unit(sectors));
                    p.float(out, Unit::None, 8, 2, merges);
                    p.percent(out, o.human, 6, 2, merge_pc);
                    p.float(out, Unit::None, 7, 2, await_ms);
                    p.float(out, kb_unit, 8, 2, size / 2.0);
                }
            }
            if part == 4 || part == 0 {
                p.float(out, Unit::None, 7, 2, rqm(|c| c.fl_ios));
                p.float(out, Unit::None, 7, 2, x.f_await);
                p.float(out, Unit::None, 7, 2, aqu);
                p.percent(out, o.human, 6, 2, util);
            }
        }
        if o.pretty {
            p.item(out, &format!(" {name}"));
        }
        out.push('\n');
    }

    #[allow(clippy::too_many_arguments)]
    fn write_extended_json(
        &self,
        out: &mut String,
        tab: usize,
        s: &DeltaSample,
        x: &ExtendedStats,
        name: &str,
        util: f64,
        aqu: f64,
    ) {
        let o = &self.options;
        let fctr = self.sectors_per_unit();
        tabs(out, tab);
        let _ = write!(out, "{{\"disk_device\": \"{name}\", ");
        let unit = if o.megabytes {
            "MB"
        } else if o.kilobytes {
            "kB"
        } else {
            "sec"
        };
        if o.short {
            let _ = write!(
                out,
                "\"tps\": {:.2}, \"{unit}/s\": {:.2}, \"rqm/s\": {:.2}, \"await\": {:.2}, \"areq-sz\": {:.2}, \"aqu-sz\": {:.2}, ",
                s.rate(|c| c.rd_ios.wrapping_add(c.wr_ios).wrapping_add(c.dc_ios)),
                (x.rsectors + x.wsectors + x.dsectors) / fctr,
                s.rate(|c| c
                    .rd_merges
                    .wrapping_add(c.wr_merges)
                    .wrapping_add(c.dc_merges)),
                x.await_ms,
                x.arqsz / 2.0,
                aqu
            );
        } else {
            let _ = write!(
                out,
                "\"r/s\": {:.2}, \"w/s\": {:.2}, \"d/s\": {:.2}, \"f/s\": {:.2}, \"r{unit}/s\": {:.2}, \"w{unit}/s\": {:.2}, \"d{unit}/s\": {:.2}, ",
                s.rate(|c| c.rd_ios),
                s.rate(|c| c.wr_ios),
                s.rate(|c| c.dc_ios),
                s.rate(|c| c.fl_ios),
                x.rsectors / fctr,
                x.wsectors / fctr,
                x.dsectors / fctr
            );
            let _ = write!(
                out,
                "\"rrqm/s\": {:.2}, \"wrqm/s\": {:.2}, \"drqm/s\": {:.2}, \"rrqm\": {:.2}, \"wrqm\": {:.2}, \"drqm\": {:.2}, \"r_await\": {:.2}, \"w_await\": {:.2}, \"d_await\": {:.2}, \"f_await\": {:.2}, \"rareq-sz\": {:.2}, \"wareq-sz\": {:.2}, \"dareq-sz\": {:.2}, \"aqu-sz\": {:.2}, ",
                s.rate(|c| c.rd_merges),
                s.rate(|c| c.wr_merges),
                s.rate(|c| c.dc_merges),
                x.rrqm_pc,
                x.wrqm_pc,
                x.drqm_pc,
                x.r_await,
                x.w_await,
                x.d_await,
                x.f_await,
                x.rarqsz / 2.0,
                x.warqsz / 2.0,
                x.darqsz / 2.0,
                aqu
            );
        }
        let _ = write!(out, "\"util\": {util:.2}}}");
    }
}

/// A device's counters at both ends of the interval (in 1/100 s).
pub struct DeltaSample<'a> {
    pub prev: &'a IoCounters,
    pub curr: &'a IoCounters,
    pub itv: u64,
}

impl DeltaSample<'_> {
    /// sysstat's S_VALUE: per second, from a difference over hundredths of a second.
    pub fn rate(&self, field: impl Fn(&IoCounters) -> u64) -> f64 {
        field(self.curr).wrapping_sub(field(self.prev)) as f64 / self.itv as f64 * 100.0
    }

    /// The same for sysstat's 32-bit tick counters, whose difference wraps at 32 bits.
    pub fn rate32(&self, field: impl Fn(&IoCounters) -> u32) -> f64 {
        f64::from(field(self.curr).wrapping_sub(field(self.prev))) / self.itv as f64 * 100.0
    }
}

/// The derived `-x` values (sysstat's ext_disk_stats and ext_io_stats), sizes in sectors.
#[derive(Debug, Default, PartialEq)]
pub struct ExtendedStats {
    pub util: f64,
    pub await_ms: f64,
    pub arqsz: f64,
    pub rsectors: f64,
    pub wsectors: f64,
    pub dsectors: f64,
    pub rrqm_pc: f64,
    pub wrqm_pc: f64,
    pub drqm_pc: f64,
    pub r_await: f64,
    pub w_await: f64,
    pub d_await: f64,
    pub f_await: f64,
    pub rarqsz: f64,
    pub warqsz: f64,
    pub darqsz: f64,
}

impl ExtendedStats {
    pub fn compute(s: &DeltaSample) -> Self {
        let (p, c) = (s.prev, s.curr);
        let d64 = |f: fn(&IoCounters) -> u64| f(c).wrapping_sub(f(p));
        let d32 = |f: fn(&IoCounters) -> u32| f(c).wrapping_sub(f(p));
        let ratio = |num: f64, den: u64| if den != 0 { num / den as f64 } else { 0.0 };
        let merge_pc = |merges: u64, ios: u64| {
            let all = merges.wrapping_add(ios);
            if all != 0 {
                merges as f64 / all as f64 * 100.0
            } else {
                0.0
            }
        };
        // Flushes are not counted: origin flushes are already counted as writes.
        let nr_ios = d64(|x| x.rd_ios.wrapping_add(x.wr_ios).wrapping_add(x.dc_ios));
        let ticks = f64::from(
            d32(|x| x.rd_ticks)
                .wrapping_add(d32(|x| x.wr_ticks))
                .wrapping_add(d32(|x| x.dc_ticks)),
        );
        let sectors = d64(|x| x.rd_sectors)
            .wrapping_add(d64(|x| x.wr_sectors))
            .wrapping_add(d64(|x| x.dc_sectors));
        Self {
            util: s.rate32(|x| x.tot_ticks),
            await_ms: ratio(ticks, nr_ios),
            arqsz: ratio(sectors as f64, nr_ios),
            rsectors: s.rate(|x| x.rd_sectors),
            wsectors: s.rate(|x| x.wr_sectors),
            dsectors: s.rate(|x| x.dc_sectors),
            rrqm_pc: merge_pc(d64(|x| x.rd_merges), d64(|x| x.rd_ios)),
            wrqm_pc: merge_pc(d64(|x| x.wr_merges), d64(|x| x.wr_ios)),
            drqm_pc: merge_pc(d64(|x| x.dc_merges), d64(|x| x.dc_ios)),
            r_await: ratio(f64::from(d32(|x| x.rd_ticks)), d64(|x| x.rd_ios)),
            w_await: ratio(f64::from(d32(|x| x.wr_ticks)), d64(|x| x.wr_ios)),
            d_await: ratio(f64::from(d32(|x| x.dc_ticks)), d64(|x| x.dc_ios)),
            f_await: ratio(f64::from(d32(|x| x.fl_ticks)), d64(|x| x.fl_ios)),
            rarqsz: ratio(d64(|x| x.rd_sectors) as f64, d64(|x| x.rd_ios)),
            warqsz: ratio(d64(|x| x.wr_sectors) as f64, d64(|x| x.wr_ios)),
            darqsz: ratio(d64(|x| x.dc_sectors) as f64, d64(|x| x.dc_ios)),
        }
    }
}

/// sysstat's get_interval: never zero.
fn interval(prev: u64, curr: u64) -> u64 {
    curr.wrapping_sub(prev).max(1)
}

/// Sectors moved, allowing for a 32-bit counter that wrapped.
fn sector_delta(prev: u64, curr: u64) -> u64 {
    let delta = curr.wrapping_sub(prev);
    if curr < prev && prev <= 0xffff_ffff {
        delta & 0xffff_ffff
    } else {
        delta
    }
}

/// All counters went down: the device was removed and added again, so count from zero.
fn was_reinserted(prev: &IoCounters, curr: &IoCounters) -> bool {
    let ios = |c: &IoCounters| c.rd_ios + c.wr_ios + c.dc_ios + c.fl_ios;
    ios(curr) < ios(prev)
        && (prev.rd_sectors == 0 || curr.rd_sectors < prev.rd_sectors)
        && (prev.wr_sectors == 0 || curr.wr_sectors < prev.wr_sectors)
        && (prev.dc_sectors == 0 || curr.dc_sectors < prev.dc_sectors)
}

fn tabs(out: &mut String, n: usize) {
    for _ in 0..n {
        out.push('\t');
    }
}
