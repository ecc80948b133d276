//! The `blkscope` command: parses the command line and runs one view. Also answers to the
//! views' own names (`iostat`, `blktrace`, `biosnoop`...) when started through a symlink.

use std::{
    io::{BufWriter, Write as _},
    path::Path,
    process::ExitCode,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use anyhow::Context as _;
use blkscope::{
    biolatency::{
        HistogramLayout, LabelledHistogram, SectionNames, disk_name, label_histograms, render_json,
        render_text,
    },
    biosnoop::{BiosnoopOptions, BiosnoopView},
    biotop::{
        self,
        batch::BatchLayout,
        model::{Grouping, RowNames, SortKey, TopRow, rows_from},
        tui::TuiState,
    },
    cgroup::{CgroupResolver, CgroupSubtree, ContainerSummary},
    device,
    event::{BlockIoEvent, DeviceId},
    fsslower::{
        FileSystem, MountTable, SlowerLayout, decode, render_dist, slower_header, slower_line,
    },
    inflight::RequestTracker,
    kernel::{
        BlockTraceOptions, CgroupFilter,
        biolatency::{LatencyOptions, LatencyProbe},
        biotop::{TopOptions, TopProbe},
        fsslower::{FsOptions, FsProbe},
    },
    latency::{CompletionHistograms, RECORDED_FLAG_BITS},
    live,
    recording::{RecordedEvents, RecordedItem},
    trace::TraceFormatter,
};
use clap::{Args, Parser, Subcommand};
use tokio::signal::unix::{SignalKind, signal};

#[derive(Parser, Debug)]
#[command(
    name = "blkscope",
    version,
    about = "Block I/O tracing and statistics for Linux, from eBPF tracepoint probes",
    long_about = "Block I/O tracing and statistics for Linux, from eBPF tracepoint probes.\n\n\
        Each view reproduces a tool storage people know, with the same flags and output. \
        Without a command, blkscope traces block events live (`blkscope trace`)."
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Print every block-layer event live: the event pipeline all views share
    Trace(TraceArgs),
    /// sysstat iostat 12.6: device and CPU statistics (`blkscope iostat --help`), per cgroup with --cgroups
    Iostat(PlannedArgs),
    /// blktrace: record block events from the probes to blktrace binary files (`blkscope record -h`)
    Record(PlannedArgs),
    /// blkparse 1.2: print blktrace binary traces (`blkscope parse --help`; `-i -` reads stdin)
    Parse(PlannedArgs),
    /// btt 2.09: latency breakdown (Q2Q ... Q2C, overhead, seeks, plugs) of traces (`blkscope btt -h`)
    Btt(PlannedArgs),
    /// bcc biosnoop: one line per I/O with its latency, attributed to the process that issued it
    Biosnoop(BiosnoopArgs),
    /// bcc biotop: top of block I/O by process, container or disk (live TUI, or bcc's text)
    Biotop(BiotopArgs),
    /// bcc biolatency: block I/O latency histograms, kept in the kernel
    Biolatency(BiolatencyArgs),
    /// bcc ext4slower: ext4 (or --fs xfs, btrfs) reads, writes, opens and syncs slower than a threshold
    Ext4slower(Ext4slowerArgs),
    /// bcc ext4dist: latency histograms of ext4 (or --fs xfs, btrfs) operations
    Ext4dist(Ext4distArgs),
    /// Prometheus metrics: node_exporter's diskstats, per-cgroup I/O, latency histograms
    Exporter(ExporterArgs),
}

#[derive(Args, Debug)]
struct ExporterArgs {
    /// Address and port to serve /metrics and /healthz on
    #[arg(long, value_name = "ADDR:PORT", default_value = "0.0.0.0:9438")]
    listen: std::net::SocketAddr,
    /// Read the probes' in-kernel counts every SECONDS
    #[arg(long, value_name = "SECONDS", default_value_t = 5.0)]
    interval: f64,
    /// Cgroups with series of their own; the I/O of any further cgroup goes to one
    /// cgroup="overflow" series
    #[arg(long, value_name = "N", default_value_t = 1000)]
    max_cgroups: usize,
    /// A removed cgroup's series is dropped once unchanged for SECONDS
    #[arg(long, value_name = "SECONDS", default_value_t = 300.0)]
    forget_after: f64,
    /// The file system whose operation latencies are exported: ext4, xfs, btrfs or none
    #[arg(long = "fs", value_name = "FS", default_value = "ext4")]
    fs: String,
}

#[derive(Args, Debug, Default)]
struct TraceArgs {
    /// Trace only this device (path, name or MAJ:MIN; partitions trace their whole disk); repeatable
    #[arg(short = 'd', long = "dev", value_name = "DEV")]
    devices: Vec<String>,
    /// One JSON object per event instead of text lines
    #[arg(long)]
    json: bool,
    /// Stop after this many seconds
    #[arg(short = 'w', long = "stopwatch", value_name = "SECONDS")]
    seconds: Option<f64>,
    /// Ring buffer size in MiB
    #[arg(
        short = 'b',
        long = "buffer-mib",
        default_value_t = 16,
        value_name = "MIB"
    )]
    buffer_mib: u32,
}

#[derive(Args, Debug)]
struct BiosnoopArgs {
    /// Include OS queued time (queue to issue) as QUE(ms)
    #[arg(short = 'Q', long = "queue")]
    queued: bool,
    /// Show the request's operation and flags (rwbs) in the T column, as libbpf-tools does
    #[arg(short = 'P', long = "flags")]
    flags: bool,
    /// Trace this disk only (name, path or MAJ:MIN; a partition shows only its own I/O)
    #[arg(short = 'd', long = "disk", value_name = "DISK")]
    disk: Option<String>,
    /// Only I/O issued by this process
    #[arg(short = 'p', long = "pid", value_name = "PID")]
    pid: Option<u32>,
    /// One JSON object per I/O
    #[arg(long)]
    json: bool,
    /// Only I/O issued by tasks in this cgroup (v2 path, absolute or relative to its root) or
    /// below; with -i, by the recording's cgroup paths
    #[arg(short = 'c', long = "cgroup", value_name = "PATH")]
    cgroup: Option<std::path::PathBuf>,
    /// Add a CONTAINER column: the issuer's container, pod, service or session
    #[arg(long)]
    container: bool,
    /// The CONTAINER column, and each container's I/Os, KiB and latencies when tracing ends
    #[arg(long)]
    containers: bool,
    /// Read a blktrace recording instead of tracing live: NAME of per-CPU files
    /// NAME.blktrace.N, a binary dump (blkparse -d), or - for a stream on stdin
    #[arg(short = 'i', long = "input", value_name = "TRACE")]
    input: Option<String>,
    /// Ring buffer size in MiB
    #[arg(
        short = 'b',
        long = "buffer-mib",
        default_value_t = 16,
        value_name = "MIB"
    )]
    buffer_mib: u32,
    /// Stop after this many seconds
    #[arg(value_name = "DURATION")]
    duration: Option<u64>,
}

#[derive(Args, Debug)]
struct BiolatencyArgs {
    /// Include a timestamp (HH:MM:SS) on each output
    #[arg(short = 'T', long = "timestamp")]
    timestamp: bool,
    /// Include OS queued time in I/O time
    #[arg(short = 'Q', long = "queued")]
    queued: bool,
    /// Millisecond histogram
    #[arg(short = 'm', long = "milliseconds")]
    milliseconds: bool,
    /// Print a histogram per disk device
    #[arg(short = 'D', long = "disks")]
    disks: bool,
    /// Print a histogram per set of I/O flags
    #[arg(short = 'F', long = "flags")]
    flags: bool,
    /// Trace this disk only
    #[arg(short = 'd', long = "disk", value_name = "DISK")]
    disk: Option<String>,
    /// Print a histogram per container (pod, service, session) of the issuing task
    #[arg(long)]
    containers: bool,
    /// Add p50, p90, p99, p99.9 and max under each histogram (from finer in-kernel buckets)
    #[arg(long)]
    percentiles: bool,
    /// Only I/O issued by tasks in this cgroup (v2 path) or below; with -i, by the
    /// recording's cgroup paths
    #[arg(short = 'c', long = "cgroup", value_name = "PATH")]
    cgroup: Option<std::path::PathBuf>,
    /// One JSON object per histogram
    #[arg(short = 'j', long = "json")]
    json: bool,
    /// Read a blktrace recording instead of tracing live: NAME of per-CPU files
    /// NAME.blktrace.N, a binary dump (blkparse -d), or - for a stream on stdin
    #[arg(short = 'i', long = "input", value_name = "TRACE")]
    input: Option<String>,
    /// Output interval, in seconds
    #[arg(value_name = "INTERVAL")]
    interval: Option<u64>,
    /// Number of outputs
    #[arg(value_name = "COUNT")]
    count: Option<u64>,
}

#[derive(Args, Debug)]
struct BiotopArgs {
    /// Don't clear the screen between intervals (text mode)
    #[arg(short = 'C', long = "noclear")]
    noclear: bool,
    /// Maximum rows to print (text mode)
    #[arg(
        short = 'r',
        long = "maxrows",
        default_value_t = 20,
        value_name = "MAXROWS"
    )]
    maxrows: usize,
    /// Sort column: kbytes (default), io, avgms, pid, comm
    #[arg(
        short = 's',
        long = "sort",
        value_name = "SORT",
        default_value = "kbytes"
    )]
    sort: String,
    /// Only I/O issued by this process
    #[arg(short = 'p', long = "pid", value_name = "PID")]
    pid: Option<u32>,
    /// Only this disk
    #[arg(short = 'd', long = "disk", value_name = "DISK")]
    disk: Option<String>,
    /// Only I/O issued by tasks in this cgroup (v2 path) or below
    #[arg(short = 'c', long = "cgroup", value_name = "PATH")]
    cgroup: Option<std::path::PathBuf>,
    /// Add a CONTAINER column (text mode)
    #[arg(long)]
    container: bool,
    /// One row per container instead of per process
    #[arg(long)]
    containers: bool,
    /// bcc's text output even on a terminal (it is the default when stdout is not one)
    #[arg(long)]
    batch: bool,
    /// One JSON object per interval
    #[arg(long)]
    json: bool,
    /// Output interval, in seconds
    #[arg(value_name = "INTERVAL", default_value_t = 1)]
    interval: u64,
    /// Number of outputs
    #[arg(value_name = "COUNT")]
    count: Option<u64>,
}

/// What ext4slower and ext4dist share: which files, whose.
#[derive(Args, Debug)]
struct FsScope {
    /// Trace this PID only
    #[arg(short = 'p', long = "pid", value_name = "PID")]
    pid: Option<u32>,
    /// The file system type: ext4, xfs or btrfs
    #[arg(long = "fs", default_value = "ext4", value_name = "FS")]
    fs: String,
    /// Only files on the file system mounted at (or containing) this path
    #[arg(long = "mount", value_name = "PATH")]
    mount: Option<std::path::PathBuf>,
    /// Only tasks in this cgroup (v2 path) or below
    #[arg(short = 'c', long = "cgroup", value_name = "PATH")]
    cgroup: Option<std::path::PathBuf>,
}

#[derive(Args, Debug)]
struct Ext4slowerArgs {
    /// Just print fields: comma-separated values (bcc's -j)
    #[arg(short = 'j', long = "csv")]
    csv: bool,
    /// One JSON object per operation, with the full path
    #[arg(long)]
    json: bool,
    /// FILENAME shows the full path where it can be had
    #[arg(short = 'P', long = "path")]
    full_path: bool,
    /// Add a CONTAINER column
    #[arg(long)]
    container: bool,
    /// The CONTAINER column, and each container's operations, KiB and latencies when tracing ends
    #[arg(long, conflicts_with = "csv")]
    containers: bool,
    #[command(flatten)]
    scope: FsScope,
    /// Minimum I/O duration to trace, in ms (default 10; 0 traces everything)
    #[arg(value_name = "MIN_MS", default_value_t = 10)]
    min_ms: u64,
}

#[derive(Args, Debug)]
struct Ext4distArgs {
    /// Include a timestamp on output
    #[arg(short = 'T', long = "timestamp")]
    timestamp: bool,
    /// Millisecond histograms
    #[arg(short = 'm', long = "milliseconds")]
    milliseconds: bool,
    #[command(flatten)]
    scope: FsScope,
    /// Output interval, in seconds
    #[arg(value_name = "INTERVAL")]
    interval: Option<u64>,
    /// Number of outputs
    #[arg(value_name = "COUNT")]
    count: Option<u64>,
}

#[derive(Args, Debug)]
struct PlannedArgs {
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, hide = true)]
    args: Vec<String>,
}

/// Names under which blkscope runs a view directly (multi-call, through a symlink).
const MULTI_CALL: [(&str, &str); 9] = [
    ("iostat", "iostat"),
    ("blktrace", "record"),
    ("blkparse", "parse"),
    ("btt", "btt"),
    ("biosnoop", "biosnoop"),
    ("biotop", "biotop"),
    ("biolatency", "biolatency"),
    ("ext4slower", "ext4slower"),
    ("ext4dist", "ext4dist"),
];

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    let args = multi_call_args(std::env::args_os().collect());
    if args.get(1).is_some_and(|a| a == "iostat") {
        return run_iostat(&args);
    }
    if args.get(1).is_some_and(|a| a == "parse") {
        return run_getopt_view(&args, "blkparse", "parse", blkscope::blkparse::cli::main);
    }
    if args.get(1).is_some_and(|a| a == "btt") {
        return run_getopt_view(&args, "btt", "btt", blkscope::btt::cli::main);
    }
    if args.get(1).is_some_and(|a| a == "record") {
        return run_getopt_view(&args, "blktrace", "record", blkscope::record::cli::main);
    }
    let cli = Cli::parse_from(args);
    let result = match cli.command.unwrap_or(Command::Trace(TraceArgs::default())) {
        Command::Trace(args) => run_trace(args),
        Command::Biosnoop(args) => run_biosnoop(args),
        Command::Biolatency(args) => run_biolatency(args),
        Command::Biotop(args) => run_biotop(args),
        Command::Ext4slower(args) => run_ext4slower(args),
        Command::Ext4dist(args) => run_ext4dist(args),
        Command::Exporter(args) => run_exporter(&args),
        // These parse their own command lines (the tools' getopt grammar) before clap runs.
        other => Err(anyhow::anyhow!(
            "{}: expected to be dispatched before clap",
            view_name(&other)
        )),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("blkscope: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// blkparse's and btt's command lines are GNU getopt's (`-h` hashes by name in blkparse,
/// `--format` is a format string), so these views read their own arguments: `main` gets the
/// program name to print (the symlink's name or `blkscope VIEW`) and the arguments after it.
fn run_getopt_view(
    args: &[std::ffi::OsString],
    alias: &str,
    view: &str,
    main: fn(&str, &[String]) -> u8,
) -> ExitCode {
    let program = if invoked_as(alias) {
        alias.to_string()
    } else {
        format!("blkscope {view}")
    };
    let rest: Vec<String> = args
        .iter()
        .skip(2)
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    ExitCode::from(main(&program, &rest))
}

/// Whether blkscope was started through a symlink of this name.
fn invoked_as(name: &str) -> bool {
    std::env::args_os()
        .next()
        .and_then(|a| Path::new(&a).file_name().map(|n| n == name))
        .unwrap_or(false)
}

/// iostat parses its own command line, as sysstat's does (`-h` is human, `-p` takes a list
/// only when one follows).
fn run_iostat(args: &[std::ffi::OsString]) -> ExitCode {
    let program = if invoked_as("iostat") {
        "iostat"
    } else {
        "blkscope iostat"
    };
    let rest: Vec<String> = args[2..]
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    match blkscope::iostat::cli::run(program, &rest) {
        blkscope::iostat::cli::Outcome::Done => ExitCode::SUCCESS,
        blkscope::iostat::cli::Outcome::Failed(code) => ExitCode::from(code),
        blkscope::iostat::cli::Outcome::Cgroups(options) => match run_iostat_cgroups(&options) {
            Ok(()) => ExitCode::SUCCESS,
            Err(err) => {
                eprintln!("blkscope: {err:#}");
                ExitCode::FAILURE
            }
        },
    }
}

/// `iostat --cgroups`: the -x columns per cgroup and disk, from the biotop probes' in-kernel
/// sums; disks' %util from /proc/diskstats over the same interval.
fn run_iostat_cgroups(options: &blkscope::iostat::options::IostatOptions) -> anyhow::Result<()> {
    use blkscope::iostat::{cgroups, options::Selection, source::StatFiles, system};
    let wanted: Vec<DeviceId> = options
        .selections
        .iter()
        .filter_map(|s| match &s.what {
            Selection::Device(name) | Selection::DeviceAndPartitions(name) => Some(name),
            Selection::Group(_) => None,
        })
        .map(|name| device::resolve(name).map(device::whole_disk))
        .collect::<Result<_, _>>()
        .context("iostat --cgroups: a device")?;
    let cgroup = options
        .cgroup
        .as_deref()
        .map(CgroupFilter::of_path)
        .transpose()
        .context("--cgroup")?;
    let mut probe = TopProbe::start(&TopOptions {
        device: (wanted.len() == 1).then(|| wanted[0]),
        pid: None,
        cgroup: cgroup.map(|f| (f.id, f.level)),
    })?;
    let mut resolver = CgroupResolver::new().ok();
    let printer = blkscope::iostat::format::Printer {
        colors: Default::default(),
        decimals: options.decimals,
    };
    let host = system::host(Path::new("/sys"));
    let date = system::strftime_now(if system::iso_dates() {
        "%Y-%m-%d"
    } else {
        "%x"
    });
    print!(
        "{} {} ({}) \t{} \t_{}_\t({} CPU)\n\n",
        host.sysname, host.release, host.nodename, date, host.machine, host.cpus
    );
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(signal, Arc::clone(&stop))
            .context("installing signal handlers")?;
    }
    let files = StatFiles::default();
    let busy_ticks = || -> std::collections::HashMap<DeviceId, u32> {
        files
            .diskstats()
            .into_iter()
            .map(|l| (DeviceId::new(l.major, l.minor), l.counters.tot_ticks))
            .collect()
    };
    // Without an interval, one report over one second (there is no "since boot" per cgroup).
    let interval = Duration::from_secs(options.interval.max(1));
    let mut remaining = options.count;
    let mut before = busy_ticks();
    let mut started = std::time::Instant::now();
    while remaining != Some(0) {
        let deadline = started + interval;
        while std::time::Instant::now() < deadline && !stop.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(50));
        }
        let rows = probe.take_interval()?;
        let seconds = started.elapsed().as_secs_f64();
        started = std::time::Instant::now();
        let after = busy_ticks();
        let sums = cgroups::per_cgroup(&rows);
        let mut disk_busy: std::collections::HashMap<DeviceId, u64> = Default::default();
        for ((_, disk), io) in &sums {
            *disk_busy.entry(*disk).or_default() += io.read_ns + io.write_ns;
        }
        let mut name = |id: u64| match resolver.as_mut().and_then(|r| r.path(id)) {
            Some(path) => cgroups::CgroupName {
                container: blkscope::cgroup::container_label(&path),
                path,
            },
            None => cgroups::CgroupName {
                path: id.to_string(),
                container: id.to_string(),
            },
        };
        let mut printed: Vec<cgroups::CgroupRow> =
            cgroups::labelled(&sums, options.cgroup_rows, &mut name)
                .into_iter()
                .filter(|((_, disk), _)| wanted.is_empty() || wanted.contains(disk))
                .map(|((labels, disk), io)| {
                    let ticks = after
                        .get(&disk)
                        .zip(before.get(&disk))
                        .map_or(0, |(a, b)| a.wrapping_sub(*b));
                    let disk_util = (f64::from(ticks) / (seconds * 1000.0) * 100.0).min(100.0);
                    cgroups::CgroupRow {
                        labels,
                        device: device::name(disk).unwrap_or_else(|| disk.to_string()),
                        stats: cgroups::stats(&io, seconds, disk_util, disk_busy[&disk]),
                    }
                })
                .collect();
        printed.sort_by(|a, b| (&a.device, &a.labels).cmp(&(&b.device, &b.labels)));
        before = after;
        if options.timestamp {
            println!("{}", system::strftime_now("%x %X"));
        }
        print!(
            "{}",
            cgroups::render(
                options.cgroup_rows.headers(),
                &printed,
                &printer,
                options.human
            )
        );
        let drops = probe.drops()?;
        if drops > 0 {
            eprintln!(
                "iostat --cgroups: {drops} completions found no room in the kernel's table and are not counted"
            );
        }
        std::io::stdout().flush().context("writing the report")?;
        if let Some(n) = remaining.as_mut() {
            *n -= 1;
        }
        if stop.load(Ordering::Relaxed) {
            break;
        }
    }
    Ok(())
}

/// `iostat -x 2` started through a symlink named iostat becomes `blkscope iostat -x 2`.
fn multi_call_args(mut args: Vec<std::ffi::OsString>) -> Vec<std::ffi::OsString> {
    let invoked = args
        .first()
        .and_then(|a| Path::new(a).file_name())
        .and_then(|n| n.to_str())
        .unwrap_or("blkscope")
        .to_owned();
    if let Some((_, command)) = MULTI_CALL.iter().find(|(name, _)| *name == invoked) {
        args[0] = "blkscope".into();
        args.insert(1, (*command).into());
    }
    args
}

fn view_name(command: &Command) -> String {
    format!("{command:?}")
        .split('(')
        .next()
        .unwrap_or_default()
        .to_lowercase()
}

fn run_exporter(args: &ExporterArgs) -> anyhow::Result<()> {
    use blkscope::exporter::{collect::CollectOptions, run::ExporterOptions};
    let seconds = |flag: &str, value: f64| {
        if value.is_finite() && value > 0.0 {
            Ok(Duration::from_secs_f64(value))
        } else {
            Err(anyhow::anyhow!(
                "{flag} {value}: a number of seconds above 0"
            ))
        }
    };
    let fs = match args.fs.as_str() {
        "none" => None,
        name => Some(
            FileSystem::parse(name)
                .with_context(|| format!("--fs {name}: expected ext4, xfs, btrfs or none"))?,
        ),
    };
    let options = ExporterOptions {
        listen: args.listen,
        collect: CollectOptions {
            interval: seconds("--interval", args.interval)?,
            max_cgroups: args.max_cgroups,
            forget_after: seconds("--forget-after", args.forget_after)?,
            fs: fs.map(|fs| FsOptions {
                magic: fs.magic(),
                min_latency_ns: 0,
                dev: None,
                pid: None,
                cgroup: None,
                histogram_unit_ns: Some(1000),
            }),
        },
        fs_name: fs.map(FileSystem::name),
    };
    blkscope::exporter::run::run(&options)?;
    Ok(())
}

fn run_trace(args: TraceArgs) -> anyhow::Result<()> {
    let options = BlockTraceOptions {
        devices: device::whole_disks(&args.devices).context("-d")?,
        ring_bytes: args.buffer_mib.saturating_mul(1 << 20),
        ..BlockTraceOptions::default()
    };
    let stop_after = args.seconds.map(Duration::from_secs_f64);
    let mut out = EventPrinter::new(args.json);
    let mut sink = |events: &[BlockIoEvent]| out.print(events).map_err(|e| format!("{e:#}"));
    let drops = live::run_blocking(&options, stop_after, &mut sink)?;
    eprintln!("blkscope: {} events", out.count);
    if let Some(line) = live::drops_line(&drops) {
        eprintln!("{line}");
    }
    Ok(())
}

fn run_biosnoop(args: BiosnoopArgs) -> anyhow::Result<()> {
    let disk = args
        .disk
        .as_deref()
        .map(device::resolve)
        .transpose()
        .context("-d")?;
    // Live, the kernel filters by cgroup; a recording is filtered by its cgroups' paths.
    let cgroup = args
        .cgroup
        .as_deref()
        .filter(|_| args.input.is_none())
        .map(CgroupFilter::of_path)
        .transpose()
        .context("-c")?;
    let options = BlockTraceOptions {
        devices: disk.map(device::whole_disk).into_iter().collect(),
        actions: RequestTracker::ACTIONS.to_vec(),
        ring_bytes: args.buffer_mib.saturating_mul(1 << 20),
        cgroup,
    };
    let mut view = BiosnoopView::new(BiosnoopOptions {
        queued: args.queued,
        flags: args.flags,
        pid: args.pid,
        json: args.json,
        require_issuer: cgroup.is_some(),
        recorded: args.input.is_some(),
    });
    if args.container || args.containers {
        view = view.with_containers(CgroupResolver::new().context("--container")?);
    }
    if args.containers {
        view = view.with_container_summary();
    }
    if let (Some(path), Some(_)) = (&args.cgroup, &args.input) {
        let resolver = recording_resolver();
        let subtree = CgroupSubtree::new(path, Some(resolver.root()));
        view = view.with_cgroup_subtree(subtree, resolver);
    }
    let mut out = BufWriter::new(std::io::stdout());
    if let Some(header) = view.header() {
        writeln!(out, "{header}").context("writing to stdout")?;
        out.flush().context("writing to stdout")?;
    }
    let mut printer = CompletionPrinter {
        tracker: RequestTracker::new(),
        view,
        only_partition: disk.filter(|d| device::whole_disk(*d) != *d),
        out,
    };
    if let Some(input) = &args.input {
        if args.duration.is_some() {
            anyhow::bail!("DURATION: a recording is read to its end (no DURATION with -i)");
        }
        let whole_disk = disk.map(device::whole_disk);
        for_each_recorded_item(input, |item| match item {
            RecordedItem::CgroupPath { id, path } => {
                printer.view.remember_cgroup(*id, path);
                Ok(true)
            }
            RecordedItem::Event(event) if whole_disk.is_some_and(|d| d != event.device) => Ok(true),
            RecordedItem::Event(event) => printer.print(std::slice::from_ref(event)),
        })?;
        return printer.finish();
    }
    let mut sink = |events: &[BlockIoEvent]| printer.print(events).map_err(|e| format!("{e:#}"));
    let stop_after = args.duration.map(Duration::from_secs);
    let drops = live::run_blocking(&options, stop_after, &mut sink)?;
    if let Some(line) = live::drops_line(&drops) {
        eprintln!("{line}");
    }
    printer.finish()
}

/// biosnoop's lines from block events, live or recorded.
struct CompletionPrinter {
    tracker: RequestTracker,
    view: BiosnoopView,
    /// `-d` named a partition: only its I/O.
    only_partition: Option<DeviceId>,
    out: BufWriter<std::io::Stdout>,
}

impl CompletionPrinter {
    /// Prints the I/Os these events finish; false once stdout is closed.
    fn print(&mut self, events: &[BlockIoEvent]) -> anyhow::Result<bool> {
        for event in events {
            let Some(io) = self.tracker.observe(event) else {
                continue;
            };
            if self.only_partition.is_some() && io.partition != self.only_partition {
                continue;
            }
            if let Some(line) = self.view.line(&io)
                && let Err(err) = writeln!(self.out, "{line}")
            {
                return closed_or_error(err);
            }
        }
        self.out.flush().map(|()| true).or_else(closed_or_error)
    }

    /// The closing per-container summary (`--containers`).
    fn finish(mut self) -> anyhow::Result<()> {
        if let Some(summary) = self.view.summary() {
            let written = self.out.write_all(summary.as_bytes());
            if let Err(err) = written.and_then(|()| self.out.flush()) {
                closed_or_error(err)?;
            }
        }
        Ok(())
    }
}

/// Feeds every event and cgroup name of a recording to `sink` (until it returns false), then reports where
/// the recording was damaged, if it was: after everything valid before was shown.
fn for_each_recorded_item(
    input: &str,
    mut sink: impl FnMut(&RecordedItem) -> anyhow::Result<bool>,
) -> anyhow::Result<()> {
    let mut events = RecordedEvents::open(input).with_context(|| format!("-i {input}"))?;
    while let Some(item) = events.next_item() {
        if !sink(&item)? {
            return Ok(());
        }
    }
    let errors = events.take_errors();
    if errors.is_empty() {
        return Ok(());
    }
    let text: Vec<String> = errors.iter().map(ToString::to_string).collect();
    Err(anyhow::anyhow!(text.join("\n")))
}

fn run_biolatency(args: BiolatencyArgs) -> anyhow::Result<()> {
    if [args.disks, args.flags, args.containers]
        .iter()
        .filter(|&&on| on)
        .count()
        > 1
    {
        anyhow::bail!("can only use one of -D, -F and --containers");
    }
    let cgroup = args
        .cgroup
        .as_deref()
        .filter(|_| args.input.is_none())
        .map(CgroupFilter::of_path)
        .transpose()
        .context("-c")?
        .map(|f| (f.id, f.level));
    let device = args
        .disk
        .as_deref()
        .map(device::resolve)
        .transpose()
        .context("-d")?;
    let options = LatencyOptions {
        queued: args.queued,
        per_disk: args.disks,
        per_flag: args.flags,
        milliseconds: args.milliseconds,
        device: device.map(device::whole_disk),
        per_cgroup: args.containers,
        cgroup,
        percentiles: args.percentiles,
        split_stages: false,
        per_direction: false,
    };
    let layout = HistogramLayout {
        per_disk: args.disks,
        per_flag: args.flags,
        per_container: args.containers,
        milliseconds: args.milliseconds,
    };
    if let Some(input) = &args.input {
        return biolatency_recording(&args, &options, &layout, input);
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the tokio runtime")?;
    runtime.block_on(biolatency_loop(&args, &options, &layout))
}

async fn biolatency_loop(
    args: &BiolatencyArgs,
    options: &LatencyOptions,
    layout: &HistogramLayout,
) -> anyhow::Result<()> {
    let mut probe = LatencyProbe::start(options)?;
    let mut container_label = container_labeller(layout.per_container)?;
    let mut interrupt = signal(SignalKind::interrupt()).context("installing the SIGINT handler")?;
    let mut terminate =
        signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    if !args.json {
        println!("Tracing block device I/O... Hit Ctrl-C to end.");
    }
    let interval = Duration::from_secs(args.interval.unwrap_or(99_999_999));
    let mut remaining = args.count.unwrap_or(99_999_999);
    loop {
        let stopped = tokio::select! {
            () = tokio::time::sleep(interval) => false,
            _ = interrupt.recv() => true,
            _ = terminate.recv() => true,
        };
        let histograms = probe.take_interval()?;
        let fine = probe.take_fine_interval()?;
        let mut names = SectionNames {
            flag_bits: Some(probe.flag_bits()),
            disk: &mut disk_name,
            container: &mut container_label,
        };
        let labelled = label_histograms(&histograms, &fine, layout, &mut names);
        let times = (local_time("%H:%M:%S"), local_time("%Y-%m-%d %H:%M:%S"));
        print_histograms(args, layout, &labelled, &times)?;
        remaining = remaining.saturating_sub(1);
        if stopped || remaining == 0 {
            break;
        }
    }
    let drops = probe.drops()?;
    if drops > 0 {
        eprintln!("You have {drops} completions not counted (histogram map full)");
    }
    Ok(())
}

/// Names cgroup ids after their containers (`--containers`), or prints the id.
fn container_labeller(per_container: bool) -> anyhow::Result<impl FnMut(u64) -> String> {
    let mut resolver = if per_container {
        Some(CgroupResolver::new().context("--containers")?)
    } else {
        None
    };
    Ok(move |id: u64| {
        resolver
            .as_mut()
            .map_or_else(|| id.to_string(), |r| r.label(id))
    })
}

/// The cgroups of a recording: its own names (its notes) first, this machine's second.
struct RecordedCgroups {
    resolver: CgroupResolver,
    /// `-c PATH`: only cgroups in this subtree.
    subtree: Option<CgroupSubtree>,
    /// `--containers`: histograms by container name instead of cgroup id.
    per_container: bool,
}

impl RecordedCgroups {
    fn new(subtree: Option<&Path>, per_container: bool) -> RecordedCgroups {
        let resolver = recording_resolver();
        let subtree = subtree.map(|p| CgroupSubtree::new(p, Some(resolver.root())));
        RecordedCgroups {
            resolver,
            subtree,
            per_container,
        }
    }

    fn label(&mut self, id: u64) -> String {
        if self.per_container {
            self.resolver.label(id)
        } else {
            id.to_string()
        }
    }

    fn keeps(&mut self, id: u64) -> bool {
        match &self.subtree {
            None => true,
            Some(subtree) => self
                .resolver
                .path(id)
                .is_some_and(|path| subtree.contains(&path)),
        }
    }
}

/// Names a recording's cgroups: by its notes, and this machine's hierarchy where there is one
/// (a recording is read fine on a machine without cgroup v2).
fn recording_resolver() -> CgroupResolver {
    CgroupResolver::new().unwrap_or_else(|_| CgroupResolver::with_root(std::path::PathBuf::new()))
}

/// One interval's histograms, as bcc prints them (or one JSON object each); `times` are the
/// `-T` stamp and the JSON `ts`.
fn print_histograms(
    args: &BiolatencyArgs,
    layout: &HistogramLayout,
    labelled: &[LabelledHistogram],
    times: &(String, String),
) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    if args.json {
        let text = render_json(labelled, layout, &times.1);
        if !text.is_empty() {
            writeln!(out, "{text}")?;
        }
    } else {
        writeln!(out)?;
        if args.timestamp {
            writeln!(out, "{:<8}", times.0)?;
        }
        write!(out, "{}", render_text(labelled, layout))?;
    }
    out.flush()?;
    Ok(())
}

/// biolatency over a recording: the histograms counted from its completions, one per
/// INTERVAL seconds of the recording's own time (all of it without INTERVAL); `-T` and the
/// JSON `ts` show the time since the recording's start.
fn biolatency_recording(
    args: &BiolatencyArgs,
    options: &LatencyOptions,
    layout: &HistogramLayout,
    input: &str,
) -> anyhow::Result<()> {
    let mut tracker = RequestTracker::new();
    let mut counts = CompletionHistograms::new(options.clone());
    let mut cgroups = RecordedCgroups::new(args.cgroup.as_deref(), layout.per_container);
    let step = args
        .interval
        .map(|s| s.max(1).saturating_mul(1_000_000_000));
    let mut remaining = args.count.unwrap_or(u64::MAX);
    let mut start = None;
    let mut interval_end = None;
    let print = |counts: &mut CompletionHistograms,
                 cgroups: &mut RecordedCgroups,
                 at: u64|
     -> anyhow::Result<()> {
        let (histograms, fine) = counts.take();
        let mut names = SectionNames {
            flag_bits: Some(&RECORDED_FLAG_BITS),
            disk: &mut disk_name,
            container: &mut |id| cgroups.label(id),
        };
        let labelled = label_histograms(&histograms, &fine, layout, &mut names);
        let secs = at / 1_000_000_000;
        let stamp = format!("{:02}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60);
        print_histograms(args, layout, &labelled, &(stamp.clone(), stamp))
    };
    let mut last = 0;
    for_each_recorded_item(input, |item| {
        let event = match item {
            RecordedItem::CgroupPath { id, path } => {
                cgroups.resolver.remember(*id, path);
                return Ok(true);
            }
            RecordedItem::Event(event) => event,
        };
        let first = *start.get_or_insert(event.time_ns);
        last = event.time_ns;
        if let Some(step) = step {
            let end = interval_end.get_or_insert(first.saturating_add(step));
            while event.time_ns >= *end {
                print(&mut counts, &mut cgroups, *end - first)?;
                remaining = remaining.saturating_sub(1);
                if remaining == 0 {
                    return Ok(false);
                }
                *end = end.saturating_add(step);
            }
        }
        if let Some(io) = tracker.observe(event)
            && cgroups.keeps(io.issuer.as_ref().map_or(0, |i| i.cgroup_id))
        {
            counts.add(&io);
        }
        Ok(true)
    })?;
    if remaining > 0 {
        print(
            &mut counts,
            &mut cgroups,
            last.saturating_sub(start.unwrap_or(last)),
        )?;
    }
    Ok(())
}

fn run_biotop(args: BiotopArgs) -> anyhow::Result<()> {
    use std::io::IsTerminal as _;
    let sort = SortKey::parse(&args.sort)
        .with_context(|| format!("-s {}: sort by kbytes, io, avgms, pid or comm", args.sort))?;
    if args.interval == 0 {
        anyhow::bail!("interval must be at least 1 second");
    }
    let disk = args
        .disk
        .as_deref()
        .map(device::resolve)
        .transpose()
        .context("-d")?;
    let cgroup = args
        .cgroup
        .as_deref()
        .map(CgroupFilter::of_path)
        .transpose()
        .context("-c")?;
    let mut probe = TopProbe::start(&TopOptions {
        device: disk.map(device::whole_disk),
        pid: args.pid,
        cgroup: cgroup.map(|f| (f.id, f.level)),
    })?;
    let mut resolver = CgroupResolver::new().ok();
    let mut container_label = |id: u64| {
        resolver
            .as_mut()
            .map_or_else(|| id.to_string(), |r| r.label(id))
    };
    let mut disk_label = |d: DeviceId| device::name(d).unwrap_or_else(|| "?".to_owned());
    let mut refresh = || -> anyhow::Result<(Vec<TopRow>, u64)> {
        let interval = probe.take_interval()?;
        let mut names = RowNames {
            disk: &mut disk_label,
            container: &mut container_label,
        };
        Ok((rows_from(&interval, &mut names), probe.drops()?))
    };
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(signal, Arc::clone(&stop))
            .context("installing signal handlers")?;
    }
    let grouping = if args.containers {
        Grouping::Container
    } else {
        Grouping::Process
    };
    let interval = Duration::from_secs(args.interval);
    if std::io::stdout().is_terminal() && !args.batch && !args.json {
        let mut state = TuiState::new(grouping, sort, interval);
        return biotop::tui::run(&mut state, &stop, &mut refresh, &|| local_time("%H:%M:%S"));
    }
    let layout = BatchLayout {
        no_clear: args.noclear,
        max_rows: args.maxrows,
        grouping,
        container_column: args.container,
    };
    if !args.json {
        println!(
            "Tracing... Output every {} secs. Hit Ctrl-C to end",
            args.interval
        );
    }
    let mut remaining = args.count.unwrap_or(99_999_999);
    loop {
        let deadline = std::time::Instant::now() + interval;
        while std::time::Instant::now() < deadline && !stop.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(50));
        }
        let (rows, drops) = refresh()?;
        let mut rows = biotop::model::group(&rows, grouping);
        biotop::model::sort(&mut rows, sort, false);
        let loadavg = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
        let mut out = std::io::stdout().lock();
        if args.json {
            let line = serde_json::json!({
                "time": local_time("%H:%M:%S"),
                "loadavg": loadavg.trim(),
                "drops": drops,
                "rows": rows.iter().take(args.maxrows).collect::<Vec<_>>(),
            });
            writeln!(out, "{line}")?;
        } else {
            write!(
                out,
                "{}",
                biotop::batch::render(&rows, &layout, &local_time("%H:%M:%S"), &loadavg)
            )?;
        }
        out.flush()?;
        remaining = remaining.saturating_sub(1);
        if stop.load(Ordering::Relaxed) || remaining == 0 {
            break;
        }
    }
    if !args.json {
        println!("Detaching...");
    }
    Ok(())
}

/// The probe options for a file-system view.
fn fs_options(scope: &FsScope) -> anyhow::Result<(FileSystem, FsOptions)> {
    let fs = FileSystem::parse(&scope.fs)
        .with_context(|| format!("--fs {}: expected ext4, xfs or btrfs", scope.fs))?;
    let dev = match &scope.mount {
        Some(path) => {
            let canonical = std::fs::canonicalize(path)
                .with_context(|| format!("--mount {}", path.display()))?;
            let device = MountTable::read()
                .device_of(&canonical)
                .with_context(|| format!("--mount {}: no mount holds it", path.display()))?;
            Some(device.to_kernel())
        }
        None => None,
    };
    let cgroup = scope
        .cgroup
        .as_deref()
        .map(CgroupFilter::of_path)
        .transpose()
        .context("-c")?;
    Ok((
        fs,
        FsOptions {
            magic: fs.magic(),
            min_latency_ns: 0,
            dev,
            pid: scope.pid,
            cgroup: cgroup.map(|f| (f.id, f.level)),
            histogram_unit_ns: None,
        },
    ))
}

fn run_ext4slower(args: Ext4slowerArgs) -> anyhow::Result<()> {
    let (fs, mut options) = fs_options(&args.scope)?;
    options.min_latency_ns = args.min_ms.saturating_mul(1_000_000);
    let layout = SlowerLayout {
        csv: args.csv,
        json: args.json,
        full_path: args.full_path,
        container: args.container || args.containers,
    };
    let mut summary = args.containers.then(ContainerSummary::default);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the tokio runtime")?;
    runtime.block_on(async {
        let mut probe = FsProbe::start(&options)?;
        let mut interrupt =
            signal(SignalKind::interrupt()).context("installing the SIGINT handler")?;
        let mut terminate =
            signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
        let mounts = MountTable::read();
        let mut resolver = if layout.container || args.json {
            CgroupResolver::new().ok()
        } else {
            None
        };
        let mut out = BufWriter::new(std::io::stdout());
        if let Some(header) = slower_header(fs, args.min_ms, &layout) {
            writeln!(out, "{header}")?;
            out.flush()?;
        }
        let mut events = Vec::new();
        loop {
            let stopped = tokio::select! {
                read = probe.next_events(&mut events) => { read?; false }
                _ = interrupt.recv() => true,
                _ = terminate.recv() => true,
            };
            if stopped {
                probe.drain(&mut events);
            }
            for event in events.drain(..) {
                let Some(mut op) = decode(&event, &mounts) else {
                    continue;
                };
                if let Some(resolver) = resolver.as_mut() {
                    op.container = Some(resolver.label(op.cgroup_id));
                }
                if let (Some(summary), Some(container)) = (summary.as_mut(), &op.container) {
                    summary.add(container, op.bytes, op.latency_us.saturating_mul(1000));
                }
                if let Err(err) = writeln!(
                    out,
                    "{}",
                    slower_line(&op, &layout, &local_time("%H:%M:%S"))
                ) {
                    return closed_or_error(err).map(|_| ());
                }
            }
            if let Err(err) = out.flush() {
                return closed_or_error(err).map(|_| ());
            }
            if stopped {
                break;
            }
        }
        if let Some(summary) = &summary {
            let text = summary.render(args.json, "OPS");
            if let Err(err) = out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
                return closed_or_error(err).map(|_| ());
            }
        }
        let drops = probe.drops()?;
        if drops > 0 {
            eprintln!("You have {drops} dropped events");
        }
        Ok(())
    })
}

fn run_ext4dist(args: Ext4distArgs) -> anyhow::Result<()> {
    let (fs, mut options) = fs_options(&args.scope)?;
    options.histogram_unit_ns = Some(if args.milliseconds { 1_000_000 } else { 1000 });
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the tokio runtime")?;
    runtime.block_on(async {
        let mut probe = FsProbe::start(&options)?;
        let mut interrupt =
            signal(SignalKind::interrupt()).context("installing the SIGINT handler")?;
        let mut terminate =
            signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
        println!(
            "Tracing {} operation latency... Hit Ctrl-C to end.",
            fs.name()
        );
        let interval = Duration::from_secs(args.interval.unwrap_or(99_999_999));
        let mut remaining = args.count.unwrap_or(99_999_999);
        loop {
            let stopped = tokio::select! {
                () = tokio::time::sleep(interval) => false,
                _ = interrupt.recv() => true,
                _ = terminate.recv() => true,
            };
            let histograms = probe.take_histograms()?;
            let mut out = std::io::stdout().lock();
            writeln!(out)?;
            if args.timestamp {
                writeln!(out, "{:<8}", local_time("%H:%M:%S"))?;
            }
            write!(out, "{}", render_dist(&histograms, args.milliseconds))?;
            out.flush()?;
            remaining = remaining.saturating_sub(1);
            if stopped || remaining == 0 {
                break;
            }
        }
        Ok(())
    })
}

/// The local time, strftime-formatted (iostat and bcc print local time).
fn local_time(format: &str) -> String {
    blkscope::iostat::system::strftime_now(format)
}

struct EventPrinter {
    formatter: TraceFormatter,
    json: bool,
    out: BufWriter<std::io::Stdout>,
    count: u64,
}

impl EventPrinter {
    fn new(json: bool) -> Self {
        Self {
            formatter: TraceFormatter::default(),
            json,
            out: BufWriter::new(std::io::stdout()),
            count: 0,
        }
    }

    /// Prints a batch; false once the reader has gone away (a closed pipe ends the trace).
    fn print(&mut self, events: &[BlockIoEvent]) -> anyhow::Result<bool> {
        for event in events {
            self.count += 1;
            let line = if self.json {
                self.formatter.json(event)
            } else {
                self.formatter.text(event)
            };
            if let Err(err) = writeln!(self.out, "{line}") {
                return closed_or_error(err);
            }
        }
        match self.out.flush() {
            Ok(()) => Ok(true),
            Err(err) => closed_or_error(err),
        }
    }
}

fn closed_or_error(err: std::io::Error) -> anyhow::Result<bool> {
    if err.kind() == std::io::ErrorKind::BrokenPipe {
        Ok(false)
    } else {
        Err(err).context("writing to stdout")
    }
}
