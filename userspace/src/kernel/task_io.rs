//! Loads the biotop probes and reads their per-CPU table. Each read returns what happened
//! since the previous one (differences of running totals, so nothing is lost between a read
//! and a clear), and rows of processes that have exited and stopped changing are removed, so
//! the table does not fill up with the dead.

use std::collections::BTreeMap;

use aya::{
    Ebpf,
    maps::{MapData, PerCpuArray, PerCpuHashMap},
};
use blkscope_common::{
    ProbeConfig,
    block_latency::LatencyConfig,
    fs_latency::{FsConfig, FsLayout},
    task_io::{TopConfig, TopCounts, TopKey},
};

use crate::{
    kernel::{
        btf_layout::KernelBtf,
        checks::{KernelError, Preflight},
        loader::{self, ProbeGlobals, map_error, take_map},
    },
    model::event::DeviceId,
};

/// What to count.
#[derive(Clone, Debug, Default)]
pub struct TopOptions {
    /// Only this whole disk.
    pub device: Option<DeviceId>,
    /// Only I/O queued by this process (`-p`).
    pub pid: Option<u32>,
    /// Only I/O queued in this cgroup or below: (id, depth) (`-c`).
    pub cgroup: Option<(u64, u32)>,
}

const PROGRAMS: [(&str, &str); 3] = [
    ("biotop_bio_queue", "block_bio_queue"),
    ("biotop_rq_issue", "block_rq_issue"),
    ("biotop_rq_complete", "block_rq_complete"),
];

/// The attached biotop probes.
pub struct TopProbe {
    /// Owns the programs and their links.
    _ebpf: Ebpf,
    counts: PerCpuHashMap<MapData, TopKey, TopCounts>,
    drops: PerCpuArray<MapData, u64>,
    previous: BTreeMap<TopKey, TopCounts>,
}

impl TopProbe {
    pub fn start(options: &TopOptions) -> Result<Self, KernelError> {
        Preflight::check(&["block_bio_queue", "block_rq_issue", "block_rq_complete"])?;
        let kernel_btf = KernelBtf::from_sys_fs()?;
        let bits = kernel_btf.request_flag_bits()?;
        let top = TopConfig {
            filter_dev: u32::from(options.device.is_some()),
            dev: options.device.map_or(0, DeviceId::to_kernel),
            filter_pid: u32::from(options.pid.is_some()),
            tgid: options.pid.unwrap_or(0),
            filter_cgroup: u32::from(options.cgroup.is_some()),
            cgroup_level: options.cgroup.map_or(0, |(_, level)| level),
            cgroup_id: options.cgroup.map_or(0, |(id, _)| id),
            op_write: bits.op_write,
            op_mask: (1u32 << bits.op_bits.min(31)) - 1,
        };
        let mut ebpf = loader::load(&ProbeGlobals {
            layout: kernel_btf.block_layout()?,
            block: ProbeConfig::ALL,
            latency: LatencyConfig::DEFAULT,
            top,
            fs_layout: FsLayout::EMPTY,
            fs: FsConfig::DEFAULT,
            ring_bytes: 4096,
            // The biolatency programs stay detached here: their table needs no room.
            latency_histograms: 1,
        })?;
        let counts = PerCpuHashMap::try_from(take_map(&mut ebpf, "TOP_COUNTS")?)
            .map_err(|e| map_error("TOP_COUNTS", e))?;
        let drops = PerCpuArray::try_from(take_map(&mut ebpf, "TOP_DROPS")?)
            .map_err(|e| map_error("TOP_DROPS", e))?;
        loader::attach(&mut ebpf, &PROGRAMS)?;
        Ok(Self {
            _ebpf: ebpf,
            counts,
            drops,
            previous: BTreeMap::new(),
        })
    }

    /// What each row added since the previous call; rows that added nothing are left out.
    pub fn take_interval(&mut self) -> Result<Vec<(TopKey, TopCounts)>, KernelError> {
        let totals = self.totals()?;
        let interval = interval_counts(&self.previous, &totals);
        self.forget_exited(&totals);
        self.previous = totals;
        Ok(interval)
    }

    /// Completions that found no room in the kernel's table.
    pub fn drops(&self) -> Result<u64, KernelError> {
        let values = self
            .drops
            .get(&0, 0)
            .map_err(|e| map_error("TOP_DROPS", e))?;
        Ok(values.iter().sum())
    }

    fn totals(&self) -> Result<BTreeMap<TopKey, TopCounts>, KernelError> {
        let mut totals = BTreeMap::new();
        for entry in self.counts.iter() {
            let (key, per_cpu) = entry.map_err(|e| map_error("TOP_COUNTS", e))?;
            let mut sum = TopCounts::default();
            for counts in per_cpu.iter() {
                sum.ios += counts.ios;
                sum.bytes += counts.bytes;
                sum.latency_ns += counts.latency_ns;
            }
            totals.insert(key, sum);
        }
        Ok(totals)
    }

    /// Removes rows of processes that are gone and whose counts did not move since the last
    /// read: they are reported in full, and nothing more can come for them.
    fn forget_exited(&mut self, totals: &BTreeMap<TopKey, TopCounts>) {
        for (key, counts) in totals {
            let unchanged = self.previous.get(key) == Some(counts);
            let gone =
                key.tgid != 0 && !std::path::Path::new(&format!("/proc/{}", key.tgid)).exists();
            if unchanged && gone {
                let _ = self.counts.remove(key);
            }
        }
    }
}

/// `now - before` per row; rows with no new completions are left out.
pub fn interval_counts(
    before: &BTreeMap<TopKey, TopCounts>,
    now: &BTreeMap<TopKey, TopCounts>,
) -> Vec<(TopKey, TopCounts)> {
    now.iter()
        .filter_map(|(key, counts)| {
            let old = before.get(key).copied().unwrap_or_default();
            let diff = TopCounts {
                ios: counts.ios.saturating_sub(old.ios),
                bytes: counts.bytes.saturating_sub(old.bytes),
                latency_ns: counts.latency_ns.saturating_sub(old.latency_ns),
            };
            (diff.ios > 0).then_some((*key, diff))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_subtract_and_skip_idle_rows() {
        let key = TopKey {
            tgid: 5,
            ..TopKey::default()
        };
        let idle = TopKey {
            tgid: 6,
            ..TopKey::default()
        };
        let before = BTreeMap::from([
            (
                key,
                TopCounts {
                    ios: 2,
                    bytes: 8192,
                    latency_ns: 100,
                },
            ),
            (
                idle,
                TopCounts {
                    ios: 1,
                    bytes: 4096,
                    latency_ns: 5,
                },
            ),
        ]);
        let mut now = before.clone();
        now.insert(
            key,
            TopCounts {
                ios: 5,
                bytes: 20480,
                latency_ns: 400,
            },
        );
        let interval = interval_counts(&before, &now);
        assert_eq!(
            interval,
            vec![(
                key,
                TopCounts {
                    ios: 3,
                    bytes: 12288,
                    latency_ns: 300
                }
            )]
        );
    }
}
