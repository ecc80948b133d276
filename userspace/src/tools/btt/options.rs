//! btt's command line (GNU getopt_long, as btt 2.09 parses it).

use std::ffi::OsString;
use std::path::PathBuf;

use super::plots::PlotNames;
use crate::cli::getopt::{Arg, OptError, OptSpec, Parsed, getopt_long, text};

const fn opt(short: char, long: &'static str, arg: Arg) -> OptSpec {
    OptSpec { short, long, arg }
}

/// btt 2.09's options, in its order, with its slip kept: `--do-active` is `-z` without a
/// value (it turns `-z` off), so `-Z` has no long name (`\0` can never be typed), and `-z`
/// comes before `--do-active` so that the letter finds its value-taking entry.
pub const SPECS: &[OptSpec] = &[
    opt('a', "seek-absolute", Arg::None),
    opt('A', "all-data", Arg::None),
    opt('B', "dump-blocknos", Arg::Required),
    opt('d', "range-delta", Arg::Required),
    opt('D', "devices", Arg::Required),
    opt('e', "exes", Arg::Required),
    opt('h', "help", Arg::None),
    opt('i', "input-file", Arg::Required),
    opt('I', "iostat", Arg::Required),
    opt('l', "d2c-latencies", Arg::Required),
    opt('L', "periodic-latencies", Arg::Required),
    opt('m', "seeks-per-second", Arg::Required),
    opt('M', "dev-maps", Arg::Required),
    opt('o', "output-file", Arg::Required),
    opt('p', "per-io-dump", Arg::Required),
    opt('P', "per-io-trees", Arg::Required),
    opt('q', "q2c-latencies", Arg::Required),
    opt('Q', "active-queue-depth", Arg::Required),
    opt('r', "no-remaps", Arg::None),
    opt('s', "seeks", Arg::Required),
    opt('S', "iostat-interval", Arg::Required),
    opt('t', "time-start", Arg::Required),
    opt('T', "time-end", Arg::Required),
    opt('u', "unplug-hist", Arg::Required),
    opt('V', "version", Arg::None),
    opt('v', "verbose", Arg::None),
    opt('z', "q2d-latencies", Arg::Required),
    opt('z', "do-active", Arg::None),
    opt('X', "easy-parse-avgs", Arg::None),
    opt('Z', "\0", Arg::None),
];

/// btt 2.09's usage text.
pub const USAGE: &str = "\n[ -a               | --seek-absolute ]
[ -A               | --all-data ]
[ -B <output name> | --dump-blocknos=<output name> ]
[ -d <seconds>     | --range-delta=<seconds> ]
[ -D <dev;...>     | --devices=<dev;...> ]
[ -e <exe,...>     | --exes=<exe,...>  ]
[ -h               | --help ]
[ -i <input name>  | --input-file=<input name> ]
[ -I <output name> | --iostat=<output name> ]
[ -l <output name> | --d2c-latencies=<output name> ]
[ -L <freq>        | --periodic-latencies=<freq> ]
[ -m <output name> | --seeks-per-second=<output name> ]
[ -M <dev map>     | --dev-maps=<dev map>
[ -o <output name> | --output-file=<output name> ]
[ -p <output name> | --per-io-dump=<output name> ]
[ -P <output name> | --per-io-trees=<output name> ]
[ -q <output name> | --q2c-latencies=<output name> ]
[ -Q <output name> | --active-queue-depth=<output name> ]
[ -r               | --no-remaps ]
[ -s <output name> | --seeks=<output name> ]
[ -S <interval>    | --iostat-interval=<interval> ]
[ -t <sec>         | --time-start=<sec> ]
[ -T <sec>         | --time-end=<sec> ]
[ -u <output name> | --unplug-hist=<output name> ]
[ -V               | --version ]
[ -v               | --verbose ]
[ -X               | --easy-parse-avgs ]
[ -z <output name> | --q2d-latencies=<output name> ]
[ -Z               | --do-active

";

/// What each option does, after the usage in `blkscope btt --help` (btt prints none).
pub const HELP: &str = "Options:
  -a  seeks as absolute distances (default: signed, from the previous I/O's end)
  -A  every per-device and per-process table (the default prints the summaries)
  -B  each I/O's blocks (time, first and last sector) into NAME_DEV_*.dat files
  -d  range gap, in seconds, that ends an active period (default 0.1)
  -D  only these devices (MAJ,MIN;...)
  -e  only I/Os of these executables (comma separated)
  -i  input: per-CPU trace files NAME.blktrace.N, or a binary dump (blkparse -d), - for stdin
  -I  iostat-style statistics into this file (see -S)
  -l  D2C latencies per I/O into NAME_DEV_d2c.dat
  -L  periodic Q2C latency averages, one per FREQ seconds (with -l or -q)
  -m  seeks per second into NAME_DEV_*.dat files
  -M  device map file (device names for the tables)
  -o  output file (default stdout)
  -p  per-I/O dump: every I/O's trace lines, grouped
  -P  per-I/O trees: Q, G, I, D, C of each I/O with their timings
  -q  Q2C latencies per I/O into NAME_DEV_q2c.dat
  -Q  active queue depth over time into NAME_DEV_aqd.dat
  -r  ignore remaps
  -s  seek distances into NAME_DEV_*.dat files
  -S  interval of the -I statistics, in seconds (default 1)
  -t  start of the time range, in seconds
  -T  end of the time range, in seconds
  -u  unplug histogram into NAME_DEV.dat
  -V  version
  -v  verbose: what is being done
  -X  easy-to-parse averages (one line per figure)
  -z  Q2D latencies per I/O into NAME_DEV_q2d.dat
  -Z  requests in flight over time into DEV_live.dat and sys_live.dat

EXAMPLES:
  blkscope btt -i sda                   the latency breakdown of sda.blktrace.*
  blkparse -i sda -d sda.bin -O; blkscope btt -i sda.bin   the same, through a dump
  blkscope btt -i sda -l lat -q q2c     D2C and Q2C latencies per I/O into files
";

/// What the command line asks for.
#[derive(Debug, Clone, Default)]
pub struct BttOptions {
    /// `-i`: a binary dump (`blkparse -d`), `-` for stdin, or the name of per-CPU trace files.
    pub input: PathBuf,
    pub seek_absolute: bool,
    pub all_data: bool,
    pub range_delta: Option<f64>,
    /// `-D`: devices as `MAJ,MIN` separated by ';'.
    pub devices: Vec<u32>,
    pub exes: Option<String>,
    pub iostat: Option<PathBuf>,
    pub iostat_interval: Option<u32>,
    pub device_map: Option<PathBuf>,
    pub output: Option<PathBuf>,
    pub per_io: Option<PathBuf>,
    /// `-P`: the per-device `_pit.dat` files (btt ignores the name given).
    pub per_io_trees: bool,
    pub ignore_remaps: bool,
    pub time_start: Option<f64>,
    pub time_end: Option<f64>,
    pub verbose: bool,
    pub easy_parse: bool,
    /// `-B -l -L -m -q -Q -s -u -z`: the per-device plot-data files.
    pub plots: PlotNames,
    /// `-Z`: the active periods' `_live.dat` files.
    pub live: bool,
}

/// What to do.
#[derive(Debug)]
pub enum Command {
    Run(Box<BttOptions>),
    Version,
    Help,
}

/// A command-line problem.
#[derive(Debug, thiserror::Error)]
pub enum UsageError {
    #[error("{0}")]
    Getopt(OptError),
    #[error("no input given (-i NAME)")]
    NoInput,
    #[error("-m option requires -s options")]
    SeeksPerSecondWithoutSeeks,
    #[error("option -{0}: '{1}' is not {2}")]
    BadValue(char, String, &'static str),
}

impl UsageError {
    /// Whether btt's usage text follows the message.
    pub fn shows_usage(&self) -> bool {
        matches!(self, UsageError::Getopt(_) | UsageError::NoInput)
    }
}

pub fn parse(args: &[OsString]) -> Result<Command, UsageError> {
    let mut o = BttOptions::default();
    let mut input = None;
    for p in getopt_long(args, SPECS).map_err(UsageError::Getopt)? {
        // btt ignores operands.
        let Parsed::Opt(c, value) = p else { continue };
        if c == 'z' {
            // `--do-active` comes here without a value and turns `-z` off.
            o.plots.q2d = value.map(PathBuf::from);
            continue;
        }
        let v = value.unwrap_or_default();
        // File names are taken as the OS gave them; words and numbers must be text.
        match c {
            'i' => input = Some(PathBuf::from(v)),
            'I' => o.iostat = Some(v.into()),
            'M' => o.device_map = Some(v.into()),
            'o' => o.output = Some(v.into()),
            'p' => o.per_io = Some(v.into()),
            'B' => o.plots.block_numbers = Some(v.into()),
            'l' => o.plots.d2c = Some(v.into()),
            'm' => o.plots.seeks_per_second = Some(v.into()),
            'q' => o.plots.q2c = Some(v.into()),
            'Q' => o.plots.queue_depth = Some(v.into()),
            's' => o.plots.seeks = Some(v.into()),
            'u' => o.plots.unplugs = Some(v.into()),
            _ => {
                let v = text(c, &v).map_err(UsageError::Getopt)?;
                if let Some(command) = take_word(&mut o, c, v)? {
                    return Ok(command);
                }
            }
        }
    }
    o.input = input.ok_or(UsageError::NoInput)?;
    if o.plots.seeks_per_second.is_some() && o.plots.seeks.is_none() {
        return Err(UsageError::SeeksPerSecondWithoutSeeks);
    }
    Ok(Command::Run(Box::new(o)))
}

/// An option whose value (if any) is a word or number; a command when it ends the parse.
fn take_word(o: &mut BttOptions, c: char, v: &str) -> Result<Option<Command>, UsageError> {
    match c {
        'a' => o.seek_absolute = true,
        'A' => o.all_data = true,
        'd' => o.range_delta = Some(number(c, v)?),
        'D' => o.devices = device_list(v),
        'e' => o.exes = Some(v.to_string()),
        'h' => return Ok(Some(Command::Help)),
        'L' => o.plots.periodic = number(c, v)?,
        'P' => o.per_io_trees = true,
        'r' => o.ignore_remaps = true,
        'S' => {
            let n = v
                .trim()
                .parse::<u32>()
                .map_err(|_| UsageError::BadValue(c, v.to_string(), "a whole number of seconds"))?;
            o.iostat_interval = Some(n);
        }
        't' => o.time_start = Some(number(c, v)?),
        'T' => o.time_end = Some(number(c, v)?),
        'V' => return Ok(Some(Command::Version)),
        'v' => o.verbose = true,
        'X' => o.easy_parse = true,
        'Z' => o.live = true,
        // getopt_long gives only the letters above.
        _ => return Err(UsageError::Getopt(OptError::Invalid(c))),
    }
    Ok(None)
}

fn number(c: char, v: &str) -> Result<f64, UsageError> {
    v.trim()
        .parse::<f64>()
        .ok()
        .filter(|x| x.is_finite())
        .ok_or_else(|| UsageError::BadValue(c, v.to_string(), "a number of seconds"))
}

/// `-D 8,0;8,16`: devices by major and minor (entries that do not scan end the list, as in
/// btt).
fn device_list(v: &str) -> Vec<u32> {
    let mut out = Vec::new();
    for item in v.split(';') {
        let Some((maj, min)) = item.split_once(',') else {
            break;
        };
        let (Ok(maj), Ok(min)) = (maj.trim().parse::<u32>(), min.trim().parse::<u32>()) else {
            break;
        };
        out.push(crate::blktrace::format::make_dev(maj, min));
    }
    out
}

/// A `-M` device map: lines of `NAME MAJ,MIN`; reading stops at a line that mentions
/// "Device" or does not have two words, as in btt.
pub fn read_device_map(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for line in text.lines() {
        if line.contains("Device") {
            break;
        }
        let mut words = line.split_whitespace();
        let (Some(name), Some(devno)) = (words.next(), words.next()) else {
            break;
        };
        out.push((name.to_string(), devno.to_string()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<OsString> {
        s.split_whitespace().map(OsString::from).collect()
    }

    #[test]
    fn parses_btt_options() {
        let Ok(Command::Run(o)) = parse(&args("-i x.bin -A -D 8,0;7,1 -S 2 --range-delta=0.5"))
        else {
            panic!("should parse");
        };
        assert_eq!(o.input, PathBuf::from("x.bin"));
        assert!(o.all_data);
        assert_eq!(o.devices, [8 << 20, 7 << 20 | 1]);
        assert_eq!(o.iostat_interval, Some(2));
        assert_eq!(o.range_delta, Some(0.5));
    }

    #[test]
    fn plot_options_and_bad_values() {
        let Ok(Command::Run(o)) = parse(&args("-i x -B blk -s s -m m -L 0.5 -Z -z q -l d")) else {
            panic!("should parse");
        };
        assert_eq!(o.plots.block_numbers, Some(PathBuf::from("blk")));
        assert_eq!(o.plots.q2d, Some(PathBuf::from("q")));
        assert_eq!(o.plots.periodic, 0.5);
        assert!(o.live);
        // btt's --do-active is -z without a value.
        let Ok(Command::Run(o)) = parse(&args("-i x -z q --do-active")) else {
            panic!("should parse");
        };
        assert!(!o.live && o.plots.q2d.is_none());
        let e = parse(&args("-i x -m m")).unwrap_err();
        assert!(e.to_string().contains("-m option requires -s"), "{e}");
        let e = parse(&args("-i x -S often")).unwrap_err();
        assert!(e.to_string().contains("-S: 'often'"), "{e}");
        assert!(matches!(parse(&args("-A")), Err(UsageError::NoInput)));
    }

    #[test]
    fn device_map_stops_at_a_header() {
        let m = read_device_map("sda 8,0\nvdb 254,16\nDevice x\nsdc 8,32\n");
        assert_eq!(m.len(), 2);
        assert_eq!(m[1], ("vdb".to_string(), "254,16".to_string()));
    }
}
