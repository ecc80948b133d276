//! The parser's bench: stock blkparse and `blkscope parse` on the same multi-million-event
//! trace (written by the `make_trace` example), output to /dev/null; events per second and
//! peak memory of each.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{Context as _, bail};

/// Wall time and peak resident memory of one run.
pub(crate) struct Measured {
    pub(crate) seconds: f64,
    /// User plus system time, all threads.
    pub(crate) cpu_seconds: f64,
    pub(crate) max_rss_kib: i64,
}

/// Runs `cmd` with stdout to /dev/null; its time and peak RSS (from wait4's rusage).
pub(crate) fn measure(cmd: &mut Command) -> anyhow::Result<Measured> {
    let start = Instant::now();
    let child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .with_context(|| format!("starting {cmd:?}"))?;
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: wait4 on our own child, writing into locals we own.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let waited = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    let seconds = start.elapsed().as_secs_f64();
    if waited != pid || !libc::WIFEXITED(status) || libc::WEXITSTATUS(status) != 0 {
        bail!("{cmd:?} failed (status {status})");
    }
    let cpu = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    Ok(Measured {
        seconds,
        cpu_seconds: cpu(usage.ru_utime) + cpu(usage.ru_stime),
        max_rss_kib: usage.ru_maxrss,
    })
}

/// Markdown rows for the parse bench; `ios` I/Os make about 13 events each.
pub fn run(root: &Path, ios: u32, rounds: u32) -> anyhow::Result<String> {
    let status = Command::new(env!("CARGO"))
        .current_dir(root)
        .args([
            "build",
            "--release",
            "-p",
            "blkscope",
            "--example",
            "make_trace",
        ])
        .status()?;
    if !status.success() {
        bail!("building the make_trace example failed");
    }
    let dir = std::env::temp_dir().join(format!("blkscope-parse-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let result = run_in(root, &dir, ios, rounds);
    let _ = std::fs::remove_dir_all(&dir);
    result
}

fn run_in(root: &Path, dir: &Path, ios: u32, rounds: u32) -> anyhow::Result<String> {
    let made = Command::new(root.join("target/release/examples/make_trace"))
        .args([dir.to_str().unwrap_or("."), "bench", &ios.to_string(), "4"])
        .output()?;
    let events: f64 = String::from_utf8_lossy(&made.stdout)
        .trim()
        .strip_prefix("events=")
        .and_then(|n| n.parse().ok())
        .context("make_trace did not say how many events it wrote")?;
    let bytes: u64 = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok()?.metadata().ok())
        .map(|m| m.len())
        .sum();
    let blkscope = root.join("target/release/blkscope");
    let mut rows = Vec::new();
    let mut rates = Vec::new();
    let mut rss_mib = 0;
    for (name, program, first) in [
        ("stock blkparse 1.2", Path::new("blkparse"), None),
        ("blkscope parse", blkscope.as_path(), Some("parse")),
    ] {
        let mid = median_run(rounds, &format!("parse, {name}"), || {
            let mut cmd = Command::new(program);
            cmd.current_dir(dir).args(first).args(["-i", "bench"]);
            cmd
        })?;
        let rate = events / mid.seconds;
        rates.push(rate);
        rss_mib = mid.max_rss_kib / 1024;
        rows.push(format!(
            "| {name} | {:.0} | {:.2} s | {:.2} s | {:.2} M/s | {} MiB |",
            events,
            mid.seconds,
            mid.cpu_seconds,
            rate / 1e6,
            mid.max_rss_kib / 1024
        ));
    }
    let speedup = rates.get(1).copied().unwrap_or(0.0) / rates.first().copied().unwrap_or(1.0);
    let (small_mib, big_mib) = memory_on_two_sizes(root, dir, &blkscope, ios, rss_mib)?;
    let flat = big_mib <= small_mib * 3 / 2 + 2;
    let btt = btt_rows(dir, &blkscope, events, rounds)?;
    Ok(format!(
        "\n## Parsing a recorded trace\n\n\
         `blkparse -i bench > /dev/null` and `blkscope parse -i bench > /dev/null` on a synthetic \
         trace of {ios} I/Os on 4 CPUs ({:.0} MiB; every action kind, made by the `make_trace` \
         example); median of {rounds} run(s). Target: at least 10x blkparse's events per second, \
         memory flat in the trace's size. blkscope reads and merges the per-CPU files on a \
         second thread while the first prints (CPU = user + system time of all threads).\n\n\
         | parser | events | time | CPU | events/s | peak RSS |\n|---|---|---|---|---|---|\n{}\n\n\
         blkscope parses {speedup:.1}x as many events per second as blkparse: target {}. \
         Memory: {big_mib} MiB on this trace, {small_mib} MiB on one a tenth its size: flat \
         memory {}.\n{btt}",
        bytes as f64 / (1024.0 * 1024.0),
        rows.join("\n"),
        crate::bench::verdict(speedup >= 10.0),
        crate::bench::verdict(flat),
    ))
}

/// blkscope parse's peak RSS on a trace a tenth the size, next to `big_mib` on the full one.
fn memory_on_two_sizes(
    root: &Path,
    dir: &Path,
    blkscope: &Path,
    ios: u32,
    big_mib: i64,
) -> anyhow::Result<(i64, i64)> {
    let small = dir.join("small");
    std::fs::create_dir_all(&small)?;
    let made = Command::new(root.join("target/release/examples/make_trace"))
        .args([
            small.to_str().unwrap_or("."),
            "bench",
            &(ios / 10).to_string(),
            "4",
        ])
        .output()?;
    anyhow::ensure!(made.status.success(), "make_trace failed");
    let mid = median_run(1, "parse, a tenth of the trace", || {
        let mut cmd = Command::new(blkscope);
        cmd.current_dir(&small).args(["parse", "-i", "bench"]);
        cmd
    })?;
    Ok((mid.max_rss_kib / 1024, big_mib))
}

/// The median run of `rounds`.
fn median_run(
    rounds: u32,
    label: &str,
    mut cmd: impl FnMut() -> Command,
) -> anyhow::Result<Measured> {
    let mut runs = Vec::new();
    for round in 0..rounds {
        eprintln!("bench: {label}, round {}/{rounds}", round + 1);
        runs.push(measure(&mut cmd())?);
    }
    runs.sort_by(|a, b| a.seconds.total_cmp(&b.seconds));
    runs.into_iter()
        .nth(rounds as usize / 2)
        .context("no bench rounds")
}

/// btt on the same trace: stock btt reads blkparse's binary dump; blkscope btt reads the
/// same dump (and, its extension, the per-CPU files directly).
fn btt_rows(dir: &Path, blkscope: &Path, events: f64, rounds: u32) -> anyhow::Result<String> {
    let status = Command::new("blkparse")
        .current_dir(dir)
        .args(["-q", "-i", "bench", "-d", "bench.bin", "-O"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()?;
    if !status.success() {
        bail!("blkparse -d failed");
    }
    let cases: [(&str, &Path, &[&str]); 4] = [
        (
            "stock btt 2.09 (dump)",
            Path::new("btt"),
            &["-i", "bench.bin"],
        ),
        ("blkscope btt (dump)", blkscope, &["btt", "-i", "bench.bin"]),
        (
            "blkscope btt (per-CPU files)",
            blkscope,
            &["btt", "-i", "bench"],
        ),
        // The report's target: the same order of time as btt on the same trace.
        (
            "blkscope report (per-CPU files)",
            blkscope,
            &["report", "-i", "bench", "-o", "bench.html"],
        ),
    ];
    let mut rows = Vec::new();
    let mut rates = Vec::new();
    for (name, program, args) in cases {
        let mid = median_run(rounds, name, || {
            let mut cmd = Command::new(program);
            cmd.current_dir(dir).args(args);
            cmd
        })?;
        let rate = events / mid.seconds;
        rates.push(rate);
        rows.push(format!(
            "| {name} | {:.2} s | {:.2} M/s | {} MiB |",
            mid.seconds,
            rate / 1e6,
            mid.max_rss_kib / 1024
        ));
    }
    let speedup = rates.get(1).copied().unwrap_or(0.0) / rates.first().copied().unwrap_or(1.0);
    let page_kib = std::fs::metadata(dir.join("bench.html")).map_or(0, |m| m.len() / 1024);
    let report_vs_btt = rates.get(2).copied().unwrap_or(0.0) / rates.get(3).copied().unwrap_or(1.0);
    Ok(format!(
        "\n## Analysing a recorded trace (btt, report)\n\n\
         `btt -i bench.bin` (the dump `blkparse -d` writes of the same trace) and `blkscope btt` \
         on it, report to /dev/null, and `blkscope report` of the same trace to an HTML file; median of {rounds} run(s). Memory holds the I/Os in flight \
         and btt's statistics (its seek buckets and active periods grow with the trace, in \
         both).\n\n\
         | analyser | time | events/s | peak RSS |\n|---|---|---|---|\n{}\n\n\
         blkscope btt analyses {speedup:.1}x as many events per second as btt. `blkscope report` \
         on the per-CPU files takes {report_vs_btt:.1}x the time of `blkscope btt` on them \
         (target: the same order) and writes a page of {page_kib} KiB.\n",
        rows.join("\n")
    ))
}
