//! Block events from a blktrace recording: the same `BlockIoEvent`s the probes deliver, so an
//! event view (biosnoop, biolatency) runs on a recording (`-i TRACE`) as it runs live.
//!
//! What a recording lacks is filled in the way blkparse and btt fill it: process names come
//! from its notify records, a record's pid (the thread id) stands for the process id too, and a
//! request is known by its device and start sector (blktrace keeps no request address), moved
//! along when a front merge changes its start. PC (passthrough) records are left out, as the
//! live views leave them out.

use std::collections::HashMap;

use crate::blktrace::TraceError;
use crate::blktrace::event_encoder::{
    decode_file, parse_cgroup_note, parse_container_note, parse_file_note,
};
use crate::blktrace::format::{Trace, TraceHeader, act, category, notify};
use crate::blktrace::source::{SourceError, TraceSource};
use crate::model::comm::Comm;
use crate::model::event::{Action, BlockIoEvent, DeviceId, OpFlags, Operation};
// Requests not seen for this long are forgotten (they completed outside the recording), as
// the request tracker forgets its own.
use crate::model::inflight::STALE_AFTER_NS;

/// The kernel's BLK_STS_IOERR: what a failed completion shows as (blktrace keeps an errno).
const STATUS_IO_ERROR: u8 = 10;

/// How many requests may be followed before stale ones are looked for.
const SWEEP_ABOVE: usize = 1 << 16;

/// What a recording holds for the event views.
#[derive(Clone, Debug, PartialEq)]
pub enum RecordedItem {
    Event(BlockIoEvent),
    /// A cgroup named by the recording (`blkscope record`'s `cgroup ID PATH` note), before
    /// the first event charged to it.
    CgroupPath {
        id: u64,
        path: String,
    },
    /// A container named by the recording (`container ID NAME`), after its cgroup's path.
    ContainerName {
        id: u64,
        name: String,
    },
    /// A file named by the recording (`record --files`' `file MAJ:MIN:INO PATH` note).
    FilePath {
        dev: DeviceId,
        ino: u64,
        path: String,
    },
}

/// A recording, read as block events.
pub struct RecordedEvents {
    /// `None` for an empty dump.
    source: Option<TraceSource>,
    record: Trace,
    /// pid -> process name, from the notify records (the first name wins, as in blkparse).
    names: HashMap<u32, Comm>,
    requests: RequestIds,
    errors: Vec<TraceError>,
}

impl RecordedEvents {
    /// Opens a recording named as btt names its input: `-` (stdin), a dump file, or the name
    /// of per-CPU files `NAME.blktrace.N`.
    pub fn open(input: &std::path::Path) -> Result<RecordedEvents, SourceError> {
        Ok(RecordedEvents {
            source: TraceSource::open(input)?,
            record: Trace::default(),
            names: HashMap::new(),
            requests: RequestIds::default(),
            errors: Vec::new(),
        })
    }

    /// The next block event or cgroup name; `None` at the end of the recording or at a
    /// damaged record (then `take_errors` says where).
    pub fn next_item(&mut self) -> Option<RecordedItem> {
        loop {
            let source = self.source.as_mut()?;
            match source.next(&mut self.record) {
                Ok(true) => {}
                Ok(false) => {
                    self.errors.extend(source.take_errors());
                    self.source = None;
                    return None;
                }
                Err(e) => {
                    self.errors.push(e);
                    self.errors.extend(source.take_errors());
                    self.source = None;
                    return None;
                }
            }
            let endian = source.endian();
            let h = &self.record.header;
            if h.is_notify() {
                if h.action & !act::CGROUP == notify::PROCESS {
                    // At most 15 bytes, as the kernel's comm and as blkparse shows it.
                    let text = self.record.payload_text();
                    let name = Comm::from_kernel(&text[..text.len().min(15)]);
                    self.names.entry(h.pid).or_insert(name);
                } else if h.is_message()
                    && let Some((id, path)) = parse_cgroup_note(self.record.payload_text())
                {
                    return Some(RecordedItem::CgroupPath { id, path });
                } else if h.is_message()
                    && let Some((id, name)) = parse_container_note(self.record.payload_text())
                {
                    return Some(RecordedItem::ContainerName { id, name });
                } else if h.is_message()
                    && let Some((dev, ino, path)) = parse_file_note(self.record.payload_text())
                {
                    return Some(RecordedItem::FilePath { dev, ino, path });
                }
                continue;
            }
            if h.is(category::PC) {
                continue;
            }
            let Some(action) = action_of(h) else {
                continue;
            };
            let cgroup_id = self.record.cgroup(endian).map_or(0, |c| c.id());
            let mut event = self.event(action, cgroup_id);
            if action == Action::Queue {
                event.file = decode_file(self.record.payload(), endian);
            }
            return Some(RecordedItem::Event(event));
        }
    }

    /// Where the recording was damaged, once `next_item` stopped.
    pub fn take_errors(&mut self) -> Vec<TraceError> {
        std::mem::take(&mut self.errors)
    }

    fn event(&mut self, action: Action, cgroup_id: u64) -> BlockIoEvent {
        let t = &self.record;
        let h = &t.header;
        let mut device = DeviceId::from_kernel(h.device);
        let mut remapped_from = None;
        if action == Action::Remap
            && let Some(r) = t.remap()
        {
            device = DeviceId::from_kernel(r.device_to);
            remapped_from = Some((DeviceId::from_kernel(r.device_from), r.sector_from));
        }
        let request_id = match action {
            Action::FrontMerge => {
                self.requests
                    .front_merge(device, h.sector, h.sectors(), h.time);
                0
            }
            Action::Insert | Action::Issue | Action::Requeue => {
                self.requests.of(device, h.sector, h.time)
            }
            Action::Complete => self.requests.complete(device, h.sector),
            _ => 0,
        };
        let (op, flags) = operation_of(h);
        BlockIoEvent {
            time_ns: h.time,
            cpu: h.cpu,
            action,
            device,
            sector: h.sector,
            bytes: h.bytes,
            op,
            flags,
            status: if h.error != 0 { STATUS_IO_ERROR } else { 0 },
            pid: h.pid,
            tgid: h.pid,
            comm: self
                .names
                .get(&h.pid)
                .copied()
                .unwrap_or_else(|| Comm::from("?")),
            cgroup_id,
            bio_cgroup_id: cgroup_id,
            request_id,
            from_bio: matches!(
                action,
                Action::Queue
                    | Action::BackMerge
                    | Action::FrontMerge
                    | Action::Split
                    | Action::Remap
            ),
            remapped_from,
            split_sector: (action == Action::Split).then(|| t.payload_u64()),
            depth: 0,
            // Set by `next_item` from a Q record's payload (`record --files`).
            file: None,
        }
    }
}

/// The event a record stands for; `None` for what the views do not follow.
fn action_of(h: &TraceHeader) -> Option<Action> {
    Some(match h.basic_action() {
        act::QUEUE => Action::Queue,
        act::BACKMERGE => Action::BackMerge,
        act::FRONTMERGE => Action::FrontMerge,
        act::GETRQ => Action::GetRequest,
        act::REQUEUE => Action::Requeue,
        act::ISSUE => Action::Issue,
        act::COMPLETE => Action::Complete,
        act::INSERT => Action::Insert,
        act::SPLIT => Action::Split,
        act::REMAP => Action::Remap,
        _ => return None,
    })
}

/// The operation and flags behind a record's category bits (what blkparse prints as rwbs).
fn operation_of(h: &TraceHeader) -> (Operation, OpFlags) {
    let op = if h.is(category::DISCARD) {
        Operation::Discard
    } else if h.is(category::WRITE) {
        Operation::Write
    } else if h.bytes != 0 {
        Operation::Read
    } else if h.is(category::FLUSH) {
        Operation::Flush
    } else {
        Operation::Other(0)
    };
    let flags = OpFlags {
        sync: h.is(category::SYNC),
        meta: h.is(category::META),
        fua: h.is(category::FUA),
        preflush: h.is(category::FLUSH) && op != Operation::Flush,
        readahead: h.is(category::AHEAD),
        ..OpFlags::default()
    };
    (op, flags)
}

/// Stable identities for requests known only by (device, start sector).
#[derive(Debug, Default)]
struct RequestIds {
    /// (device, start sector) -> (identity, last seen).
    by_start: HashMap<(DeviceId, u64), (u64, u64)>,
    last_id: u64,
}

impl RequestIds {
    /// The request starting at `sector`, followed from now on if it is new.
    fn of(&mut self, device: DeviceId, sector: u64, now: u64) -> u64 {
        if self.by_start.len() > SWEEP_ABOVE {
            self.by_start
                .retain(|_, (_, seen)| now.saturating_sub(*seen) < STALE_AFTER_NS);
        }
        let fresh = self.last_id + 1;
        let entry = self
            .by_start
            .entry((device, sector))
            .or_insert((fresh, now));
        entry.1 = now;
        if entry.0 == fresh {
            self.last_id = fresh;
        }
        entry.0
    }

    /// A bio of `sectors` at `sector` front-merged: the request that started right after it
    /// now starts at it.
    fn front_merge(&mut self, device: DeviceId, sector: u64, sectors: u32, now: u64) {
        let old_start = sector.wrapping_add(u64::from(sectors));
        if let Some((id, _)) = self.by_start.remove(&(device, old_start)) {
            self.by_start.insert((device, sector), (id, now));
        }
    }

    /// The request completing at `sector`, no longer followed (a new identity when its issue
    /// was not recorded).
    fn complete(&mut self, device: DeviceId, sector: u64) -> u64 {
        match self.by_start.remove(&(device, sector)) {
            Some((id, _)) => id,
            None => {
                self.last_id += 1;
                self.last_id
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_keep_their_identity_through_front_merges_and_requeues() {
        let disk = DeviceId::new(8, 0);
        let mut ids = RequestIds::default();
        let a = ids.of(disk, 100, 1);
        assert_eq!(ids.of(disk, 100, 2), a, "issued after insertion");
        let b = ids.of(disk, 500, 2);
        assert_ne!(a, b);
        // 8 sectors merged in front of the request at 100: it now starts at 92.
        ids.front_merge(disk, 92, 8, 3);
        assert_eq!(ids.of(disk, 92, 4), a);
        assert_eq!(ids.complete(disk, 92), a);
        assert_eq!(ids.complete(disk, 500), b);
        // Completed without a recorded issue: an identity of its own.
        let c = ids.complete(disk, 100);
        assert!(c != a && c != b);
        assert!(ids.by_start.is_empty());
    }

    #[test]
    fn category_bits_give_the_operation_and_flags() {
        let header = |cats: u32, bytes: u32| TraceHeader {
            action: act::QUEUE | (cats << category::SHIFT),
            bytes,
            ..TraceHeader::default()
        };
        let (op, flags) = operation_of(&header(category::WRITE | category::SYNC, 4096));
        assert_eq!(
            (op, flags.sync, flags.preflush),
            (Operation::Write, true, false)
        );
        assert_eq!(operation_of(&header(0, 4096)).0, Operation::Read);
        assert_eq!(
            operation_of(&header(category::FLUSH, 0)).0,
            Operation::Flush
        );
        let (op, flags) = operation_of(&header(category::FLUSH | category::WRITE, 4096));
        assert_eq!((op, flags.preflush), (Operation::Write, true));
    }
}
