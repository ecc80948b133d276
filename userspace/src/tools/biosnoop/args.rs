//! `blkscope biosnoop`'s command line: bcc biosnoop's flags, plus blkscope's.

use clap::Args;

#[derive(Args, Debug)]
pub struct BiosnoopArgs {
    #[command(flatten)]
    pub names: crate::cli::containers::ContainerNameArgs,
    /// Include OS queued time (queue to issue) as QUE(ms)
    #[arg(short = 'Q', long = "queue")]
    pub queued: bool,
    /// Show the request's operation and flags (rwbs) in the T column, as libbpf-tools does
    #[arg(short = 'P', long = "flags")]
    pub flags: bool,
    /// Trace this disk only (name, path or MAJ:MIN; a partition shows only its own I/O)
    #[arg(short = 'd', long = "disk", value_name = "DISK")]
    pub disk: Option<String>,
    /// Only I/O issued by this process
    #[arg(short = 'p', long = "pid", value_name = "PID")]
    pub pid: Option<u32>,
    /// One JSON object per I/O
    #[arg(long)]
    pub json: bool,
    /// Show the stacked device (dm, md) an I/O came through: DISK as dm-0->sda
    #[arg(long)]
    pub stack: bool,
    /// A FILE column: the file whose data each I/O carries ([metadata], [journal] for a file
    /// system's own blocks)
    #[arg(long)]
    pub file: bool,
    /// Only I/O issued by tasks in this cgroup (v2 path, absolute or relative to its root) or
    /// below; with -i, by the recording's cgroup paths
    #[arg(short = 'c', long = "cgroup", value_name = "PATH")]
    pub cgroup: Option<std::path::PathBuf>,
    /// Add a CONTAINER column: the issuer's container, pod, service or session
    #[arg(long)]
    pub container: bool,
    /// The CONTAINER column, and each container's I/Os, KiB and latencies when tracing ends
    #[arg(long)]
    pub containers: bool,
    /// Read a blktrace recording instead of tracing live: NAME of per-CPU files
    /// NAME.blktrace.N, a binary dump (blkparse -d), or - for a stream on stdin
    #[arg(short = 'i', long = "input", value_name = "TRACE")]
    pub input: Option<std::path::PathBuf>,
    /// Ring buffer size in MiB
    #[arg(
        short = 'b',
        long = "buffer-mib",
        default_value_t = 16,
        value_name = "MIB"
    )]
    pub buffer_mib: u32,
    /// Stop after this many seconds
    #[arg(value_name = "DURATION")]
    pub duration: Option<u64>,
}
