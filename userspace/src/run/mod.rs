//! How every tool runs, written once: `stop` (SIGINT, SIGTERM, a deadline; the one tokio
//! runtime), `interval` (reports every N seconds on the wall clock, on a recording's own
//! clock, or replayed in tests), `events` (live ring-buffer events and recorded events through
//! the same sink), `completions` (the counting views over a recording), `output` (buffered
//! stdout; a reader that goes away ends the run quietly).

pub mod completions;
pub mod events;
pub mod interval;
pub mod output;
pub mod stop;
