//! biosnoop and biolatency over blktrace recordings (`-i TRACE`): on the kernel-made traces in
//! ../shared/fixtures/blktrace and on traces our writer makes, every request that completes
//! after an issue the recording holds gets its line, with the latency stock blkparse's own
//! output gives (issue to completion) and the process that queued it; biolatency's histogram
//! is those latencies. A recording captured from the kernel while biosnoop runs live gives the
//! same I/Os as the live run. A damaged recording prints its valid part, then names file and
//! offset.

use std::collections::HashMap;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use blkscope::blktrace::BlktraceWriter;
use blkscope::blktrace::format::make_dev;
use blkscope::blktrace::synthetic::{SyntheticSpec, generate};
use blkscope_tests::{LoopDevice, Scratch, blkscope_binary, require_root, serial};
use serde_json::Value;

fn fixtures() -> std::path::PathBuf {
    blkscope_tests::blktrace_fixtures()
}

fn run(args: &[&str]) -> Output {
    Command::new(blkscope_binary())
        .args(args)
        .output()
        .expect("running blkscope")
}

fn json_lines(out: &Output) -> Vec<Value> {
    assert!(
        out.status.success(),
        "failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

/// A process: pid and name.
type Issuer = (u64, String);

/// A completed request as stock blkparse's lines show it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Expected {
    sector: u64,
    bytes: u64,
    latency_ns: u64,
    /// The process whose Q started at this sector last before the issue, when there is one.
    issuer: Option<Issuer>,
}

fn nanoseconds(text: &str) -> u64 {
    let (s, ns) = text.split_once('.').expect("a blkparse time");
    s.parse::<u64>().expect("seconds") * 1_000_000_000 + ns.parse::<u64>().expect("ns")
}

/// Reads `blkparse -i NAME`'s lines: each C of data (`SECTOR + N`) after a D at the same
/// device and sector is a request biosnoop must show, timed from that D, issued by whoever
/// queued the bio at that sector (or the bio it was split from).
fn expected_from_blkparse(dir: &Path, name: &str) -> Vec<Expected> {
    let out = Command::new("blkparse")
        .current_dir(dir)
        .args(["-i", name])
        .output()
        .expect("stock blkparse (apt-get install blktrace)");
    assert!(out.status.success(), "blkparse -i {name}");
    let text = String::from_utf8_lossy(&out.stdout);
    let mut queued: HashMap<(String, u64), Issuer> = HashMap::new();
    let mut issued: HashMap<(String, u64), (u64, Option<Issuer>)> = HashMap::new();
    let mut expected = Vec::new();
    for line in text.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 10 || !f[0].contains(',') || (f[8] != "+" && f[8] != "/") {
            continue;
        }
        let (dev, time, pid, act) = (f[0].to_string(), nanoseconds(f[3]), f[4], f[5]);
        let sector: u64 = f[7].parse().expect("sector");
        let key = (dev, sector);
        match act {
            "Q" => {
                let name = f[10].trim_matches(|c| c == '[' || c == ']').to_string();
                queued.insert(key, (pid.parse().expect("pid"), name));
            }
            // A split's second part (at the sector after "/") was queued by the same task.
            "X" => {
                if let (Some(q), Ok(tail)) = (queued.get(&key).cloned(), f[9].parse::<u64>()) {
                    queued.insert((key.0.clone(), tail), q);
                }
            }
            "D" => {
                let issuer = queued.remove(&key);
                issued.insert(key, (time, issuer));
            }
            "C" => {
                if let Some((d, issuer)) = issued.remove(&key) {
                    expected.push(Expected {
                        sector,
                        bytes: f[9].parse::<u64>().expect("sectors") * 512,
                        latency_ns: time - d,
                        issuer,
                    });
                }
            }
            _ => {}
        }
    }
    expected.sort();
    expected
}

/// biosnoop -i's lines with data, in the same form.
fn biosnoop_lines(dir: &Path, name: &str) -> Vec<Expected> {
    let out = Command::new(blkscope_binary())
        .current_dir(dir)
        .args(["biosnoop", "--json", "-i", name])
        .output()
        .expect("running blkscope");
    let mut lines: Vec<Expected> = json_lines(&out)
        .iter()
        .filter(|l| l["bytes"].as_u64() != Some(0))
        .map(|l| Expected {
            sector: l["sector"].as_u64().expect("sector"),
            bytes: l["bytes"].as_u64().expect("bytes"),
            latency_ns: (l["latency_ms"].as_f64().expect("latency") * 1e6).round() as u64,
            issuer: Some((
                l["pid"].as_u64().expect("pid"),
                l["comm"].as_str().expect("comm").to_string(),
            )),
        })
        .collect();
    lines.sort();
    lines
}

/// Compares biosnoop's lines with blkparse's: the same requests and latencies; the issuer
/// wherever blkparse shows a Q at the request's start.
fn assert_same_requests(dir: &Path, name: &str) -> usize {
    let expected = expected_from_blkparse(dir, name);
    let mut ours = biosnoop_lines(dir, name);
    assert!(!expected.is_empty(), "{name}: no completed requests");
    for (e, o) in expected.iter().zip(ours.iter_mut()) {
        if e.issuer.is_none() {
            o.issuer = None;
        }
    }
    if ours != expected {
        let missing: Vec<_> = expected
            .iter()
            .filter(|e| !ours.contains(e))
            .take(5)
            .collect();
        let extra: Vec<_> = ours
            .iter()
            .filter(|o| !expected.contains(o))
            .take(5)
            .collect();
        panic!(
            "{name}: biosnoop -i shows {} requests, blkparse {}; not shown (first 5): \
             {missing:#?}; not in blkparse (first 5): {extra:#?}",
            ours.len(),
            expected.len()
        );
    }
    expected.len()
}

/// The histogram biolatency must print for these latencies (µs, power-of-two slots).
fn log2_counts(latencies_ns: impl Iterator<Item = u64>) -> Vec<u64> {
    let mut slots = vec![0u64; 32];
    for ns in latencies_ns {
        let us = ns / 1000;
        slots[(63 - (us | 1).leading_zeros()) as usize] += 1;
    }
    slots
}

fn biolatency_counts(dir: &Path, name: &str) -> Vec<u64> {
    let out = Command::new(blkscope_binary())
        .current_dir(dir)
        .args(["biolatency", "--json", "-i", name])
        .output()
        .expect("running blkscope");
    let lines = json_lines(&out);
    assert_eq!(lines.len(), 1, "one histogram for the whole recording");
    let mut slots = vec![0u64; 32];
    for bucket in lines[0]["data"].as_array().expect("data") {
        let start = bucket["interval-start"].as_u64().expect("start");
        slots[(63 - (start | 1).leading_zeros()) as usize] =
            bucket["count"].as_u64().expect("count");
    }
    slots
}

#[test]
fn kernel_recordings_give_the_requests_blkparse_shows() {
    let dir = fixtures();
    for name in ["ext4mixed", "partition"] {
        let n = assert_same_requests(&dir, name);
        assert!(n > 50, "{name}: {n} requests");
        // biolatency counts the same completions, flushes (no data) included; blkparse shows
        // no sector for a flush's issue, so the histograms are compared on the trace that has
        // none.
        if name == "partition" {
            let expected = log2_counts(
                expected_from_blkparse(&dir, name)
                    .iter()
                    .map(|e| e.latency_ns),
            );
            assert_eq!(
                biolatency_counts(&dir, name),
                expected,
                "{name}: biolatency -i"
            );
        }
    }
    // The partition's I/O is shown under the partition (the recording's A records), named
    // MAJ,MIN when this machine has no such device.
    let out = run(&[
        "biosnoop",
        "--json",
        "-i",
        &dir.join("partition").to_string_lossy(),
    ]);
    let lines = json_lines(&out);
    assert!(
        lines
            .iter()
            .all(|l| l["disk"] != "loop1" && l["disk"] != "<unknown>"),
        "{lines:?}"
    );
}

#[test]
fn written_recordings_give_the_requests_blkparse_shows() {
    let work = Scratch::new("recording-synthetic");
    let spec = SyntheticSpec {
        ios: 3000,
        cpus: 3,
        devices: vec![make_dev(8, 0), make_dev(8, 16)],
        seed: 17,
        pc: false,
        ..Default::default()
    };
    let mut writer = BlktraceWriter::new(work.path(), "t");
    for t in generate(&spec) {
        writer.write(&t).expect("writing the trace");
    }
    writer.finish().expect("closing the trace");
    let n = assert_same_requests(work.path(), "t");
    assert!(n > 1000, "{n} requests");
    let expected = log2_counts(
        expected_from_blkparse(work.path(), "t")
            .iter()
            .map(|e| e.latency_ns),
    );
    let ours = biolatency_counts(work.path(), "t");
    // The synthetic flushes carry no data: biolatency also counts them.
    assert!(
        ours.iter().zip(&expected).all(|(o, e)| o >= e),
        "every data request counted: {ours:?} vs {expected:?}"
    );
    // Intervals of the recording's time: the counts add up to the whole.
    let out = Command::new(blkscope_binary())
        .current_dir(work.path())
        .args(["biolatency", "--json", "-i", "t", "1"])
        .output()
        .expect("running blkscope");
    let total: u64 = json_lines(&out)
        .iter()
        .flat_map(|h| h["data"].as_array().expect("data").clone())
        .map(|b| b["count"].as_u64().expect("count"))
        .sum();
    assert_eq!(total, ours.iter().sum::<u64>(), "intervals add up");
}

/// Runs the shared capture tool (the kernel's own blktrace records through ftrace) on `disk`
/// while `workload` runs; the per-CPU files are `dir/NAME.blktrace.N`.
fn capture(disk: &LoopDevice, dir: &Path, name: &str, workload: &str) {
    let tool =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/tools/capture_kernel_blktrace.sh");
    assert!(tool.is_file(), "missing {}", tool.display());
    let status = Command::new("bash")
        .arg(&tool)
        .args([disk.path_str(), name, workload])
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("running the capture tool");
    assert!(status.success(), "capture_kernel_blktrace.sh failed");
}

#[test]
fn a_kernel_recording_gives_what_the_live_view_saw() {
    require_root();
    let _serial = serial();
    let disk = LoopDevice::new(64);
    let work = Scratch::new("recording-live");
    let live = Command::new(blkscope_binary())
        .args(["biosnoop", "--json", "-d", disk.path_str()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting blkscope biosnoop");
    std::thread::sleep(Duration::from_millis(1500));
    let device = disk.path_str();
    capture(
        &disk,
        work.path(),
        "live",
        &format!(
            "track dd if={device} of=/dev/null bs=4096 count=40 skip=10 iflag=direct; \
             track dd if=/dev/zero of={device} bs=64k count=8 seek=3 oflag=direct conv=notrunc"
        ),
    );
    std::thread::sleep(Duration::from_millis(300));
    // SAFETY: kill(2) on our own child.
    unsafe { libc::kill(live.id() as i32, libc::SIGTERM) };
    let live_out = live.wait_with_output().expect("waiting for biosnoop");
    let key = |l: &Value| {
        (
            l["sector"].as_u64().expect("sector"),
            l["bytes"].as_u64().expect("bytes"),
            l["comm"].as_str().expect("comm").to_string(),
            l["direction"].as_str().expect("direction").to_string(),
        )
    };
    let mut seen_live: Vec<_> = json_lines(&live_out)
        .iter()
        .filter(|l| l["comm"] == "dd")
        .map(key)
        .collect();
    let recorded_out = Command::new(blkscope_binary())
        .current_dir(work.path())
        .args(["biosnoop", "--json", "-i", "live"])
        .output()
        .expect("running blkscope");
    let recorded = json_lines(&recorded_out);
    let mut seen_recorded: Vec<_> = recorded
        .iter()
        .filter(|l| l["comm"] == "dd")
        .map(key)
        .collect();
    seen_live.sort();
    seen_recorded.sort();
    assert_eq!(
        seen_live.len(),
        48,
        "40 reads and 8 writes live: {seen_live:?}"
    );
    assert_eq!(
        seen_recorded, seen_live,
        "the recording against the live run"
    );
    assert!(
        recorded
            .iter()
            .all(|l| l["disk"] == disk.name() && l["latency_ms"].as_f64().unwrap_or(-1.0) > 0.0),
        "{recorded:?}"
    );
}

#[test]
fn a_damaged_recording_prints_its_valid_part_then_names_file_and_offset() {
    let work = Scratch::new("recording-damaged");
    let fixtures = fixtures();
    let mut whole = Vec::new();
    for cpu in 0..2 {
        let from = fixtures.join(format!("ext4mixed.blktrace.{cpu}"));
        let bytes = std::fs::read(&from).expect("fixture");
        if cpu == 1 {
            whole = bytes.clone();
        }
        std::fs::write(work.path().join(format!("t.blktrace.{cpu}")), bytes).expect("copy");
    }
    let complete = Command::new(blkscope_binary())
        .current_dir(work.path())
        .args(["biosnoop", "-i", "t"])
        .output()
        .expect("running blkscope");
    assert!(complete.status.success());
    // Garbage in the middle of CPU 1's file.
    let cut = whole.len() / 2;
    let mut damaged = whole[..cut].to_vec();
    damaged.extend([0x5a; 64]);
    std::fs::write(work.path().join("t.blktrace.1"), &damaged).expect("damage");
    let out = Command::new(blkscope_binary())
        .current_dir(work.path())
        .args(["biosnoop", "-i", "t"])
        .output()
        .expect("running blkscope");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("t.blktrace.1"), "names the file: {stderr}");
    let offset: usize = stderr
        .split("offset ")
        .nth(1)
        .and_then(|rest| rest.split(':').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no offset in {stderr}"));
    assert!(
        offset <= cut && cut - offset < 48 + 64,
        "offset {offset}: the record the garbage starts in (at {cut})"
    );
    let printed = String::from_utf8_lossy(&out.stdout).lines().count();
    let all = String::from_utf8_lossy(&complete.stdout).lines().count();
    assert!(
        printed > 10 && printed < all,
        "the valid part printed: {printed} of {all} lines"
    );
}

#[test]
fn recordings_refuse_what_they_cannot_do() {
    let out = run(&["biosnoop", "-i", "no-such-trace"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no-such-trace"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = run(&["biosnoop", "-i", "x", "5"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("DURATION"));
}

#[test]
fn one_cpu_file_names_the_whole_trace_and_disks_take_blkparse_numbers() {
    let fixtures = fixtures();
    let whole = run(&[
        "biosnoop",
        "-i",
        fixtures.join("ext4mixed").to_str().unwrap(),
    ]);
    let by_file = run(&[
        "biosnoop",
        "-i",
        fixtures.join("ext4mixed.blktrace.0").to_str().unwrap(),
    ]);
    assert!(whole.status.success() && by_file.status.success());
    assert_eq!(
        String::from_utf8_lossy(&by_file.stdout),
        String::from_utf8_lossy(&whole.stdout),
        "NAME.blktrace.0 reads every CPU's file, as blkparse does"
    );
    let lines = |out: &Output| String::from_utf8_lossy(&out.stdout).lines().count();
    for disk in ["7,1", "7:1"] {
        let only = run(&[
            "biosnoop",
            "-i",
            fixtures.join("ext4mixed").to_str().unwrap(),
            "-d",
            disk,
        ]);
        assert!(only.status.success(), "-d {disk}");
        assert_eq!(
            lines(&only),
            lines(&whole),
            "-d {disk}: every I/O is on 7,1"
        );
    }
    let other = run(&[
        "biosnoop",
        "-i",
        fixtures.join("ext4mixed").to_str().unwrap(),
        "-d",
        "8,0",
    ]);
    assert_eq!(
        lines(&other),
        1,
        "only the header for a disk the trace does not hold"
    );
}
