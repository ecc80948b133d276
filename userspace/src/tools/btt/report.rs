//! btt's report: the latency tables, device overhead, merges, seeks, plugs, queue depth and
//! active periods (`output_avgs`), then the activity ranges (`output_ranges`). Layout, rounding
//! and btt's own quirks (see each function) are kept, so the text equals btt 2.09's.

use std::io::{self, Write};

use super::analysis::Analysis;
use super::avg::{Avg, Span, Spans};
use super::device::{Device, devno, is_remapper};
use super::process::Process;
use super::q2d::Q2dHistogram;
use super::ranges::{Ranges, Regions};
use super::seek::{Modes, SeekStats};
use super::time::{bit_time, fixed};

/// What the report prints besides the analysis.
#[derive(Default)]
pub struct ReportOptions {
    /// `-A`: per-process and per-device tables and the Q2D histogram.
    pub all_data: bool,
    /// `-e`: the processes to show (exact names, comma separated).
    pub exes: Option<String>,
}

const SUMMARY_SPANS: [Span; 10] = [
    Span::Q2Q,
    Span::Q2A,
    Span::Q2G,
    Span::S2G,
    Span::G2I,
    Span::Q2M,
    Span::I2D,
    Span::M2D,
    Span::D2C,
    Span::Q2C,
];
const DM_SPANS: [Span; 3] = [Span::Q2Qdm, Span::Q2Adm, Span::Q2Cdm];

/// Writes the report. `easy`: btt's `-X` lines, when asked for.
pub struct Report<'a> {
    pub a: &'a mut Analysis,
    pub options: &'a ReportOptions,
    pub out: &'a mut dyn Write,
    pub easy: Option<&'a mut dyn Write>,
}

impl Report<'_> {
    pub fn write_tables(&mut self) -> io::Result<()> {
        if self.options.all_data {
            if self.options.exes.as_deref() != Some("") {
                self.section("Per Process")?;
                self.per_scope(true)?;
            }
            self.section("Per Device")?;
            self.per_scope(false)?;
        }
        self.section("All Devices")?;
        self.avg_header("ALL")?;
        for span in DM_SPANS {
            let avg = *self.a.spans.get(span);
            self.avg_line(span.label().as_bytes(), &avg, false)?;
        }
        self.out.write_all(b"\n")?;
        for span in SUMMARY_SPANS {
            let avg = *self.a.spans.get(span);
            self.avg_line(span.label().as_bytes(), &avg, true)?;
        }
        self.out.write_all(b"\n")?;
        self.section("Device Overhead")?;
        self.overhead()?;
        self.section("Device Merge Information")?;
        self.merges()?;
        self.section("Device Q2Q Seek Information")?;
        self.seeks(true)?;
        self.section("Device D2D Seek Information")?;
        self.seeks(false)?;
        self.section("Plug Information")?;
        self.plugs()?;
        self.section("Active Requests At Q Information")?;
        self.active_at_q()?;
        self.section("I/O Active Period Information")?;
        self.active_periods()?;
        if self.options.all_data {
            self.section("Q2D Histogram")?;
            self.q2d_histogram()?;
        }
        Ok(())
    }

    fn section(&mut self, title: &str) -> io::Result<()> {
        writeln!(
            self.out,
            "==================== {title} ====================\n"
        )
    }

    fn avg_header(&mut self, title: &str) -> io::Result<()> {
        writeln!(
            self.out,
            "{title:>15} {:>13} {:>13} {:>13} {:>11}",
            "MIN", "AVG", "MAX", "N"
        )?;
        writeln!(
            self.out,
            "--------------- ------------- ------------- ------------- -----------"
        )
    }

    /// One MIN/AVG/MAX/N line (nothing without samples); `easy`: also a `-X` line.
    fn avg_line(&mut self, label: &[u8], avg: &Avg, easy: bool) -> io::Result<()> {
        if avg.n <= 0 {
            return Ok(());
        }
        let (min, mean, max) = (bit_time(avg.min), avg.mean_secs(), bit_time(avg.max));
        let mut line = label.to_vec();
        line.resize(line.len().max(15), b' ');
        line.extend_from_slice(
            format!(
                " {} {} {} {:11}\n",
                fixed(min, 13, 9),
                fixed(mean, 13, 9),
                fixed(max, 13, 9),
                avg.n
            )
            .as_bytes(),
        );
        self.out.write_all(&line)?;
        if let (true, Some(e)) = (easy, self.easy.as_mut()) {
            e.write_all(label)?;
            writeln!(e, " {min:.9} {mean:.9} {max:.9} {}", avg.n)?;
        }
        Ok(())
    }

    /// `-A`: each span's table per process (`processes`) or per device.
    fn per_scope(&mut self, processes: bool) -> io::Result<()> {
        let spans: Vec<Span> = DM_SPANS
            .into_iter()
            .chain(SUMMARY_SPANS.into_iter().filter(|&s| s != Span::M2D))
            .collect();
        let rows: Vec<(Vec<u8>, Spans)> = if processes {
            shown_processes(self.a, self.options)
                .into_iter()
                .map(|p| (p.name.iter().copied().take(14).collect(), p.spans.clone()))
                .collect()
        } else {
            self.a
                .report_order()
                .into_iter()
                .map(|i| {
                    let d = &self.a.devices[i];
                    (d.header(15).into_bytes(), d.spans.clone())
                })
                .collect()
        };
        for span in spans {
            self.avg_header(span.label())?;
            for (label, s) in &rows {
                self.avg_line(label, s.get(span), false)?;
            }
            self.out.write_all(b"\n")?;
            if span == Span::Q2Cdm {
                self.out.write_all(b"\n")?;
            }
        }
        Ok(())
    }

    fn devices(&self) -> Vec<usize> {
        self.a.report_order()
    }

    /// Each step's share of Q2C. (Q2G can exceed 100%: btt counts it for every queued bio,
    /// also those later merged, while Q2C counts each bio once.)
    fn overhead(&mut self) -> io::Result<()> {
        writeln!(
            self.out,
            "{:>10} | {:>9} {:>9} {:>9} {:>9} {:>9}",
            "DEV", "Q2G", "G2I", "Q2M", "I2D", "D2C"
        )?;
        let dashes = "---------- | --------- --------- --------- --------- ---------\n";
        self.out.write_all(dashes.as_bytes())?;
        let parts = [Span::Q2G, Span::G2I, Span::Q2M, Span::I2D, Span::D2C];
        let mut sums = [(0u64, 0i64); 6];
        for i in self.devices() {
            let d = &self.a.devices[i];
            let q2c = d.spans.get(Span::Q2C);
            if q2c.n <= 0 || q2c.total == 0 {
                continue;
            }
            let mut line = format!("{:>10} |", d.header(15));
            for span in parts {
                let share = 100.0 * d.spans.get(span).total as f64 / q2c.total as f64;
                line += &format!(" {}%", fixed(share, 8, 4));
            }
            writeln!(self.out, "{line}")?;
            for (k, span) in parts.into_iter().chain([Span::Q2C]).enumerate() {
                let a = d.spans.get(span);
                sums[k].0 = sums[k].0.wrapping_add(a.total);
                sums[k].1 += i64::from(a.n);
            }
        }
        if sums[..5].iter().any(|&(_, n)| n != 0) {
            self.out.write_all(dashes.as_bytes())?;
            let q2c = sums[5].0 as f64;
            let mut line = format!("{:>10} |", "Overall");
            for &(total, n) in &sums[..5] {
                let share = if n == 0 {
                    0.0
                } else {
                    100.0 * total as f64 / q2c
                };
                line += &format!(" {}%", fixed(share, 8, 4));
            }
            writeln!(self.out, "{line}")?;
        }
        self.out.write_all(b"\n")
    }

    /// Queues per issue and issued sizes. As btt does, a device with more issues than queues
    /// gets its queue count raised to its issue count (which the queue-depth table then uses).
    fn merges(&mut self) -> io::Result<()> {
        let header = format!(
            "{:>10} | {:>8} {:>8} {:>7} | {:>8} {:>8} {:>8} {:>8}\n",
            "DEV", "#Q", "#D", "Ratio", "BLKmin", "BLKavg", "BLKmax", "Total"
        );
        let dashes =
            "---------- | -------- -------- ------- | -------- -------- -------- --------\n";
        self.out.write_all(header.as_bytes())?;
        self.out.write_all(dashes.as_bytes())?;
        let (mut rows, mut nq, mut nd, mut total) = (0, 0u64, 0u64, 0u64);
        let (mut blkmin, mut blkmax) = (0u64, 0u64);
        for i in self.devices() {
            let d = &mut self.a.devices[i];
            if d.queues == 0 || d.issues == 0 {
                continue;
            }
            if d.queues < d.issues {
                d.queues = d.issues;
            }
            let (q, n) = (d.queues as f64, d.issues as f64);
            let ratio = if q < n { 1.0 } else { q / n };
            let b = d.spans.blocks;
            let blks_avg = b.total as f64 / n;
            writeln!(
                self.out,
                "{:>10} | {:8} {:8} {} | {:8} {:8} {:8} {:8}",
                d.header(15),
                d.queues,
                d.issues,
                fixed(ratio, 7, 1),
                b.min,
                blks_avg as u64,
                b.max,
                b.total
            )?;
            if let Some(e) = self.easy.as_mut() {
                writeln!(
                    e,
                    "DMI {} {} {} {ratio:.9} {} {} {} {}",
                    plain_name(d),
                    d.queues,
                    d.issues,
                    b.min,
                    blks_avg as u64,
                    b.max,
                    b.total
                )?;
            }
            if rows == 0 {
                blkmin = b.min;
                blkmax = b.max;
            }
            rows += 1;
            nq += d.queues;
            nd += d.issues;
            total = total.wrapping_add(b.total);
            blkmin = blkmin.min(b.min);
            blkmax = blkmax.max(b.max);
        }
        if rows > 1 {
            self.out.write_all(dashes.as_bytes())?;
            self.out.write_all(header.as_bytes())?;
            // btt divides in single precision here.
            let ratio = f64::from(nq as f32 / nd as f32);
            writeln!(
                self.out,
                "{:>10} | {nq:8} {nd:8} {} | {blkmin:8} {:8} {blkmax:8} {total:8}",
                "TOTAL",
                fixed(ratio, 7, 1),
                total / nd
            )?;
        }
        self.out.write_all(b"\n")
    }

    fn seeks(&mut self, q2q: bool) -> io::Result<()> {
        let header = |first: &str| {
            format!(
                "{first:>10} | {:>15} {:>15} {:>15} | {:<15}\n",
                "NSEEKS", "MEAN", "MEDIAN", "MODE"
            )
        };
        let dashes =
            "---------- | --------------- --------------- --------------- | ---------------\n";
        self.out.write_all(header("DEV").as_bytes())?;
        self.out.write_all(dashes.as_bytes())?;
        let mut overall = OverallSeeks::default();
        for i in self.devices() {
            let d = &self.a.devices[i];
            let s: &SeekStats = if q2q { &d.q2q_seeks } else { &d.d2d_seeks };
            let n = s.count();
            if n <= 0 {
                continue;
            }
            let (mean, median, modes) = (s.mean(), s.median(), s.modes());
            let first = modes.modes.first().copied().unwrap_or(0);
            let others = modes.modes.get(1..).unwrap_or(&[]);
            let mut line = format!(
                "{:>10} | {n:15} {} {median:15} | {first}({})",
                d.header(15),
                fixed(mean, 15, 1),
                modes.most_seeks
            );
            if modes.modes.len() > 2 {
                line += &more_modes(modes.modes.len() - 1);
            } else {
                for m in others {
                    line += &format!(" {m}");
                }
                line.push('\n');
            }
            self.out.write_all(line.as_bytes())?;
            if let Some(e) = self.easy.as_mut() {
                let kind = if q2q { "QSK" } else { "DSK" };
                let mut text = format!(
                    "{kind} {} {n} {mean:.9} {median} {first} {}",
                    plain_name(d),
                    modes.most_seeks
                );
                for m in others {
                    text += &format!(" {m}");
                }
                writeln!(e, "{text}")?;
            }
            overall.add(n, mean, median, &modes);
        }
        if overall.devices > 0 {
            self.out.write_all(dashes.as_bytes())?;
            self.out.write_all(header("Overall").as_bytes())?;
            self.out.write_all(overall.line().as_bytes())?;
            self.out.write_all(b"\n")?;
        }
        self.out.write_all(b"\n")
    }

    fn plugs(&mut self) -> io::Result<()> {
        writeln!(
            self.out,
            "{:>10} | {:>10} {:>10}  | % Time Q Plugged",
            "DEV", "# Plugs", "# Timer Us"
        )?;
        writeln!(
            self.out,
            "---------- | ---------- ----------  | ----------------"
        )?;
        let (mut rows, mut plugs, mut timer, mut percent) = (0i64, 0i64, 0i64, 0.0);
        for i in self.devices() {
            let d = &mut self.a.devices[i];
            // A queue still plugged at the end is unplugged then (counted as an unplug).
            let end = d.end_secs;
            d.plugs.unplug(end, 0, false);
            let p = &d.plugs;
            if p.unplugs + p.timer_unplugs <= 0 {
                continue;
            }
            let pct = 100.0 * (p.plugged_secs / (d.end_secs - d.start_secs));
            writeln!(
                self.out,
                "{:>10} | {:10}({:10}) | {}%",
                d.header(15),
                p.unplugs,
                p.timer_unplugs,
                fixed(pct, 13, 9)
            )?;
            if let Some(e) = self.easy.as_mut() {
                writeln!(
                    e,
                    "PLG {} {} {} {pct:.9}",
                    plain_name(d),
                    p.unplugs,
                    p.timer_unplugs
                )?;
            }
            rows += 1;
            plugs += i64::from(p.unplugs);
            timer += i64::from(p.timer_unplugs);
            percent += pct;
        }
        if rows > 1 {
            writeln!(
                self.out,
                "---------- | ---------- ----------  | ----------------"
            )?;
            writeln!(
                self.out,
                "{:>10} | {:>10} {:>10}  | % Time Q Plugged",
                "Overall", "# Plugs", "# Timer Us"
            )?;
            writeln!(
                self.out,
                "{:>10} | {:10}({:10}) | {}%",
                "Average",
                plugs / rows,
                timer / rows,
                fixed(percent / rows as f64, 13, 9)
            )?;
        }
        self.out.write_all(b"\n")?;

        writeln!(
            self.out,
            "{:>10} | {:>10}   {:>10}",
            "DEV", "IOs/Unp", "IOs/Unp(to)"
        )?;
        writeln!(self.out, "---------- | ----------   ----------")?;
        let (mut unplugs, mut ios, mut t_unplugs, mut t_ios) = (0u64, 0u64, 0u64, 0u64);
        for i in self.devices() {
            let d = &self.a.devices[i];
            let p = &d.plugs;
            let (mut avg, mut avg_t) = (0.0, 0.0);
            if p.ios_unplugged != 0 && p.unplugs != 0 {
                avg = p.ios_unplugged as f64 / f64::from(p.unplugs);
                unplugs += p.unplugs as u64;
                ios = ios.wrapping_add(p.ios_unplugged);
            }
            if p.ios_timer_unplugged != 0 && p.timer_unplugs != 0 {
                avg_t = p.ios_timer_unplugged as f64 / f64::from(p.timer_unplugs);
                t_unplugs += p.timer_unplugs as u64;
                t_ios = t_ios.wrapping_add(p.ios_timer_unplugged);
            }
            writeln!(
                self.out,
                "{:>10} | {}   {}",
                d.header(15),
                fixed(avg, 10, 1),
                fixed(avg_t, 10, 1)
            )?;
            if let Some(e) = self.easy.as_mut() {
                writeln!(e, "UPG {} {avg:.9} {avg_t:.9}", plain_name(d))?;
            }
        }
        if unplugs != 0 || t_unplugs != 0 {
            let avg = if unplugs != 0 {
                ios as f64 / unplugs as f64
            } else {
                0.0
            };
            let avg_t = if t_unplugs != 0 {
                t_ios as f64 / t_unplugs as f64
            } else {
                0.0
            };
            writeln!(self.out, "---------- | ----------   ----------")?;
            writeln!(
                self.out,
                "{:>10} | {:>10}   {:>10}",
                "Overall", "IOs/Unp", "IOs/Unp(to)"
            )?;
            writeln!(
                self.out,
                "{:>10} | {}   {}",
                "Average",
                fixed(avg, 10, 1),
                fixed(avg_t, 10, 1)
            )?;
        }
        self.out.write_all(b"\n")
    }

    fn active_at_q(&mut self) -> io::Result<()> {
        writeln!(self.out, "{:>10} | {:>13}", "DEV", "Avg Reqs @ Q")?;
        writeln!(self.out, "---------- | -------------")?;
        let (mut rows, mut queues, mut active) = (0, 0u64, 0u64);
        for i in self.devices() {
            let d = &self.a.devices[i];
            if d.queues == 0 || is_remapper(d.dev) {
                continue;
            }
            let avg = d.active_at_q_total as f64 / d.queues as f64;
            writeln!(self.out, "{:>10} | {}", d.header(15), fixed(avg, 13, 1))?;
            if let Some(e) = self.easy.as_mut() {
                writeln!(e, "ARQ {} {avg:.9}", plain_name(d))?;
            }
            rows += 1;
            queues += d.queues;
            active = active.wrapping_add(d.active_at_q_total);
        }
        if rows > 1 {
            writeln!(self.out, "---------- | -------------")?;
            // "Avgs" is btt's spelling.
            writeln!(self.out, "{:>10} | {:>13}", "Overall", "Avgs Reqs @ Q")?;
            let avg = active as f64 / queues as f64;
            writeln!(self.out, "{:>10} | {}", "Average", fixed(avg, 13, 1))?;
        }
        self.out.write_all(b"\n")
    }

    fn active_periods(&mut self) -> io::Result<()> {
        writeln!(
            self.out,
            "{:>10} | {:>10} {:>13} {:>13} {:>6}",
            "DEV", "# Live", "Avg. Act", "Avg. !Act", "% Live"
        )?;
        let dashes = "---------- | ---------- ------------- ------------- ------\n";
        self.out.write_all(dashes.as_bytes())?;
        let mut rows: Vec<(String, super::active::ActiveSummary)> = self
            .devices()
            .into_iter()
            .map(|i| {
                let d = &self.a.devices[i];
                (d.header(15), d.active.summary())
            })
            .collect();
        rows.push(("Total Sys".into(), self.a.active.summary()));
        let last = rows.len() - 1;
        for (k, (name, s)) in rows.into_iter().enumerate() {
            if k == last {
                self.out.write_all(dashes.as_bytes())?;
            }
            writeln!(
                self.out,
                "{name:>10} | {:10} {} {} {}",
                s.periods,
                fixed(s.avg_active, 13, 9),
                fixed(s.avg_idle, 13, 9),
                fixed(s.percent_active, 6, 2)
            )?;
        }
        self.out.write_all(b"\n")
    }

    fn q2d_histogram(&mut self) -> io::Result<()> {
        write!(self.out, "{:>10} | {}", "DEV", Q2dHistogram::header())?;
        write!(self.out, "--------- | {}", Q2dHistogram::dashes())?;
        let mut all = Q2dHistogram::default();
        let mut rows = 0;
        for i in self.devices() {
            let d = &self.a.devices[i];
            if d.q2d.is_empty() {
                continue;
            }
            write!(self.out, "{:>10} | {}", d.header(15), d.q2d.row())?;
            all.accumulate(&d.q2d);
            rows += 1;
        }
        if rows > 0 {
            write!(self.out, "========== | {}", Q2dHistogram::dashes())?;
            write!(self.out, "{:>10} | {}", "AVG", all.row())?;
            self.out.write_all(b"\n")?;
        }
        Ok(())
    }

    /// The activity ranges: the system's, each device's (when there are several), each
    /// process's. Each scope is drawn one unit above the previous (a process without ranges
    /// still takes its unit, as in btt).
    pub fn write_ranges(&mut self) -> io::Result<()> {
        let mut base = 0.0f32;
        writeln!(self.out, "# Total System")?;
        if write_regions(self.out, b"Total System", &self.a.regions, base)? {
            base += 1.0;
        }
        if self.a.devices.len() > 1 {
            writeln!(self.out, "# Per device")?;
            for i in self.devices() {
                let d = &self.a.devices[i];
                if write_regions(self.out, devno(d.dev).as_bytes(), &d.regions, base)? {
                    base += 1.0;
                }
            }
        }
        writeln!(self.out, "# Per process")?;
        let processes = shown_processes(self.a, self.options);
        for p in processes {
            write_regions(self.out, &p.name, &p.regions, base)?;
            base += 1.0;
        }
        Ok(())
    }
}

/// The processes to print: all in name order, or `-e`'s in its order.
fn shown_processes<'a>(a: &'a Analysis, options: &ReportOptions) -> Vec<&'a Process> {
    match &options.exes {
        None => a.processes.in_name_order().collect(),
        Some(list) => list
            .split(',')
            .filter_map(|name| a.processes.by_name(name.as_bytes()))
            .collect(),
    }
}

/// The device as btt names it in `-X` lines: the mapped name or `MAJ,MIN`.
fn plain_name(d: &Device) -> String {
    d.mapped_name.clone().unwrap_or_else(|| devno(d.dev))
}

fn more_modes(n: usize) -> String {
    format!(
        "\n{:>10}   {:>15} {:>15} {:>15}   ...({n} more)\n",
        "", "", "", ""
    )
}

/// The "Overall/Average" seek line, accumulated over devices as btt does it (including its
/// way of merging the devices' modes).
#[derive(Default)]
struct OverallSeeks {
    devices: usize,
    seeks: i64,
    mean_sum: f64,
    median_sum: i64,
    /// (mode, seeks), newest first.
    modes: Vec<(i64, i32)>,
}

impl OverallSeeks {
    fn add(&mut self, n: i64, mean: f64, median: i64, m: &Modes) {
        self.devices += 1;
        self.seeks += n;
        self.mean_sum += n as f64 * mean;
        self.median_sum = self.median_sum.wrapping_add(n.wrapping_mul(median));
        for &mode in &m.modes {
            match self.modes.iter_mut().find(|(k, _)| *k == mode) {
                Some(entry) => entry.1 += m.most_seeks,
                None => self.modes.insert(0, (mode, m.most_seeks)),
            }
        }
    }

    fn line(&self) -> String {
        // btt keeps the most frequent mode; on a tie it chains the newcomer in front.
        let mut best: Vec<(i64, i32)> = Vec::new();
        for &(mode, seeks) in &self.modes {
            match best.first() {
                None => best = vec![(mode, seeks)],
                Some(&(_, top)) if seeks > top => best = vec![(mode, seeks)],
                Some(&(_, top)) if seeks == top => match best.iter().find(|(k, _)| *k == mode) {
                    Some(&(_, earlier)) => best = vec![(mode, seeks + earlier)],
                    None => best.insert(0, (mode, seeks)),
                },
                Some(_) => {}
            }
        }
        let (mode, seeks) = best.first().copied().unwrap_or((0, 0));
        let mut line = format!(
            "{:>10} | {:15} {} {:15} | {mode}({seeks})",
            "Average",
            self.seeks,
            fixed(self.mean_sum / self.seeks as f64, 15, 1),
            self.median_sum / self.seeks
        );
        if best.len() > 1 {
            line += &more_modes(best.len() - 1);
        }
        line
    }
}

/// One scope's q and c ranges; nothing when it has none. Returns whether it printed.
fn write_regions(
    out: &mut dyn Write,
    name: &[u8],
    regions: &Regions,
    base: f32,
) -> io::Result<bool> {
    if regions.is_empty() {
        return Ok(false);
    }
    for (kind, ranges, y) in [
        ("q", &regions.queued, base),
        ("c", &regions.completed, base + 0.5),
    ] {
        let mut line = b"# ".to_vec();
        line.resize(2 + 16usize.saturating_sub(name.len()), b' ');
        line.extend_from_slice(name);
        line.extend_from_slice(format!(" : {kind} activity\n").as_bytes());
        out.write_all(&line)?;
        write_ranges(out, ranges, y)?;
        out.write_all(b"\n")?;
    }
    Ok(true)
}

fn write_ranges(out: &mut dyn Write, ranges: &Ranges, base: f32) -> io::Result<()> {
    let top = (f64::from(base) + 0.4) as f32;
    for &(start, end) in &ranges.ranges {
        for (t, y) in [(start, base), (start, top), (end, top), (end, base)] {
            writeln!(
                out,
                "{} {}",
                fixed(bit_time(t), 13, 9),
                fixed(f64::from(y), 5, 1)
            )?;
        }
    }
    Ok(())
}
