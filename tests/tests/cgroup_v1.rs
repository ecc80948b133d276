//! Attribution where the unified hierarchy does not separate containers (v1-only hosts, and
//! hybrid hosts whose runtime leaves the unified hierarchy alone): the workloads stay in the
//! cgroup v2 root and are told apart only by their v1 blkio cgroups, laid out as docker's
//! cgroupfs driver and the kubelet lay them out. Every view names them by their containers,
//! from the blkio hierarchy's paths and the runtimes' state (tests/fixtures/runtimes).

use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::Duration,
};

use blkscope_tests::{
    BlkioCgroup, Ext4Mount, LoopDevice, Scratch,
    cgroup::unified_root,
    running::{blkscope_command, json_lines, start_blkscope, stop_blkscope},
    serial,
};
use serde_json::Value;

const DOCKER: &str = "d0c4e1d0c4e1d0c4e1d0c4e1d0c4e1d0c4e1d0c4e1d0c4e1d0c4e1d0c4e1d0c4";
const KUBELET: &str = "6b0e1e76b0e1e76b0e1e76b0e1e76b0e1e76b0e1e76b0e1e76b0e1e76b0e1e70";
const KUBELET_POD: &str = "5e4d3c2b-1a09-4f8e-9d7c-6b5a49382716";
const WEB: &str = "web-1";
const FLUENTD: &str = "logging/fluentd-abc12/fluentd";

fn fixture_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/runtimes")
}

fn blkscope(args: &[&str]) -> Command {
    let root = fixture_root();
    blkscope_command(args, &[("BLKSCOPE_HOST_ROOT", root.as_os_str())])
}

fn start(args: &[&str]) -> Child {
    let root = fixture_root();
    start_blkscope(args, &[("BLKSCOPE_HOST_ROOT", root.as_os_str())])
}

/// The JSON lines and the whole text it printed.
fn stop(child: Child) -> (Vec<Value>, String) {
    let out = stop_blkscope(child);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    (json_lines(&out.stdout), text)
}

/// `command` in the v2 root and in the blkio cgroup `blkio`.
fn run_in(blkio: &BlkioCgroup, command: &str) {
    let script = format!(
        "echo $$ > {}/cgroup.procs && echo $$ > {} && exec {command}",
        unified_root().display(),
        blkio.procs_path()
    );
    let status = Command::new("sh")
        .args(["-c", &script])
        .stderr(Stdio::null())
        .status()
        .expect("sh");
    assert!(status.success(), "{command}");
}

fn named(lines: &[Value], name: &str) -> usize {
    lines
        .iter()
        .filter(|l| l["container"] == name && l.get("summary").is_none())
        .count()
}

#[test]
fn blkio_cgroups_name_containers_the_unified_hierarchy_does_not_separate() {
    let _serial = serial();
    let disk = LoopDevice::new(64);
    let dev = disk.path_str();
    let base = format!("blkscope-test-v1-{}", std::process::id());
    let web = BlkioCgroup::nested(&format!("{base}/docker/{DOCKER}"));
    let fluentd = BlkioCgroup::nested(&format!(
        "{base}/kubepods/besteffort/pod{KUBELET_POD}/{KUBELET}"
    ));
    let work = Scratch::new("v1-record");
    let trace = work.path().join("t");
    let snoop = start(&["biosnoop", "-d", dev, "--containers", "--json"]);
    let top = start(&[
        "biotop",
        "-d",
        dev,
        "--containers",
        "--json",
        "-r",
        "50",
        "1",
    ]);
    let latency = start(&["biolatency", "-d", dev, "--containers", "--json"]);
    let iostat = start(&["iostat", "--containers", dev, "1"]);
    let record = start(&[
        "record",
        "-d",
        dev,
        "-o",
        trace.to_str().unwrap(),
        "--cgroup-ids",
    ]);
    let read = |cgroup: &BlkioCgroup, count: u32, skip: u32| {
        run_in(
            cgroup,
            &format!("dd if={dev} of=/dev/null bs=4096 count={count} skip={skip} iflag=direct"),
        );
    };
    read(&web, 30, 0);
    read(&fluentd, 12, 1000);
    std::thread::sleep(Duration::from_millis(1200));
    let (lines, _) = stop(snoop);
    let (intervals, _) = stop(top);
    let (histograms, _) = stop(latency);
    let (_, iostat) = stop(iostat);
    stop(record);

    assert_eq!(named(&lines, WEB), 30, "biosnoop: {lines:#?}");
    assert_eq!(named(&lines, FLUENTD), 12, "biosnoop: {lines:#?}");
    let ios = |name: &str| -> u64 {
        intervals
            .iter()
            .flat_map(|i| i["rows"].as_array().cloned().unwrap_or_default())
            .filter(|r| r["container"] == name)
            .map(|r| r["ios"].as_u64().unwrap_or(0))
            .sum()
    };
    assert_eq!((ios(WEB), ios(FLUENTD)), (30, 12), "biotop: {intervals:#?}");
    let counted = |name: &str| -> u64 {
        histograms
            .iter()
            .filter(|h| h["container"] == name)
            .flat_map(|h| h["data"].as_array().cloned().unwrap_or_default())
            .map(|b| b["count"].as_u64().unwrap_or(0))
            .sum()
    };
    assert_eq!(
        (counted(WEB), counted(FLUENTD)),
        (30, 12),
        "biolatency: {histograms:#?}"
    );
    for name in [WEB, FLUENTD] {
        assert!(
            iostat
                .lines()
                .any(|l| l.contains(name) && l.contains(disk.name())),
            "iostat --containers names {name}: {iostat}"
        );
    }
    // The recording names them too, read after the cgroups are gone.
    drop((web, fluentd));
    let out = blkscope(&[
        "biosnoop",
        "-i",
        trace.to_str().unwrap(),
        "--container",
        "--json",
    ])
    .env("BLKSCOPE_HOST_ROOT", work.path())
    .output()
    .expect("biosnoop -i");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let recorded: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON"))
        .collect();
    assert_eq!(named(&recorded, WEB), 30, "{recorded:#?}");
    assert_eq!(named(&recorded, FLUENTD), 12);
}

#[test]
fn ext4slower_names_a_container_by_its_blkio_cgroup() {
    let _serial = serial();
    let disk = LoopDevice::new(64);
    let fs = Ext4Mount::new(&disk);
    let mount = fs.dir().to_str().unwrap().to_owned();
    let web = BlkioCgroup::nested(&format!(
        "blkscope-test-v1-fs-{}/docker/{DOCKER}",
        std::process::id()
    ));
    let snoop = start(&[
        "ext4slower",
        "--containers",
        "--mount",
        &mount,
        "--json",
        "0",
    ]);
    run_in(
        &web,
        &format!("dd if=/dev/zero of={mount}/web.bin bs=4096 count=5"),
    );
    let (lines, _) = stop(snoop);
    let writes = lines
        .iter()
        .filter(|l| l["container"] == WEB && l["op"] == "W")
        .count();
    assert_eq!(writes, 5, "{lines:#?}");
}
