//! blkscope on kernels other than the host's: Debian 11's 5.10 (block tracepoints with the
//! queue first, `bio.bi_disk`, `request.rq_disk`, bpf() refused to uncapable tasks) and
//! Debian 12's 6.1, booted under qemu by scripts/kernel-vm.sh with this build's binary. In the
//! guest a known workload runs on its virtio disk while the views trace it; their counts are
//! checked against the guest kernel's own /proc/diskstats.

use std::{path::Path, process::Command};

use blkscope_tests::{Scratch, blkscope_binary};

/// Runs `script` in a VM with `kernel`; its output, as `KEY=VALUE` lines among others.
fn in_vm(kernel: &str, script: &str) -> String {
    let work = Scratch::new(&format!("kernel-vm-{kernel}"));
    let script_path = work.path().join("guest.sh");
    std::fs::write(&script_path, script).expect("writing the guest script");
    let runner = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/kernel-vm.sh");
    let out = Command::new("bash")
        .arg(&runner)
        .arg(kernel)
        .arg(blkscope_binary())
        .arg(&script_path)
        .output()
        .expect("running scripts/kernel-vm.sh");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "the {kernel} VM failed ({}):\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

fn value(output: &str, key: &str) -> u64 {
    output
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{key}=")))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {key}= in the guest's output:\n{output}"))
}

/// The guest's part: `check`, then trace, biosnoop and biolatency over 40 direct writes and
/// 30 direct reads of 4 KiB each on /dev/vda, each next to the disk's completions in
/// /proc/diskstats. Loading the probes takes seconds under emulation: the workload waits.
const GUEST: &str = r#"
completions() { awk '$3 == "vda" { print $4 + $8 }' /proc/diskstats; }
workload() {
    sleep 10
    dd if=/dev/zero of=/dev/vda bs=4k count=40 oflag=direct 2>/dev/null
    dd if=/dev/vda of=/dev/null bs=4k count=30 iflag=direct 2>/dev/null
}
blkscope check > /tmp/check.txt
echo "CHECK_RC=$?"
cat /tmp/check.txt

before=$(completions); workload & blkscope trace -d /dev/vda -w 16 > /tmp/trace.txt; echo "TRACE_RC=$?"; wait
echo "TRACE_DISK=$(( $(completions) - before ))"
echo "TRACE_C=$(grep -c '  C  ' /tmp/trace.txt)"
echo "TRACE_VDA=$(grep -c '^254,0 ' /tmp/trace.txt)"
echo "TRACE_LINES=$(wc -l < /tmp/trace.txt)"

before=$(completions); workload & blkscope biosnoop -d vda 16 > /tmp/biosnoop.txt; echo "BIOSNOOP_RC=$?"; wait
echo "BIOSNOOP_DISK=$(( $(completions) - before ))"
echo "BIOSNOOP_LINES=$(grep -c ' vda ' /tmp/biosnoop.txt)"

before=$(completions); workload & blkscope biolatency -D 16 1 > /tmp/biolatency.txt; echo "BIOLATENCY_RC=$?"; wait
echo "BIOLATENCY_DISK=$(( $(completions) - before ))"
echo "BIOLATENCY_COUNT=$(awk '/disk = vda/ { on = 1 } on && /->/ { n += $5 } END { print n + 0 }' /tmp/biolatency.txt)"
"#;

fn check_kernel(kernel: &str) {
    let out = in_vm(kernel, GUEST);
    assert_eq!(
        value(&out, "CHECK_RC"),
        0,
        "check says a view cannot run:\n{out}"
    );
    assert!(out.contains(&format!("Kernel: Linux {kernel}.")), "{out}");
    for view in ["TRACE", "BIOSNOOP", "BIOLATENCY"] {
        assert_eq!(value(&out, &format!("{view}_RC")), 0, "{view}:\n{out}");
    }
    // 70 I/Os, perhaps a little more (the kernel may read the disk on its own): the views
    // count what the guest's diskstats count, on the right disk.
    let disk = value(&out, "TRACE_DISK");
    assert!(disk >= 70, "{out}");
    assert_eq!(value(&out, "TRACE_C"), disk, "{out}");
    assert_eq!(
        value(&out, "TRACE_VDA"),
        value(&out, "TRACE_LINES"),
        "every event on vda:\n{out}"
    );
    assert_eq!(
        value(&out, "BIOSNOOP_LINES"),
        value(&out, "BIOSNOOP_DISK"),
        "{out}"
    );
    assert_eq!(
        value(&out, "BIOLATENCY_COUNT"),
        value(&out, "BIOLATENCY_DISK"),
        "{out}"
    );
}

#[test]
fn debian_11_linux_5_10() {
    check_kernel("5.10");
}

#[test]
fn debian_12_linux_6_1() {
    check_kernel("6.1");
}
