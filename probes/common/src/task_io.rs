//! task_io (biotop, iostat --cgroups, bitesize, biopattern): block I/O per process (and
//! cgroup), disk and direction, summed in the kernel; with the sizes of the I/Os (bitesize) and
//! how sequential they are (biopattern) on request.

/// Distinct (process, disk, direction) rows the kernel keeps; more are counted as drops.
pub const MAX_TASK_IO_ROWS: u32 = 10240;
/// Requests and bios followed at once (LRU: the oldest are reclaimed when full).
pub const MAX_TASK_IO_IN_FLIGHT: u32 = 16384;

/// Who queued a bio: taken in the submitting task's context.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Who {
    pub tgid: u32,
    /// With `TaskIoConfig::files`: what the bio carries (`FILE_*`), and the file's inode
    /// number and file system `s_dev` for `FILE_INODE`.
    pub file_kind: u32,
    pub cgroup_id: u64,
    pub comm: [u8; 16],
    pub file_ino: u64,
    pub file_dev: u32,
    pub _pad: u32,
    /// With `TaskIoConfig::stacks`: the kernel stack that queued the bio (an id in
    /// `TASK_IO_STACK_TRACES`); negative when none was taken.
    pub stack_id: i64,
}

/// `Who::file_kind`: no file known, a file's data, the device's own pages.
pub const FILE_NONE: u32 = 0;
pub const FILE_INODE: u32 = 1;
pub const FILE_DEVICE_PAGES: u32 = 2;

/// A request between issue and completion.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TaskIoStart {
    pub start_ns: u64,
    pub who: Who,
    /// Bios of bio-based disks only, taken when queued (requests read theirs at completion).
    pub dev: u32,
    pub write: u32,
    pub bytes: u64,
    /// Bios of bio-based disks only: the first sector, taken when queued.
    pub sector: u64,
}

/// One row of the kernel's table.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TaskIoKey {
    pub tgid: u32,
    /// Whole disk, kernel `dev_t` encoding.
    pub dev: u32,
    /// 1 for writes, 0 for everything else (bcc's rwflag).
    pub write: u32,
    /// `Who::file_kind` (0 without `--files`).
    pub file_kind: u32,
    pub cgroup_id: u64,
    pub comm: [u8; 16],
    pub file_ino: u64,
    pub file_dev: u32,
    pub _pad: u32,
}

/// What a row adds up.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TaskIoCounts {
    pub ios: u64,
    pub bytes: u64,
    /// Sum of issue-to-completion times, in nanoseconds.
    pub latency_ns: u64,
}

/// Settings of the biotop probes (a read-only global).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TaskIoConfig {
    /// Non-zero: only the whole disk `dev`.
    pub filter_dev: u32,
    pub dev: u32,
    /// Non-zero: only I/O queued by process `tgid` (`-p`).
    pub filter_pid: u32,
    pub tgid: u32,
    /// Non-zero: only I/O queued in cgroup `cgroup_id` (depth `cgroup_level`) or below.
    pub filter_cgroup: u32,
    pub cgroup_level: u32,
    pub cgroup_id: u64,
    /// `REQ_OP_WRITE` and the mask of the operation bits in `cmd_flags` (from BTF).
    pub op_write: u32,
    pub op_mask: u32,
    /// Non-zero: some traced disks are bio-based (`BIO_DISKS`): their bios are counted from
    /// queueing to completion.
    pub bio_disks: u32,
    /// Non-zero: rows are also keyed by the file each I/O carries (`biotop --files`).
    pub files: u32,
    /// Non-zero: each row's I/O sizes in `TASK_IO_SIZES` (bitesize).
    pub sizes: u32,
    /// `PATTERN_BY_*`: sequential and random I/Os counted in `TASK_IO_PATTERNS` (biopattern);
    /// 0: not counted.
    pub patterns: u32,
    /// Non-zero: the kernel stack of each queued bio, and each stack's latencies (issue to
    /// completion, in units of `stack_unit_ns`) in `TASK_IO_STACKS` (biostacks).
    pub stacks: u32,
    pub stack_unit_ns: u32,
}

/// A row of `TASK_IO_STACKS`: who queued I/O through which kernel stack, on which disk.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StackKey {
    pub tgid: u32,
    /// Whole disk, kernel `dev_t` encoding.
    pub dev: u32,
    /// An id in `TASK_IO_STACK_TRACES`, negative when the stack could not be taken.
    pub stack_id: i64,
    pub cgroup_id: u64,
    pub comm: [u8; 16],
}

/// Stacks the kernel keeps at once (`TASK_IO_STACK_TRACES`).
pub const MAX_STACKS: u32 = 16384;

/// `TaskIoConfig::patterns`: one count per disk, per disk and process, per disk and cgroup.
pub const PATTERN_BY_DISK: u32 = 1;
pub const PATTERN_BY_PROCESS: u32 = 2;
pub const PATTERN_BY_CGROUP: u32 = 3;

/// Power-of-two slots of I/O sizes in KiB: slot `i` counts sizes in `[2^i, 2^(i+1))` KiB (slot
/// 0 also 0 KiB), as bcc's bitesize counts them.
pub const SIZE_SLOTS: usize = 32;

/// The size class of an I/O of `bytes`: its slot in bitesize's histograms, and
/// `HistogramKey::size_slot` (biolatency --size).
#[inline(always)]
pub fn size_class(bytes: u64) -> usize {
    crate::block_latency::log2_slot(bytes / 1024, SIZE_SLOTS)
}

/// Counts per power-of-two slot: one row's I/O sizes in KiB (bitesize), one stack's latencies
/// (biostacks).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Log2Histogram {
    pub slots: [u64; SIZE_SLOTS],
}

impl Log2Histogram {
    pub const ZERO: Log2Histogram = Log2Histogram {
        slots: [0; SIZE_SLOTS],
    };
}

/// How sequential a disk's completions are (biopattern): an I/O that starts where the
/// previous one ended is sequential, any other random; the first one sets the position only.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AccessPattern {
    /// Where the previous I/O ended (its first sector plus its sectors); 0 before the first.
    pub last_sector: u64,
    pub sequential: u64,
    pub random: u64,
    /// Bytes of the I/Os counted (sequential or random).
    pub bytes: u64,
}

impl TaskIoConfig {
    pub const DEFAULT: TaskIoConfig = TaskIoConfig {
        filter_dev: 0,
        dev: 0,
        filter_pid: 0,
        tgid: 0,
        filter_cgroup: 0,
        cgroup_level: 0,
        cgroup_id: 0,
        op_write: 1,
        op_mask: 0xff,
        bio_disks: 0,
        files: 0,
        sizes: 0,
        patterns: 0,
        stacks: 0,
        stack_unit_ns: 1000,
    };
}

#[cfg(feature = "user")]
mod pod {
    // SAFETY: plain `#[repr(C)]` data without padding holes.
    unsafe impl aya::Pod for super::TaskIoKey {}
    // SAFETY: as above.
    unsafe impl aya::Pod for super::TaskIoCounts {}
    // SAFETY: as above.
    unsafe impl aya::Pod for super::TaskIoConfig {}
    // SAFETY: as above.
    unsafe impl aya::Pod for super::Who {}
    // SAFETY: as above.
    unsafe impl aya::Pod for super::TaskIoStart {}
    // SAFETY: as above.
    unsafe impl aya::Pod for super::Log2Histogram {}
    // SAFETY: as above.
    unsafe impl aya::Pod for super::AccessPattern {}
    // SAFETY: as above.
    unsafe impl aya::Pod for super::StackKey {}
}
