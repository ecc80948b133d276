//! iostat's command line, parsed the way sysstat's iostat 12.6 parses it: grouped letters
//! (`-xyz`), `-p` with an optional list, device names and numbers in any order. Not clap:
//! iostat's grammar (an option argument that is taken only when it is not a number, `-h` for
//! human) is part of what users' scripts rely on.

use std::path::PathBuf;

use super::cgroups::CgroupRows;

/// What a report shows and how (sysstat's flag word, as named fields).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IostatOptions {
    pub cpu: bool,
    pub disk: bool,
    pub timestamp: bool,
    pub extended: bool,
    /// `-p ALL` (or a bare `-p`): every device and partition, from /proc/diskstats.
    pub everything: bool,
    pub kilobytes: bool,
    pub megabytes: bool,
    /// Devices were named: show them even when they never did I/O.
    pub unfiltered: bool,
    /// `ALL` or no device named: every whole device.
    pub all_devices: bool,
    pub group_defined: bool,
    pub pretty: bool,
    pub persistent_names: bool,
    pub omit_since_boot: bool,
    pub json: bool,
    pub devmap_names: bool,
    pub group_total_only: bool,
    pub zero_omit: bool,
    /// `--human`: values with a unit suffix.
    pub human: bool,
    pub short: bool,
    pub compact: bool,
    /// `--dec=N`.
    pub decimals: Option<u8>,
    /// `-j TYPE`: /dev/disk/by-TYPE names.
    pub persistent_type: Option<String>,
    /// `-f DIR` (false) or `+f DIR` (true).
    pub alternate_dir: Option<(PathBuf, bool)>,
    pub interval: u64,
    /// None: until interrupted.
    pub count: Option<u64>,
    /// Devices, `-p` devices and groups, in command-line order.
    pub selections: Vec<Selected>,
    /// Beyond sysstat: the `-x` columns per cgroup and device.
    pub cgroups: bool,
    /// Beyond sysstat: only this cgroup (and its descendants).
    pub cgroup: Option<PathBuf>,
    /// `--btf FILE`: the kernel's BTF for the probes of `--cgroups`.
    pub btf: Option<PathBuf>,
    /// Beyond sysstat: how the per-cgroup rows are named and grouped.
    pub cgroup_rows: CgroupRows,
    /// Beyond sysstat: only the cgroups of this Kubernetes pod (`--pod NAMESPACE/POD`).
    pub pod: Option<String>,
    /// Beyond sysstat: only containers whose name matches (`--container-name GLOB`).
    pub container_name: Option<String>,
    /// Beyond sysstat: containers by runtime and short id rather than name.
    pub container_id: bool,
}

/// A name given on the command line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Selection {
    /// `iostat sda`
    Device(String),
    /// `iostat -p sda`: the device and all its partitions.
    DeviceAndPartitions(String),
    /// `-g NAME`: the following devices add up into a group.
    Group(String),
}

impl IostatOptions {
    /// sysstat keeps its device list in alphabetical order unless groups or `-p ALL` are used.
    pub fn keeps_sorted(&self) -> bool {
        !self.group_defined && !self.everything
    }
}

/// A selection, and whether iostat keeps the list sorted at the moment it reads it (no group
/// and no `-p ALL` yet): sysstat inserts in alphabetical order only then.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Selected {
    pub what: Selection,
    pub sorted: bool,
}

/// What the command line asks for.
#[derive(Debug, PartialEq, Eq)]
pub enum Invocation {
    Report(Box<IostatOptions>),
    Version,
    Help,
}

/// A command line iostat rejects.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum UsageError {
    /// iostat prints its usage text and exits with 1.
    #[error("usage")]
    Usage,
    #[error("Invalid type of persistent device name")]
    PersistentType,
}

/// The file-system lookups that parsing a device argument needs.
pub trait ArgNames {
    /// iostat's device name for an argument: `/dev/sda` -> `sda`, symlinks followed,
    /// `cciss/c0d0` -> `cciss!c0d0`.
    fn device_name(&self, arg: &str) -> String;
    /// Whether /dev/disk/by-TYPE exists (`-j TYPE`).
    fn persistent_type_exists(&self, kind: &str) -> bool;
    /// The device a persistent name points at.
    fn device_of_persistent(&self, kind: &str, name: &str) -> Option<String>;
}

/// Parses iostat's arguments (without the program name).
pub fn parse(args: &[String], names: &dyn ArgNames) -> Result<Invocation, UsageError> {
    let resolve = |arg: &str, o: &IostatOptions| {
        let name = names.device_name(arg);
        o.persistent_type
            .as_deref()
            .and_then(|kind| names.device_of_persistent(kind, &name))
            .unwrap_or(name)
    };
    let mut o = IostatOptions::default();
    let mut report_set = false;
    let mut numbers = 0;
    let mut count: Option<u64> = None;
    let mut i = 0;
    while i < args.len() {
        let arg = args[i].as_str();
        i += 1;
        match arg {
            "--help" => return Ok(Invocation::Help),
            "-p" => match args.get(i) {
                Some(next) if !all_digits(next) && !next.starts_with('-') => {
                    i += 1;
                    o.unfiltered = true;
                    for name in next.split(',').filter(|n| !n.is_empty()) {
                        if name == "ALL" {
                            o.everything = true;
                        } else {
                            let sorted = o.keeps_sorted();
                            o.selections.push(Selected {
                                what: Selection::DeviceAndPartitions(resolve(name, &o)),
                                sorted,
                            });
                        }
                    }
                }
                _ => o.everything = true,
            },
            "-g" => {
                let name = args.get(i).ok_or(UsageError::Usage)?;
                i += 1;
                o.group_defined = true;
                // sysstat keeps a group name in 128 bytes with a leading space.
                let name: String = name.chars().take(126).collect();
                o.selections.push(Selected {
                    what: Selection::Group(format!(" {name}")),
                    sorted: false,
                });
            }
            "--human" => o.human = true,
            "--pretty" => o.pretty = true,
            "--compact" => o.compact = true,
            "--cgroups" => o.cgroups = true,
            "--container" => {
                o.cgroups = true;
                o.cgroup_rows = one_row_layout(o.cgroup_rows, CgroupRows::PerCgroupWithContainer)?;
            }
            "--containers" => {
                o.cgroups = true;
                o.cgroup_rows = one_row_layout(o.cgroup_rows, CgroupRows::PerContainer)?;
            }
            "--cgroup" => {
                let path = args.get(i).ok_or(UsageError::Usage)?;
                i += 1;
                o.cgroups = true;
                o.cgroup = Some(path.into());
            }
            "--pod" | "--container-name" => {
                let value = args.get(i).ok_or(UsageError::Usage)?;
                i += 1;
                o.cgroups = true;
                if arg == "--pod" {
                    o.pod = Some(value.clone());
                } else {
                    o.container_name = Some(value.clone());
                }
            }
            "--container-id" => o.container_id = true,
            "--btf" => {
                let path = args.get(i).ok_or(UsageError::Usage)?;
                i += 1;
                o.btf = Some(path.into());
            }
            _ if arg.starts_with("--dec=") && arg.len() == 7 => {
                // atoi: anything but a digit reads as 0.
                let places = arg.as_bytes()[6].wrapping_sub(b'0');
                o.decimals = Some(if places <= 9 { places } else { 0 });
                if places > 2 && places <= 9 {
                    return Err(UsageError::Usage);
                }
            }
            "-f" | "+f" => {
                let dir = args.get(i).ok_or(UsageError::Usage)?;
                i += 1;
                if o.alternate_dir.is_some() || !std::path::Path::new(dir).is_dir() {
                    return Err(UsageError::Usage);
                }
                o.alternate_dir = Some((dir.into(), arg == "+f"));
            }
            "-j" => {
                let kind = args.get(i).ok_or(UsageError::Usage)?.to_lowercase();
                i += 1;
                if kind.len() >= 31 {
                    return Err(UsageError::Usage);
                }
                if !names.persistent_type_exists(&kind) {
                    return Err(UsageError::PersistentType);
                }
                o.persistent_type = Some(kind);
                o.persistent_names = true;
                o.pretty = true;
            }
            "-o" => match args.get(i).map(String::as_str) {
                Some("JSON") => {
                    i += 1;
                    o.json = true;
                }
                _ => return Err(UsageError::Usage),
            },
            _ if arg.starts_with('-') => {
                for letter in arg.chars().skip(1) {
                    if apply_letter(&mut o, letter, &mut report_set)? {
                        return Ok(Invocation::Version);
                    }
                }
            }
            _ if !all_digits(arg) => {
                o.unfiltered = true;
                if arg == "ALL" {
                    o.all_devices = true;
                } else {
                    let sorted = o.keeps_sorted();
                    o.selections.push(Selected {
                        what: Selection::Device(resolve(arg, &o)),
                        sorted,
                    });
                }
            }
            _ => {
                // atol of a digit string; more digits than fit make it iostat's -1 / usage.
                let value: u64 = arg.parse().unwrap_or(0);
                match numbers {
                    0 => {
                        o.interval = value;
                        count = None;
                    }
                    1 => {
                        if value < 1 || o.interval == 0 {
                            return Err(UsageError::Usage);
                        }
                        count = Some(value);
                    }
                    _ => return Err(UsageError::Usage),
                }
                numbers += 1;
            }
        }
    }
    finish(&mut o, report_set, numbers, count)?;
    Ok(Invocation::Report(Box::new(o)))
}

/// One letter of a `-xyz` group; true for `-V`.
fn apply_letter(
    o: &mut IostatOptions,
    letter: char,
    report_set: &mut bool,
) -> Result<bool, UsageError> {
    match letter {
        'c' => {
            o.cpu = true;
            *report_set = true;
        }
        'd' => {
            o.disk = true;
            *report_set = true;
        }
        'H' => o.group_total_only = true,
        'h' => {
            o.pretty = true;
            o.human = true;
        }
        'k' if o.megabytes => return Err(UsageError::Usage),
        'k' => o.kilobytes = true,
        'm' if o.kilobytes => return Err(UsageError::Usage),
        'm' => o.megabytes = true,
        'N' => o.devmap_names = true,
        'p' => o.everything = true,
        's' => o.short = true,
        't' => o.timestamp = true,
        'x' => o.extended = true,
        'y' => o.omit_since_boot = true,
        'z' => o.zero_omit = true,
        'V' => return Ok(true),
        _ => return Err(UsageError::Usage),
    }
    Ok(false)
}

/// The defaults iostat derives after reading the whole command line.
fn finish(
    o: &mut IostatOptions,
    report_set: bool,
    numbers: usize,
    count: Option<u64>,
) -> Result<(), UsageError> {
    o.count = match (o.interval, numbers) {
        (0, _) => Some(1),
        (_, _) => count,
    };
    if !report_set {
        o.cpu = true;
        o.disk = true;
    }
    if o.everything || o.extended || o.unfiltered {
        o.disk = true;
    }
    if !o.unfiltered {
        o.all_devices = true;
    }
    if o.group_total_only && !o.group_defined {
        return Err(UsageError::Usage);
    }
    if o.cgroups && (o.json || o.short || o.group_defined) {
        // The per-cgroup table has one layout: -x's columns.
        return Err(UsageError::Usage);
    }
    // kB unless POSIXLY_CORRECT asks for blocks.
    if !o.kilobytes && !o.megabytes && std::env::var_os("POSIXLY_CORRECT").is_none() {
        o.kilobytes = true;
    }
    Ok(())
}

fn all_digits(text: &str) -> bool {
    text.bytes().all(|b| b.is_ascii_digit())
}

/// iostat's usage text (on stderr, exit 1).
pub fn usage_text(program: &str) -> String {
    format!(
        "Usage: {program} [ options ] [ <interval> [ <count> ] ]\n\
Options are:\n\
[ -c ] [ -d ] [ -h ] [ -k | -m ] [ -N ] [ -s ] [ -t ] [ -V ] [ -x ] [ -y ] [ -z ]\n\
[ {{ -f | +f }} <directory> ] [ -j {{ ID | LABEL | PATH | UUID | ... }} ]\n\
[ --compact ] [ --dec={{ 0 | 1 | 2 }} ] [ --human ] [ --pretty ] [ -o JSON ]\n\
[ [ -H ] -g <group_name> ] [ -p [ <device> [,...] | ALL ] ]\n\
[ <device> [...] | ALL ]\n"
    )
}

/// `--help`: every option, one line each.
pub fn help_text(program: &str) -> String {
    format!(
        r#"{program}: CPU and block device statistics, as sysstat's iostat 12.6 prints them

Usage: {program} [ options ] [ <device> [...] | ALL ] [ <interval> [ <count> ] ]

  -c                 CPU utilization report only
  -d                 device utilization report only
  -h                 human-readable: --pretty and --human
  -k | -m            kilobytes (default) or megabytes per second
  -N                 device-mapper names (/dev/mapper) instead of dm-N
  -s                 short (narrow) report
  -t                 timestamp of each report (S_TIME_FORMAT=ISO for ISO 8601)
  -V                 version
  -x                 extended statistics
  -y                 skip the first report (statistics since boot)
  -z                 omit devices without activity during the interval
  -f DIR | +f DIR    read diskstats and block/ from DIR instead of (-f) or as well as (+f) /proc and /sys
  -j TYPE            persistent device names from /dev/disk/by-TYPE (ID, LABEL, PATH, UUID, ...)
  -g NAME [-H]       group the following devices as NAME (-H: the group total only)
  -p [DEV,...|ALL]   devices and their partitions
  -o JSON            JSON output
  --compact          with -h -x: one line per device instead of four sections
  --dec={{0|1|2}}      decimal places
  --human            values with a unit suffix (k, M, G)
  --pretty           device name at the end of the line
  --cgroups          the -x columns per cgroup (container) and device, from the probes
  --cgroup PATH      like --cgroups, only that cgroup and its descendants
  --container        like --cgroups, with the container of each cgroup in a column
  --containers       like --cgroups, one row per container (its cgroups added up)
  --pod NS/POD       like --cgroups, only the cgroups of that Kubernetes pod's containers
  --container-name GLOB  like --cgroups, only containers whose name matches GLOB
  --container-id     containers by runtime and short id (docker:0123456789ab), not name
  --btf FILE         with --cgroups: this kernel's BTF from FILE (for kernels without
                     /sys/kernel/btf/vmlinux)
  --help             this text

Environment: POSIXLY_CORRECT (blocks instead of kB), S_TIME_FORMAT=ISO, S_COLORS={{never|always|auto}},
S_COLORS_SGR (H=, M=, Z=, N=, I= colour codes).

EXAMPLES:
  {program} -x 2                 extended statistics every 2 seconds
  {program} -dxz sda 1 5         one disk, five reports, idle intervals left out
  {program} --containers -x 2    the -x columns per container and disk
"#
    )
}

/// `--container` and `--containers` ask for two layouts of the per-cgroup table: one at most.
fn one_row_layout(current: CgroupRows, wanted: CgroupRows) -> Result<CgroupRows, UsageError> {
    if current == CgroupRows::default() || current == wanted {
        Ok(wanted)
    } else {
        Err(UsageError::Usage)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct FakeNames;

    impl ArgNames for FakeNames {
        fn device_name(&self, arg: &str) -> String {
            arg.trim_start_matches("/dev/").to_owned()
        }
        fn persistent_type_exists(&self, kind: &str) -> bool {
            kind == "uuid"
        }
        fn device_of_persistent(&self, _: &str, name: &str) -> Option<String> {
            (name == "1234-abcd").then(|| "vdb".to_owned())
        }
    }

    fn parse_line(line: &str) -> Result<Invocation, UsageError> {
        let args: Vec<String> = line.split_whitespace().map(str::to_owned).collect();
        parse(&args, &FakeNames)
    }

    fn options(line: &str) -> IostatOptions {
        match parse_line(line) {
            Ok(Invocation::Report(o)) => *o,
            other => panic!("{line}: {other:?}"),
        }
    }

    #[test]
    fn defaults_and_grouped_letters() {
        let o = options("");
        assert!(o.cpu && o.disk && o.all_devices && o.kilobytes);
        assert_eq!((o.interval, o.count), (0, Some(1)));
        let o = options("-xyz 2");
        assert!(o.extended && o.omit_since_boot && o.zero_omit);
        assert_eq!((o.interval, o.count), (2, None));
        let o = options("-d 1 3");
        assert!(o.disk && !o.cpu);
        assert_eq!(o.count, Some(3));
    }

    #[test]
    fn devices_partitions_and_groups() {
        let o = options("-p sda,ALL /dev/vda 1");
        assert!(o.everything && o.unfiltered && !o.all_devices);
        let names: Vec<&Selection> = o.selections.iter().map(|s| &s.what).collect();
        assert_eq!(
            names,
            vec![
                &Selection::DeviceAndPartitions("sda".into()),
                &Selection::Device("vda".into())
            ]
        );
        assert!(
            o.selections[0].sorted && !o.selections[1].sorted,
            "-p ALL came between"
        );
        assert_eq!(o.interval, 1, "-p does not take a number");
        let o = options("-p 2");
        assert!(o.everything);
        assert_eq!(o.interval, 2);
        let o = options("-g all -H vda loop0");
        assert_eq!(o.selections[0].what, Selection::Group(" all".into()));
        assert!(o.group_total_only);
    }

    #[test]
    fn usage_errors_like_iostat() {
        for bad in [
            "-k -m", "-m -k", "-q", "0 5", "1 0", "1 2 3", "-H", "-o XML", "-g", "--dec=3", "--foo",
        ] {
            assert_eq!(parse_line(bad), Err(UsageError::Usage), "{bad}");
        }
        assert_eq!(parse_line("-j nosuch"), Err(UsageError::PersistentType));
        assert_eq!(parse_line("-V"), Ok(Invocation::Version));
        assert_eq!(parse_line("--help"), Ok(Invocation::Help));
        let o = options("-j UUID 1234-abcd");
        assert!(o.pretty && o.persistent_names);
        assert_eq!(o.selections[0].what, Selection::Device("vdb".into()));
        assert_eq!(options("--dec=0").decimals, Some(0));
    }
}
