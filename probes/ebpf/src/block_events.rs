//! block_events probes (trace, record, biosnoop): one tracepoint program per blktrace action
//! (`block_tracepoint!`: tp_btf, and raw_tp twins), all writing `BlockEvent`s into the
//! `BLOCK_EVENTS_RING` ring buffer (a task's name only when it is not the one its CPU sent
//! last: `LAST_TASK`).

use aya_ebpf::{
    Global,
    bindings::{BPF_RB_AVAIL_DATA, BPF_RB_FORCE_WAKEUP, BPF_RB_NO_WAKEUP},
    helpers::{
        bpf_get_current_ancestor_cgroup_id, bpf_get_current_cgroup_id, bpf_get_current_comm,
        bpf_get_current_pid_tgid, bpf_get_current_task, bpf_get_smp_processor_id, bpf_ktime_get_ns,
        bpf_probe_read_kernel,
    },
    macros::map,
    maps::{HashMap, LruHashMap, PerCpuArray, RingBuf},
};
use blkscope_common::{
    BlockAction, BlockEvent, BlockEventExtra, BlockEventFull, FileLayout, KernelLayout,
    ProbeConfig,
    block_events::{
        DEFAULT_RING_BYTES, EVENT_BDEV_PAGES, EVENT_COMM, EVENT_EXTENDED, EVENT_FILE,
        EVENT_FROM_BIO, MAX_TRACED_DEVICES,
    },
    layout::{BDEVFS_MAGIC, BLKIO_CGROUP_TAG, ROOT_CGROUP_ID},
    task_io::{FILE_DEVICE_PAGES, FILE_INODE, FILE_NONE},
    tracepoint_args::tracepoint as tp,
};

use crate::tracepoint::{arg_of, ctx_word};

#[unsafe(no_mangle)]
pub(crate) static KERNEL_LAYOUT: Global<KernelLayout> = Global::new(KernelLayout::EMPTY);

#[unsafe(no_mangle)]
static BLOCK_EVENTS_CONFIG: Global<ProbeConfig> = Global::new(ProbeConfig::ALL);

/// Where the file of a bio is found (`--file`).
#[unsafe(no_mangle)]
static FILE_LAYOUT: Global<FileLayout> = Global::new(FileLayout::EMPTY);

/// The file each task is doing direct I/O on: thread id -> (inode number, s_dev).
#[map]
static DIO_FILES: LruHashMap<u32, [u64; 2]> =
    LruHashMap::with_max_entries(MAX_TRACED_DEVICES * 16, 0);

#[map]
static BLOCK_EVENTS_RING: RingBuf = RingBuf::with_byte_size(DEFAULT_RING_BYTES, 0);

// The per-CPU rings (`ProbeConfig::cpu_rings`); userspace sizes them at load time.
#[map]
static BLOCK_EVENTS_RING_CPU0: RingBuf = RingBuf::with_byte_size(4096, 0);
#[map]
static BLOCK_EVENTS_RING_CPU1: RingBuf = RingBuf::with_byte_size(4096, 0);
#[map]
static BLOCK_EVENTS_RING_CPU2: RingBuf = RingBuf::with_byte_size(4096, 0);
#[map]
static BLOCK_EVENTS_RING_CPU3: RingBuf = RingBuf::with_byte_size(4096, 0);
#[map]
static BLOCK_EVENTS_RING_CPU4: RingBuf = RingBuf::with_byte_size(4096, 0);
#[map]
static BLOCK_EVENTS_RING_CPU5: RingBuf = RingBuf::with_byte_size(4096, 0);
#[map]
static BLOCK_EVENTS_RING_CPU6: RingBuf = RingBuf::with_byte_size(4096, 0);
#[map]
static BLOCK_EVENTS_RING_CPU7: RingBuf = RingBuf::with_byte_size(4096, 0);
const _: () = assert!(blkscope_common::block_events::CPU_RINGS == 8);

/// Events written on each CPU, to look at the buffer's fill every `WAKEUP_CHECK_EVERY`th.
#[map]
static EMITTED: PerCpuArray<u32> = PerCpuArray::with_max_entries(1, 0);

const WAKEUP_CHECK_EVERY: u32 = 16;

/// The thread whose name each CPU sent last; its next events leave the name out (and skip
/// the helper that copies it).
#[map]
static LAST_TASK: PerCpuArray<u32> = PerCpuArray::with_max_entries(1, 0);

// device_traced compares this many configured devices, unrolled.
const _: () = assert!(blkscope_common::block_events::INLINE_DEVICES == 4);

/// Events that did not fit in the ring buffer, per CPU.
#[map]
static BLOCK_EVENTS_DROPS: PerCpuArray<u64> = PerCpuArray::with_max_entries(1, 0);

/// The bio-based disks traced (dev_t -> 1), shared by block_latency and task_io: their bios
/// never become requests, so those sets time them from queueing to completion.
#[map]
pub(crate) static BIO_DISKS: HashMap<u32, u8> = HashMap::with_max_entries(MAX_TRACED_DEVICES, 0);

/// The disk of `bio` when it is one of `BIO_DISKS`.
#[inline(always)]
pub(crate) fn bio_based_dev(layout: &KernelLayout, bio: u64) -> Option<u32> {
    let dev = bio_dev(layout, bio);
    // SAFETY: the value is only tested.
    unsafe { BIO_DISKS.get(&dev) }.map(|_| dev)
}

/// Whole-disk devices to trace when `ProbeConfig::filter_devices` is set.
#[map]
static BLOCK_EVENTS_DEVICES: HashMap<u32, u8> = HashMap::with_max_entries(MAX_TRACED_DEVICES, 0);

// ---- entry points: one small function per tracepoint ----

block_tracepoint!("block_bio_queue", fn block_bio_queue / block_bio_queue_raw (ctx) {
    let bio = arg_of(&ctx, tp::BLOCK_BIO_QUEUE, 0);
    bio_event(BlockAction::Queue, bio, |e| {
        if BLOCK_EVENTS_CONFIG.load().files != 0 {
            name_file(e, bio);
        }
    });
    0
});

// Direct I/O through iomap (ext4, xfs, btrfs): the file, for the bios this task queues next,
// whose pages are the task's own buffer and name no file.
block_tracepoint!("iomap_dio_rw_begin", fn block_events_dio_begin / block_events_dio_begin_raw (ctx) {
    let layout = FILE_LAYOUT.load();
    let file: u64 = read(ctx_word::<0>(&ctx), layout.kiocb_filp);
    let inode: u64 = read(file, layout.file_inode);
    let id = file_id(&layout, inode);
    let tid = bpf_get_current_pid_tgid() as u32;
    let _ = DIO_FILES.insert(&tid, &id, 0);
    0
});

// An asynchronous direct I/O (io_uring, aio) was submitted: its bios are queued, and the
// task's next bios are not this file's.
block_tracepoint!("iomap_dio_rw_queued", fn block_events_dio_queued / block_events_dio_queued_raw (ctx) {
    let layout = FILE_LAYOUT.load();
    forget_direct_io(file_id(&layout, ctx_word::<0>(&ctx)));
    0
});

block_tracepoint!("iomap_dio_complete", fn block_events_dio_complete / block_events_dio_complete_raw (ctx) {
    let layout = FILE_LAYOUT.load();
    let file: u64 = read(ctx_word::<0>(&ctx), layout.kiocb_filp);
    forget_direct_io(file_id(&layout, read(file, layout.file_inode)));
    0
});

block_tracepoint!("block_bio_backmerge", fn block_bio_backmerge / block_bio_backmerge_raw (ctx) {
    bio_event(
        BlockAction::BackMerge,
        arg_of(&ctx, tp::BLOCK_BIO_BACKMERGE, 0),
        |_| {},
    );
    0
});

block_tracepoint!("block_bio_frontmerge", fn block_bio_frontmerge / block_bio_frontmerge_raw (ctx) {
    bio_event(
        BlockAction::FrontMerge,
        arg_of(&ctx, tp::BLOCK_BIO_FRONTMERGE, 0),
        |_| {},
    );
    0
});

block_tracepoint!("block_getrq", fn block_getrq / block_getrq_raw (ctx) {
    bio_event(
        BlockAction::GetRequest,
        arg_of(&ctx, tp::BLOCK_GETRQ, 0),
        |_| {},
    );
    0
});

block_tracepoint!("block_split", fn block_split / block_split_raw (ctx) {
    let new_sector = arg_of(&ctx, tp::BLOCK_SPLIT, 1) & 0xffff_ffff;
    bio_event(BlockAction::Split, arg_of(&ctx, tp::BLOCK_SPLIT, 0), |e| {
        e.extra.aux_sector = new_sector
    });
    0
});

block_tracepoint!("block_bio_remap", fn block_bio_remap / block_bio_remap_raw (ctx) {
    let from_dev = arg_of(&ctx, tp::BLOCK_BIO_REMAP, 1) as u32;
    let from_sector = arg_of(&ctx, tp::BLOCK_BIO_REMAP, 2);
    bio_event(
        BlockAction::Remap,
        arg_of(&ctx, tp::BLOCK_BIO_REMAP, 0),
        |e| {
            e.extra.aux_dev = from_dev;
            e.extra.aux_sector = from_sector;
        },
    );
    0
});

block_tracepoint!("block_bio_complete", fn block_bio_complete / block_bio_complete_raw (ctx) {
    bio_event(
        BlockAction::Complete,
        arg_of(&ctx, tp::BLOCK_BIO_COMPLETE, 0),
        |_| {},
    );
    0
});

block_tracepoint!("block_rq_insert", fn block_rq_insert / block_rq_insert_raw (ctx) {
    request_event(
        BlockAction::Insert,
        arg_of(&ctx, tp::BLOCK_RQ_INSERT, 0),
        |_| {},
    );
    0
});

block_tracepoint!("block_rq_issue", fn block_rq_issue / block_rq_issue_raw (ctx) {
    request_event(
        BlockAction::Issue,
        arg_of(&ctx, tp::BLOCK_RQ_ISSUE, 0),
        |_| {},
    );
    0
});

block_tracepoint!("block_rq_merge", fn block_rq_merge / block_rq_merge_raw (ctx) {
    request_event(
        BlockAction::RequestMerge,
        arg_of(&ctx, tp::BLOCK_RQ_MERGE, 0),
        |_| {},
    );
    0
});

block_tracepoint!("block_rq_requeue", fn block_rq_requeue / block_rq_requeue_raw (ctx) {
    request_event(
        BlockAction::Requeue,
        arg_of(&ctx, tp::BLOCK_RQ_REQUEUE, 0),
        |_| {},
    );
    0
});

block_tracepoint!("block_rq_complete", fn block_rq_complete / block_rq_complete_raw (ctx) {
    let status = arg_of(&ctx, tp::BLOCK_RQ_COMPLETE, 1) as u8;
    let nr_bytes = arg_of(&ctx, tp::BLOCK_RQ_COMPLETE, 2) as u32;
    request_event(
        BlockAction::Complete,
        arg_of(&ctx, tp::BLOCK_RQ_COMPLETE, 0),
        |e| {
            e.base.status = status;
            e.base.bytes = nr_bytes;
        },
    );
    0
});

block_tracepoint!("block_rq_remap", fn block_rq_remap / block_rq_remap_raw (ctx) {
    let from_dev = arg_of(&ctx, tp::BLOCK_RQ_REMAP, 1) as u32;
    let from_sector = arg_of(&ctx, tp::BLOCK_RQ_REMAP, 2);
    request_event(
        BlockAction::Remap,
        arg_of(&ctx, tp::BLOCK_RQ_REMAP, 0),
        |e| {
            e.extra.aux_dev = from_dev;
            e.extra.aux_sector = from_sector;
        },
    );
    0
});

block_tracepoint!("block_plug", fn block_plug / block_plug_raw (ctx) {
    queue_event(BlockAction::Plug, arg_of(&ctx, tp::BLOCK_PLUG, 0), 0);
    0
});

block_tracepoint!("block_unplug", fn block_unplug / block_unplug_raw (ctx) {
    let depth = arg_of(&ctx, tp::BLOCK_UNPLUG, 1) as u32;
    let action = if arg_of(&ctx, tp::BLOCK_UNPLUG, 2) & 0xff != 0 {
        BlockAction::UnplugIo
    } else {
        BlockAction::UnplugTimer
    };
    queue_event(action, arg_of(&ctx, tp::BLOCK_UNPLUG, 0), depth);
    0
});

// ---- the file behind a bio ----

/// Forgets this task's direct-I/O file if it is `id`. An asynchronous completion runs in
/// whatever task was interrupted: only the entry of the same file is this I/O's.
#[inline(always)]
fn forget_direct_io(id: [u64; 2]) {
    let tid = bpf_get_current_pid_tgid() as u32;
    // SAFETY: the value is only compared.
    if unsafe { DIO_FILES.get(&tid) }.is_some_and(|known| *known == id) {
        let _ = DIO_FILES.remove(&tid);
    }
}

/// `(inode number, s_dev)` of an inode.
#[inline(always)]
fn file_id(layout: &FileLayout, inode: u64) -> [u64; 2] {
    let sb: u64 = read(inode, layout.inode_sb);
    [
        read(inode, layout.inode_ino),
        u64::from(read::<u32>(sb, layout.sb_dev)),
    ]
}

/// Names the file a queued bio carries in its event (`EVENT_FILE`, `EVENT_BDEV_PAGES`).
#[inline(always)]
fn name_file(event: &mut BlockEventFull, bio: u64) {
    let (kind, ino, dev) = file_of(bio);
    if kind == FILE_INODE {
        event.extra.aux_sector = ino;
        event.extra.aux_dev = dev;
        event.base.flags |= EVENT_FILE;
    } else if kind == FILE_DEVICE_PAGES {
        event.base.flags |= EVENT_BDEV_PAGES;
    }
}

/// The file a queued bio carries, as `(FILE_* kind, inode number, s_dev)`: the inode of the
/// page cache its first page belongs to; a block device's own pages (metadata, journal) as
/// such; anonymous pages (a direct I/O's buffer) the file this task started direct I/O on.
#[inline(always)]
pub(crate) fn file_of(bio: u64) -> (u32, u64, u32) {
    let layout = FILE_LAYOUT.load();
    let vec: u64 = read(bio, layout.bio_io_vec);
    let page: u64 = if vec != 0 {
        read(vec, layout.bio_vec_page)
    } else {
        0
    };
    let mapping: u64 = if page != 0 {
        read(page, layout.page_mapping)
    } else {
        0
    };
    // The low bits of `mapping` mark anonymous and movable pages: no page cache.
    if mapping != 0 && mapping & 3 == 0 {
        let host: u64 = read(mapping, layout.mapping_host);
        if host != 0 {
            let sb: u64 = read(host, layout.inode_sb);
            if read::<u64>(sb, layout.sb_magic) == BDEVFS_MAGIC {
                return (FILE_DEVICE_PAGES, 0, 0);
            }
            let [ino, dev] = file_id(&layout, host);
            return (FILE_INODE, ino, dev as u32);
        }
    }
    let tid = bpf_get_current_pid_tgid() as u32;
    // SAFETY: the value is copied out.
    match unsafe { DIO_FILES.get(&tid) }.copied() {
        Some([ino, dev]) => (FILE_INODE, ino, dev as u32),
        None => (FILE_NONE, 0, 0),
    }
}

// ---- event building ----

#[inline(always)]
fn wanted(action: BlockAction) -> bool {
    BLOCK_EVENTS_CONFIG.load().action_mask & action.mask_bit() != 0
}

/// The cgroup filter (`-c`): bio events run in the task that submits the I/O, so its cgroup
/// (or the ancestor at the filter's depth) says whether the I/O is wanted.
#[inline(always)]
fn submitter_wanted() -> bool {
    let config = BLOCK_EVENTS_CONFIG.load();
    if config.filter_cgroup == 0 {
        return true;
    }
    // SAFETY: a helper that only reads the current task's cgroup.
    let ancestor = unsafe { bpf_get_current_ancestor_cgroup_id(config.cgroup_level as i32) };
    ancestor == config.cgroup_id
}

#[inline(always)]
fn bio_event(action: BlockAction, bio: u64, extra: impl FnOnce(&mut BlockEventFull)) {
    if !wanted(action) || bio == 0 || !submitter_wanted() {
        return;
    }
    let layout = KERNEL_LAYOUT.load();
    let mut event = new_event(action, bio_dev(&layout, bio));
    event.base.request_id = bio;
    event.base.flags = EVENT_FROM_BIO;
    event.base.sector = read(bio, layout.bio_sector);
    event.base.bytes = read(bio, layout.bio_size);
    event.base.op_flags = read(bio, layout.bio_opf);
    // Five kernel reads: only at Q, where userspace learns the bio's owner for the events
    // that follow.
    if action == BlockAction::Queue {
        event.extra.bio_cgroup_id = bio_cgroup(&layout, bio);
        event.base.cgroup_id = current_cgroup(&layout);
    }
    extra(&mut event);
    // Q carries the bio's owner (and file), X and A their origin: the others fit the base.
    let extended = matches!(
        action,
        BlockAction::Queue | BlockAction::Split | BlockAction::Remap
    );
    emit(&mut event, extended);
}

#[inline(always)]
fn request_event(action: BlockAction, rq: u64, extra: impl FnOnce(&mut BlockEventFull)) {
    if !wanted(action) || rq == 0 {
        return;
    }
    let layout = KERNEL_LAYOUT.load();
    let mut event = new_event(action, request_dev(&layout, rq));
    event.base.request_id = rq;
    event.base.sector = read(rq, layout.request_sector);
    event.base.bytes = read(rq, layout.request_data_len);
    event.base.op_flags = read(rq, layout.request_cmd_flags);
    // No bio cgroup here: five kernel reads per event, and the request's owner is known from
    // its first bio's Q (userspace follows requests from their bios).
    extra(&mut event);
    emit(&mut event, action == BlockAction::Remap);
}

#[inline(always)]
fn queue_event(action: BlockAction, queue: u64, depth: u32) {
    if !wanted(action) || queue == 0 {
        return;
    }
    let layout = KERNEL_LAYOUT.load();
    let mut event = new_event(action, queue_dev(&layout, queue));
    event.base.depth = depth;
    emit(&mut event, false);
}

/// An event with the task context filled in and the I/O fields zeroed.
#[inline(always)]
fn new_event(action: BlockAction, dev: u32) -> BlockEventFull {
    let pid_tgid = bpf_get_current_pid_tgid();
    BlockEventFull {
        base: BlockEvent {
            // SAFETY: helpers without arguments that are valid in every tracing program.
            timestamp_ns: unsafe { bpf_ktime_get_ns() },
            sector: 0,
            request_id: 0,
            // SAFETY: as above.
            cgroup_id: unsafe { bpf_get_current_cgroup_id() },
            bytes: 0,
            dev,
            op_flags: 0,
            pid: pid_tgid as u32,
            tgid: (pid_tgid >> 32) as u32,
            // SAFETY: as above.
            cpu: unsafe { bpf_get_smp_processor_id() },
            depth: 0,
            action: action as u8,
            status: 0,
            flags: 0,
            _pad: 0,
        },
        extra: BlockEventExtra {
            aux_sector: 0,
            bio_cgroup_id: 0,
            aux_dev: 0,
            _pad: 0,
            // Filled in by `emit` when the name is due.
            comm: [0; 16],
        },
    }
}

/// Writes the event to the ring buffer if its device is traced, with its extension when
/// `extended` or when its task's name is not the one this CPU sent last; counts it as dropped
/// if the buffer is full.
#[inline(always)]
fn emit(event: &mut BlockEventFull, extended: bool) {
    if !device_traced(event.base.dev) {
        return;
    }
    let last = LAST_TASK.get_ptr_mut(0);
    let name_due = match last {
        // SAFETY: this CPU's own slot; a probe runs to completion on its CPU.
        Some(last) => unsafe { *last != event.base.pid },
        None => true,
    };
    if name_due {
        event.extra.comm = bpf_get_current_comm().unwrap_or([0; 16]);
        event.base.flags |= EVENT_COMM;
    }
    let written = if extended || name_due {
        event.base.flags |= EVENT_EXTENDED;
        output(event.base.cpu, event)
    } else {
        output(event.base.cpu, &event.base)
    };
    if !written {
        count_drop();
        return;
    }
    // Only once the name went out: an event that interrupted this one saw the old entry and
    // sent the name too, and a dropped event leaves the name due.
    if name_due && let Some(last) = last {
        // SAFETY: as above.
        unsafe { *last = event.base.pid };
    }
}

/// Writes `data` to the ring buffer of `cpu` (`ProbeConfig::cpu_rings`); false when it is
/// full. One call per ring, each naming its map: the verifier must see which map each
/// helper call gets.
#[inline(always)]
fn output<T>(cpu: u32, data: &T) -> bool {
    let rings = BLOCK_EVENTS_CONFIG.load().cpu_rings;
    if rings == 0 {
        return output_to(&BLOCK_EVENTS_RING, data);
    }
    match cpu & (rings - 1) {
        0 => output_to(&BLOCK_EVENTS_RING_CPU0, data),
        1 => output_to(&BLOCK_EVENTS_RING_CPU1, data),
        2 => output_to(&BLOCK_EVENTS_RING_CPU2, data),
        3 => output_to(&BLOCK_EVENTS_RING_CPU3, data),
        4 => output_to(&BLOCK_EVENTS_RING_CPU4, data),
        5 => output_to(&BLOCK_EVENTS_RING_CPU5, data),
        6 => output_to(&BLOCK_EVENTS_RING_CPU6, data),
        _ => output_to(&BLOCK_EVENTS_RING_CPU7, data),
    }
}

#[inline(always)]
fn output_to<T>(ring: &RingBuf, data: &T) -> bool {
    ring.output(data, wakeup_flags(ring)).is_ok()
}

/// Whether `dev` is one of the traced disks: compared with the configuration's own list when
/// it holds them (every `-d` of a usual command line), looked up in the map otherwise.
#[inline(always)]
fn device_traced(dev: u32) -> bool {
    let config = BLOCK_EVENTS_CONFIG.load();
    if config.filter_devices == 0 {
        return true;
    }
    let n = config.inline_devices as usize;
    if n == 0 {
        // SAFETY: the value is only tested for presence.
        return unsafe { BLOCK_EVENTS_DEVICES.get(&dev) }.is_some();
    }
    // Unrolled: the verifier sees four bounded compares, not a loop.
    (n > 0 && config.devices[0] == dev)
        || (n > 1 && config.devices[1] == dev)
        || (n > 2 && config.devices[2] == dev)
        || (n > 3 && config.devices[3] == dev)
}

/// Wakes the reader only when enough is waiting (see `ProbeConfig::wakeup_bytes`), looked at
/// on every `WAKEUP_CHECK_EVERY`th event of a CPU: the query reads the reader's position, a
/// cache line the reader writes after every record.
#[inline(always)]
fn wakeup_flags(ring: &RingBuf) -> u64 {
    let threshold = BLOCK_EVENTS_CONFIG.load().wakeup_bytes;
    if threshold == 0 {
        return 0;
    }
    let due = match EMITTED.get_ptr_mut(0) {
        // SAFETY: this CPU's own slot; a probe runs to completion on its CPU.
        Some(emitted) => unsafe {
            *emitted = (*emitted).wrapping_add(1);
            *emitted % WAKEUP_CHECK_EVERY == 0
        },
        None => true,
    };
    if !due {
        u64::from(BPF_RB_NO_WAKEUP)
    } else if ring.query(u64::from(BPF_RB_AVAIL_DATA)) >= u64::from(threshold) {
        u64::from(BPF_RB_FORCE_WAKEUP)
    } else {
        u64::from(BPF_RB_NO_WAKEUP)
    }
}

#[inline(always)]
fn count_drop() {
    if let Some(drops) = BLOCK_EVENTS_DROPS.get_ptr_mut(0) {
        crate::counter::increment(drops);
    }
}

// ---- reading kernel structs at the offsets the layout gives ----

/// Reads a `T` at `base + offset` in kernel memory; zero when the read faults (a NULL
/// pointer along the way), so a missing link shows as 0 rather than losing the event.
#[inline(always)]
pub(crate) fn read<T: Copy + Default>(base: u64, offset: u32) -> T {
    if base == 0 {
        return T::default();
    }
    let address = base.wrapping_add(u64::from(offset)) as *const T;
    // SAFETY: bpf_probe_read_kernel checks the address and fails cleanly on a bad one.
    unsafe { bpf_probe_read_kernel(address) }.unwrap_or_default()
}

/// `disk_devt(disk)`: the kernel's `dev_t` of a whole disk.
#[inline(always)]
fn disk_dev(layout: &KernelLayout, disk: u64) -> u32 {
    let major: i32 = read(disk, layout.gendisk_major);
    let minor: i32 = read(disk, layout.gendisk_first_minor);
    ((major as u32) << 20) | (minor as u32 & 0xf_ffff)
}

/// The disk of a queue: `q->disk`, or before 5.15 `q->backing_dev_info->owner->devt`.
#[inline(always)]
fn queue_dev(layout: &KernelLayout, queue: u64) -> u32 {
    if layout.queue_via_bdi != 0 {
        let bdi: u64 = read(queue, layout.request_queue_bdi);
        let owner: u64 = read(bdi, layout.bdi_owner);
        return read(owner, layout.device_devt);
    }
    disk_dev(layout, read(queue, layout.request_queue_disk))
}

/// The disk of a request: `rq->q->disk`, or `rq->rq_disk` on kernels whose queue has none.
#[inline(always)]
pub(crate) fn request_dev(layout: &KernelLayout, rq: u64) -> u32 {
    if layout.request_disk_direct != 0 {
        return disk_dev(layout, read(rq, layout.request_rq_disk));
    }
    queue_dev(layout, read(rq, layout.request_q))
}

/// The whole disk a bio is on: `bio->bi_bdev->bd_disk` (before 5.12 `bio->bi_disk`).
/// blktrace records every action against the whole disk (partitions appear only in remap
/// records).
#[inline(always)]
fn bio_dev(layout: &KernelLayout, bio: u64) -> u32 {
    if layout.bio_disk_direct != 0 {
        return disk_dev(layout, read(bio, layout.bio_disk));
    }
    let bdev: u64 = read(bio, layout.bio_bdev);
    disk_dev(layout, read(bdev, layout.block_device_disk))
}

/// `bio->bi_blkg->blkcg->css.cgroup->kn->id`: the cgroup that owns the bio.
#[inline(always)]
fn bio_cgroup(layout: &KernelLayout, bio: u64) -> u64 {
    if layout.has_blkcg == 0 {
        return 0;
    }
    let blkg: u64 = read(bio, layout.bio_blkg);
    let blkcg: u64 = read(blkg, layout.blkg_blkcg);
    let cgroup: u64 = read(blkcg, layout.blkcg_css_cgroup);
    let id = cgroup_id_of(layout, cgroup);
    if layout.blkio_v1 != 0 && id != 0 {
        id | BLKIO_CGROUP_TAG
    } else {
        id
    }
}

/// `cgroup->kn->id`: a cgroup's id in its hierarchy.
#[inline(always)]
fn cgroup_id_of(layout: &KernelLayout, cgroup: u64) -> u64 {
    let kn: u64 = read(cgroup, layout.cgroup_kn);
    read(kn, layout.kernfs_node_id)
}

/// The cgroup the current task's I/O is charged to: its cgroup v2 id, unless the block
/// controller is on cgroup v1 and the task sits in the v2 root (v1-only hosts, and hybrid
/// hosts whose runtimes leave the unified hierarchy alone): then its blkio cgroup, tagged,
/// when that is not the root either. The reads happen only for tasks in the v2 root.
#[inline(always)]
pub(crate) fn current_cgroup(layout: &KernelLayout) -> u64 {
    // SAFETY: a helper that only reads the current task's cgroup.
    let id = unsafe { bpf_get_current_cgroup_id() };
    if layout.blkio_v1 == 0 || id > ROOT_CGROUP_ID {
        return id;
    }
    // SAFETY: a helper without arguments; the pointer is only read through probe reads.
    let task = unsafe { bpf_get_current_task() };
    let css_set: u64 = read(task, layout.task_cgroups);
    let css: u64 = read(css_set, layout.css_set_io);
    // The blkio root (most tasks on most hosts): three reads, not six.
    if read::<u64>(css, layout.css_parent) == 0 {
        return id;
    }
    let blkio = cgroup_id_of(layout, read(css, layout.css_cgroup));
    if blkio > ROOT_CGROUP_ID {
        blkio | BLKIO_CGROUP_TAG
    } else {
        id
    }
}
