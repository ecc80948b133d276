//! blkscope as a careless user or an attacker meets it: no hang, no panic, no unbounded memory,
//! nothing valid lost, and a clear error naming the problem. One test per defect found.

use std::{
    path::{Path, PathBuf},
    process::{Command, Output, Stdio},
};

use blkscope::blktrace::{
    BlktraceWriter,
    format::make_dev,
    synthetic::{SyntheticSpec, generate},
};
use blkscope_tests::{LoopDevice, Scratch, blkscope_binary, require_root, serial};

fn fixture(name: &str) -> PathBuf {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/fixtures/blktrace")
        .join(name);
    assert!(
        path.with_extension("blktrace.0").is_file(),
        "missing fixture {}",
        path.display()
    );
    path
}

fn fixture_str(name: &str) -> String {
    fixture(name).to_string_lossy().into_owned()
}

fn run(args: &[&str]) -> Output {
    Command::new(blkscope_binary())
        .args(args)
        .output()
        .expect("running blkscope")
}

/// Runs a shell line with `$B` set to the blkscope binary.
fn shell(line: &str) -> Output {
    Command::new("bash")
        .arg("-c")
        .arg(line)
        .env("B", blkscope_binary())
        .output()
        .expect("running bash")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn bare_blkscope_and_unknown_names_print_the_usage_and_exit_2() {
    let bare = run(&[]);
    assert_eq!(bare.status.code(), Some(2), "{bare:?}");
    assert!(
        text(&bare.stderr).contains("Usage: blkscope [OPTIONS] <COMMAND>"),
        "{}",
        text(&bare.stderr)
    );
    assert!(bare.stdout.is_empty());
    let work = Scratch::new("hardening-symlink");
    let link = work.path().join("not-a-tool");
    std::os::unix::fs::symlink(blkscope_binary(), &link).expect("symlink");
    let unknown = Command::new(&link).output().expect("running the symlink");
    assert_eq!(unknown.status.code(), Some(2), "{unknown:?}");
    assert!(text(&unknown.stderr).contains("Usage:"));
}

#[test]
fn every_named_input_is_read_with_a_bound() {
    let work = Scratch::new("hardening-bounds");
    let stats = work.path().join("stats");
    std::fs::create_dir_all(&stats).unwrap();
    std::os::unix::fs::symlink("/dev/zero", stats.join("diskstats")).unwrap();
    let trace = fixture_str("ext4mixed");
    // 1 GiB of address space at most: an unbounded read aborts or is killed well before the
    // 20 s timeout ends it.
    let bounded = |args: &str| {
        shell(&format!(
            "ulimit -v 1048576; exec timeout 20 \"$B\" {args} </dev/null"
        ))
    };
    let btt = bounded(&format!(
        "btt -i {trace} -M /dev/urandom -o {}/out",
        work.path().display()
    ));
    assert_eq!(btt.status.code(), Some(1), "btt -M: {btt:?}");
    assert!(
        text(&btt.stderr).contains("/dev/urandom"),
        "{}",
        text(&btt.stderr)
    );
    let record = bounded("record -I /dev/zero -d /dev/null");
    assert_eq!(record.status.code(), Some(1), "record -I: {record:?}");
    assert!(
        text(&record.stderr).contains("/dev/zero") && text(&record.stderr).contains("larger than"),
        "{}",
        text(&record.stderr)
    );
    let iostat = bounded(&format!("iostat -d -f {}", stats.display()));
    assert!(
        iostat.status.code().is_some_and(|c| c != 124),
        "iostat -f with diskstats -> /dev/zero must end by itself: {iostat:?}"
    );
}

#[test]
fn parse_json_keeps_stdout_for_json_only() {
    let out = run(&["parse", "-i", &fixture_str("ext4mixed"), "--format", "json"]);
    assert!(out.status.success(), "{out:?}");
    let stdout = text(&out.stdout);
    let objects: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    assert!(objects.len() > 1000);
    assert!(
        text(&out.stderr).contains("Input file"),
        "the notes go to stderr"
    );
}

#[test]
fn a_closed_or_full_stdout_is_an_error() {
    let closed = shell("\"$B\" iostat >&-");
    assert_eq!(closed.status.code(), Some(1), "{closed:?}");
    assert!(
        text(&closed.stderr).contains("stdout is closed"),
        "{}",
        text(&closed.stderr)
    );
    let trace = fixture_str("ext4mixed");
    for view in [
        "iostat -d".to_owned(),
        format!("parse -i {trace}"),
        format!("btt -i {trace}"),
        format!("biosnoop -i {trace}"),
        format!("biolatency -i {trace}"),
    ] {
        let full = shell(&format!("\"$B\" {view} >/dev/full"));
        assert!(
            !full.status.success() && full.status.code().is_some(),
            "{view} > /dev/full: {full:?}"
        );
        assert!(
            text(&full.stderr).contains("No space left on device"),
            "{view}: {}",
            text(&full.stderr)
        );
    }
}

/// `blkscope ARGS | head -1`: blkscope's exit status (0, or 141 for SIGPIPE) and its stderr.
fn under_head(args: &str) -> (i32, String) {
    let out = shell(&format!(
        "timeout 30 \"$B\" {args} 2>/tmp/blkscope-head-err | head -1 >/dev/null; \
         echo ${{PIPESTATUS[0]}}; cat /tmp/blkscope-head-err"
    ));
    let stdout = text(&out.stdout);
    let (code, stderr) = stdout.split_once('\n').unwrap_or((&stdout, ""));
    (
        code.trim().parse().expect("an exit status"),
        stderr.to_owned(),
    )
}

#[test]
fn a_reader_that_stops_early_ends_every_offline_view_quietly() {
    let trace = fixture_str("ext4mixed");
    for view in [
        format!("parse -i {trace}"),
        format!("btt -i {trace}"),
        format!("biosnoop -i {trace}"),
        format!("biolatency -D -i {trace} 1"),
        "iostat -d 1 5".to_owned(),
    ] {
        let (code, stderr) = under_head(&view);
        assert!(code == 0 || code == 141, "{view} | head -1: exit {code}");
        assert!(stderr.is_empty(), "{view} | head -1 wrote: {stderr}");
    }
}

#[test]
fn a_reader_that_stops_early_ends_every_live_view_quietly() {
    require_root();
    let _serial = serial();
    let disk = LoopDevice::new(16);
    // I/O while the views run, so the event views have lines to print.
    let mut io = Command::new("bash")
        .arg("-c")
        .arg(format!(
            "for i in $(seq 40); do dd if={} of=/dev/null bs=4k count=16 iflag=direct 2>/dev/null; sleep 0.25; done",
            disk.path_str()
        ))
        .spawn()
        .expect("starting the workload");
    for view in [
        format!("trace -d {}", disk.path_str()),
        format!("biosnoop -d {}", disk.path_str()),
        "biotop --batch 1".to_owned(),
        "biolatency 1".to_owned(),
        "iostat --cgroups 1 5".to_owned(),
    ] {
        let (code, stderr) = under_head(&view);
        assert!(
            code == 0 || code == 141,
            "{view} | head -1: exit {code} ({stderr})"
        );
        // Nothing but the banner a live view starts with.
        let words: Vec<&str> = stderr
            .lines()
            .filter(|l| !(l.starts_with("Tracing") && l.contains("Hit Ctrl-C to end")))
            .collect();
        assert!(words.is_empty(), "{view} | head -1 wrote: {stderr}");
    }
    let _ = io.kill();
    let _ = io.wait();
}

#[test]
fn absurd_durations_are_refused_by_name() {
    for (args, flag) in [
        (&["trace", "-w", "1e300"][..], "--stopwatch"),
        (
            &["record", "-d", "/dev/null", "-w", "1e300"][..],
            "stopwatch",
        ),
        (&["exporter", "--interval", "1e300"][..], "--interval"),
        (
            &["exporter", "--forget-after", "1e300"][..],
            "--forget-after",
        ),
        (&["exporter", "--interval=-3"][..], "--interval"),
    ] {
        let out = run(args);
        let code = out.status.code();
        assert!(
            code.is_some_and(|c| c == 1 || c == 2),
            "{args:?}: {out:?} (101 is a panic)"
        );
        assert!(
            text(&out.stderr).contains(flag),
            "{args:?}: {}",
            text(&out.stderr)
        );
        assert!(!text(&out.stderr).contains("panicked"));
    }
}

/// The byte offsets of the records of a blktrace file.
fn record_offsets(bytes: &[u8]) -> Vec<usize> {
    let mut offsets = Vec::new();
    let mut at = 0;
    while at + 48 <= bytes.len() {
        offsets.push(at);
        let pdu_len = usize::from(u16::from_ne_bytes([bytes[at + 46], bytes[at + 47]]));
        at += 48 + pdu_len;
    }
    offsets
}

#[test]
fn a_record_with_an_absurd_cpu_is_skipped_and_the_rest_is_read() {
    let work = Scratch::new("hardening-cpu");
    for cpu in 0..2 {
        let from = fixture("ext4mixed").with_extension(format!("blktrace.{cpu}"));
        std::fs::copy(&from, work.path().join(format!("t.blktrace.{cpu}"))).unwrap();
    }
    let file = work.path().join("t.blktrace.0");
    let mut bytes = std::fs::read(&file).unwrap();
    let offsets = record_offsets(&bytes);
    let damaged = offsets[offsets.len() / 3];
    bytes[damaged + 40..damaged + 44].copy_from_slice(&1_000_000_000u32.to_ne_bytes());
    std::fs::write(&file, &bytes).unwrap();
    let name = work.path().join("t");
    let name = name.to_str().unwrap();
    let whole = run(&["parse", "-i", &fixture_str("ext4mixed")]);
    let out = run(&["parse", "-i", name]);
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "t.blktrace.0: offset {damaged}: CPU number 1000000000"
        )),
        "{stderr}"
    );
    let lines = |o: &Output| {
        text(&o.stdout)
            .lines()
            .filter(|l| l.starts_with("  7,1"))
            .count()
    };
    // Every event but the damaged one (and a note, at most) is still printed.
    let (all, kept) = (lines(&whole), lines(&out));
    assert!(kept + 2 >= all && kept < all, "{kept} of {all} event lines");
}

#[test]
fn biolatency_keeps_disks_this_machine_lacks_apart() {
    let work = Scratch::new("hardening-disks");
    // Majors 240-254 are for local, experimental use: no machine of ours has these disks.
    let spec = SyntheticSpec {
        ios: 400,
        cpus: 2,
        devices: vec![make_dev(241, 0), make_dev(241, 16)],
        seed: 5,
        pc: false,
        ..Default::default()
    };
    let mut writer = BlktraceWriter::new(work.path(), "t");
    for t in generate(&spec) {
        writer.write(&t).expect("writing the trace");
    }
    writer.finish().expect("closing the trace");
    let out = Command::new(blkscope_binary())
        .current_dir(work.path())
        .args(["biolatency", "-D", "-i", "t"])
        .output()
        .expect("running blkscope");
    assert!(out.status.success(), "{out:?}");
    let stdout = text(&out.stdout);
    assert!(stdout.contains("\ndisk = 241,0\n"), "{stdout}");
    assert!(stdout.contains("\ndisk = 241,16\n"), "{stdout}");
    assert!(!stdout.contains("disk = ?"), "{stdout}");
}

#[test]
fn a_missing_recording_is_one_error_line_and_no_header() {
    for view in ["biosnoop", "biolatency"] {
        let out = run(&[view, "-i", "/nonexistent"]);
        assert_eq!(out.status.code(), Some(1), "{out:?}");
        assert!(out.stdout.is_empty(), "{view}: {}", text(&out.stdout));
        let stderr = text(&out.stderr);
        assert_eq!(stderr.lines().count(), 1, "{view}: {stderr}");
        assert!(stderr.contains("-i /nonexistent"), "{stderr}");
    }
}

/// `record -d DISK -o NAME -w 3` in `dir` around eight direct 4 KiB writes (and an fsync).
fn record_eight_writes(
    disk: &LoopDevice,
    dir: &Path,
    name: &std::ffi::OsStr,
    fsync: bool,
) -> Output {
    let child = Command::new(blkscope_binary())
        .current_dir(dir)
        .args(["record", "-d", disk.path_str(), "-w", "3", "-o"])
        .arg(name)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting blkscope record");
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let mut dd = Command::new("dd");
    dd.args([
        "if=/dev/zero",
        &format!("of={}", disk.path_str()),
        "bs=4k",
        "count=8",
        "oflag=direct",
    ]);
    if fsync {
        dd.arg("conv=fsync");
    }
    let status = dd.stderr(Stdio::null()).status().expect("dd");
    assert!(status.success());
    child.wait_with_output().expect("waiting for record")
}

#[test]
fn default_recordings_are_what_any_blkparse_reads_and_flushes_are_at_sector_0() {
    require_root();
    let _serial = serial();
    let disk = LoopDevice::new(16);
    let work = Scratch::new("hardening-record");
    // Writes with an fsync: the block device's flush is a request without a sector.
    let recorded = record_eight_writes(&disk, work.path(), std::ffi::OsStr::new("t"), true);
    assert!(recorded.status.success(), "{recorded:?}");
    // Debian's blkparse 1.2 reads it without a complaint.
    let stock = Command::new("blkparse")
        .current_dir(work.path())
        .args(["-i", "t"])
        .output()
        .expect("running blkparse");
    let both = text(&stock.stdout) + &text(&stock.stderr);
    assert!(!both.contains("Bad fs action"), "{both}");
    assert!(both.contains("  Q  WS "), "the writes are there:\n{both}");
    let ours = Command::new(blkscope_binary())
        .current_dir(work.path())
        .args(["parse", "-i", "t", "--format", "json"])
        .output()
        .expect("running blkscope parse");
    let events: Vec<serde_json::Value> = text(&ours.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .filter(|e: &serde_json::Value| e["type"] == "event")
        .collect();
    let flushes: Vec<&serde_json::Value> = events
        .iter()
        .filter(|e| e["rwbs"].as_str().is_some_and(|r| r.starts_with('F')) && e["action"] != "Q")
        .collect();
    assert!(
        !flushes.is_empty(),
        "the fsync's flush is recorded: {events:?}"
    );
    assert!(
        flushes.iter().all(|e| e["sector"] == 0),
        "a flush request is recorded at sector 0, as the kernel does: {flushes:?}"
    );
}

/// setpriv: blkscope as the user nobody with exactly CAP_BPF and CAP_PERFMON.
fn as_nobody_with_bpf_caps(args: &[&str]) -> Command {
    let mut cmd = Command::new("setpriv");
    cmd.args([
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
        "--inh-caps=-all,+bpf,+perfmon",
        "--ambient-caps=-all,+bpf,+perfmon",
        "--bounding-set=-all,+bpf,+perfmon",
    ])
    .arg(blkscope_binary())
    .args(args);
    cmd
}

#[test]
fn live_views_run_as_a_user_with_only_cap_bpf_and_cap_perfmon() {
    require_root();
    let _serial = serial();
    let disk = LoopDevice::new(16);
    let child = as_nobody_with_bpf_caps(&["trace", "--json", "-d", disk.path_str(), "-w", "3"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("setpriv");
    std::thread::sleep(std::time::Duration::from_millis(1500));
    blkscope_tests::workload::DirectIo::read(4096, 4096).run(disk.path_str());
    let out = child.wait_with_output().expect("waiting for trace");
    assert!(
        out.status.success(),
        "trace as nobody: {}",
        text(&out.stderr)
    );
    assert!(
        text(&out.stdout).contains("\"action\":\"complete\""),
        "the read is seen: {}",
        text(&out.stdout)
    );
    for view in [
        &["biolatency", "1", "1"][..],
        &["biotop", "--batch", "1", "1"][..],
    ] {
        let out = as_nobody_with_bpf_caps(view).output().expect("setpriv");
        assert!(
            out.status.success(),
            "{view:?} as nobody: {}",
            text(&out.stderr)
        );
        assert!(!out.stdout.is_empty(), "{view:?}");
    }
}

/// The effective capabilities of a running process's main thread.
fn effective_capabilities(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    let line = status
        .lines()
        .find(|l| l.starts_with("CapEff:"))
        .expect("CapEff");
    u64::from_str_radix(line.trim_start_matches("CapEff:").trim(), 16).expect("a mask")
}

#[test]
fn live_views_give_their_capabilities_up_once_attached() {
    require_root();
    let _serial = serial();
    let disk = LoopDevice::new(16);
    let work = Scratch::new("hardening-caps");
    for (args, kept) in [
        (vec!["biolatency", "5", "1"], 0u64),
        (vec!["trace", "-d", disk.path_str(), "-w", "5"], 0),
        (
            vec!["record", "-d", disk.path_str(), "-o", "t", "-w", "5"],
            1 << 1,
        ),
    ] {
        let mut child = Command::new(blkscope_binary())
            .current_dir(work.path())
            .args(&args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("blkscope");
        std::thread::sleep(std::time::Duration::from_millis(2000));
        let caps = effective_capabilities(child.id());
        let _ = child.kill();
        let _ = child.wait();
        assert_eq!(caps, kept, "{args:?}: CapEff {caps:#x} once attached");
    }
}

/// A file name that is not UTF-8 (Latin-1 "é"), as old systems and other tools make them.
fn latin1_name(stem: &str) -> std::ffi::OsString {
    use std::os::unix::ffi::OsStringExt;
    let mut bytes = stem.as_bytes().to_vec();
    bytes.push(0xe9);
    std::ffi::OsString::from_vec(bytes)
}

/// Runs blkscope in `dir` with arguments that may be any bytes.
fn run_in(dir: &Path, args: &[&std::ffi::OsStr]) -> Output {
    Command::new(blkscope_binary())
        .current_dir(dir)
        .args(args)
        .output()
        .expect("running blkscope")
}

#[test]
fn trace_names_that_are_not_utf8_are_read_and_written() {
    let work = Scratch::new("hardening-latin1");
    let odd = latin1_name("caf");
    let spec = SyntheticSpec {
        ios: 300,
        cpus: 2,
        seed: 9,
        ..Default::default()
    };
    for name in [odd.clone(), "plain".into()] {
        let mut writer = BlktraceWriter::new(work.path(), name);
        for t in generate(&spec) {
            writer.write(&t).expect("writing the trace");
        }
        writer.finish().expect("closing the trace");
    }
    let dump = latin1_name("dump");
    let os = |s: &'static str| std::ffi::OsStr::new(s);
    // Every offline view reads the odd name as it reads the plain one.
    for view in [
        &["parse", "-q", "-i"][..],
        &["btt", "-i"],
        &["biosnoop", "-i"],
        &["biolatency", "-i"],
    ] {
        let with = |name: &std::ffi::OsStr| {
            let mut args: Vec<std::ffi::OsString> = view.iter().map(|a| a.into()).collect();
            args.push(name.to_owned());
            Command::new(blkscope_binary())
                .current_dir(work.path())
                .args(args)
                .output()
                .expect("running blkscope")
        };
        let plain = with(os("plain"));
        let odd_run = with(&odd);
        assert!(odd_run.status.success(), "{view:?}: {odd_run:?}");
        assert!(plain.status.success(), "{view:?}: {plain:?}");
        let without_names = |o: &Output| {
            text(&o.stdout)
                .lines()
                .filter(|l| !l.starts_with("Input file"))
                .map(str::to_owned)
                .collect::<Vec<_>>()
        };
        assert!(!without_names(&odd_run).is_empty(), "{view:?}");
        assert_eq!(without_names(&odd_run), without_names(&plain), "{view:?}");
    }
    // Through a directory part too, and into a dump whose name is not UTF-8 either.
    let mut path = work.path().as_os_str().to_owned();
    path.push("/");
    path.push(&odd);
    let parsed = run_in(
        work.path(),
        &[
            os("parse"),
            os("-q"),
            os("-O"),
            os("-i"),
            &path,
            os("-d"),
            &dump,
        ],
    );
    assert!(parsed.status.success(), "{parsed:?}");
    let btt = run_in(work.path(), &[os("btt"), os("-i"), &dump]);
    assert!(btt.status.success(), "{btt:?}");
    assert!(
        text(&btt.stdout).contains("==================== All Devices"),
        "{btt:?}"
    );
    // A name that does not exist is named in the error, bytes shown as U+FFFD.
    let missing = run_in(work.path(), &[os("btt"), os("-i"), &latin1_name("none")]);
    assert!(!missing.status.success());
    assert!(
        text(&missing.stderr).contains("none\u{fffd}"),
        "{missing:?}"
    );
    // iostat takes no file names: one that is not text is named, not mangled into another.
    let iostat = run_in(work.path(), &[os("iostat"), os("-p"), &odd]);
    assert_eq!(iostat.status.code(), Some(2), "a usage error: {iostat:?}");
    assert!(
        text(&iostat.stderr).contains("is not valid UTF-8"),
        "{iostat:?}"
    );
}

#[test]
fn record_writes_a_trace_whose_name_is_not_utf8() {
    require_root();
    let _serial = serial();
    let disk = LoopDevice::new(16);
    let work = Scratch::new("hardening-record-latin1");
    let name = latin1_name("rec");
    let os = std::ffi::OsStr::new;
    let recorded = record_eight_writes(&disk, work.path(), &name, false);
    assert!(recorded.status.success(), "{recorded:?}");
    let parsed = run_in(work.path(), &[os("parse"), os("-q"), os("-i"), &name]);
    assert!(parsed.status.success(), "{parsed:?}");
    let writes = text(&parsed.stdout)
        .lines()
        .filter(|l| l.contains("  Q  W"))
        .count();
    assert!(writes >= 1, "the dd writes are in the trace: {parsed:?}");
}
