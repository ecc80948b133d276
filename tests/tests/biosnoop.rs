//! `blkscope biosnoop` against the real kernel: every I/O of a known workload appears once,
//! attributed to the process that issued it, with the right sectors and sizes.

use std::{
    process::{Child, Command, Stdio},
    time::Duration,
};

use blkscope_tests::{LoopDevice, blkscope_binary, serial, sh};
use serde_json::Value;

/// Starts `blkscope biosnoop ARGS --json` and waits until its probes are attached.
fn start_biosnoop(args: &[&str]) -> Child {
    let child = Command::new(blkscope_binary())
        .arg("biosnoop")
        .args(args)
        .arg("--json")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting blkscope biosnoop");
    std::thread::sleep(Duration::from_millis(1500));
    child
}

/// SIGTERM, then the JSON lines it printed.
fn stop(child: Child) -> Vec<Value> {
    std::thread::sleep(Duration::from_millis(200));
    // SAFETY: kill(2) on our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let out = child.wait_with_output().expect("waiting for biosnoop");
    assert!(
        out.status.success(),
        "biosnoop failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

fn dd(args: &[&str]) -> u32 {
    let child = Command::new("dd")
        .args(args)
        .stderr(Stdio::null())
        .spawn()
        .expect("dd");
    let pid = child.id();
    assert!(
        child.wait_with_output().expect("dd").status.success(),
        "dd {args:?}"
    );
    pid
}

#[test]
fn one_line_per_io_for_the_issuing_process() {
    let _serial = serial();
    let disk = LoopDevice::new(64);
    let device = disk.path_str();
    let snoop = start_biosnoop(&["-d", device]);
    let reader = dd(&[
        &format!("if={device}"),
        "of=/dev/null",
        "bs=4096",
        "count=25",
        "skip=100",
        "iflag=direct",
    ]);
    // 2 MiB in one write: the kernel splits it into several requests, all the writer's.
    let writer = dd(&[
        "if=/dev/zero",
        &format!("of={device}"),
        "bs=2M",
        "count=1",
        "seek=4",
        "oflag=direct",
        "conv=notrunc",
    ]);
    let lines = stop(snoop);

    let reads: Vec<&Value> = lines.iter().filter(|l| l["pid"] == reader).collect();
    assert_eq!(reads.len(), 25, "one line per 4 KiB read: {lines:#?}");
    for (i, line) in reads.iter().enumerate() {
        assert_eq!(line["comm"], "dd");
        assert_eq!(line["direction"], "R");
        assert_eq!(line["disk"], disk.name());
        assert_eq!(line["bytes"], 4096);
        assert_eq!(
            line["sector"],
            800 + 8 * i as u64,
            "reads are sequential from sector 800"
        );
        assert!(line["latency_ms"].as_f64().unwrap() > 0.0);
    }
    let writes: Vec<&Value> = lines.iter().filter(|l| l["pid"] == writer).collect();
    assert!(
        writes.len() > 1,
        "the 2 MiB write was expected to be split: {writes:#?}"
    );
    let total: u64 = writes.iter().map(|l| l["bytes"].as_u64().unwrap()).sum();
    assert_eq!(total, 2 << 20, "the parts of the write add up to 2 MiB");
    assert_eq!(writes[0]["sector"], 16384, "seek=4 blocks of 2 MiB");
    assert!(writes.iter().all(|l| l["direction"] == "W"));
    assert!(
        lines.iter().all(|l| l["comm"] != "?"),
        "every I/O attributed: {lines:#?}"
    );
}

#[test]
fn a_partition_shows_its_own_name_and_only_its_io() {
    let _serial = serial();
    let disk = LoopDevice::new(64);
    // Two partitions by hand: this kernel has no partition table parsers.
    sh("addpart", &[disk.path_str(), "1", "2048", "20480"]);
    sh("addpart", &[disk.path_str(), "2", "22528", "20480"]);
    let p1 = format!("{}p1", disk.path_str());
    let p2 = format!("{}p2", disk.path_str());
    let snoop = start_biosnoop(&["-d", &p2]);
    dd(&[
        &format!("if={p1}"),
        "of=/dev/null",
        "bs=4096",
        "count=3",
        "iflag=direct",
    ]);
    let on_p2 = dd(&[
        &format!("if={p2}"),
        "of=/dev/null",
        "bs=4096",
        "count=2",
        "skip=1",
        "iflag=direct",
    ]);
    let lines = stop(snoop);
    assert_eq!(lines.len(), 2, "only p2's two reads: {lines:#?}");
    for (i, line) in lines.iter().enumerate() {
        assert_eq!(line["pid"], on_p2);
        assert_eq!(line["disk"], format!("{}p2", disk.name()));
        // Sectors are on the whole disk, as blktrace and bcc show them.
        assert_eq!(line["sector"], 22528 + 8 + 8 * i as u64);
    }
}
