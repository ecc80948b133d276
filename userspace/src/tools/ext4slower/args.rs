//! `blkscope ext4slower`'s command line: bcc ext4slower's flags, plus blkscope's.

use clap::Args;

use crate::cli::fs_scope::FsScope;

#[derive(Args, Debug)]
pub struct Ext4slowerArgs {
    #[command(flatten)]
    pub names: crate::cli::containers::ContainerNameArgs,
    /// Just print fields: comma-separated values (bcc's -j)
    #[arg(short = 'j', long = "csv")]
    pub csv: bool,
    /// One JSON object per operation, with the full path
    #[arg(long)]
    pub json: bool,
    /// FILENAME shows the full path where it can be had
    #[arg(short = 'P', long = "path")]
    pub full_path: bool,
    /// Add a CONTAINER column
    #[arg(long)]
    pub container: bool,
    /// The CONTAINER column, and each container's operations, KiB and latencies when tracing ends
    #[arg(long, conflicts_with = "csv")]
    pub containers: bool,
    #[command(flatten)]
    pub scope: FsScope,
    /// Minimum I/O duration to trace, in ms (default 10; 0 traces everything)
    #[arg(value_name = "MIN_MS", default_value_t = 10)]
    pub min_ms: u64,
}
