//! `blkscope biotop`: block I/O by process, container or disk, per interval. Counting happens
//! in the kernel (`kernel::biotop`); `model` names, groups and sorts the rows; `batch` prints
//! bcc's text for scripts, `tui` draws the live terminal UI.

pub mod batch;
pub mod model;
pub mod tui;
