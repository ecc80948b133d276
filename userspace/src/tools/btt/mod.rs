//! `blkscope btt` (`btt`): btt 2.09's latency breakdown of blktrace traces, from our own
//! reader (`crate::blktrace`).
//!
//! `analysis` follows each I/O through the block layer and keeps the statistics (with
//! `device`, `process`, `avg`, `seek`, `active` (active periods), `ranges`, `q2d` and
//! `iostat_file` (the `-I` file) for the parts), `report` prints them, `trees` writes `-P`'s
//! per-device files, `plots` the plot-data files (`data_file`, `rwc`, `latency`, `plat`,
//! `aqd`, `sps`, `unplug_hist`), `live` the `-Z` files, `options` is the command line, `run`
//! the input and outputs, `cli` the entry point. `rbtree` reproduces the tree shape btt's seek
//! statistics depend on; `time` its number formatting.

pub mod active;
pub mod analysis;
pub mod aqd;
pub mod avg;
pub mod cli;
pub mod data_file;
pub mod device;
pub mod iostat_file;
pub mod latency;
pub mod live;
pub mod options;
pub mod plat;
pub mod plots;
pub mod process;
pub mod q2d;
pub mod ranges;
pub mod rbtree;
pub mod report;
pub mod run;
pub mod rwc;
pub mod seek;
pub mod sps;
pub mod time;
pub mod trees;
pub mod unplug_hist;
