//! `cargo xtask bench`: what tracing costs the disk it watches. Sets up its own stage (a loop
//! device on a file of random data in /dev/shm), runs fio with nothing attached and with each
//! tracer attached, alternating, several times, and prints one markdown table of medians.

use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::Duration,
};

use anyhow::{Context as _, bail};
use blkscope_common::tracepoint_args::BLOCK_TRACEPOINTS;

/// How long and how often.
pub struct BenchPlan {
    pub seconds: u32,
    pub rounds: u32,
    pub image_mib: u32,
    pub quick: bool,
    /// `--tracer NAME`: only the tracers whose names contain one of these (all when empty),
    /// to measure a change against its peers without the whole table.
    pub tracers: Vec<String>,
    /// `--workload NAME`: only the workloads whose names contain one of these (all when empty).
    pub workloads: Vec<String>,
}

impl BenchPlan {
    fn wants(&self, tracer: &Tracer) -> bool {
        self.tracers.is_empty()
            || self
                .tracers
                .iter()
                .any(|t| tracer.name.contains(t.as_str()))
    }

    fn wants_workload(&self, workload: Workload) -> bool {
        self.workloads.is_empty()
            || self
                .workloads
                .iter()
                .any(|w| workload.name().contains(w.as_str()))
    }
}

impl BenchPlan {
    /// Five rounds: a row moves 10 points between runs on these VMs, so a target is judged
    /// on the median of five, with the spread beside it.
    pub fn full() -> Self {
        Self {
            seconds: 10,
            rounds: 5,
            image_mib: 1024,
            quick: false,
            tracers: Vec::new(),
            workloads: Vec::new(),
        }
    }

    /// A few seconds per case: CI runs it so the bench cannot rot; its numbers mean little.
    pub fn quick() -> Self {
        Self {
            seconds: 2,
            rounds: 1,
            image_mib: 128,
            quick: true,
            tracers: Vec::new(),
            workloads: Vec::new(),
        }
    }
}

/// The fio jobs the tracers are measured under.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Workload {
    /// The stress case: ~330k IOPS on these machines.
    RandReadIoUring,
    /// One I/O at a time, the latency-bound case.
    PsyncWrite,
    /// Syscall-heavy: buffered 4k reads and writes of a file on ext4 (ext4slower's cost).
    Ext4FilePsync,
}

impl Workload {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Workload::RandReadIoUring => "4k randread, io_uring qd32",
            Workload::PsyncWrite => "4k randwrite, psync",
            Workload::Ext4FilePsync => "4k randrw on an ext4 file, psync, buffered",
        }
    }

    fn fio_args(self) -> &'static [&'static str] {
        match self {
            Workload::RandReadIoUring => &[
                "--rw=randread",
                "--ioengine=io_uring",
                "--iodepth=32",
                "--direct=1",
            ],
            Workload::PsyncWrite => &[
                "--rw=randwrite",
                "--ioengine=psync",
                "--iodepth=1",
                "--direct=1",
            ],
            Workload::Ext4FilePsync => &[
                "--rw=randrw",
                "--ioengine=psync",
                "--iodepth=1",
                "--size=64M",
            ],
        }
    }
}

/// Something attached while fio runs.
pub(crate) struct Tracer {
    pub(crate) name: &'static str,
    /// A command that runs until signalled (`None`: nothing attached, or ftrace).
    pub(crate) command: Option<Vec<String>>,
    /// The kernel's own blktrace engine through ftrace.
    pub(crate) ftrace_blk: bool,
    /// blkscope: its stderr says how many events it lost.
    pub(crate) reports_drops: bool,
}

/// One measured run.
pub(crate) struct Run {
    pub(crate) iops: f64,
    /// user+sys seconds the tracer process used.
    pub(crate) tracer_cpu_s: f64,
    /// Events the tracer said it lost (blkscope's "dropped" / "not counted" lines on stderr).
    pub(crate) drops: u64,
}

/// A tracer's runs, each against the baselines on both sides of it: what is left after the
/// machine's drift between runs.
#[derive(Default)]
pub(crate) struct Bracketed {
    /// Each run's IOPS over the mean of the runs with nothing attached just before and after.
    pub(crate) kept: Vec<f64>,
    pub(crate) iops: Vec<f64>,
    /// CPUs the tracer's process used (1.00 = one core busy).
    pub(crate) cpu: Vec<f64>,
    pub(crate) drops: u64,
}

impl Bracketed {
    pub(crate) fn kept_median(&self) -> f64 {
        median(&self.kept)
    }

    /// `min-max` of the kept fractions, in points.
    pub(crate) fn spread(&self) -> String {
        let min = self.kept.iter().copied().fold(f64::INFINITY, f64::min);
        let max = self.kept.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        if self.kept.is_empty() {
            "-".into()
        } else {
            format!("{:.1}-{:.1}%", 100.0 * min, 100.0 * max)
        }
    }
}

/// `rounds` rounds of: nothing, tracer 1, nothing, tracer 2, ..., nothing (the order of the
/// tracers turns by one each round, so none always runs first or after the same neighbour).
/// The medians of the baselines, and per tracer its bracketed runs.
pub(crate) fn bracketed(
    target: &str,
    device: &str,
    workload: Workload,
    plan: &BenchPlan,
    tracers: &[&Tracer],
) -> anyhow::Result<(Vec<f64>, Vec<Bracketed>)> {
    let mut baselines = Vec::new();
    let mut results: Vec<Bracketed> = tracers.iter().map(|_| Bracketed::default()).collect();
    for round in 0..plan.rounds as usize {
        eprintln!(
            "bench: {} round {}/{}",
            workload.name(),
            round + 1,
            plan.rounds
        );
        let mut before = measure(target, device, workload, plan.seconds, None)?.iops;
        baselines.push(before);
        for step in 0..tracers.len() {
            let index = (step + round) % tracers.len();
            let run = measure(target, device, workload, plan.seconds, Some(tracers[index]))?;
            let after = measure(target, device, workload, plan.seconds, None)?.iops;
            baselines.push(after);
            let result = &mut results[index];
            let around = (before + after) / 2.0;
            result
                .kept
                .push(if around > 0.0 { run.iops / around } else { 0.0 });
            result.iops.push(run.iops);
            result.cpu.push(run.tracer_cpu_s / f64::from(plan.seconds));
            result.drops += run.drops;
            before = after;
        }
    }
    Ok((baselines, results))
}

pub fn run(root: &Path, plan: &BenchPlan) -> anyhow::Result<String> {
    let blkscope = root.join("target/release/blkscope");
    if !blkscope.is_file() {
        bail!(
            "{} is missing: build it with `cargo build --release -p blkscope`",
            blkscope.display()
        );
    }
    let stage = Stage::new(plan.image_mib)?;
    let ext4 = Ext4Stage::new()?;
    let block_tracers = tracers(&blkscope, &stage.device);
    let file_tracers = vec![Tracer {
        name: "blkscope ext4slower 10",
        command: Some(vec![
            blkscope.display().to_string(),
            "ext4slower".into(),
            "--mount".into(),
            ext4.mount.display().to_string(),
            "10".into(),
        ]),
        ftrace_blk: false,
        reports_drops: true,
    }];
    let mut rows = Vec::new();
    let mut kept = Vec::new();
    let cases = [
        (
            Workload::RandReadIoUring,
            stage.device.clone(),
            &block_tracers,
        ),
        (Workload::PsyncWrite, stage.device.clone(), &block_tracers),
        (
            Workload::Ext4FilePsync,
            ext4.file.display().to_string(),
            &file_tracers,
        ),
    ];
    for (workload, target, tracers) in cases {
        let tracers: Vec<&Tracer> = tracers.iter().filter(|t| plan.wants(t)).collect();
        if tracers.is_empty() || !plan.wants_workload(workload) {
            continue;
        }
        let (baselines, results) = bracketed(&target, &stage.device, workload, plan, &tracers)?;
        let base = median(&baselines);
        rows.push(format!(
            "| {} | nothing attached | {:.0} | 100.0% | - | - | - | - |",
            workload.name(),
            base
        ));
        for (tracer, result) in tracers.iter().zip(&results) {
            let iops = median(&result.iops);
            let ratio = result.kept_median();
            // What each operation costs more with the tracer attached, in microseconds.
            let extra_us = if ratio > 0.0 && base > 0.0 {
                1e6 / (base * ratio) - 1e6 / base
            } else {
                0.0
            };
            kept.push((workload, tracer.name, ratio));
            rows.push(format!(
                "| {} | {} | {:.0} | {:.1}% | {} | {:+.2} µs | {:.2} | {} |",
                workload.name(),
                tracer.name,
                iops,
                100.0 * ratio,
                result.spread(),
                extra_us,
                median(&result.cpu),
                if tracer.reports_drops {
                    result.drops.to_string()
                } else {
                    "-".into()
                }
            ));
        }
    }
    Ok(report(plan, &rows, &targets(&kept)))
}

/// The tracing targets, each met or missed by this run's figures (kept fractions, each
/// against the baselines around it, medians of the rounds).
fn targets(kept: &[(Workload, &str, f64)]) -> String {
    let ratio = |workload: Workload, prefix: &str| {
        kept.iter()
            .find(|(w, name, _)| *w == workload && name.starts_with(prefix))
            .map(|(_, _, r)| *r)
    };
    let points = |r: f64| 100.0 * r;
    let mut lines = Vec::new();
    for workload in [Workload::RandReadIoUring, Workload::PsyncWrite] {
        let case = workload.name();
        if let (Some(ours), Some(ftrace)) = (
            ratio(workload, "blkscope record"),
            ratio(workload, "ftrace blk tracer"),
        ) {
            lines.push(format!(
                "- record keeps at least 1.5x what the ftrace blk tracer keeps ({case}): {} \
                 ({:.1}% vs {:.1}%: {:.2}x).",
                verdict(ours >= 1.5 * ftrace),
                points(ours),
                points(ftrace),
                ours / ftrace.max(f64::MIN_POSITIVE)
            ));
        }
        if let (Some(ours), Some(floor)) = (
            ratio(workload, "blkscope record"),
            ratio(workload, FLOOR_ALL),
        ) {
            lines.push(format!(
                "- record within 10 points of empty programs on its 15 tracepoints ({case}): {} \
                 ({:.1}% vs {:.1}%).",
                verdict(points(floor) - points(ours) <= 10.0),
                points(ours),
                points(floor)
            ));
        }
        if let (Some(ours), Some(theirs)) = (
            ratio(workload, "blkscope biosnoop"),
            ratio(workload, "bpftrace biosnoop"),
        ) {
            lines.push(format!(
                "- biosnoop keeps at least 1.5x what the bpftrace one-liner keeps ({case}): {} \
                 ({:.1}% vs {:.1}%: {:.2}x).",
                verdict(ours >= 1.5 * theirs),
                points(ours),
                points(theirs),
                ours / theirs.max(f64::MIN_POSITIVE)
            ));
        }
        if let Some(peer) = ratio(workload, "libbpf-tools biolatency") {
            for (view, within) in [
                ("blkscope biolatency", 3.0),
                ("blkscope biotop", 5.0),
                ("blkscope exporter", 5.0),
            ] {
                if let Some(ours) = ratio(workload, view) {
                    lines.push(format!(
                        "- {view} within {within:.0} points of libbpf-tools biolatency ({case}): \
                         {} ({:.1}% vs {:.1}%).",
                        verdict(points(peer) - points(ours) <= within),
                        points(ours),
                        points(peer)
                    ));
                }
            }
        }
    }
    if let Some(r) = ratio(Workload::Ext4FilePsync, "blkscope ext4slower") {
        lines.push(format!(
            "- ext4slower on buffered 4k reads and writes, threshold 10 ms (no target set): \
             {:.1}% of the operations per second kept.",
            100.0 * r
        ));
    }
    format!(
        "\n## Targets\n\nThis run's figures against the targets (medians of the rounds; a row \
         moves some 10 points between runs on this VM, see the spreads):\n\n{}\n",
        lines.join("\n")
    )
}

/// The name of the floor row of record's tracepoints.
const FLOOR_ALL: &str = "bpftrace: empty programs on the 15 block tracepoints record uses";

/// "met", or "**missed**".
pub(crate) fn verdict(met: bool) -> &'static str {
    if met { "met" } else { "**missed**" }
}

fn tracers(blkscope: &Path, device: &str) -> Vec<Tracer> {
    let ours = |name, args: &[&str]| Tracer {
        name,
        command: Some(
            std::iter::once(blkscope.display().to_string())
                .chain(args.iter().map(|a| (*a).to_owned()))
                .collect(),
        ),
        ftrace_blk: false,
        reports_drops: true,
    };
    let shell = |name, script: String| Tracer {
        name,
        command: Some(vec!["sh".into(), "-c".into(), script]),
        ftrace_blk: false,
        reports_drops: false,
    };
    let disk = device.trim_start_matches("/dev/");
    vec![
        ours("blkscope biolatency", &["biolatency", "-d", device]),
        ours(
            "blkscope biotop (batch)",
            &["biotop", "--batch", "-d", device],
        ),
        ours("blkscope biosnoop", &["biosnoop", "-d", device]),
        // What naming the file behind each I/O costs (fio's direct I/O on the raw device: the
        // per-task direct-I/O lookup on every bio).
        ours(
            "blkscope biosnoop --file",
            &["biosnoop", "--file", "-d", device],
        ),
        ours("blkscope trace (every event)", &["trace", "-d", device]),
        ours(
            "blkscope record (-o - to /dev/null)",
            &["record", "-d", device, "-o", "-"],
        ),
        ours(
            "blkscope iostat --cgroups (1 s reports)",
            &["iostat", "--cgroups", device, "1"],
        ),
        ours(
            "blkscope exporter",
            &["exporter", "--listen", "127.0.0.1:0", "--interval", "1"],
        ),
        Tracer {
            name: "ftrace blk tracer (kernel blktrace)",
            command: None,
            ftrace_blk: true,
            reports_drops: false,
        },
        // The floors of every tracepoint tool: programs that do nothing, on the two
        // tracepoints biolatency needs and on the fifteen record attaches.
        shell(
            "bpftrace: empty programs on rq_issue and rq_complete",
            "exec bpftrace -e 'tracepoint:block:block_rq_issue { } \
             tracepoint:block:block_rq_complete { }'"
                .to_string(),
        ),
        shell(
            FLOOR_ALL,
            format!("exec bpftrace -e '{}'", empty_programs(&BLOCK_TRACEPOINTS)),
        ),
        shell(
            "bpftrace biolatency one-liner",
            format!("exec bpftrace -e '{}'", BPFTRACE_BIOLATENCY),
        ),
        shell(
            "bpftrace biosnoop one-liner",
            format!("exec bpftrace -e '{}'", BPFTRACE_BIOSNOOP),
        ),
        shell(
            "libbpf-tools biolatency",
            format!("exec biolatency -d {disk}"),
        ),
    ]
}

/// A bpftrace program of empty probes on these block tracepoints.
fn empty_programs(tracepoints: &[&str]) -> String {
    tracepoints
        .iter()
        .map(|t| format!("tracepoint:block:{t} {{ }}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// What biolatency does, as a bpftrace user would write it (tracepoints only).
const BPFTRACE_BIOLATENCY: &str = "tracepoint:block:block_rq_issue { @start[args->dev, args->sector] = nsecs; } \
tracepoint:block:block_rq_complete /@start[args->dev, args->sector]/ { @usecs = hist((nsecs - @start[args->dev, args->sector]) / 1000); delete(@start[args->dev, args->sector]); }";

/// What biosnoop does: a line per I/O with its latency.
const BPFTRACE_BIOSNOOP: &str = "tracepoint:block:block_rq_issue { @start[args->dev, args->sector] = nsecs; @comm[args->dev, args->sector] = comm; @pid[args->dev, args->sector] = pid; } \
tracepoint:block:block_rq_complete /@start[args->dev, args->sector]/ { printf(\"%s %d %d %d %d\\n\", @comm[args->dev, args->sector], @pid[args->dev, args->sector], args->sector, args->nr_sector * 512, (nsecs - @start[args->dev, args->sector]) / 1000); delete(@start[args->dev, args->sector]); delete(@comm[args->dev, args->sector]); delete(@pid[args->dev, args->sector]); }";

/// fio on `target` with `tracer` attached (the ftrace blk tracer goes on `device`).
pub(crate) fn measure(
    target: &str,
    device: &str,
    workload: Workload,
    seconds: u32,
    tracer: Option<&Tracer>,
) -> anyhow::Result<Run> {
    let mut child = None;
    let mut ftrace = None;
    let stderr = std::env::temp_dir().join(format!("blkscope-bench-{}.err", std::process::id()));
    if let Some(tracer) = tracer {
        if let Some(command) = &tracer.command {
            child = Some(spawn(command, &stderr)?);
        }
        if tracer.ftrace_blk {
            ftrace = Some(FtraceBlk::start(device)?);
        }
        // Let the probes load and attach.
        std::thread::sleep(Duration::from_millis(2500));
    }
    let iops = fio(target, workload, seconds);
    let tracer_cpu_s = child.as_ref().map_or(0.0, |c| cpu_seconds(c.id()));
    if let Some(child) = child {
        stop(child);
    }
    drop(ftrace);
    let drops = match tracer {
        Some(t) if t.reports_drops => {
            drops_in(&std::fs::read_to_string(&stderr).unwrap_or_default())
        }
        _ => 0,
    };
    let _ = std::fs::remove_file(&stderr);
    Ok(Run {
        iops: iops?,
        tracer_cpu_s,
        drops,
    })
}

/// fio's IOPS (4k random reads, io_uring qd32) on the stage with each tracer attached, each
/// run between two with nothing attached (`bracketed`): the median IOPS with nothing attached,
/// and each tracer's median fraction kept, its spread and median CPU (in CPUs).
pub(crate) fn alternating(
    stage: &Stage,
    plan: &BenchPlan,
    tracers: &[&Tracer],
) -> anyhow::Result<(f64, Vec<Bracketed>)> {
    let workload = Workload::RandReadIoUring;
    let (baselines, results) = bracketed(&stage.device, &stage.device, workload, plan, tracers)?;
    Ok((median(&baselines), results))
}

pub(crate) fn fio(device: &str, workload: Workload, seconds: u32) -> anyhow::Result<f64> {
    fio_at_rate(device, workload, seconds, None)
}

/// fio held at `rate_iops` I/Os per second (`None`: as fast as it goes).
pub(crate) fn fio_at_rate(
    device: &str,
    workload: Workload,
    seconds: u32,
    rate_iops: Option<u32>,
) -> anyhow::Result<f64> {
    let out = Command::new("fio")
        .args([
            "--name=bench",
            &format!("--filename={device}"),
            "--bs=4k",
            "--direct=1",
        ])
        .args(workload.fio_args())
        .args(rate_iops.map(|r| format!("--rate_iops={r}")))
        .args([
            "--time_based",
            &format!("--runtime={seconds}"),
            "--output-format=json",
        ])
        .output()
        .context("running fio (apt-get install fio)")?;
    if !out.status.success() {
        bail!("fio failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).context("fio's JSON")?;
    let job = &report["jobs"][0];
    let iops =
        job["read"]["iops"].as_f64().unwrap_or(0.0) + job["write"]["iops"].as_f64().unwrap_or(0.0);
    Ok(iops)
}

/// Starts a tracer, its stderr to `stderr` (where blkscope says what it lost).
fn spawn(command: &[String], stderr: &Path) -> anyhow::Result<Child> {
    let (program, args) = command.split_first().context("empty command")?;
    let log = std::fs::File::create(stderr).with_context(|| stderr.display().to_string())?;
    Command::new(program)
        .args(args)
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .with_context(|| format!("starting {program}"))
}

/// Events a blkscope view said it lost: the N of its "You have N ... dropped events" line
/// (blktrace's summary adds a per-trace "(dropped N)" that this counts once through it), or
/// of "N completions ... not counted".
fn drops_in(stderr: &str) -> u64 {
    let number_after = |line: &str, marker: &str| -> Option<u64> {
        let rest = &line[line.find(marker)? + marker.len()..];
        rest.split(|c: char| !c.is_ascii_digit())
            .find(|w| !w.is_empty())?
            .parse()
            .ok()
    };
    stderr
        .lines()
        .filter_map(|l| {
            if l.contains("You have") {
                number_after(l, "You have")
            } else if l.contains("not counted") {
                l.split_whitespace().find_map(|w| w.parse::<u64>().ok())
            } else {
                None
            }
        })
        .sum()
}

/// SIGINT (what a user's Ctrl-C sends), then SIGKILL if it lingers.
pub(crate) fn stop(mut child: Child) {
    // SAFETY: kill(2) on our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    for _ in 0..50 {
        if child.try_wait().ok().flatten().is_some() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// user+sys seconds of a process (and, for `sh -c exec`, the program it became).
fn cpu_seconds(pid: u32) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    // Fields after the command name (which may hold spaces): utime is the 12th, stime the 13th.
    let Some((_, rest)) = stat.rsplit_once(')') else {
        return 0.0;
    };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    (ticks(11) + ticks(12)) / hz.max(1.0)
}

pub(crate) fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted.get(sorted.len() / 2).copied().unwrap_or(0.0)
}

fn report(plan: &BenchPlan, rows: &[String], targets: &str) -> String {
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let mut text = String::from("# blkscope performance\n\n");
    text.push_str(&format!(
        "Measured by `cargo xtask bench{}` on Linux {} with {cpus} CPUs: fio on a loop device backed by \
         {} MiB of random data in /dev/shm, {} s per run, {} round(s). Every tracer run sits between \
         two runs with nothing attached; `kept` is its IOPS over the mean of those two, the median \
         of the rounds, `spread` the lowest and highest round. `tracer CPU` is the CPU the \
         tracer's own process used, in CPUs (1.00 = one core busy); `drops` the events blkscope \
         said it lost, all rounds together.\n\n",
        if plan.quick { " --quick" } else { "" },
        kernel.trim(),
        plan.image_mib,
        plan.seconds,
        plan.rounds
    ));
    text.push_str(
        "| workload | attached | IOPS | kept | spread | cost per op | tracer CPU | drops |\n|---|---|---|---|---|---|---|---|\n",
    );
    for row in rows {
        text.push_str(row);
        text.push('\n');
    }
    text.push_str(targets);
    text
}

/// The bench's device: a loop device on a file of random data in /dev/shm.
pub(crate) struct Stage {
    pub(crate) device: String,
    backing: PathBuf,
}

impl Stage {
    pub(crate) fn new(mib: u32) -> anyhow::Result<Self> {
        let backing = PathBuf::from(format!(
            "/dev/shm/blkscope-bench-{}.img",
            std::process::id()
        ));
        let status = Command::new("dd")
            .args([
                "if=/dev/urandom",
                &format!("of={}", backing.display()),
                "bs=1M",
                &format!("count={mib}"),
            ])
            .stderr(Stdio::null())
            .status()
            .context("dd")?;
        if !status.success() {
            bail!("filling {} failed", backing.display());
        }
        let device = attach_loop(&backing).inspect_err(|_| {
            let _ = std::fs::remove_file(&backing);
        })?;
        Ok(Self { device, backing })
    }
}

impl Drop for Stage {
    fn drop(&mut self) {
        detach_loop(&self.device);
        let _ = std::fs::remove_file(&self.backing);
    }
}

/// Attaches `file` to a free loop device; the device's path.
pub(crate) fn attach_loop(file: &Path) -> anyhow::Result<String> {
    let out = Command::new("losetup")
        .args(["--show", "-f"])
        .arg(file)
        .output()
        .context("losetup")?;
    let device = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    if !out.status.success() || device.is_empty() {
        bail!("losetup failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(device)
}

/// Detaches a loop device the bench attached (on drop: a failure has nowhere to go).
pub(crate) fn detach_loop(device: &str) {
    let _ = Command::new("losetup").args(["-d", device]).status();
}

/// An ext4 file system on a second loop device (in /dev/shm), with fio's file on it.
struct Ext4Stage {
    device: String,
    backing: PathBuf,
    mount: PathBuf,
    file: PathBuf,
}

impl Ext4Stage {
    fn new() -> anyhow::Result<Self> {
        let backing = PathBuf::from(format!(
            "/dev/shm/blkscope-bench-ext4-{}.img",
            std::process::id()
        ));
        std::fs::File::create(&backing)?.set_len(256 << 20)?;
        let device = attach_loop(&backing).inspect_err(|_| {
            let _ = std::fs::remove_file(&backing);
        })?;
        let mount =
            std::env::temp_dir().join(format!("blkscope-bench-ext4-{}", std::process::id()));
        let stage = Self {
            device,
            backing,
            mount: mount.clone(),
            file: mount.join("fio.dat"),
        };
        std::fs::create_dir_all(&mount)?;
        for (program, args) in [
            ("mkfs.ext4", vec!["-q", "-F", stage.device.as_str()]),
            (
                "mount",
                vec![stage.device.as_str(), mount.to_str().unwrap_or_default()],
            ),
        ] {
            if !Command::new(program).args(&args).status()?.success() {
                bail!("{program} {args:?} failed");
            }
        }
        Ok(stage)
    }
}

impl Drop for Ext4Stage {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.mount).status();
        let _ = std::fs::remove_dir(&self.mount);
        detach_loop(&self.device);
        let _ = std::fs::remove_file(&self.backing);
    }
}

/// The ftrace `blk` tracer on the bench device, reading its pipe to /dev/null as a consumer
/// would; switched off on drop.
struct FtraceBlk {
    enable: PathBuf,
    reader: Child,
}

const TRACEFS: &str = "/sys/kernel/tracing";

impl FtraceBlk {
    fn start(device: &str) -> anyhow::Result<Self> {
        if !Path::new(TRACEFS).join("events").is_dir() {
            Command::new("mount")
                .args(["-t", "tracefs", "nodev", TRACEFS])
                .status()?;
        }
        let disk = device.trim_start_matches("/dev/");
        let enable = PathBuf::from(format!("/sys/block/{disk}/trace/enable"));
        std::fs::write(format!("{TRACEFS}/current_tracer"), "nop")?;
        std::fs::write(&enable, "1").with_context(|| enable.display().to_string())?;
        std::fs::write(format!("{TRACEFS}/current_tracer"), "blk")?;
        let reader = Command::new("cat")
            .arg(format!("{TRACEFS}/trace_pipe"))
            .stdout(Stdio::null())
            .spawn()
            .context("reading trace_pipe")?;
        Ok(Self { enable, reader })
    }
}

impl Drop for FtraceBlk {
    fn drop(&mut self) {
        // The tracer cannot be switched while its pipe is open.
        let _ = self.reader.kill();
        let _ = self.reader.wait();
        let _ = std::fs::write(format!("{TRACEFS}/current_tracer"), "nop");
        let _ = std::fs::write(&self.enable, "0");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drops_are_read_from_what_blkscope_says() {
        let record = "loop0: 5 events\n  Total:        1000 events (dropped 5),        2 KiB data\n\
                      \nYou have 5 ( 33.3%) dropped events\nConsider using a larger buffer size\n";
        assert_eq!(drops_in(record), 5);
        let biosnoop =
            "You have 7 dropped events (CPU1: 7; 0 undecodable); consider a bigger buffer (-b)\n";
        assert_eq!(drops_in(biosnoop), 7);
        assert_eq!(
            drops_in("You have 3 completions not counted (histogram map full)\n"),
            3
        );
        assert_eq!(
            drops_in(
                "iostat --cgroups: 4 completions found no room in the kernel's table and are not counted\n"
            ),
            4
        );
        assert_eq!(
            drops_in("  Total:  1000 events (dropped 0), 2 KiB data\n"),
            0
        );
    }
}
