//! blktrace's command line (GNU getopt_long, as blktrace parses it), plus `--cgroup PATH`
//! and `--cgroup-ids` / `--no-cgroup-ids`. By default the records are what the kernel's own
//! blktrace writes by default (no cgroup payload), so every blkparse version reads them;
//! `--cgroup-ids` (implied by `-c`) adds each record's cgroup id and the cgroups' names.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use crate::blktrace::format::category;
use crate::cli::duration::parse_seconds;
use crate::cli::getopt::{Arg, OptError, OptSpec, Parsed, getopt_long, text};
use crate::host::bounded::{TEXT_FILE_LIMIT, read_text};

const fn opt(short: char, long: &'static str, arg: Arg) -> OptSpec {
    OptSpec { short, long, arg }
}

/// blktrace has no -c: the other views' short form of --cgroup.
const CGROUP: char = 'c';
/// Codes for the long options without a short form.
const NO_CGROUP_IDS: char = '\u{2}';
const CGROUP_IDS: char = '\u{3}';
const BTF: char = '\u{4}';
const FILES: char = '\u{5}';
const POD: char = '\u{6}';
const CONTAINER_NAME: char = '\u{7}';
const PERFETTO: char = '\u{8}';
const TRIGGER: char = '\u{9}';
const KEEP: char = '\u{a}';

/// `--keep` when only `--trigger` is given.
const DEFAULT_KEEP: std::time::Duration = std::time::Duration::from_secs(10);

pub const SPECS: &[OptSpec] = &[
    opt('d', "dev", Arg::Required),
    opt('o', "output", Arg::Required),
    opt('D', "output-dir", Arg::Required),
    opt('w', "stopwatch", Arg::Required),
    opt('a', "act-mask", Arg::Required),
    opt('A', "set-mask", Arg::Required),
    opt('b', "buffer-size", Arg::Required),
    opt('n', "num-sub-buffers", Arg::Required),
    opt('I', "input-devs", Arg::Required),
    opt('v', "version", Arg::None),
    opt('V', "version", Arg::None),
    opt('h', "help", Arg::None),
    opt(CGROUP, "cgroup", Arg::Required),
    opt(NO_CGROUP_IDS, "no-cgroup-ids", Arg::None),
    opt(CGROUP_IDS, "cgroup-ids", Arg::None),
    opt(BTF, "btf", Arg::Required),
    opt(FILES, "files", Arg::None),
    opt(POD, "pod", Arg::Required),
    opt(CONTAINER_NAME, "container-name", Arg::Required),
    opt(PERFETTO, "perfetto", Arg::Required),
    opt(TRIGGER, "trigger", Arg::Required),
    opt(KEEP, "keep", Arg::Required),
];

pub const USAGE: &str = "Usage: blktrace [OPTIONS] -d DEV [-d DEV ...]

-d <dev>             | --dev=<dev>
[ -o <file>          | --output=<file>]
[ -D <dir>           | --output-dir=<dir>
[ -w <time>          | --stopwatch=<time>]
[ -a <action field>  | --act-mask=<action field>]
[ -A <action mask>   | --set-mask=<action mask>]
[ -b <size>          | --buffer-size]
[ -n <number>        | --num-sub-buffers=<number>]
[ -I <devs file>     | --input-devs=<devs file>]
[ -v <version>       | --version]
[ -V <version>       | --version]
[ -c <path>          | --cgroup=<path> ]
[ --cgroup-ids      | --no-cgroup-ids ]
[ --pod=<namespace/pod> ] [ --container-name=<glob> ]
[ --perfetto=<file> ] [ --trigger=<ms> [ --keep=<seconds> ] ]

	-d Use specified device. May also be given last after options
	-o File(s) to send output to (- for a stream on stdout)
	-D Directory to prepend to output file names
	-w Stop after defined time, in seconds
	-a Only trace specified actions (READ WRITE FLUSH SYNC QUEUE REQUEUE ISSUE COMPLETE FS PC
	   NOTIFY AHEAD META DISCARD DRV_DATA FUA)
	-A Give trace mask as a single value (hex)
	-b Sub buffer size in KiB (default: one 16 MiB ring buffer for all CPUs; with -b or -n,
	   the buffer is KiB x number x CPUs, -b defaulting to 512 and -n to 4 as in blktrace)
	-n Number of sub buffers (see -b)
	-I Add devices found in <devs file>
	-v Print program version info
	-V Print program version info
	-c Only record I/O issued by tasks in this cgroup (v2 path) or below it
	--cgroup-ids Add each record's cgroup id and name the cgroups (implied by -c; blkparse 1.2
	             warns \"Bad fs action\" on such records)
	--no-cgroup-ids Leave the cgroup ids off, also with -c (the default without -c)
	--pod Only record I/O of this Kubernetes pod's containers (NAMESPACE/POD; implies --cgroup-ids)
	--container-name Only record I/O of containers whose name matches the glob (implies --cgroup-ids)
	--files Each queued bio's file (inode) in its record and each file's path in a note
	        (biosnoop -i --file reads them; blkparse shows nothing of them)
	--perfetto <file> Also write the I/Os as a timeline that ui.perfetto.dev opens (what
	        `blkscope parse -i TRACE --format perfetto` makes of the trace)
	--btf <file> This kernel's BTF (raw or a vmlinux ELF), for kernels without /sys/kernel/btf/vmlinux
	--trigger <ms> Flight recorder: keep the last --keep seconds of events in memory, and write
	        them as a recording NAME.N (N from 1) each time an I/O slower than <ms> (issue to
	        completion) completes, with the --keep seconds that follow it
	--keep <seconds> With --trigger: how much before and after a slow I/O (default 10)

EXAMPLES:
  blkscope record -d /dev/sda -w 30          30 s of sda into sda.blktrace.CPU files
  blkscope record -d /dev/sda -o - | blkparse -i -   live, through blkparse
  blkscope record -d /dev/sda --cgroup-ids -o trace  with each record's cgroup, named
  blkscope record -d /dev/sda -D /tmp/traces  into a directory
  blkscope record -d /dev/sda --trigger 500 --keep 5   5 s around each I/O slower than 500 ms
";

/// What the command line asks for.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordOptions {
    /// Devices as given (`-d`, `-I`), resolved when recording starts.
    pub devices: Vec<String>,
    /// `-o`: the trace's name (any bytes); `-` for stdout. None: one trace per device, named
    /// after it.
    pub output: Option<OsString>,
    pub dir: Option<PathBuf>,
    pub stopwatch: Option<std::time::Duration>,
    /// Categories to record (`category::*` bits).
    pub act_mask: u32,
    pub buffer_kib: Option<u32>,
    pub buffers: Option<u32>,
    pub cgroup: Option<PathBuf>,
    pub cgroup_ids: bool,
    /// `--btf FILE`: the kernel's BTF, for kernels without /sys/kernel/btf/vmlinux.
    pub btf: Option<PathBuf>,
    /// `--files`: each queued bio's file in its record, and each file's path in a note.
    pub files: bool,
    /// `--pod NAMESPACE/POD`: only the pod's containers' I/O.
    pub pod: Option<String>,
    /// `--container-name GLOB`: only the I/O of containers so named.
    pub container_name: Option<String>,
    /// `--perfetto FILE`: the I/Os as a Perfetto timeline too.
    pub perfetto: Option<PathBuf>,
    /// `--trigger MS`: record only around I/Os at least this slow (the flight recorder).
    pub trigger: Option<std::time::Duration>,
    /// `--keep SECONDS`: how much before and after each slow I/O.
    pub keep: std::time::Duration,
}

/// What to do.
#[derive(Debug, PartialEq)]
pub enum Command {
    Record(Box<RecordOptions>),
    Version,
    Help,
}

/// A command-line problem.
#[derive(Debug, thiserror::Error)]
pub enum UsageError {
    #[error("{0}")]
    Getopt(#[from] OptError),
    #[error("Invalid action mask {0}")]
    BadMask(String),
    #[error("Invalid {what} {value}")]
    BadValue { what: &'static str, value: String },
    #[error("{}: {source}", path.display())]
    DeviceList {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("You must specify at least one device")]
    NoDevice,
    #[error("{0}")]
    Flight(&'static str),
}

pub fn parse(args: &[OsString]) -> Result<Command, UsageError> {
    let mut o = RecordOptions {
        devices: Vec::new(),
        output: None,
        dir: None,
        stopwatch: None,
        act_mask: 0,
        buffer_kib: None,
        buffers: None,
        cgroup: None,
        cgroup_ids: false,
        btf: None,
        files: false,
        pod: None,
        container_name: None,
        perfetto: None,
        trigger: None,
        keep: DEFAULT_KEEP,
    };
    let mut cgroup_ids = None;
    let mut keep_given = false;
    for p in getopt_long(args, SPECS)? {
        match p {
            // blktrace takes a last operand as the device too.
            Parsed::Operand(dev) => o.devices.push(text('d', &dev)?.to_string()),
            Parsed::Opt(c, v) => {
                let v = v.unwrap_or_default();
                // File names are taken as the OS gave them; the rest must be text.
                match c {
                    'o' => o.output = Some(v),
                    'D' => o.dir = Some(PathBuf::from(v)),
                    'I' => o.devices.extend(device_list(Path::new(&v))?),
                    CGROUP => o.cgroup = Some(PathBuf::from(v)),
                    BTF => o.btf = Some(PathBuf::from(v)),
                    PERFETTO => o.perfetto = Some(PathBuf::from(v)),
                    KEEP => {
                        o.keep = seconds(text(c, &v)?, "keep time")?;
                        keep_given = true;
                    }
                    _ => {
                        let v = text(c, &v)?;
                        if let Some(command) = take_word(&mut o, &mut cgroup_ids, c, v)? {
                            return Ok(command);
                        }
                    }
                }
            }
        }
    }
    if o.devices.is_empty() {
        return Err(UsageError::NoDevice);
    }
    if o.act_mask == 0 {
        o.act_mask = 0xffff;
    }
    let filtered = o.cgroup.is_some() || o.pod.is_some() || o.container_name.is_some();
    o.cgroup_ids = cgroup_ids.unwrap_or(filtered);
    flight_options(&o, keep_given)?;
    Ok(Command::Record(Box::new(o)))
}

/// What the flight recorder (`--trigger`) takes: one set of files per slow I/O, the events as
/// the kernel gives them.
fn flight_options(o: &RecordOptions, keep_given: bool) -> Result<(), UsageError> {
    if o.trigger.is_none() {
        return if keep_given {
            Err(UsageError::Flight("--keep goes with --trigger"))
        } else {
            Ok(())
        };
    }
    if o.output.as_deref().is_some_and(|n| n == "-") {
        return Err(UsageError::Flight("--trigger writes files: not with -o -"));
    }
    if o.cgroup.is_some()
        || o.pod.is_some()
        || o.container_name.is_some()
        || o.cgroup_ids
        || o.files
        || o.perfetto.is_some()
    {
        return Err(UsageError::Flight(
            "--trigger records every event of the devices: not with -c, --pod, \
             --container-name, --cgroup-ids, --files or --perfetto",
        ));
    }
    Ok(())
}

/// An option whose value (if any) is a word or number; a command when it ends the parse.
fn take_word(
    o: &mut RecordOptions,
    cgroup_ids: &mut Option<bool>,
    c: char,
    v: &str,
) -> Result<Option<Command>, UsageError> {
    match c {
        'd' => o.devices.push(v.to_string()),
        'w' => o.stopwatch = Some(seconds(v, "stopwatch time")?),
        TRIGGER => {
            // Positive and finite: `inf` or 1e400 ms are no latency a Duration can hold.
            let bad = || UsageError::BadValue {
                what: "trigger latency (ms)",
                value: v.to_string(),
            };
            let ms: f64 = v.trim().parse().map_err(|_| bad())?;
            let trigger = std::time::Duration::try_from_secs_f64(ms / 1000.0)
                .ok()
                .filter(|d| !d.is_zero())
                .ok_or_else(bad)?;
            o.trigger = Some(trigger);
        }
        'a' => o.act_mask |= mask_of(v)?,
        'A' => {
            o.act_mask = u32::from_str_radix(v.trim_start_matches("0x"), 16)
                .map_err(|_| UsageError::BadMask(v.to_string()))?
        }
        'b' => o.buffer_kib = Some(count(v, "buffer size")?),
        'n' => o.buffers = Some(count(v, "number of sub buffers")?),
        'v' | 'V' => return Ok(Some(Command::Version)),
        FILES => o.files = true,
        POD => o.pod = Some(v.to_string()),
        CONTAINER_NAME => o.container_name = Some(v.to_string()),
        NO_CGROUP_IDS => *cgroup_ids = Some(false),
        CGROUP_IDS => *cgroup_ids = Some(true),
        _ => return Ok(Some(Command::Help)),
    }
    Ok(None)
}

/// A category name (`-a`), with or without blkparse's `BLK_TC_` prefix, any case.
fn mask_of(name: &str) -> Result<u32, UsageError> {
    let upper = name.to_ascii_uppercase();
    let bare = upper.strip_prefix("BLK_TC_").unwrap_or(&upper);
    category::NAMES
        .iter()
        .find(|(n, _)| *n == bare)
        .map(|(_, bit)| *bit)
        .ok_or_else(|| UsageError::BadMask(name.to_string()))
}

fn seconds(v: &str, what: &'static str) -> Result<std::time::Duration, UsageError> {
    parse_seconds(v).map_err(|_| UsageError::BadValue {
        what,
        value: v.to_string(),
    })
}

fn count(v: &str, what: &'static str) -> Result<u32, UsageError> {
    v.trim()
        .parse::<u32>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| UsageError::BadValue {
            what,
            value: v.to_string(),
        })
}

/// `-I FILE`: one device per line (blank lines skipped).
fn device_list(path: &Path) -> Result<Vec<String>, UsageError> {
    let text = read_text(path, TEXT_FILE_LIMIT).map_err(|source| UsageError::DeviceList {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<OsString> {
        a.iter().map(OsString::from).collect()
    }

    #[test]
    fn trigger_latencies_are_positive_and_finite() {
        let trigger = |v: &str| parse(&args(&["-d", "/dev/loop0", "--trigger", v]));
        let Ok(Command::Record(o)) = trigger("2.5") else {
            panic!("--trigger 2.5")
        };
        assert_eq!(o.trigger, Some(std::time::Duration::from_micros(2500)));
        for bad in ["0", "-1", "inf", "1e400", "NaN", "soon"] {
            assert!(
                matches!(trigger(bad), Err(UsageError::BadValue { .. })),
                "--trigger {bad}"
            );
        }
    }

    #[test]
    fn blktrace_command_lines() {
        let Command::Record(o) = parse(&args(&[
            "-d",
            "/dev/loop0",
            "-o",
            "-",
            "-w",
            "2",
            "-a",
            "queue",
            "-a",
            "COMPLETE",
        ]))
        .unwrap() else {
            panic!("not a recording");
        };
        assert_eq!(o.devices, vec!["/dev/loop0"]);
        assert_eq!(o.output, Some("-".into()));
        assert_eq!(o.stopwatch, Some(std::time::Duration::from_secs(2)));
        assert_eq!(o.act_mask, category::QUEUE | category::COMPLETE);
        assert!(
            !o.cgroup_ids,
            "the kernel's blktrace writes no cgroup payload by default"
        );
        let Command::Record(o) = parse(&args(&[
            "-A",
            "80",
            "--no-cgroup-ids",
            "-c",
            "/x",
            "/dev/sda",
        ]))
        .unwrap() else {
            panic!("not a recording");
        };
        assert_eq!((o.act_mask, o.cgroup_ids), (0x80, false));
        assert_eq!(o.cgroup, Some(PathBuf::from("/x")));
        assert_eq!(o.devices, vec!["/dev/sda"]);
        let Command::Record(o) = parse(&args(&["-c", "/x", "-d", "/dev/sda"])).unwrap() else {
            panic!("not a recording");
        };
        assert!(o.cgroup_ids, "-c implies --cgroup-ids");
        let Command::Record(o) = parse(&args(&["--cgroup-ids", "-d", "/dev/sda"])).unwrap() else {
            panic!("not a recording");
        };
        assert!(o.cgroup_ids);
        assert!(matches!(
            parse(&args(&["-a", "bogus", "-d", "x"])),
            Err(UsageError::BadMask(_))
        ));
        assert!(matches!(
            parse(&args(&["-o", "t"])),
            Err(UsageError::NoDevice)
        ));
        assert!(matches!(
            parse(&args(&["-d", "x", "-w", "soon"])),
            Err(UsageError::BadValue { .. })
        ));
        assert_eq!(parse(&args(&["-V"])).unwrap(), Command::Version);
    }
}
