//! The `blkscope` command as a user meets it: help, errors, privileges, a live trace stopped by
//! SIGTERM with everything buffered printed.

use std::{
    process::{Command, Stdio},
    time::Duration,
};

use blkscope_tests::{LoopDevice, blkscope_binary, require_root, serial, workload::DirectIo};

#[test]
fn help_lists_the_views() {
    let out = Command::new(blkscope_binary())
        .arg("--help")
        .output()
        .expect("blkscope --help");
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for view in [
        "trace",
        "iostat",
        "record",
        "parse",
        "btt",
        "biosnoop",
        "biotop",
        "biolatency",
        "bitesize",
        "biopattern",
        "biostacks",
        "ext4slower",
    ] {
        assert!(help.contains(view), "--help does not list {view}:\n{help}");
    }
}

/// Runs blkscope as the unprivileged user `nobody` (setpriv drops every capability).
fn as_nobody(args: &[&str]) -> std::process::Output {
    require_root();
    Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--inh-caps=-all",
        ])
        .arg(blkscope_binary())
        .args(args)
        .output()
        .expect("setpriv")
}

#[test]
fn without_root_it_fails_with_one_clear_line() {
    for args in [&["biolatency", "1", "1"][..], &["trace", "-w", "1"][..]] {
        let out = as_nobody(args);
        assert!(
            !out.status.success(),
            "blkscope {args:?} succeeded without root"
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            stderr.lines().count(),
            1,
            "one line expected, got:\n{stderr}"
        );
        assert!(
            stderr.contains("needs root") && stderr.contains("CAP_BPF"),
            "{stderr}"
        );
    }
}

#[test]
fn a_bad_device_names_the_flag_and_the_device() {
    let out = Command::new(blkscope_binary())
        .args(["trace", "-d", "/dev/no-such-disk"])
        .output()
        .expect("blkscope");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        stderr.trim(),
        "blkscope: -d: /dev/no-such-disk: no such block device"
    );
}

/// The tools with a grammar of their own follow blkscope's convention as `blkscope COMMAND`
/// (help with examples on stdout, exit 0; usage errors exit 2) and the stock tool's under its
/// name: its usage on stderr and its exit codes (sysstat's iostat, blkparse and blktrace exit 1
/// on --help and on usage errors; btt exits 0 on -h and 1 on usage errors).
#[test]
fn own_grammar_tools_follow_the_convention_of_the_name_they_run_under() {
    let work = blkscope_tests::scratch::Scratch::new("cli-conventions");
    let run = |program: &std::path::Path, args: &[&str]| {
        Command::new(program)
            .args(args)
            .output()
            .expect("running blkscope")
    };
    for (command, stock, stock_help_code) in [
        ("iostat", "iostat", 1),
        ("parse", "blkparse", 1),
        ("btt", "btt", 0),
        ("record", "blktrace", 1),
    ] {
        let help = run(&blkscope_binary(), &[command, "--help"]);
        let text = String::from_utf8_lossy(&help.stdout);
        assert_eq!(help.status.code(), Some(0), "blkscope {command} --help");
        assert!(
            text.contains("\nEXAMPLES:\n  ") && help.stderr.is_empty(),
            "blkscope {command} --help: {help:?}"
        );
        let via_help = run(&blkscope_binary(), &["help", command]);
        assert_eq!(via_help.stdout, help.stdout, "blkscope help {command}");
        let bad = run(&blkscope_binary(), &[command, "--no-such-flag"]);
        assert_eq!(bad.status.code(), Some(2), "blkscope {command}: {bad:?}");
        assert!(bad.stdout.is_empty() && !bad.stderr.is_empty());

        let link = work.path().join(stock);
        std::os::unix::fs::symlink(blkscope_binary(), &link).expect("drop-in link");
        let help = run(&link, &["--help"]);
        assert_eq!(help.status.code(), Some(stock_help_code), "{stock} --help");
        assert!(
            help.stdout.is_empty() && !help.stderr.is_empty(),
            "{stock} --help: {help:?}"
        );
        let bad = run(&link, &["--no-such-flag"]);
        assert_eq!(bad.status.code(), Some(1), "{stock}: {bad:?}");
        assert!(bad.stdout.is_empty() && !bad.stderr.is_empty());
    }
}

#[test]
fn record_usage_errors_name_the_problem() {
    let run = |args: &[&str]| {
        Command::new(blkscope_binary())
            .args(args)
            .output()
            .expect("blkscope")
    };
    let stderr = |out: &std::process::Output| String::from_utf8_lossy(&out.stderr).into_owned();
    let no_device = run(&["record"]);
    assert_eq!(no_device.status.code(), Some(2));
    assert!(stderr(&no_device).contains("You must specify at least one device"));
    let bad_mask = run(&["record", "-d", "/dev/null", "-a", "sideways"]);
    assert_eq!(bad_mask.status.code(), Some(2));
    assert!(stderr(&bad_mask).contains("Invalid action mask sideways"));
    let unknown = run(&["record", "-d", "/no/such/disk"]);
    assert_eq!(unknown.status.code(), Some(1));
    assert!(
        stderr(&unknown).contains("/no/such/disk"),
        "{}",
        stderr(&unknown)
    );
    // Before anything is traced: the timeline file cannot be made.
    let _serial = serial();
    let disk = LoopDevice::new(8);
    let timeline = run(&[
        "record",
        "-d",
        disk.path_str(),
        "-o",
        "-",
        "--perfetto",
        "/no/such/dir/t.json",
    ]);
    assert_eq!(timeline.status.code(), Some(1));
    assert!(
        stderr(&timeline).contains("--perfetto /no/such/dir/t.json"),
        "{}",
        stderr(&timeline)
    );
    assert!(timeline.stdout.is_empty(), "nothing recorded");
}

#[test]
fn sigterm_stops_a_live_trace_and_prints_every_buffered_event() {
    let _serial = serial();
    let disk = LoopDevice::new(16);
    let child = Command::new(blkscope_binary())
        .args(["trace", "--json", "-d", disk.path_str()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting blkscope trace");
    // The probes attach within a second; then a known read.
    std::thread::sleep(Duration::from_millis(1500));
    DirectIo::read(81920, 8192).run(disk.path_str());
    // SAFETY: kill(2) on our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let out = child.wait_with_output().expect("waiting for blkscope");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "exit {:?}: {stderr}", out.status);
    let events: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is a JSON object"))
        .collect();
    let completes: Vec<&serde_json::Value> = events
        .iter()
        .filter(|e| e["action"] == "complete" && e["sector"] == 160)
        .collect();
    assert_eq!(completes.len(), 1, "one C for the read: {events:#?}");
    assert_eq!(completes[0]["bytes"], 8192);
    assert_eq!(completes[0]["op"], "read");
    assert!(
        stderr.contains(&format!("blkscope: {} events", events.len())),
        "{stderr}"
    );
    assert!(!stderr.contains("dropped"), "{stderr}");
}

#[test]
fn block_views_need_no_tracefs_and_the_fs_views_mount_it() {
    let _serial = serial();
    let tracefs = std::path::Path::new("/sys/kernel/tracing");
    if tracefs.join("events").is_dir() {
        blkscope_tests::sh("umount", &["/sys/kernel/tracing"]);
    }
    assert!(!tracefs.join("events").is_dir());
    let run = |args: &[&str]| {
        let out = Command::new(blkscope_binary())
            .args(args)
            .output()
            .expect("blkscope");
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    // BTF tracepoints are found in the kernel's BTF: tracefs stays as it was.
    run(&["trace", "-w", "0.2"]);
    assert!(!tracefs.join("events").is_dir(), "trace mounted tracefs");
    // The syscall tracepoints are attached through tracefs: root mounts it.
    run(&["ext4dist", "1", "1"]);
    assert!(
        tracefs.join("events/syscalls").is_dir(),
        "tracefs was not mounted"
    );
}
