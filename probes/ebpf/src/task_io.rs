//! task_io probes (biotop, iostat --cgroups, bitesize, biopattern): who queued each bio (taken
//! in the submitting task), carried to its request at issue, and summed per (process, cgroup,
//! disk, direction) at completion in a per-CPU table; on request also the sizes of the I/Os
//! (`TASK_IO_SIZES`) and how sequential they are (`TASK_IO_PATTERNS`). Nothing is streamed:
//! userspace reads the tables once per interval.

use aya_ebpf::{
    Global,
    bindings::BPF_NOEXIST,
    helpers::{
        bpf_get_current_ancestor_cgroup_id, bpf_get_current_comm, bpf_get_current_pid_tgid,
        bpf_ktime_get_ns,
    },
    macros::map,
    maps::{HashMap, LruHashMap, PerCpuArray, PerCpuHashMap, StackTrace},
    programs::{BtfTracePointContext, tracing::StackIdContext as _},
};
use blkscope_common::block_latency::log2_slot;
use blkscope_common::task_io::{
    AccessPattern, FILE_NONE, Log2Histogram, MAX_STACKS, MAX_TASK_IO_IN_FLIGHT, MAX_TASK_IO_ROWS,
    PATTERN_BY_CGROUP, PATTERN_BY_PROCESS, SIZE_SLOTS, StackKey, TaskIoConfig, TaskIoCounts,
    TaskIoKey, TaskIoStart, Who, size_class,
};

use blkscope_common::tracepoint_args::tracepoint as tp;

use crate::block_events::{
    KERNEL_LAYOUT, bio_based_dev, current_cgroup, file_of, read, request_dev,
};
use crate::block_latency::verifier_bounded;
use crate::tracepoint::arg_of;

#[unsafe(no_mangle)]
static TASK_IO_CONFIG: Global<TaskIoConfig> = Global::new(TaskIoConfig::DEFAULT);

/// Who queued each bio, by bio address.
#[map]
static TASK_IO_BIO_WHO: LruHashMap<u64, Who> =
    LruHashMap::with_max_entries(MAX_TASK_IO_IN_FLIGHT, 0);

/// Requests issued and not yet completed, by request address.
#[map]
static TASK_IO_START: LruHashMap<u64, TaskIoStart> =
    LruHashMap::with_max_entries(MAX_TASK_IO_IN_FLIGHT, 0);

#[map]
static TASK_IO_COUNTS: PerCpuHashMap<TaskIoKey, TaskIoCounts> =
    PerCpuHashMap::with_max_entries(MAX_TASK_IO_ROWS, 0);

/// bitesize: each row's I/O sizes, in power-of-two KiB slots.
#[map]
static TASK_IO_SIZES: PerCpuHashMap<TaskIoKey, Log2Histogram> =
    PerCpuHashMap::with_max_entries(MAX_TASK_IO_ROWS, 0);

/// biopattern: where each disk's (process's, cgroup's) last I/O ended, and its sequential and
/// random I/Os. Shared by all CPUs: an I/O is sequential to the one before it on any CPU.
#[map]
static TASK_IO_PATTERNS: HashMap<TaskIoKey, AccessPattern> =
    HashMap::with_max_entries(MAX_TASK_IO_ROWS, 0);

/// biostacks: the kernel stacks that queued bios.
#[map]
static TASK_IO_STACK_TRACES: StackTrace = StackTrace::with_max_entries(MAX_STACKS, 0);

/// biostacks: each (process, disk, stack)'s latencies, power-of-two slots.
#[map]
static TASK_IO_STACKS: PerCpuHashMap<StackKey, Log2Histogram> =
    PerCpuHashMap::with_max_entries(MAX_TASK_IO_ROWS, 0);

/// Completions that found no room in `TASK_IO_COUNTS`, per CPU.
#[map]
static TASK_IO_DROPS: PerCpuArray<u64> = PerCpuArray::with_max_entries(1, 0);

block_tracepoint!("block_bio_queue", fn task_io_bio_queue / task_io_bio_queue_raw (ctx) {
    let bio = arg_of(&ctx, tp::BLOCK_BIO_QUEUE, 0);
    match current_who() {
        Some(mut who) => {
            if TASK_IO_CONFIG.load().files != 0 {
                let (kind, ino, dev) = file_of(bio);
                who.file_kind = kind;
                who.file_ino = ino;
                who.file_dev = dev;
            }
            if TASK_IO_CONFIG.load().stacks != 0 {
                // The raw tracepoint's context is the same pointer to the same kind of
                // arguments; the helper only needs it to be the program's context.
                let context = BtfTracePointContext::new(ctx.0);
                who.stack_id = context
                    .get_stackid(&TASK_IO_STACK_TRACES, 0)
                    .unwrap_or(-1);
            }
            if TASK_IO_CONFIG.load().bio_disks != 0 && start_bio(bio, &who) {
                return 0;
            }
            let _ = TASK_IO_BIO_WHO.insert(&bio, &who, 0);
        }
        // Filtered out: forget whoever queued an earlier bio at this address.
        None => {
            let _ = TASK_IO_BIO_WHO.remove(&bio);
        }
    }
    0
});

block_tracepoint!("block_rq_issue", fn task_io_rq_issue / task_io_rq_issue_raw (ctx) {
    let rq = arg_of(&ctx, tp::BLOCK_RQ_ISSUE, 0);
    let config = TASK_IO_CONFIG.load();
    let layout = KERNEL_LAYOUT.load();
    if config.filter_dev != 0 && request_dev(&layout, rq) != config.dev {
        return 0;
    }
    let bio: u64 = read(rq, layout.request_bio);
    // SAFETY: the value is copied out.
    let who = match unsafe { TASK_IO_BIO_WHO.get(&bio) } {
        Some(who) => *who,
        // Queued before the probes (or filtered out): unknown owner, unless nothing filters.
        None if config.filter_pid != 0 || config.filter_cgroup != 0 => return 0,
        // No stack either: 0 would be a stack id.
        None => Who {
            stack_id: -1,
            ..Who::default()
        },
    };
    // SAFETY: a helper without arguments.
    let start_ns = unsafe { bpf_ktime_get_ns() };
    let start = TaskIoStart {
        start_ns,
        who,
        ..TaskIoStart::default()
    };
    let _ = TASK_IO_START.insert(&rq, &start, 0);
    0
});

block_tracepoint!("block_rq_complete", fn task_io_rq_complete / task_io_rq_complete_raw (ctx) {
    let rq = arg_of(&ctx, tp::BLOCK_RQ_COMPLETE, 0);
    // SAFETY: the value is copied out before the entry is removed.
    let Some(start) = (unsafe { TASK_IO_START.get(&rq) }).copied() else {
        return 0;
    };
    let _ = TASK_IO_START.remove(&rq);
    let config = TASK_IO_CONFIG.load();
    let layout = KERNEL_LAYOUT.load();
    let cmd_flags: u32 = read(rq, layout.request_cmd_flags);
    let write = u32::from(cmd_flags & config.op_mask == config.op_write);
    let dev = request_dev(&layout, rq);
    let key = key_of(&start.who, dev, write);
    // SAFETY: as above.
    let latency_ns = unsafe { bpf_ktime_get_ns() }.saturating_sub(start.start_ns);
    let bytes = u64::from(read::<u32>(rq, layout.request_data_len));
    add(&key, bytes, latency_ns);
    if config.sizes != 0 {
        add_size(&key, bytes);
    }
    if config.patterns != 0 {
        add_pattern(&start.who, dev, read(rq, layout.request_sector), bytes);
    }
    if config.stacks != 0 {
        add_stack(&start.who, dev, latency_ns);
    }
    0
});

// A bio-based disk's bio completes as itself: counted like a request.
block_tracepoint!("block_bio_complete", fn task_io_bio_complete / task_io_bio_complete_raw (ctx) {
    let bio = arg_of(&ctx, tp::BLOCK_BIO_COMPLETE, 0);
    // SAFETY: the value is copied out before the entry is removed.
    let Some(start) = (unsafe { TASK_IO_START.get(&bio) }).copied() else {
        return 0;
    };
    let _ = TASK_IO_START.remove(&bio);
    let key = key_of(&start.who, start.dev, start.write);
    // SAFETY: a helper without arguments.
    let latency_ns = unsafe { bpf_ktime_get_ns() }.saturating_sub(start.start_ns);
    add(&key, start.bytes, latency_ns);
    let config = TASK_IO_CONFIG.load();
    if config.sizes != 0 {
        add_size(&key, start.bytes);
    }
    if config.patterns != 0 {
        add_pattern(&start.who, start.dev, start.sector, start.bytes);
    }
    if config.stacks != 0 {
        add_stack(&start.who, start.dev, latency_ns);
    }
    0
});

/// Starts the clock of a bio queued on one of `BIO_DISKS` by `who`; false when the bio is not
/// on one (or not on the disk filtered for).
#[inline(always)]
fn start_bio(bio: u64, who: &Who) -> bool {
    let config = TASK_IO_CONFIG.load();
    let layout = KERNEL_LAYOUT.load();
    let Some(dev) = bio_based_dev(&layout, bio) else {
        return false;
    };
    if config.filter_dev != 0 && dev != config.dev {
        return false;
    }
    let op_flags: u32 = read(bio, layout.bio_opf);
    let start = TaskIoStart {
        // SAFETY: a helper without arguments.
        start_ns: unsafe { bpf_ktime_get_ns() },
        who: *who,
        dev,
        write: u32::from(op_flags & config.op_mask == config.op_write),
        bytes: u64::from(read::<u32>(bio, layout.bio_size)),
        sector: read(bio, layout.bio_sector),
    };
    let _ = TASK_IO_START.insert(&bio, &start, 0);
    true
}

/// The table row of an I/O `who` queued, on disk `dev`, a write or not.
#[inline(always)]
fn key_of(who: &Who, dev: u32, write: u32) -> TaskIoKey {
    TaskIoKey {
        tgid: who.tgid,
        dev,
        write,
        file_kind: who.file_kind,
        cgroup_id: who.cgroup_id,
        comm: who.comm,
        file_ino: who.file_ino,
        file_dev: who.file_dev,
        _pad: 0,
    }
}

#[inline(always)]
fn add(key: &TaskIoKey, bytes: u64, latency_ns: u64) {
    if let Some(counts) = TASK_IO_COUNTS.get_ptr_mut(key) {
        // SAFETY: a per-CPU value: no other program writes this CPU's copy concurrently.
        unsafe {
            (*counts).ios += 1;
            (*counts).bytes += bytes;
            (*counts).latency_ns += latency_ns;
        }
        return;
    }
    let first = TaskIoCounts {
        ios: 1,
        bytes,
        latency_ns,
    };
    if TASK_IO_COUNTS.insert(key, &first, 0).is_err()
        && let Some(drops) = TASK_IO_DROPS.get_ptr_mut(0)
    {
        crate::counter::increment(drops);
    }
}

/// Zeroes to create size histograms from: 256 bytes are too many for the BPF stack here.
static LOG2_ZERO: Log2Histogram = Log2Histogram::ZERO;

/// Counts an I/O of `bytes` in its row's size histogram.
#[inline(always)]
fn add_size(key: &TaskIoKey, bytes: u64) {
    let mut sizes = TASK_IO_SIZES.get_ptr_mut(key);
    if sizes.is_none() {
        // Another program may have created it meanwhile: then it is there to count in.
        let _ = TASK_IO_SIZES.insert(key, &LOG2_ZERO, u64::from(BPF_NOEXIST));
        sizes = TASK_IO_SIZES.get_ptr_mut(key);
    }
    let Some(sizes) = sizes else {
        if let Some(drops) = TASK_IO_DROPS.get_ptr_mut(0) {
            crate::counter::increment(drops);
        }
        return;
    };
    let slot = verifier_bounded(size_class(bytes), SIZE_SLOTS);
    // SAFETY: this CPU's copy of a map value, valid for the program's run.
    if let Some(count) = unsafe { (*sizes).slots.get_mut(slot) } {
        crate::counter::increment(count);
    }
}

/// Counts a completed I/O's latency under the stack that queued it.
#[inline(always)]
fn add_stack(who: &Who, dev: u32, latency_ns: u64) {
    let key = StackKey {
        tgid: who.tgid,
        dev,
        stack_id: who.stack_id,
        cgroup_id: who.cgroup_id,
        comm: who.comm,
    };
    let mut histogram = TASK_IO_STACKS.get_ptr_mut(&key);
    if histogram.is_none() {
        let _ = TASK_IO_STACKS.insert(&key, &LOG2_ZERO, u64::from(BPF_NOEXIST));
        histogram = TASK_IO_STACKS.get_ptr_mut(&key);
    }
    let Some(histogram) = histogram else {
        if let Some(drops) = TASK_IO_DROPS.get_ptr_mut(0) {
            crate::counter::increment(drops);
        }
        return;
    };
    let units = latency_ns / u64::from(TASK_IO_CONFIG.load().stack_unit_ns.max(1));
    let slot = verifier_bounded(log2_slot(units, SIZE_SLOTS), SIZE_SLOTS);
    // SAFETY: this CPU's copy of a map value, valid for the program's run.
    if let Some(count) = unsafe { (*histogram).slots.get_mut(slot) } {
        crate::counter::increment(count);
    }
}

/// Counts a completed I/O as sequential (it starts where the last one of its disk, and process
/// or cgroup when asked, ended) or random, as libbpf-tools' biopattern does.
#[inline(always)]
fn add_pattern(who: &Who, dev: u32, sector: u64, bytes: u64) {
    let by = TASK_IO_CONFIG.load().patterns;
    let per_process = by == PATTERN_BY_PROCESS;
    let key = TaskIoKey {
        tgid: if per_process { who.tgid } else { 0 },
        dev,
        comm: if per_process { who.comm } else { [0; 16] },
        cgroup_id: if by == PATTERN_BY_CGROUP {
            who.cgroup_id
        } else {
            0
        },
        ..TaskIoKey::default()
    };
    let end = sector.wrapping_add(bytes / 512);
    let Some(pattern) = TASK_IO_PATTERNS.get_ptr_mut(&key) else {
        let first = AccessPattern {
            last_sector: end,
            ..AccessPattern::default()
        };
        if TASK_IO_PATTERNS.insert(&key, &first, 0).is_err()
            && let Some(drops) = TASK_IO_DROPS.get_ptr_mut(0)
        {
            crate::counter::increment(drops);
        }
        return;
    };
    // SAFETY: a map value valid for the program's run; its counters are added to atomically
    // (other CPUs complete I/Os of the same disk), the position is a plain store as in
    // libbpf-tools.
    unsafe {
        let last = (*pattern).last_sector;
        if last != 0 {
            if last == sector {
                crate::counter::increment(&mut (*pattern).sequential);
            } else {
                crate::counter::increment(&mut (*pattern).random);
            }
            crate::counter::add(&mut (*pattern).bytes, bytes);
        }
        (*pattern).last_sector = end;
    }
}

/// The current task as an owner, or `None` when the pid or cgroup filter excludes it.
#[inline(always)]
fn current_who() -> Option<Who> {
    let config = TASK_IO_CONFIG.load();
    let tgid = (bpf_get_current_pid_tgid() >> 32) as u32;
    if config.filter_pid != 0 && tgid != config.tgid {
        return None;
    }
    if config.filter_cgroup != 0 {
        // SAFETY: reads the current task's cgroup only.
        let ancestor = unsafe { bpf_get_current_ancestor_cgroup_id(config.cgroup_level as i32) };
        if ancestor != config.cgroup_id {
            return None;
        }
    }
    Some(Who {
        tgid,
        file_kind: FILE_NONE,
        cgroup_id: current_cgroup(&KERNEL_LAYOUT.load()),
        comm: bpf_get_current_comm().unwrap_or([0; 16]),
        file_ino: 0,
        file_dev: 0,
        _pad: 0,
        stack_id: -1,
    })
}
