//! blkscope: block I/O tracing and statistics for Linux.
//!
//! Data flows from the kernel (`kernel`: probes, ring buffer) through one event model (`event`)
//! into the views (one module each).

pub mod biolatency;
pub mod biosnoop;
pub mod biotop;
pub mod blkparse;
pub mod blktrace;
pub mod btt;
pub mod cgroup;
pub mod device;
pub mod event;
pub mod exporter;
pub mod fsslower;
pub mod inflight;
pub mod iostat;
pub mod kernel;
pub mod latency;
pub mod live;
pub mod record;
pub mod recording;
pub mod trace;
