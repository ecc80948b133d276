//! `blkscope record` against the real kernel: while a workload of reads, writes, merges,
//! plugging, flushes, discards and a partition's I/O runs on a guarded loop device, the
//! kernel's own blktrace engine (ftrace `blk`) logs it too. The recording holds the same
//! records, stock blkparse reads it and prints what `blkscope parse` prints, its completions
//! are /proc/diskstats', and the stream on stdout (`-o -`) parses live.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use blkscope_tests::{
    Cgroup, DiskCounters, KernelBlkTracer, LoopDevice, Scratch, blkscope_binary, require_root,
    running::start_record, serial, sh,
};

/// SIGTERM, then what it printed; it must have ended well.
fn stop(child: Child) -> Output {
    std::thread::sleep(Duration::from_millis(300));
    // SAFETY: kill(2) on our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let out = child
        .wait_with_output()
        .expect("waiting for blkscope record");
    assert!(
        out.status.success(),
        "record failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Runs a shell workload; panics when it fails.
fn workload(script: &str) {
    let status = Command::new("sh")
        .args(["-c", script])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("sh");
    assert!(status.success(), "workload failed: {script}");
}

/// Every record line of blkparse-style text (`dev cpu seq time pid ACT RWBS ...`), as
/// (action, rwbs, sector, sectors, pid); records without `+ sectors` keep sector 0.
fn records_of_blkparse(text: &str) -> BTreeMap<(String, String, u64, u64, u32), usize> {
    let mut counts = BTreeMap::new();
    for line in text.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 7 || !f[0].contains(',') || !f[3].contains('.') {
            continue;
        }
        let pid: u32 = f[4].parse().expect("pid");
        let (sector, sectors) = if f.get(8) == Some(&"+") {
            (
                f[7].parse().expect("sector"),
                f[9].parse().expect("sectors"),
            )
        } else {
            (0, 0)
        };
        let key = (f[5].to_string(), f[6].to_string(), sector, sectors, pid);
        *counts.entry(key).or_insert(0) += 1;
    }
    counts
}

fn blkparse(dir: &Path, program: &Path, first: Option<&str>, input: &str) -> Vec<u8> {
    let out = Command::new(program)
        .current_dir(dir)
        .args(first)
        .args(["-i", input])
        .output()
        .expect("running a parser");
    assert!(out.status.success(), "{program:?} -i {input} failed");
    out.stdout
}

#[test]
fn records_what_the_kernels_blktrace_logs() {
    require_root();
    let _serial = serial();
    let disk = LoopDevice::new(64);
    sh("addpart", &[disk.path_str(), "1", "65536", "32768"]);
    let work = Scratch::new("record-kernel");
    let kernel = KernelBlkTracer::start(disk.name());
    let record = start_record(
        work.path(),
        &["-d", disk.path_str(), "-o", "t", "--no-cgroup-ids"],
    );
    let dev = disk.path_str();
    workload(&format!(
        "dd if={dev} of=/dev/null bs=4k count=16 iflag=direct; \
         dd if=/dev/zero of={dev} bs=64k count=8 seek=16 oflag=direct conv=notrunc; \
         dd if=/dev/zero of={dev} bs=4k count=256 seek=1024 conv=notrunc,fsync; \
         dd if=/dev/zero of={dev} bs=4k count=4 seek=2048 oflag=direct,dsync conv=notrunc; \
         blkdiscard -o 8388608 -l 1048576 {dev}; \
         dd if=/dev/zero of={dev}p1 bs=4k count=8 oflag=direct conv=notrunc; \
         dd if={dev}p1 of=/dev/null bs=4k count=8 iflag=direct"
    ));
    let out = stop(record);
    let theirs = kernel.stop_text();

    let summary = String::from_utf8_lossy(&out.stdout);
    assert!(
        summary.contains("=== t ===") && summary.contains("(dropped 0)"),
        "{summary}"
    );

    // Stock blkparse reads the recording and prints exactly what blkscope parse prints.
    let stock = blkparse(work.path(), Path::new("blkparse"), None, "t");
    let ours = blkparse(work.path(), &blkscope_binary(), Some("parse"), "t");
    assert!(
        stock == ours,
        "stock blkparse and blkscope parse differ on the recording"
    );
    let text = String::from_utf8_lossy(&stock).into_owned();

    // The same records as the kernel's own blktrace engine logged, each kind of them.
    let recorded = records_of_blkparse(&text);
    let logged = kernel_records(&theirs);
    if recorded != logged {
        let only_ours: Vec<_> = recorded
            .iter()
            .filter(|(k, n)| logged.get(*k) != Some(n))
            .take(8)
            .collect();
        let only_kernel: Vec<_> = logged
            .iter()
            .filter(|(k, n)| recorded.get(*k) != Some(n))
            .take(8)
            .collect();
        panic!("recording vs kernel blktrace: ours {only_ours:#?}, the kernel's {only_kernel:#?}");
    }
    for (action, what) in [
        ("M", "merges"),
        ("P", "plugs"),
        ("U", "unplugs"),
        ("A", "partition remaps"),
    ] {
        assert!(
            recorded.keys().any(|k| k.0 == action),
            "no {what} ({action}) recorded"
        );
    }
    assert!(
        recorded.keys().any(|k| k.1.starts_with('D')),
        "no discard recorded"
    );
    assert!(
        recorded.keys().any(|k| k.1.contains('F')),
        "no flush or FUA recorded"
    );

    // (Completions against /proc/diskstats: in the stream test, whose workload has no
    // flushes; a flush sequence logs more C records than diskstats counts requests.)
    assert!(
        text.contains("[dd]") && !text.contains("[(null)]"),
        "process names noted"
    );
}

/// The kernel's records in the same form (the ftrace text: `task-pid [cpu] ... time: dev ACT
/// RWBS ...`).
fn kernel_records(text: &str) -> BTreeMap<(String, String, u64, u64, u32), usize> {
    let mut lines = String::new();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let Some((task, rest)) = line.split_once(" [") else {
            continue;
        };
        let Some(pid) = task.trim().rsplit('-').next() else {
            continue;
        };
        let Some((_, record)) = rest.split_once(": ") else {
            continue;
        };
        // Into blkparse's column order: dev cpu seq time pid ACT RWBS rest.
        let mut f = record.split_whitespace();
        let Some(dev) = f.next() else { continue };
        let rest: Vec<&str> = f.collect();
        lines.push_str(&format!("{dev} 0 0 0.0 {pid} {}\n", rest.join(" ")));
    }
    records_of_blkparse(&lines)
}

#[test]
fn the_stream_on_stdout_parses_as_the_files_do() {
    require_root();
    let _serial = serial();
    let disk = LoopDevice::new(32);
    let work = Scratch::new("record-stream");
    let before = DiskCounters::read(disk.name());
    let record = start_record(
        work.path(),
        &["-d", disk.path_str(), "-o", "-", "--no-cgroup-ids"],
    );
    let dev = disk.path_str();
    workload(&format!(
        "dd if={dev} of=/dev/null bs=4k count=32 iflag=direct; \
         dd if=/dev/zero of={dev} bs=16k count=8 oflag=direct conv=notrunc"
    ));
    let out = stop(record);
    let after = DiskCounters::read(disk.name());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("=== - ==="),
        "the summary goes to stderr when the trace goes to stdout"
    );
    let stream = work.path().join("stream.bin");
    std::fs::write(&stream, &out.stdout).expect("saving the stream");
    let parse = |program: &Path, first: Option<&str>| {
        let out = Command::new(program)
            .args(first)
            .args(["-i", "-"])
            .stdin(std::fs::File::open(&stream).expect("stream"))
            .output()
            .expect("running a parser");
        assert!(out.status.success(), "{program:?} -i - failed");
        out.stdout
    };
    let stock = parse(Path::new("blkparse"), None);
    let ours = parse(&blkscope_binary(), Some("parse"));
    assert!(
        stock == ours,
        "stock blkparse and blkscope parse differ on the stream"
    );
    // Every completion the kernel counted is in the stream (SIGTERM wrote all it held).
    let text = String::from_utf8_lossy(&stock);
    let completions: usize = records_of_blkparse(&text)
        .iter()
        .filter(|(k, _)| k.0 == "C")
        .map(|(_, n)| n)
        .sum();
    assert_eq!(
        completions as u64,
        after.completions() - before.completions(),
        "C records vs /proc/diskstats completions"
    );
    assert!(completions >= 40, "32 reads and 8 writes: {completions}");
}

#[test]
fn cgroup_ids_are_on_every_event_and_cgroup_filters() {
    require_root();
    let _serial = serial();
    let disk = LoopDevice::new(32);
    let work = Scratch::new("record-cgroup");
    let cgroup = Cgroup::new("record");
    let record = start_record(
        work.path(),
        &[
            "-d",
            disk.path_str(),
            "-o",
            "t",
            "--cgroup",
            &cgroup.path().to_string_lossy(),
        ],
    );
    let dev = disk.path_str();
    let procs = cgroup.procs_path();
    // Outside the cgroup, then inside it.
    workload(&format!(
        "dd if={dev} of=/dev/null bs=4k count=4 skip=100 iflag=direct"
    ));
    workload(&format!(
        "echo $$ > {procs} && exec dd if={dev} of=/dev/null bs=4k count=4 skip=200 iflag=direct"
    ));
    stop(record);
    let text = String::from_utf8_lossy(&blkparse(
        work.path(),
        &blkscope_binary(),
        Some("parse"),
        "t",
    ))
    .into_owned();
    let id = cgroup.id();
    let tag = format!(" {:x},{:x} ", id as u32, (id >> 32) as u32);
    let events: Vec<&str> = text
        .lines()
        .filter(|l| l.split_whitespace().next().is_some_and(|f| f.contains(',')))
        .collect();
    let count = |action: &str| {
        events
            .iter()
            .filter(|l| l.split_whitespace().nth(6) == Some(action))
            .count()
    };
    assert_eq!(
        (count("Q"), count("D"), count("C")),
        (4, 4, 4),
        "only the cgroup's 4 reads, queued, issued and completed:\n{text}"
    );
    assert!(
        events.iter().all(|l| l.contains(&tag)),
        "every event with the cgroup id {tag:?}:\n{text}"
    );
}

#[test]
fn a_small_buffer_counts_what_it_drops() {
    require_root();
    let _serial = serial();
    let disk = LoopDevice::new(16);
    let work = Scratch::new("record-drops");
    let kernel = KernelBlkTracer::start(disk.name());
    // The smallest ring buffer: 1 KiB x 1 per CPU.
    let record = start_record(
        work.path(),
        &["-d", disk.path_str(), "-o", "t", "-b", "1", "-n", "1"],
    );
    workload(&format!(
        "dd if={} of=/dev/null bs=512 count=3000 iflag=direct",
        disk.path_str()
    ));
    let out = stop(record);
    let logged = kernel.stop_counting() as u64;
    let summary = String::from_utf8_lossy(&out.stdout).into_owned();
    let total = summary
        .lines()
        .find_map(|l| l.trim().strip_prefix("Total:"))
        .unwrap_or_else(|| panic!("no total in {summary}"));
    let number = |after: &str| -> u64 {
        total
            .split(after)
            .next()
            .and_then(|t| t.split_whitespace().last())
            .and_then(|n| n.trim_matches(|c| c == '(' || c == ')').parse().ok())
            .unwrap_or_else(|| panic!("no count before {after:?} in {total:?}"))
    };
    let written = number(" events");
    let dropped = number("), ");
    assert_eq!(
        written + dropped,
        logged,
        "written + dropped must account for every event the kernel logged: {summary}"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        stderr.contains(&format!("You have {dropped} (")),
        dropped > 0,
        "drops announced on stderr when there are any: {stderr}"
    );
    eprintln!("{written} events written, {dropped} dropped");
    // What was written is a valid trace: it parses to the end.
    let parsed = blkparse(work.path(), &blkscope_binary(), Some("parse"), "t");
    assert!(!parsed.is_empty());
}

#[test]
fn devices_from_a_file_into_a_directory_until_the_stopwatch() {
    require_root();
    let _serial = serial();
    let disk = LoopDevice::new(16);
    let work = Scratch::new("record-stopwatch");
    let list = work.path().join("devices");
    std::fs::write(&list, format!("{}\n", disk.path_str())).expect("device list");
    std::fs::create_dir(work.path().join("out")).expect("output dir");
    let child = Command::new(blkscope_binary())
        .current_dir(work.path())
        .args(["record", "-I", "devices", "-D", "out", "-w", "3"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting blkscope record");
    std::thread::sleep(Duration::from_millis(1500));
    workload(&format!(
        "dd if={} of=/dev/null bs=4k count=10 iflag=direct",
        disk.path_str()
    ));
    // It stops on its own at the stopwatch.
    let out = child
        .wait_with_output()
        .expect("waiting for blkscope record");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary = String::from_utf8_lossy(&out.stdout);
    assert!(
        summary.contains(&format!("=== {} ===", disk.name())),
        "a trace named after the device: {summary}"
    );
    let name = format!("out/{}", disk.name());
    let text = String::from_utf8_lossy(&blkparse(
        work.path(),
        &blkscope_binary(),
        Some("parse"),
        &name,
    ))
    .into_owned();
    let completions = text
        .lines()
        // DEV CPU SEQ TIME PID ACTION (no cgroup field: recorded without --cgroup-ids).
        .filter(|l| l.split_whitespace().nth(5) == Some("C"))
        .count();
    assert_eq!(completions, 10, "the 10 reads completed:\n{text}");
}

#[test]
fn a_live_pipe_into_blkparse_with_an_action_mask() {
    require_root();
    let _serial = serial();
    let disk = LoopDevice::new(16);
    let dev = disk.path_str();
    let binary = blkscope_binary();
    // blktrace's habit, live: record to stdout, blkparse reading stdin, only completions.
    let pipeline = Command::new("sh")
        .args([
            "-c",
            &format!(
                "{} record -d {dev} -o - -w 4 -a complete --no-cgroup-ids 2>/dev/null | blkparse -i -",
                binary.display()
            ),
        ])
        .stdout(Stdio::piped())
        .spawn()
        .expect("starting the pipeline");
    std::thread::sleep(Duration::from_millis(1500));
    workload(&format!(
        "dd if={dev} of=/dev/null bs=4k count=12 iflag=direct"
    ));
    let out = pipeline
        .wait_with_output()
        .expect("waiting for the pipeline");
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    let actions: Vec<&str> = text
        .lines()
        .filter(|l| l.split_whitespace().next().is_some_and(|f| f.contains(',')))
        .filter_map(|l| l.split_whitespace().nth(5))
        .collect();
    assert_eq!(actions.len(), 12, "12 completions:\n{text}");
    assert!(
        actions.iter().all(|a| *a == "C"),
        "only completions:\n{text}"
    );
    let version = Command::new(&binary)
        .args(["record", "-V"])
        .output()
        .expect("record -V");
    assert!(String::from_utf8_lossy(&version.stdout).contains("version"));
}

/// Runs `blkscope VIEW -i t ARGS --json` in `dir`; its JSON lines.
fn view_of_recording(dir: &Path, view: &str, args: &[&str]) -> Vec<serde_json::Value> {
    let out = Command::new(blkscope_binary())
        .current_dir(dir)
        .args([view, "-i", "t"])
        .args(args)
        .arg("--json")
        .output()
        .expect("blkscope on the recording");
    assert!(
        out.status.success(),
        "{view}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

/// The recording names each cgroup it charges events to (`cgroup ID PATH` notes), so the views
/// that read it name the containers even once those cgroups are gone (or on another machine).
#[test]
fn a_recording_names_its_containers_for_the_views_that_read_it() {
    const DOCKER_ID: &str = "5ec0d5ec0d5ec0d5ec0d5ec0d5ec0d5ec0d5ec0d5ec0d5ec0d5ec0d5ec0d5ec0";
    const CONTAINERD_ID: &str = "ab5e17ab5e17ab5e17ab5e17ab5e17ab5e17ab5e17ab5e17ab5e17ab5e17ab5e";
    const PODMAN_ID: &str = "0dd0dd0dd0dd0dd0dd0dd0dd0dd0dd0dd0dd0dd0dd0dd0dd0dd0dd0dd0dd0dd0";
    const POD_UID: &str = "77e1a2b3-c4d5-4e6f-8a9b-0c1d2e3f4a5b";
    require_root();
    let _serial = serial();
    let disk = LoopDevice::new(32);
    let work = Scratch::new("record-containers");
    let base = format!("blkscope-test-rec-{}", std::process::id());
    let pod = format!("kubepods-burstable-pod{}.slice", POD_UID.replace('-', "_"));
    let layouts = [
        (
            format!("{base}/system.slice/docker-{DOCKER_ID}.scope"),
            "docker:5ec0d5ec0d5e".to_owned(),
            3,
        ),
        (
            format!(
                "{base}/kubepods.slice/kubepods-burstable.slice/{pod}/cri-containerd-{CONTAINERD_ID}.scope"
            ),
            format!("pod:{POD_UID}/containerd:ab5e17ab5e17"),
            5,
        ),
        (
            format!("{base}/machine.slice/libpod-{PODMAN_ID}.scope"),
            "podman:0dd0dd0dd0dd".to_owned(),
            2,
        ),
    ];
    let record = start_record(
        work.path(),
        &["-d", disk.path_str(), "-o", "t", "--cgroup-ids"],
    );
    let dev = disk.path_str();
    let cgroups: Vec<Cgroup> = layouts
        .iter()
        .map(|(path, _, _)| Cgroup::nested(path))
        .collect();
    for (index, (cgroup, (_, _, reads))) in cgroups.iter().zip(&layouts).enumerate() {
        let skip = 100 * (index + 1);
        // In new mount and pid namespaces, as a runtime starts a container.
        workload(&format!(
            "echo $$ > {} && exec unshare --mount --pid --fork \
             dd if={dev} of=/dev/null bs=4k count={reads} skip={skip} iflag=direct",
            cgroup.procs_path()
        ));
    }
    stop(record);
    // The cgroups are gone before the recording is read: the names are the recording's.
    drop(cgroups);

    let snooped = view_of_recording(work.path(), "biosnoop", &["--containers"]);
    let latencies = view_of_recording(work.path(), "biolatency", &["--containers"]);
    for (_, name, reads) in &layouts {
        let lines: Vec<_> = snooped
            .iter()
            .filter(|l| l["container"] == name.as_str() && l.get("summary").is_none())
            .collect();
        assert_eq!(lines.len(), *reads, "{name}: {snooped:#?}");
        assert!(
            lines
                .iter()
                .all(|l| l["comm"] == "dd" && l["bytes"] == 4096)
        );
        let summary = snooped
            .iter()
            .find(|l| l["summary"] == "container" && l["container"] == name.as_str())
            .unwrap_or_else(|| panic!("no summary for {name}: {snooped:#?}"));
        assert_eq!(summary["events"], *reads as u64);
        let counted: u64 = latencies
            .iter()
            .filter(|h| h["container"] == name.as_str())
            .flat_map(|h| h["data"].as_array().unwrap().iter())
            .map(|b| b["count"].as_u64().unwrap())
            .sum();
        assert_eq!(counted, *reads as u64, "{name}: {latencies:#?}");
    }
    // -c over a recording: the subtree by the recording's paths (as this machine's absolute
    // path of the pod's slice, or relative to the cgroup root).
    let unified = blkscope_tests::cgroup::unified_root();
    let pod_slice = unified.join(format!("{base}/kubepods.slice"));
    let in_pod = view_of_recording(
        work.path(),
        "biosnoop",
        &["--container", "-c", pod_slice.to_str().unwrap()],
    );
    assert_eq!(in_pod.len(), layouts[1].2, "{in_pod:#?}");
    assert!(
        in_pod
            .iter()
            .all(|l| l["container"] == layouts[1].1.as_str())
    );
    let in_docker = view_of_recording(work.path(), "biolatency", &["-c", &layouts[0].0]);
    let counted: u64 = in_docker
        .iter()
        .flat_map(|h| h["data"].as_array().unwrap().iter())
        .map(|b| b["count"].as_u64().unwrap())
        .sum();
    assert_eq!(counted, layouts[0].2 as u64, "{in_docker:#?}");

    // blkparse shows the names as message notes.
    let text = String::from_utf8_lossy(&blkparse(
        work.path(),
        &blkscope_binary(),
        Some("parse"),
        "t",
    ))
    .into_owned();
    for (path, _, _) in &layouts {
        assert!(
            text.lines()
                .any(|l| l.contains(" m   N cgroup ") && l.ends_with(&format!(" /{path}"))),
            "a note names /{path}:\n{text}"
        );
    }
}
