//! The machine's own files, read with a bound and parsed in one place: /proc and /sys counters
//! (`stat_files`, `counters`), block device names and numbers (`device`), mounts (`mounts`),
//! the host's identity (`system`) and local time as sysstat and bcc print it (`time`).

pub mod bounded;
pub mod counters;
pub mod device;
pub mod files;
pub mod kallsyms;
pub mod mounts;
pub mod stat_files;
pub mod system;
pub mod time;
