//! blkparse's command line, parsed with its own (GNU getopt_long) grammar: clustered short
//! options, `--long=value` or `--long value`, unique prefixes of long names, operands anywhere.

use crate::blktrace::format::category;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

use crate::cli::getopt::{Arg, OptError, OptSpec, Parsed, getopt_long, text};

/// blkparse 1.2's options.
pub const SPECS: &[OptSpec] = &[
    OptSpec {
        short: 'a',
        long: "act-mask",
        arg: Arg::Required,
    },
    OptSpec {
        short: 'A',
        long: "set-mask",
        arg: Arg::Required,
    },
    OptSpec {
        short: 'b',
        long: "batch",
        arg: Arg::Required,
    },
    OptSpec {
        short: 'D',
        long: "input-directory",
        arg: Arg::Required,
    },
    OptSpec {
        short: 'd',
        long: "dump-binary",
        arg: Arg::Required,
    },
    OptSpec {
        short: 'f',
        long: "format",
        arg: Arg::Required,
    },
    OptSpec {
        short: 'F',
        long: "format-spec",
        arg: Arg::Required,
    },
    OptSpec {
        short: 'h',
        long: "hash-by-name",
        arg: Arg::None,
    },
    OptSpec {
        short: 'i',
        long: "input",
        arg: Arg::Required,
    },
    OptSpec {
        short: 'M',
        long: "no-msgs",
        arg: Arg::None,
    },
    OptSpec {
        short: 'o',
        long: "output",
        arg: Arg::Required,
    },
    OptSpec {
        short: 'O',
        long: "no-text-output",
        arg: Arg::None,
    },
    OptSpec {
        short: 'q',
        long: "quiet",
        arg: Arg::None,
    },
    OptSpec {
        short: 's',
        long: "per-program-stats",
        arg: Arg::None,
    },
    OptSpec {
        short: 't',
        long: "track-ios",
        arg: Arg::None,
    },
    OptSpec {
        short: 'w',
        long: "stopwatch",
        arg: Arg::Required,
    },
    OptSpec {
        short: 'v',
        long: "verbose",
        arg: Arg::None,
    },
    OptSpec {
        short: 'V',
        long: "version",
        arg: Arg::None,
    },
    // blkscope's own: --help, and --format json (below).
    OptSpec {
        short: '\u{1}',
        long: "help",
        arg: Arg::None,
    },
];

/// What the parse prints the events as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutputKind {
    /// blkparse's text.
    Text,
    /// One JSON object per line (`--format json`).
    Json,
    /// A Perfetto timeline, Chrome trace-event JSON (`--format perfetto`).
    Perfetto,
}

/// Everything blkparse's options set.
#[derive(Debug, Clone)]
pub struct BlkparseOptions {
    /// Trace names (`-i NAME` or operands), in order.
    pub inputs: Vec<PathBuf>,
    /// `-i -` or a FIFO: one stream read in batches and sorted.
    pub pipe: Option<PathBuf>,
    pub input_dir: Option<PathBuf>,
    pub output: Option<PathBuf>,
    pub text_output: bool,
    pub dump_binary: Option<PathBuf>,
    pub dump_messages: bool,
    /// Category mask of the events shown.
    pub act_mask: u32,
    pub batch: usize,
    pub per_process_stats: bool,
    pub device_stats: bool,
    pub track_ios: bool,
    pub hash_by_name: bool,
    pub verbose: u32,
    pub stopwatch: (u64, u64),
    /// `-f fmt` (None: every action letter without a format yet) and `-F X,fmt`, in order.
    pub formats: Vec<(Option<char>, String)>,
    pub kind: OutputKind,
}

impl Default for BlkparseOptions {
    fn default() -> Self {
        BlkparseOptions {
            inputs: Vec::new(),
            pipe: None,
            input_dir: None,
            output: None,
            text_output: true,
            dump_binary: None,
            dump_messages: true,
            act_mask: u32::MAX,
            batch: crate::blktrace::reader::DEFAULT_BATCH,
            per_process_stats: false,
            device_stats: true,
            track_ios: false,
            hash_by_name: false,
            verbose: 0,
            stopwatch: (0, u64::MAX),
            formats: Vec::new(),
            kind: OutputKind::Text,
        }
    }
}

/// Action letters `-F` accepts.
pub const VALID_SPECS: &str = "ABCDFGIMPQRSTUWX";

/// What the command line asks for.
#[derive(Debug)]
pub enum Command {
    Parse(Box<BlkparseOptions>),
    Version,
    Help,
}

/// A command-line problem and what blkparse prints for it.
#[derive(Debug, thiserror::Error)]
pub enum UsageError {
    /// getopt's own message, then the usage text.
    #[error("{0}")]
    Getopt(OptError),
    /// No input: just the usage text.
    #[error("no input given (-i NAME)")]
    NoInput,
    /// A bad value, with blkparse's message.
    #[error("{0}")]
    Value(String),
}

impl UsageError {
    /// Whether blkparse prints its usage text after the message.
    pub fn shows_usage(&self) -> bool {
        !matches!(self, UsageError::Value(_))
    }
}

/// `is_pipe`: "-" or a FIFO.
fn is_pipe(name: &Path) -> bool {
    use std::os::unix::fs::FileTypeExt;
    name.as_os_str() == "-" || std::fs::metadata(name).is_ok_and(|m| m.file_type().is_fifo())
}

/// Parses blkparse's options.
pub fn parse(args: &[OsString]) -> Result<Command, UsageError> {
    let parsed = getopt_long(args, SPECS).map_err(UsageError::Getopt)?;
    let mut o = BlkparseOptions::default();
    let mut mask = 0u32;
    let add_input = |o: &mut BlkparseOptions, name: PathBuf| {
        if o.pipe.is_none() && is_pipe(&name) {
            o.pipe = Some(name);
        } else {
            o.inputs.push(name);
        }
    };
    for p in parsed {
        let (c, v) = match p {
            Parsed::Operand(name) => {
                add_input(&mut o, name.into());
                continue;
            }
            Parsed::Opt(c, v) => (c, v.unwrap_or_default()),
        };
        // File names are taken as the OS gave them; words and numbers must be text.
        match c {
            'i' => add_input(&mut o, v.into()),
            'D' => o.input_dir = Some(v.into()),
            'o' => o.output = Some(v.into()),
            'd' => o.dump_binary = Some(v.into()),
            _ => {
                let v = text(c, &v).map_err(UsageError::Getopt)?;
                if let Some(command) = take_word(&mut o, &mut mask, c, v)? {
                    return Ok(command);
                }
            }
        }
    }
    if o.pipe.is_none() && o.inputs.is_empty() {
        return Err(UsageError::NoInput);
    }
    if mask != 0 {
        o.act_mask = mask;
    }
    Ok(Command::Parse(Box::new(o)))
}

/// An option whose value (if any) is a word or number; a command when it ends the parse.
fn take_word(
    o: &mut BlkparseOptions,
    mask: &mut u32,
    c: char,
    v: &str,
) -> Result<Option<Command>, UsageError> {
    match c {
        'a' => {
            *mask |=
                find_mask(v).ok_or_else(|| UsageError::Value(format!("Invalid action mask {v}")))?
        }
        'A' => {
            let x = scan_hex(v);
            match x.filter(|x| (1..(1 << category::SHIFT)).contains(x)) {
                Some(x) => *mask = x,
                None => {
                    let shown = x.unwrap_or(0);
                    return Err(UsageError::Value(format!(
                        "Invalid set action mask {v}/0x{shown:x}"
                    )));
                }
            }
        }
        'O' => o.text_output = false,
        'b' => {
            o.batch = v
                .trim()
                .parse::<i64>()
                .ok()
                .filter(|&b| b > 0)
                .map_or(o.batch, |b| b as usize)
        }
        's' => o.per_process_stats = true,
        't' => o.track_ios = true,
        'q' => o.device_stats = false,
        'w' => o.stopwatch = stopwatch(v).map_err(UsageError::Value)?,
        'f' if v == "json" => o.kind = OutputKind::Json,
        'f' if v == "perfetto" => o.kind = OutputKind::Perfetto,
        'f' => o.formats.push((None, v.to_string())),
        'F' => {
            let (letter, format) = format_spec(v).map_err(UsageError::Value)?;
            o.formats.push((Some(letter), format));
        }
        'h' => o.hash_by_name = true,
        'v' => o.verbose += 1,
        'V' => return Ok(Some(Command::Version)),
        'M' => o.dump_messages = false,
        _ => return Ok(Some(Command::Help)),
    }
    Ok(None)
}

/// sscanf's `%x`: leading blanks, an optional 0x, then hex digits (None without any).
fn scan_hex(v: &str) -> Option<u32> {
    let t = v.trim_start();
    let t = t
        .strip_prefix("0x")
        .or_else(|| t.strip_prefix("0X"))
        .unwrap_or(t);
    let end = t.find(|c: char| !c.is_ascii_hexdigit()).unwrap_or(t.len());
    let digits = &t[..end];
    if digits.is_empty() {
        return None;
    }
    // Overflow wraps like sscanf into an int.
    Some(digits.chars().fold(0u32, |acc, c| {
        acc.wrapping_mul(16)
            .wrapping_add(c.to_digit(16).unwrap_or(0))
    }))
}

/// A category by name (`write`, `BLK_TC_WRITE`), case-insensitive.
pub fn find_mask(name: &str) -> Option<u32> {
    category::NAMES.iter().find_map(|(short, bit)| {
        let long = format!("BLK_TC_{short}");
        (name.eq_ignore_ascii_case(short) || name.eq_ignore_ascii_case(&long)).then_some(*bit)
    })
}

/// `-F X,format`.
fn format_spec(v: &str) -> Result<(char, String), String> {
    let mut chars = v.chars();
    let spec = chars.next().unwrap_or('\0');
    if !VALID_SPECS.contains(spec) || spec == '\0' {
        return Err(format!("Bad format specifier {spec}"));
    }
    if chars.next() != Some(',') {
        return Err(format!("Bad format specifier - need ',' {v}"));
    }
    Ok((spec, chars.collect()))
}

/// `-w [start:]end` in seconds (floating point), as nanoseconds.
fn stopwatch(v: &str) -> Result<(u64, u64), String> {
    let nanos = |s: &str| -> Option<u64> {
        let x: f64 = leading_float(s)?.0;
        Some((x * 1e9) as u64)
    };
    let (start, end) = match v.split_once(':') {
        Some((a, b)) => {
            let start =
                nanos(a).filter(|_| leading_float(a).is_some_and(|(_, rest)| rest.is_empty()));
            let start = start.ok_or_else(|| format!("Invalid stopwatch timer: {v}"))?;
            let end = leading_float(b)
                .filter(|(_, rest)| rest.is_empty())
                .and_then(|_| nanos(b))
                .ok_or_else(|| format!("Invalid stopwatch duration time: {b}"))?;
            (start, end)
        }
        None => match leading_float(v) {
            None => return Err(format!("Invalid stopwatch timer: {v}")),
            Some((_, rest)) if !rest.is_empty() => {
                return Err(format!("Invalid stopwatch start timer: {v}"));
            }
            Some(_) => (0, nanos(v).unwrap_or(0)),
        },
    };
    if end <= start {
        return Err(format!("Invalid stopwatch interval: {start} -> {end}"));
    }
    Ok((start, end))
}

/// strtod's leading number and what follows it.
fn leading_float(s: &str) -> Option<(f64, &str)> {
    let t = s.trim_start();
    let mut end = 0;
    let b = t.as_bytes();
    if end < b.len() && (b[end] == b'+' || b[end] == b'-') {
        end += 1;
    }
    let digits_start = end;
    while end < b.len() && (b[end].is_ascii_digit() || b[end] == b'.') {
        end += 1;
    }
    if end < b.len() && (b[end] == b'e' || b[end] == b'E') && end > digits_start {
        let mut e = end + 1;
        if e < b.len() && (b[e] == b'+' || b[e] == b'-') {
            e += 1;
        }
        if e < b.len() && b[e].is_ascii_digit() {
            while e < b.len() && b[e].is_ascii_digit() {
                e += 1;
            }
            end = e;
        }
    }
    let x: f64 = t[..end].parse().ok()?;
    Some((x, &t[end..]))
}

/// blkparse's usage text (after "Usage: PROG").
pub const USAGE: &str = "\n\n\
-i <file>           | --input=<file>\n\
[ -a <action field> | --act-mask=<action field> ]\n\
[ -A <action mask>  | --set-mask=<action mask> ]\n\
[ -b <traces>       | --batch=<traces> ]\n\
[ -d <file>         | --dump-binary=<file> ]\n\
[ -D <dir>          | --input-directory=<dir> ]\n\
[ -f <format>       | --format=<format> ]\n\
[ -F <spec>         | --format-spec=<spec> ]\n\
[ -h                | --hash-by-name ]\n\
[ -o <file>         | --output=<file> ]\n\
[ -O                | --no-text-output ]\n\
[ -q                | --quiet ]\n\
[ -s                | --per-program-stats ]\n\
[ -t                | --track-ios ]\n\
[ -w <time>         | --stopwatch=<time> ]\n\
[ -M                | --no-msgs\n\
[ -v                | --verbose ]\n\
[ -V                | --version ]\n\n\
\t-a Only trace specified actions. See documentation\n\
\t-A Give trace mask as a single value. See documentation\n\
\t-b stdin read batching\n\
\t-d Output file. If specified, binary data is written to file\n\
\t-D Directory to prepend to input file names\n\
\t-f Output format. Customize the output format. The format field\n\
\t   identifies can be found in the documentation\n\
\t-F Format specification. Can be found in the documentation\n\
\t-h Hash processes by name, not pid\n\
\t-i Input file containing trace data, or '-' for stdin\n\
\t-o Output file. If not given, output is stdout\n\
\t-O Do NOT output text data\n\
\t-q Quiet. Don't display any stats at the end of the trace\n\
\t-s Show per-program io statistics\n\
\t-t Track individual ios. Will tell you the time a request took\n\
\t   to get queued, to get dispatched, and to get completed\n\
\t-w Only parse data between the given time interval in seconds.\n\
\t   If 'start' isn't given, blkparse defaults the start time to 0\n\
\t-M Do not output messages to binary file\n\
\t-v More verbose for marginal errors\n\
\t-V Print program version info\n\n";

/// blkscope's additions, shown by `--help` after the usage.
pub const EXTRA_HELP: &str = "blkscope additions:\n\
\t--format json  one JSON object per event (and a summary object at the end)\n\
\t--format perfetto\n\
\t               a timeline that ui.perfetto.dev and chrome://tracing open: a slice per\n\
\t               completed I/O (queue to completion), a track per disk (one trace: -i NAME)\n\
\t--help         this text\n\
The format strings \"json\" and \"perfetto\" themselves can be given with -F X,json.\n\
\n\
EXAMPLES:\n\
\x20 blkscope parse -i sda                      every record of sda.blktrace.*, and the summary\n\
\x20 blkscope parse -i sda -d sda.bin -O        one binary dump for btt, nothing printed\n\
\x20 blkscope parse -i sda -a complete -f \"%T.%t %a %S %n\\n\"   your own lines\n\
\x20 blkscope parse -i sda --format json        one JSON object per event\n";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stopwatch_forms() {
        assert_eq!(stopwatch("1.5"), Ok((0, 1_500_000_000)));
        assert_eq!(stopwatch("1:2"), Ok((1_000_000_000, 2_000_000_000)));
        assert!(stopwatch("2:1").is_err());
        assert!(stopwatch("x").is_err());
    }

    #[test]
    fn masks() {
        assert_eq!(find_mask("write"), Some(category::WRITE));
        assert_eq!(find_mask("BLK_TC_fua"), Some(category::FUA));
        assert_eq!(find_mask("nope"), None);
    }
}
