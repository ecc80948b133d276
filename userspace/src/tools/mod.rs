//! One folder per tool. Each holds its arguments (`args`, or `options` for the getopt-style
//! tools), its wiring (`run`: probes or files in, the `run` layer's drivers around it) and its
//! pure compute and render parts. Tools import the layers, never each other.

pub mod biolatency;
pub mod biopattern;
pub mod biosnoop;
pub mod biostacks;
pub mod biotop;
pub mod bitesize;
pub mod btt;
pub mod check;
pub mod exporter;
pub mod ext4dist;
pub mod ext4slower;
pub mod iostat;
pub mod parse;
pub mod record;
pub mod report;
pub mod trace;
