//! block_latency probes (biolatency, the exporter): time each request from issue (or, with -Q, insertion) to completion and
//! count it in a per-CPU log2 histogram; or (the exporter) time its queue stage (insertion to
//! issue) and its device stage (issue to completion) into separate histograms. Nothing is
//! streamed: userspace reads the histograms.

use aya_ebpf::{
    Global,
    bindings::BPF_NOEXIST,
    helpers::{bpf_get_current_ancestor_cgroup_id, bpf_ktime_get_ns},
    macros::map,
    maps::{LruHashMap, PerCpuArray, PerCpuHashMap},
};
use blkscope_common::block_latency::{
    FINE_SLOTS, FineHistogram, Histogram, HistogramKey, LATENCY_SLOTS, LatencyConfig,
    MAX_HISTOGRAMS, MAX_IN_FLIGHT, STAGE_DEVICE, STAGE_QUEUE, TimedRequest, fine_slot, log2_slot,
};

use blkscope_common::task_io::size_class;
use blkscope_common::tracepoint_args::tracepoint as tp;

use crate::block_events::{KERNEL_LAYOUT, bio_based_dev, current_cgroup, read, request_dev};
use crate::tracepoint::arg_of;

#[unsafe(no_mangle)]
static BLOCK_LATENCY_CONFIG: Global<LatencyConfig> = Global::new(LatencyConfig::DEFAULT);

/// Start time (and owner) of each request being timed, by request address.
#[map]
static BLOCK_LATENCY_START: LruHashMap<u64, TimedRequest> =
    LruHashMap::with_max_entries(MAX_IN_FLIGHT, 0);

/// The cgroup of the task that queued each bio, by bio address (for --containers and -c):
/// requests are often issued and always completed in other contexts.
#[map]
static BLOCK_LATENCY_BIO_OWNER: LruHashMap<u64, u64> =
    LruHashMap::with_max_entries(MAX_IN_FLIGHT, 0);

block_tracepoint!("block_bio_queue", fn block_latency_bio_queue / block_latency_bio_queue_raw (ctx) {
    let config = BLOCK_LATENCY_CONFIG.load();
    if config.bio_disks != 0 {
        start_bio_timing(arg_of(&ctx, tp::BLOCK_BIO_QUEUE, 0));
    }
    if !config.tracks_owner() {
        return 0;
    }
    if config.filter_cgroup != 0 {
        // SAFETY: reads the current task's cgroup only.
        let ancestor = unsafe { bpf_get_current_ancestor_cgroup_id(config.cgroup_level as i32) };
        if ancestor != config.cgroup_id {
            // A bio address is reused: forget whoever queued the last bio that had it.
            let _ = BLOCK_LATENCY_BIO_OWNER.remove(&arg_of(&ctx, tp::BLOCK_BIO_QUEUE, 0));
            return 0;
        }
    }
    let owner = current_cgroup(&KERNEL_LAYOUT.load());
    let _ = BLOCK_LATENCY_BIO_OWNER.insert(&arg_of(&ctx, tp::BLOCK_BIO_QUEUE, 0), &owner, 0);
    0
});

#[map]
static BLOCK_LATENCY_HISTOGRAMS: PerCpuHashMap<HistogramKey, Histogram> =
    PerCpuHashMap::with_max_entries(MAX_HISTOGRAMS, 0);

/// Log-linear histograms in nanoseconds, only with `--percentiles`.
#[map]
static BLOCK_LATENCY_FINE: PerCpuHashMap<HistogramKey, FineHistogram> =
    PerCpuHashMap::with_max_entries(MAX_HISTOGRAMS, 0);

/// Zeroes to create fine histograms from: 3 KiB do not fit on the BPF stack.
static FINE_ZERO: FineHistogram = FineHistogram::ZERO;

/// Completions that could not be counted (the histogram map was full), per CPU.
#[map]
static BLOCK_LATENCY_DROPS: PerCpuArray<u64> = PerCpuArray::with_max_entries(1, 0);

block_tracepoint!("block_rq_insert", fn block_latency_rq_insert / block_latency_rq_insert_raw (ctx) {
    let config = BLOCK_LATENCY_CONFIG.load();
    if config.queued != 0 || config.split_stages != 0 {
        start_timing(arg_of(&ctx, tp::BLOCK_RQ_INSERT, 0), 0);
    }
    0
});

block_tracepoint!("block_rq_issue", fn block_latency_rq_issue / block_latency_rq_issue_raw (ctx) {
    let rq = arg_of(&ctx, tp::BLOCK_RQ_ISSUE, 0);
    if BLOCK_LATENCY_CONFIG.load().split_stages != 0 {
        // The queue stage ends (for requests that were inserted) and the device stage starts:
        // in place, keeping the owner (no second map update, no second owner lookup).
        match BLOCK_LATENCY_START.get_ptr_mut(&rq) {
            Some(timed) => {
                // SAFETY: a valid map value; copied out, then its start moved to now.
                let queued = unsafe { *timed };
                let now = count_request(rq, &queued, STAGE_QUEUE);
                // SAFETY: as above; the entry is this request's alone.
                unsafe { (*timed).start_ns = now };
            }
            None => start_timing(rq, 0),
        }
        return 0;
    }
    // With -Q the clock started at insertion; requests issued directly were never inserted.
    let flags = if BLOCK_LATENCY_CONFIG.load().queued != 0 {
        u64::from(BPF_NOEXIST)
    } else {
        0
    };
    start_timing(rq, flags);
    0
});

block_tracepoint!("block_rq_complete", fn block_latency_rq_complete / block_latency_rq_complete_raw (ctx) {
    let stage = if BLOCK_LATENCY_CONFIG.load().split_stages != 0 {
        STAGE_DEVICE
    } else {
        0
    };
    count_stage(arg_of(&ctx, tp::BLOCK_RQ_COMPLETE, 0), stage);
    0
});

// A bio-based disk's bio completes as itself (the kernel traces the completion of every bio
// whose queueing it traced, except those completed as part of a request).
block_tracepoint!("block_bio_complete", fn block_latency_bio_complete / block_latency_bio_complete_raw (ctx) {
    let bio = arg_of(&ctx, tp::BLOCK_BIO_COMPLETE, 0);
    // SAFETY: the value is copied out before the entry is removed.
    let Some(timed) = (unsafe { BLOCK_LATENCY_START.get(&bio) }).copied() else {
        return 0;
    };
    let _ = BLOCK_LATENCY_START.remove(&bio);
    let config = BLOCK_LATENCY_CONFIG.load();
    // No queue stage: a bio-based disk is handed the bio when it is queued.
    let stage = if config.split_stages != 0 { STAGE_DEVICE } else { 0 };
    count(&timed, stage, timed.dev, timed.op_flags, timed.bytes);
    0
});

/// Starts the clock of a bio queued on one of `BIO_DISKS`, with what its completion needs.
#[inline(always)]
fn start_bio_timing(bio: u64) {
    let config = BLOCK_LATENCY_CONFIG.load();
    let layout = KERNEL_LAYOUT.load();
    let Some(dev) = bio_based_dev(&layout, bio) else {
        return;
    };
    if config.filter_dev != 0 && dev != config.dev {
        return;
    }
    let mut cgroup_id = 0;
    if config.tracks_owner() {
        if config.filter_cgroup != 0 {
            // SAFETY: reads the current task's cgroup only.
            let level = config.cgroup_level as i32;
            if unsafe { bpf_get_current_ancestor_cgroup_id(level) } != config.cgroup_id {
                return;
            }
        }
        cgroup_id = current_cgroup(&layout);
    }
    let timed = TimedRequest {
        // SAFETY: a helper without arguments.
        start_ns: unsafe { bpf_ktime_get_ns() },
        cgroup_id,
        dev,
        op_flags: read(bio, layout.bio_opf),
        bytes: read(bio, layout.bio_size),
        _pad: 0,
    };
    let _ = BLOCK_LATENCY_START.insert(&bio, &timed, 0);
}

#[inline(always)]
fn start_timing(rq: u64, flags: u64) {
    if rq == 0 || !device_wanted(rq) {
        return;
    }
    let config = BLOCK_LATENCY_CONFIG.load();
    let mut cgroup_id = 0;
    if config.tracks_owner() {
        let layout = KERNEL_LAYOUT.load();
        let bio: u64 = read(rq, layout.request_bio);
        // SAFETY: the value is copied out.
        match unsafe { BLOCK_LATENCY_BIO_OWNER.get(&bio) } {
            Some(owner) => cgroup_id = *owner,
            // Queued outside the -c cgroup (or before the probes): not ours to time.
            None if config.filter_cgroup != 0 => return,
            None => {}
        }
    }
    // SAFETY: a helper without arguments.
    let start_ns = unsafe { bpf_ktime_get_ns() };
    let timed = TimedRequest {
        start_ns,
        cgroup_id,
        ..TimedRequest::default()
    };
    // A full LRU map evicts its oldest entry: it cannot fail for lack of room.
    let _ = BLOCK_LATENCY_START.insert(&rq, &timed, flags);
}

/// Counts the time since the request's clock started into its `stage` histogram and stops the
/// clock.
#[inline(always)]
fn count_stage(rq: u64, stage: u32) {
    // SAFETY: the value is copied out before the entry is removed.
    let Some(timed) = (unsafe { BLOCK_LATENCY_START.get(&rq) }).copied() else {
        return; // issued before the probes were attached
    };
    let _ = BLOCK_LATENCY_START.remove(&rq);
    count_request(rq, &timed, stage);
}

/// Counts a request's time into its `stage` histogram, reading from it only what the
/// histograms are keyed by; returns now.
#[inline(always)]
fn count_request(rq: u64, timed: &TimedRequest, stage: u32) -> u64 {
    let config = BLOCK_LATENCY_CONFIG.load();
    let layout = KERNEL_LAYOUT.load();
    let dev = if config.per_disk != 0 {
        request_dev(&layout, rq)
    } else {
        0
    };
    let sized = config.per_direction != 0 && stage != STAGE_QUEUE;
    let cmd_flags: u32 = if config.per_flag != 0 || sized {
        read(rq, layout.request_cmd_flags)
    } else {
        0
    };
    let bytes: u32 = if sized || config.per_size != 0 {
        read(rq, layout.request_data_len)
    } else {
        0
    };
    count(timed, stage, dev, cmd_flags, bytes)
}

/// Counts the time since `timed` started into the `stage` histogram of an I/O on `dev` with
/// these flags and size; returns now.
#[inline(always)]
fn count(timed: &TimedRequest, stage: u32, dev: u32, cmd_flags: u32, bytes: u32) -> u64 {
    let config = BLOCK_LATENCY_CONFIG.load();
    // SAFETY: a helper without arguments.
    let now = unsafe { bpf_ktime_get_ns() };
    let latency_ns = now.saturating_sub(timed.start_ns);
    let units = latency_ns / u64::from(config.unit_ns.max(1));
    let size_slot = if config.per_size != 0 {
        size_class(u64::from(bytes)) as u32
    } else {
        0
    };
    // The exporter's counts: direction and bytes of each completed I/O.
    let (write, bytes) = if config.per_direction != 0 && stage != STAGE_QUEUE {
        let write = u32::from(cmd_flags & config.op_mask == config.op_write);
        (write, u64::from(bytes))
    } else {
        (0, 0)
    };
    let key = HistogramKey {
        dev: if config.per_disk != 0 { dev } else { 0 },
        cmd_flags: if config.per_flag != 0 { cmd_flags } else { 0 },
        cgroup_id: if config.per_cgroup != 0 {
            timed.cgroup_id
        } else {
            0
        },
        stage,
        write,
        size_slot,
        _pad: 0,
    };
    add_to_histogram(&key, log2_slot(units, LATENCY_SLOTS), latency_ns, bytes);
    if config.fine != 0 {
        add_to_fine_histogram(&key, latency_ns);
    }
    now
}

#[inline(always)]
fn add_to_fine_histogram(key: &HistogramKey, latency_ns: u64) {
    let mut histogram = BLOCK_LATENCY_FINE.get_ptr_mut(key);
    if histogram.is_none() {
        if BLOCK_LATENCY_FINE
            .insert(key, &FINE_ZERO, u64::from(BPF_NOEXIST))
            .is_err()
            && BLOCK_LATENCY_FINE.get_ptr_mut(key).is_none()
        {
            count_drop();
            return;
        }
        histogram = BLOCK_LATENCY_FINE.get_ptr_mut(key);
    }
    let Some(histogram) = histogram else { return };
    // SAFETY: a per-CPU value: no other program writes this CPU's copy concurrently.
    unsafe {
        if let Some(count) = (*histogram)
            .slots
            .get_mut(verifier_bounded(fine_slot(latency_ns), FINE_SLOTS))
        {
            *count += 1;
        }
        if latency_ns > (*histogram).max_ns {
            (*histogram).max_ns = latency_ns;
        }
    }
}

#[inline(always)]
fn count_drop() {
    if let Some(drops) = BLOCK_LATENCY_DROPS.get_ptr_mut(0) {
        crate::counter::increment(drops);
    }
}

#[inline(always)]
fn add_to_histogram(key: &HistogramKey, slot: usize, latency_ns: u64, bytes: u64) {
    if let Some(histogram) = BLOCK_LATENCY_HISTOGRAMS.get_ptr_mut(key) {
        // SAFETY: a per-CPU value: no other program writes this CPU's copy concurrently.
        unsafe {
            if let Some(count) = (*histogram).slots.get_mut(slot) {
                *count += 1;
            }
            (*histogram).sum_ns += latency_ns;
            (*histogram).sum_bytes += bytes;
        }
        return;
    }
    let mut first = Histogram::ZERO;
    if let Some(count) = first.slots.get_mut(slot) {
        *count = 1;
    }
    first.sum_ns = latency_ns;
    first.sum_bytes = bytes;
    if BLOCK_LATENCY_HISTOGRAMS.insert(key, &first, 0).is_err() {
        count_drop();
    }
}

/// `slot` masked to a histogram of `slots` slots (a power of two) in a way LLVM cannot drop.
/// LLVM proves the slot in bounds from the bit arithmetic and removes masks and checks, but
/// the verifier cannot follow that arithmetic (ctlz becomes a popcount sequence) and would
/// reject the indexing.
#[inline(always)]
pub(crate) fn verifier_bounded(slot: usize, slots: usize) -> usize {
    // SAFETY: reading a local through a valid pointer.
    let opaque = unsafe { core::ptr::read_volatile(&slot) };
    opaque & (slots - 1)
}

fn device_wanted(rq: u64) -> bool {
    let config = BLOCK_LATENCY_CONFIG.load();
    if config.filter_dev == 0 {
        return true;
    }
    let layout = KERNEL_LAYOUT.load();
    request_dev(&layout, rq) == config.dev
}
