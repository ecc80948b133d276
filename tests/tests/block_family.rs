//! bitesize and biopattern against the real kernel and libbpf-tools' own bitesize and
//! biopattern, on a guarded loop device with workloads of known shapes, live and over a
//! recording made of the same I/Os.

use std::{
    collections::BTreeMap,
    path::Path,
    process::{Child, Command, Output, Stdio},
    time::Duration,
};

use blkscope_tests::{
    BlkioCgroup, Cgroup, Ext4Mount, LoopDevice, Scratch, ZramDisk, blkscope_binary, require_root,
    running::{start_blkscope, start_record, stop_blkscope},
    serial,
};

/// libbpf-tools' `tool ARGS`, started and given time to attach.
fn start_theirs(tool: &str, args: &[&str]) -> Child {
    let child = Command::new(tool)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("libbpf-tools {tool} (apt-get install libbpf-tools): {e}"));
    std::thread::sleep(Duration::from_millis(1500));
    child
}

/// SIGINT (libbpf-tools print their report on it), then the output.
fn stop_theirs(child: Child) -> String {
    std::thread::sleep(Duration::from_millis(300));
    // SAFETY: kill(2) on our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let out = child.wait_with_output().expect("waiting for libbpf-tools");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `blkscope ARGS` over the recording in `dir`.
fn over_recording(dir: &Path, args: &[&str]) -> String {
    let out = Command::new(blkscope_binary())
        .current_dir(dir)
        .args(args)
        .args(["-i", "trace"])
        .output()
        .expect("running blkscope");
    assert!(out.status.success(), "{args:?} -i trace: {out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn shell(line: &str) {
    let status = Command::new("sh")
        .args(["-c", line])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("sh");
    assert!(status.success(), "{line}");
}

fn text(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The `low -> high : count` rows of the histogram under `title` (e.g. "Process Name = dd").
fn histogram(report: &str, title: &str) -> BTreeMap<String, u64> {
    report
        .lines()
        .skip_while(|l| l.trim() != title)
        .skip(2)
        .take_while(|l| l.contains(" -> "))
        .filter_map(|l| {
            let (range, rest) = l.split_once(':')?;
            let count = rest.split('|').next()?.trim().parse().ok()?;
            Some((
                range.split_whitespace().collect::<Vec<_>>().join(" "),
                count,
            ))
        })
        .filter(|(_, count)| *count > 0)
        .collect()
}

#[test]
fn bitesize_counts_each_size_where_libbpf_tools_does_and_so_does_a_recording() {
    require_root();
    let _serial = serial();
    let disk = LoopDevice::new(64);
    let work = Scratch::new("bitesize");
    let record = start_record(work.path(), &["-d", disk.path_str(), "-o", "trace"]);
    let theirs = start_theirs("bitesize", &["-d", disk.name(), "-c", "dd"]);
    let ours = start_blkscope(&["bitesize", "-d", disk.path_str()], &[]);
    let by_size = start_blkscope(&["biolatency", "--size", "-d", disk.path_str()], &[]);
    let dev = disk.path_str();
    shell(&format!(
        "dd if={dev} of=/dev/null bs=4k count=40 iflag=direct && \
         dd if={dev} of=/dev/null bs=128k count=9 skip=8 iflag=direct"
    ));
    let ours = text(&stop_blkscope(ours));
    let by_size = text(&stop_blkscope(by_size));
    let theirs = stop_theirs(theirs);
    stop_blkscope(record);

    let expected = BTreeMap::from([("4 -> 7".to_owned(), 40), ("128 -> 255".to_owned(), 9)]);
    let title = "Process Name = dd";
    assert_eq!(histogram(&ours, title), expected, "ours:\n{ours}");
    assert_eq!(
        histogram(&theirs, title),
        expected,
        "libbpf-tools:\n{theirs}"
    );
    let recorded = over_recording(work.path(), &["bitesize"]);
    assert_eq!(histogram(&recorded, title), expected, "-i:\n{recorded}");

    // biolatency --size: a latency histogram per size class, holding the same I/Os.
    let ios_of = |report: &str, class: &str| -> u64 {
        histogram(report, &format!("size = {class} KiB"))
            .values()
            .sum()
    };
    for report in [
        &by_size,
        &over_recording(work.path(), &["biolatency", "--size"]),
    ] {
        assert_eq!(ios_of(report, "4 -> 7"), 40, "{report}");
        assert_eq!(ios_of(report, "128 -> 255"), 9, "{report}");
        assert!(
            report.find("size = 4 -> 7 KiB") < report.find("size = 128 -> 255 KiB"),
            "{report}"
        );
    }
}

/// The report line of `row` (its first words) in a biopattern report.
fn pattern_line<'a>(report: &'a str, row: &str) -> &'a str {
    report
        .lines()
        .find(|l| l.starts_with(row))
        .unwrap_or_else(|| panic!("no {row} line in:\n{report}"))
}

/// `%RND %SEQ COUNT KBYTES` of a report line.
fn pattern_numbers(line: &str) -> Vec<u64> {
    let words: Vec<&str> = line.split_whitespace().collect();
    words[words.len() - 4..]
        .iter()
        .map(|w| w.parse().expect("a number"))
        .collect()
}

#[test]
fn biopattern_tells_sequential_from_random_as_libbpf_tools_does_and_so_does_a_recording() {
    require_root();
    let _serial = serial();
    let disk = LoopDevice::new(64);
    let work = Scratch::new("biopattern");
    let record = start_record(work.path(), &["-d", disk.path_str(), "-o", "trace"]);
    let theirs = start_theirs("biopattern", &["-d", disk.name()]);
    let per_disk = start_blkscope(&["biopattern", "-d", disk.path_str()], &[]);
    let per_process = start_blkscope(&["biopattern", "--processes", "-d", disk.path_str()], &[]);
    let dev = disk.path_str();
    // 100 sequential 64 KiB reads, then 100 random 4 KiB reads.
    shell(&format!(
        "dd if={dev} of=/dev/null bs=64k count=100 iflag=direct && \
         fio --name=random --filename={dev} --rw=randread --bs=4k --direct=1 \
             --ioengine=psync --io_size=400k --randseed=7"
    ));
    let per_disk = text(&stop_blkscope(per_disk));
    let per_process = text(&stop_blkscope(per_process));
    let theirs = stop_theirs(theirs);
    stop_blkscope(record);

    let name = disk.name();
    // The disk: identical to libbpf-tools' line.
    assert_eq!(
        pattern_line(&per_disk, name),
        pattern_line(&theirs, name),
        "ours:\n{per_disk}\nlibbpf-tools:\n{theirs}"
    );
    // Per process: dd's reads all sequential (its first sets the position), fio's almost
    // none.
    let dd = pattern_numbers(pattern_line(&per_process, &format!("{name:<7} dd ")));
    assert_eq!(dd, vec![0, 100, 99, 99 * 64], "{per_process}");
    let fio = pattern_numbers(pattern_line(&per_process, &format!("{name:<7} fio ")));
    assert!(fio[0] >= 95 && fio[2] == 99, "{per_process}");

    // The recording of the same I/Os gives the same lines.
    let recorded = over_recording(work.path(), &["biopattern", "-d", dev]);
    assert_eq!(pattern_line(&recorded, name), pattern_line(&per_disk, name));
    let recorded = over_recording(work.path(), &["biopattern", "--processes", "-d", dev]);
    for process in ["dd ", "fio "] {
        let row = format!("{name:<7} {process}");
        assert_eq!(
            pattern_numbers(pattern_line(&recorded, &row)),
            pattern_numbers(pattern_line(&per_process, &row)),
            "{process}: recorded\n{recorded}\nlive\n{per_process}"
        );
    }
}

/// One slow I/O made without device-mapper: a loop device doing direct I/O to a file on an
/// ext4 on another loop device, read by a task whose blkio cgroup may read that lower device
/// at 32 KiB/s. The upper loop device's worker issues the lower I/O in the reader's cgroup, so
/// one 64 KiB read on the upper device takes some two seconds from issue to completion, and
/// every other I/O a fraction of a millisecond. With four seconds kept on each side, the
/// capture holds the reads just before the slow one (issued two seconds before it completed)
/// and just after it, and not those five seconds later.
#[test]
fn a_flight_recorder_writes_one_recording_around_one_slow_io() {
    require_root();
    let _serial = serial();
    let lower = LoopDevice::new(96);
    let fs = Ext4Mount::new(&lower);
    let file = fs.dir().join("backing");
    shell(&format!(
        "dd if=/dev/urandom of={} bs=1M count=16 && sync",
        file.display()
    ));
    let upper = LoopDevice::over_file_direct(&file);
    let slow = BlkioCgroup::nested(&format!("blkscope-test-slow-{}", std::process::id()));
    let lower_id = lower.device_id();
    slow.set(
        "blkio.throttle.read_bps_device",
        &format!("{}:{} 32768", lower_id.major, lower_id.minor),
    );
    let work = Scratch::new("flight");
    let record = start_record(
        work.path(),
        &[
            "-d",
            upper.path_str(),
            "-o",
            "flight",
            "--trigger",
            "500",
            "--keep",
            "4",
        ],
    );
    let dev = upper.path_str();
    let fast = |skip: u32| {
        shell(&format!(
            "dd if={dev} of=/dev/null bs=4k count=20 skip={skip} iflag=direct"
        ))
    };
    fast(0);
    shell(&format!(
        "echo $$ > {} && exec dd if={dev} of=/dev/null bs=64k count=1 skip=100 iflag=direct",
        slow.procs_path()
    ));
    fast(1000);
    // Past the capture's four seconds after the slow I/O, then more fast I/O, not captured.
    std::thread::sleep(Duration::from_millis(4500));
    fast(2000);
    let out = stop_blkscope(record);
    let summary = text(&out);
    assert!(
        summary.contains("Triggered 1 times (I/Os slower than 500 ms): 1 recordings"),
        "{summary}"
    );
    assert!(
        work.path().join("flight.1.blktrace.0").exists(),
        "{summary}"
    );
    assert!(!work.path().join("flight.2.blktrace.0").exists());

    // The capture, as stock blkparse reads it: the slow read, the fast reads before and after
    // it, and none of those after the window.
    let parsed = Command::new("blkparse")
        .args(["-i", "flight.1", "-a", "complete", "-f", "%S %n\n"])
        .current_dir(work.path())
        .output()
        .expect("blkparse");
    let completions: Vec<(u64, u64)> = String::from_utf8_lossy(&parsed.stdout)
        .lines()
        .filter_map(|l| {
            let (sector, sectors) = l.split_once(' ')?;
            Some((sector.parse().ok()?, sectors.trim().parse().ok()?))
        })
        .collect();
    let count_in = |first: u64| {
        completions
            .iter()
            .filter(|(s, n)| *n == 8 && (first..first + 160).contains(s))
            .count()
    };
    assert!(
        completions.contains(&(12800, 128)),
        "the slow read: {completions:?}"
    );
    assert_eq!(count_in(0), 20, "the reads before it: {completions:?}");
    assert_eq!(count_in(8000), 20, "the reads after it: {completions:?}");
    assert_eq!(
        count_in(16000),
        0,
        "nothing past the window: {completions:?}"
    );
}

#[test]
fn biostacks_names_the_read_path_of_a_direct_read() {
    require_root();
    let _serial = serial();
    let disk = LoopDevice::new(64);
    let text_view = start_blkscope(&["biostacks", "-d", disk.path_str()], &[]);
    let folded_view = start_blkscope(&["biostacks", "--folded", "-d", disk.path_str()], &[]);
    let containers_view =
        start_blkscope(&["biostacks", "--containers", "-d", disk.path_str()], &[]);
    let cgroup = Cgroup::new("stacks");
    cgroup.exec(&format!(
        "dd if={} of=/dev/null bs=4k count=20 iflag=direct",
        disk.path_str()
    ));
    let report = text(&stop_blkscope(text_view));
    let folded = text(&stop_blkscope(folded_view));
    let per_container = text(&stop_blkscope(containers_view));
    let header = per_container
        .lines()
        .find(|l| l.starts_with("dd "))
        .unwrap_or_else(|| panic!("no dd stack in:\n{per_container}"));
    assert!(header.contains("blkscope-test-stacks"), "{header}");

    // libbpf-tools' layout: `COMM PID DISK`, the frames innermost first, the histogram.
    let block: Vec<&str> = report
        .lines()
        .skip_while(|l| !l.starts_with("dd "))
        .take_while(|l| !l.is_empty())
        .collect();
    assert!(
        block
            .first()
            .is_some_and(|l| l.ends_with(disk.name()) || l.contains(disk.name())),
        "{report}"
    );
    let frames: Vec<&str> = block
        .iter()
        .skip(1)
        .take_while(|l| !l.contains("usecs"))
        .copied()
        .collect();
    assert!(
        frames.iter().any(|f| f.starts_with("submit_bio")),
        "{report}"
    );
    assert!(
        frames.contains(&"blkdev_read_iter"),
        "the block device read path: {report}"
    );
    let submit = frames.iter().position(|f| f.starts_with("submit_bio"));
    let read = frames.iter().position(|f| *f == "blkdev_read_iter");
    assert!(submit < read, "innermost first: {report}");
    let ios: u64 = block
        .iter()
        .filter(|l| l.contains(" -> "))
        .filter_map(|l| {
            l.split(':')
                .nth(1)?
                .split('|')
                .next()?
                .trim()
                .parse::<u64>()
                .ok()
        })
        .sum();
    assert_eq!(ios, 20, "{report}");

    // Folded: the same stack, outermost first, with its 20 I/Os.
    let line = folded
        .lines()
        .find(|l| l.starts_with("dd;") && l.contains(";blkdev_read_iter;"))
        .unwrap_or_else(|| panic!("no dd stack through blkdev_read_iter in:\n{folded}"));
    assert!(line.ends_with(" 20"), "{line}");
}

/// A bio-based disk (zram: bios, never requests) is counted per bio, by both views.
#[test]
fn bitesize_and_biopattern_count_a_bio_based_disk() {
    require_root();
    let _serial = serial();
    let zram = ZramDisk::new(64);
    let sizes = start_blkscope(&["bitesize", "-d", zram.path_str()], &[]);
    let pattern = start_blkscope(&["biopattern", "-d", zram.path_str()], &[]);
    let dev = zram.path_str();
    // 30 reads of 4 KiB from sector 0, then 20 of 64 KiB from sector 1280: one jump.
    shell(&format!(
        "dd if={dev} of=/dev/null bs=4k count=30 iflag=direct && \
         dd if={dev} of=/dev/null bs=64k count=20 skip=10 iflag=direct"
    ));
    let sizes = text(&stop_blkscope(sizes));
    let pattern = text(&stop_blkscope(pattern));
    let expected = BTreeMap::from([("4 -> 7".to_owned(), 30), ("64 -> 127".to_owned(), 20)]);
    assert_eq!(histogram(&sizes, "Process Name = dd"), expected, "{sizes}");
    // 49 counted (the first sets the position), 1 of them random; 29 x 4 + 20 x 64 KiB.
    assert_eq!(
        pattern_numbers(pattern_line(&pattern, zram.name())),
        vec![2, 97, 49, 29 * 4 + 20 * 64],
        "{pattern}"
    );
}
