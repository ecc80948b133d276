//! `blkscope biostacks`'s command line: libbpf-tools biostacks' `-d DISK`, `-m` and
//! `[DURATION]`, plus blkscope's cgroup filter and folded output.

use clap::Args;

#[derive(Args, Debug)]
pub struct BiostacksArgs {
    /// Trace this disk only
    #[arg(short = 'd', long = "disk", value_name = "DISK")]
    pub disk: Option<String>,
    /// Millisecond histograms
    #[arg(short = 'm', long = "milliseconds")]
    pub milliseconds: bool,
    /// Only I/O queued by tasks in this cgroup (v2 path) or below
    #[arg(short = 'c', long = "cgroup", value_name = "PATH")]
    pub cgroup: Option<std::path::PathBuf>,
    /// Name each stack's container (pod, service, session) after its disk
    #[arg(long)]
    pub containers: bool,
    /// One line per stack, `comm;outermost;...;innermost COUNT`, for flamegraph.pl and
    /// speedscope
    #[arg(long)]
    pub folded: bool,
    /// Trace for this many seconds (without: until Ctrl-C)
    #[arg(value_name = "DURATION")]
    pub duration: Option<u64>,
}
