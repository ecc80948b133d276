//! `blkscope ext4slower`: ext4 (or xfs, btrfs) reads, writes, opens and syncs slower than a
//! threshold, timed on syscall tracepoints (`kernel::fs_latency`), in bcc's layout. `args` is
//! its command line, `run` its wiring, `render` the header and lines.

pub mod args;
pub mod render;
pub mod run;

pub use args::Ext4slowerArgs;
pub use run::run;
