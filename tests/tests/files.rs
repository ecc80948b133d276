//! The file behind each I/O (`biosnoop --file`), on ext4 and xfs on a guarded loop device:
//! direct writes of file A (named through iomap's tracepoint), buffered writes of file B flushed
//! by `sync` (issued by a kworker), a cold read of file C (readahead). Every I/O whose sectors
//! fall in a file's extents (`filefrag -v -b512`) is named with that file, and no other I/O is.

use std::{
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::Duration,
};

use blkscope_tests::{Ext4Mount, LoopDevice, blkscope_binary, serial};
use serde_json::Value;

fn sh(line: &str) {
    let status = Command::new("sh")
        .args(["-c", line])
        .stderr(Stdio::null())
        .status()
        .expect("sh");
    assert!(status.success(), "{line}");
}

/// A file's extents on the device, in 512-byte sectors (inclusive ranges).
fn extents(path: &Path) -> Vec<(u64, u64)> {
    let out = Command::new("filefrag")
        .args(["-v", "-b512"])
        .arg(path)
        .output()
        .expect("filefrag");
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .filter_map(|line| {
            // "   0:        0..     511:      17026..     17537:    512:   last,eof"
            let physical = line.split(':').nth(2)?;
            let (start, end) = physical.split_once("..")?;
            Some((start.trim().parse().ok()?, end.trim().parse().ok()?))
        })
        .collect()
}

fn inside(extents: &[(u64, u64)], first: u64, sectors: u64) -> bool {
    let last = first + sectors.max(1) - 1;
    extents.iter().any(|(s, e)| first >= *s && last <= *e)
}

fn overlaps(extents: &[(u64, u64)], first: u64, sectors: u64) -> bool {
    let last = first + sectors.max(1) - 1;
    extents.iter().any(|(s, e)| first <= *e && last >= *s)
}

/// How the I/O is seen: live, or from a recording made with `record --files`.
#[derive(Clone, Copy, PartialEq)]
enum Seen {
    Live,
    Recorded,
}

fn files_named_on(fs_type: &str, seen: Seen) {
    let _serial = serial();
    // xfs wants 300 MB at least; the loop device's file is sparse in /dev/shm.
    let disk = LoopDevice::new(320);
    let fs = Ext4Mount::with_type(&disk, fs_type);
    let work = blkscope_tests::Scratch::new("files");
    let dir = fs.dir().to_path_buf();
    let [a, b, c]: [PathBuf; 3] = ["A", "B", "C"].map(|n| dir.join(n));
    let show = |p: &Path| p.display().to_string();
    sh(&format!(
        "dd if=/dev/urandom of={} bs=64k count=8 && sync",
        show(&c)
    ));
    sh(&format!(
        "dd if={} of=/dev/null iflag=nocache count=0",
        show(&c)
    ));
    let args: Vec<&str> = match seen {
        Seen::Live => vec!["biosnoop", "--file", "--json", "-d", disk.name(), "7"],
        Seen::Recorded => vec![
            "record",
            "--files",
            "-d",
            disk.path_str(),
            "-o",
            "t",
            "-w",
            "7",
        ],
    };
    let child = Command::new(blkscope_binary())
        .current_dir(work.path())
        .args(&args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("blkscope");
    std::thread::sleep(Duration::from_millis(2000));
    sh(&format!(
        "dd if=/dev/zero of={} bs=64k count=4 oflag=direct",
        show(&a)
    ));
    sh(&format!(
        "dd if=/dev/zero of={} bs=64k count=4 && sync",
        show(&b)
    ));
    sh(&format!("cat {} > /dev/null", show(&c)));
    let mut out = child.wait_with_output().expect("blkscope");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    if seen == Seen::Recorded {
        out = Command::new(blkscope_binary())
            .current_dir(work.path())
            .args(["biosnoop", "-i", "t", "--file", "--json"])
            .output()
            .expect("biosnoop -i");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        // Stock blkparse reads such a recording: a Q record's payload is not shown.
        let stock = Command::new("blkparse")
            .current_dir(work.path())
            .args(["-i", "t"])
            .output()
            .expect("blkparse");
        assert!(stock.status.success());
        assert!(String::from_utf8_lossy(&stock.stdout).contains("  Q  "));
    }
    let ios: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    assert!(
        ios.iter().all(|io| io.get("file").is_some()),
        "every line has \"file\""
    );
    if fs_type == "btrfs" {
        // filefrag gives btrfs's logical addresses, not the device's sectors: the bytes each
        // file's I/O moved are checked instead.
        for (path, kind, bytes) in [(&a, "W", 262_144), (&b, "W", 262_144), (&c, "R", 524_288)] {
            let named: Vec<&Value> = ios
                .iter()
                .filter(|io| io["file"].as_str() == Some(show(path).as_str()))
                .collect();
            assert!(named.iter().all(|io| io["direction"] == kind), "{named:?}");
            let moved: u64 = named.iter().filter_map(|io| io["bytes"].as_u64()).sum();
            assert_eq!(moved, bytes, "{}: {named:?}", show(path));
        }
        return;
    }
    for (path, kind) in [(&a, "W"), (&b, "W"), (&c, "R")] {
        let extents = extents(path);
        assert!(!extents.is_empty(), "{}", show(path));
        let named: Vec<&Value> = ios
            .iter()
            .filter(|io| io["file"].as_str() == Some(show(path).as_str()))
            .collect();
        assert!(!named.is_empty(), "no I/O named {}:\n{ios:#?}", show(path));
        for io in &ios {
            let sector = io["sector"].as_u64().unwrap_or(0);
            let sectors = io["bytes"].as_u64().unwrap_or(0) / 512;
            let says = io["file"].as_str();
            if says == Some(show(path).as_str()) {
                assert!(
                    inside(&extents, sector, sectors),
                    "{io} is not in {extents:?}"
                );
                assert_eq!(io["direction"], kind, "{io}");
            } else if sectors > 0 && overlaps(&extents, sector, sectors) {
                panic!(
                    "{io} is in {}'s extents {extents:?} but names {says:?}",
                    show(path)
                );
            }
        }
    }
}

#[test]
fn ext4_names_direct_buffered_and_readahead_io() {
    files_named_on("ext4", Seen::Live);
}

#[test]
fn a_recording_made_with_files_names_them_in_biosnoop() {
    files_named_on("ext4", Seen::Recorded);
}

#[test]
fn xfs_names_direct_buffered_and_readahead_io() {
    files_named_on("xfs", Seen::Live);
}

/// `biotop --files`: rows per file with the bytes each file's I/O moved.
#[test]
fn biotop_rows_per_file() {
    let _serial = serial();
    let disk = LoopDevice::new(64);
    let fs = Ext4Mount::new(&disk);
    let (a, b) = (fs.dir().join("A"), fs.dir().join("B"));
    let child = Command::new(blkscope_binary())
        .args([
            "biotop",
            "--files",
            "--batch",
            "-C",
            "-d",
            disk.name(),
            "6",
            "1",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("biotop");
    std::thread::sleep(Duration::from_millis(2000));
    sh(&format!(
        "dd if=/dev/zero of={} bs=64k count=4 oflag=direct",
        a.display()
    ));
    sh(&format!(
        "dd if=/dev/zero of={} bs=64k count=8 && sync",
        b.display()
    ));
    let out = child.wait_with_output().expect("biotop");
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(report.contains("AVGms FILE\n"), "{report}");
    let kib = |path: &Path| -> f64 {
        report
            .lines()
            .filter(|l| l.ends_with(&format!(" {}", path.display())))
            .filter_map(|l| l.split_whitespace().nth(5)?.parse::<f64>().ok())
            .sum()
    };
    assert_eq!(kib(&a), 256.0, "{report}");
    assert_eq!(kib(&b), 512.0, "{report}");
}

#[test]
fn btrfs_names_direct_buffered_and_readahead_io() {
    files_named_on("btrfs", Seen::Live);
}

/// Asynchronous direct I/O (io_uring): its bios are named with the file too.
#[test]
fn io_uring_direct_writes_name_their_file() {
    let _serial = serial();
    let disk = LoopDevice::new(64);
    let fs = Ext4Mount::new(&disk);
    let file = fs.dir().join("D");
    let child = Command::new(blkscope_binary())
        .args(["biosnoop", "--file", "--json", "-d", disk.name(), "6"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("biosnoop");
    std::thread::sleep(Duration::from_millis(2000));
    sh(&format!(
        "fio --name=d --filename={} --rw=write --bs=64k --size=256k --ioengine=io_uring \
         --iodepth=4 --direct=1 --output=/dev/null",
        file.display()
    ));
    let out = child.wait_with_output().expect("biosnoop");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let extents = extents(&file);
    let ios: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    let mut named = 0;
    for io in &ios {
        let sector = io["sector"].as_u64().unwrap_or(0);
        let sectors = io["bytes"].as_u64().unwrap_or(0) / 512;
        if sectors > 0 && overlaps(&extents, sector, sectors) {
            assert_eq!(io["file"].as_str(), Some(file.to_str().unwrap()), "{io}");
            named += io["bytes"].as_u64().unwrap_or(0);
        }
    }
    assert_eq!(named, 262_144, "{ios:#?}");
}
