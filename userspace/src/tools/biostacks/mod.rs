//! `blkscope biostacks`: libbpf-tools biostacks' report, on tracepoints: the kernel stacks that
//! queue block I/O (taken when each bio is queued, `kernel::task_io`), with a latency histogram
//! per process, disk and stack, symbolised from /proc/kallsyms; or folded for flame graphs.
//! `args` is its command line, `render` the two layouts, `run` the wiring.

pub mod args;
pub mod render;
pub mod run;

pub use args::BiostacksArgs;
pub use run::run;
