//! `blkscope iostat`: sysstat's iostat 12.6 (same options, same bytes out), then per-cgroup
//! statistics from the probes (`--cgroups`).
//!
//! Flow: `options` parses the command line; `source` reads the counter files into
//! `counters`; `devices` keeps sysstat's device list; `report` computes and prints one report
//! from the previous and current sample (pure: the tests replay captured samples); `run`
//! loops over intervals; `system` is the live machine (banner, clock).

pub mod cgroups;
pub mod cli;
pub mod counters;
pub mod devices;
pub mod format;
pub mod naming;
pub mod options;
pub mod report;
pub mod run;
pub mod source;
pub mod system;
