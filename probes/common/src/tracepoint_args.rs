//! Where each `block:` tracepoint's arguments sit. Linux 5.11 dropped the leading
//! `struct request_queue *` from most block tracepoints (`block_rq_issue(q, rq)` became
//! `block_rq_issue(rq)`): a probe that reads a fixed position reads the queue as the request
//! on older kernels, silently. Userspace reads each prototype from the kernel's BTF
//! (`btf_trace_<name>`) and hands the probes the position of the object they read (the request,
//! bio or queue); the arguments the probes read after it follow it directly on every kernel.

/// The block tracepoints the probes attach to, in the order of `TracepointArgs::first`
/// (also the order of the block_events programs).
pub const BLOCK_TRACEPOINTS: [&str; 15] = [
    "block_bio_queue",
    "block_bio_backmerge",
    "block_bio_frontmerge",
    "block_getrq",
    "block_split",
    "block_bio_remap",
    "block_bio_complete",
    "block_rq_insert",
    "block_rq_issue",
    "block_rq_merge",
    "block_rq_requeue",
    "block_rq_complete",
    "block_rq_remap",
    "block_plug",
    "block_unplug",
];

/// Indices into `BLOCK_TRACEPOINTS` and `TracepointArgs::first`.
pub mod tracepoint {
    pub const BLOCK_BIO_QUEUE: usize = 0;
    pub const BLOCK_BIO_BACKMERGE: usize = 1;
    pub const BLOCK_BIO_FRONTMERGE: usize = 2;
    pub const BLOCK_GETRQ: usize = 3;
    pub const BLOCK_SPLIT: usize = 4;
    pub const BLOCK_BIO_REMAP: usize = 5;
    pub const BLOCK_BIO_COMPLETE: usize = 6;
    pub const BLOCK_RQ_INSERT: usize = 7;
    pub const BLOCK_RQ_ISSUE: usize = 8;
    pub const BLOCK_RQ_MERGE: usize = 9;
    pub const BLOCK_RQ_REQUEUE: usize = 10;
    pub const BLOCK_RQ_COMPLETE: usize = 11;
    pub const BLOCK_RQ_REMAP: usize = 12;
    pub const BLOCK_PLUG: usize = 13;
    pub const BLOCK_UNPLUG: usize = 14;
}

/// The highest argument position a probe may read (`first` + what follows it).
pub const MAX_ARG_POSITION: usize = 4;

/// Per tracepoint, the position (0-based, the tracepoint's own arguments) of the object the
/// probe reads.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TracepointArgs {
    pub first: [u8; 16],
}

impl TracepointArgs {
    /// Linux 5.11 and later: the object first, but for `block_bio_complete(q, bio)`.
    pub const SINCE_5_11: TracepointArgs = {
        let mut first = [0u8; 16];
        first[tracepoint::BLOCK_BIO_COMPLETE] = 1;
        TracepointArgs { first }
    };
}

#[cfg(feature = "user")]
// SAFETY: plain `#[repr(C)]` bytes.
unsafe impl aya::Pod for TracepointArgs {}
