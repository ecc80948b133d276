//! `blkscope biolatency` against the real kernel: every completion of a workload is counted
//! (against /proc/diskstats), and the latencies agree with what fio measured itself.

use std::{
    process::{Child, Command, Stdio},
    time::Duration,
};

use blkscope_tests::{DiskCounters, LoopDevice, blkscope_binary, serial};
use serde_json::Value;

fn start_biolatency(args: &[&str]) -> Child {
    let child = Command::new(blkscope_binary())
        .arg("biolatency")
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting blkscope biolatency");
    std::thread::sleep(Duration::from_millis(1500));
    child
}

fn interrupt(child: Child) -> String {
    interrupt_with_stderr(child).0
}

/// `interrupt`, with what the view wrote on stderr.
fn interrupt_with_stderr(child: Child) -> (String, String) {
    std::thread::sleep(Duration::from_millis(200));
    // SAFETY: kill(2) on our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let out = child.wait_with_output().expect("waiting for biolatency");
    assert!(
        out.status.success(),
        "biolatency failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// fio's own view of a 4 KiB random-read run: (completed I/Os, median completion latency µs).
fn fio_randread(device: &str, ios: u32) -> (u64, f64) {
    let out = Command::new("fio")
        .args([
            "--name=lat",
            &format!("--filename={device}"),
            "--rw=randread",
            "--bs=4k",
            "--direct=1",
            "--ioengine=psync",
            &format!("--number_ios={ios}"),
            "--size=32M",
            "--output-format=json",
        ])
        .output()
        .expect("fio");
    assert!(
        out.status.success(),
        "fio: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).expect("fio JSON");
    let read = &report["jobs"][0]["read"];
    let p50_ns = read["clat_ns"]["percentile"]["50.000000"]
        .as_f64()
        .expect("fio p50");
    (
        read["total_ios"].as_u64().expect("fio total_ios"),
        p50_ns / 1000.0,
    )
}

#[test]
fn counts_every_completion_and_agrees_with_fio() {
    let _serial = serial();
    let disk = LoopDevice::new(64);
    let before = DiskCounters::read(disk.name());
    let child = start_biolatency(&["-d", disk.path_str(), "--json", "--percentiles"]);
    let (fio_ios, fio_p50_us) = fio_randread(disk.path_str(), 2000);
    let output = interrupt(child);
    let after = DiskCounters::read(disk.name());

    let histogram: Value =
        serde_json::from_str(output.trim()).unwrap_or_else(|e| panic!("{e}: {output}"));
    assert_eq!(histogram["val_type"], "usecs");
    let buckets = histogram["data"].as_array().expect("data");
    let total: u64 = buckets.iter().map(|b| b["count"].as_u64().unwrap()).sum();
    assert_eq!(
        total,
        after.completions() - before.completions(),
        "histogram total vs /proc/diskstats"
    );
    assert!(
        total >= fio_ios,
        "fio completed {fio_ios} reads, the histogram holds {total}"
    );

    // fio times the whole read (syscall included), the histogram issue to completion: the
    // median bucket cannot start above fio's median, and the submission path adds tens of
    // microseconds at most.
    let mut seen = 0;
    let median = buckets
        .iter()
        .find(|b| {
            seen += b["count"].as_u64().unwrap();
            seen * 2 >= total
        })
        .expect("a median bucket");
    let (low, high) = (
        median["interval-start"].as_f64().unwrap(),
        median["interval-end"].as_f64().unwrap(),
    );
    assert!(
        low <= fio_p50_us && fio_p50_us <= high + 100.0,
        "fio p50 {fio_p50_us} µs vs median bucket {low}..{high} µs"
    );

    // --percentiles: ordered, the median inside the median bucket (to the fine buckets' 12.5%).
    let p = &histogram["percentiles_ns"];
    let ns = |k: &str| p[k].as_f64().unwrap_or_else(|| panic!("no {k} in {p}"));
    assert!(
        ns("p50") <= ns("p90")
            && ns("p90") <= ns("p99")
            && ns("p99") <= ns("p99.9")
            && ns("p99.9") <= ns("max"),
        "{p}"
    );
    let p50_us = ns("p50") / 1000.0;
    assert!(
        p50_us >= low * 0.875 && p50_us <= (high + 1.0) * 1.125,
        "p50 {p50_us} µs vs bucket {low}..{high}"
    );
}

#[test]
fn text_output_matches_bcc_layout_and_libbpf_tools_counts() {
    let _serial = serial();
    let disk = LoopDevice::new(64);
    let ours = start_biolatency(&["-d", disk.name()]);
    // libbpf-tools' biolatency, the one block tool of theirs that runs on this kernel.
    let theirs = Command::new("biolatency")
        .args(["-d", disk.name()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("libbpf-tools biolatency (apt-get install libbpf-tools)");
    std::thread::sleep(Duration::from_millis(1500));
    fio_randread(disk.path_str(), 500);
    let (ours, banner) = interrupt_with_stderr(ours);
    let theirs = interrupt(theirs);

    // bcc's banner, on stderr: stdout is the histograms alone.
    assert_eq!(
        banner.lines().next(),
        Some("Tracing block device I/O... Hit Ctrl-C to end.")
    );
    let mut lines = ours.lines();
    assert_eq!(lines.next(), Some(""));
    assert_eq!(
        lines.next(),
        Some("     usecs               : count     distribution")
    );
    let counts = |text: &str| -> u64 {
        text.lines()
            .filter(|l| l.contains(" -> "))
            .map(|l| {
                l.split(':')
                    .nth(1)
                    .unwrap()
                    .split('|')
                    .next()
                    .unwrap()
                    .trim()
                    .parse::<u64>()
                    .unwrap()
            })
            .sum()
    };
    assert_eq!(
        counts(&ours),
        counts(&theirs),
        "ours:\n{ours}\ntheirs:\n{theirs}"
    );
    assert!(counts(&ours) >= 500);
    // Same rows (ranges) in the same layout; libbpf-tools' header has one space less.
    let rows = |text: &str| -> Vec<String> {
        text.lines()
            .filter(|l| l.contains(" -> "))
            .map(|l| l[..26].to_owned())
            .collect()
    };
    assert_eq!(rows(&ours).first(), rows(&theirs).first());
}
