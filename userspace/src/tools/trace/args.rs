//! `blkscope trace`'s command line.

use clap::Args;

use crate::cli::duration::parse_seconds;

#[derive(Args, Debug, Default)]
pub struct TraceArgs {
    /// Trace only this device (path, name or MAJ:MIN; partitions trace their whole disk); repeatable
    #[arg(short = 'd', long = "dev", value_name = "DEV")]
    pub devices: Vec<String>,
    /// One JSON object per event instead of text lines
    #[arg(long)]
    pub json: bool,
    /// Stop after this many seconds
    #[arg(short = 'w', long = "stopwatch", value_name = "SECONDS", value_parser = parse_seconds)]
    pub seconds: Option<std::time::Duration>,
    /// Ring buffer size in MiB
    #[arg(
        short = 'b',
        long = "buffer-mib",
        default_value_t = 16,
        value_name = "MIB"
    )]
    pub buffer_mib: u32,
}
