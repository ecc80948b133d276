//! The block-layer event: one record per blktrace action, from the `block:*` tracepoints.

/// The action an event records. The numbers are blktrace's `__BLK_TA_*` codes, so that the
/// recorder writes them unchanged; `RequestMerge` is the one action blktrace folds into another.
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BlockAction {
    /// Q: a bio entered the block layer (`block_bio_queue`).
    Queue = 1,
    /// M: a bio was merged at the back of a waiting request (`block_bio_backmerge`).
    BackMerge = 2,
    /// F: a bio was merged at the front of a waiting request (`block_bio_frontmerge`).
    FrontMerge = 3,
    /// G: a request was allocated for a bio (`block_getrq`).
    GetRequest = 4,
    /// R: a request went back to the queue (`block_rq_requeue`).
    Requeue = 6,
    /// D: a request was handed to the driver (`block_rq_issue`).
    Issue = 7,
    /// C: a request (or, on bio-based devices, a bio) completed (`block_rq_complete`,
    /// `block_bio_complete`).
    Complete = 8,
    /// P: a task started plugging (`block_plug`).
    Plug = 9,
    /// U: an explicit unplug (`block_unplug` with explicit set).
    UnplugIo = 10,
    /// UT: an implicit unplug, when the plugging task schedules (`block_unplug`).
    UnplugTimer = 11,
    /// I: a request was inserted into the scheduler or dispatch list (`block_rq_insert`).
    Insert = 12,
    /// X: a bio was split (`block_split`); `aux_sector` is the sector of the new part.
    Split = 13,
    /// A: a bio or request was remapped, e.g. from a partition (`block_bio_remap`,
    /// `block_rq_remap`); `aux_dev`/`aux_sector` are where it came from.
    Remap = 15,
    /// Two requests were merged (`block_rq_merge`); blktrace logs it as a back merge (M).
    /// `request_id` is the request that was absorbed and will not complete on its own.
    RequestMerge = 32,
}

impl BlockAction {
    pub const ALL: [BlockAction; 14] = [
        BlockAction::Queue,
        BlockAction::BackMerge,
        BlockAction::FrontMerge,
        BlockAction::GetRequest,
        BlockAction::Requeue,
        BlockAction::Issue,
        BlockAction::Complete,
        BlockAction::Plug,
        BlockAction::UnplugIo,
        BlockAction::UnplugTimer,
        BlockAction::Insert,
        BlockAction::Split,
        BlockAction::Remap,
        BlockAction::RequestMerge,
    ];

    /// Decodes the `action` byte of an event; `None` for a value no probe writes.
    pub fn from_u8(value: u8) -> Option<BlockAction> {
        // A match, not a search of ALL: the collector decodes millions of these a second.
        Some(match value {
            1 => BlockAction::Queue,
            2 => BlockAction::BackMerge,
            3 => BlockAction::FrontMerge,
            4 => BlockAction::GetRequest,
            6 => BlockAction::Requeue,
            7 => BlockAction::Issue,
            8 => BlockAction::Complete,
            9 => BlockAction::Plug,
            10 => BlockAction::UnplugIo,
            11 => BlockAction::UnplugTimer,
            12 => BlockAction::Insert,
            13 => BlockAction::Split,
            15 => BlockAction::Remap,
            32 => BlockAction::RequestMerge,
            _ => return None,
        })
    }

    /// The bit of this action in [`ProbeConfig::action_mask`].
    pub const fn mask_bit(self) -> u64 {
        1u64 << (self as u8)
    }
}

/// `BlockEvent::flags`: the event was made from a bio, not a request (`request_id` is a bio).
pub const EVENT_FROM_BIO: u8 = 1 << 0;
/// A Queue event whose bio carries a file's data (`ProbeConfig::files`): `aux_sector` is the
/// file's inode number, `aux_dev` its file system's `s_dev` (kernel encoding). Direct I/O is
/// known from the iomap tracepoint that starts it, buffered I/O from the page cache.
pub const EVENT_FILE: u8 = 1 << 1;
/// A Queue event whose bio carries a block device's own pages (its page cache: a file
/// system's metadata, a journal, or a raw device read through the page cache).
pub const EVENT_BDEV_PAGES: u8 = 1 << 2;

/// The record carries a [`BlockEventExtra`] after its [`BlockEvent`]: the auxiliary fields
/// (Queue, Split, Remap), and the running task's name when `EVENT_COMM` is set too.
pub const EVENT_EXTENDED: u8 = 1 << 3;
/// `BlockEventExtra::comm` holds the running task's name: sent when the task is not the one
/// whose name its CPU sent last (once per task and CPU, as the kernel's blktrace notes a
/// task's name once).
pub const EVENT_COMM: u8 = 1 << 4;

/// One block-layer event as the probes write it into the ring buffer: 64 bytes (72 with the
/// ring buffer's header), what every event needs. Most events are only this: the ring buffer's
/// bytes are what both the probes and the collector pay for, per event, millions of times a
/// second. Queue, Split and Remap events, and an event whose task is not the one whose name its
/// CPU sent last, are a [`BlockEventFull`] (`EVENT_EXTENDED`, with `EVENT_COMM` for the name).
///
/// Fields are ordered by size so that the struct has no hidden padding: its bytes are fully
/// initialised in the probe, and the layout is the same on both sides.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlockEvent {
    /// `bpf_ktime_get_ns()`: CLOCK_MONOTONIC nanoseconds.
    pub timestamp_ns: u64,
    /// First 512-byte sector of the I/O on the whole disk (`u64::MAX` when the request has none).
    pub sector: u64,
    /// Kernel address of the `struct request` (or `struct bio`, see `EVENT_FROM_BIO`): an opaque
    /// identity that lets userspace follow one I/O from insert to completion.
    pub request_id: u64,
    /// cgroup v2 id of the task running when the event fired (`bpf_get_current_cgroup_id`).
    pub cgroup_id: u64,
    /// Bytes of the I/O (for C: the bytes completed by this event).
    pub bytes: u32,
    /// Whole-disk device, in the kernel's `dev_t` encoding (`major << 20 | minor`).
    pub dev: u32,
    /// The operation and its flags (`blk_opf_t`): low bits the `REQ_OP_*`, then `__REQ_*` bits.
    /// Their positions come from the kernel's BTF at run time (userspace decodes them).
    pub op_flags: u32,
    /// Thread id of the running task (what blktrace records as pid).
    pub pid: u32,
    /// Process id (thread group id) of the running task.
    pub tgid: u32,
    /// CPU the event fired on.
    pub cpu: u32,
    /// Unplug: the number of requests flushed from the plug.
    pub depth: u32,
    /// A [`BlockAction`] value.
    pub action: u8,
    /// Complete: the kernel's `blk_status_t` (0 = success).
    pub status: u8,
    /// `EVENT_*` bits.
    pub flags: u8,
    pub _pad: u8,
}

/// What follows a [`BlockEvent`] in an `EVENT_EXTENDED` record.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlockEventExtra {
    /// Split: the first sector of the split-off part. Remap: the sector before the remap.
    pub aux_sector: u64,
    /// cgroup id of the bio's own blkcg (the owner cgroup writeback tags), 0 when none. Queue
    /// (Q) events only; 0 on the others.
    pub bio_cgroup_id: u64,
    /// Remap: the device before the remap (e.g. the partition), kernel `dev_t` encoding.
    pub aux_dev: u32,
    pub _pad: u32,
    /// With `EVENT_COMM`: name of the running task (`comm`), NUL-padded; zeros otherwise.
    /// Userspace keeps it for the task's later events, which leave it out.
    pub comm: [u8; 16],
}

/// An `EVENT_EXTENDED` record.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlockEventFull {
    pub base: BlockEvent,
    pub extra: BlockEventExtra,
}

impl BlockEvent {
    pub const SIZE: usize = core::mem::size_of::<BlockEvent>();
}

impl BlockEventFull {
    pub const SIZE: usize = core::mem::size_of::<BlockEventFull>();
}

/// Run-time settings of the block probes, set by userspace at load time (a read-only global).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct ProbeConfig {
    /// Bit `1 << action` set for every [`BlockAction`] to emit.
    pub action_mask: u64,
    /// When non-zero, only the devices in `devices` (when `inline_devices` says how many) or
    /// else in the `BLOCK_EVENTS_DEVICES` map are traced.
    pub filter_devices: u32,
    /// When non-zero, bio events (Q, M, F, G, X, A: they run in the submitting task) are kept
    /// only for tasks in cgroup `cgroup_id` (at depth `cgroup_level`) or below it.
    pub filter_cgroup: u32,
    pub cgroup_id: u64,
    pub cgroup_level: u32,
    /// Wake the reader only once this many bytes wait in the ring buffer (it collects the rest
    /// on a timer): a wakeup per event costs more than the event. 0: wake on every event.
    pub wakeup_bytes: u32,
    /// Non-zero: Queue events name the file their bio carries (`EVENT_FILE`).
    pub files: u32,
    /// How many of `devices` are the traced devices; 0 when there are more than fit (the map
    /// holds them). A few compares instead of a hash lookup on every event.
    pub inline_devices: u32,
    /// Kernel `dev_t` values of the traced whole disks (the first `inline_devices`).
    pub devices: [u32; INLINE_DEVICES],
    /// 0: every CPU writes to the one `BLOCK_EVENTS_RING`, in which all CPUs' events are in
    /// the order they were written. Otherwise (a power of two up to `CPU_RINGS`): CPU n
    /// writes to `BLOCK_EVENTS_RING_CPU{n % cpu_rings}`, for a reader that needs each CPU's
    /// events in order and nothing across CPUs (record's direct path): no lock and no cache
    /// line shared between CPUs on every event.
    pub cpu_rings: u32,
    pub _pad: u32,
}

/// The most ring buffers the probes spread the CPUs over (`ProbeConfig::cpu_rings`).
pub const CPU_RINGS: usize = 8;

/// How many traced devices `ProbeConfig` holds itself.
pub const INLINE_DEVICES: usize = 4;

impl ProbeConfig {
    /// Every action, every device: the probes' placeholder until userspace overrides it.
    pub const ALL: ProbeConfig = ProbeConfig {
        action_mask: u64::MAX,
        filter_devices: 0,
        filter_cgroup: 0,
        cgroup_id: 0,
        cgroup_level: 0,
        wakeup_bytes: 0,
        files: 0,
        inline_devices: 0,
        devices: [0; INLINE_DEVICES],
        cpu_rings: 0,
        _pad: 0,
    };
}

/// Entries of the `BLOCK_EVENTS_DEVICES` map (keys are kernel `dev_t` values of whole disks).
pub const MAX_TRACED_DEVICES: u32 = 256;
/// Default size of the `BLOCK_EVENTS_RING` ring buffer, in bytes (a power of two).
pub const DEFAULT_RING_BYTES: u32 = 16 << 20;

#[cfg(feature = "user")]
mod pod {
    // SAFETY: plain `#[repr(C)]` data without padding holes or pointers.
    unsafe impl aya::Pod for super::BlockEvent {}
    // SAFETY: as above.
    unsafe impl aya::Pod for super::BlockEventFull {}
    // SAFETY: as above.
    unsafe impl aya::Pod for super::ProbeConfig {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_has_no_implicit_padding() {
        // 4 u64 + 7 u32 + 3 u8 + 1 pad: one cache line with the ring buffer's 8-byte header
        // left over for the next record's start.
        assert_eq!(BlockEvent::SIZE, 4 * 8 + 7 * 4 + 3 + 1);
        // 2 u64 + u32 + pad + 16 comm
        assert_eq!(BlockEventFull::SIZE, BlockEvent::SIZE + 2 * 8 + 2 * 4 + 16);
        assert_eq!(BlockEventFull::SIZE % 8, 0);
    }

    #[test]
    fn actions_round_trip() {
        for action in BlockAction::ALL {
            assert_eq!(BlockAction::from_u8(action as u8), Some(action));
        }
        assert_eq!(BlockAction::from_u8(0), None);
        assert_eq!(BlockAction::from_u8(200), None);
    }
}
