//! `blkscope biopattern`: libbpf-tools biopattern's table of random and sequential I/O per
//! disk (and per process or container on request), counted in the kernel live
//! (`kernel::task_io`), or counted here from a recording's finished I/Os. `args` is its
//! command line, `patterns` the counting rule and the table, `run` the wiring.

pub mod args;
pub mod patterns;
pub mod run;

pub use args::BiopatternArgs;
pub use run::run;
