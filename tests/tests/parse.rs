//! `blkscope parse` against stock blkparse 1.2 on this machine: traces our writer makes (every
//! action, payload, option) and the real kernel traces in ../shared/fixtures/blktrace print byte
//! for byte the same; broken input gives an error naming file and offset after all valid output.

use std::path::Path;
use std::process::{Command, Output, Stdio};

use blkscope::blktrace::format::{Endian, Trace, make_dev};
use blkscope::blktrace::synthetic::{SyntheticSpec, generate};
use blkscope::blktrace::{BlktraceWriter, RecordReader};
use blkscope_tests::{Scratch, blkscope_binary};

fn blkparse_available() {
    let found = Command::new("blkparse").arg("-V").output();
    assert!(
        found.is_ok(),
        "stock blkparse is not installed (apt-get install blktrace; ./x setup installs it)"
    );
}

/// Writes `traces` as NAME.blktrace.CPU in `dir`, in the given byte order.
fn write_trace(dir: &Path, name: &str, traces: &[Trace], endian: Endian) {
    let mut w = BlktraceWriter::with_endian(dir, name, endian);
    for t in traces {
        w.write(t).unwrap();
    }
    w.finish().unwrap();
}

/// Writes `traces` as one stream (what `blktrace -o -` pipes).
fn write_stream(path: &Path, traces: &[Trace]) {
    let mut bytes = Vec::new();
    for t in traces {
        bytes.extend(t.encode(Endian::NATIVE));
    }
    std::fs::write(path, bytes).unwrap();
}

fn run(program: &[&str], args: &[&str], dir: &Path, stdin: Option<&Path>) -> Output {
    let mut cmd = if program[0] == "blkscope" {
        let mut c = Command::new(blkscope_binary());
        c.arg("parse");
        c
    } else {
        Command::new(program[0])
    };
    cmd.args(args).current_dir(dir);
    if let Some(f) = stdin {
        cmd.stdin(Stdio::from(std::fs::File::open(f).unwrap()));
    }
    cmd.output().unwrap()
}

/// Runs both on the same input and asserts the same stdout and exit status.
fn same(dir: &Path, args: &[&str], stdin: Option<&Path>) {
    let theirs = run(&["blkparse"], args, dir, stdin);
    let ours = run(&["blkscope"], args, dir, stdin);
    let (t, o) = (
        String::from_utf8_lossy(&theirs.stdout),
        String::from_utf8_lossy(&ours.stdout),
    );
    if t != o {
        let first = t
            .lines()
            .zip(o.lines())
            .enumerate()
            .find(|(_, (a, b))| a != b);
        panic!(
            "blkparse {args:?}: output differs ({} vs {} bytes); first different line: {first:?}\nstderr: {}",
            t.len(),
            o.len(),
            String::from_utf8_lossy(&ours.stderr)
        );
    }
    assert_eq!(
        theirs.status.code(),
        ours.status.code(),
        "exit status of blkparse {args:?}"
    );
    assert!(
        !t.is_empty() || args.contains(&"-O"),
        "nothing printed for {args:?}"
    );
}

/// Option sets compared on every trace. (-t is compared by the `track_ios` tests, which allow
/// blkparse's garbage times; %U on records without a payload prints uninitialised memory in
/// blkparse and is compared where defined.)
const OPTION_SETS: &[&[&str]] = &[
    &[],
    &["-s"],
    &["-s", "-h"],
    &["-q"],
    &["-q", "-s"],
    &["-a", "write"],
    &["-a", "issue", "-a", "complete"],
    &["-a", "BLK_TC_PC"],
    &["-A", "0x81"],
    &["-w", "0.5"],
    &["-w", "0.2:0.9"],
    &[
        "-f",
        "%D %2c %8s %5T.%9t %5p %2a %3d %S %n %N %e %C %M %m %s %P %z|%-6a|%10C|%-10C|%%|%4t|%x\\n",
    ],
    &[
        "-F",
        "Q,queue %S+%n [%C]\\n",
        "-F",
        "C,done %S %e\\n",
        "-F",
        "U,unplug %U\\n",
    ],
    &["-f", "all %a %d\\n", "-F", "C,comp %3c\\n"],
    &["-F", "C,comp\\n", "-f", "all %a\\n"],
    &["-b", "7"],
    &["--per-program-stats", "--act-mask=queue", "--quiet"],
];

#[test]
fn fixtures_print_as_blkparse_does_with_every_option() {
    blkparse_available();
    let fixtures = blkscope_tests::blktrace_fixtures();
    for name in ["ext4mixed", "partition"] {
        let name_arg = format!("{}/{name}", fixtures.display());
        for set in OPTION_SETS {
            let mut args = vec!["-i", name_arg.as_str()];
            args.extend_from_slice(set);
            same(Path::new("/tmp"), &args, None);
        }
    }
}

fn synthetic_cases() -> Vec<(&'static str, SyntheticSpec)> {
    vec![
        ("default", SyntheticSpec::default()),
        (
            "four-cpus-two-devices",
            SyntheticSpec {
                ios: 3000,
                cpus: 4,
                devices: vec![make_dev(8, 0), make_dev(253, 2)],
                seed: 7,
                ..Default::default()
            },
        ),
        (
            "drv-data",
            SyntheticSpec {
                ios: 500,
                seed: 3,
                drv_data: true,
                ..Default::default()
            },
        ),
    ]
}

#[test]
fn synthetic_traces_print_as_blkparse_does() {
    blkparse_available();
    for (tag, spec) in synthetic_cases() {
        let dir = Scratch::new(tag);
        let traces = generate(&spec);
        write_trace(dir.path(), "t", &traces, Endian::NATIVE);
        for set in OPTION_SETS {
            let mut args = vec!["-i", "t"];
            args.extend_from_slice(set);
            same(dir.path(), &args, None);
        }
    }
}

#[test]
fn big_endian_traces_are_read() {
    blkparse_available();
    let dir = Scratch::new("big-endian");
    let traces = generate(&SyntheticSpec {
        ios: 800,
        seed: 11,
        ..Default::default()
    });
    write_trace(dir.path(), "be", &traces, Endian::Big);
    write_trace(dir.path(), "le", &traces, Endian::Little);
    same(dir.path(), &["-i", "be"], None);
    let be = run(&["blkscope"], &["-i", "be"], dir.path(), None);
    let le = run(&["blkscope"], &["-i", "le"], dir.path(), None);
    let strip = |o: &Output| {
        String::from_utf8_lossy(&o.stdout)
            .replace("be.blktrace", "X")
            .replace("(be)", "(X)")
    };
    let strip_le = |o: &Output| {
        String::from_utf8_lossy(&o.stdout)
            .replace("le.blktrace", "X")
            .replace("(le)", "(X)")
    };
    assert_eq!(
        strip(&be),
        strip_le(&le),
        "the same trace in both byte orders prints alike"
    );
}

#[test]
fn stdin_streams_print_as_blkparse_does() {
    blkparse_available();
    for (tag, spec) in [
        (
            "stream",
            SyntheticSpec {
                ios: 2000,
                cpus: 3,
                seed: 5,
                ..Default::default()
            },
        ),
        (
            "stream-gaps",
            SyntheticSpec {
                ios: 2000,
                cpus: 2,
                seed: 9,
                gaps: true,
                ..Default::default()
            },
        ),
    ] {
        let dir = Scratch::new(tag);
        let stream = dir.path().join("stream.bin");
        write_stream(&stream, &generate(&spec));
        for set in [
            &[][..],
            &["-s"],
            &["-q", "-v"],
            &["-b", "100"],
            &["-w", "0.3"],
        ] {
            let mut args = vec!["-i", "-"];
            args.extend_from_slice(set);
            same(dir.path(), &args, Some(&stream));
        }
    }
}

#[test]
fn binary_dump_equals_blkparse_dump() {
    blkparse_available();
    let dir = Scratch::new("dump");
    write_trace(
        dir.path(),
        "t",
        &generate(&SyntheticSpec {
            ios: 1500,
            cpus: 3,
            seed: 21,
            ..Default::default()
        }),
        Endian::NATIVE,
    );
    for extra in [&[][..], &["-M"], &["-a", "complete"]] {
        let mut theirs_args = vec!["-q", "-O", "-i", "t", "-d", "theirs.bin"];
        theirs_args.extend_from_slice(extra);
        let mut ours_args = vec!["-q", "-O", "-i", "t", "-d", "ours.bin"];
        ours_args.extend_from_slice(extra);
        assert!(
            run(&["blkparse"], &theirs_args, dir.path(), None)
                .status
                .success()
        );
        let ours = run(&["blkscope"], &ours_args, dir.path(), None);
        assert!(
            ours.status.success(),
            "{}",
            String::from_utf8_lossy(&ours.stderr)
        );
        let (a, b) = (
            std::fs::read(dir.path().join("theirs.bin")).unwrap(),
            std::fs::read(dir.path().join("ours.bin")).unwrap(),
        );
        assert!(!a.is_empty());
        assert!(
            a == b,
            "binary dumps differ for {extra:?} ({} vs {} bytes)",
            a.len(),
            b.len()
        );
    }
    // -o writes the text to a file.
    run(
        &["blkparse"],
        &["-i", "t", "-o", "theirs.txt"],
        dir.path(),
        None,
    );
    run(
        &["blkscope"],
        &["-i", "t", "-o", "ours.txt"],
        dir.path(),
        None,
    );
    assert_eq!(
        std::fs::read(dir.path().join("theirs.txt")).unwrap(),
        std::fs::read(dir.path().join("ours.txt")).unwrap()
    );
}

#[test]
fn writer_reader_round_trip_is_exact() {
    let dir = Scratch::new("round-trip");
    let spec = SyntheticSpec {
        ios: 2000,
        cpus: 3,
        seed: 4,
        cgroup: true,
        drv_data: true,
        ..Default::default()
    };
    let traces = generate(&spec);
    for endian in [Endian::Little, Endian::Big] {
        write_trace(dir.path(), "rt", &traces, endian);
        let mut back = Vec::new();
        for cpu in 0..3 {
            let path = dir.path().join(format!("rt.blktrace.{cpu}"));
            let mut r = RecordReader::new(
                std::io::BufReader::new(std::fs::File::open(&path).unwrap()),
                &path,
            );
            while let Some(t) = r.next_trace().unwrap() {
                back.push(t);
            }
        }
        let mut expected = traces.clone();
        let key = |t: &Trace| (t.header.cpu, t.header.sequence);
        expected.sort_by_key(key);
        back.sort_by_key(key);
        assert_eq!(back.len(), expected.len());
        assert!(
            back == expected,
            "records differ after a round trip in {endian:?}"
        );
    }
}

/// Runs both on a damaged trace: blkparse stops reading the damaged file silently; blkscope
/// prints the same, then names the file and offset on stderr and exits 1.
fn damaged(dir: &Path, name: &str, expect_offset: u64, expect_words: &str) {
    let theirs = run(&["blkparse"], &["-i", name], dir, None);
    let ours = run(&["blkscope"], &["-i", name], dir, None);
    assert_eq!(
        String::from_utf8_lossy(&theirs.stdout),
        String::from_utf8_lossy(&ours.stdout),
        "{name}: everything valid is printed as blkparse prints it"
    );
    let err = String::from_utf8_lossy(&ours.stderr);
    let want = format!("{name}.blktrace.0: offset {expect_offset}:");
    assert!(
        err.contains(&want) && err.contains(expect_words),
        "{name}: stderr {err:?} lacks {want:?} / {expect_words:?}"
    );
    assert_eq!(ours.status.code(), Some(1), "{name}: exit status");
}

#[test]
fn damaged_traces_fail_with_file_and_offset_after_the_valid_part() {
    blkparse_available();
    let dir = Scratch::new("damaged");
    let traces = generate(&SyntheticSpec {
        ios: 300,
        cpus: 1,
        seed: 13,
        ..Default::default()
    });
    let records: Vec<Vec<u8>> = traces.iter().map(|t| t.encode(Endian::NATIVE)).collect();
    let at = records.len() / 2;
    let offset: u64 = records[..at].iter().map(|r| r.len() as u64).sum();
    let file = |name: &str| dir.path().join(format!("{name}.blktrace.0"));

    // Cut in the middle of a record.
    let mut bytes: Vec<u8> = records.concat();
    bytes.truncate(offset as usize + 20);
    std::fs::write(file("truncated"), &bytes).unwrap();
    damaged(dir.path(), "truncated", offset, "truncated record");

    // 48 bytes of garbage between two records.
    let mut bytes: Vec<u8> = records[..at].concat();
    bytes.extend([0x5a; 48]);
    bytes.extend(records[at..].concat());
    std::fs::write(file("garbage"), &bytes).unwrap();
    damaged(dir.path(), "garbage", offset, "bad magic");

    // A payload length running far past the end of the file.
    let mut bytes: Vec<u8> = records[..at].concat();
    let mut huge = records[at].clone();
    huge[46..48].copy_from_slice(&u16::MAX.to_ne_bytes());
    bytes.extend(huge);
    std::fs::write(file("pdulen"), &bytes).unwrap();
    damaged(dir.path(), "pdulen", offset, "65583 bytes needed");

    // Another version byte.
    let mut bytes: Vec<u8> = records[..at].concat();
    let mut old = records[at].clone();
    old[0] = 0x06;
    bytes.extend(old);
    std::fs::write(file("version"), &bytes).unwrap();
    damaged(
        dir.path(),
        "version",
        offset,
        "unsupported trace version 0x06",
    );

    // Time going backwards inside one CPU's file: printed as blkparse prints it, and reported.
    let mut swapped = traces.clone();
    let (a, b) = (swapped[at].header.time, swapped[at + 1].header.time);
    swapped[at].header.time = b;
    swapped[at + 1].header.time = a;
    let bytes: Vec<u8> = swapped
        .iter()
        .flat_map(|t| t.encode(Endian::NATIVE))
        .collect();
    std::fs::write(file("backwards"), &bytes).unwrap();
    let next = offset + records[at].len() as u64;
    damaged(dir.path(), "backwards", next, "time goes backwards");
}

#[test]
fn usage_errors_match_blkparse() {
    blkparse_available();
    let dir = Scratch::new("usage");
    let link = dir.path().join("blkparse");
    std::os::unix::fs::symlink(blkscope_binary(), &link).expect("the blkparse link");
    for args in [
        &["-x"][..],
        &[],
        &["-i"],
        &["-a", "bogus", "-i", "t"],
        &["-A", "zz", "-i", "t"],
        &["-F", "Z,x", "-i", "t"],
        &["-w", "3:1", "-i", "t"],
        &["--inp", "t"],
        &["--bogus"],
        &["--quiet=1", "-i", "t"],
        &["--output"],
    ] {
        let theirs = run(&["blkparse"], args, dir.path(), None);
        let ours = run(&["blkscope"], args, dir.path(), None);
        // Under its own name, blkscope's convention: a usage error exits 2. Under the drop-in
        // name, blkparse's code.
        if theirs.status.code() == Some(1) {
            assert_eq!(ours.status.code(), Some(2), "blkscope parse {args:?}");
        } else {
            assert_eq!(theirs.status.code(), ours.status.code(), "{args:?}");
        }
        let drop_in = Command::new(&link)
            .args(args)
            .current_dir(dir.path())
            .output()
            .expect("running the blkparse link");
        assert_eq!(
            theirs.status.code(),
            drop_in.status.code(),
            "exit status for {args:?}"
        );
        let (t, o) = (
            String::from_utf8_lossy(&theirs.stderr),
            String::from_utf8_lossy(&ours.stderr),
        );
        // Same message but the program name (blkparse prints its argv[0]).
        let norm = |s: &str, prog: &str| {
            s.replace(&format!("Usage: {prog} "), "Usage: PROG ")
                .replace(&format!("\n{prog}: "), "\nPROG: ")
                .replacen(
                    &format!("{prog}: "),
                    "PROG: ",
                    usize::from(s.starts_with(prog)),
                )
        };
        let (t, o) = (norm(&t, "blkparse"), norm(&o, "blkscope parse"));
        assert_eq!(t, o, "stderr for {args:?}");
    }
    let missing = run(&["blkscope"], &["-i", "nothing-here"], dir.path(), None);
    assert_eq!(missing.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&missing.stderr).contains("No input files found for nothing-here")
    );
}

#[test]
fn fixtures_equal_the_captured_blkparse_output() {
    let fixtures = blkscope_tests::blktrace_fixtures();
    for name in ["ext4mixed", "partition"] {
        for (args, expected) in [(&[][..], "blkparse"), (&["-s"][..], "blkparse-s")] {
            let mut all = vec!["-i", name];
            all.extend_from_slice(args);
            let ours = run(&["blkscope"], &all, &fixtures, None);
            let want = std::fs::read(fixtures.join(format!("{name}.{expected}.txt"))).unwrap();
            assert!(
                ours.stdout == want,
                "{name} {args:?} differs from {name}.{expected}.txt"
            );
        }
    }
}

/// Fresh kernel traces with `-t` (tests/fixtures/parse-t/README.md): what blkparse 1.2 printed.
const TRACK_IOS_FIXTURES: &[&str] = &["ext4-direct", "merge", "plug", "partition", "queue-depth"];

/// blkparse 1.2 times a stage whose earlier stage it never saw (a D without an I, a C without a
/// D) from the uncleared memory of its tracking record. Where that memory last held a freed
/// trace record rather than another I/O's times, the value is garbage above 10^17 (in
/// nanoseconds) that no model of its heap gets exactly: the only difference allowed.
const GARBAGE: u64 = 100_000_000_000_000_000;

/// Whether two lines differ only in numbers where blkparse printed garbage: `(elapsed)` times
/// of events, and the longest waits of `-s` that such times make (in microseconds).
fn garbage_only(theirs: &str, ours: &str) -> bool {
    let limit = if theirs.contains(" wait:") {
        GARBAGE / 1000
    } else {
        GARBAGE
    };
    // "(    1234)" and "(1234)" alike: the number as its own word.
    let words = |line: &str| -> Vec<String> {
        line.replace('(', "( ")
            .split_whitespace()
            .map(|w| w.trim_end_matches(')').to_owned())
            .collect()
    };
    let (a, b) = (words(theirs), words(ours));
    a.len() == b.len()
        && a.iter().zip(&b).all(|(x, y)| {
            x == y || (x.parse::<u64>().is_ok_and(|v| v > limit) && y.parse::<u64>().is_ok())
        })
}

/// Asserts `ours` equals blkparse's `theirs` line by line, except for blkparse's garbage times.
fn same_but_garbage(what: &str, theirs: &str, ours: &str) {
    let (t, o): (Vec<&str>, Vec<&str>) = (theirs.lines().collect(), ours.lines().collect());
    assert_eq!(t.len(), o.len(), "{what}: number of lines");
    for (n, (a, b)) in t.iter().zip(&o).enumerate() {
        assert!(
            a == b || garbage_only(a, b),
            "{what}: line {} differs\nblkparse: {a}\nours:     {b}",
            n + 1
        );
    }
}

/// The elapsed times of `-t` on fresh ext4 and partition traces are blkparse 1.2's, including
/// those of stages whose earlier stage it never saw: a direct write issued straight after G is
/// timed from the reused memory of the I/O before it, not from the start of the trace.
#[test]
fn track_ios_times_equal_the_recorded_blkparse_output() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/parse-t");
    for name in TRACK_IOS_FIXTURES {
        let ours = run(&["blkscope"], &["-t", "-i", name], &dir, None);
        assert!(ours.status.success(), "{name}: {ours:?}");
        let want = std::fs::read_to_string(dir.join(format!("{name}.blkparse-t.txt"))).unwrap();
        same_but_garbage(
            &format!("{name} -t"),
            &want,
            &String::from_utf8_lossy(&ours.stdout),
        );
    }
}

/// `-t` against the installed blkparse on the shared kernel fixtures, in file and pipe mode,
/// with per-process waits, a window and small batches (which change when blkparse frees the
/// records it read). (Synthetic traces are left out: their SCSI and message payloads move
/// blkparse's smaller allocations around, which `memory` does not model.)
#[test]
fn track_ios_times_equal_blkparse() {
    blkparse_available();
    let compare = |dir: &Path, args: &[&str], stdin: Option<&Path>| {
        let theirs = run(&["blkparse"], args, dir, stdin);
        let ours = run(&["blkscope"], args, dir, stdin);
        same_but_garbage(
            &format!("{} {args:?}", dir.display()),
            &String::from_utf8_lossy(&theirs.stdout),
            &String::from_utf8_lossy(&ours.stdout),
        );
    };
    let fixtures = blkscope_tests::blktrace_fixtures();
    for name in ["ext4mixed", "partition"] {
        for set in [&[][..], &["-s"], &["-b", "3"], &["-w", "0.5"]] {
            let mut args = vec!["-t", "-i", name];
            args.extend_from_slice(set);
            compare(&fixtures, &args, None);
        }
        let dir = Scratch::new(&format!("track-{name}"));
        let stream = dir.path().join("stream.bin");
        let mut bytes = Vec::new();
        for cpu in 0..2 {
            bytes.extend(std::fs::read(fixtures.join(format!("{name}.blktrace.{cpu}"))).unwrap());
        }
        std::fs::write(&stream, bytes).unwrap();
        compare(dir.path(), &["-t", "-i", "-"], Some(&stream));
    }
}

/// A deterministic fuzz pass over mutated real traces (the long runs use cargo fuzz, see
/// docs/parse.md): every mutation either parses or fails with an offset inside the file.
#[test]
fn mutated_traces_never_panic_and_errors_point_inside_the_file() {
    let fixtures = blkscope_tests::blktrace_fixtures();
    let original = std::fs::read(fixtures.join("partition.blktrace.1")).unwrap();
    let dir = Scratch::new("mutated");
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut rand = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for round in 0..60 {
        let mut bytes = original.clone();
        for _ in 0..1 + rand() % 8 {
            let at = (rand() as usize) % bytes.len();
            match rand() % 3 {
                0 => bytes[at] = rand() as u8,
                1 => bytes.truncate(at.max(1)),
                _ => bytes
                    .splice(at..at, (0..rand() % 64).map(|_| rand() as u8))
                    .for_each(drop),
            }
        }
        let path = dir.path().join("m.blktrace.0");
        std::fs::write(&path, &bytes).unwrap();
        for args in [&["-i", "m"][..], &["-i", "m", "-t", "-s"], &["-i", "-"]] {
            let stdin = (args[1] == "-").then_some(path.as_path());
            let out = run(&["blkscope"], args, dir.path(), stdin);
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(
                matches!(out.status.code(), Some(0 | 1)),
                "round {round} {args:?}: killed or crashed: {err}"
            );
            for line in err.lines().filter(|l| l.contains(": offset ")) {
                let offset: u64 = line
                    .split(": offset ")
                    .nth(1)
                    .and_then(|r| r.split(':').next())
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(u64::MAX);
                assert!(
                    offset < bytes.len() as u64 || offset == 0,
                    "round {round}: offset {offset} beyond {}",
                    bytes.len()
                );
            }
        }
    }
}

#[test]
fn json_output_has_one_object_per_event_and_a_summary() {
    let fixtures = blkscope_tests::blktrace_fixtures();
    let text = run(&["blkscope"], &["-i", "ext4mixed", "-q"], &fixtures, None);
    let json = run(
        &["blkscope"],
        &["-i", "ext4mixed", "--format", "json"],
        &fixtures,
        None,
    );
    assert!(json.status.success());
    let stdout = String::from_utf8_lossy(&json.stdout);
    let objects: Vec<serde_json::Value> = stdout
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let events: Vec<&serde_json::Value> = objects.iter().filter(|o| o["type"] == "event").collect();
    let text_lines = String::from_utf8_lossy(&text.stdout)
        .lines()
        .filter(|l| l.starts_with("  7,1"))
        .count();
    assert_eq!(events.len(), text_lines, "one object per printed event");
    let first = events[0];
    assert_eq!(first["action"], "Q");
    assert_eq!(first["comm"], "dd");
    assert_eq!(first["sector"], 15944);
    let summary = objects.last().unwrap();
    assert_eq!(summary["type"], "summary");
    assert_eq!(summary["devices"][0]["events"], 2356);
    assert_eq!(summary["devices"][0]["total"]["writes_completed"], 325);
}
