//! `blkscope biosnoop`: one line per finished I/O, in bcc biosnoop's layout, attributed to the
//! task that issued it; live or over a recording. `args` is its command line, `run` its wiring
//! (the event feed through `model::inflight` into the view), `view` filters and renders.

pub mod args;
pub mod run;
pub mod view;

pub use args::BiosnoopArgs;
pub use run::run;
