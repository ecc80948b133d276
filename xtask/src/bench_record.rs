//! The recorder's bench: fio's IOPS with `blkscope record` attached next to the kernel's own
//! blktrace engine (ftrace `blk`), and the highest event rate recorded without a drop.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::Context as _;

use crate::bench::{BenchPlan, Stage, Tracer, Workload, fio_at_rate, measure, median, stop};

/// Where the recorder's part of docs/PERFORMANCE.md starts.
pub const RECORD_SECTION: &str = "\n## Recording (blkscope record)";

/// fio's rate limits tried, in I/Os per second (0: unlimited).
const RATES: [u32; 6] = [25_000, 50_000, 100_000, 150_000, 200_000, 0];

pub fn run(root: &Path, plan: &BenchPlan) -> anyhow::Result<String> {
    let blkscope = root.join("target/release/blkscope");
    let stage = Stage::new(plan.image_mib)?;
    let command = record_command(&blkscope, &stage.device);
    let record = Tracer {
        name: "blkscope record (-o - to /dev/null)",
        command: Some(command.clone()),
        ftrace_blk: false,
    };
    let ftrace = Tracer {
        name: "ftrace blk tracer (kernel blktrace)",
        command: None,
        ftrace_blk: true,
    };
    let workload = Workload::RandReadIoUring;
    let (mut base, mut ours, mut theirs, mut cpu) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for round in 0..plan.rounds {
        eprintln!(
            "bench: record overhead, round {}/{}",
            round + 1,
            plan.rounds
        );
        base.push(measure(&stage.device, &stage.device, workload, plan.seconds, None)?.iops);
        let run = measure(
            &stage.device,
            &stage.device,
            workload,
            plan.seconds,
            Some(&record),
        )?;
        ours.push(run.iops);
        cpu.push(run.tracer_cpu_s);
        theirs.push(
            measure(
                &stage.device,
                &stage.device,
                workload,
                plan.seconds,
                Some(&ftrace),
            )?
            .iops,
        );
    }
    let base = median(&base);
    let row = |name: &str, iops: f64, cpu: Option<f64>| {
        format!(
            "| {name} | {iops:.0} | {:.1}% | {} |",
            100.0 * iops / base,
            cpu.map_or("-".to_string(), |c| format!(
                "{:.2}",
                c / f64::from(plan.seconds)
            ))
        )
    };
    let overhead = [
        row("nothing attached", base, None),
        row(record.name, median(&ours), Some(median(&cpu))),
        row(ftrace.name, median(&theirs), None),
    ];
    let rates = rate_rows(&command, &stage.device, plan.seconds)?;
    Ok(format!(
        "{RECORD_SECTION}\n\n\
         fio 4k random reads, io_uring qd32, on the bench's loop device, {} s per run, median of {} \
         round(s). `blkscope record -d DEV -o -` writes the whole trace to stdout (here /dev/null: \
         the cost of recording, not of a disk to keep it on); the ftrace blk tracer logs into the \
         kernel's ring buffer. Target: less IOPS loss than the kernel's own engine.\n\n\
         | attached | IOPS | vs nothing | tracer CPU |\n|---|---|---|---|\n{}\n\n\
         Highest event rate recorded without a drop: fio held at a rate of I/Os per second, \
         `blkscope record` with its default 16 MiB buffer; events per second from its summary, \
         drops from its closing line. Target: no drops up to 1M events/s.\n\n\
         | fio rate limit | IOPS | events/s recorded | dropped |\n|---|---|---|---|\n{}\n",
        plan.seconds,
        plan.rounds,
        overhead.join("\n"),
        rates.join("\n")
    ))
}

fn record_command(blkscope: &Path, device: &str) -> Vec<String> {
    [blkscope.display().to_string()]
        .into_iter()
        .chain(["record", "-d", device, "-o", "-"].map(String::from))
        .collect()
}

/// Each rate of `RATES` until the first with drops.
fn rate_rows(command: &[String], device: &str, seconds: u32) -> anyhow::Result<Vec<String>> {
    let mut rows = Vec::new();
    for rate in RATES {
        let limit = (rate > 0).then_some(rate);
        let label = limit.map_or("none".to_string(), |r| r.to_string());
        eprintln!("bench: record at {label} IOPS");
        let log =
            std::env::temp_dir().join(format!("blkscope-bench-record-{}.txt", std::process::id()));
        let (program, args) = command.split_first().context("empty command")?;
        let child = Command::new(program)
            .args(args)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).context("the recorder's log")?)
            .spawn()
            .context("starting blkscope record")?;
        std::thread::sleep(Duration::from_millis(2500));
        let iops = fio_at_rate(device, Workload::RandReadIoUring, seconds, limit);
        stop(child);
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        let _ = std::fs::remove_file(&log);
        let iops = iops?;
        let (events, dropped) = recorded(&text);
        rows.push(format!(
            "| {label} | {iops:.0} | {:.0} | {dropped} |",
            events as f64 / f64::from(seconds)
        ));
        if dropped > 0 {
            break;
        }
    }
    Ok(rows)
}

/// Events written and dropped, from the recorder's summary and closing lines.
fn recorded(log: &str) -> (u64, u64) {
    let events = log
        .lines()
        .find_map(|l| l.trim().strip_prefix("Total:"))
        .and_then(|t| t.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    let dropped = log
        .lines()
        .find_map(|l| l.strip_prefix("You have "))
        .and_then(|t| t.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    (events, dropped)
}
