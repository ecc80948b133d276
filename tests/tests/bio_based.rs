//! Bio-based disks (zram here; device-mapper, md, brd and pmem work the same way) in every
//! view: their drivers take bios and never make requests, so the views time each bio from its
//! queueing to its completion. Counts are checked against the kernel's /proc/diskstats for a
//! known workload, live, through a file system, and over a recording. Stacked devices (dm over
//! a disk) are checked on a recording made of the events the kernel gives for them, as this
//! machine has no device-mapper.

use std::{
    net::TcpListener,
    path::Path,
    process::{Child, Command, Output, Stdio},
    time::Duration,
};

use blkscope::{
    blktrace::{
        BlktraceWriter,
        event_encoder::{Clocks, RecordSettings, Recorder},
    },
    model::event::{Action, BlockIoEvent, DeviceId, OpFlags, Operation},
};
use blkscope_tests::{DiskCounters, Ext4Mount, Scratch, ZramDisk, blkscope_binary, serial};

/// 200 direct 4 KiB writes, then 200 direct 4 KiB reads: 400 bios, one I/O each.
fn workload(disk: &str) {
    for (from, to, flag) in [
        ("/dev/zero", disk, "oflag=direct"),
        (disk, "/dev/null", "iflag=direct"),
    ] {
        let status = Command::new("dd")
            .args([
                &format!("if={from}"),
                &format!("of={to}"),
                "bs=4k",
                "count=200",
                flag,
            ])
            .stderr(Stdio::null())
            .status()
            .expect("dd");
        assert!(status.success());
    }
}

fn start(args: &[&str], dir: &Path) -> Child {
    Command::new(blkscope_binary())
        .current_dir(dir)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting blkscope")
}

fn finish(child: Child) -> String {
    let out: Output = child.wait_with_output().expect("waiting for blkscope");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// Runs a view that ends by itself around `work`, with the disk's completions from after the
/// view attached to when it ended (a file system may write on its own after `work`).
fn around(args: &[&str], dir: &Path, disk: &str, work: impl FnOnce()) -> (String, u64) {
    let (report, window) = bracketed(args, dir, disk, work);
    (report, window.from_work)
}

/// What /proc/diskstats counted around a view's run.
struct Window {
    /// Completions from just before `work` to after the view ended: all must be seen.
    from_work: u64,
    /// Completions from before the view started to after it ended: none more can be seen.
    whole: u64,
}

fn bracketed(args: &[&str], dir: &Path, disk: &str, work: impl FnOnce()) -> (String, Window) {
    let first = DiskCounters::read(disk);
    let child = start(args, dir);
    std::thread::sleep(Duration::from_millis(1500));
    let before = DiskCounters::read(disk);
    work();
    let report = finish(child);
    let after = DiskCounters::read(disk);
    let window = Window {
        from_work: after.completions() - before.completions(),
        whole: after.completions() - first.completions(),
    };
    (report, window)
}

/// The counts of biolatency's histogram for `label` (`disk = zram0`).
fn histogram_count(report: &str, label: &str) -> u64 {
    let mut counting = false;
    let mut total = 0;
    for line in report.lines() {
        if line.trim().starts_with("disk = ") {
            counting = line.trim() == label;
        } else if counting && line.contains("->") {
            total += line
                .split(':')
                .nth(1)
                .and_then(|r| r.split_whitespace().next())
                .and_then(|n| n.parse::<u64>().ok())
                .unwrap_or(0);
        }
    }
    total
}

#[test]
fn every_view_counts_a_bio_based_disk_as_diskstats_does() {
    let _serial = serial();
    let zram = ZramDisk::new(64);
    let work = Scratch::new("bio-based-views");
    let (disk, name) = (zram.path_str(), zram.name());
    let run = || workload(disk);

    let (report, done) = around(
        &["biolatency", "-D", "-d", name, "5", "1"],
        work.path(),
        name,
        run,
    );
    assert!(done >= 400, "{done}");
    assert_eq!(histogram_count(&report, "disk = zram0"), done, "{report}");

    let (report, done) = around(&["biosnoop", "-d", name, "5"], work.path(), name, run);
    let lines = report.lines().filter(|l| l.contains(" zram0 ")).count() as u64;
    assert_eq!(lines, done, "{report}");
    assert!(
        report
            .lines()
            .any(|l| l.contains(" dd ") && l.contains(" W ")),
        "{report}"
    );

    let (report, done) = around(&["trace", "-d", disk, "-w", "5"], work.path(), name, run);
    let completions = report.lines().filter(|l| l.contains("  C  ")).count() as u64;
    assert_eq!(completions, done, "{report}");

    let (report, done) = around(
        &["biotop", "--batch", "-C", "5", "1"],
        work.path(),
        name,
        run,
    );
    let ios: u64 = report
        .lines()
        .filter(|l| l.split_whitespace().nth(5) == Some("zram0"))
        .filter_map(|l| l.split_whitespace().nth(6)?.parse::<u64>().ok())
        .sum();
    assert_eq!(ios, done, "{report}");

    let (report, done) = around(
        &["iostat", "--cgroups", name, "5", "1"],
        work.path(),
        name,
        run,
    );
    // r/s and w/s of every cgroup's zram0 row, over 5 s, rounded to two decimals each.
    let per_second: f64 = report
        .lines()
        .filter_map(|l| {
            let fields: Vec<&str> = l.split_whitespace().collect();
            let at = fields.iter().position(|f| *f == "zram0")?;
            let number = |i: usize| fields.get(at + i)?.parse::<f64>().ok();
            Some(number(1)? + number(4)?)
        })
        .sum();
    assert!(
        (per_second * 5.0 - done as f64).abs() <= 1.0,
        "{done}\n{report}"
    );
}

#[test]
fn the_exporter_counts_a_bio_based_disk() {
    let _serial = serial();
    let zram = ZramDisk::new(64);
    let work = Scratch::new("bio-based-exporter");
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let listen = format!("127.0.0.1:{port}");
    let mut exporter = start(
        &["exporter", "--listen", &listen, "--interval", "0.5"],
        work.path(),
    );
    std::thread::sleep(Duration::from_millis(2000));
    let before = DiskCounters::read(zram.name());
    workload(zram.path_str());
    let done = DiskCounters::read(zram.name()).completions() - before.completions();
    std::thread::sleep(Duration::from_millis(1500));
    let scrape = Command::new("curl")
        .args(["-sf", &format!("http://{listen}/metrics")])
        .output()
        .expect("curl");
    // SAFETY: kill(2) on our own child.
    unsafe { libc::kill(exporter.id() as i32, libc::SIGTERM) };
    let _ = exporter.wait();
    let metrics = String::from_utf8_lossy(&scrape.stdout);
    let ios: f64 = metrics
        .lines()
        .filter(|l| l.starts_with("blkscope_cgroup_ios_total{") && l.contains("device=\"zram0\""))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    assert_eq!(ios as u64, done, "{metrics}");
}

/// Waits until the disk's counters stay the same for a second (at most 20 s).
fn quiet(disk: &str) {
    let _ = Command::new("sync").status();
    let mut last = DiskCounters::read(disk);
    for _ in 0..20 {
        std::thread::sleep(Duration::from_millis(1000));
        let now = DiskCounters::read(disk);
        if now == last {
            return;
        }
        last = now;
    }
}

#[test]
fn a_file_system_on_a_bio_based_disk_is_counted() {
    let _serial = serial();
    let zram = ZramDisk::new(64);
    // Inode tables and journal zeroed by mkfs, not later by the kernel: zram does not count
    // the write-zeroes (nor discards) it is sent in /proc/diskstats, though they are I/Os,
    // which blkscope counts (docs/kernel.md).
    let fs = Ext4Mount::made_with(
        zram.path_str(),
        "ext4",
        &["-E", "lazy_itable_init=0,lazy_journal_init=0,nodiscard"],
    );
    let work = Scratch::new("bio-based-fs");
    let files = fs.dir().to_path_buf();
    // A fresh mount writes on its own for a moment (its journal, its superblock): start once
    // the disk is quiet, so that what the view counts and what diskstats counts are the same
    // I/O.
    quiet(zram.name());
    let (report, window) = bracketed(
        &["biolatency", "-D", "-d", zram.name(), "5", "1"],
        work.path(),
        zram.name(),
        || {
            for i in 0..8 {
                let status = Command::new("dd")
                    .args([
                        "if=/dev/zero",
                        &format!("of={}", files.join(format!("f{i}")).display()),
                        "bs=64k",
                        "count=4",
                        "conv=fsync",
                    ])
                    .stderr(Stdio::null())
                    .status()
                    .expect("dd");
                assert!(status.success());
            }
        },
    );
    assert!(window.from_work >= 8, "{}", window.from_work);
    // ext4 may write on its own (a journal commit) in the second and a half between the view
    // attaching and the workload starting: the view sees that I/O too, and none outside its run.
    let counted = histogram_count(&report, "disk = zram0");
    assert!(
        (window.from_work..=window.whole).contains(&counted),
        "{counted} outside {}..={}\n{report}",
        window.from_work,
        window.whole
    );
}

#[test]
fn a_recording_of_a_bio_based_disk_is_read_by_biosnoop_and_biolatency() {
    let _serial = serial();
    let zram = ZramDisk::new(64);
    let work = Scratch::new("bio-based-record");
    let (_, done) = around(
        &["record", "-d", zram.path_str(), "-o", "t", "-w", "5"],
        work.path(),
        zram.name(),
        || workload(zram.path_str()),
    );
    let offline = |args: &[&str]| finish(start(args, work.path()));
    let lines = offline(&["biosnoop", "-i", "t"])
        .lines()
        .filter(|l| l.contains(" W ") || l.contains(" R "))
        .count() as u64;
    assert_eq!(lines, done);
    let report = offline(&["biolatency", "-D", "-i", "t"]);
    let counted: u64 = report
        .lines()
        .filter(|l| l.contains("->"))
        .filter_map(|l| {
            l.split(':')
                .nth(1)?
                .split_whitespace()
                .next()?
                .parse::<u64>()
                .ok()
        })
        .sum();
    assert_eq!(counted, done, "{report}");
}

/// One event as the probes give it.
fn event(action: Action, t: u64, device: DeviceId, sector: u64, id: u64) -> BlockIoEvent {
    BlockIoEvent {
        time_ns: t * 1_000,
        cpu: 0,
        action,
        device,
        sector,
        bytes: 4096,
        op: Operation::Write,
        flags: OpFlags::default(),
        status: 0,
        pid: 4242,
        tgid: 4242,
        comm: "app".into(),
        cgroup_id: 1,
        bio_cgroup_id: 0,
        request_id: id,
        from_bio: matches!(action, Action::Queue | Action::Remap),
        remapped_from: None,
        split_sector: None,
        depth: 0,
        file: None,
    }
}

/// dm-0 over a disk: the events the kernel gives for one write on dm-0, as
/// recorded. biosnoop shows the I/O once on each device, each with its own latency, and with
/// `--stack` the disk's line names dm-0.
#[test]
fn a_stacked_device_and_its_disk_each_show_their_io() {
    let work = Scratch::new("bio-based-stacked");
    // Majors 240-254 are for local, experimental use: no machine of ours has these, so the
    // recording names them MAJ,MIN as blkparse does.
    let (dm, disk) = (DeviceId::new(242, 0), DeviceId::new(241, 0));
    let mut remap = event(Action::Remap, 2, disk, 2148, 0xc10);
    remap.remapped_from = Some((dm, 100));
    let events = [
        event(Action::Queue, 1, dm, 100, 0xb10),
        remap,
        event(Action::Queue, 3, disk, 2148, 0xc10),
        event(Action::GetRequest, 4, disk, 2148, 0xc10),
        event(Action::Insert, 5, disk, 2148, 0x5e0),
        event(Action::Issue, 6, disk, 2148, 0x5e0),
        event(Action::Complete, 1006, disk, 2148, 0x5e0),
        event(Action::Complete, 1010, dm, 100, 0xb10),
    ];
    let clocks = Clocks {
        wall_ns: 1_700_000_000_000_000_000,
        monotonic_ns: 0,
    };
    let mut recorder = Recorder::new(RecordSettings::default(), clocks);
    let mut writer = BlktraceWriter::new(work.path(), "stacked");
    for e in &events {
        for t in recorder.records(e, 1, &mut |_| None) {
            writer.write(&t).expect("writing");
        }
    }
    writer.finish().expect("closing");
    let lines = |args: &[&str]| -> Vec<String> {
        finish(start(args, work.path()))
            .lines()
            .skip(1)
            .map(str::to_owned)
            .collect()
    };
    let plain = lines(&["biosnoop", "-i", "stacked"]);
    assert_eq!(plain.len(), 2, "{plain:?}");
    // The disk's request: issue to completion, 1 ms; dm-0's bio: queue to completion, 1.009 ms.
    assert!(
        plain[0].contains(" 241,0 ") && plain[0].ends_with("1.00"),
        "{plain:?}"
    );
    assert!(
        plain[1].contains(" 242,0 ") && plain[1].ends_with("1.01"),
        "{plain:?}"
    );
    assert!(plain.iter().all(|l| l.contains(" app ")), "{plain:?}");
    let stacked = lines(&["biosnoop", "--stack", "-i", "stacked"]);
    assert!(stacked[0].contains(" 242,0->241,0 "), "{stacked:?}");
    assert!(stacked[1].contains(" 242,0 "), "{stacked:?}");
}
