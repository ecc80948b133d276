//! `blkscope biotop`: block I/O by process, container or disk, per interval. Counting happens
//! in the kernel (`kernel::task_io`); `args` is its command line, `run` its wiring, `rows`
//! names, groups and sorts the rows; `batch` prints bcc's text for scripts, `tui` draws the
//! live terminal UI.

pub mod args;
pub mod batch;
pub mod rows;
pub mod run;
pub mod tui;

pub use args::BiotopArgs;
pub use run::run;
