//! task_io probes (biotop, iostat --cgroups): who queued each bio (taken in the submitting task), carried to its request
//! at issue, and summed per (process, cgroup, disk, direction) at completion in a per-CPU
//! table. Nothing is streamed: userspace reads the table once per interval.

use aya_ebpf::{
    Global,
    helpers::{
        bpf_get_current_ancestor_cgroup_id, bpf_get_current_comm, bpf_get_current_pid_tgid,
        bpf_ktime_get_ns,
    },
    macros::map,
    maps::{LruHashMap, PerCpuArray, PerCpuHashMap},
};
use blkscope_common::task_io::{
    FILE_NONE, MAX_TASK_IO_IN_FLIGHT, MAX_TASK_IO_ROWS, TaskIoConfig, TaskIoCounts, TaskIoKey,
    TaskIoStart, Who,
};

use blkscope_common::tracepoint_args::tracepoint as tp;

use crate::block_events::{
    KERNEL_LAYOUT, bio_based_dev, current_cgroup, file_of, read, request_dev,
};
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
        None => Who::default(),
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
    let key = key_of(&start.who, request_dev(&layout, rq), write);
    // SAFETY: as above.
    let latency_ns = unsafe { bpf_ktime_get_ns() }.saturating_sub(start.start_ns);
    let bytes = u64::from(read::<u32>(rq, layout.request_data_len));
    add(&key, bytes, latency_ns);
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
    })
}
