//! `blkscope biotop`'s command line: bcc biotop's flags, plus blkscope's.

use clap::Args;

#[derive(Args, Debug)]
pub struct BiotopArgs {
    #[command(flatten)]
    pub names: crate::cli::containers::ContainerNameArgs,
    /// Don't clear the screen between intervals (text mode)
    #[arg(short = 'C', long = "noclear")]
    pub noclear: bool,
    /// Maximum rows to print (text mode)
    #[arg(
        short = 'r',
        long = "maxrows",
        default_value_t = 20,
        value_name = "MAXROWS"
    )]
    pub maxrows: usize,
    /// Sort column: kbytes (default), io, avgms, pid, comm
    #[arg(
        short = 's',
        long = "sort",
        value_name = "SORT",
        default_value = "kbytes"
    )]
    pub sort: String,
    /// Only I/O issued by this process
    #[arg(short = 'p', long = "pid", value_name = "PID")]
    pub pid: Option<u32>,
    /// Only this disk
    #[arg(short = 'd', long = "disk", value_name = "DISK")]
    pub disk: Option<String>,
    /// Only I/O issued by tasks in this cgroup (v2 path) or below
    #[arg(short = 'c', long = "cgroup", value_name = "PATH")]
    pub cgroup: Option<std::path::PathBuf>,
    /// Add a CONTAINER column (text mode)
    #[arg(long)]
    pub container: bool,
    /// One row per container instead of per process
    #[arg(long)]
    pub containers: bool,
    /// bcc's text output even on a terminal (it is the default when stdout is not one)
    #[arg(long)]
    pub batch: bool,
    /// Rows per file (reads and writes, KiB, average latency); with --containers, per
    /// container and file. The TUI's `g` key also groups by file
    #[arg(long)]
    pub files: bool,
    /// One JSON object per interval
    #[arg(long)]
    pub json: bool,
    /// Output interval, in seconds
    #[arg(value_name = "INTERVAL", default_value_t = 1)]
    pub interval: u64,
    /// Number of outputs
    #[arg(value_name = "COUNT")]
    pub count: Option<u64>,
}
