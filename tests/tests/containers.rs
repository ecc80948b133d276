//! Per-container attribution against the real kernel: workloads in cgroups laid out the way
//! docker, Kubernetes (containerd, CRI-O) and podman lay them out, some in their own mount and
//! pid namespaces, are attributed to the right container by biosnoop, biolatency and
//! ext4slower, and `-c` keeps only one. (iostat --cgroups, biotop and record have theirs in
//! their own test files.)

use std::{
    process::{Child, Command, Stdio},
    time::Duration,
};

use blkscope_tests::{Cgroup, Ext4Mount, LoopDevice, blkscope_binary, serial};
use serde_json::Value;

const DOCKER_ID: &str = "d0c4e1d0c4e1d0c4e1d0c4e1d0c4e1d0c4e1d0c4e1d0c4e1d0c4e1d0c4e1d0c4";
const K8S_ID: &str = "c0d7a1e5c0d7a1e5c0d7a1e5c0d7a1e5c0d7a1e5c0d7a1e5c0d7a1e5c0d7a1e5";
const PODMAN_ID: &str = "9d3a4b1c9d3a4b1c9d3a4b1c9d3a4b1c9d3a4b1c9d3a4b1c9d3a4b1c9d3a4b1c";
const POD_UID: &str = "4f6e2a10-8b7c-4d3e-9f21-0a1b2c3d4e5f";

fn start_biosnoop(args: &[&str]) -> Child {
    start("biosnoop", args)
}

/// Starts `blkscope VIEW ARGS --json`.
fn start(view: &str, args: &[&str]) -> Child {
    let child = Command::new(blkscope_binary())
        .arg(view)
        .args(args)
        .arg("--json")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting blkscope");
    std::thread::sleep(Duration::from_millis(1500));
    child
}

fn stop(child: Child) -> Vec<Value> {
    std::thread::sleep(Duration::from_millis(200));
    // SAFETY: kill(2) on our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let out = child.wait_with_output().expect("waiting for blkscope");
    assert!(
        out.status.success(),
        "blkscope failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

/// Runs `count` 4 KiB direct reads at `skip` (in 4 KiB blocks) inside `cgroup`, optionally in
/// new mount and pid namespaces (as a container runtime would start it).
fn read_in(cgroup: &Cgroup, device: &str, skip: u32, count: u32, namespaces: bool) {
    run_in(
        cgroup,
        &format!("dd if={device} of=/dev/null bs=4096 count={count} skip={skip} iflag=direct"),
        namespaces,
    );
}

/// Runs the shell command `command` inside `cgroup`, optionally in new mount and pid
/// namespaces.
fn run_in(cgroup: &Cgroup, command: &str, namespaces: bool) {
    let procs = cgroup.path().join("cgroup.procs");
    let script = format!("echo $$ > {} && exec {command}", procs.display());
    let mut cmd = if namespaces {
        let mut c = Command::new("unshare");
        c.args(["--mount", "--pid", "--fork", "sh", "-c", &script]);
        c
    } else {
        let mut c = Command::new("sh");
        c.args(["-c", &script]);
        c
    };
    let status = cmd.stderr(Stdio::null()).status().expect("workload");
    assert!(
        status.success(),
        "workload in {} failed",
        cgroup.path().display()
    );
}

/// The event lines (not the closing summary) attributed to `container`.
fn lines_of<'a>(lines: &'a [Value], container: &str) -> Vec<&'a Value> {
    lines
        .iter()
        .filter(|l| l["container"] == container && l.get("summary").is_none())
        .collect()
}

/// The closing `--containers` summary row of `container`: (events, bytes).
fn summary_of(lines: &[Value], container: &str) -> (u64, u64) {
    let row = lines
        .iter()
        .find(|l| l["summary"] == "container" && l["container"] == container)
        .unwrap_or_else(|| panic!("no summary for {container}: {lines:#?}"));
    (
        row["events"].as_u64().unwrap(),
        row["bytes"].as_u64().unwrap(),
    )
}

#[test]
fn biosnoop_names_the_container_of_each_workload() {
    let _serial = serial();
    let disk = LoopDevice::new(64);
    let base = format!("blkscope-test-containers-{}", std::process::id());
    let docker = Cgroup::nested(&format!("{base}/system.slice/docker-{DOCKER_ID}.scope"));
    let pod_slice = format!("kubepods-burstable-pod{}.slice", POD_UID.replace('-', "_"));
    let k8s = Cgroup::nested(&format!(
        "{base}/kubepods.slice/kubepods-burstable.slice/{pod_slice}/cri-containerd-{K8S_ID}.scope"
    ));
    let podman = Cgroup::nested(&format!("{base}/machine.slice/libpod-{PODMAN_ID}.scope"));
    let snoop = start_biosnoop(&["-d", disk.path_str(), "--containers"]);
    read_in(&docker, disk.path_str(), 0, 3, false);
    read_in(&k8s, disk.path_str(), 100, 5, true);
    read_in(&podman, disk.path_str(), 200, 2, true);
    let lines = stop(snoop);

    assert_eq!(
        lines_of(&lines, "docker:d0c4e1d0c4e1").len(),
        3,
        "{lines:#?}"
    );
    assert_eq!(
        lines_of(&lines, &format!("pod:{POD_UID}/containerd:c0d7a1e5c0d7")).len(),
        5,
        "{lines:#?}"
    );
    assert_eq!(
        lines_of(&lines, "podman:9d3a4b1c9d3a").len(),
        2,
        "{lines:#?}"
    );
    for line in lines_of(&lines, "docker:d0c4e1d0c4e1") {
        assert_eq!(line["comm"], "dd");
        assert!(line["sector"].as_u64().unwrap() < 24);
    }
    // --containers closes with each container's totals.
    assert_eq!(summary_of(&lines, "docker:d0c4e1d0c4e1"), (3, 3 * 4096));
    assert_eq!(
        summary_of(&lines, &format!("pod:{POD_UID}/containerd:c0d7a1e5c0d7")),
        (5, 5 * 4096)
    );
    assert_eq!(summary_of(&lines, "podman:9d3a4b1c9d3a"), (2, 2 * 4096));
}

#[test]
fn cgroup_filter_keeps_only_that_cgroup_and_below() {
    let _serial = serial();
    let disk = LoopDevice::new(64);
    let base = format!("blkscope-test-filter-{}", std::process::id());
    let pod = format!(
        "{base}/kubepods.slice/kubepods-pod{}.slice",
        POD_UID.replace('-', "_")
    );
    let inside = Cgroup::nested(&format!("{pod}/cri-containerd-{K8S_ID}.scope"));
    let outside = Cgroup::nested(&format!("{base}/system.slice/docker-{DOCKER_ID}.scope"));
    // Filtering on the pod keeps its containers (descendants).
    let pod_dir = inside.path().parent().expect("pod dir").to_owned();
    let snoop = start_biosnoop(&[
        "-d",
        disk.path_str(),
        "-c",
        pod_dir.to_str().unwrap(),
        "--container",
    ]);
    read_in(&outside, disk.path_str(), 0, 4, false);
    read_in(&inside, disk.path_str(), 50, 6, false);
    let lines = stop(snoop);
    assert_eq!(lines.len(), 6, "only the pod's reads: {lines:#?}");
    assert!(
        lines
            .iter()
            .all(|l| l["container"] == format!("pod:{POD_UID}/containerd:c0d7a1e5c0d7"))
    );
}

#[test]
fn a_cgroup_removed_while_traced_breaks_nothing() {
    let _serial = serial();
    let disk = LoopDevice::new(16);
    let snoop = start_biosnoop(&["-d", disk.path_str(), "--container"]);
    let id = {
        let short_lived = Cgroup::nested(&format!(
            "blkscope-test-gone-{}/docker-{DOCKER_ID}.scope",
            std::process::id()
        ));
        read_in(&short_lived, disk.path_str(), 0, 2, false);
        std::fs::metadata(short_lived.path())
            .map(|m| std::os::unix::fs::MetadataExt::ino(&m))
            .unwrap()
    }; // removed here, while biosnoop runs
    let survivor = Cgroup::new("survivor");
    read_in(&survivor, disk.path_str(), 10, 3, false);
    let lines = stop(snoop);
    assert_eq!(lines.len(), 5, "{lines:#?}");
    // Named if resolved before removal, else the raw id: never a wrong name, never a failure.
    for line in &lines[..2] {
        let label = line["container"].as_str().unwrap();
        assert!(
            label == "docker:d0c4e1d0c4e1" || label == id.to_string(),
            "{label}"
        );
    }
}

/// Runs `blkscope biolatency ARGS --json` around `work`; returns the histograms it printed.
fn biolatency_around(args: &[&str], work: impl FnOnce()) -> Vec<Value> {
    let child = Command::new(blkscope_binary())
        .arg("biolatency")
        .args(args)
        .arg("--json")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting blkscope biolatency");
    std::thread::sleep(Duration::from_millis(1500));
    work();
    std::thread::sleep(Duration::from_millis(200));
    // SAFETY: kill(2) on our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let out = child.wait_with_output().expect("waiting for biolatency");
    assert!(
        out.status.success(),
        "biolatency failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

fn total(histogram: &Value) -> u64 {
    histogram["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["count"].as_u64().unwrap())
        .sum()
}

#[test]
fn biolatency_has_a_histogram_per_container_and_filters_by_cgroup() {
    let _serial = serial();
    let disk = LoopDevice::new(64);
    let base = format!("blkscope-test-lat-{}", std::process::id());
    let docker = Cgroup::nested(&format!("{base}/docker/{DOCKER_ID}"));
    let pod_slice = format!("kubepods-besteffort-pod{}.slice", POD_UID.replace('-', "_"));
    let k8s = Cgroup::nested(&format!(
        "{base}/kubepods.slice/{pod_slice}/crio-{K8S_ID}.scope"
    ));
    let device = disk.path_str().to_owned();

    let histograms = biolatency_around(&["-d", &device, "--containers"], || {
        read_in(&docker, &device, 0, 7, false);
        read_in(&k8s, &device, 100, 11, true);
    });
    let count_of = |name: &str| -> u64 {
        histograms
            .iter()
            .filter(|h| h["container"] == name)
            .map(total)
            .sum()
    };
    assert_eq!(count_of("docker:d0c4e1d0c4e1"), 7, "{histograms:#?}");
    assert_eq!(
        count_of(&format!("pod:{POD_UID}/crio:c0d7a1e5c0d7")),
        11,
        "{histograms:#?}"
    );

    let only_docker = biolatency_around(
        &["-d", &device, "-c", docker.path().to_str().unwrap()],
        || {
            read_in(&docker, &device, 0, 5, false);
            read_in(&k8s, &device, 100, 9, false);
        },
    );
    assert_eq!(
        only_docker.iter().map(total).sum::<u64>(),
        5,
        "{only_docker:#?}"
    );
}

/// ext4slower's operations (threshold 0) on a file of `fs`, by container; `--containers`
/// closes with each container's totals; `-c` keeps one pod.
#[test]
fn ext4slower_names_and_totals_each_container_and_filters_by_cgroup() {
    let _serial = serial();
    let disk = LoopDevice::new(64);
    let fs = Ext4Mount::new(&disk);
    let mount = fs.dir().to_str().unwrap().to_owned();
    let base = format!("blkscope-test-fs-{}", std::process::id());
    let docker = Cgroup::nested(&format!("{base}/system.slice/docker-{DOCKER_ID}.scope"));
    let pod_slice = format!("kubepods-pod{}.slice", POD_UID.replace('-', "_"));
    let crio = Cgroup::nested(&format!(
        "{base}/kubepods.slice/{pod_slice}/crio-{K8S_ID}.scope"
    ));
    let podman = Cgroup::nested(&format!("{base}/machine.slice/libpod-{PODMAN_ID}.scope"));
    // dd opens its output (on the mount) and writes `count` blocks of 4 KiB.
    let write = |cgroup: &Cgroup, name: &str, count: u32, namespaces: bool| {
        run_in(
            cgroup,
            &format!("dd if=/dev/zero of={mount}/{name} bs=4096 count={count}"),
            namespaces,
        );
    };

    let snoop = start("ext4slower", &["--containers", "--mount", &mount, "0"]);
    write(&docker, "docker.bin", 6, false);
    write(&crio, "crio.bin", 4, true);
    write(&podman, "podman.bin", 3, true);
    let lines = stop(snoop);
    let writes = |lines: &[Value], container: &str| -> usize {
        lines_of(lines, container)
            .iter()
            .filter(|l| l["op"] == "W")
            .count()
    };
    let crio_name = format!("pod:{POD_UID}/crio:c0d7a1e5c0d7");
    for (container, file, count) in [
        ("docker:d0c4e1d0c4e1", "docker.bin", 6),
        (crio_name.as_str(), "crio.bin", 4),
        ("podman:9d3a4b1c9d3a", "podman.bin", 3),
    ] {
        assert_eq!(writes(&lines, container), count, "{container}: {lines:#?}");
        let ops = lines_of(&lines, container);
        assert!(
            ops.iter().all(|o| o["file"] == file && o["comm"] == "dd"),
            "{container}: {ops:#?}"
        );
        // The summary counts every operation shown: the writes and dd's open of its output.
        let shown = lines_of(&lines, container).len() as u64;
        assert_eq!(
            summary_of(&lines, container),
            (shown, count as u64 * 4096),
            "{container}"
        );
        assert_eq!(shown, count as u64 + 1, "{container}: {lines:#?}");
    }

    let pod_dir = crio.path().parent().expect("pod dir").to_owned();
    let snoop = start(
        "ext4slower",
        &[
            "--container",
            "--mount",
            &mount,
            "-c",
            pod_dir.to_str().unwrap(),
            "0",
        ],
    );
    write(&docker, "docker2.bin", 5, false);
    write(&crio, "crio2.bin", 2, true);
    let lines = stop(snoop);
    assert!(
        lines.iter().all(|l| l["container"] == crio_name.as_str()),
        "only the pod's operations: {lines:#?}"
    );
    assert_eq!(writes(&lines, &crio_name), 2, "{lines:#?}");
}
