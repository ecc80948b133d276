//! The `blkscope` command line as clap sees it: every tool with its one-line description and
//! examples (for `--help`, the man pages and the completions), the clap tools' arguments, and
//! the tools with a grammar of their own as opaque argument lists (dispatched before clap).

use blkscope::tools::{
    biolatency::BiolatencyArgs, biopattern::BiopatternArgs, biosnoop::BiosnoopArgs,
    biostacks::BiostacksArgs, biotop::BiotopArgs, bitesize::BitesizeArgs, check::CheckArgs,
    exporter::ExporterArgs, ext4dist::Ext4distArgs, ext4slower::Ext4slowerArgs, report::ReportArgs,
    trace::TraceArgs,
};
use clap::{Args, Parser, Subcommand};

use crate::install_files;

#[derive(Parser, Debug)]
#[command(
    name = "blkscope",
    version,
    about = "Block I/O tracing and statistics for Linux, from eBPF tracepoint probes",
    long_about = "Block I/O tracing and statistics for Linux, from eBPF tracepoint probes.\n\n\
        Each view reproduces a tool storage people know, with the same flags and output. \
        `blkscope trace` shows every block event live.",
    // Without a command (or under a name that is no tool's) blkscope says how to use it and
    // exits 2, like any CLI: it never starts tracing on its own.
    arg_required_else_help = true,
    // `-V`/`--version` on every view too (`biosnoop -V`).
    propagate_version = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// The kernel's BTF from FILE (raw BTF, e.g. BTFHub's, or a vmlinux ELF) instead of
    /// /sys/kernel/btf/vmlinux: live views on kernels built without it (their probes attach
    /// as raw tracepoints); `check` of another kernel
    #[arg(long, global = true, value_name = "FILE")]
    pub btf: Option<std::path::PathBuf>,
}

// Every tool, for `--help`: those that parse their arguments with clap, and those that parse
// their own with their tool's grammar (`GETOPT_TOOLS`, dispatched before clap).
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Print every block-layer event live: the event pipeline all views share
    #[command(
        after_help = "EXAMPLES:\n  blkscope trace                    every block event of every disk, blkparse-style lines\n  blkscope trace -d sda --json      one disk, one JSON object per event\n  blkscope trace -w 10 > events.txt ten seconds, then stop"
    )]
    Trace(TraceArgs),
    /// sysstat iostat 12.6: device and CPU statistics (`blkscope iostat --help`), per cgroup with --cgroups
    Iostat(OwnGrammar),
    /// blktrace: record block events from the probes to blktrace binary files (`blkscope record -h`)
    Record(OwnGrammar),
    /// blkparse 1.2: print blktrace binary traces (`blkscope parse --help`; `-i -` reads stdin)
    Parse(OwnGrammar),
    /// btt 2.09: latency breakdown (Q2Q ... Q2C, overhead, seeks, plugs) of traces (`blkscope btt -h`)
    Btt(OwnGrammar),
    /// bcc biosnoop: one line per I/O with its latency, attributed to the process that issued it
    #[command(
        after_help = "EXAMPLES:\n  blkscope biosnoop                 a line per I/O, with its latency and the process that issued it\n  blkscope biosnoop -Q -d nvme0n1   with the time queued in the OS, one disk\n  blkscope biosnoop --containers    with the container of each I/O\n  blkscope biosnoop -i trace        over a blktrace recording (blkscope record -o trace)"
    )]
    Biosnoop(BiosnoopArgs),
    /// bcc biotop: top of block I/O by process, container or disk (live TUI, or bcc's text)
    #[command(
        after_help = "EXAMPLES:\n  blkscope biotop                   the live top of block I/O by process (q quits)\n  blkscope biotop --containers      by container\n  blkscope biotop --batch 5 3       bcc's text: three reports, five seconds apart"
    )]
    Biotop(BiotopArgs),
    /// bcc biolatency: block I/O latency histograms, kept in the kernel
    #[command(
        after_help = "EXAMPLES:\n  blkscope biolatency 1 10          ten one-second histograms of I/O latency\n  blkscope biolatency -D -m         per disk, in milliseconds, until Ctrl-C\n  blkscope biolatency --containers  per container\n  blkscope biolatency -i trace      from a blktrace recording"
    )]
    Biolatency(BiolatencyArgs),
    /// bcc bitesize: histograms of I/O sizes per process (or container), counted in the kernel
    #[command(
        after_help = "EXAMPLES:\n  blkscope bitesize                 I/O sizes per process until Ctrl-C\n  blkscope bitesize -d sda 5 3      three five-second reports, one disk\n  blkscope bitesize --containers    per container\n  blkscope bitesize -i trace        from a blktrace recording"
    )]
    Bitesize(BitesizeArgs),
    /// libbpf-tools biopattern: random and sequential I/O per disk (and process or container)
    #[command(
        after_help = "EXAMPLES:\n  blkscope biopattern               % random and sequential per disk until Ctrl-C\n  blkscope biopattern -T 1 10       ten one-second reports with timestamps\n  blkscope biopattern --processes -d sda   per process, one disk\n  blkscope biopattern -i trace      from a blktrace recording"
    )]
    Biopattern(BiopatternArgs),
    /// libbpf-tools biostacks: the kernel stacks that queue block I/O, with their latencies
    #[command(
        after_help = "EXAMPLES:\n  blkscope biostacks                the stacks behind block I/O until Ctrl-C\n  blkscope biostacks -d sda 10      ten seconds, one disk\n  blkscope biostacks --folded 10 | flamegraph.pl > io.svg   a flame graph of them"
    )]
    Biostacks(BiostacksArgs),
    /// bcc ext4slower: ext4 (or --fs xfs, btrfs) reads, writes, opens and syncs slower than a threshold
    #[command(
        after_help = "EXAMPLES:\n  blkscope ext4slower               ext4 operations slower than 10 ms\n  blkscope ext4slower 1 -p 4242     slower than 1 ms, one process\n  blkscope ext4slower --fs xfs 0    every xfs operation"
    )]
    Ext4slower(Ext4slowerArgs),
    /// bcc ext4dist: latency histograms of ext4 (or --fs xfs, btrfs) operations
    #[command(
        after_help = "EXAMPLES:\n  blkscope ext4dist 1 5             five one-second histograms per ext4 operation\n  blkscope ext4dist --fs btrfs -m   btrfs, in milliseconds"
    )]
    Ext4dist(Ext4distArgs),
    /// Prometheus metrics: node_exporter's diskstats, per-cgroup I/O, latency histograms
    #[command(
        after_help = "EXAMPLES:\n  blkscope exporter                          /metrics on 0.0.0.0:9438\n  blkscope exporter --listen 127.0.0.1:9438  local only\n  curl -s localhost:9438/metrics | grep blkscope_cgroup_ios_total"
    )]
    Exporter(ExporterArgs),
    /// Pictures of a recording (or a live run): one HTML page of SVG charts per disk
    #[command(
        after_help = "EXAMPLES:\n  blkscope report -i trace -o trace.html        the charts of a blktrace recording\n  blkscope report -d sda -w 30 -o sda.html      trace sda for 30 s, then write its charts\n  blkscope parse -i trace --format perfetto > trace.json   a timeline for ui.perfetto.dev"
    )]
    Report(ReportArgs),
    /// Will blkscope work on this kernel (or the one whose BTF is in --btf FILE)? Exit 0 when
    /// every view can run
    #[command(
        after_help = "EXAMPLES:\n  blkscope check                    will every view run on this kernel?\n  blkscope check --btf vmlinux      on the kernel of that BTF (or vmlinux ELF)\n  blkscope check --json"
    )]
    Check(CheckArgs),
    /// Write the man pages and shell completions (used by ./x install and ./x package)
    #[command(hide = true)]
    InstallFiles(install_files::InstallFilesArgs),
}

// The arguments of a tool that reads its own command line (listed in `--help` only).
#[derive(Args, Debug)]
pub struct OwnGrammar {
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, hide = true)]
    pub args: Vec<String>,
}
