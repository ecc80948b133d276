//! `cargo xtask bench`: what tracing costs the disk it watches. Sets up its own stage (a loop
//! device on a file of random data in /dev/shm), runs fio with nothing attached and with each
//! tracer attached, alternating, several times, and prints one markdown table of medians.

use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::Duration,
};

use anyhow::{Context as _, bail};

/// How long and how often.
pub struct BenchPlan {
    pub seconds: u32,
    pub rounds: u32,
    pub image_mib: u32,
    pub quick: bool,
}

impl BenchPlan {
    pub fn full() -> Self {
        Self {
            seconds: 10,
            rounds: 3,
            image_mib: 1024,
            quick: false,
        }
    }

    /// A few seconds per case: CI runs it so the bench cannot rot; its numbers mean little.
    pub fn quick() -> Self {
        Self {
            seconds: 2,
            rounds: 1,
            image_mib: 128,
            quick: true,
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
}

/// One measured run.
pub(crate) struct Run {
    pub(crate) iops: f64,
    /// user+sys seconds the tracer process used.
    pub(crate) tracer_cpu_s: f64,
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
        let mut baseline = Vec::new();
        let mut results: Vec<Vec<Run>> = tracers.iter().map(|_| Vec::new()).collect();
        for round in 0..plan.rounds {
            eprintln!(
                "bench: {} round {}/{}",
                workload.name(),
                round + 1,
                plan.rounds
            );
            baseline.push(measure(&target, &stage.device, workload, plan.seconds, None)?.iops);
            for (tracer, runs) in tracers.iter().zip(results.iter_mut()) {
                runs.push(measure(
                    &target,
                    &stage.device,
                    workload,
                    plan.seconds,
                    Some(tracer),
                )?);
            }
        }
        let base = median(&baseline);
        rows.push(format!(
            "| {} | nothing attached | {:.0} | 100.0% | - | - |",
            workload.name(),
            base
        ));
        for (tracer, runs) in tracers.iter().zip(&results) {
            let iops = median(&runs.iter().map(|r| r.iops).collect::<Vec<_>>());
            let cpu = median(&runs.iter().map(|r| r.tracer_cpu_s).collect::<Vec<_>>());
            // What each operation costs more with the tracer attached, in microseconds.
            let extra_us = if iops > 0.0 && base > 0.0 {
                1e6 / iops - 1e6 / base
            } else {
                0.0
            };
            kept.push((workload, tracer.name, iops / base));
            rows.push(format!(
                "| {} | {} | {:.0} | {:.1}% | {:+.2} µs | {:.2} |",
                workload.name(),
                tracer.name,
                iops,
                100.0 * iops / base,
                extra_us,
                cpu / f64::from(plan.seconds)
            ));
        }
    }
    Ok(report(plan, &rows, &targets(&kept)))
}

/// The tracing targets, each met or missed by this run's figures.
fn targets(kept: &[(Workload, &str, f64)]) -> String {
    let ratio = |workload: Workload, prefix: &str| {
        kept.iter()
            .find(|(w, name, _)| *w == workload && name.starts_with(prefix))
            .map(|(_, _, r)| *r)
    };
    let io_uring = Workload::RandReadIoUring;
    let loss = |r: f64| 100.0 * (1.0 - r);
    let mut lines = Vec::new();
    let floor = ratio(io_uring, "bpftrace: empty programs").map_or(0.0, loss);
    for view in ["blkscope biolatency", "blkscope biotop"] {
        if let Some(r) = ratio(io_uring, view) {
            lines.push(format!(
                "- {view}: below 3% IOPS loss at the io_uring case: {} ({:.1}% lost; two empty \
                 BPF programs on the same tracepoints lose {floor:.1}%).",
                verdict(loss(r) < 3.0),
                loss(r)
            ));
        }
    }
    for (ours, theirs, what) in [
        (
            "blkscope biosnoop",
            "bpftrace biosnoop",
            "less loss than the bpftrace one-liner doing the same job",
        ),
        (
            "blkscope record",
            "ftrace blk tracer",
            "less loss than the kernel's own blktrace engine",
        ),
    ] {
        for workload in [Workload::RandReadIoUring, Workload::PsyncWrite] {
            if let (Some(a), Some(b)) = (ratio(workload, ours), ratio(workload, theirs)) {
                lines.push(format!(
                    "- {ours}, {what} ({}): {} ({:.1}% vs {:.1}%).",
                    workload.name(),
                    verdict(a > b),
                    loss(a),
                    loss(b)
                ));
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
        "\n## Targets\n\nThis run's figures against the targets (a psync row moves by +-20% from \
         run to run on this VM, an io_uring row by +-10 points):\n\n{}\n",
        lines.join("\n")
    )
}

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
    };
    let shell = |name, script: String| Tracer {
        name,
        command: Some(vec!["sh".into(), "-c".into(), script]),
        ftrace_blk: false,
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
        Tracer {
            name: "ftrace blk tracer (kernel blktrace)",
            command: None,
            ftrace_blk: true,
        },
        // The floor of every tracepoint tool: two programs that do nothing.
        shell(
            "bpftrace: empty programs on rq_issue and rq_complete",
            "exec bpftrace -e 'tracepoint:block:block_rq_issue { } \
             tracepoint:block:block_rq_complete { }'"
                .to_string(),
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
    if let Some(tracer) = tracer {
        if let Some(command) = &tracer.command {
            child = Some(spawn(command)?);
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
    Ok(Run {
        iops: iops?,
        tracer_cpu_s,
    })
}

/// fio's IOPS (4k random reads, io_uring qd32) on the stage with nothing attached and with
/// each tracer, alternating, `plan.rounds` times: the median IOPS with nothing attached, and
/// each tracer's median IOPS and CPU (in CPUs).
pub(crate) fn alternating(
    stage: &Stage,
    plan: &BenchPlan,
    label: &str,
    tracers: &[&Tracer],
) -> anyhow::Result<(f64, Vec<(f64, f64)>)> {
    let workload = Workload::RandReadIoUring;
    let mut base = Vec::new();
    let mut runs: Vec<(Vec<f64>, Vec<f64>)> = tracers.iter().map(|_| Default::default()).collect();
    for round in 0..plan.rounds {
        eprintln!("bench: {label}, round {}/{}", round + 1, plan.rounds);
        base.push(measure(&stage.device, &stage.device, workload, plan.seconds, None)?.iops);
        for (tracer, (iops, cpu)) in tracers.iter().zip(runs.iter_mut()) {
            let run = measure(
                &stage.device,
                &stage.device,
                workload,
                plan.seconds,
                Some(tracer),
            )?;
            iops.push(run.iops);
            cpu.push(run.tracer_cpu_s / f64::from(plan.seconds));
        }
    }
    Ok((
        median(&base),
        runs.iter()
            .map(|(iops, cpu)| (median(iops), median(cpu)))
            .collect(),
    ))
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

fn spawn(command: &[String]) -> anyhow::Result<Child> {
    let (program, args) = command.split_first().context("empty command")?;
    Command::new(program)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .with_context(|| format!("starting {program}"))
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
         {} MiB of random data in /dev/shm, {} s per run, {} round(s), tracers alternating with runs \
         with nothing attached; medians. `tracer CPU` is the CPU the tracer's own process used, in \
         CPUs (1.00 = one core busy).\n\n",
        if plan.quick { " --quick" } else { "" },
        kernel.trim(),
        plan.image_mib,
        plan.seconds,
        plan.rounds
    ));
    text.push_str(
        "| workload | attached | IOPS | vs nothing | cost per op | tracer CPU |\n|---|---|---|---|---|---|\n",
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
