//! The blktrace binary format, read and written by our own code (no libblkparse).
//!
//! `format` is the record layout and its constants, `reader` reads one stream or merges the
//! per-CPU files of a trace in time order (`read_ahead` does so on a thread of its own), `writer` writes per-CPU files stock blkparse reads.
//! Between the format and the event model: `event_encoder` turns live block events into
//! records (for `record`), `event_decoder` turns a recording's records back into block events
//! (for the event views' `-i TRACE`).

pub mod error;
pub mod event_decoder;
pub mod event_encoder;
pub mod format;
pub mod probe_encoder;
pub mod read_ahead;
pub mod reader;
pub mod source;
pub mod synthetic;
pub mod writer;

pub use error::{CorruptKind, TraceError};
pub use format::{Endian, Trace, TraceHeader};
pub use read_ahead::ReadAhead;
pub use reader::{Item, MergedTraces, RecordReader, TraceInput};
pub use source::TraceSource;
pub use writer::BlktraceWriter;
