//! The recorder's bench: fio's IOPS with `blkscope record` attached next to the kernel's own
//! blktrace engine (ftrace `blk`), and the highest event rate recorded without a drop.

use std::path::Path;

use crate::bench::{BenchPlan, Bracketed, Stage, Tracer, alternating, median, verdict};
use crate::bench_rates::{Counted, Sweep, highest_clean_rate, sweep, table, view_command};

/// Where the recorder's part of docs/performance/bench-log.md starts.
pub const RECORD_SECTION: &str = "\n## Recording (blkscope record)";

pub fn run(root: &Path, plan: &BenchPlan) -> anyhow::Result<String> {
    let blkscope = root.join("target/release/blkscope");
    let stage = Stage::new(plan.image_mib)?;
    let command = record_command(&blkscope, &stage.device);
    let record = Tracer {
        name: "blkscope record (-o - to /dev/null)",
        command: Some(command.clone()),
        ftrace_blk: false,
        reports_drops: true,
    };
    let ftrace = Tracer {
        name: "ftrace blk tracer (kernel blktrace)",
        command: None,
        ftrace_blk: true,
        reports_drops: false,
    };
    let (base, with) = alternating(&stage, plan, &[&record, &ftrace])?;
    let row = |name: &str, result: &Bracketed, cpu: bool| {
        format!(
            "| {name} | {:.0} | {:.1}% | {} | {} |",
            median(&result.iops),
            100.0 * result.kept_median(),
            result.spread(),
            if cpu {
                format!("{:.2}", median(&result.cpu))
            } else {
                "-".to_string()
            }
        )
    };
    let overhead = [
        format!("| nothing attached | {base:.0} | 100.0% | - | - |"),
        row(record.name, &with[0], true),
        row(ftrace.name, &with[1], false),
    ];
    let rates = rate_section(&blkscope, &stage.device, plan.seconds)?;
    let (ours, theirs) = (with[0].kept_median(), with[1].kept_median());
    Ok(format!(
        "{RECORD_SECTION}\n\n\
         fio 4k random reads, io_uring qd32, on the bench's loop device, {} s per run, {} \
         round(s), each run between two with nothing attached (`kept`: median of the rounds, \
         `spread`: lowest and highest). `blkscope record -d DEV -o -` writes the whole trace to \
         stdout (here /dev/null: the cost of recording, not of a disk to keep it on); the ftrace \
         blk tracer logs into the kernel's ring buffer. Target: record keeps at least 1.5x what \
         the kernel's own engine keeps.\n\n\
         | attached | IOPS | kept | spread | tracer CPU |\n|---|---|---|---|---|\n{}\n\n\
         Target {}: record keeps {:.1}% of fio's IOPS, the ftrace blk tracer {:.1}% ({:.2}x).\n\n{rates}",
        plan.seconds,
        plan.rounds,
        overhead.join("\n"),
        verdict(ours >= 1.5 * theirs),
        100.0 * ours,
        100.0 * theirs,
        ours / theirs.max(f64::MIN_POSITIVE),
    ))
}

fn record_command(blkscope: &Path, device: &str) -> Vec<String> {
    view_command(blkscope, &["record", "-d", device, "-o", "-"])
}

/// The highest event rates record, trace and biosnoop keep up with, and what their own
/// processes cost per million events.
fn rate_section(blkscope: &Path, device: &str, seconds: u32) -> anyhow::Result<String> {
    let views = [
        Sweep {
            name: "blkscope record (-o - to /dev/null)",
            command: record_command(blkscope, device),
            counted: Counted::EventsOnStderr,
        },
        Sweep {
            name: "blkscope trace (every event, text to /dev/null)",
            command: view_command(blkscope, &["trace", "-d", device]),
            counted: Counted::EventsOnStderr,
        },
        Sweep {
            name: "blkscope biosnoop",
            command: view_command(blkscope, &["biosnoop", "-d", device]),
            counted: Counted::LinesOnStdout,
        },
    ];
    let mut text = format!(
        "## Event rates without drops, and the collector's CPU\n\n\
         fio 4k random reads (io_uring qd32) held at rising rates of I/Os per second, {seconds} s \
         each, until the view reports drops (each view with its default 16 MiB ring buffer). \
         record and trace count block events (about six per I/O: Q G P I D C and unplugs); \
         biosnoop counts I/Os (a line each). `CPU s per million` is the user+sys time of the \
         view's own process (the collector: reading the ring buffer, following requests, \
         formatting) per million events or I/Os. Target: no drops up to 1M events/s.\n"
    );
    let mut record_clean = 0.0;
    let mut record_dropped = false;
    for view in &views {
        let rows = sweep(view, device, seconds)?;
        if matches!(view.counted, Counted::EventsOnStderr) && view.name.contains("record") {
            record_clean = highest_clean_rate(&rows);
            record_dropped = rows.iter().any(|r| r.dropped > 0);
        }
        text.push_str(&format!("\n{}:\n\n{}", view.name, table(view, &rows)));
    }
    text.push_str(&format!(
        "\nTarget {}: record kept every event up to {record_clean:.0} events/s{}.\n",
        if record_clean >= 1e6 {
            "met"
        } else if record_dropped {
            "**missed**"
        } else {
            "not reached"
        },
        if record_dropped {
            ", and dropped past it"
        } else {
            ", the most this machine's I/O produced with it attached (no drop at any rate)"
        }
    ));
    Ok(text)
}
