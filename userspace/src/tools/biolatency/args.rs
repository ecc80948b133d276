//! `blkscope biolatency`'s command line: bcc biolatency's flags, plus blkscope's.

use clap::Args;

#[derive(Args, Debug)]
pub struct BiolatencyArgs {
    #[command(flatten)]
    pub names: crate::cli::containers::ContainerNameArgs,
    /// Include a timestamp (HH:MM:SS) on each output
    #[arg(short = 'T', long = "timestamp")]
    pub timestamp: bool,
    /// Include OS queued time in I/O time
    #[arg(short = 'Q', long = "queued")]
    pub queued: bool,
    /// Millisecond histogram
    #[arg(short = 'm', long = "milliseconds")]
    pub milliseconds: bool,
    /// Print a histogram per disk device
    #[arg(short = 'D', long = "disks")]
    pub disks: bool,
    /// Print a histogram per set of I/O flags
    #[arg(short = 'F', long = "flags")]
    pub flags: bool,
    /// Trace this disk only
    #[arg(short = 'd', long = "disk", value_name = "DISK")]
    pub disk: Option<String>,
    /// Print a histogram per container (pod, service, session) of the issuing task
    #[arg(long)]
    pub containers: bool,
    /// Print a histogram per I/O size class (power-of-two KiB, as bitesize's): latency by size
    #[arg(long)]
    pub size: bool,
    /// Add p50, p90, p99, p99.9 and max under each histogram (from finer in-kernel buckets)
    #[arg(long)]
    pub percentiles: bool,
    /// Only I/O issued by tasks in this cgroup (v2 path) or below; with -i, by the
    /// recording's cgroup paths
    #[arg(short = 'c', long = "cgroup", value_name = "PATH")]
    pub cgroup: Option<std::path::PathBuf>,
    /// One JSON object per histogram
    #[arg(short = 'j', long = "json")]
    pub json: bool,
    /// Read a blktrace recording instead of tracing live: NAME of per-CPU files
    /// NAME.blktrace.N, a binary dump (blkparse -d), or - for a stream on stdin
    #[arg(short = 'i', long = "input", value_name = "TRACE")]
    pub input: Option<std::path::PathBuf>,
    /// Output interval, in seconds
    #[arg(value_name = "INTERVAL")]
    pub interval: Option<u64>,
    /// Number of outputs
    #[arg(value_name = "COUNT")]
    pub count: Option<u64>,
}
