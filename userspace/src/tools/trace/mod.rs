//! `blkscope trace`: every block-layer event as it happens, one line each (blkparse's default
//! layout) or one JSON object each: the raw view of the event pipeline the other views share.
//! `args` is its command line, `run` its wiring, `format` how an event prints.

pub mod args;
pub mod format;
pub mod run;

pub use args::TraceArgs;
pub use run::run;
