//! `blkscope ext4dist`'s command line: bcc ext4dist's flags, plus blkscope's.

use clap::Args;

use crate::cli::fs_scope::FsScope;

#[derive(Args, Debug)]
pub struct Ext4distArgs {
    /// Include a timestamp on output
    #[arg(short = 'T', long = "timestamp")]
    pub timestamp: bool,
    /// Millisecond histograms
    #[arg(short = 'm', long = "milliseconds")]
    pub milliseconds: bool,
    #[command(flatten)]
    pub scope: FsScope,
    /// Output interval, in seconds
    #[arg(value_name = "INTERVAL")]
    pub interval: Option<u64>,
    /// Number of outputs
    #[arg(value_name = "COUNT")]
    pub count: Option<u64>,
}
