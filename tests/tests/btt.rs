//! `blkscope btt` against stock btt 2.09 on this machine: on the real kernel traces in
//! ../shared/fixtures/blktrace, on traces our writer makes (every action, several devices,
//! remaps, splits, requeues), and on random traces with overlapping and repeated I/Os (where
//! btt's answers depend on the shape of its trees), the report and every file btt writes for
//! the options we support are the same byte for byte, the plot-data files of `-B -l -L -m -q
//! -Q -s -u -z -Z` included (names, set of files, contents). Broken input gives the report of
//! the valid part and an error naming file and offset.

use std::path::Path;
use std::process::{Command, Output, Stdio};

use blkscope::blktrace::BlktraceWriter;
use blkscope::blktrace::format::{
    Endian, HEADER_LEN, MAGIC, Trace, TraceHeader, VERSION, act, category, make_dev,
};
use blkscope::blktrace::synthetic::{SyntheticSpec, generate};
use blkscope_tests::{Scratch, blkscope_binary};

fn tools_available() {
    for tool in ["btt", "blkparse"] {
        let found = Command::new(tool).arg("-V").output();
        assert!(
            found.is_ok(),
            "stock {tool} is not installed (apt-get install blktrace; ./x setup installs it)"
        );
    }
}

fn fixtures() -> std::path::PathBuf {
    blkscope_tests::blktrace_fixtures()
}

/// `blkparse -i NAME -d OUT -O` in `dir`: the binary dump btt reads.
fn dump(dir: &Path, input: &str, out: &str) {
    let status = Command::new("blkparse")
        .args(["-q", "-i", input, "-d", out, "-O"])
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("running blkparse");
    assert!(status.success(), "blkparse -d failed for {input}");
}

fn run_btt(ours: bool, args: &[&str], dir: &Path, stdin: Option<&Path>) -> Output {
    let mut cmd = if ours {
        let mut c = Command::new(blkscope_binary());
        c.arg("btt");
        c
    } else {
        Command::new("btt")
    };
    cmd.args(args).current_dir(dir);
    if let Some(f) = stdin {
        cmd.stdin(Stdio::from(std::fs::File::open(f).expect("stdin file")));
    }
    cmd.output().expect("running btt")
}

fn first_difference(a: &str, b: &str) -> Option<(usize, (String, String))> {
    a.lines()
        .chain(std::iter::repeat(""))
        .zip(b.lines().chain(std::iter::repeat("")))
        .take(a.lines().count().max(b.lines().count()))
        .enumerate()
        .find(|(_, (x, y))| x != y)
        .map(|(i, (x, y))| (i + 1, (x.to_string(), y.to_string())))
}

/// Runs stock btt and ours on the same input in two directories; asserts the same stdout,
/// exit status and files (btt's own always-written iops/mbps files aside).
fn same(work: &Path, args: &[&str]) {
    let theirs_dir = work.join("theirs");
    let ours_dir = work.join("ours");
    for d in [&theirs_dir, &ours_dir] {
        let _ = std::fs::remove_dir_all(d);
        std::fs::create_dir_all(d).expect("scratch dirs");
    }
    let theirs = run_btt(false, args, &theirs_dir, None);
    let ours = run_btt(true, args, &ours_dir, None);
    let (t, o) = (
        String::from_utf8_lossy(&theirs.stdout),
        String::from_utf8_lossy(&ours.stdout),
    );
    assert!(
        t == o,
        "btt {args:?}: stdout differs ({} vs {} bytes); first different line (btt, ours): {:?}\nour stderr: {}",
        t.len(),
        o.len(),
        first_difference(&t, &o),
        String::from_utf8_lossy(&ours.stderr)
    );
    assert_eq!(
        theirs.status.code(),
        ours.status.code(),
        "exit status of btt {args:?}"
    );
    let to_files = args
        .iter()
        .any(|a| *a == "-o" || a.starts_with("--output-file"));
    assert!(to_files || !t.is_empty(), "nothing printed for {args:?}");
    let listing = |d: &Path| -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(d)
            .expect("listing")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .filter(|n| !n.ends_with("_iops_fp.dat") && !n.ends_with("_mbps_fp.dat"))
            .collect();
        names.sort();
        names
    };
    let files = listing(&theirs_dir);
    assert_eq!(files, listing(&ours_dir), "files written by btt {args:?}");
    for f in files {
        let a = std::fs::read_to_string(theirs_dir.join(&f)).expect("their file");
        let b = std::fs::read_to_string(ours_dir.join(&f)).expect("our file");
        assert!(
            a == b,
            "btt {args:?}: file {f} differs; first different line (btt, ours): {:?}",
            first_difference(&a, &b)
        );
    }
}

/// Option sets compared on every trace; INPUT is replaced by the dump's path.
const OPTION_SETS: &[&[&str]] = &[
    &[],
    &["-A"],
    &["-a"],
    &["-r"],
    &["-d", "0.01"],
    &["-e", "dd,cat,kworker"],
    &["-A", "-e", "dd"],
    &["-t", "0.02", "-T", "0.1"],
    &["-T", "0.05"],
    &["-I", "iostat.txt"],
    &["-I", "iostat.txt", "-S", "0"],
    &["-p", "per-io.txt", "-o", "out", "-X"],
    &["-P", "trees"],
    &["--all-data", "--output-file=base", "--iostat=io"],
];

/// The plot-data options, compared on every trace.
const PLOT_SETS: &[&[&str]] = &[
    &[
        "-B", "bno", "-l", "d2c", "-q", "q2c", "-z", "q2d", "-Q", "aqd", "-u", "up",
    ],
    &["-s", "seek", "-m", "sps", "-L", "0.01", "-Z"],
    &["-a", "-s", "seek", "-m", "sps", "-L", "1", "-o", "out"],
    &[
        "-t", "0.02", "-T", "0.1", "-s", "s", "-Q", "q", "-l", "l", "-Z",
    ],
    &[
        "--dump-blocknos=b",
        "--d2c-latencies=l",
        "--periodic-latencies=0.1",
        "--seeks=s",
        "--seeks-per-second=m",
        "--q2c-latencies=q",
        "--active-queue-depth=a",
        "--unplug-hist=u",
        "--q2d-latencies=z",
        "-Z",
    ],
    // btt's --do-active is -z without a value: it turns -z off.
    &["-z", "z", "--do-active", "-q", "q"],
];

fn compare_all(work: &Path, dump_path: &Path) {
    let input = dump_path.to_string_lossy().into_owned();
    for set in OPTION_SETS.iter().chain(PLOT_SETS) {
        let mut args = vec!["-i", input.as_str()];
        args.extend_from_slice(set);
        same(work, &args);
    }
}

#[test]
fn fixtures_analyse_as_btt_does_with_every_option() {
    tools_available();
    let fx = fixtures();
    let work = Scratch::new("btt-fixtures");
    for name in ["ext4mixed", "partition"] {
        let bin = work.path().join(format!("{name}.bin"));
        dump(
            work.path(),
            &format!("{}/{name}", fx.display()),
            &bin.to_string_lossy(),
        );
        compare_all(work.path(), &bin);
        // Devices named by a device map, and a device list.
        std::fs::write(work.path().join("map"), "loop1 7,1\nsda 8,0\n").expect("map");
        let map = work.path().join("map").to_string_lossy().into_owned();
        let input = bin.to_string_lossy().into_owned();
        same(
            work.path(),
            &["-i", &input, "-M", &map, "-A", "-I", "io", "-P", "t"],
        );
        same(work.path(), &["-i", &input, "-D", "7,1"]);
        // Plot files named after mapped devices, and live files in -D's order.
        same(
            work.path(),
            &[
                "-i", &input, "-M", &map, "-B", "b", "-s", "s", "-m", "m", "-u", "u", "-L", "0.02",
                "-Z",
            ],
        );
        same(work.path(), &["-i", &input, "-D", "7,1", "-Z", "-Q", "q"]);
        // A listed device the trace does not have: btt crashes on it, we leave it out.
        let listed = run_btt(true, &["-i", &input, "-D", "7,1"], work.path(), None);
        let extra = run_btt(true, &["-i", &input, "-D", "7,1;8,0"], work.path(), None);
        assert!(extra.status.success());
        assert_eq!(
            listed.stdout, extra.stdout,
            "-D with a device not in the trace"
        );
    }
}

#[test]
fn fixture_equals_the_captured_btt_output() {
    let fx = fixtures();
    let work = Scratch::new("btt-captured");
    for f in ["ext4mixed.blktrace.0", "ext4mixed.blktrace.1"] {
        std::fs::copy(fx.join(f), work.path().join(f)).expect("copy fixture");
    }
    // Straight from the per-CPU files: blkscope merges them as blkparse -d would.
    let ours = run_btt(true, &["-i", "ext4mixed"], work.path(), None);
    let captured = std::fs::read_to_string(fx.join("ext4mixed.btt.txt")).expect("capture");
    let text = String::from_utf8_lossy(&ours.stdout);
    assert!(
        text == captured,
        "differs from ext4mixed.btt.txt at {:?}",
        first_difference(&captured, &text)
    );
    assert!(ours.status.success());
}

fn write_trace(dir: &Path, name: &str, traces: &[Trace]) {
    let mut w = BlktraceWriter::new(dir, name);
    for t in traces {
        w.write(t).expect("write trace");
    }
    w.finish().expect("finish trace");
}

#[test]
fn synthetic_traces_analyse_as_btt_does() {
    tools_available();
    let cases = [
        SyntheticSpec {
            ios: 2000,
            seed: 11,
            ..Default::default()
        },
        SyntheticSpec {
            ios: 3000,
            cpus: 4,
            devices: vec![make_dev(8, 0), make_dev(253, 2), make_dev(8, 16)],
            seed: 5,
            ..Default::default()
        },
    ];
    for (i, spec) in cases.iter().enumerate() {
        let work = Scratch::new(&format!("btt-synthetic-{i}"));
        write_trace(work.path(), "t", &generate(spec));
        let bin = work.path().join("t.bin");
        dump(work.path(), "t", &bin.to_string_lossy());
        compare_all(work.path(), &bin);
        // The per-CPU files read directly give the dump's analysis.
        let input = bin.to_string_lossy().into_owned();
        let from_dump = run_btt(true, &["-i", &input], work.path(), None);
        let from_files = run_btt(true, &["-i", "t"], work.path(), None);
        assert_eq!(
            from_dump.stdout, from_files.stdout,
            "per-CPU input, case {i}"
        );
        // And a stream on stdin.
        let from_stdin = run_btt(true, &["-i", "-"], work.path(), Some(&bin));
        assert_eq!(from_dump.stdout, from_stdin.stdout, "stdin input, case {i}");
    }
}

/// A small deterministic generator (xorshift).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn record(time: u64, action: u32, cat: u32, sector: u64, sectors: u32, dev: u32) -> Trace {
    Trace {
        header: TraceHeader {
            magic: MAGIC | VERSION,
            sequence: 0,
            time,
            sector,
            bytes: sectors * 512,
            action: action | ((cat | category::WRITE) << category::SHIFT),
            pid: 100 + (sector % 3) as u32,
            device: dev,
            cpu: 0,
            error: 0,
            pdu_len: 0,
        },
        pdu: Vec::new(),
    }
}

/// Random events over a few dozen sectors: I/Os overlap, repeat and complete out of order,
/// so that which queued I/O btt finds for a sector depends on its trees' shapes.
fn chaotic_trace(seed: u64, events: usize) -> Vec<u8> {
    let mut rng = Rng(seed);
    let devs = [make_dev(8, 0), make_dev(8, 16)];
    let kinds = [
        (act::QUEUE, category::QUEUE),
        (act::QUEUE, category::QUEUE),
        (act::GETRQ, category::QUEUE),
        (act::INSERT, category::QUEUE),
        (act::BACKMERGE, category::QUEUE),
        (act::SLEEPRQ, category::QUEUE),
        (act::ISSUE, category::ISSUE),
        (act::COMPLETE, category::COMPLETE),
        (act::COMPLETE, category::COMPLETE),
        (act::REQUEUE, category::REQUEUE),
    ];
    let mut out = Vec::new();
    let mut time = 0;
    for i in 0..events {
        time += 1 + rng.below(2_000_000);
        let (action, cat) = kinds[rng.below(kinds.len() as u64) as usize];
        let dev = devs[rng.below(2) as usize];
        let sector = rng.below(48);
        let sectors = 1 + rng.below(16) as u32;
        let mut t = record(time, action, cat, sector, sectors, dev);
        t.header.sequence = i as u32 + 1;
        out.extend(t.encode(Endian::NATIVE));
    }
    out
}

#[test]
fn overlapping_and_repeated_ios_analyse_as_btt_does() {
    tools_available();
    let work = Scratch::new("btt-chaos");
    for seed in 1..=12u64 {
        let path = work.path().join(format!("chaos{seed}.bin"));
        std::fs::write(&path, chaotic_trace(seed * 7919, 3000)).expect("write trace");
        let input = path.to_string_lossy().into_owned();
        same(
            work.path(),
            &["-i", &input, "-A", "-p", "per-io", "-P", "t"],
        );
        same(work.path(), &["-i", &input, "-a", "-I", "io", "-S", "0"]);
        same(
            work.path(),
            &[
                "-i", &input, "-B", "b", "-s", "s", "-m", "m", "-l", "l", "-q", "q", "-z", "z",
                "-Q", "a", "-L", "0.5", "-Z",
            ],
        );
    }
}

/// A long trace: 8,0 queues, issues and completes an I/O every few milliseconds for
/// `seconds` (its seeks-per-second lines outgrow a stdio buffer many times over, so the
/// two streams btt writes that file with overwrite each other block by block); 253,0 only
/// queues (its D2D stream writes nothing, and btt loses the file when it closes that stream
/// first); 8,16 is seen only in plugs and unplugs (no files: btt counts unplugs only for
/// devices it follows).
fn long_trace(seconds: u64) -> Vec<u8> {
    let mut rng = Rng(99);
    let (disk, dm, other) = (make_dev(8, 0), make_dev(253, 0), make_dev(8, 16));
    let mut out = Vec::new();
    let mut seq = 0;
    let mut push = |t: Trace, out: &mut Vec<u8>| {
        let mut t = t;
        seq += 1;
        t.header.sequence = seq;
        out.extend(t.encode(Endian::NATIVE));
    };
    let mut time = 1_000;
    while time < seconds * 1_000_000_000 {
        let sector = rng.below(1 << 30);
        let sectors = 8 << rng.below(4);
        let q = record(
            time,
            act::QUEUE,
            category::QUEUE,
            sector,
            sectors as u32,
            disk,
        );
        push(q, &mut out);
        let q = record(time + 10, act::QUEUE, category::QUEUE, sector, 8, dm);
        push(q, &mut out);
        let d = record(
            time + 50_000,
            act::ISSUE,
            category::ISSUE,
            sector,
            sectors as u32,
            disk,
        );
        push(d, &mut out);
        let c = record(
            time + 900_000,
            act::COMPLETE,
            category::COMPLETE,
            sector,
            sectors as u32,
            disk,
        );
        push(c, &mut out);
        if rng.below(8) == 0 {
            for dev in [disk, other] {
                push(
                    record(time + 1_000, act::PLUG, category::QUEUE, 0, 0, dev),
                    &mut out,
                );
                let mut u = record(time + 2_000, act::UNPLUG_IO, category::QUEUE, 0, 0, dev);
                u.pdu = rng.below(130).to_be_bytes().to_vec();
                u.header.pdu_len = 8;
                push(u, &mut out);
            }
        }
        time += 1_000_000 + rng.below(60_000_000);
    }
    out
}

#[test]
fn long_traces_plot_as_btt_does() {
    tools_available();
    let work = Scratch::new("btt-long");
    for seconds in [3, 400] {
        let path = work.path().join(format!("long{seconds}.bin"));
        std::fs::write(&path, long_trace(seconds)).expect("write trace");
        let input = path.to_string_lossy().into_owned();
        same(
            work.path(),
            &[
                "-i", &input, "-s", "s", "-m", "m", "-u", "u", "-L", "2", "-Z",
            ],
        );
        same(
            work.path(),
            &["-i", &input, "-B", "b", "-Q", "q", "-l", "l"],
        );
    }
}

#[test]
fn damaged_dumps_report_the_valid_part_then_name_file_and_offset() {
    tools_available();
    let fx = fixtures();
    let work = Scratch::new("btt-damaged");
    let bin = work.path().join("good.bin");
    dump(
        work.path(),
        &format!("{}/ext4mixed", fx.display()),
        &bin.to_string_lossy(),
    );
    let bytes = std::fs::read(&bin).expect("dump");
    // Record boundaries (all records here have small or no payloads).
    let mut bounds = vec![0usize];
    while let Some(&at) = bounds.last() {
        if at + HEADER_LEN > bytes.len() {
            break;
        }
        let pdu = u16::from_ne_bytes([bytes[at + 46], bytes[at + 47]]) as usize;
        bounds.push(at + HEADER_LEN + pdu);
    }
    let cut = bounds[bounds.len() / 2];
    let valid = work.path().join("valid.bin");
    std::fs::write(&valid, &bytes[..cut]).expect("valid prefix");
    let expected = run_btt(false, &["-i", &valid.to_string_lossy()], work.path(), None);

    let cases: [(&str, Vec<u8>, &str); 3] = [
        ("truncated", bytes[..cut + 20].to_vec(), "truncated"),
        (
            "garbage",
            [&bytes[..cut], &[0x5a; 96][..], &bytes[cut..]].concat(),
            "magic",
        ),
        (
            "bad-version",
            {
                let mut b = bytes.clone();
                b[cut] = (MAGIC | 0x02) as u8;
                b
            },
            "version",
        ),
    ];
    for (tag, content, word) in cases {
        let path = work.path().join(format!("{tag}.bin"));
        std::fs::write(&path, content).expect("damaged file");
        let ours = run_btt(true, &["-i", &path.to_string_lossy()], work.path(), None);
        assert_eq!(ours.status.code(), Some(1), "{tag}: exit status");
        assert_eq!(
            String::from_utf8_lossy(&ours.stdout),
            String::from_utf8_lossy(&expected.stdout),
            "{tag}: the report of the valid part"
        );
        let err = String::from_utf8_lossy(&ours.stderr);
        assert!(
            err.contains(&format!("{tag}.bin")) && err.contains(&format!("offset {cut}")),
            "{tag}: error should name the file and offset {cut}: {err}"
        );
        assert!(err.to_lowercase().contains(word), "{tag}: {err}");
    }
}

#[test]
fn usage_errors_name_the_problem() {
    let work = Scratch::new("btt-usage");
    // blkscope's convention: usage errors exit 2 (btt, under its own name, exits 1).
    let no_input = run_btt(true, &["-A"], work.path(), None);
    assert_eq!(no_input.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&no_input.stderr).contains("Usage: blkscope btt"));

    let missing = run_btt(true, &["-i", "no-such-trace"], work.path(), None);
    assert_eq!(missing.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no-such-trace"));

    // As btt: seeks per second only with the seeks.
    let sps = run_btt(
        true,
        &["-i", "x", "--seeks-per-second=m"],
        work.path(),
        None,
    );
    assert_eq!(sps.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&sps.stderr).contains("-m option requires -s"));
    let theirs = run_btt(false, &["-i", "x", "-m", "m"], work.path(), None);
    assert_eq!(theirs.status.code(), Some(1));

    let bad = run_btt(true, &["-i", "x", "-d", "soon"], work.path(), None);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("-d: 'soon'"));

    let unknown = run_btt(true, &["-i", "x", "--frobnicate"], work.path(), None);
    assert_eq!(unknown.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&unknown.stderr).contains("unrecognized option '--frobnicate'")
    );
}
