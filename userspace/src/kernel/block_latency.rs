//! Loads the block_latency probes (biolatency, the exporter) and reads their in-kernel histograms. Reading never clears the
//! kernel's maps (which would lose the completions counted between a read and the clear): each
//! interval is the difference from the previous read.

use std::collections::BTreeMap;

use aya::{
    Ebpf,
    maps::{MapData, PerCpuArray, PerCpuHashMap},
};
use blkscope_common::{
    block_latency::{
        EXPORTER_HISTOGRAMS, FINE_SLOTS, FineHistogram, Histogram, HistogramKey, LatencyConfig,
        MAX_HISTOGRAMS,
    },
    names::block_latency as names,
};

use crate::{
    kernel::{
        btf_layout::KernelBtf,
        checks::{KernelError, Preflight},
        loader::{self, ProbeSet, ProbeSettings, map_error, take_map},
        requirements::ProbeKind,
    },
    model::event::{DeviceId, RequestFlagBits},
};

use crate::model::histogram::slot_differences;
pub use crate::model::histogram::{FineCounts, Slots};

/// How to time and split the histograms.
#[derive(Clone, Debug, Default)]
pub struct LatencyOptions {
    /// Time from insertion into the queue instead of issue to the driver (`-Q`).
    pub queued: bool,
    /// One histogram per disk (`-D`).
    pub per_disk: bool,
    /// One histogram per set of request flags (`-F`).
    pub per_flag: bool,
    /// Milliseconds instead of microseconds (`-m`).
    pub milliseconds: bool,
    /// Also keep fine histograms for percentiles (`--percentiles`).
    pub percentiles: bool,
    /// Only this whole disk (`-d`).
    pub device: Option<DeviceId>,
    /// One histogram per issuing cgroup (`--containers`).
    pub per_cgroup: bool,
    /// Only I/O queued in this cgroup or below: (id, depth) (`-c`).
    pub cgroup: Option<(u64, u32)>,
    /// Queue (insert to issue) and device (issue to completion) times in separate histograms
    /// (`HistogramKey::stage`), for the exporter.
    pub split_stages: bool,
    /// Device-stage histograms per direction with bytes summed, for the exporter.
    pub per_direction: bool,
    /// One histogram per size class (`--size`).
    pub per_size: bool,
}

impl LatencyOptions {
    /// The histograms' unit in nanoseconds: microseconds, or milliseconds with `-m`.
    pub fn unit_ns(&self) -> u32 {
        if self.milliseconds { 1_000_000 } else { 1000 }
    }
}

/// What `configure` found that `attach` needs.
pub struct LatencySetup {
    queued: bool,
    tracks_owner: bool,
    flag_bits: RequestFlagBits,
    /// The bio-based disks whose bios are timed.
    bio_disks: Vec<DeviceId>,
}

/// One histogram's counts and sums (latency in ns; bytes with `per_direction`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HistogramSums {
    pub slots: Slots,
    pub sum_ns: u64,
    pub sum_bytes: u64,
}

/// The attached biolatency probes.
pub struct LatencyProbe {
    /// Owns the programs and their links, unless a tool that loaded several probe sets
    /// together owns them (`attach`).
    _object: Option<Ebpf>,
    histograms: PerCpuHashMap<MapData, HistogramKey, Histogram>,
    fine: PerCpuHashMap<MapData, HistogramKey, FineHistogram>,
    drops: PerCpuArray<MapData, u64>,
    previous: BTreeMap<HistogramKey, HistogramSums>,
    previous_fine: BTreeMap<HistogramKey, (Vec<u64>, u64)>,
    flag_bits: RequestFlagBits,
}

impl ProbeSet for LatencyProbe {
    type Options = LatencyOptions;
    type Setup = LatencySetup;

    /// Checks the kernel for these options and adds their settings to `settings`, for a
    /// tool that loads this probe set with others (`attach` it once the object is loaded).
    fn configure(
        options: &Self::Options,
        kernel_btf: &KernelBtf,
        settings: ProbeSettings,
    ) -> Result<(ProbeSettings, Self::Setup), KernelError> {
        Preflight::probe_set(kernel_btf, ProbeKind::BlockLatency)?;
        let flag_bits = kernel_btf.request_flag_bits()?;
        // Bio-based disks never make requests: their bios are timed instead (and the extra
        // programs run only when there is one to time).
        let bio_disks = loader::bio_disks_to_trace(options.device);
        let latency = LatencyConfig {
            queued: u32::from(options.queued),
            per_disk: u32::from(options.per_disk),
            per_flag: u32::from(options.per_flag),
            unit_ns: options.unit_ns(),
            filter_dev: u32::from(options.device.is_some()),
            dev: options.device.map_or(0, DeviceId::to_kernel),
            per_cgroup: u32::from(options.per_cgroup),
            filter_cgroup: u32::from(options.cgroup.is_some()),
            cgroup_id: options.cgroup.map_or(0, |(id, _)| id),
            cgroup_level: options.cgroup.map_or(0, |(_, level)| level),
            fine: u32::from(options.percentiles),
            split_stages: u32::from(options.split_stages),
            per_direction: u32::from(options.per_direction),
            op_write: flag_bits.op_write,
            op_mask: (1u32 << flag_bits.op_bits.min(31)) - 1,
            bio_disks: u32::from(!bio_disks.is_empty()),
            per_size: u32::from(options.per_size),
        };
        // The exporter keeps a histogram per cgroup, disk and stage.
        let room = if options.split_stages {
            EXPORTER_HISTOGRAMS
        } else {
            MAX_HISTOGRAMS
        };
        let setup = LatencySetup {
            queued: options.queued,
            tracks_owner: latency.tracks_owner(),
            flag_bits,
            bio_disks,
        };
        Ok((settings.block_latency(latency, room), setup))
    }

    /// Attaches the programs to an object loaded with this set's settings, and takes its maps.
    fn attach(ebpf: &mut Ebpf, setup: Self::Setup) -> Result<Self, KernelError> {
        let histograms = PerCpuHashMap::try_from(take_map(ebpf, names::HISTOGRAMS)?)
            .map_err(|e| map_error(names::HISTOGRAMS, e))?;
        let fine = PerCpuHashMap::try_from(take_map(ebpf, names::FINE)?)
            .map_err(|e| map_error(names::FINE, e))?;
        let drops = PerCpuArray::try_from(take_map(ebpf, names::DROPS)?)
            .map_err(|e| map_error(names::DROPS, e))?;
        let mut programs = vec![names::RQ_ISSUE, names::RQ_COMPLETE];
        if setup.queued {
            programs.push(names::RQ_INSERT);
        }
        if setup.tracks_owner || !setup.bio_disks.is_empty() {
            programs.push(names::BIO_QUEUE);
        }
        if !setup.bio_disks.is_empty() {
            loader::set_bio_disks(ebpf, &setup.bio_disks)?;
            programs.push(names::BIO_COMPLETE);
        }
        loader::attach(ebpf, &programs)?;
        Ok(Self {
            _object: None,
            histograms,
            fine,
            drops,
            previous: BTreeMap::new(),
            previous_fine: BTreeMap::new(),
            flag_bits: setup.flag_bits,
        })
    }

    fn own(&mut self, ebpf: Ebpf) {
        self._object = Some(ebpf);
    }
}

impl LatencyProbe {
    /// Checks the kernel, loads the probes with these options, and attaches them.
    pub fn start(options: &LatencyOptions) -> Result<Self, KernelError> {
        loader::start_alone(options)
    }

    /// The completions counted since the previous call (the first call: since start), per
    /// histogram, in key order; histograms without new counts are left out.
    pub fn take_interval(&mut self) -> Result<BTreeMap<HistogramKey, Slots>, KernelError> {
        Ok(self
            .take_interval_with_sums()?
            .into_iter()
            .map(|(key, sums)| (key, sums.slots))
            .collect())
    }

    /// As `take_interval`, with each histogram's summed latency and bytes in the interval.
    pub fn take_interval_with_sums(
        &mut self,
    ) -> Result<BTreeMap<HistogramKey, HistogramSums>, KernelError> {
        let totals = self.totals()?;
        let interval = interval_counts(&self.previous, &totals);
        self.previous = totals;
        Ok(interval)
    }

    /// Removes the histograms `gone` says are of the past (their cgroup was removed), in the
    /// kernel and here, so that the kernel's table keeps room for new ones.
    pub fn forget(&mut self, gone: impl Fn(&HistogramKey) -> bool) {
        let keys: Vec<HistogramKey> = self.previous.keys().filter(|k| gone(k)).copied().collect();
        for key in keys {
            let _ = self.histograms.remove(&key);
            self.previous.remove(&key);
        }
    }

    /// The fine histograms' counts since the previous call, per key (empty without
    /// `--percentiles`).
    pub fn take_fine_interval(
        &mut self,
    ) -> Result<BTreeMap<HistogramKey, FineCounts>, KernelError> {
        let mut interval = BTreeMap::new();
        let mut totals = BTreeMap::new();
        for entry in self.fine.iter() {
            let (key, per_cpu) = entry.map_err(|e| map_error(names::FINE, e))?;
            let mut sum = vec![0u64; FINE_SLOTS];
            let mut max_ns = 0;
            for histogram in per_cpu.iter() {
                for (total, count) in sum.iter_mut().zip(histogram.slots) {
                    *total += count;
                }
                max_ns = max_ns.max(histogram.max_ns);
            }
            let (old, old_max) = self
                .previous_fine
                .get(&key)
                .cloned()
                .unwrap_or((vec![0; FINE_SLOTS], 0));
            let slots: Vec<u64> = sum
                .iter()
                .zip(&old)
                .map(|(n, o)| n.saturating_sub(*o))
                .collect();
            if slots.iter().any(|&c| c > 0) {
                // The running maximum grew: it happened in this interval.
                let max_ns = (max_ns > old_max).then_some(max_ns);
                interval.insert(key, FineCounts { slots, max_ns });
            }
            totals.insert(key, (sum, max_ns));
        }
        self.previous_fine = totals;
        Ok(interval)
    }

    /// Where the running kernel keeps the operation and flags in `cmd_flags` (for `-F`).
    pub fn flag_bits(&self) -> &RequestFlagBits {
        &self.flag_bits
    }

    /// Completions that could not be counted because the histogram map was full.
    pub fn drops(&self) -> Result<u64, KernelError> {
        let values = self
            .drops
            .get(&0, 0)
            .map_err(|e| map_error(names::DROPS, e))?;
        Ok(values.iter().sum())
    }

    /// Counts and sums since the start, summed over CPUs.
    fn totals(&self) -> Result<BTreeMap<HistogramKey, HistogramSums>, KernelError> {
        let mut totals = BTreeMap::new();
        for entry in self.histograms.iter() {
            let (key, per_cpu) = entry.map_err(|e| map_error(names::HISTOGRAMS, e))?;
            let mut sums = HistogramSums::default();
            for histogram in per_cpu.iter() {
                for (total, count) in sums.slots.iter_mut().zip(histogram.slots) {
                    *total += count;
                }
                sums.sum_ns += histogram.sum_ns;
                sums.sum_bytes += histogram.sum_bytes;
            }
            totals.insert(key, sums);
        }
        Ok(totals)
    }
}

/// `now - before` per key, slot and sum; keys with no new counts are dropped.
pub fn interval_counts(
    before: &BTreeMap<HistogramKey, HistogramSums>,
    now: &BTreeMap<HistogramKey, HistogramSums>,
) -> BTreeMap<HistogramKey, HistogramSums> {
    let mut interval = BTreeMap::new();
    for (key, sums) in now {
        let old = before.get(key).copied().unwrap_or_default();
        let mut diff = HistogramSums {
            sum_ns: sums.sum_ns.saturating_sub(old.sum_ns),
            sum_bytes: sums.sum_bytes.saturating_sub(old.sum_bytes),
            ..HistogramSums::default()
        };
        diff.slots = slot_differences(&sums.slots, &old.slots);
        if diff.slots.iter().any(|&c| c > 0) {
            interval.insert(*key, diff);
        }
    }
    interval
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_are_differences_and_skip_idle_histograms() {
        let key_a = HistogramKey {
            dev: 1,
            ..HistogramKey::default()
        };
        let key_b = HistogramKey {
            dev: 2,
            ..HistogramKey::default()
        };
        let mut before = BTreeMap::new();
        before.insert(key_a, {
            let mut s = HistogramSums::default();
            s.slots[3] = 5;
            s.sum_ns = 100;
            s
        });
        let mut now = before.clone();
        let a = now.get_mut(&key_a).unwrap();
        a.slots[3] = 7;
        a.sum_ns = 130;
        now.insert(key_b, HistogramSums::default());
        let interval = interval_counts(&before, &now);
        assert_eq!(interval.len(), 1);
        assert_eq!(interval[&key_a].slots[3], 2);
        assert_eq!(interval[&key_a].sum_ns, 30);
        let idle = interval_counts(&now, &now);
        assert!(idle.is_empty());
    }
}
