//! Loads the task_io probes (biotop, iostat --cgroups, bitesize, biopattern) and reads their
//! per-CPU table. Each read returns what happened
//! since the previous one (differences of running totals, so nothing is lost between a read
//! and a clear), and rows of processes that have exited and stopped changing are removed, so
//! the table does not fill up with the dead.

use std::collections::BTreeMap;

use aya::{
    Ebpf,
    maps::{HashMap, MapData, PerCpuArray, PerCpuHashMap, StackTraceMap},
};
use blkscope_common::{
    names::task_io as names,
    task_io::{
        AccessPattern, Log2Histogram, PATTERN_BY_CGROUP, PATTERN_BY_DISK, PATTERN_BY_PROCESS,
        SIZE_SLOTS, StackKey, TaskIoConfig, TaskIoCounts, TaskIoKey,
    },
};

use crate::{
    kernel::{
        btf_layout::KernelBtf,
        checks::{KernelError, Preflight},
        loader::{self, ProbeSettings, map_error, take_map},
        requirements::ProbeKind,
    },
    model::event::DeviceId,
};

/// What to count.
#[derive(Clone, Debug, Default)]
pub struct TaskIoOptions {
    /// Only this whole disk.
    pub device: Option<DeviceId>,
    /// Only I/O queued by this process (`-p`).
    pub pid: Option<u32>,
    /// Only I/O queued in this cgroup or below: (id, depth) (`-c`).
    pub cgroup: Option<(u64, u32)>,
    /// Rows also keyed by the file each I/O carries (`biotop --files`).
    pub files: bool,
    /// Count each row's I/O sizes (bitesize).
    pub sizes: bool,
    /// Count sequential and random I/Os, per disk and what else (biopattern).
    pub patterns: Option<PatternsBy>,
    /// Take the kernel stack of each queued bio and count each stack's latencies in units of
    /// this many nanoseconds (biostacks).
    pub stacks: Option<u32>,
}

/// What biopattern's counts are kept per, besides the disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PatternsBy {
    Disk,
    Process,
    Cgroup,
}

impl PatternsBy {
    fn config_value(self) -> u32 {
        match self {
            PatternsBy::Disk => PATTERN_BY_DISK,
            PatternsBy::Process => PATTERN_BY_PROCESS,
            PatternsBy::Cgroup => PATTERN_BY_CGROUP,
        }
    }
}

/// One row's I/O sizes: counts per power-of-two KiB slot.
pub type SizeSlots = [u64; SIZE_SLOTS];

const PROGRAMS: [(&str, &str); 3] = [names::BIO_QUEUE, names::RQ_ISSUE, names::RQ_COMPLETE];

/// The attached task_io probes.
pub struct TaskIoProbe {
    /// Owns the programs and their links.
    _ebpf: Ebpf,
    counts: PerCpuHashMap<MapData, TaskIoKey, TaskIoCounts>,
    sizes: PerCpuHashMap<MapData, TaskIoKey, Log2Histogram>,
    patterns: HashMap<MapData, TaskIoKey, AccessPattern>,
    stacks: PerCpuHashMap<MapData, StackKey, Log2Histogram>,
    stack_traces: StackTraceMap<MapData>,
    previous_stacks: BTreeMap<StackKey, SizeSlots>,
    drops: PerCpuArray<MapData, u64>,
    previous: BTreeMap<TaskIoKey, TaskIoCounts>,
    previous_sizes: BTreeMap<TaskIoKey, SizeSlots>,
}

impl TaskIoProbe {
    pub fn start(options: &TaskIoOptions) -> Result<Self, KernelError> {
        Preflight::check()?;
        let kernel_btf = KernelBtf::of_kernel()?;
        Preflight::probe_set(&kernel_btf, ProbeKind::TaskIo)?;
        let bits = kernel_btf.request_flag_bits()?;
        // Bio-based disks never make requests: their bios are counted instead.
        let bio_disks = loader::bio_disks_to_trace(options.device);
        let top = TaskIoConfig {
            filter_dev: u32::from(options.device.is_some()),
            dev: options.device.map_or(0, DeviceId::to_kernel),
            filter_pid: u32::from(options.pid.is_some()),
            tgid: options.pid.unwrap_or(0),
            filter_cgroup: u32::from(options.cgroup.is_some()),
            cgroup_level: options.cgroup.map_or(0, |(_, level)| level),
            cgroup_id: options.cgroup.map_or(0, |(id, _)| id),
            op_write: bits.op_write,
            op_mask: (1u32 << bits.op_bits.min(31)) - 1,
            bio_disks: u32::from(!bio_disks.is_empty()),
            files: u32::from(options.files),
            sizes: u32::from(options.sizes),
            patterns: options.patterns.map_or(0, PatternsBy::config_value),
            stacks: u32::from(options.stacks.is_some()),
            stack_unit_ns: options.stacks.unwrap_or(1000),
        };
        let mut settings = ProbeSettings::default().task_io(top);
        if options.files {
            settings = settings.files(kernel_btf.file_layout()?);
        }
        let mut ebpf = settings.load(&kernel_btf)?;

        let counts = PerCpuHashMap::try_from(take_map(&mut ebpf, names::COUNTS)?)
            .map_err(|e| map_error(names::COUNTS, e))?;
        let drops = PerCpuArray::try_from(take_map(&mut ebpf, names::DROPS)?)
            .map_err(|e| map_error(names::DROPS, e))?;
        let sizes = PerCpuHashMap::try_from(take_map(&mut ebpf, names::SIZES)?)
            .map_err(|e| map_error(names::SIZES, e))?;
        let patterns = HashMap::try_from(take_map(&mut ebpf, names::PATTERNS)?)
            .map_err(|e| map_error(names::PATTERNS, e))?;
        let stacks = PerCpuHashMap::try_from(take_map(&mut ebpf, names::STACKS)?)
            .map_err(|e| map_error(names::STACKS, e))?;
        let stack_traces = StackTraceMap::try_from(take_map(&mut ebpf, names::STACK_TRACES)?)
            .map_err(|e| map_error(names::STACK_TRACES, e))?;
        let mut programs = PROGRAMS.to_vec();
        if options.files {
            programs.extend(loader::direct_io_programs(&kernel_btf));
        }
        if !bio_disks.is_empty() {
            loader::set_bio_disks(&mut ebpf, &bio_disks)?;
            programs.push(names::BIO_COMPLETE);
        }
        loader::attach(&mut ebpf, &programs)?;
        Ok(Self {
            _ebpf: ebpf,
            counts,
            sizes,
            patterns,
            stacks,
            stack_traces,
            previous_stacks: BTreeMap::new(),
            drops,
            previous: BTreeMap::new(),
            previous_sizes: BTreeMap::new(),
        })
    }

    /// The I/O sizes each row added since the previous call (rows that added none left out).
    pub fn take_sizes(&mut self) -> Result<Vec<(TaskIoKey, SizeSlots)>, KernelError> {
        let totals = summed_over_cpus(&self.sizes, names::SIZES)?;
        let interval = added_slots(&self.previous_sizes, &totals);
        self.previous_sizes = totals;
        Ok(interval)
    }

    /// Each stack's latencies added since the previous call (stacks that added none left out).
    pub fn take_stacks(&mut self) -> Result<Vec<(StackKey, SizeSlots)>, KernelError> {
        let totals = summed_over_cpus(&self.stacks, names::STACKS)?;
        let interval = added_slots(&self.previous_stacks, &totals);
        self.previous_stacks = totals;
        Ok(interval)
    }

    /// The return addresses of stack `id`, innermost first (empty when the kernel no longer
    /// has it).
    pub fn stack(&self, id: i64) -> Vec<u64> {
        let Ok(id) = u32::try_from(id) else {
            return Vec::new();
        };
        self.stack_traces
            .get(&id, 0)
            .map(|trace| trace.frames().iter().map(|f| f.ip).collect())
            .unwrap_or_default()
    }

    /// The sequential and random I/Os counted since the previous call; the counts start over,
    /// the first I/O after this call setting the position only (as libbpf-tools' biopattern
    /// clears its table after each report).
    pub fn take_patterns(&mut self) -> Result<Vec<(TaskIoKey, AccessPattern)>, KernelError> {
        let mut taken = Vec::new();
        let keys: Vec<TaskIoKey> = self
            .patterns
            .keys()
            .collect::<Result<_, _>>()
            .map_err(|e| map_error(names::PATTERNS, e))?;
        for key in keys {
            if let Ok(pattern) = self.patterns.get(&key, 0) {
                taken.push((key, pattern));
            }
            let _ = self.patterns.remove(&key);
        }
        Ok(taken)
    }

    /// What each row added since the previous call; rows that added nothing are left out.
    pub fn take_interval(&mut self) -> Result<Vec<(TaskIoKey, TaskIoCounts)>, KernelError> {
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
            .map_err(|e| map_error(names::DROPS, e))?;
        Ok(values.iter().sum())
    }

    fn totals(&self) -> Result<BTreeMap<TaskIoKey, TaskIoCounts>, KernelError> {
        let mut totals = BTreeMap::new();
        for entry in self.counts.iter() {
            let (key, per_cpu) = entry.map_err(|e| map_error(names::COUNTS, e))?;
            let mut sum = TaskIoCounts::default();
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
    fn forget_exited(&mut self, totals: &BTreeMap<TaskIoKey, TaskIoCounts>) {
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

/// Each row of a per-CPU table of histograms, its CPUs' counts added up.
fn summed_over_cpus<K: aya::Pod + Ord>(
    table: &PerCpuHashMap<MapData, K, Log2Histogram>,
    name: &str,
) -> Result<BTreeMap<K, SizeSlots>, KernelError> {
    let mut totals = BTreeMap::new();
    for entry in table.iter() {
        let (key, per_cpu) = entry.map_err(|e| map_error(name, e))?;
        let mut sum = [0u64; SIZE_SLOTS];
        for histogram in per_cpu.iter() {
            for (total, count) in sum.iter_mut().zip(histogram.slots) {
                *total += count;
            }
        }
        totals.insert(key, sum);
    }
    Ok(totals)
}

/// `now - before` per slot of each row; rows that added nothing are left out.
fn added_slots<K: Ord + Copy>(
    before: &BTreeMap<K, SizeSlots>,
    now: &BTreeMap<K, SizeSlots>,
) -> Vec<(K, SizeSlots)> {
    now.iter()
        .filter_map(|(key, counts)| {
            let old = before.get(key).copied().unwrap_or([0; SIZE_SLOTS]);
            let added = crate::model::histogram::slot_differences(counts, &old);
            added.iter().any(|&c| c > 0).then_some((*key, added))
        })
        .collect()
}

/// `now - before` per row; rows with no new completions are left out.
pub fn interval_counts(
    before: &BTreeMap<TaskIoKey, TaskIoCounts>,
    now: &BTreeMap<TaskIoKey, TaskIoCounts>,
) -> Vec<(TaskIoKey, TaskIoCounts)> {
    now.iter()
        .filter_map(|(key, counts)| {
            let old = before.get(key).copied().unwrap_or_default();
            let diff = TaskIoCounts {
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
        let key = TaskIoKey {
            tgid: 5,
            ..TaskIoKey::default()
        };
        let idle = TaskIoKey {
            tgid: 6,
            ..TaskIoKey::default()
        };
        let before = BTreeMap::from([
            (
                key,
                TaskIoCounts {
                    ios: 2,
                    bytes: 8192,
                    latency_ns: 100,
                },
            ),
            (
                idle,
                TaskIoCounts {
                    ios: 1,
                    bytes: 4096,
                    latency_ns: 5,
                },
            ),
        ]);
        let mut now = before.clone();
        now.insert(
            key,
            TaskIoCounts {
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
                TaskIoCounts {
                    ios: 3,
                    bytes: 12288,
                    latency_ns: 300
                }
            )]
        );
    }
}
