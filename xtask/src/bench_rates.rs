//! Event rates a view keeps up with: fio held at rising rates of I/Os per second while the view
//! runs, until the view reports drops. For each rate: what fio did, what the view counted, what
//! it dropped, and the CPU its own process used per million events (the collector's cost).

use std::io::Read as _;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::Context as _;

use crate::bench::{Workload, fio_at_rate, stop};

/// fio's rate limits tried, in I/Os per second (0: unlimited).
const RATES: [u32; 6] = [25_000, 50_000, 100_000, 150_000, 200_000, 0];

/// What a view counts, and where it says so.
#[derive(Clone, Copy)]
pub enum Counted {
    /// Block events, from a summary on stderr: blktrace's `Total: N events` (record) or
    /// `blkscope: N events` (trace).
    EventsOnStderr,
    /// I/Os, one line each on stdout (biosnoop; its first line is the header).
    LinesOnStdout,
}

impl Counted {
    pub fn unit(self) -> &'static str {
        match self {
            Counted::EventsOnStderr => "events",
            Counted::LinesOnStdout => "I/Os",
        }
    }
}

/// One view under a rate sweep.
pub struct Sweep<'a> {
    pub name: &'a str,
    pub command: Vec<String>,
    pub counted: Counted,
}

/// One rate's result.
pub struct RateRow {
    pub limit: Option<u32>,
    pub iops: f64,
    pub counted_per_s: f64,
    pub dropped: u64,
    /// user+sys seconds of the view's process per million of what it counts.
    pub cpu_per_million: f64,
}

/// Each rate of `RATES` until the first with drops.
pub fn sweep(view: &Sweep, device: &str, seconds: u32) -> anyhow::Result<Vec<RateRow>> {
    let mut rows = Vec::new();
    for rate in RATES {
        let limit = (rate > 0).then_some(rate);
        eprintln!(
            "bench: {} at {} IOPS",
            view.name,
            limit.map_or("unlimited".to_string(), |r| r.to_string())
        );
        let row = one_rate(view, device, seconds, limit)?;
        let dropped = row.dropped;
        rows.push(row);
        if dropped > 0 {
            break;
        }
    }
    Ok(rows)
}

fn one_rate(
    view: &Sweep,
    device: &str,
    seconds: u32,
    limit: Option<u32>,
) -> anyhow::Result<RateRow> {
    let (program, args) = view.command.split_first().context("empty command")?;
    let mut child = Command::new(program)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("starting {}", view.name))?;
    let stdout = count_lines(&mut child);
    let stderr = read_all(child.stderr.take());
    std::thread::sleep(Duration::from_millis(2500));
    let iops = fio_at_rate(device, Workload::RandReadIoUring, seconds, limit);
    // fio was waited for (its CPU is counted by now); the view's CPU is counted once it is.
    let before = children_cpu_seconds();
    stop(child);
    let cpu = children_cpu_seconds() - before;
    let lines = stdout.join().unwrap_or(0);
    let log = stderr.join().unwrap_or_default();
    let iops = iops?;
    let counted = match view.counted {
        Counted::EventsOnStderr => events_of(&log),
        Counted::LinesOnStdout => lines.saturating_sub(1),
    };
    Ok(RateRow {
        limit,
        iops,
        counted_per_s: counted as f64 / f64::from(seconds),
        dropped: dropped_of(&log),
        cpu_per_million: if counted == 0 {
            0.0
        } else {
            cpu / (counted as f64 / 1e6)
        },
    })
}

/// Counts the child's stdout lines on a thread (so its pipe never fills).
fn count_lines(child: &mut Child) -> std::thread::JoinHandle<u64> {
    let out = child.stdout.take();
    std::thread::spawn(move || {
        let Some(mut out) = out else { return 0 };
        let mut buffer = vec![0u8; 1 << 16];
        let mut lines = 0u64;
        while let Ok(n) = out.read(&mut buffer) {
            if n == 0 {
                break;
            }
            lines += buffer[..n].iter().filter(|&&b| b == b'\n').count() as u64;
        }
        lines
    })
}

fn read_all(pipe: Option<std::process::ChildStderr>) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut text = String::new();
        if let Some(mut pipe) = pipe {
            let _ = pipe.read_to_string(&mut text);
        }
        text
    })
}

/// user+sys seconds of every child waited for so far (a process's, once it is reaped).
pub fn children_cpu_seconds() -> f64 {
    // SAFETY: getrusage fills the struct it is given.
    let usage = unsafe {
        let mut usage = std::mem::zeroed::<libc::rusage>();
        libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage);
        usage
    };
    let seconds = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    seconds(usage.ru_utime) + seconds(usage.ru_stime)
}

/// Events written, from record's `Total: N events` or trace's `blkscope: N events`.
fn events_of(log: &str) -> u64 {
    log.lines()
        .find_map(|l| {
            let l = l.trim();
            l.strip_prefix("Total:")
                .or_else(|| l.strip_prefix("blkscope:"))
        })
        .and_then(|t| t.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// Drops, from the closing `You have N dropped events` line.
fn dropped_of(log: &str) -> u64 {
    log.lines()
        .find_map(|l| l.strip_prefix("You have "))
        .and_then(|t| t.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// The markdown table of one sweep.
pub fn table(view: &Sweep, rows: &[RateRow]) -> String {
    let unit = view.counted.unit();
    let mut text = format!(
        "| fio rate limit | IOPS | {unit}/s counted | dropped | CPU s per million {unit} |\n\
         |---|---|---|---|---|\n"
    );
    for r in rows {
        text.push_str(&format!(
            "| {} | {:.0} | {:.0} | {} | {:.2} |\n",
            r.limit.map_or("none".to_string(), |l| l.to_string()),
            r.iops,
            r.counted_per_s,
            r.dropped,
            r.cpu_per_million
        ));
    }
    text
}

/// The highest rate counted without a drop, in what the view counts per second.
pub fn highest_clean_rate(rows: &[RateRow]) -> f64 {
    rows.iter()
        .filter(|r| r.dropped == 0)
        .map(|r| r.counted_per_s)
        .fold(0.0, f64::max)
}

/// The command line of a view: `blkscope ARGS`.
pub fn view_command(blkscope: &Path, args: &[&str]) -> Vec<String> {
    std::iter::once(blkscope.display().to_string())
        .chain(args.iter().map(|a| (*a).to_owned()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_drops_from_the_views_own_lines() {
        let record =
            "  Total:   1234 events (dropped 0),      57 KiB data\nYou have 7 dropped events\n";
        assert_eq!((events_of(record), dropped_of(record)), (1234, 7));
        assert_eq!(events_of("blkscope: 99 events\n"), 99);
        assert_eq!(dropped_of("nothing lost\n"), 0);
    }
}
