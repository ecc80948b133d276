//! Containers by name against the real kernel: workloads run in cgroups laid out as docker,
//! podman (rootful and rootless), containerd, CRI-O, the kubelet's cgroupfs driver and systemd
//! lay them out, and the runtimes' state is tests/fixtures/runtimes (each file as its runtime
//! writes it), read through `BLKSCOPE_HOST_ROOT`. Every view names each workload's I/O by its
//! container's name, `--pod` and `--container-name` keep only theirs, a recording carries the
//! names. (The real docker daemon is in docker.rs, the exporter's labels in exporter.rs.)

use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::Duration,
};

use blkscope_tests::{
    Cgroup, LoopDevice, Scratch, blkscope_binary,
    running::{blkscope_command, json_lines, start_blkscope, stop_blkscope},
    serial,
};
use serde_json::Value;

const DOCKER: &str = "d0c4e1d0c4e1d0c4e1d0c4e1d0c4e1d0c4e1d0c4e1d0c4e1d0c4e1d0c4e1d0c4";
const PODMAN: &str = "9d3a4b1c9d3a4b1c9d3a4b1c9d3a4b1c9d3a4b1c9d3a4b1c9d3a4b1c9d3a4b1c";
const ROOTLESS: &str = "a11ce0a11ce0a11ce0a11ce0a11ce0a11ce0a11ce0a11ce0a11ce0a11ce0a11c";
const CONTAINERD: &str = "c0d7a1e5c0d7a1e5c0d7a1e5c0d7a1e5c0d7a1e5c0d7a1e5c0d7a1e5c0d7a1e5";
const CRIO: &str = "c4105c4105c4105c4105c4105c4105c4105c4105c4105c4105c4105c4105c410";
const KUBELET: &str = "6b0e1e76b0e1e76b0e1e76b0e1e76b0e1e76b0e1e76b0e1e76b0e1e76b0e1e70";
const CRI_POD: &str = "4f6e2a10_8b7c_4d3e_9f21_0a1b2c3d4e5f";
const KUBELET_POD: &str = "5e4d3c2b-1a09-4f8e-9d7c-6b5a49382716";

fn fixture_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/runtimes")
}

/// One workload: its cgroup (below the test's base), the name every view must show, the
/// short id `--container-id` shows, and how many 4 KiB reads it does.
struct Workload {
    cgroup: String,
    name: &'static str,
    id: String,
    reads: usize,
}

fn workloads(base: &str) -> Vec<Workload> {
    let w = |cgroup: String, name, id: String, reads| Workload {
        cgroup: format!("{base}/{cgroup}"),
        name,
        id,
        reads,
    };
    vec![
        w(
            format!("system.slice/docker-{DOCKER}.scope"),
            "web-1",
            "docker:d0c4e1d0c4e1".into(),
            3,
        ),
        w(
            format!(
                "kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{CRI_POD}.slice/cri-containerd-{CONTAINERD}.scope"
            ),
            "shop/cart-7d9f8-x2x4z/redis",
            format!("pod:{}/containerd:c0d7a1e5c0d7", CRI_POD.replace('_', "-")),
            5,
        ),
        w(
            format!("kubepods.slice/kubepods-pod{CRI_POD}.slice/crio-{CRIO}.scope"),
            "payments/api-5c6b-abcde/api",
            format!("pod:{}/crio:c4105c4105c4", CRI_POD.replace('_', "-")),
            4,
        ),
        w(
            format!("machine.slice/libpod-{PODMAN}.scope"),
            "db",
            "podman:9d3a4b1c9d3a".into(),
            2,
        ),
        w(
            format!(
                "user.slice/user-1000.slice/user@1000.service/user.slice/libpod-{ROOTLESS}.scope"
            ),
            "alice-cache",
            "podman:a11ce0a11ce0".into(),
            1,
        ),
        w(
            format!("kubepods/besteffort/pod{KUBELET_POD}/{KUBELET}"),
            "logging/fluentd-abc12/fluentd",
            format!("pod:{KUBELET_POD}/k8s:6b0e1e76b0e1"),
            6,
        ),
        w(
            "system.slice/blkscope-names-test.service".into(),
            "blkscope-names-test.service",
            "service:blkscope-names-test".into(),
            7,
        ),
    ]
}

/// `blkscope ARGS`, reading the runtimes' state from `host_root`.
fn blkscope(host_root: &Path, args: &[&str]) -> Command {
    blkscope_command(args, &[("BLKSCOPE_HOST_ROOT", host_root.as_os_str())])
}

fn start(host_root: &Path, args: &[&str]) -> Child {
    start_blkscope(args, &[("BLKSCOPE_HOST_ROOT", host_root.as_os_str())])
}

/// SIGTERM, then the JSON lines it printed; it must have ended well.
fn stop(child: Child) -> Vec<Value> {
    json_lines(&stop_blkscope(child).stdout)
}

/// Every workload's reads, each in its own cgroup, in new mount and pid namespaces as a
/// runtime starts a container; disjoint ranges of the disk.
fn run_all(cgroups: &[Cgroup], workloads: &[Workload], device: &str) {
    for (index, (cgroup, w)) in cgroups.iter().zip(workloads).enumerate() {
        let script = format!(
            "echo $$ > {} && exec unshare --mount --pid --fork \
             dd if={device} of=/dev/null bs=4096 count={} skip={} iflag=direct",
            cgroup.procs_path(),
            w.reads,
            100 * index
        );
        let status = Command::new("sh")
            .args(["-c", &script])
            .stderr(Stdio::null())
            .status()
            .expect("sh");
        assert!(status.success(), "workload {}", w.name);
    }
}

fn events_named<'a>(lines: &'a [Value], name: &str) -> Vec<&'a Value> {
    lines
        .iter()
        .filter(|l| l["container"] == name && l.get("summary").is_none())
        .collect()
}

#[test]
fn biosnoop_names_every_runtimes_containers_and_keeps_their_ids() {
    let _serial = serial();
    let disk = LoopDevice::new(64);
    let workloads = workloads(&format!("blkscope-test-names-{}", std::process::id()));
    let cgroups: Vec<Cgroup> = workloads
        .iter()
        .map(|w| Cgroup::nested(&w.cgroup))
        .collect();
    let root = fixture_root();
    let named = start(
        &root,
        &["biosnoop", "-d", disk.path_str(), "--containers", "--json"],
    );
    let by_id = start(
        &root,
        &[
            "biosnoop",
            "-d",
            disk.path_str(),
            "--container",
            "--container-id",
            "--json",
        ],
    );
    run_all(&cgroups, &workloads, disk.path_str());
    let named = stop(named);
    let by_id = stop(by_id);
    for w in &workloads {
        let lines = events_named(&named, w.name);
        assert_eq!(lines.len(), w.reads, "{}: {named:#?}", w.name);
        assert!(
            lines.iter().all(|l| l["container_id"] == w.id.as_str()),
            "{}: JSON keeps the id: {lines:#?}",
            w.name
        );
        let summary = named
            .iter()
            .find(|l| l["summary"] == "container" && l["container"] == w.name)
            .unwrap_or_else(|| panic!("no summary for {}", w.name));
        assert_eq!(summary["events"], w.reads as u64);
        assert_eq!(
            events_named(&by_id, &w.id).len(),
            w.reads,
            "--container-id shows {}: {by_id:#?}",
            w.id
        );
    }
}

#[test]
fn pod_and_container_name_filters_in_every_live_view() {
    let _serial = serial();
    let disk = LoopDevice::new(64);
    let workloads = workloads(&format!("blkscope-test-filters-{}", std::process::id()));
    let cgroups: Vec<Cgroup> = workloads
        .iter()
        .map(|w| Cgroup::nested(&w.cgroup))
        .collect();
    let root = fixture_root();
    let dev = disk.path_str();
    let in_pod = start(
        &root,
        &[
            "biosnoop",
            "-d",
            dev,
            "--container",
            "--pod",
            "shop/cart-7d9f8-x2x4z",
            "--json",
        ],
    );
    let a_names = start(
        &root,
        &[
            "biosnoop",
            "-d",
            dev,
            "--container",
            "--container-name",
            "a*",
            "--json",
        ],
    );
    let latency = start(
        &root,
        &[
            "biolatency",
            "-d",
            dev,
            "--container-name",
            "web-?",
            "--json",
        ],
    );
    let top = start(
        &root,
        &[
            "biotop",
            "-d",
            dev,
            "--containers",
            "--json",
            "--container-name",
            "db",
            "-r",
            "50",
            "1",
        ],
    );
    let iostat = start(
        &root,
        &[
            "iostat",
            "--containers",
            "--pod",
            "payments/api-5c6b-abcde",
            dev,
            "1",
        ],
    );
    run_all(&cgroups, &workloads, dev);
    std::thread::sleep(Duration::from_millis(1200));

    let in_pod = stop(in_pod);
    assert_eq!(in_pod.len(), 5, "only the pod's reads: {in_pod:#?}");
    assert!(
        in_pod
            .iter()
            .all(|l| l["container"] == "shop/cart-7d9f8-x2x4z/redis")
    );
    // The glob matches the container's own name: `api` (a Kubernetes container) and
    // `alice-cache` (rootless podman).
    let a_names = stop(a_names);
    assert_eq!(a_names.len(), 4 + 1, "{a_names:#?}");
    assert_eq!(
        events_named(&a_names, "payments/api-5c6b-abcde/api").len(),
        4
    );
    assert_eq!(events_named(&a_names, "alice-cache").len(), 1);

    let counted: u64 = stop(latency)
        .iter()
        .flat_map(|h| h["data"].as_array().cloned().unwrap_or_default())
        .map(|b| b["count"].as_u64().unwrap_or(0))
        .sum();
    assert_eq!(counted, 3, "biolatency counts web-1's reads only");

    let rows: Vec<Value> = stop(top)
        .iter()
        .flat_map(|interval| interval["rows"].as_array().cloned().unwrap_or_default())
        .collect();
    let containers: Vec<&str> = rows
        .iter()
        .filter(|r| r["ios"].as_u64().unwrap_or(0) > 0)
        .map(|r| r["container"].as_str().unwrap_or_default())
        .collect();
    assert!(!containers.is_empty(), "biotop saw db: {rows:#?}");
    assert!(containers.iter().all(|c| *c == "db"), "{rows:#?}");
    let ios: u64 = rows.iter().map(|r| r["ios"].as_u64().unwrap_or(0)).sum();
    assert_eq!(ios, 2, "{rows:#?}");

    // SAFETY: kill(2) on our own child.
    unsafe { libc::kill(iostat.id() as i32, libc::SIGTERM) };
    let out = iostat.wait_with_output().expect("iostat");
    let text = String::from_utf8_lossy(&out.stdout);
    let rows: Vec<&str> = text
        .lines()
        .filter(|l| l.contains(disk.name()) && !l.starts_with("Device"))
        .collect();
    assert!(!rows.is_empty(), "{text}");
    assert!(
        rows.iter()
            .all(|r| r.contains("payments/api-5c6b-abcde/api")),
        "iostat keeps the pod's container only: {text}"
    );
}

#[test]
fn a_recording_keeps_the_names_and_record_filters_by_them() {
    let _serial = serial();
    let disk = LoopDevice::new(64);
    let work = Scratch::new("record-names");
    let workloads = workloads(&format!("blkscope-test-rec-names-{}", std::process::id()));
    let cgroups: Vec<Cgroup> = workloads
        .iter()
        .map(|w| Cgroup::nested(&w.cgroup))
        .collect();
    let root = fixture_root();
    let dev = disk.path_str();
    let everything = work.path().join("all");
    let only_api = work.path().join("api");
    let record = |out: &Path, extra: &[&str]| {
        let mut args = vec![
            "record",
            "-d",
            dev,
            "-o",
            out.to_str().unwrap(),
            "--cgroup-ids",
        ];
        args.extend(extra);
        start(&root, &args)
    };
    let all = record(&everything, &[]);
    let api = record(&only_api, &["--container-name", "api"]);
    run_all(&cgroups, &workloads, dev);
    stop(all);
    stop(api);
    drop(cgroups);

    // Read where no runtime state is: the names are the recording's.
    let nowhere = work.path().join("no-runtime-state");
    let read = |trace: &Path, extra: &[&str]| {
        let mut args = vec![
            "biosnoop",
            "-i",
            trace.to_str().unwrap(),
            "--container",
            "--json",
        ];
        args.extend(extra);
        let out = blkscope(&nowhere, &args).output().expect("biosnoop -i");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        json_lines(&out.stdout)
    };
    let lines = read(&everything, &[]);
    for w in &workloads {
        assert_eq!(
            events_named(&lines, w.name).len(),
            w.reads,
            "{}: {lines:#?}",
            w.name
        );
    }
    let in_pod = read(&everything, &["--pod", "payments/api-5c6b-abcde"]);
    assert_eq!(in_pod.len(), 4, "{in_pod:#?}");
    let api = read(&only_api, &[]);
    assert_eq!(api.len(), 4, "record --container-name api: {api:#?}");
    assert!(
        api.iter()
            .all(|l| l["container"] == "payments/api-5c6b-abcde/api")
    );
}

#[test]
fn bad_name_filters_are_named() {
    for (view, args) in [
        ("biosnoop", vec!["--pod", "no-slash"]),
        ("biotop", vec!["--container-name", "[unclosed"]),
    ] {
        let out = Command::new(blkscope_binary())
            .arg(view)
            .args(&args)
            .output()
            .expect("blkscope");
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(args[0]), "{view}: {err}");
    }
}

#[test]
fn ext4slower_names_and_filters_containers() {
    let _serial = serial();
    let disk = LoopDevice::new(64);
    let fs = blkscope_tests::Ext4Mount::new(&disk);
    let mount = fs.dir().to_str().unwrap().to_owned();
    let all = workloads(&format!("blkscope-test-fs-names-{}", std::process::id()));
    // web-1 (docker) and db (podman).
    let picked: Vec<&Workload> = all
        .iter()
        .filter(|w| ["web-1", "db"].contains(&w.name))
        .collect();
    let cgroups: Vec<Cgroup> = picked.iter().map(|w| Cgroup::nested(&w.cgroup)).collect();
    let root = fixture_root();
    let named = start(
        &root,
        &[
            "ext4slower",
            "--container",
            "--mount",
            &mount,
            "--json",
            "0",
        ],
    );
    let only_db = start(
        &root,
        &[
            "ext4slower",
            "--container-name",
            "db",
            "--mount",
            &mount,
            "--json",
            "0",
        ],
    );
    for (cgroup, w) in cgroups.iter().zip(&picked) {
        let script = format!(
            "echo $$ > {} && exec dd if=/dev/zero of={mount}/{}.bin bs=4096 count={}",
            cgroup.procs_path(),
            w.name,
            w.reads
        );
        let status = Command::new("sh")
            .args(["-c", &script])
            .stderr(Stdio::null())
            .status();
        assert!(status.is_ok_and(|s| s.success()), "{script}");
    }
    let named = stop(named);
    let only_db = stop(only_db);
    let writes = |lines: &[Value], name: &str| {
        lines
            .iter()
            .filter(|l| l["op"] == "W" && l["container"] == name)
            .count()
    };
    assert_eq!(writes(&named, "web-1"), 3, "{named:#?}");
    assert_eq!(writes(&named, "db"), 2, "{named:#?}");
    assert!(
        named
            .iter()
            .any(|l| l["container_id"] == "docker:d0c4e1d0c4e1")
    );
    let files: Vec<&str> = only_db.iter().filter_map(|l| l["file"].as_str()).collect();
    assert!(
        !files.is_empty() && files.iter().all(|f| *f == "db.bin"),
        "{only_db:#?}"
    );
}
