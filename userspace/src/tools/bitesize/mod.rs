//! `blkscope bitesize`: bcc bitesize's log2 histograms of I/O sizes in KiB per process name
//! (or per container), counted in the kernel live (`kernel::task_io`), or counted here from a
//! recording's finished I/Os. `args` is its command line, `sizes` the histograms and their
//! text, `run` the wiring.

pub mod args;
pub mod run;
pub mod sizes;

pub use args::BitesizeArgs;
pub use run::run;
