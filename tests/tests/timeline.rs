//! `blkscope parse --format perfetto`: the Chrome trace-event timeline of a recording. On the
//! kernel-made traces in ../shared/fixtures/blktrace and on a recording of a known workload,
//! every I/O biosnoop follows in the recording is one slice (same sector, size, process), each
//! slice ends after it begins, and the disk's in-flight counter returns to zero. A damaged
//! trace closes the document with its valid part, then names file and offset.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use blkscope_tests::workload::DirectIo;
use blkscope_tests::{Cgroup, LoopDevice, Scratch, blkscope_binary, require_root, serial};
use serde_json::Value;

fn blkscope(dir: &Path, args: &[&str]) -> Output {
    Command::new(blkscope_binary())
        .current_dir(dir)
        .args(args)
        .output()
        .expect("running blkscope")
}

/// The trace events of `parse --format perfetto -i NAME`.
fn timeline(dir: &Path, name: &str) -> Vec<Value> {
    let out = blkscope(dir, &["parse", "-i", name, "--format", "perfetto"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: Value =
        serde_json::from_slice(&out.stdout).expect("the timeline is one JSON document");
    doc["traceEvents"].as_array().expect("traceEvents").clone()
}

/// biosnoop's I/Os in the recording, as (sector, bytes, process) with their count.
fn biosnoop_ios(dir: &Path, name: &str) -> BTreeMap<(u64, u64, String), usize> {
    let out = blkscope(dir, &["biosnoop", "-i", name, "--json"]);
    assert!(out.status.success());
    let mut ios = BTreeMap::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let v: Value = serde_json::from_str(line).expect("a JSON line");
        let key = (
            v["sector"].as_u64().unwrap(),
            v["bytes"].as_u64().unwrap(),
            v["comm"].as_str().unwrap_or_default().to_owned(),
        );
        *ios.entry(key).or_insert(0) += 1;
    }
    ios
}

/// The I/O slices (not their `queued` stages), as biosnoop's keys ("?" for an unknown process), after checking that every
/// slice that begins ends, later, on the same disk.
fn slices(trace: &[Value]) -> BTreeMap<(u64, u64, String), usize> {
    let mut open: BTreeMap<u64, (f64, &Value)> = BTreeMap::new();
    let mut ios = BTreeMap::new();
    for e in trace {
        if e["cat"] != "io" || e["name"] == "queued" {
            continue;
        }
        let id = e["id"].as_u64().expect("an async slice has an id");
        let ts = e["ts"].as_f64().expect("ts");
        match e["ph"].as_str() {
            Some("b") => {
                assert!(
                    open.insert(id, (ts, e)).is_none(),
                    "slice {id} begins twice"
                );
            }
            Some("e") => {
                let (began, b) = open.remove(&id).expect("a slice ends after it begins");
                assert!(ts >= began, "slice {id} ends at {ts}, before {began}");
                assert_eq!(b["pid"], e["pid"], "slice {id} ends on its own disk");
                let key = (
                    b["args"]["sector"].as_u64().unwrap(),
                    b["args"]["bytes"].as_u64().unwrap(),
                    b["args"]["process"].as_str().unwrap_or("?").to_owned(),
                );
                *ios.entry(key).or_insert(0) += 1;
            }
            other => panic!("unexpected phase {other:?} in {e}"),
        }
    }
    assert!(open.is_empty(), "slices never closed: {open:?}");
    ios
}

/// Each disk's last in-flight sample.
fn last_in_flight(trace: &[Value]) -> BTreeMap<u64, u64> {
    trace
        .iter()
        .filter(|e| e["ph"] == "C")
        .map(|e| {
            (
                e["pid"].as_u64().unwrap(),
                e["args"]["requests"].as_u64().unwrap(),
            )
        })
        .collect()
}

#[test]
fn kernel_traces_have_a_slice_per_io_biosnoop_follows() {
    let fixtures = blkscope_tests::blktrace_fixtures();
    for name in ["ext4mixed", "partition"] {
        let trace = timeline(&fixtures, name);
        let expected = biosnoop_ios(&fixtures, name);
        assert!(
            expected.values().sum::<usize>() > 50,
            "{name}: {expected:?}"
        );
        assert_eq!(slices(&trace), expected, "{name}");
        let disks: Vec<&Value> = trace.iter().filter(|e| e["ph"] == "M").collect();
        assert!(!disks.is_empty(), "{name}: every disk is named");
        assert!(
            last_in_flight(&trace).values().all(|&n| n == 0),
            "{name}: every issued request completed in this trace"
        );
    }
}

#[test]
fn a_recorded_workload_is_one_slice_per_io_with_its_process() {
    require_root();
    let _serial = serial();
    let disk = LoopDevice::new(64);
    let work = Scratch::new("timeline-live");
    let cgroup = Cgroup::new("timeline");
    let mut record = Command::new(blkscope_binary())
        .current_dir(work.path())
        .args(["record", "-d", disk.path_str(), "-o", "t", "-w", "6"])
        .args(["--perfetto", "live.json"])
        .spawn()
        .expect("starting record");
    std::thread::sleep(Duration::from_millis(1500));
    let ios: Vec<DirectIo> = (0..40)
        .map(|i| {
            if i % 2 == 0 {
                DirectIo::write(i * 65536, 4096)
            } else {
                DirectIo::read(i * 65536, 16384)
            }
        })
        .collect();
    for io in &ios {
        io.run(disk.path_str());
    }
    // One write from inside a cgroup, at 8 MiB: its slice names the cgroup.
    cgroup.exec(&format!(
        "dd if=/dev/zero of={} bs=8192 count=1 seek=1024 oflag=direct conv=notrunc 2>/dev/null",
        disk.path_str()
    ));
    assert!(record.wait().expect("record").success());

    let trace = timeline(work.path(), "t");
    let seen = slices(&trace);
    for io in &ios {
        let key = (io.sector(), io.bytes, "dd".to_owned());
        assert_eq!(seen.get(&key), Some(&1), "{io:?} in {seen:?}");
    }
    assert_eq!(seen, biosnoop_ios(work.path(), "t"));
    let written = trace
        .iter()
        .find(|e| e["ph"] == "b" && e["args"]["sector"] == 0 && e["args"]["bytes"] == 4096)
        .expect("the first write");
    assert_eq!(written["name"], "WS 4 KiB");
    assert_eq!(written["args"]["rwbs"], "WS");
    assert!(last_in_flight(&trace).values().all(|&n| n == 0));

    // What record wrote live is the same timeline, and names the cgroup.
    let live: Value =
        serde_json::from_slice(&std::fs::read(work.path().join("live.json")).expect("live.json"))
            .expect("record's timeline is JSON");
    let live = live["traceEvents"].as_array().unwrap();
    assert_eq!(slices(live), seen);
    let contained = live
        .iter()
        .find(|e| e["ph"] == "b" && e["args"]["sector"] == 16384 && e["args"]["bytes"] == 8192)
        .expect("the write from the cgroup");
    let name = contained["args"]["container"].as_str().unwrap_or_default();
    let dir = cgroup.path().file_name().unwrap().to_string_lossy();
    assert!(name.ends_with(dir.as_ref()), "{contained}");
    assert_eq!(contained["args"]["cgroup_id"], cgroup.id());
}

#[test]
fn a_damaged_trace_closes_its_valid_part_then_names_file_and_offset() {
    let work = Scratch::new("timeline-damaged");
    blkscope_tests::damaged_ext4mixed(work.path());
    let out = blkscope(work.path(), &["parse", "-i", "t", "--format", "perfetto"]);
    blkscope_tests::assert_names_the_damage(&out);
    let doc: Value = serde_json::from_slice(&out.stdout).expect("still one JSON document");
    let trace = doc["traceEvents"].as_array().unwrap();
    assert!(
        slices(trace).values().sum::<usize>() > 10,
        "the valid part's slices"
    );
}

#[test]
fn one_trace_at_a_time() {
    let fixtures = blkscope_tests::blktrace_fixtures();
    let out = blkscope(
        &fixtures,
        &[
            "parse",
            "-i",
            "ext4mixed",
            "-i",
            "partition",
            "--format",
            "perfetto",
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("one trace"));
    let out = blkscope(
        &fixtures,
        &["parse", "-i", "nosuch", "--format", "perfetto"],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("nosuch"));
}
