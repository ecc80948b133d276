//! The names of the programs, maps and read-only globals in the probe object, written once.
//!
//! The eBPF side names them by the identifiers of its statics and functions (the `#[map]` and
//! program macros take no constant), so those identifiers must equal these strings; userspace
//! loads, sizes and reads them by these constants only, and a userspace test checks that every
//! name here is in the built object. Each probe set's names start with the set's own name.

/// Shared by every probe set: the kernel's struct layout, read from BTF at start-up.
pub const KERNEL_LAYOUT: &str = "KERNEL_LAYOUT";

/// Shared by block_latency and task_io: the bio-based disks traced (dev_t -> 1), whose bios
/// are timed from queueing to completion.
pub const BIO_DISKS: &str = "BIO_DISKS";

/// Shared by the probe sets on `block:` tracepoints: where each tracepoint's arguments are,
/// from the kernel's BTF prototypes (`tracepoint_args`).
pub const TRACEPOINT_ARGS: &str = "TRACEPOINT_ARGS";

/// `block_events`: every block-layer event through one ring buffer.
pub mod block_events {
    pub const CONFIG: &str = "BLOCK_EVENTS_CONFIG";
    pub const RING: &str = "BLOCK_EVENTS_RING";
    /// One per group of CPUs (`ProbeConfig::cpu_rings`).
    pub const CPU_RINGS: [&str; crate::block_events::CPU_RINGS] = [
        "BLOCK_EVENTS_RING_CPU0",
        "BLOCK_EVENTS_RING_CPU1",
        "BLOCK_EVENTS_RING_CPU2",
        "BLOCK_EVENTS_RING_CPU3",
        "BLOCK_EVENTS_RING_CPU4",
        "BLOCK_EVENTS_RING_CPU5",
        "BLOCK_EVENTS_RING_CPU6",
        "BLOCK_EVENTS_RING_CPU7",
    ];
    pub const DROPS: &str = "BLOCK_EVENTS_DROPS";
    pub const DEVICES: &str = "BLOCK_EVENTS_DEVICES";
    /// With `--file`: where the file of a bio is found, and the file each task is doing direct
    /// I/O on (set by the iomap tracepoints).
    pub const FILE_LAYOUT: &str = "FILE_LAYOUT";
    pub const DIO_FILES: &str = "DIO_FILES";
    /// `(program, tracepoint)`: attached with `--file` where the kernel has them (Linux 6.x).
    pub const DIO_BEGIN: (&str, &str) = ("block_events_dio_begin", "iomap_dio_rw_begin");
    pub const DIO_COMPLETE: (&str, &str) = ("block_events_dio_complete", "iomap_dio_complete");
    pub const DIO_QUEUED: (&str, &str) = ("block_events_dio_queued", "iomap_dio_rw_queued");
    /// Each program is named after the `block:` tracepoint it attaches to.
    pub const PROGRAMS: [&str; 15] = crate::tracepoint_args::BLOCK_TRACEPOINTS;
}

/// `block_latency`: latency histograms counted in the kernel.
pub mod block_latency {
    pub const CONFIG: &str = "BLOCK_LATENCY_CONFIG";
    pub const HISTOGRAMS: &str = "BLOCK_LATENCY_HISTOGRAMS";
    pub const FINE: &str = "BLOCK_LATENCY_FINE";
    pub const DROPS: &str = "BLOCK_LATENCY_DROPS";
    /// `(program, block: tracepoint)`.
    pub const BIO_QUEUE: (&str, &str) = ("block_latency_bio_queue", "block_bio_queue");
    pub const RQ_INSERT: (&str, &str) = ("block_latency_rq_insert", "block_rq_insert");
    pub const RQ_ISSUE: (&str, &str) = ("block_latency_rq_issue", "block_rq_issue");
    pub const RQ_COMPLETE: (&str, &str) = ("block_latency_rq_complete", "block_rq_complete");
    /// Attached only when a bio-based disk is traced.
    pub const BIO_COMPLETE: (&str, &str) = ("block_latency_bio_complete", "block_bio_complete");
}

/// `task_io`: I/Os, bytes and time per task, disk and cgroup.
pub mod task_io {
    pub const CONFIG: &str = "TASK_IO_CONFIG";
    pub const COUNTS: &str = "TASK_IO_COUNTS";
    /// bitesize: each row's I/O sizes.
    pub const SIZES: &str = "TASK_IO_SIZES";
    /// biopattern: sequential and random I/Os per disk (and process or cgroup).
    pub const PATTERNS: &str = "TASK_IO_PATTERNS";
    /// biostacks: the kernel stacks that queued bios, and each stack's latencies.
    pub const STACK_TRACES: &str = "TASK_IO_STACK_TRACES";
    pub const STACKS: &str = "TASK_IO_STACKS";
    pub const DROPS: &str = "TASK_IO_DROPS";
    /// `(program, block: tracepoint)`.
    pub const BIO_QUEUE: (&str, &str) = ("task_io_bio_queue", "block_bio_queue");
    pub const RQ_ISSUE: (&str, &str) = ("task_io_rq_issue", "block_rq_issue");
    pub const RQ_COMPLETE: (&str, &str) = ("task_io_rq_complete", "block_rq_complete");
    /// Attached only when a bio-based disk is traced.
    pub const BIO_COMPLETE: (&str, &str) = ("task_io_bio_complete", "block_bio_complete");
}

/// `fs_latency`: file-system operations timed on syscall tracepoints.
pub mod fs_latency {
    pub const LAYOUT: &str = "FS_LATENCY_LAYOUT";
    pub const CONFIG: &str = "FS_LATENCY_CONFIG";
    pub const EVENTS: &str = "FS_LATENCY_EVENTS";
    pub const DIST: &str = "FS_LATENCY_DIST";
    pub const DROPS: &str = "FS_LATENCY_DROPS";
    /// `(program, the syscalls whose sys_enter_* it attaches to)`.
    pub const ENTRIES: [(&str, &[&str]); 6] = [
        ("fs_latency_read_enter", &["read", "readv"]),
        ("fs_latency_pread_enter", &["pread64", "preadv", "preadv2"]),
        ("fs_latency_write_enter", &["write", "writev"]),
        (
            "fs_latency_pwrite_enter",
            &["pwrite64", "pwritev", "pwritev2"],
        ),
        (
            "fs_latency_sync_enter",
            &["fsync", "fdatasync", "sync_file_range"],
        ),
        (
            "fs_latency_open_enter",
            &["open", "openat", "openat2", "creat"],
        ),
    ];
    /// Attached to the sys_exit_* of every syscall above.
    pub const EXIT: &str = "fs_latency_exit";
}

/// The suffix of a block tracepoint program's raw tracepoint twin (`block_rq_issue_raw`),
/// attached instead of the BTF tracepoint program with `--btf FILE`.
pub const RAW_SUFFIX: &str = "_raw";

/// The programs on `block:` tracepoints (each has a raw tracepoint twin).
pub fn block_tracepoint_programs() -> impl Iterator<Item = &'static str> {
    let latency = [
        block_latency::BIO_QUEUE.0,
        block_latency::RQ_INSERT.0,
        block_latency::RQ_ISSUE.0,
        block_latency::RQ_COMPLETE.0,
        block_latency::BIO_COMPLETE.0,
    ];
    let task_io = [
        task_io::BIO_QUEUE.0,
        task_io::RQ_ISSUE.0,
        task_io::RQ_COMPLETE.0,
        task_io::BIO_COMPLETE.0,
    ];
    block_events::PROGRAMS
        .into_iter()
        .chain([
            block_events::DIO_BEGIN.0,
            block_events::DIO_COMPLETE.0,
            block_events::DIO_QUEUED.0,
        ])
        .chain(latency)
        .chain(task_io)
}

/// Every name above, for the check against the built object.
pub fn all() -> impl Iterator<Item = &'static str> {
    let singles = [
        KERNEL_LAYOUT,
        block_events::FILE_LAYOUT,
        block_events::DIO_FILES,
        block_events::DIO_BEGIN.0,
        block_events::DIO_COMPLETE.0,
        block_events::DIO_QUEUED.0,
        TRACEPOINT_ARGS,
        block_events::CONFIG,
        block_events::RING,
        block_events::DROPS,
        block_events::DEVICES,
        block_latency::CONFIG,
        block_latency::HISTOGRAMS,
        block_latency::FINE,
        block_latency::DROPS,
        block_latency::BIO_QUEUE.0,
        block_latency::RQ_INSERT.0,
        block_latency::RQ_ISSUE.0,
        block_latency::RQ_COMPLETE.0,
        block_latency::BIO_COMPLETE.0,
        BIO_DISKS,
        task_io::CONFIG,
        task_io::COUNTS,
        task_io::DROPS,
        task_io::BIO_QUEUE.0,
        task_io::RQ_ISSUE.0,
        task_io::RQ_COMPLETE.0,
        task_io::BIO_COMPLETE.0,
        fs_latency::LAYOUT,
        fs_latency::CONFIG,
        fs_latency::EVENTS,
        fs_latency::DIST,
        fs_latency::DROPS,
        fs_latency::EXIT,
    ];
    singles
        .into_iter()
        .chain(block_events::PROGRAMS)
        .chain(block_events::CPU_RINGS)
        .chain(fs_latency::ENTRIES.into_iter().map(|(program, _)| program))
}
