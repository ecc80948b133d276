//! `blkscope iostat`: sysstat's iostat 12.6 (same options, same bytes out), then per-cgroup
//! statistics from the probes (`--cgroups`).
//!
//! Flow: `options` parses the command line; `host::stat_files` reads the counter files into
//! `host::counters`; `devices` keeps sysstat's device list; `report` computes and prints one
//! report from the previous and current sample (pure: the tests replay captured samples);
//! `run` loops over intervals (`run::interval` waits); `cli` is the entry point; `cgroups`
//! computes and renders the per-cgroup rows that `cgroup_report` wires to the probes.

pub mod cgroup_report;
pub mod cgroups;
pub mod cli;
pub mod devices;
pub mod format;
pub mod naming;
pub mod options;
pub mod report;
pub mod run;
