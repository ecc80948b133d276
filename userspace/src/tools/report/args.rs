//! `blkscope report`'s command line.

use std::path::PathBuf;

use clap::Args;

#[derive(Args, Debug)]
pub struct ReportArgs {
    /// Read a blktrace recording: NAME of per-CPU files NAME.blktrace.N, a dump, or - for stdin
    #[arg(
        short = 'i',
        long = "input",
        value_name = "TRACE",
        conflicts_with = "seconds"
    )]
    pub input: Option<PathBuf>,
    /// The HTML file to write
    #[arg(short = 'o', long = "output", value_name = "FILE.html")]
    pub output: PathBuf,
    /// Only this disk (with -i, its I/Os in the recording; live, the disk traced)
    #[arg(short = 'd', long = "disk", value_name = "DISK")]
    pub disk: Option<String>,
    /// Trace live for this many seconds, then write the report (Ctrl-C ends it early)
    #[arg(short = 'w', long = "seconds", value_name = "SECONDS")]
    pub seconds: Option<u64>,
    /// The page's title (the trace's name by default)
    #[arg(long)]
    pub title: Option<String>,
    /// Ring buffer size in MiB, live
    #[arg(long = "buffer", value_name = "MIB", default_value_t = 16)]
    pub buffer_mib: u32,
}
