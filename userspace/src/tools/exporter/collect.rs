//! The exporter's collector: the probes and what reads them. Each scrape reads the kernel's
//! counts first (as ebpf_exporter does), so it sees the I/O done up to that moment, as fresh
//! as its node_disk_* series; a thread also reads them every interval (health, forgetting
//! removed cgroups). Each read adds what the kernel counted since the last read to the running
//! totals. Nothing is done per event in userspace.

use std::{
    collections::{BTreeMap, HashMap, HashSet},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use aya::Ebpf;
use blkscope_common::{
    block_latency::{HistogramKey, LATENCY_SLOTS, STAGE_QUEUE},
    fs_latency::FsOp,
};

use super::series::{CgroupLabels, CgroupTable, Log2Histogram, StageHistograms};
use crate::{
    cgroup::{CgroupResolver, ContainerName, container_of},
    kernel::block_latency::{HistogramSums, LatencyOptions, LatencyProbe},
    kernel::fs_latency::{FsOptions, FsProbe},
    kernel::{
        KernelError, Preflight,
        btf_layout::KernelBtf,
        loader::{ProbeSet as _, ProbeSettings},
    },
    model::event::DeviceId,
    run::{
        interval::{Ticker as _, WallClock},
        stop::Stop,
    },
};

/// What the exporter collects.
#[derive(Clone, Debug)]
pub struct CollectOptions {
    pub interval: Duration,
    pub max_cgroups: usize,
    /// A removed cgroup's series is dropped after it stayed unchanged this long.
    pub forget_after: Duration,
    /// ext4 (or another file system's) operation latency histograms; `None`: not collected.
    pub fs: Option<FsOptions>,
}

/// Probe health, for `/healthz` and the `blkscope_*` health metrics.
#[derive(Clone, Debug, Default)]
pub struct Health {
    /// Completions the kernel could not count, per probe (cumulative).
    pub drops: BTreeMap<&'static str, u64>,
    pub updates: u64,
    pub last_update: Option<Instant>,
    /// The last read that failed, if the last one did.
    pub error: Option<String>,
}

/// What the scrapes read.
#[derive(Debug)]
pub struct Totals {
    pub cgroups: CgroupTable,
    /// Per disk, over every cgroup.
    pub disks: BTreeMap<DeviceId, StageHistograms>,
    /// File-system operation latencies, per operation.
    pub fs: BTreeMap<FsOp, Log2Histogram>,
    pub fs_type: Option<&'static str>,
    pub health: Health,
}

impl Totals {
    pub fn new(max_cgroups: usize) -> Totals {
        Totals {
            cgroups: CgroupTable::new(max_cgroups),
            disks: BTreeMap::new(),
            fs: BTreeMap::new(),
            fs_type: None,
            health: Health::default(),
        }
    }
}

/// The probes the collector owns: the biolatency probes (per disk, cgroup, stage and
/// direction, with counts, time and bytes: everything per cgroup comes from them) and the
/// file-system probes.
pub struct Probes {
    latency: LatencyProbe,
    fs: Option<FsProbe>,
    /// The one probe object both sets were loaded into; owns their programs and links.
    _object: Ebpf,
}

impl Probes {
    /// Loads both probe sets into one object and attaches them; fails as the views fail
    /// (missing capability, kernel). Must be called inside a tokio runtime.
    pub fn start(options: &CollectOptions) -> Result<Probes, KernelError> {
        Preflight::check()?;
        let kernel_btf = KernelBtf::of_kernel()?;
        let latency_options = LatencyOptions {
            per_disk: true,
            per_cgroup: true,
            split_stages: true,
            per_direction: true,
            ..LatencyOptions::default()
        };
        let (mut settings, latency) =
            LatencyProbe::configure(&latency_options, &kernel_btf, ProbeSettings::default())?;
        let fs = match &options.fs {
            Some(fs_options) => {
                let (with_fs, fs) = FsProbe::configure(fs_options, &kernel_btf, settings)?;
                settings = with_fs;
                Some(fs)
            }
            None => None,
        };
        let mut object = settings.load(&kernel_btf)?;
        Ok(Probes {
            latency: LatencyProbe::attach(&mut object, latency)?,
            fs: fs.map(|fs| FsProbe::attach(&mut object, fs)).transpose()?,
            _object: object,
        })
    }
}

/// The probes and the cgroup names, shared by the interval thread and the scrapes (one
/// reads at a time).
pub struct Collector {
    probes: Probes,
    names: CgroupNames,
}

impl Collector {
    pub fn new(probes: Probes) -> Arc<Mutex<Collector>> {
        Arc::new(Mutex::new(Collector {
            probes,
            names: CgroupNames::new(),
        }))
    }
}

/// When a read happens: a scrape's, or the interval's (which also times how long a removed
/// cgroup's series stays, so scrapes do not shorten `--forget-after`).
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Read {
    Scrape,
    Interval,
}

/// Reads the probes into `totals` now; the error is kept in the health.
pub fn refresh(collector: &Mutex<Collector>, totals: &Arc<Mutex<Totals>>, read: Read) {
    let mut collector = lock_collector(collector);
    let Collector { probes, names } = &mut *collector;
    let result = update(probes, names, totals, read);
    lock(totals).health.error = result.err().map(|e| e.to_string());
}

/// Reads the probes every `interval` into `totals` until `stop`.
pub fn run(
    collector: &Mutex<Collector>,
    options: &CollectOptions,
    totals: &Arc<Mutex<Totals>>,
    stop: Stop,
) {
    let idle_updates =
        (options.forget_after.as_secs_f64() / options.interval.as_secs_f64()).ceil() as u64;
    let mut clock = WallClock::new(Some(options.interval), stop);
    // A first read at once: /healthz is healthy as soon as the probes are read.
    refresh(collector, totals, Read::Interval);
    let mut reads = 1u64;
    while !clock.wait() {
        refresh(collector, totals, Read::Interval);
        reads += 1;
        if reads.is_multiple_of(10) {
            // Cgroups removed since: their series (and kernel histograms) go once idle. The
            // hierarchy is walked without the totals' lock, so scrapes do not wait for it.
            let mut collector = lock_collector(collector);
            let live = collector.names.live_ids();
            lock(totals).cgroups.forget_gone(&live, idle_updates);
            collector
                .probes
                .latency
                .forget(|key| key.cgroup_id > 1 && !live.contains(&key.cgroup_id));
        }
    }
}

fn lock_collector(collector: &Mutex<Collector>) -> std::sync::MutexGuard<'_, Collector> {
    // A panic during a read leaves probes that still count: keep reading them.
    collector
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The totals, also after a panic elsewhere left their lock poisoned.
pub(crate) fn lock(totals: &Arc<Mutex<Totals>>) -> std::sync::MutexGuard<'_, Totals> {
    // A panic while holding the lock leaves totals that are still counts: keep serving them.
    totals
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// One read of every probe, added to the totals.
fn update(
    probes: &mut Probes,
    names: &mut CgroupNames,
    totals: &Arc<Mutex<Totals>>,
    read: Read,
) -> Result<(), KernelError> {
    let histograms = probes.latency.take_interval_with_sums()?;
    let fs = match probes.fs.as_mut() {
        Some(fs) => Some(fs.take_histograms()?),
        None => None,
    };
    let drops = [
        ("biolatency", probes.latency.drops()?),
        (
            "fs",
            probes
                .fs
                .as_ref()
                .map(FsProbe::drops)
                .transpose()?
                .unwrap_or(0),
        ),
    ];
    // Cgroups seen for the first time are named before the lock is taken (naming one may walk
    // the cgroup hierarchy).
    let unknown: Vec<u64> = {
        let t = lock(totals);
        histograms
            .keys()
            .map(|key| key.cgroup_id)
            .filter(|id| !t.cgroups.knows(*id))
            .collect()
    };
    let new_labels: HashMap<u64, CgroupLabels> = unknown
        .into_iter()
        .map(|id| (id, names.labels(id)))
        .collect();
    let label = |id: u64| {
        new_labels
            .get(&id)
            .cloned()
            .unwrap_or_else(|| CgroupLabels {
                cgroup: id.to_string(),
                ..CgroupLabels::default()
            })
    };
    let mut t = lock(totals);
    if read == Read::Interval {
        t.cgroups.begin_update();
    }
    for (key, sums) in &histograms {
        add_histogram(&mut t, &label, key, sums);
    }
    for (op, slots) in fs.into_iter().flatten() {
        t.fs.entry(op)
            .or_default()
            .add(&slots, estimated_sum_ns(&slots));
    }
    t.health.drops.extend(drops);
    t.health.updates += 1;
    t.health.last_update = Some(Instant::now());
    Ok(())
}

/// One interval of one kernel histogram: into its disk's and its cgroup's latencies, and a
/// device-stage one also into the cgroup's I/O counts (its count, time and bytes).
fn add_histogram(
    t: &mut Totals,
    label: &dyn Fn(u64) -> CgroupLabels,
    key: &HistogramKey,
    sums: &HistogramSums,
) {
    let queue = key.stage == STAGE_QUEUE;
    let disk = DeviceId::from_kernel(key.dev);
    t.disks
        .entry(disk)
        .or_default()
        .add(queue, &sums.slots, sums.sum_ns);
    let series = t.cgroups.series_for(key.cgroup_id, label);
    series.latency.add(queue, &sums.slots, sums.sum_ns);
    if !queue {
        let io = series.io.entry((disk, key.write != 0)).or_default();
        io.ios += sums.slots.iter().sum::<u64>();
        io.bytes += sums.sum_bytes;
        io.time_ns += sums.sum_ns;
    }
}

/// A log2 histogram's sum when only its slots are known (the file-system probes keep no
/// sum): each count at its slot's middle, 1.5 x 2^i µs.
pub fn estimated_sum_ns(slots: &[u64; LATENCY_SLOTS]) -> u64 {
    slots
        .iter()
        .enumerate()
        .map(|(i, n)| n.saturating_mul(1500u64 << i.min(40)))
        .fold(0u64, u64::saturating_add)
}

/// Cgroup ids to labels, through the resolver.
struct CgroupNames {
    resolver: Option<CgroupResolver>,
}

impl CgroupNames {
    fn new() -> CgroupNames {
        CgroupNames {
            resolver: CgroupResolver::new().ok(),
        }
    }

    fn labels(&mut self, id: u64) -> CgroupLabels {
        let path = self.resolver.as_mut().and_then(|r| r.path(id));
        match path {
            Some(path) => {
                let container = container_of(&path);
                let name = self.resolver.as_mut().and_then(|r| r.container_name(id));
                let mut labels = CgroupLabels {
                    container_id: container
                        .as_ref()
                        .map_or_else(String::new, |c| c.display_name()),
                    pod_uid: container.and_then(|c| c.pod_uid).unwrap_or_default(),
                    cgroup: path,
                    ..CgroupLabels::default()
                };
                match name {
                    Some(ContainerName {
                        pod: Some(pod),
                        name,
                        ..
                    }) => {
                        labels.namespace = pod.namespace;
                        labels.pod = pod.name;
                        labels.container = name.unwrap_or_default();
                    }
                    Some(ContainerName { name, .. }) => labels.name = name.unwrap_or_default(),
                    None => {}
                }
                labels
            }
            None => CgroupLabels {
                cgroup: id.to_string(),
                ..CgroupLabels::default()
            },
        }
    }

    /// The ids of the cgroups that exist now.
    fn live_ids(&mut self) -> HashSet<u64> {
        self.resolver
            .as_mut()
            .map(CgroupResolver::live_ids)
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_estimated_sum_puts_counts_at_their_slots_middle() {
        let mut slots = [0u64; LATENCY_SLOTS];
        slots[0] = 2; // [1, 2) µs
        slots[3] = 1; // [8, 16) µs
        assert_eq!(estimated_sum_ns(&slots), 2 * 1500 + 12_000);
    }
}
