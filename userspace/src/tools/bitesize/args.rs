//! `blkscope bitesize`'s command line: bcc bitesize's (which has none) and libbpf-tools'
//! `-T`, `-d` and `INTERVAL [COUNT]`, plus blkscope's containers, JSON and recordings.

use clap::Args;

#[derive(Args, Debug)]
pub struct BitesizeArgs {
    #[command(flatten)]
    pub names: crate::cli::containers::ContainerNameArgs,
    /// Include a timestamp (HH:MM:SS) on each output
    #[arg(short = 'T', long = "timestamp")]
    pub timestamp: bool,
    /// Trace this disk only
    #[arg(short = 'd', long = "disk", value_name = "DISK")]
    pub disk: Option<String>,
    /// Only I/O issued by tasks in this cgroup (v2 path) or below; with -i, by the
    /// recording's cgroup paths
    #[arg(short = 'c', long = "cgroup", value_name = "PATH")]
    pub cgroup: Option<std::path::PathBuf>,
    /// A histogram per container (pod, service, session) instead of per process name
    #[arg(long)]
    pub containers: bool,
    /// One JSON object per histogram
    #[arg(short = 'j', long = "json")]
    pub json: bool,
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
