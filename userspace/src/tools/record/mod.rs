//! `blkscope record` (`blktrace`): blktrace's recording, from the eBPF probes instead of the
//! kernel's relay files, written in the blktrace binary format that stock blkparse reads.
//!
//! `options` is blktrace's command line, `run` the recording loop (probes -> `Recorder` ->
//! per-CPU files or a stream on stdout) and its closing summary, `flight` the flight recorder
//! (`--trigger`), `cli` the entry point.

pub mod cli;
pub mod flight;
pub mod options;
pub mod run;
