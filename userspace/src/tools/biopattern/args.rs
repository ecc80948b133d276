//! `blkscope biopattern`'s command line: libbpf-tools biopattern's `-T`, `-d DISK` and
//! `INTERVAL [COUNT]`, plus blkscope's cgroup filter, per-process and per-container rows and
//! recordings.

use clap::Args;

#[derive(Args, Debug)]
pub struct BiopatternArgs {
    #[command(flatten)]
    pub names: crate::cli::containers::ContainerNameArgs,
    /// Include a timestamp (HH:MM:SS) on each line
    #[arg(short = 'T', long = "timestamp")]
    pub timestamp: bool,
    /// Trace this disk only
    #[arg(short = 'd', long = "disk", value_name = "DISK")]
    pub disk: Option<String>,
    /// Only I/O issued by tasks in this cgroup (v2 path) or below; with -i, by the
    /// recording's cgroup paths
    #[arg(short = 'c', long = "cgroup", value_name = "PATH")]
    pub cgroup: Option<std::path::PathBuf>,
    /// A row per disk and process (COMM, PID columns): how sequential each process's I/O is
    #[arg(long, conflicts_with = "containers")]
    pub processes: bool,
    /// A row per disk and container (CONTAINER column)
    #[arg(long)]
    pub containers: bool,
    /// Read a blktrace recording instead of tracing live: NAME of per-CPU files
    /// NAME.blktrace.N, a binary dump (blkparse -d), or - for a stream on stdin
    #[arg(short = 'i', long = "input", value_name = "TRACE")]
    pub input: Option<std::path::PathBuf>,
    /// Output interval, in seconds (without: one report when tracing ends)
    #[arg(value_name = "INTERVAL")]
    pub interval: Option<u64>,
    /// Number of outputs
    #[arg(value_name = "COUNT")]
    pub count: Option<u64>,
}
