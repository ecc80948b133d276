//! The exporter's cost: fio's IOPS with it running (alternating with runs without), and how
//! long a scrape of `/metrics` takes with 1,000 cgroups that did I/O, how big it is, and the
//! exporter's memory.

use std::{
    io::{Read as _, Write as _},
    net::{SocketAddr, TcpStream},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{Context as _, bail};

use crate::bench::{BenchPlan, Stage, Tracer, alternating, median, stop};

/// Where the exporter's part of docs/performance/bench-log.md starts.
pub const EXPORTER_SECTION: &str = "\n## Exporter";

/// The port the bench's exporters listen on (127.0.0.1 only).
pub const BENCH_PORT: u16 = 19438;

/// Cgroups made for the bench, removed on drop.
struct BenchCgroups {
    base: PathBuf,
    dirs: Vec<PathBuf>,
}

impl BenchCgroups {
    fn new(count: usize) -> anyhow::Result<BenchCgroups> {
        let root = ["/sys/fs/cgroup/unified", "/sys/fs/cgroup"]
            .iter()
            .map(PathBuf::from)
            .find(|d| d.join("cgroup.procs").exists() && !d.join("tasks").exists())
            .context("no cgroup v2 hierarchy")?;
        let base = root.join(format!("blkscope-bench-{}", std::process::id()));
        std::fs::create_dir(&base).with_context(|| base.display().to_string())?;
        let mut made = BenchCgroups {
            base,
            dirs: Vec::new(),
        };
        for i in 0..count {
            let dir = made.base.join(format!("docker-{i:064x}.scope"));
            std::fs::create_dir(&dir).with_context(|| dir.display().to_string())?;
            made.dirs.push(dir);
        }
        Ok(made)
    }
}

impl Drop for BenchCgroups {
    fn drop(&mut self) {
        for dir in &self.dirs {
            let _ = std::fs::remove_dir(dir);
        }
        let _ = std::fs::remove_dir(&self.base);
    }
}

/// fio's IOPS (4k random reads, io_uring qd32) with the exporter attached, alternating with
/// runs with nothing attached; target: below 3% lost.
fn overhead(blkscope: &Path, stage: &Stage, plan: &BenchPlan) -> anyhow::Result<String> {
    let exporter = Tracer {
        name: "blkscope exporter (--interval 5)",
        command: Some(vec![
            blkscope.display().to_string(),
            "exporter".into(),
            "--listen".into(),
            format!("127.0.0.1:{BENCH_PORT}"),
            "--interval".into(),
            "5".into(),
        ]),
        ftrace_blk: false,
        reports_drops: true,
    };
    let (base, with) = alternating(stage, plan, &[&exporter])?;
    let kept = with[0].kept_median();
    let (iops, cpu, spread) = (
        median(&with[0].iops),
        median(&with[0].cpu),
        with[0].spread(),
    );
    let lost = 100.0 - 100.0 * kept;
    Ok(format!(
        "fio 4k random reads, io_uring qd32, on the bench's loop device, {} s per run, median of \
         {} round(s), with `blkscope exporter --interval 5` running (every probe attached: \
         per-cgroup counts, split-stage latency histograms, ext4 syscall probes).\n\n\
         | attached | IOPS | kept | spread | tracer CPU |\n|---|---|---|---|---|\n\
         | nothing attached | {base:.0} | 100.0% | - | - |\n\
         | {} | {iops:.0} | {:.1}% | {spread} | {cpu:.2} |\n\n\
         {lost:.1}% of the IOPS lost; the target (within 5 points of libbpf-tools' biolatency) \
         is judged in the tracing table, where both run side by side.\n",
        plan.seconds,
        plan.rounds,
        exporter.name,
        100.0 * kept,
    ))
}

fn scrape(addr: SocketAddr) -> anyhow::Result<(Duration, usize)> {
    let started = Instant::now();
    let mut stream = TcpStream::connect(addr)?;
    write!(stream, "GET /metrics HTTP/1.0\r\n\r\n")?;
    let mut body = Vec::new();
    stream.read_to_end(&mut body)?;
    Ok((started.elapsed(), body.len()))
}

fn rss_mib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        .unwrap_or(0)
        / 1024
}

pub fn run(root: &Path, plan: &BenchPlan, cgroups: usize, scrapes: u32) -> anyhow::Result<String> {
    let blkscope = root.join("target/release/blkscope");
    let stage = Stage::new(plan.image_mib)?;
    let overhead = overhead(&blkscope, &stage, plan)?;
    let made = BenchCgroups::new(cgroups)?;
    let addr = SocketAddr::from(([127, 0, 0, 1], BENCH_PORT));
    let exporter: Child = Command::new(&blkscope)
        .args(["exporter", "--listen", &addr.to_string(), "--interval", "1"])
        .args(["--max-cgroups", &cgroups.to_string(), "--fs", "none"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("starting blkscope exporter")?;
    std::thread::sleep(Duration::from_millis(2500));
    eprintln!("bench: exporter, one read in each of {cgroups} cgroups");
    for (i, dir) in made.dirs.iter().enumerate() {
        let script = format!(
            "echo $$ > {} && exec dd if={} of=/dev/null bs=4096 count=1 skip={i} iflag=direct",
            dir.join("cgroup.procs").display(),
            stage.device
        );
        let status = Command::new("sh")
            .args(["-c", &script])
            .stderr(Stdio::null())
            .status()?;
        if !status.success() {
            stop(exporter);
            bail!("a read in {} failed", dir.display());
        }
    }
    std::thread::sleep(Duration::from_millis(2500));
    let mut times = Vec::new();
    let mut size = 0;
    for _ in 0..scrapes {
        let (took, bytes) = scrape(addr)?;
        times.push(took.as_secs_f64() * 1000.0);
        size = bytes;
    }
    let rss = rss_mib(exporter.id());
    stop(exporter);
    let slowest = times.iter().copied().fold(0.0, f64::max);
    Ok(format!(
        "{EXPORTER_SECTION}\n\n{overhead}\n\
         `blkscope exporter --interval 1 --max-cgroups {cgroups}` after one 4 KiB read in each of \
         {cgroups} cgroups (each its own series, with its latency histograms); {scrapes} scrapes of \
         /metrics over HTTP on 127.0.0.1, one after the other.\n\n\
         | cgroups | scrape time (median) | slowest | response | exporter RSS |\n|---|---|---|---|---|\n\
         | {cgroups} | {:.1} ms | {slowest:.1} ms | {} KiB | {rss} MiB |\n",
        median(&times),
        size / 1024
    ))
}
