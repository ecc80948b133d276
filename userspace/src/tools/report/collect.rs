//! What the report keeps of each completed I/O: its times, place and size, per disk, and the
//! bytes of each process and container. The I/Os kept are those `biosnoop -i` prints: every
//! completion whose start (issue, or queueing on a bio-based disk) the trace holds.

use std::collections::{BTreeMap, HashMap};

use blkscope_common::layout::ROOT_CGROUP_ID;

use crate::model::event::{DeviceId, Operation};
use crate::model::inflight::CompletedIo;

/// Read, write, or anything else (discards, flushes), as the charts colour them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Direction {
    Read,
    Write,
    Other,
}

impl Direction {
    fn of(op: Operation) -> Direction {
        match op {
            Operation::Read => Direction::Read,
            Operation::Write => Direction::Write,
            _ => Direction::Other,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Direction::Read => "reads",
            Direction::Write => "writes",
            Direction::Other => "other (discard, flush)",
        }
    }
}

/// One completed I/O, in CLOCK_MONOTONIC nanoseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IoSample {
    /// Issue (D), or queueing (Q) on a bio-based disk: where biosnoop's latency starts.
    pub started_ns: u64,
    pub completed_ns: u64,
    pub queued_ns: Option<u64>,
    pub got_ns: Option<u64>,
    pub inserted_ns: Option<u64>,
    pub issued_ns: Option<u64>,
    pub sector: u64,
    pub bytes: u32,
    pub direction: Direction,
}

impl IoSample {
    /// From start to completion, as biosnoop's LAT(ms).
    pub fn latency_ns(&self) -> u64 {
        self.completed_ns.saturating_sub(self.started_ns)
    }
}

/// Everything the report draws, gathered from the I/Os of a trace.
#[derive(Debug, Default)]
pub struct Collected {
    pub disks: BTreeMap<DeviceId, Vec<IoSample>>,
    /// Bytes by process (`comm` and process id), per disk.
    pub processes: BTreeMap<DeviceId, HashMap<(String, u32), u64>>,
    /// Bytes by the cgroup the I/O is charged to, per disk.
    pub cgroups: BTreeMap<DeviceId, HashMap<u64, u64>>,
    /// Cgroup id -> container name (or cgroup path).
    pub cgroup_names: HashMap<u64, String>,
}

impl Collected {
    /// Takes one completed I/O in (left out when its start is not in the trace).
    pub fn add(&mut self, io: &CompletedIo) {
        let Some(started_ns) = io.started_ns() else {
            return;
        };
        self.disks.entry(io.device).or_default().push(IoSample {
            started_ns,
            completed_ns: io.completed_ns,
            queued_ns: io.queued_ns,
            got_ns: io.got_ns,
            inserted_ns: io.inserted_ns,
            issued_ns: io.issued_ns,
            sector: io.sector,
            bytes: io.bytes,
            direction: Direction::of(io.op),
        });
        let bytes = u64::from(io.bytes);
        let process = match &io.issuer {
            Some(i) => (i.comm.to_string(), i.tgid),
            None => ("?".to_owned(), 0),
        };
        let owner = io.charged_cgroup().unwrap_or(0);
        *self
            .processes
            .entry(io.device)
            .or_default()
            .entry(process)
            .or_default() += bytes;
        *self
            .cgroups
            .entry(io.device)
            .or_default()
            .entry(owner)
            .or_default() += bytes;
    }

    /// The name a cgroup goes by in the report: its container's, its path, or its id.
    pub fn cgroup_label(&self, id: u64) -> String {
        match self.cgroup_names.get(&id) {
            Some(name) => name.clone(),
            None if id == 0 => "(unknown)".to_owned(),
            None if id == ROOT_CGROUP_ID => "/".to_owned(),
            None => format!("cgroup {id}"),
        }
    }

    /// The first completion of the report (its time zero): the first line biosnoop prints.
    pub fn first_completion_ns(&self) -> Option<u64> {
        self.disks
            .values()
            .filter_map(|ios| ios.iter().map(|s| s.completed_ns).min())
            .min()
    }

    pub fn io_count(&self) -> usize {
        self.disks.values().map(Vec::len).sum()
    }
}
