//! `blkscope ext4slower` and `ext4dist` against the real kernel, on a guarded ext4 loop mount.
//! The test itself is the workload: it knows every operation, offset and size, and times each
//! call with its own clock.

use std::{
    fs::{File, OpenOptions},
    io::{Read as _, Write as _},
    os::unix::fs::FileExt as _,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use blkscope_tests::{Ext4Mount, LoopDevice, blkscope_binary, serial};
use serde_json::Value;

fn start(view: &str, args: &[&str]) -> Child {
    let child = Command::new(blkscope_binary())
        .arg(view)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting blkscope");
    std::thread::sleep(Duration::from_millis(2000));
    child
}

fn stop(child: Child) -> String {
    stop_with_stderr(child).0
}

/// `stop`, with what the view wrote on stderr.
fn stop_with_stderr(child: Child) -> (String, String) {
    std::thread::sleep(Duration::from_millis(300));
    // SAFETY: kill(2) on our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let out = child.wait_with_output().expect("waiting for blkscope");
    assert!(
        out.status.success(),
        "blkscope failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn json_lines(text: &str) -> Vec<Value> {
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

/// Times one call with the test's own clock.
fn timed<T>(call: impl FnOnce() -> T) -> (T, Duration) {
    let start = Instant::now();
    let value = call();
    (value, start.elapsed())
}

#[test]
fn known_operations_show_up_with_names_sizes_offsets_and_latencies() {
    let _serial = serial();
    let disk = LoopDevice::new(128);
    let fs = Ext4Mount::new(&disk);
    std::fs::create_dir(fs.dir().join("data")).unwrap();
    let pid = std::process::id().to_string();
    let mount = fs.dir().to_str().unwrap().to_owned();
    let outside = std::env::temp_dir().join(format!("blkscope-outside-{pid}"));
    let shm = std::path::PathBuf::from(format!("/dev/shm/blkscope-outside-{pid}"));

    let snoop = start(
        "ext4slower",
        &["-p", &pid, "--json", "--mount", &mount, "0"],
    );
    let path = fs.dir().join("data/known.bin");
    let (file, open_time) = timed(|| {
        OpenOptions::new()
            .create(true)
            .truncate(true)
            .read(true)
            .write(true)
            .open(&path)
            .unwrap()
    });
    file.write_at(&[7u8; 8192], 40960).unwrap();
    file.write_at(&[8u8; 4096], 4096).unwrap();
    let (_, sync_time) = timed(|| file.sync_all().unwrap());
    let mut buffer = vec![0u8; 4096];
    file.read_at(&mut buffer, 4096).unwrap();
    let mut plain = File::open(&path).unwrap();
    let mut first = vec![0u8; 1024];
    plain.read_exact(&mut first).unwrap();
    plain.read_exact(&mut first).unwrap();
    // The same operations elsewhere must not show up: the root file system and tmpfs.
    for other in [&outside, &shm] {
        let mut f = File::create(other).unwrap();
        f.write_all(b"elsewhere").unwrap();
        f.sync_all().unwrap();
    }
    drop((file, plain));
    let events = json_lines(&stop(snoop));
    let _ = std::fs::remove_file(&outside);
    let _ = std::fs::remove_file(&shm);

    let ops: Vec<(String, u64, u64, String)> = events
        .iter()
        .map(|e| {
            (
                e["op"].as_str().unwrap().to_owned(),
                e["bytes"].as_u64().unwrap(),
                e["offset"].as_u64().unwrap(),
                e["file"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let known =
        |op: &str, bytes: u64, offset: u64| (op.to_owned(), bytes, offset, "known.bin".to_owned());
    assert_eq!(
        ops,
        vec![
            known("O", 0, 0),
            known("W", 8192, 40960),
            known("W", 4096, 4096),
            known("S", 0, 0),
            known("R", 4096, 4096),
            known("O", 0, 0),
            known("R", 1024, 0),
            known("R", 1024, 1024),
        ],
        "{events:#?}"
    );
    assert!(
        events.iter().all(|e| e["path"] == path.to_str().unwrap()),
        "full paths: {events:#?}"
    );
    assert!(events.iter().all(|e| e["pid"] == std::process::id()));

    // The probe times the syscall; the test's clock adds only the call's own overhead.
    let latency = |i: usize| Duration::from_micros(events[i]["latency_us"].as_u64().unwrap());
    for (index, measured) in [(0, open_time), (3, sync_time)] {
        assert!(
            latency(index) <= measured,
            "{:?} > {measured:?}",
            latency(index)
        );
        assert!(
            measured - latency(index) < Duration::from_millis(5),
            "{:?} vs {measured:?}",
            latency(index)
        );
    }
}

#[test]
fn a_threshold_keeps_only_slower_operations() {
    let _serial = serial();
    // Big enough that the slow fsync stays slow on a fast machine (loop on tmpfs).
    let disk = LoopDevice::new(1024);
    let fs = Ext4Mount::new(&disk);
    let pid = std::process::id().to_string();
    let mount = fs.dir().to_str().unwrap().to_owned();
    let snoop = start(
        "ext4slower",
        &["-p", &pid, "--json", "--mount", &mount, "5"],
    );
    // Fast: small reads of a cached file. Slow: fsync of 512 MiB written through the cache
    // (128 MiB once flushed in under 5 ms on a CI machine).
    let small = fs.dir().join("small");
    std::fs::write(&small, [1u8; 4096]).unwrap();
    let file = File::open(&small).unwrap();
    let mut buffer = [0u8; 512];
    for i in 0..20 {
        file.read_at(&mut buffer, i * 128).unwrap();
    }
    let mut big = File::create(fs.dir().join("big")).unwrap();
    let chunk = vec![9u8; 1 << 20];
    for _ in 0..512 {
        big.write_all(&chunk).unwrap();
    }
    let (_, sync_time) = timed(|| big.sync_all().unwrap());
    let events = json_lines(&stop(snoop));
    assert!(
        sync_time > Duration::from_millis(5),
        "the workload's fsync was not slow ({sync_time:?})"
    );
    assert!(
        events
            .iter()
            .all(|e| e["latency_us"].as_u64().unwrap() > 5000),
        "{events:#?}"
    );
    assert!(
        events.iter().any(|e| e["op"] == "S" && e["file"] == "big"),
        "{events:#?}"
    );
    assert!(
        !events.iter().any(|e| e["file"] == "small"),
        "fast reads leaked in: {events:#?}"
    );
}

#[test]
fn ext4dist_counts_each_operation() {
    let _serial = serial();
    let disk = LoopDevice::new(64);
    let fs = Ext4Mount::new(&disk);
    let pid = std::process::id().to_string();
    let mount = fs.dir().to_str().unwrap().to_owned();
    let dist = start("ext4dist", &["-p", &pid, "--mount", &mount]);
    let file = OpenOptions::new()
        .create(true)
        .truncate(true)
        .read(true)
        .write(true)
        .open(fs.dir().join("d"))
        .unwrap();
    for i in 0..7 {
        file.write_at(&[1u8; 4096], i * 4096).unwrap();
    }
    let mut buffer = [0u8; 4096];
    for i in 0..5 {
        file.read_at(&mut buffer, i * 4096).unwrap();
    }
    file.sync_all().unwrap();
    let (text, banner) = stop_with_stderr(dist);
    // bcc's banner, on stderr once the probes are attached; stdout holds the histograms.
    assert!(
        banner.starts_with("Tracing ext4 operation latency... Hit Ctrl-C to end.\n")
            && !text.contains("Tracing"),
        "{banner}{text}"
    );
    let count = |op: &str| -> u64 {
        let section = text
            .split(&format!("operation = {op}\n"))
            .nth(1)
            .unwrap_or_else(|| panic!("no {op}:\n{text}"));
        section
            .lines()
            .skip(1)
            .take_while(|l| l.contains(" -> "))
            .map(|l| {
                l.split(':')
                    .nth(1)
                    .unwrap()
                    .split('|')
                    .next()
                    .unwrap()
                    .trim()
                    .parse::<u64>()
                    .unwrap()
            })
            .sum()
    };
    assert_eq!(count("read"), 5, "{text}");
    assert_eq!(count("write"), 7, "{text}");
    assert_eq!(count("open"), 1, "{text}");
    assert_eq!(count("fsync"), 1, "{text}");
}

/// The same mechanism on the other file systems built into the kernel (`--fs`).
fn other_file_system(fs_type: &str, size_mib: u64) {
    let _serial = serial();
    let disk = LoopDevice::new(size_mib);
    let fs = Ext4Mount::with_type(&disk, fs_type);
    let pid = std::process::id().to_string();
    let mount = fs.dir().to_str().unwrap().to_owned();
    let snoop = start(
        "ext4slower",
        &[
            "--fs", fs_type, "-p", &pid, "--json", "--mount", &mount, "0",
        ],
    );
    let path = fs.dir().join("other.bin");
    let file = OpenOptions::new()
        .create(true)
        .truncate(true)
        .read(true)
        .write(true)
        .open(&path)
        .unwrap();
    file.write_at(&[3u8; 4096], 8192).unwrap();
    file.sync_all().unwrap();
    let mut buffer = [0u8; 4096];
    file.read_at(&mut buffer, 8192).unwrap();
    drop(file);
    let events = json_lines(&stop(snoop));
    let ops: Vec<(&str, u64, u64)> = events
        .iter()
        .filter(|e| e["file"] == "other.bin")
        .map(|e| {
            (
                e["op"].as_str().unwrap(),
                e["bytes"].as_u64().unwrap(),
                e["offset"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        ops,
        vec![
            ("O", 0, 0),
            ("W", 4096, 8192),
            ("S", 0, 0),
            ("R", 4096, 8192)
        ],
        "{events:#?}"
    );
}

#[test]
fn xfs_files_with_fs_xfs() {
    other_file_system("xfs", 320);
}

#[test]
fn btrfs_files_with_fs_btrfs() {
    other_file_system("btrfs", 256);
}
