//! `blkscope biotop` against the real kernel: the batch output attributes two workloads in two
//! cgroups correctly, and the TUI, driven in tmux, sorts, groups, resizes, quits and leaves the
//! terminal as it found it.

use std::{
    collections::HashMap,
    process::{Command, Stdio},
    time::Duration,
};

use blkscope_tests::{Cgroup, DiskCounters, LoopDevice, blkscope_binary, serial, sh};
use serde_json::Value;

const DOCKER_ID: &str = "b10b10b10b10b10b10b10b10b10b10b10b10b10b10b10b10b10b10b10b10b10b";
const CRIO_ID: &str = "7e57c0de7e57c0de7e57c0de7e57c0de7e57c0de7e57c0de7e57c0de7e57c0de";
const POD_UID: &str = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0";

/// `count` direct reads of `bs` bytes inside `cgroup`.
fn read_in(cgroup: &Cgroup, device: &str, bs: u32, count: u32, skip: u32) {
    let script = format!(
        "echo $$ > {} && exec dd if={device} of=/dev/null bs={bs} count={count} skip={skip} iflag=direct",
        cgroup.path().join("cgroup.procs").display()
    );
    let status = Command::new("sh")
        .args(["-c", &script])
        .stderr(Stdio::null())
        .status()
        .expect("sh");
    assert!(status.success());
}

#[test]
fn batch_output_attributes_two_containers() {
    let _serial = serial();
    let disk = LoopDevice::new(64);
    let base = format!("blkscope-test-top-{}", std::process::id());
    let docker = Cgroup::nested(&format!("{base}/system.slice/docker-{DOCKER_ID}.scope"));
    let pod = format!("kubepods-burstable-pod{}.slice", POD_UID.replace('-', "_"));
    let crio = Cgroup::nested(&format!("{base}/kubepods.slice/{pod}/crio-{CRIO_ID}.scope"));
    let before = DiskCounters::read(disk.name());
    let child = Command::new(blkscope_binary())
        .args([
            "biotop",
            "--json",
            "--containers",
            "-r",
            "100",
            "-d",
            disk.path_str(),
            "1",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("blkscope biotop");
    std::thread::sleep(Duration::from_millis(1500));
    read_in(&docker, disk.path_str(), 4096, 30, 0);
    read_in(&crio, disk.path_str(), 16384, 12, 100);
    std::thread::sleep(Duration::from_millis(1500));
    // SAFETY: kill(2) on our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let out = child.wait_with_output().expect("biotop");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let after = DiskCounters::read(disk.name());

    let mut per_container: HashMap<String, (u64, u64)> = HashMap::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let interval: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert_eq!(interval["drops"], 0);
        for row in interval["rows"].as_array().expect("rows") {
            let entry = per_container
                .entry(row["container"].as_str().unwrap().to_owned())
                .or_default();
            entry.0 += row["ios"].as_u64().unwrap();
            entry.1 += row["bytes"].as_u64().unwrap();
        }
    }
    assert_eq!(
        per_container.get("docker:b10b10b10b10"),
        Some(&(30, 30 * 4096)),
        "{per_container:?}"
    );
    let pod_name = format!("pod:{POD_UID}/crio:7e57c0de7e57");
    assert_eq!(
        per_container.get(&pod_name),
        Some(&(12, 12 * 16384)),
        "{per_container:?}"
    );
    let total: u64 = per_container.values().map(|(ios, _)| ios).sum();
    assert_eq!(
        total,
        after.completions() - before.completions(),
        "vs /proc/diskstats"
    );
}

/// A tmux session running one command in a pane of a known size; killed on drop.
struct Tmux {
    session: String,
}

impl Tmux {
    fn start(command: &str, width: u32, height: u32) -> Self {
        let session = format!("blkscope-test-{}", std::process::id());
        sh(
            "tmux",
            &[
                "new-session",
                "-d",
                "-s",
                &session,
                "-x",
                &width.to_string(),
                "-y",
                &height.to_string(),
                command,
            ],
        );
        Self { session }
    }

    fn keys(&self, keys: &str) {
        sh("tmux", &["send-keys", "-t", &self.session, keys]);
        std::thread::sleep(Duration::from_millis(700));
    }

    fn screen(&self) -> String {
        sh("tmux", &["capture-pane", "-p", "-t", &self.session])
    }

    fn query(&self, format: &str) -> String {
        sh(
            "tmux",
            &["display-message", "-p", "-t", &self.session, format],
        )
        .trim()
        .to_owned()
    }

    /// Waits until the screen shows `text`.
    fn wait_for(&self, text: &str) -> String {
        for _ in 0..50 {
            let screen = self.screen();
            if screen.contains(text) {
                return screen;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        panic!("the screen never showed {text:?}:\n{}", self.screen());
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["kill-session", "-t", &self.session])
            .status();
    }
}

#[test]
fn tui_sorts_groups_resizes_quits_and_restores_the_terminal() {
    let _serial = serial();
    let disk = LoopDevice::new(32);
    let command = format!(
        "{} biotop -d {} ; echo EXITED $?; stty -a | grep -o -- '-\\?icanon' ; sleep 60",
        blkscope_binary().display(),
        disk.path_str()
    );
    let tmux = Tmux::start(&command, 140, 30);
    let screen = tmux.wait_for("blkscope biotop");
    assert!(
        screen.contains("PID") && screen.contains("COMM") && screen.contains("Kbytes"),
        "{screen}"
    );
    assert!(
        screen.contains("sort: Kbytesv") && screen.contains("group: process"),
        "{screen}"
    );
    assert_eq!(
        tmux.query("#{alternate_on}"),
        "1",
        "the TUI uses the alternate screen"
    );

    // Some I/O so that rows appear.
    let device = disk.path_str().to_owned();
    let reader = std::thread::spawn(move || {
        Command::new("dd")
            .args([
                &format!("if={device}"),
                "of=/dev/null",
                "bs=4096",
                "count=200",
                "iflag=direct",
            ])
            .stderr(Stdio::null())
            .status()
            .expect("dd")
    });
    assert!(reader.join().unwrap().success());
    let screen = tmux.wait_for(" dd ");
    assert!(screen.contains(disk.name()), "{screen}");

    tmux.keys("s");
    assert!(tmux.screen().contains("sort: I/Ov"), "{}", tmux.screen());
    tmux.keys("r");
    assert!(tmux.screen().contains("sort: I/O^"), "{}", tmux.screen());
    tmux.keys("g");
    let screen = tmux.screen();
    assert!(
        screen.contains("group: container") && screen.contains("CONTAINER"),
        "{screen}"
    );
    tmux.keys("g");
    assert!(tmux.screen().contains("group: disk"), "{}", tmux.screen());

    sh(
        "tmux",
        &["resize-window", "-t", &tmux.session, "-x", "80", "-y", "20"],
    );
    std::thread::sleep(Duration::from_millis(700));
    let screen = tmux.screen();
    assert_eq!(tmux.query("#{pane_width}x#{pane_height}"), "80x20");
    assert!(
        screen.contains("blkscope biotop") && screen.contains("q quit"),
        "redrawn at 80x20:\n{screen}"
    );

    tmux.keys("q");
    let screen = tmux.wait_for("EXITED 0");
    assert_eq!(
        tmux.query("#{alternate_on}"),
        "0",
        "left the alternate screen"
    );
    assert!(
        screen.lines().any(|l| l.trim() == "icanon"),
        "the terminal is back in canonical mode:\n{screen}"
    );
}
