//! Follows each I/O through the block layer, from the bio that queued it (Q, in the context of
//! the task that issued it) to the completion of its request (C, usually in an interrupt or a
//! kworker), so that a completion can be attributed to the task and cgroup that caused it.
//!
//! This runs over the event stream, not in the kernel, so that a live trace and a recording
//! give the same attribution (btt matches events the same way).

use std::collections::HashMap;

use blkscope_common::BlockAction;
use blkscope_common::layout::{BLKIO_CGROUP_TAG, ROOT_CGROUP_ID};
use serde::Serialize;

use crate::model::event::{Action, BlockIoEvent, DeviceId, IoFile, OpFlags, Operation};

/// Who issued an I/O: the task running when its bio was queued.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Issuer {
    pub pid: u32,
    pub tgid: u32,
    pub comm: crate::model::comm::Comm,
    pub cgroup_id: u64,
}

/// One finished I/O with its issuer and the times of its stages (CLOCK_MONOTONIC ns).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CompletedIo {
    pub device: DeviceId,
    pub sector: u64,
    pub bytes: u32,
    pub op: Operation,
    pub flags: OpFlags,
    pub status: u8,
    /// `None` when the queueing of the I/O was not seen (it started before the trace).
    pub issuer: Option<Issuer>,
    /// The blkcg of the bio that started the request (0 when not seen).
    pub bio_cgroup_id: u64,
    /// The partition the I/O was sent to, when it was remapped from one (A record).
    pub partition: Option<DeviceId>,
    /// The stacked device (dm, md) whose I/O this is, when it was remapped from one: the
    /// remap (A) came from an I/O queued on that device, still in flight.
    pub stacked_on: Option<DeviceId>,
    /// With `--file`: what the I/O's first bio carried (a file, or the device's own pages).
    pub file: Option<IoFile>,
    pub queued_ns: Option<u64>,
    /// When a request was allocated for its first bio (G; not for a bio merged into one).
    pub got_ns: Option<u64>,
    /// When the request went into the I/O scheduler (biolatency -Q starts there).
    pub inserted_ns: Option<u64>,
    pub issued_ns: Option<u64>,
    pub completed_ns: u64,
    /// Completed as a bio, never part of a request: a bio-based disk (zram, dm, md, brd,
    /// pmem), timed from its queueing.
    pub bio_based: bool,
}

/// The cgroup an I/O is charged to: the bio's own when it names one below the v2 root (cgroup
/// writeback on behalf of a cgroup), else the issuing task's. A v1 blkio cgroup (tagged) is the
/// task's own already: the probes chose it for a task the unified hierarchy does not separate.
pub fn charged_cgroup(task: u64, bio: u64) -> u64 {
    if bio & BLKIO_CGROUP_TAG == 0 && bio > ROOT_CGROUP_ID {
        bio
    } else {
        task
    }
}

impl CompletedIo {
    /// The cgroup the I/O is charged to (`charged_cgroup`); `None` when its queueing was not
    /// seen.
    pub fn charged_cgroup(&self) -> Option<u64> {
        self.issuer
            .as_ref()
            .map(|i| charged_cgroup(i.cgroup_id, self.bio_cgroup_id))
    }

    /// When the device was handed the I/O: its issue (D), or for a bio-based disk, which has
    /// no requests, its queueing (Q).
    pub fn started_ns(&self) -> Option<u64> {
        match self.issued_ns {
            Some(issued) => Some(issued),
            None if self.bio_based => self.queued_ns,
            None => None,
        }
    }
}

#[derive(Clone, Debug)]
struct QueuedBio {
    issuer: Issuer,
    /// The bio's blkcg (the probes read it on bio events only).
    bio_cgroup_id: u64,
    queued_ns: u64,
    got_ns: Option<u64>,
    partition: Option<DeviceId>,
    stacked_on: Option<DeviceId>,
    file: Option<IoFile>,
}

#[derive(Clone, Debug)]
struct InFlight {
    issuer: Option<Issuer>,
    bio_cgroup_id: u64,
    partition: Option<DeviceId>,
    stacked_on: Option<DeviceId>,
    file: Option<IoFile>,
    queued_ns: Option<u64>,
    got_ns: Option<u64>,
    inserted_ns: Option<u64>,
    issued_ns: Option<u64>,
}

/// Bios queued longer ago than this without being seen again are forgotten (their requests
/// started or ended outside the trace), so memory stays bounded on an endless stream.
pub(crate) const STALE_AFTER_NS: u64 = 60_000_000_000;
/// How many events between two sweeps for stale entries.
const SWEEP_EVERY: u64 = 1 << 14;

/// Matches completions to the bios and requests that caused them.
#[derive(Debug, Default)]
pub struct RequestTracker {
    /// Bios queued but not yet part of a request, by (device, first sector).
    queued: HashMap<(DeviceId, u64), QueuedBio>,
    /// Bios remapped and not yet queued: (device, sector) -> where from, and when.
    remapped: HashMap<(DeviceId, u64), (RemappedFrom, u64)>,
    /// Requests (and bios on bio-based devices) in flight, by kernel address.
    in_flight: HashMap<(DeviceId, u64), InFlight>,
    events_seen: u64,
}

impl RequestTracker {
    /// The probe actions the tracker needs; views built on it enable only these.
    pub const ACTIONS: [BlockAction; 10] = [
        BlockAction::Split,
        BlockAction::Queue,
        BlockAction::BackMerge,
        BlockAction::FrontMerge,
        BlockAction::Insert,
        BlockAction::Issue,
        BlockAction::Requeue,
        BlockAction::Complete,
        BlockAction::RequestMerge,
        BlockAction::Remap,
    ];

    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds one event; returns the finished I/O when the event completes one.
    pub fn observe(&mut self, e: &BlockIoEvent) -> Option<CompletedIo> {
        self.events_seen += 1;
        if self.events_seen.is_multiple_of(SWEEP_EVERY) {
            self.forget_stale(e.time_ns);
        }
        match e.action {
            Action::Queue => {
                let from = self.remapped.remove(&(e.device, e.sector)).map(|(f, _)| f);
                self.queued.insert(
                    (e.device, e.sector),
                    QueuedBio {
                        issuer: issuer_of(e),
                        bio_cgroup_id: e.bio_cgroup_id,
                        queued_ns: e.time_ns,
                        got_ns: None,
                        partition: match from {
                            Some(RemappedFrom::Partition(p)) => Some(p),
                            _ => None,
                        },
                        stacked_on: match from {
                            Some(RemappedFrom::Stacked(d)) => Some(d),
                            _ => None,
                        },
                        file: e.file,
                    },
                );
                None
            }
            // The tail of a split bio is not queued again: it inherits the bio's issuer.
            Action::Split => {
                if let Some(tail) = e.split_sector
                    && let Some(bio) = self.queued.get(&(e.device, e.sector)).cloned()
                {
                    self.queued.insert((e.device, tail), bio);
                }
                None
            }
            // A partition's bio is remapped to the whole disk just before it is queued; a
            // stacked device (dm, md) remaps a clone of a bio it was queued, which is still in
            // flight on it, to the device below.
            Action::Remap => {
                if let Some((from, from_sector)) = e.remapped_from
                    && from != e.device
                {
                    let origin = if self.queued.contains_key(&(from, from_sector)) {
                        RemappedFrom::Stacked(from)
                    } else {
                        RemappedFrom::Partition(from)
                    };
                    self.remapped
                        .insert((e.device, e.sector), (origin, e.time_ns));
                }
                None
            }
            // The bio joined a waiting request, whose first bio names its issuer.
            Action::BackMerge => {
                self.queued.remove(&(e.device, e.sector));
                None
            }
            // In front of a request not followed yet (still plugged), the bio is its new first
            // bio and names it when it is inserted or issued; the old first bio no longer
            // does. A request already followed has its issuer.
            Action::FrontMerge => {
                let old_head = e.sector.wrapping_add(u64::from(e.bytes >> 9));
                if self.queued.remove(&(e.device, old_head)).is_none() {
                    self.queued.remove(&(e.device, e.sector));
                }
                None
            }
            // G still carries the bio (its address is not the request's): the request is first
            // seen, by its own address, at insert or issue; G's time goes with the bio.
            Action::GetRequest => {
                if let Some(bio) = self.queued.get_mut(&(e.device, e.sector)) {
                    bio.got_ns.get_or_insert(e.time_ns);
                }
                None
            }
            Action::Insert | Action::Issue | Action::Requeue => {
                self.track_request(e);
                None
            }
            // Absorbed into another request: it will not complete on its own.
            Action::RequestMerge => {
                self.in_flight.remove(&(e.device, e.request_id));
                None
            }
            Action::Complete => Some(self.complete(e)),
            _ => None,
        }
    }

    /// The issuer of the request an insert, issue, requeue or request merge is about, as
    /// known after `observe` saw the event (before it, for a request merge).
    pub fn request_issuer(&self, e: &BlockIoEvent) -> Option<&Issuer> {
        self.in_flight
            .get(&(e.device, e.request_id))
            .and_then(|r| r.issuer.as_ref())
    }

    /// The blkcg of the queued bio a bio event (G, M, F, X) is about, as its Q gave it; call
    /// before `observe` sees the event (merges forget the bio).
    pub fn queued_bio_cgroup(&self, e: &BlockIoEvent) -> Option<u64> {
        self.queued
            .get(&(e.device, e.sector))
            .map(|b| b.bio_cgroup_id)
    }

    /// Number of I/Os being followed (for tests and memory bounds).
    pub fn pending(&self) -> usize {
        self.queued.len() + self.in_flight.len() + self.remapped.len()
    }

    fn track_request(&mut self, e: &BlockIoEvent) {
        let key = (e.device, e.request_id);
        if !self.in_flight.contains_key(&key) {
            let bio = self.queued.remove(&(e.device, e.sector));
            self.in_flight.insert(
                key,
                InFlight {
                    queued_ns: bio.as_ref().map(|b| b.queued_ns),
                    got_ns: bio.as_ref().and_then(|b| b.got_ns),
                    partition: bio.as_ref().and_then(|b| b.partition),
                    stacked_on: bio.as_ref().and_then(|b| b.stacked_on),
                    file: bio.as_ref().and_then(|b| b.file),
                    bio_cgroup_id: bio.as_ref().map_or(0, |b| b.bio_cgroup_id),
                    issuer: bio.map(|b| b.issuer),
                    inserted_ns: None,
                    issued_ns: None,
                },
            );
        }
        if let Some(state) = self.in_flight.get_mut(&key) {
            match e.action {
                Action::Issue => state.issued_ns = Some(e.time_ns),
                Action::Insert => {
                    state.inserted_ns.get_or_insert(e.time_ns);
                }
                _ => {}
            }
        }
    }

    fn complete(&mut self, e: &BlockIoEvent) -> CompletedIo {
        let key = (e.device, e.request_id);
        let request = self.in_flight.remove(&key);
        let bio_based = request.is_none() && self.queued.contains_key(&(e.device, e.sector));
        let state = request.or_else(|| {
            // Bio-based devices complete bios that were never part of a request.
            self.queued.remove(&(e.device, e.sector)).map(|b| InFlight {
                queued_ns: Some(b.queued_ns),
                got_ns: b.got_ns,
                partition: b.partition,
                stacked_on: b.stacked_on,
                file: b.file,
                bio_cgroup_id: b.bio_cgroup_id,
                issuer: Some(b.issuer),
                inserted_ns: None,
                issued_ns: None,
            })
        });
        let state = state.unwrap_or(InFlight {
            issuer: None,
            bio_cgroup_id: e.bio_cgroup_id,
            partition: None,
            stacked_on: None,
            file: None,
            queued_ns: None,
            got_ns: None,
            inserted_ns: None,
            issued_ns: None,
        });
        CompletedIo {
            device: e.device,
            sector: e.sector,
            bytes: e.bytes,
            op: e.op,
            flags: e.flags,
            status: e.status,
            issuer: state.issuer,
            bio_cgroup_id: state.bio_cgroup_id,
            partition: state.partition,
            stacked_on: state.stacked_on,
            file: state.file,
            queued_ns: state.queued_ns,
            got_ns: state.got_ns,
            inserted_ns: state.inserted_ns,
            issued_ns: state.issued_ns,
            completed_ns: e.time_ns,
            bio_based,
        }
    }

    fn forget_stale(&mut self, now_ns: u64) {
        let fresh = |t: u64| now_ns.saturating_sub(t) < STALE_AFTER_NS;
        self.queued.retain(|_, b| fresh(b.queued_ns));
        self.remapped.retain(|_, (_, t)| fresh(*t));
        self.in_flight
            .retain(|_, r| r.issued_ns.or(r.queued_ns).is_none_or(fresh));
    }
}

/// Where a remapped bio came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum RemappedFrom {
    /// A partition of the disk (the kernel remaps a partition's bio before queueing it).
    Partition(DeviceId),
    /// A stacked device with an I/O in flight at the origin (dm, md clone their bios).
    Stacked(DeviceId),
}

fn issuer_of(e: &BlockIoEvent) -> Issuer {
    Issuer {
        pid: e.pid,
        tgid: e.tgid,
        comm: e.comm,
        cgroup_id: e.cgroup_id,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(
        action: Action,
        t: u64,
        sector: u64,
        request_id: u64,
        pid: u32,
        comm: &str,
    ) -> BlockIoEvent {
        BlockIoEvent {
            time_ns: t,
            cpu: 0,
            action,
            device: DeviceId::new(7, 0),
            sector,
            bytes: 4096,
            op: Operation::Read,
            flags: OpFlags::default(),
            status: 0,
            pid,
            tgid: pid,
            comm: comm.into(),
            cgroup_id: 99,
            bio_cgroup_id: 0,
            request_id,
            from_bio: matches!(
                action,
                Action::Queue | Action::BackMerge | Action::FrontMerge
            ),
            remapped_from: None,
            split_sector: None,
            depth: 0,
            file: None,
        }
    }

    #[test]
    fn completion_in_irq_context_is_attributed_to_the_queueing_task() {
        let mut t = RequestTracker::new();
        assert!(
            t.observe(&ev(Action::Queue, 1, 80, 0xb10, 4242, "dd"))
                .is_none()
        );
        t.observe(&ev(Action::GetRequest, 2, 80, 0xb10, 4242, "dd"));
        t.observe(&ev(Action::Insert, 2, 80, 0x5e0, 4242, "dd"));
        t.observe(&ev(Action::Issue, 3, 80, 0x5e0, 4242, "dd"));
        let done = t
            .observe(&ev(Action::Complete, 9, 80, 0x5e0, 0, "swapper/0"))
            .unwrap();
        let issuer = done.issuer.unwrap();
        assert_eq!(
            (issuer.pid, issuer.comm.as_str(), issuer.cgroup_id),
            (4242, "dd", 99)
        );
        assert_eq!(
            (
                done.queued_ns,
                done.got_ns,
                done.inserted_ns,
                done.issued_ns,
                done.completed_ns
            ),
            (Some(1), Some(2), Some(2), Some(3), 9)
        );
        assert_eq!(t.pending(), 0);
    }

    /// dm-0 (253,0) clones a bio it was queued and remaps the clone to sda (8,0): the clone's
    /// request completes on sda as an I/O of dm-0's, then the bio on dm-0 completes as a
    /// bio-based I/O of its own; both belong to the task that queued on dm-0.
    #[test]
    fn a_stacked_device_and_the_disk_below_each_complete_their_own_io() {
        let dm = DeviceId::new(253, 0);
        let sda = DeviceId::new(8, 0);
        let on = |device: DeviceId, mut e: BlockIoEvent| {
            e.device = device;
            e
        };
        let mut t = RequestTracker::new();
        t.observe(&on(dm, ev(Action::Queue, 1, 100, 0xb10, 4242, "app")));
        let mut remap = on(sda, ev(Action::Remap, 2, 2148, 0xc10, 4242, "app"));
        remap.remapped_from = Some((dm, 100));
        t.observe(&remap);
        t.observe(&on(sda, ev(Action::Queue, 2, 2148, 0xc10, 4242, "app")));
        t.observe(&on(sda, ev(Action::Insert, 3, 2148, 0x5e0, 4242, "app")));
        t.observe(&on(sda, ev(Action::Issue, 4, 2148, 0x5e0, 4242, "app")));
        let below = t
            .observe(&on(sda, ev(Action::Complete, 9, 2148, 0x5e0, 0, "irq")))
            .expect("sda's request completes");
        assert_eq!(
            (below.device, below.stacked_on, below.partition),
            (sda, Some(dm), None)
        );
        assert!(!below.bio_based);
        assert_eq!(below.issuer.as_ref().map(|i| i.tgid), Some(4242));
        let above = t
            .observe(&on(dm, ev(Action::Complete, 10, 100, 0xb10, 0, "irq")))
            .expect("dm-0's bio completes");
        assert_eq!((above.device, above.stacked_on), (dm, None));
        assert!(above.bio_based);
        assert_eq!(above.started_ns(), Some(1));
        assert_eq!(above.issuer.as_ref().map(|i| i.comm.as_str()), Some("app"));
        assert_eq!(t.pending(), 0);
    }

    /// A partition's bio is remapped before it is queued: no I/O is in flight at the origin.
    #[test]
    fn a_partition_remap_is_not_a_stacked_device() {
        let disk = DeviceId::new(7, 0);
        let mut t = RequestTracker::new();
        let mut remap = ev(Action::Remap, 1, 2048, 0xb10, 4242, "dd");
        remap.remapped_from = Some((DeviceId::new(259, 0), 0));
        t.observe(&remap);
        t.observe(&ev(Action::Queue, 1, 2048, 0xb10, 4242, "dd"));
        t.observe(&ev(Action::Issue, 2, 2048, 0x5e0, 4242, "dd"));
        let done = t
            .observe(&ev(Action::Complete, 3, 2048, 0x5e0, 0, "irq"))
            .expect("completes");
        assert_eq!(done.device, disk);
        assert_eq!(done.partition, Some(DeviceId::new(259, 0)));
        assert_eq!(done.stacked_on, None);
    }

    #[test]
    fn merged_bios_do_not_leak_and_unknown_completions_have_no_issuer() {
        let mut t = RequestTracker::new();
        t.observe(&ev(Action::Queue, 1, 80, 1, 10, "a"));
        t.observe(&ev(Action::Issue, 2, 80, 0x100, 10, "a"));
        t.observe(&ev(Action::Queue, 3, 88, 2, 11, "b"));
        t.observe(&ev(Action::BackMerge, 3, 88, 2, 11, "b"));
        assert_eq!(t.pending(), 1);
        let done = t
            .observe(&ev(Action::Complete, 5, 80, 0x100, 0, "irq"))
            .unwrap();
        assert_eq!(done.issuer.unwrap().pid, 10);
        let unknown = t
            .observe(&ev(Action::Complete, 6, 500, 0x200, 0, "irq"))
            .unwrap();
        assert_eq!(unknown.issuer, None);
        assert_eq!(t.pending(), 0);
    }

    #[test]
    fn both_parts_of_a_split_bio_belong_to_its_issuer() {
        let mut t = RequestTracker::new();
        t.observe(&ev(Action::Queue, 1, 0, 1, 10, "dd"));
        let mut split = ev(Action::Split, 2, 0, 1, 10, "dd");
        split.split_sector = Some(1024);
        t.observe(&split);
        t.observe(&ev(Action::Issue, 3, 0, 0x100, 10, "dd"));
        t.observe(&ev(Action::Issue, 4, 1024, 0x200, 10, "dd"));
        for (sector, rq) in [(0, 0x100), (1024, 0x200)] {
            let done = t
                .observe(&ev(Action::Complete, 9, sector, rq, 0, "irq"))
                .unwrap();
            assert_eq!(done.issuer.map(|i| i.pid), Some(10), "part at {sector}");
        }
        assert_eq!(t.pending(), 0);
    }

    #[test]
    fn a_front_merged_bio_names_the_request_it_now_starts() {
        let mut t = RequestTracker::new();
        t.observe(&ev(Action::Queue, 1, 88, 1, 10, "a"));
        t.observe(&ev(Action::Queue, 2, 80, 2, 11, "b"));
        // 8 sectors (4096 bytes) at 80 go in front of the plugged request at 88.
        t.observe(&ev(Action::FrontMerge, 2, 80, 2, 11, "b"));
        t.observe(&ev(Action::Issue, 3, 80, 0x100, 11, "b"));
        assert_eq!(t.pending(), 1, "nothing left behind but the request");
        let done = t
            .observe(&ev(Action::Complete, 4, 80, 0x100, 0, "irq"))
            .unwrap();
        assert_eq!(done.issuer.map(|i| i.pid), Some(11));
        assert_eq!(t.pending(), 0);
    }

    #[test]
    fn stale_entries_are_forgotten() {
        let mut t = RequestTracker::new();
        t.observe(&ev(Action::Queue, 1, 80, 1, 10, "a"));
        t.forget_stale(STALE_AFTER_NS + 10);
        assert_eq!(t.pending(), 0);
    }
}
