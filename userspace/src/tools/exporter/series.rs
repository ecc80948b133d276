//! The exporter's running totals per cgroup, bounded: at most `max_cgroups` cgroups get series
//! of their own; the I/O of any further cgroup is added to one overflow series and the cgroups
//! folded in are counted. Series of cgroups that are gone and idle are forgotten, which frees
//! their place, so memory stays bounded however many cgroups come and go.

use std::collections::{BTreeMap, HashMap, HashSet};

use blkscope_common::block_latency::LATENCY_SLOTS;

use crate::model::event::DeviceId;

/// The label values of a cgroup's series.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CgroupLabels {
    /// The cgroup's path below the cgroup root, its id when it has none, `overflow` for the
    /// overflow series.
    pub cgroup: String,
    /// The container's runtime and short id (`docker:0123456789ab`), or empty.
    pub container_id: String,
    /// The Kubernetes pod uid, or empty.
    pub pod_uid: String,
    /// Kubernetes namespace, pod and container names (cAdvisor's labels), or empty.
    pub namespace: String,
    pub pod: String,
    pub container: String,
    /// A non-Kubernetes container's name (docker's, podman's, a systemd unit's), or empty.
    pub name: String,
}

impl CgroupLabels {
    pub fn overflow() -> CgroupLabels {
        CgroupLabels {
            cgroup: "overflow".into(),
            container_id: "overflow".into(),
            ..CgroupLabels::default()
        }
    }
}

/// Completed I/Os in one direction on one disk.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IoTotals {
    pub ios: u64,
    pub bytes: u64,
    /// Summed issue-to-completion time.
    pub time_ns: u64,
}

/// A log2 histogram in microseconds (slot `i`: `[2^i, 2^(i+1))` µs) with its exact sum.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Log2Histogram {
    pub slots: [u64; LATENCY_SLOTS],
    pub sum_ns: u64,
}

impl Default for Log2Histogram {
    fn default() -> Self {
        Log2Histogram {
            slots: [0; LATENCY_SLOTS],
            sum_ns: 0,
        }
    }
}

impl Log2Histogram {
    pub fn add(&mut self, slots: &[u64; LATENCY_SLOTS], sum_ns: u64) {
        for (total, n) in self.slots.iter_mut().zip(slots) {
            *total += n;
        }
        self.sum_ns += sum_ns;
    }

    pub fn count(&self) -> u64 {
        self.slots.iter().sum()
    }
}

/// The queue stage's and the device stage's histograms of one cgroup (or disk).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StageHistograms {
    pub queue: Log2Histogram,
    pub device: Log2Histogram,
}

impl StageHistograms {
    pub fn add(&mut self, queue_stage: bool, slots: &[u64; LATENCY_SLOTS], sum_ns: u64) {
        if queue_stage {
            self.queue.add(slots, sum_ns);
        } else {
            self.device.add(slots, sum_ns);
        }
    }
}

/// One series: a cgroup's (or the overflow's) totals.
#[derive(Clone, Debug, Default)]
pub struct CgroupSeries {
    pub labels: CgroupLabels,
    /// By (disk, write).
    pub io: BTreeMap<(DeviceId, bool), IoTotals>,
    pub latency: StageHistograms,
    /// The table's update count when this series last changed.
    last_update: u64,
}

impl CgroupSeries {
    pub fn new(labels: CgroupLabels) -> CgroupSeries {
        CgroupSeries {
            labels,
            ..CgroupSeries::default()
        }
    }
}

/// Where a cgroup's counts go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Slot {
    Own,
    Overflow,
}

/// Every cgroup's series, bounded.
#[derive(Debug)]
pub struct CgroupTable {
    max_cgroups: usize,
    series: HashMap<u64, CgroupSeries>,
    overflow: CgroupSeries,
    /// Cgroups whose I/O goes to the overflow series now.
    overflowed: HashSet<u64>,
    /// Cgroups ever folded into the overflow series (a counter).
    overflowed_total: u64,
    updates: u64,
}

impl CgroupTable {
    pub fn new(max_cgroups: usize) -> CgroupTable {
        CgroupTable {
            max_cgroups,
            series: HashMap::new(),
            overflow: CgroupSeries::new(CgroupLabels::overflow()),
            overflowed: HashSet::new(),
            overflowed_total: 0,
            updates: 0,
        }
    }

    /// Starts an update (one read of the probes); series changed in it are stamped with it.
    pub fn begin_update(&mut self) {
        self.updates += 1;
    }

    /// The series that cgroup `id`'s counts go to; `labels` names a cgroup seen for the first
    /// time.
    pub fn series_for(
        &mut self,
        id: u64,
        labels: impl FnOnce(u64) -> CgroupLabels,
    ) -> &mut CgroupSeries {
        let slot = if self.series.contains_key(&id) {
            Slot::Own
        } else if self.overflowed.contains(&id) {
            Slot::Overflow
        } else if self.series.len() < self.max_cgroups {
            self.series.insert(id, CgroupSeries::new(labels(id)));
            Slot::Own
        } else {
            self.overflowed.insert(id);
            self.overflowed_total += 1;
            Slot::Overflow
        };
        let updates = self.updates;
        let series = match slot {
            Slot::Own => self.series.get_mut(&id).expect("inserted above"),
            Slot::Overflow => &mut self.overflow,
        };
        series.last_update = updates;
        series
    }

    /// Forgets cgroups not in `live` (removed) whose series did not change for `idle_updates`
    /// updates (so a scrape saw their last counts), and overflowed cgroups that are gone.
    pub fn forget_gone(&mut self, live: &HashSet<u64>, idle_updates: u64) {
        let now = self.updates;
        self.series.retain(|id, series| {
            live.contains(id) || now.saturating_sub(series.last_update) < idle_updates
        });
        self.overflowed.retain(|id| live.contains(id));
    }

    /// The series with counts, the overflow's last (when it has any).
    pub fn all(&self) -> impl Iterator<Item = &CgroupSeries> {
        let overflow_used = !self.overflow.io.is_empty();
        self.series
            .values()
            .chain(overflow_used.then_some(&self.overflow))
    }

    /// Whether cgroup `id` has a series or goes to the overflow's (no labels needed).
    pub fn knows(&self, id: u64) -> bool {
        self.series.contains_key(&id) || self.overflowed.contains(&id)
    }

    pub fn tracked(&self) -> usize {
        self.series.len()
    }

    pub fn overflowed_total(&self) -> u64 {
        self.overflowed_total
    }

    pub fn overflowing_now(&self) -> usize {
        self.overflowed.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(id: u64) -> CgroupLabels {
        CgroupLabels {
            cgroup: format!("/c{id}"),
            ..CgroupLabels::default()
        }
    }

    fn add(table: &mut CgroupTable, id: u64, ios: u64) {
        let disk = DeviceId::new(7, 0);
        table
            .series_for(id, labels)
            .io
            .entry((disk, false))
            .or_default()
            .ios += ios;
    }

    #[test]
    fn cgroups_past_the_bound_share_the_overflow_series_and_are_counted() {
        let mut table = CgroupTable::new(2);
        table.begin_update();
        add(&mut table, 1, 5);
        add(&mut table, 2, 6);
        add(&mut table, 3, 7);
        add(&mut table, 4, 8);
        add(&mut table, 3, 1);
        assert_eq!(table.tracked(), 2);
        assert_eq!(table.overflowed_total(), 2, "cgroups 3 and 4, each once");
        let overflow: Vec<_> = table
            .all()
            .filter(|s| s.labels == CgroupLabels::overflow())
            .collect();
        assert_eq!(overflow[0].io.values().map(|t| t.ios).sum::<u64>(), 16);
    }

    #[test]
    fn gone_idle_cgroups_are_forgotten_and_free_their_place() {
        let mut table = CgroupTable::new(2);
        table.begin_update();
        add(&mut table, 1, 1);
        add(&mut table, 2, 1);
        let live: HashSet<u64> = [2].into();
        // Just updated: kept until a scrape could have seen it.
        table.forget_gone(&live, 2);
        assert_eq!(table.tracked(), 2);
        table.begin_update();
        table.begin_update();
        table.forget_gone(&live, 2);
        assert_eq!(table.tracked(), 1, "cgroup 1 is gone and idle");
        table.begin_update();
        add(&mut table, 9, 1);
        assert_eq!(table.tracked(), 2, "its place went to a new cgroup");
        assert_eq!(table.overflowed_total(), 0);
    }
}
