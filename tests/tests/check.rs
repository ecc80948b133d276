//! `blkscope check` against what the views do, the BTF of Debian 12's 6.1 kernel (from its
//! package), and `--btf FILE` on a live view: the probes then attach as raw tracepoints.

use std::{
    path::{Path, PathBuf},
    process::{Command, Output, Stdio},
    time::Duration,
};

use blkscope_tests::{LoopDevice, Scratch, blkscope_binary, require_root, serial};
use serde_json::Value;

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn blkscope(args: &[&str]) -> Output {
    Command::new(blkscope_binary())
        .args(args)
        .output()
        .expect("running blkscope")
}

fn check_json(extra: &[&str]) -> (Option<i32>, Value) {
    let mut args = vec!["check", "--json"];
    args.extend_from_slice(extra);
    let out = blkscope(&args);
    let report: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "check --json: {e}: {}{}",
            text(&out.stdout),
            text(&out.stderr)
        )
    });
    (out.status.code(), report)
}

/// Runs a view that ends by itself; true when it exits 0.
fn ends_well(dir: &Path, args: &[&str]) -> bool {
    let out = Command::new(blkscope_binary())
        .current_dir(dir)
        .args(args)
        .output()
        .expect("running blkscope");
    if !out.status.success() {
        eprintln!("{args:?}: {}", text(&out.stderr));
    }
    out.status.success()
}

/// Runs a view that runs until stopped for two seconds, then SIGINT; true when it was still
/// running then and exits 0.
fn runs_until_stopped(args: &[&str]) -> bool {
    let mut child = Command::new(blkscope_binary())
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting blkscope");
    std::thread::sleep(Duration::from_secs(2));
    let early = child.try_wait().expect("try_wait");
    // SAFETY: kill(2) on our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let out = child.wait_with_output().expect("waiting");
    if early.is_some() || !out.status.success() {
        eprintln!("{args:?}: {}", text(&out.stderr));
    }
    early.is_none() && out.status.success()
}

/// What each view of `check` does on this machine, run for real (`true`: it ran).
fn run_view(view: &str, disk: &LoopDevice, dir: &Path) -> bool {
    let fixture = blkscope_tests::blktrace_fixtures().join("ext4mixed");
    let fixture = fixture.to_str().expect("a UTF-8 path");
    match view {
        "trace" => ends_well(dir, &["trace", "-d", disk.path_str(), "-w", "1"]),
        "record" => ends_well(
            dir,
            &["record", "-d", disk.path_str(), "-o", "t", "-w", "1"],
        ),
        "biosnoop" => ends_well(dir, &["biosnoop", "1"]),
        "biotop" => ends_well(dir, &["biotop", "--batch", "1", "1"]),
        "biolatency" => ends_well(dir, &["biolatency", "1", "1"]),
        "ext4slower" => runs_until_stopped(&["ext4slower"]),
        "ext4dist" => ends_well(dir, &["ext4dist", "1", "1"]),
        "exporter" => runs_until_stopped(&["exporter", "--listen", "127.0.0.1:0"]),
        "iostat --cgroups" => ends_well(dir, &["iostat", "--cgroups", "1", "1"]),
        "iostat" => ends_well(dir, &["iostat", "1", "1"]),
        "parse" => ends_well(dir, &["parse", "-q", "-i", fixture]),
        "btt" => ends_well(dir, &["btt", "-i", fixture]),
        other => panic!("check names a view this test does not know: {other}"),
    }
}

#[test]
fn check_on_this_machine_agrees_with_what_the_views_do() {
    require_root();
    let _serial = serial();
    let disk = LoopDevice::new(16);
    let work = Scratch::new("check-views");
    let (code, report) = check_json(&[]);
    assert_eq!(report["kernel"]["running"], true);
    let views = report["views"].as_array().expect("views");
    assert!(views.len() >= 12, "{report}");
    let all_run = views.iter().all(|v| v["runs"] == true);
    assert_eq!(code, Some(if all_run { 0 } else { 1 }), "{report}");
    for v in views {
        let name = v["view"].as_str().expect("a view name");
        let said = v["runs"] == true;
        let did = run_view(name, &disk, work.path());
        assert_eq!(
            said, did,
            "check says {name} runs: {said}; it ran: {did}\n{v}"
        );
    }
    // Every block tracepoint resolved, with its prototype.
    for t in report["tracepoints"].as_array().expect("tracepoints") {
        assert!(t["object_argument"].is_u64(), "{t}");
        assert!(
            t["prototype"]
                .as_str()
                .is_some_and(|p| p.starts_with("void (*)(void *, ")),
            "{t}"
        );
    }
}

#[test]
fn check_as_a_user_without_capabilities_says_the_live_views_cannot_run() {
    require_root();
    let _serial = serial();
    let out = Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--inh-caps=-all",
            "--bounding-set=-all",
        ])
        .arg(blkscope_binary())
        .args(["check", "--json"])
        .output()
        .expect("setpriv");
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let report: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    for v in report["views"].as_array().expect("views") {
        let live = !v["probes"].as_array().expect("probes").is_empty();
        assert_eq!(v["runs"], !live, "{v}");
        if live {
            assert!(
                v["reasons"][0].as_str().unwrap_or("").contains("CAP_BPF"),
                "{v}"
            );
        }
    }
    // And the view itself says the same.
    let view = Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--inh-caps=-all",
        ])
        .arg(blkscope_binary())
        .args(["biolatency", "1", "1"])
        .output()
        .expect("setpriv");
    assert!(!view.status.success());
    assert!(text(&view.stderr).contains("CAP_BPF"), "{view:?}");
}

/// The vmlinux of Debian 12's 6.1 cloud kernel, from its package (scripts/debian-kernel-btf.sh
/// downloads and extracts it once, into target/kernel-btf).
fn debian_6_1_vmlinux() -> PathBuf {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/debian-kernel-btf.sh");
    let out = Command::new("bash")
        .arg(&script)
        .output()
        .expect("running scripts/debian-kernel-btf.sh");
    assert!(
        out.status.success(),
        "getting Debian's 6.1 kernel BTF: {}",
        text(&out.stderr)
    );
    PathBuf::from(text(&out.stdout).trim())
}

#[test]
fn debian_6_1_kernel_btf_resolves_every_layout_and_prototype() {
    let vmlinux = debian_6_1_vmlinux();
    let path = vmlinux.to_str().expect("a UTF-8 path");
    let (code, report) = check_json(&["--btf", path]);
    assert_eq!(code, Some(0), "{report}");
    assert_eq!(report["kernel"]["running"], false);
    assert!(
        report["kernel"]["release"]
            .as_str()
            .is_some_and(|r| r.starts_with("6.1.0-") && r.ends_with("-cloud-amd64")),
        "{report}"
    );
    assert!(
        report["privileges"].is_null(),
        "not asked of another kernel"
    );
    for f in report["features"].as_array().expect("features") {
        assert_eq!(f["present"], true, "{f}");
    }
    // 6.1's prototypes (since 5.11): the object first, but for block_bio_complete(q, bio).
    for t in report["tracepoints"].as_array().expect("tracepoints") {
        let expected = u64::from(t["tracepoint"] == "block_bio_complete");
        assert_eq!(t["object_argument"], expected, "{t}");
    }
    let issue = report["tracepoints"]
        .as_array()
        .and_then(|ts| ts.iter().find(|t| t["tracepoint"] == "block_rq_issue"))
        .expect("block_rq_issue");
    assert_eq!(issue["prototype"], "void (*)(void *, struct request *)");
    for m in report["members"].as_array().expect("members") {
        assert!(m["offset"].is_u64(), "{m}");
    }
    // 6.1 still has struct request's q first, and its own offsets elsewhere.
    let offset = |member: &str| {
        report["members"]
            .as_array()
            .and_then(|ms| ms.iter().find(|m| m["member"] == member))
            .map(|m| m["offset"].clone())
            .expect("a member")
    };
    assert_eq!(offset("request.q"), 0);
    // The text report says the same.
    let out = blkscope(&["check", "--btf", path]);
    assert!(out.status.success());
    let stdout = text(&out.stdout);
    assert!(stdout.starts_with("Kernel: Linux 6.1.0-"), "{stdout}");
    assert!(
        stdout.contains("  biolatency         runs (block_latency)"),
        "{stdout}"
    );
}

#[test]
fn a_btf_file_that_is_not_btf_is_a_clear_error() {
    let out = blkscope(&["check", "--btf", "/etc/hostname"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("/etc/hostname holds no BTF"), "{stderr}");
    assert!(out.stdout.is_empty());
    let out = blkscope(&["check", "--btf", "/nonexistent/vmlinux"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("/nonexistent/vmlinux"),
        "{out:?}"
    );
    // A live view refuses it the same way, before loading anything.
    let out = blkscope(&["biolatency", "--btf", "/etc/hostname", "1", "1"]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("holds no BTF"), "{out:?}");
}

/// The names and types of the BPF programs loaded now (`bpftool prog show`).
fn loaded_programs() -> String {
    let out = Command::new("bpftool")
        .args(["prog", "show"])
        .output()
        .expect("bpftool");
    text(&out.stdout)
}

#[test]
fn a_live_view_with_a_btf_file_attaches_raw_tracepoints_and_sees_every_io() {
    require_root();
    let _serial = serial();
    let disk = LoopDevice::new(16);
    let work = Scratch::new("check-raw");
    // This kernel's own BTF, as a BTFHub file would hold it.
    let btf = work.path().join("vmlinux.btf");
    std::fs::copy("/sys/kernel/btf/vmlinux", &btf).expect("copying the BTF");
    let child = Command::new(blkscope_binary())
        .args(["trace", "--json", "-d", disk.path_str(), "-w", "4", "--btf"])
        .arg(&btf)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting trace");
    std::thread::sleep(Duration::from_millis(1500));
    let programs = loaded_programs();
    let before = blkscope_tests::DiskCounters::read(disk.name());
    for i in 0..20 {
        blkscope_tests::workload::DirectIo::read(i * 4096, 4096).run(disk.path_str());
    }
    let after = blkscope_tests::DiskCounters::read(disk.name());
    let out = child.wait_with_output().expect("waiting for trace");
    assert!(out.status.success(), "{}", text(&out.stderr));
    // Raw tracepoints (bpftool: raw_tracepoint), not BTF tracepoints (tracing).
    let block_programs: Vec<&str> = programs
        .lines()
        .filter(|l| l.contains(" name block_"))
        .collect();
    assert!(!block_programs.is_empty(), "{programs}");
    assert!(
        block_programs.iter().all(|l| l.contains("raw_tracepoint")),
        "{block_programs:?}"
    );
    let completions = text(&out.stdout)
        .lines()
        .filter(|l| l.contains("\"action\":\"complete\""))
        .count() as u64;
    assert_eq!(completions, after.completions() - before.completions());
    assert_eq!(completions, 20);
}
