//! `blkscope record` (`blktrace`): blktrace's recording, from the eBPF probes instead of the
//! kernel's relay files, written in the blktrace binary format that stock blkparse reads.
//!
//! `options` is blktrace's command line, `run` the recording loop (probes -> `Recorder` ->
//! `traces`: per-CPU files or a stream on stdout) and its closing summary, `direct` the
//! same without decoded events when no option needs them (probes -> `ProbeRecordEncoder`),
//! `flight` the flight recorder (`--trigger`), `cli` the entry point.

pub mod cli;
pub mod direct;
pub mod flight;
pub mod options;
pub mod run;
pub mod traces;
