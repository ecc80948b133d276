//! `blkscope ext4dist`: latency histograms of ext4 (or xfs, btrfs) operations, counted in the
//! kernel (`kernel::fs_latency`), in bcc's layout. `args` is its command line, `run` its
//! wiring, `render` the histograms.

pub mod args;
pub mod render;
pub mod run;

pub use args::Ext4distArgs;
pub use run::run;
