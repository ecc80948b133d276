//! What the views compute on, the same whether it came from the probes or from a recording.
//!
//! `event` is one block-layer event; `inflight` follows an I/O from its queueing to its
//! completion and attributes it to the task that issued it; `histogram` holds log2 slots,
//! their interval differences, percentiles and bcc's printer; `fs_op` is one timed
//! file-system operation (ext4slower, ext4dist, the exporter).

pub mod comm;
pub mod event;
pub mod fs_op;
pub mod histogram;
pub mod inflight;
