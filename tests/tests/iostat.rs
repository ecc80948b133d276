//! `blkscope iostat` against sysstat's iostat on this machine: the same counters replayed to
//! both (byte for byte, for every option), live side by side under a fio load (within the
//! error of sampling at slightly different instants), and the same usage errors.

use std::{
    path::{Path, PathBuf},
    process::{Command, Output},
};

use blkscope_tests::{LoopDevice, Scratch, blkscope_binary, serial, sh};

fn shared_tools() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/tools");
    assert!(
        dir.join("iostat_replay.sh").is_file(),
        "iostat_replay.sh is missing: expected {} (the shared folder beside the repository)",
        dir.display()
    );
    dir
}

/// A directory holding `iostat`, a symlink to blkscope, removed on drop.
struct MultiCall(Scratch);

impl MultiCall {
    fn new() -> Self {
        let dir = Scratch::new("iostat-multicall");
        std::os::unix::fs::symlink(blkscope_binary(), dir.path().join("iostat")).unwrap();
        Self(dir)
    }
    fn iostat(&self) -> PathBuf {
        self.0.path().join("iostat")
    }
}

/// Hours, minutes and seconds of `-t` lines differ between two runs: mask digits of times.
fn mask_times(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = bytes.to_vec();
    for i in 0..bytes.len().saturating_sub(7) {
        let window = &bytes[i..i + 8];
        let is_time = window.iter().enumerate().all(|(k, b)| match k {
            2 | 5 => *b == b':',
            _ => b.is_ascii_digit(),
        });
        if is_time {
            out[i..i + 8].copy_from_slice(b"HH:MM:SS");
        }
    }
    String::from_utf8(out).unwrap()
}

/// Environment variables for one case.
type Environment<'a> = Vec<(&'a str, &'a str)>;

fn replay(a: &Path, b: &Path, env: &[(&str, &str)], program: &Path, args: &[&str]) -> Output {
    let mut command = Command::new("bash");
    command
        .arg(shared_tools().join("iostat_replay.sh"))
        .arg(a)
        .arg(b)
        .arg(program)
        .args(args)
        .env_remove("POSIXLY_CORRECT")
        .env_remove("S_COLORS")
        .env_remove("S_TIME_FORMAT");
    for (key, value) in env {
        command.env(key, value);
    }
    command.output().expect("running iostat_replay.sh")
}

#[test]
fn replayed_counters_print_exactly_what_sysstat_prints_for_every_option() {
    let _serial = serial();
    let multi = MultiCall::new();
    let disk = LoopDevice::new(64);
    sh("addpart", &[disk.path_str(), "1", "2048", "40960"]);
    sh("addpart", &[disk.path_str(), "2", "43008", "40960"]);
    let scratch = Scratch::new("iostat-snap");
    let (a, b) = (scratch.path().join("A"), scratch.path().join("B"));
    let snap = shared_tools().join("iostat_snap.sh");
    sh("bash", &[snap.to_str().unwrap(), a.to_str().unwrap()]);
    let p1 = format!("{}p1", disk.path_str());
    let p2 = format!("{}p2", disk.path_str());
    sh(
        "dd",
        &[
            "if=/dev/zero",
            &format!("of={p1}"),
            "bs=4k",
            "count=300",
            "oflag=direct",
        ],
    );
    sh(
        "dd",
        &[
            &format!("if={p2}"),
            "of=/dev/null",
            "bs=16k",
            "count=100",
            "iflag=direct",
        ],
    );
    sh(
        "dd",
        &[
            "if=/dev/zero",
            &format!("of={}", disk.path_str()),
            "bs=64k",
            "count=20",
            "seek=600",
            "oflag=direct,dsync",
        ],
    );
    sh("bash", &[snap.to_str().unwrap(), b.to_str().unwrap()]);

    let name = disk.name().to_owned();
    let part1 = format!("{name}p1");
    let part2 = format!("{name}p2");
    let cases: Vec<(Environment, Vec<&str>)> = vec![
        (vec![], vec![]),
        (vec![], vec!["-x"]),
        (vec![], vec!["-p", "ALL"]),
        (vec![], vec!["-p", &name, "-y", "1", "1"]),
        (vec![], vec!["-x", "-p", &name, "-y", "1", "1"]),
        (vec![], vec!["-x", &part1, "/dev/vda", "-y", "1", "1"]),
        (vec![], vec!["-d", "-m", "-p", &name, "-y", "1", "1"]),
        (vec![], vec!["-s", "-x", "-p", &name, "-y", "1", "1"]),
        (vec![], vec!["-s", "-p", &name, "1", "2"]),
        (vec![], vec!["-h", "-p", &name, "-y", "1", "1"]),
        (vec![], vec!["-x", "-h", "--compact", "-y", "1", "1"]),
        (vec![], vec!["--dec=1", "-x", "-h", "-y", "1", "1"]),
        (vec![], vec!["--dec=0", "-s", "--human", "-y", "1", "1"]),
        (vec![], vec!["--pretty", "-x", "-z", "-y", "1", "1"]),
        (
            vec![],
            vec!["-o", "JSON", "-s", "-x", "-p", &name, "-y", "1", "1"],
        ),
        (vec![], vec!["-o", "JSON", "-c", "1", "2"]),
        (vec![], vec!["-o", "JSON", "-t", "-p", &name, "1", "2"]),
        (vec![], vec!["-z", "-p", "ALL", "-y", "1", "1"]),
        (
            vec![],
            vec!["-g", "grp", &part1, &part2, "-x", "-y", "1", "2"],
        ),
        (
            vec![],
            vec!["-H", "-g", "both", &name, "vda", "-d", "-y", "1", "1"],
        ),
        (vec![], vec!["ALL", "-d", "-y", "1", "1"]),
        (vec![], vec!["-x", "nosuchdevice", &part2, "-y", "1", "1"]),
        (vec![], vec!["-t", "-x", &name, "1", "2"]),
        (vec![("POSIXLY_CORRECT", "1")], vec!["-d", "-p", &name]),
        (
            vec![("POSIXLY_CORRECT", "1")],
            vec!["-d", "-x", "-s", &name],
        ),
        (
            vec![("S_COLORS", "always")],
            vec!["-x", "-p", &name, "-y", "1", "1"],
        ),
        (
            vec![("S_COLORS", "always"), ("S_COLORS_SGR", "H=31:I=35;1:N=36")],
            vec!["-h", &name, "-y", "1", "1"],
        ),
        (
            vec![("S_TIME_FORMAT", "ISO")],
            vec!["-t", "-d", &name, "1", "2"],
        ),
    ];
    let mut failures = Vec::new();
    for (env, args) in &cases {
        let theirs = replay(&a, &b, env, Path::new("iostat"), args);
        let ours = replay(&a, &b, env, &multi.iostat(), args);
        let expected = mask_times(&String::from_utf8_lossy(&theirs.stdout));
        let actual = mask_times(&String::from_utf8_lossy(&ours.stdout));
        assert!(
            theirs.status.success(),
            "iostat {args:?} failed: {}",
            String::from_utf8_lossy(&theirs.stderr)
        );
        assert!(
            expected.lines().count() > 3,
            "iostat {args:?} printed too little:\n{expected}"
        );
        if expected != actual || theirs.status.code() != ours.status.code() {
            failures.push(format!(
                "{env:?} iostat {args:?}\n--- sysstat ({:?})\n{expected}--- blkscope ({:?})\n{actual}{}",
                theirs.status.code(),
                ours.status.code(),
                String::from_utf8_lossy(&ours.stderr)
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases differ:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

#[test]
fn usage_errors_and_unknown_devices_are_answered_like_iostat() {
    let multi = MultiCall::new();
    for args in [
        vec!["-k", "-m"],
        vec!["-q"],
        vec!["0", "5"],
        vec!["1", "0"],
        vec!["1", "2", "3"],
        vec!["-H", "vda"],
        vec!["-o", "XML"],
        vec!["-g"],
        vec!["--dec=3"],
        vec!["-j", "nosuchtype"],
        vec!["--bogus"],
    ] {
        let theirs = Command::new("iostat").args(&args).output().unwrap();
        let ours = Command::new(multi.iostat()).args(&args).output().unwrap();
        assert_eq!(ours.status.code(), theirs.status.code(), "iostat {args:?}");
        assert_eq!(
            String::from_utf8_lossy(&ours.stderr),
            String::from_utf8_lossy(&theirs.stderr),
            "iostat {args:?}"
        );
        assert!(ours.stdout.is_empty(), "iostat {args:?} printed a report");
    }
    // A device that does not exist: the header, no line, success.
    let theirs = Command::new("iostat")
        .args(["-d", "nosuchdevice"])
        .output()
        .unwrap();
    let ours = Command::new(multi.iostat())
        .args(["-d", "nosuchdevice"])
        .output()
        .unwrap();
    assert!(ours.status.success());
    assert_eq!(
        String::from_utf8_lossy(&ours.stdout),
        String::from_utf8_lossy(&theirs.stdout)
    );
    // --help lists every option.
    let help = Command::new(blkscope_binary())
        .args(["iostat", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    for option in [
        "-c",
        "-d",
        "-h",
        "-k",
        "-m",
        "-N",
        "-s",
        "-t",
        "-V",
        "-x",
        "-y",
        "-z",
        "--dec",
        "--human",
        "--pretty",
        "-g",
        "-H",
        "-j",
        "-o JSON",
        "-p",
        "--compact",
        "--cgroups",
    ] {
        assert!(
            help.contains(option),
            "--help does not mention {option}:\n{help}"
        );
    }
}

/// The -x values of one device per interval, from `-o JSON`.
fn device_rows(json: &str, device: &str) -> Vec<serde_json::Value> {
    let doc: serde_json::Value =
        serde_json::from_str(json).unwrap_or_else(|e| panic!("{e}: {json}"));
    doc["sysstat"]["hosts"][0]["statistics"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|report| {
            report["disk"]
                .as_array()?
                .iter()
                .find(|d| d["disk_device"] == device)
                .cloned()
        })
        .collect()
}

#[test]
fn live_side_by_side_with_iostat_under_a_fio_load() {
    let _serial = serial();
    let multi = MultiCall::new();
    let disk = LoopDevice::new(128);
    let mut fio = Command::new("fio")
        .args([
            "--name=iostat-side-by-side",
            &format!("--filename={}", disk.path_str()),
            "--rw=randrw",
            "--bs=4k",
            "--direct=1",
            "--ioengine=psync",
            "--rate_iops=400,200",
            "--time_based",
            "--runtime=6",
        ])
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("starting fio");
    std::thread::sleep(std::time::Duration::from_millis(500));
    let args = ["-d", "-x", "-y", "-o", "JSON", disk.name(), "1", "4"];
    let theirs = Command::new("iostat")
        .args(args)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let ours = Command::new(multi.iostat())
        .args(args)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let (theirs, ours) = (
        theirs.wait_with_output().unwrap(),
        ours.wait_with_output().unwrap(),
    );
    let _ = fio.wait();
    assert!(ours.status.success(), "blkscope iostat failed");
    let theirs = device_rows(&String::from_utf8_lossy(&theirs.stdout), disk.name());
    let ours = device_rows(&String::from_utf8_lossy(&ours.stdout), disk.name());
    assert_eq!(
        (theirs.len(), ours.len()),
        (4, 4),
        "four interval reports each"
    );
    // Rates: the sum over four intervals differs only by what falls between the two tools'
    // sampling instants (a few ms at each end). Averages (await, sizes) are steadier still.
    for key in [
        "r/s", "w/s", "rkB/s", "wkB/s", "r_await", "w_await", "rareq-sz", "wareq-sz", "aqu-sz",
        "util", "rrqm/s", "wrqm/s", "d/s", "f/s",
    ] {
        let sum =
            |rows: &[serde_json::Value]| rows.iter().map(|r| r[key].as_f64().unwrap()).sum::<f64>();
        let (t, o) = (sum(&theirs), sum(&ours));
        // %util counts busy jiffies: each tool's sampling instant can fall a jiffy (4 ms at
        // HZ=250, 0.2 points of a 2 s interval) either side, at each of the four reports.
        let absolute = if key == "util" { 1.0 } else { 0.25 };
        let tolerance = 0.1 * t.abs().max(o.abs()) + absolute;
        assert!(
            (t - o).abs() <= tolerance,
            "{key}: iostat {t:.2}, blkscope {o:.2} (summed over 4 intervals)"
        );
    }
    let reads: f64 = ours.iter().map(|r| r["r/s"].as_f64().unwrap()).sum();
    assert!(
        reads > 4.0 * 300.0,
        "the load was seen: {reads} reads/s summed"
    );
}

/// `count` direct I/Os of `bs` bytes by dd inside `cgroup` (`write`: to the device), at `skip`
/// blocks; `namespaces`: in new mount and pid namespaces, as a container runtime starts it.
fn dd_in(
    cgroup: &blkscope_tests::Cgroup,
    device: &str,
    write: bool,
    (bs, count, skip): (u32, u32, u32),
    namespaces: bool,
) {
    let io = if write {
        format!("if=/dev/zero of={device} oflag=direct seek={skip}")
    } else {
        format!("if={device} of=/dev/null iflag=direct skip={skip}")
    };
    let script = format!(
        "echo $$ > {} && exec dd {io} bs={bs} count={count}",
        cgroup.path().join("cgroup.procs").display()
    );
    let mut command = Command::new(if namespaces { "unshare" } else { "sh" });
    if namespaces {
        command.args(["--mount", "--pid", "--fork", "sh"]);
    }
    let status = command
        .args(["-c", &script])
        .stderr(std::process::Stdio::null())
        .status()
        .expect("sh");
    assert!(status.success());
}

/// Runs `blkscope iostat ARGS DEVICE 4 1` around `work`; returns its report.
fn iostat_cgroups_around(args: &[&str], device: &str, work: impl FnOnce()) -> String {
    let child = Command::new(blkscope_binary())
        .arg("iostat")
        .args(args)
        .args([device, "4", "1"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("blkscope iostat --cgroups");
    std::thread::sleep(std::time::Duration::from_millis(1200));
    work();
    let out = child.wait_with_output().expect("iostat --cgroups");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// The numbers of the report's row that starts with `labels` (then the device).
fn row_of(report: &str, labels: &[&str], device: &str) -> Vec<f64> {
    let line = report
        .lines()
        .find(|l| {
            l.split_whitespace()
                .take(labels.len())
                .eq(labels.iter().copied())
        })
        .unwrap_or_else(|| panic!("no row for {labels:?}:\n{report}"));
    let fields: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(fields[labels.len()], device, "{line}");
    fields[labels.len() + 1..]
        .iter()
        .map(|f| f.parse().unwrap())
        .collect()
}

#[test]
fn cgroups_report_splits_a_disk_between_containers() {
    const DOCKER_ID: &str = "d0c4e7d0c4e7d0c4e7d0c4e7d0c4e7d0c4e7d0c4e7d0c4e7d0c4e7d0c4e7d0c4";
    const CRIO_ID: &str = "c410c410c410c410c410c410c410c410c410c410c410c410c410c410c410c410";
    const POD_UID: &str = "0e1d2c3b-4a59-6877-8695-a4b3c2d1e0f9";
    let _serial = serial();
    let disk = LoopDevice::new(64);
    let device = disk.path_str();
    let base = format!("blkscope-test-iostat-{}", std::process::id());
    // A docker container running systemd: two cgroups of its own.
    let docker_scope = format!("{base}/system.slice/docker-{DOCKER_ID}.scope");
    let docker_init = blkscope_tests::Cgroup::nested(&format!("{docker_scope}/init.scope"));
    let docker_app =
        blkscope_tests::Cgroup::nested(&format!("{docker_scope}/system.slice/app.service"));
    let pod = format!("kubepods-besteffort-pod{}.slice", POD_UID.replace('-', "_"));
    let crio = blkscope_tests::Cgroup::nested(&format!(
        "{base}/kubepods.slice/kubepods-besteffort.slice/{pod}/crio-{CRIO_ID}.scope"
    ));
    let other = blkscope_tests::Cgroup::nested(&format!("{base}/batch.slice"));
    let near = |value: f64, expected: f64| (value - expected).abs() <= expected * 0.03 + 0.02;

    // --containers: one row per container, over 4 s.
    let before = blkscope_tests::DiskCounters::read(disk.name());
    let report = iostat_cgroups_around(&["--containers"], device, || {
        dd_in(&docker_init, device, false, (4096, 250, 0), false);
        dd_in(&docker_app, device, false, (4096, 150, 1000), true);
        dd_in(&crio, device, false, (16384, 60, 500), true);
        dd_in(&other, device, true, (8192, 100, 3000), false);
    });
    let after = blkscope_tests::DiskCounters::read(disk.name());
    assert!(report.contains("\nContainer "), "{report}");
    // Columns: r/s rkB/s r_await w/s wkB/s w_await aqu-sz %util.
    let docker = row_of(&report, &["docker:d0c4e7d0c4e7"], disk.name());
    let pod_row = row_of(
        &report,
        &[&format!("pod:{POD_UID}/crio:c410c410c410")],
        disk.name(),
    );
    let writer = row_of(&report, &[&format!("/{base}/batch.slice")], disk.name());
    assert!(
        near(docker[0] * 4.0, 400.0),
        "both cgroups' reads {docker:?}"
    );
    assert!(near(docker[1] / docker[0], 4.0), "4 KiB reads {docker:?}");
    assert_eq!(docker[3], 0.0, "the container wrote nothing");
    assert!(near(pod_row[0] * 4.0, 60.0), "the pod's reads {pod_row:?}");
    assert!(
        near(pod_row[1] / pod_row[0], 16.0),
        "16 KiB reads {pod_row:?}"
    );
    assert!(near(writer[3] * 4.0, 100.0), "writes/s {writer:?}");
    assert!(near(writer[4] / writer[3], 8.0), "8 KiB writes {writer:?}");
    assert_eq!(writer[0], 0.0, "the writer read nothing");
    // Every request the disk completed is in one of the rows.
    let completions = after.completions() - before.completions();
    assert!(
        near(
            (docker[0] + pod_row[0] + writer[3]) * 4.0,
            completions as f64
        ),
        "{completions} completions\n{report}"
    );
    // Await is printed in ms with two decimals: a 4 to 16 KiB I/O of a loop device on tmpfs
    // can take under 5 us and print 0.00 (CI saw all three rows at 0.00). 1 MiB reads take a
    // tenth of a millisecond or more: their wait is measured.
    let report = iostat_cgroups_around(&["--containers"], device, || {
        dd_in(&other, device, false, (1 << 20, 40, 0), false);
    });
    let slow = row_of(&report, &[&format!("/{base}/batch.slice")], disk.name());
    assert!(slow[0] > 0.0, "the reads are its row's {slow:?}");
    assert!(slow[2] > 0.0, "r_await measured: {slow:?}\n{report}");

    // --container: a row per cgroup, its container beside its path.
    let report = iostat_cgroups_around(&["--container"], device, || {
        dd_in(&docker_init, device, false, (4096, 30, 0), false);
        dd_in(&docker_app, device, false, (4096, 20, 1000), true);
    });
    assert!(report.contains("\nCgroup "), "{report}");
    let init = row_of(
        &report,
        &[
            &format!("/{docker_scope}/init.scope"),
            "docker:d0c4e7d0c4e7",
        ],
        disk.name(),
    );
    let app = row_of(
        &report,
        &[
            &format!("/{docker_scope}/system.slice/app.service"),
            "docker:d0c4e7d0c4e7",
        ],
        disk.name(),
    );
    assert!(near(init[0] * 4.0, 30.0), "{report}");
    assert!(near(app[0] * 4.0, 20.0), "{report}");
}

/// Writes a made-up counter snapshot: uptime, one CPU line, and these diskstats lines.
fn synthetic_snapshot(dir: &Path, uptime: &str, cpu: &str, diskstats: &str) {
    std::fs::create_dir_all(dir.join("sys")).unwrap();
    std::fs::write(dir.join("uptime"), format!("{uptime} 100.00\n")).unwrap();
    std::fs::write(dir.join("stat"), format!("cpu  {cpu}\ncpu0 {cpu}\n")).unwrap();
    std::fs::write(dir.join("diskstats"), diskstats).unwrap();
}

#[test]
fn real_world_counters_appearing_devices_wraps_and_old_formats_like_iostat() {
    let _serial = serial();
    let multi = MultiCall::new();
    let scratch = Scratch::new("iostat-synthetic");
    let (a, b) = (scratch.path().join("A"), scratch.path().join("B"));
    let mut before = String::new();
    let mut after = String::new();
    // Hundreds of devices, each with its own counters.
    for n in 0..300u64 {
        let line = |k: u64| {
            format!(
                "   240 {n:>7} many{n:03} {} {} {} {} {} {} {} {} 0 {} {} {} {} {} {} {} {}\n",
                k * n + 7,
                n % 5,
                8 * (k * n + 7),
                3 * k + n,
                k * 2 + n,
                n % 3,
                16 * (k * 2 + n),
                5 * k,
                10 * k + n,
                20 * k + n,
                n % 2,
                n % 2,
                8 * (n % 2),
                n % 4,
                k,
                k + n % 7
            )
        };
        before.push_str(&line(1000));
        after.push_str(&line(1300));
    }
    // Gone in B; new in B; 32-bit tick counters that wrapped; sectors that wrapped at 32 bits;
    // every counter lower (removed and inserted again); no discard or flush fields (old
    // kernels); a partition line of a kernel before 2.6.25; a device that never did I/O.
    before.push_str("   250       0 gone 100 0 800 10 100 0 800 10 0 20 20 0 0 0 0 0 0\n");
    after.push_str("   250       1 new 50 0 400 5 50 0 400 5 0 10 10 0 0 0 0 0 0\n");
    before.push_str("   250       2 wrapped 1000 10 8000 4294967000 1000 10 8000 4294967200 0 4294967290 4294967100 0 0 0 0 0 0\n");
    after.push_str(
        "   250       2 wrapped 1500 10 12000 300 1400 10 11200 200 0 700 900 0 0 0 0 0 0\n",
    );
    before.push_str(
        "   250       3 sectors32 10 0 4294967000 5 10 0 4294967100 5 0 10 10 0 0 0 0 0 0\n",
    );
    after.push_str("   250       3 sectors32 20 0 704 10 20 0 3000 10 0 20 20 0 0 0 0 0 0\n");
    before
        .push_str("   250       4 reinserted 900 9 7200 90 800 8 6400 80 0 170 170 1 1 8 1 2 2\n");
    after.push_str("   250       4 reinserted 30 0 240 3 20 0 160 2 0 5 5 0 0 0 0 0 0\n");
    before.push_str("   250       5 oldkernel 100 1 800 20 50 2 400 30 0 40 50\n");
    after.push_str("   250       5 oldkernel 200 1 1600 40 90 2 720 50 0 80 90\n");
    before.push_str("   250       6 oldpart1 40 320 20 160\n");
    after.push_str("   250       6 oldpart1 60 480 30 240\n");
    before.push_str("   250       7 idle 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n");
    after.push_str("   250       7 idle 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n");
    synthetic_snapshot(&a, "1000.00", "4000 10 2000 90000 300 20 40 5 0 0", &before);
    synthetic_snapshot(&b, "1002.50", "4100 10 2050 90300 320 21 41 5 0 0", &after);
    let cases = [
        vec!["-p", "ALL"],
        vec!["-p", "ALL", "-x"],
        vec!["-p", "ALL", "-y", "1", "1"],
        vec!["-p", "ALL", "-x", "-y", "1", "1"],
        vec!["-p", "ALL", "-x", "-z", "-y", "1", "1"],
        vec!["-p", "ALL", "-s", "-h", "-y", "1", "1"],
        vec!["-p", "ALL", "-o", "JSON", "-x", "-y", "1", "1"],
        vec!["-p", "ALL", "-d", "1", "2"],
    ];
    for args in cases {
        let theirs = replay(&a, &b, &[], Path::new("iostat"), &args);
        let ours = replay(&a, &b, &[], &multi.iostat(), &args);
        let (expected, actual) = (
            String::from_utf8_lossy(&theirs.stdout),
            String::from_utf8_lossy(&ours.stdout),
        );
        assert!(
            expected.contains("many299"),
            "iostat {args:?} did not read the snapshot:\n{expected}"
        );
        assert_eq!(
            actual,
            expected,
            "iostat {args:?}\n{}",
            String::from_utf8_lossy(&ours.stderr)
        );
    }
}

/// `-N` without a device-mapper in this kernel: a /dev/mapper and /proc/devices made for the
/// test, read by the same naming code (sysstat's: the dm major from /proc/devices, the name
/// from the /dev/mapper node with those numbers; a registered name on the command line to the
/// dm-N its link points at).
#[test]
fn device_mapper_names_with_n() {
    use blkscope::host::counters::IoCounters;
    use blkscope::tools::iostat::{
        devices::{DeviceEntry, DeviceKind},
        naming::Naming,
        options::IostatOptions,
    };
    blkscope_tests::require_root();
    let scratch = Scratch::new("iostat-devmap");
    let (dev, proc_dir) = (scratch.path().join("dev"), scratch.path().join("proc"));
    std::fs::create_dir_all(dev.join("mapper")).unwrap();
    std::fs::create_dir_all(&proc_dir).unwrap();
    std::fs::write(
        proc_dir.join("devices"),
        "Character devices:\n  1 mem\n\nBlock devices:\n  7 loop\n253 device-mapper\n254 virtblk\n",
    )
    .unwrap();
    let node = dev.join("mapper/vg-home");
    sh("mknod", &[node.to_str().unwrap(), "b", "253", "3"]);
    std::os::unix::fs::symlink("../dm-7", dev.join("mapper/vg-data")).unwrap();
    let naming = Naming::new(&dev, "/nonexistent", &proc_dir);
    let entry = |major, minor| DeviceEntry {
        name: "dm-3".into(),
        kind: DeviceKind::Disk,
        exists: true,
        major,
        minor,
        stats: [IoCounters::default(); 2],
    };
    let with_n = IostatOptions {
        devmap_names: true,
        ..IostatOptions::default()
    };
    assert_eq!(naming.display_name(&entry(253, 3), &with_n), "vg-home");
    assert_eq!(
        naming.display_name(&entry(253, 4), &with_n),
        "dm-3",
        "no node: the kernel name"
    );
    assert_eq!(
        naming.display_name(&entry(254, 3), &with_n),
        "dm-3",
        "not the dm major"
    );
    assert_eq!(
        naming.display_name(&entry(253, 3), &IostatOptions::default()),
        "dm-3",
        "without -N"
    );
    assert_eq!(
        naming.dm_name_of_registered("vg-data").as_deref(),
        Some("dm-7")
    );
}
