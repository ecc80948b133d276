//! `blkscope biolatency`: bcc biolatency's log2 latency histograms, counted in the kernel
//! (`kernel::block_latency`) live, or counted here from a recording's completed I/Os
//! (`recorded`). `args` is its command line, `run` its wiring (live and recorded), `render`
//! labels and prints the histograms.

pub mod args;
pub mod recorded;
pub mod render;
pub mod run;

pub use args::BiolatencyArgs;
pub use run::run;
