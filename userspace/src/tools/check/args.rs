//! `blkscope check [--btf FILE] [--json]` (`--btf` is blkscope's global option).

use clap::Args;

#[derive(Args, Debug)]
pub struct CheckArgs {
    /// One JSON object instead of the text report
    #[arg(long)]
    pub json: bool,
}
