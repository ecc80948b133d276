//! `blkscope parse` (`blkparse`): blkparse 1.2's output from blktrace binary traces, read by
//! our own reader (`crate::blktrace`).
//!
//! `options` is its command line, `engine` what it does with each record (counts, I/O
//! tracking), `events` how a record prints (default lines, `-f`/`-F`), `stats` the summaries,
//! `json` the `--format json` output, `timeline` the `--format perfetto` one, `memory` what blkparse 1.2's `-t` times start from when
//! a stage was not seen, `run` the file and pipe modes, `cli` the entry point.

pub mod cli;
pub mod engine;
pub mod events;
pub mod json;
pub mod memory;
pub mod options;
pub mod run;
pub mod stats;
pub mod timeline;
