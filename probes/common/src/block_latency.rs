//! block_latency (biolatency, the exporter): I/O latency histograms kept in the kernel (per CPU), read once per interval.

/// Number of power-of-two slots: slot `i` counts latencies in `[2^i, 2^(i+1))` units (slot 0
/// also holds 0), so 32 slots reach past an hour in microseconds.
pub const LATENCY_SLOTS: usize = 32;
/// Distinct histogram keys (disks x flag sets x cgroups) the kernel keeps for the views.
pub const MAX_HISTOGRAMS: u32 = 1024;
/// The exporter's histogram table: cgroups x disks x two stages (set at load time).
pub const EXPORTER_HISTOGRAMS: u32 = 4096;
/// Requests being timed at once; least recently used entries are reclaimed when it is full
/// (requests that never complete, e.g. on a removed device).
pub const MAX_IN_FLIGHT: u32 = 16384;

/// Which histogram a completion goes to. Fields the user did not ask to split by are 0.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct HistogramKey {
    /// Whole disk, kernel `dev_t` encoding (`-D`).
    pub dev: u32,
    /// The request's `cmd_flags` (`-F`).
    pub cmd_flags: u32,
    /// cgroup v2 id of the task that queued the request's first bio (`--containers`).
    pub cgroup_id: u64,
    /// With `LatencyConfig::split_stages`: `STAGE_QUEUE` or `STAGE_DEVICE`; else 0.
    pub stage: u32,
    /// With `LatencyConfig::per_direction`: 1 for writes (device stage only); else 0.
    pub write: u32,
    /// With `LatencyConfig::per_size`: the I/O's size class, the power-of-two KiB slot of its
    /// bytes (bitesize's slots: `log2_slot(bytes / 1024)`); else 0.
    pub size_slot: u32,
    pub _pad: u32,
}

/// The queue stage: from insertion into the queue to issue to the driver.
pub const STAGE_QUEUE: u32 = 1;
/// The device stage: from issue to completion.
pub const STAGE_DEVICE: u32 = 2;

/// Sub-buckets per power of two in the fine histogram (`--percentiles`): 2^3, 12.5% wide.
pub const FINE_SUB_BITS: u32 = 3;
/// Fine slots: values below 8 ns one each, then 8 per power of two, to 2^64 ns (a power of
/// two, so that a mask proves the index in bounds to the verifier).
pub const FINE_SLOTS: usize = 512;

/// Latencies in nanoseconds, log-linear (HDR-style) buckets, for percentiles.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FineHistogram {
    pub slots: [u64; FINE_SLOTS],
    /// The largest latency seen, exactly.
    pub max_ns: u64,
}

impl FineHistogram {
    pub const ZERO: FineHistogram = FineHistogram {
        slots: [0; FINE_SLOTS],
        max_ns: 0,
    };
}

/// The power-of-two slot of a value, as bcc's log2 histograms count it: floor(log2(v)), 0 for
/// 0 and 1, capped to the last of `slots`.
#[inline(always)]
pub fn log2_slot(v: u64, slots: usize) -> usize {
    (63 - (v | 1).leading_zeros() as usize).min(slots - 1)
}

/// The fine slot of a latency in nanoseconds.
#[inline(always)]
pub fn fine_slot(ns: u64) -> usize {
    if ns < 8 {
        return ns as usize;
    }
    let exponent = 63 - ns.leading_zeros();
    let mantissa = (ns >> (exponent - FINE_SUB_BITS)) & 7;
    let slot = ((exponent - 2) as usize) * 8 + mantissa as usize;
    if slot >= FINE_SLOTS {
        FINE_SLOTS - 1
    } else {
        slot
    }
}

/// The lowest and highest nanosecond values fine slot `slot` holds.
pub fn fine_slot_range(slot: usize) -> (u64, u64) {
    if slot < 8 {
        return (slot as u64, slot as u64);
    }
    let exponent = (slot / 8) as u32 + 2;
    let mantissa = (slot % 8) as u64;
    let shift = exponent - FINE_SUB_BITS;
    (
        (8 + mantissa) << shift,
        ((9 + mantissa) << shift).wrapping_sub(1),
    )
}

/// A request (or, on a bio-based disk, a bio) being timed: when the clock started and whose
/// it is. A bio's disk, flags and size are taken when it is queued: by its completion the
/// kernel has advanced its size to 0.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TimedRequest {
    pub start_ns: u64,
    pub cgroup_id: u64,
    /// Bios only (requests read theirs at completion).
    pub dev: u32,
    pub op_flags: u32,
    pub bytes: u32,
    pub _pad: u32,
}

/// One histogram: counts per power-of-two slot, and the exact sum of what was counted.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Histogram {
    pub slots: [u64; LATENCY_SLOTS],
    /// The latencies counted, in nanoseconds, summed (a Prometheus histogram's `_sum`).
    pub sum_ns: u64,
    /// With `LatencyConfig::per_direction`, device stage: the requests' bytes, summed.
    pub sum_bytes: u64,
}

impl Histogram {
    pub const ZERO: Histogram = Histogram {
        slots: [0; LATENCY_SLOTS],
        sum_ns: 0,
        sum_bytes: 0,
    };
}

/// Settings of the biolatency probes, set at load time (a read-only global).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LatencyConfig {
    /// Non-zero: time from insertion into the queue (`-Q`), else from issue to the driver.
    pub queued: u32,
    /// Non-zero: one histogram per disk (`-D`).
    pub per_disk: u32,
    /// Non-zero: one histogram per set of request flags (`-F`).
    pub per_flag: u32,
    /// Divide nanoseconds by this before taking the log2 (1000 for usecs, 1000000 for msecs).
    pub unit_ns: u32,
    /// Non-zero: only the disk `dev`.
    pub filter_dev: u32,
    pub dev: u32,
    /// Non-zero: one histogram per issuing cgroup (`--containers`).
    pub per_cgroup: u32,
    /// Non-zero: only I/O queued by tasks in cgroup `cgroup_id` (depth `cgroup_level`) or below.
    pub filter_cgroup: u32,
    pub cgroup_id: u64,
    pub cgroup_level: u32,
    /// Non-zero: also keep the fine histograms (`--percentiles`).
    pub fine: u32,
    /// Non-zero: time the queue stage (insert to issue) and the device stage (issue to
    /// completion) separately, each in its own histograms (`HistogramKey::stage`).
    pub split_stages: u32,
    /// Non-zero: device-stage histograms per direction (`HistogramKey::write`: the operation,
    /// `cmd_flags & op_mask`, is `op_write`), with the requests' bytes summed.
    pub per_direction: u32,
    pub op_write: u32,
    pub op_mask: u32,
    /// Non-zero: some traced disks are bio-based (`BIO_DISKS`): their bios are timed from
    /// queueing to completion, as they never become requests.
    pub bio_disks: u32,
    /// Non-zero: one histogram per size class (`HistogramKey::size_slot`, `--size`).
    pub per_size: u32,
}

impl LatencyConfig {
    pub const DEFAULT: LatencyConfig = LatencyConfig {
        queued: 0,
        per_disk: 0,
        per_flag: 0,
        unit_ns: 1000,
        filter_dev: 0,
        dev: 0,
        per_cgroup: 0,
        filter_cgroup: 0,
        cgroup_id: 0,
        cgroup_level: 0,
        fine: 0,
        split_stages: 0,
        per_direction: 0,
        op_write: 0,
        op_mask: 0,
        bio_disks: 0,
        per_size: 0,
    };

    /// Whether the owner of each request must be captured when its bio is queued.
    pub const fn tracks_owner(&self) -> bool {
        self.per_cgroup != 0 || self.filter_cgroup != 0
    }
}

#[cfg(feature = "user")]
mod pod {
    // SAFETY: plain `#[repr(C)]` data without padding.
    unsafe impl aya::Pod for super::HistogramKey {}
    // SAFETY: as above.
    unsafe impl aya::Pod for super::Histogram {}
    // SAFETY: as above.
    unsafe impl aya::Pod for super::LatencyConfig {}
    // SAFETY: as above.
    unsafe impl aya::Pod for super::TimedRequest {}
    // SAFETY: as above.
    unsafe impl aya::Pod for super::FineHistogram {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log2_slots_are_bccs() {
        let slots: [usize; 6] = [0, 1, 2, 3, 1024, 1025].map(|v| log2_slot(v, LATENCY_SLOTS));
        assert_eq!(slots, [0, 0, 1, 1, 10, 10]);
        assert_eq!(log2_slot(u64::MAX, LATENCY_SLOTS), LATENCY_SLOTS - 1);
    }

    #[test]
    fn fine_slots_cover_values_without_gaps() {
        let mut expected_low = 0;
        for slot in 0..=495 {
            let (low, high) = fine_slot_range(slot);
            assert_eq!(low, expected_low, "slot {slot}");
            assert_eq!(fine_slot(low), slot);
            assert_eq!(fine_slot(high), slot);
            expected_low = high.wrapping_add(1);
        }
        assert_eq!(fine_slot(u64::MAX), 495);
        // 12.5% wide at most.
        let (low, high) = fine_slot_range(200);
        assert!((high - low + 1) * 8 <= low);
    }
}
