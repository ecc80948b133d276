//! Block events from the probes as the kernel's blktrace would have logged them: the action
//! and category bits `__blk_add_trace` computes, the payloads (remap, split, unplug depth, the
//! cgroup id), per-CPU sequence numbers, a process-name note before each task's first event
//! and a wall-clock note at the start. What `blkscope record` writes.
//!
//! Beyond the kernel's: before the first event charged to a cgroup, a message note
//! `cgroup ID PATH` names it, so a recording read on another machine (or after the cgroup is
//! gone) still names its containers (`cgroup_note`).

use std::collections::{BTreeMap, HashSet};

use foldhash::fast::RandomState as FastHash;

use super::format::{
    CgroupId, Endian, MAGIC, Remap, Trace, TraceHeader, VERSION, act, category, notify,
};
use crate::model::event::{Action, BlockIoEvent, DeviceId, IoFile, OpFlags, Operation};

/// What to record.
#[derive(Clone, Copy, Debug)]
pub struct RecordSettings {
    /// blktrace's action mask (`-a`/`-A`): categories (`category::*`) to keep; a record is kept
    /// when any of its categories is in the mask.
    pub act_mask: u32,
    /// Prefix every record's payload with its cgroup id (`__BLK_TA_CGROUP`, Linux 4.14+;
    /// blkparse 1.2 cannot read such records).
    pub cgroup_ids: bool,
}

impl Default for RecordSettings {
    fn default() -> Self {
        RecordSettings {
            act_mask: 0xffff,
            cgroup_ids: false,
        }
    }
}

/// Events and payload bytes written per CPU, for blktrace's closing summary.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CpuCounts {
    pub events: u64,
    pub bytes: u64,
}

/// The wall clock and the events' clock (CLOCK_MONOTONIC) read at the same moment: the note
/// blkparse shows absolute times from pairs them, as the kernel's does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Clocks {
    pub wall_ns: u64,
    pub monotonic_ns: u64,
}

/// Turns events into blktrace records, in order.
#[derive(Debug)]
pub struct Recorder {
    settings: RecordSettings,
    /// The last sequence number used on each CPU, by CPU number. A vector and a fast hash
    /// (not a tree and SipHash): these are looked at for every one of millions of events.
    sequence: Vec<u32>,
    /// Tasks whose name was noted already.
    named: HashSet<u32, FastHash>,
    /// Cgroups whose path was noted already (or looked for in vain).
    named_cgroups: HashSet<u64>,
    /// Files whose path was noted already (or looked for in vain).
    named_files: HashSet<(DeviceId, u64)>,
    /// The clocks at the start, until the wall-clock note is written (before the first event).
    clocks: Option<Clocks>,
    /// By CPU number.
    counts: Vec<CpuCounts>,
}

impl Recorder {
    pub fn new(settings: RecordSettings, clocks: Clocks) -> Recorder {
        Recorder {
            settings,
            sequence: Vec::new(),
            named: HashSet::default(),
            named_cgroups: HashSet::new(),
            named_files: HashSet::new(),
            clocks: Some(clocks),
            counts: Vec::new(),
        }
    }

    /// The records for one event charged to cgroup `owner` (notes first, when due); none when
    /// the mask leaves it out. `cgroup_path` names a cgroup id (relative to the cgroup root),
    /// asked once per cgroup.
    pub fn records(
        &mut self,
        e: &BlockIoEvent,
        owner: u64,
        cgroup_path: &mut dyn FnMut(u64) -> Option<CgroupNote>,
    ) -> Vec<Trace> {
        let mut out = Vec::with_capacity(1);
        self.records_into(e, owner, cgroup_path, &mut |_, _| None, &mut out);
        out
    }

    /// `records`, appended to `out` (the recorder's own loop reuses one vector for all its
    /// events), and a note naming the file of a queued bio the first time it is seen
    /// (`record --files`), with the path `file_path` gives.
    pub fn records_into(
        &mut self,
        e: &BlockIoEvent,
        owner: u64,
        cgroup_path: &mut dyn FnMut(u64) -> Option<CgroupNote>,
        file_path: &mut dyn FnMut(DeviceId, u64) -> Option<String>,
        out: &mut Vec<Trace>,
    ) {
        let mut event = trace_of(e, self.settings.cgroup_ids.then_some(owner));
        if (self.settings.act_mask << category::SHIFT) & event.header.action == 0 {
            return;
        }
        let first = out.len();
        let notes = self.settings.act_mask & category::NOTIFY != 0;
        if let Some(clocks) = self.clocks.take()
            && notes
        {
            // The wall clock at the first event's time, as (u32 seconds, u32 nanoseconds).
            let wall = clocks.wall_ns + e.time_ns.saturating_sub(clocks.monotonic_ns);
            let mut payload = Vec::with_capacity(8);
            payload.extend(((wall / 1_000_000_000) as u32).to_ne_bytes());
            payload.extend(((wall % 1_000_000_000) as u32).to_ne_bytes());
            out.push(self.note(e, owner, notify::TIMESTAMP, payload));
        }
        if notes && self.named.insert(e.pid) {
            let mut name = e.comm.as_bytes()[..e.comm.len().min(15)].to_vec();
            name.resize(16, 0);
            out.push(self.note(e, owner, notify::PROCESS, name));
        }
        if notes
            && self.settings.cgroup_ids
            && owner != 0
            && self.named_cgroups.insert(owner)
            && let Some(named) = cgroup_path(owner)
        {
            out.push(self.note(e, owner, notify::MESSAGE, cgroup_note(owner, &named.path)));
            if let Some(container) = &named.container {
                let note = container_note(owner, container);
                out.push(self.note(e, owner, notify::MESSAGE, note));
            }
        }
        if notes
            && let Some(IoFile::Inode { dev, ino }) = e.file
            && self.named_files.insert((dev, ino))
            && let Some(path) = file_path(dev, ino)
        {
            out.push(self.note(e, owner, notify::MESSAGE, file_note(dev, ino, &path)));
        }
        let cpu = e.cpu as usize;
        if self.sequence.len() <= cpu {
            self.sequence.resize(cpu + 1, 0);
            self.counts.resize(cpu + 1, CpuCounts::default());
        }
        let sequence = &mut self.sequence[cpu];
        *sequence = sequence.wrapping_add(1);
        event.header.sequence = *sequence;
        out.push(event);
        let c = &mut self.counts[cpu];
        for t in &out[first..] {
            c.events += u64::from(!t.header.is_notify());
            c.bytes += (super::format::HEADER_LEN + t.pdu.len()) as u64;
        }
    }

    /// What was written per CPU so far.
    pub fn counts(&self) -> BTreeMap<u32, CpuCounts> {
        // Only CPUs that wrote something, as blktrace lists them.
        (0u32..)
            .zip(&self.counts)
            .filter(|(_, c)| c.bytes != 0)
            .map(|(cpu, c)| (cpu, *c))
            .collect()
    }

    /// A note (no sequence number, as the kernel writes them) on the event's CPU and device.
    fn note(&self, e: &BlockIoEvent, owner: u64, action: u32, payload: Vec<u8>) -> Trace {
        let mut pdu = Vec::with_capacity(payload.len() + CgroupId::LEN);
        let mut action = action;
        if self.settings.cgroup_ids {
            action |= act::CGROUP;
            pdu.extend(CgroupId::from_id(owner).encode(Endian::NATIVE));
        }
        pdu.extend(payload);
        Trace {
            header: TraceHeader {
                magic: MAGIC | VERSION,
                sequence: 0,
                time: e.time_ns,
                sector: 0,
                bytes: 0,
                action,
                pid: e.pid,
                device: e.device.to_kernel(),
                cpu: e.cpu,
                error: 0,
                pdu_len: pdu.len() as u16,
            },
            pdu,
        }
    }
}

/// The record the kernel's blktrace writes for an event (sequence number left 0), with the
/// owner's cgroup id when one is given.
pub fn trace_of(e: &BlockIoEvent, cgroup: Option<u64>) -> Trace {
    let mut action = action_word(e.action, e.op, e.flags);
    let mut pdu = Vec::new();
    if let Some(id) = cgroup {
        action |= act::CGROUP;
        pdu.extend(CgroupId::from_id(id).encode(Endian::NATIVE));
    }
    match e.action {
        Action::Remap => {
            let (from, sector_from) = e.remapped_from.unwrap_or((e.device, e.sector));
            let remap = Remap {
                device_from: from.to_kernel(),
                device_to: e.device.to_kernel(),
                sector_from,
            };
            pdu.extend(remap.encode());
        }
        Action::Split => pdu.extend(e.split_sector.unwrap_or(0).to_be_bytes()),
        Action::UnplugIo | Action::UnplugTimer => pdu.extend(u64::from(e.depth).to_be_bytes()),
        // `record --files`: the file a queued bio carries (no kernel blktrace record has a
        // Q payload; blkparse shows none).
        Action::Queue => {
            if let Some(file) = e.file {
                pdu.extend(encode_file(file));
            }
        }
        _ => {}
    }
    let carries_io = !matches!(
        e.action,
        Action::Plug | Action::UnplugIo | Action::UnplugTimer
    );
    Trace {
        header: TraceHeader {
            magic: MAGIC | VERSION,
            sequence: 0,
            time: e.time_ns,
            sector: if carries_io {
                trace_sector(e.sector)
            } else {
                0
            },
            bytes: if carries_io { e.bytes } else { 0 },
            action,
            pid: e.pid,
            device: e.device.to_kernel(),
            cpu: e.cpu,
            error: if e.action == Action::Complete {
                errno_of(e.status)
            } else {
                0
            },
            pdu_len: pdu.len() as u16,
        },
        pdu,
    }
}

/// The action code and the category the kernel's `BLK_TA_*` value carries.
fn action_code(a: Action) -> (u32, u32) {
    match a {
        Action::Queue => (act::QUEUE, category::QUEUE),
        Action::BackMerge | Action::RequestMerge => (act::BACKMERGE, category::QUEUE),
        Action::FrontMerge => (act::FRONTMERGE, category::QUEUE),
        Action::GetRequest => (act::GETRQ, category::QUEUE),
        Action::Requeue => (act::REQUEUE, category::REQUEUE),
        Action::Issue => (act::ISSUE, category::ISSUE),
        Action::Complete => (act::COMPLETE, category::COMPLETE),
        Action::Plug => (act::PLUG, category::QUEUE),
        Action::UnplugIo => (act::UNPLUG_IO, category::QUEUE),
        Action::UnplugTimer => (act::UNPLUG_TIMER, category::QUEUE),
        Action::Insert => (act::INSERT, category::QUEUE),
        Action::Split => (act::SPLIT, 0),
        Action::Remap => (act::REMAP, category::QUEUE),
    }
}

/// The action word of a record (without the cgroup flag): the action's code and category,
/// and the categories of its operation.
pub(crate) fn action_word(a: Action, op: Operation, flags: OpFlags) -> u32 {
    let (code, act_category) = action_code(a);
    code | ((act_category | categories(a, op, flags)) << category::SHIFT)
}

/// The categories `__blk_add_trace` derives from the operation and its flags, and FS or PC
/// for the request events (`blk_add_trace_rq`).
fn categories(action: Action, op: Operation, f: OpFlags) -> u32 {
    if matches!(
        action,
        Action::Plug | Action::UnplugIo | Action::UnplugTimer
    ) {
        // Logged with no operation: REQ_OP_READ.
        return category::READ;
    }
    let op_is_write = match op {
        Operation::Write | Operation::Discard | Operation::SecureErase | Operation::WriteZeroes => {
            true
        }
        Operation::DriverOut => true,
        Operation::Other(o) => o & 1 == 1,
        _ => false,
    };
    let mut c = if op_is_write {
        category::WRITE
    } else {
        category::READ
    };
    for (on, bit) in [
        (f.sync, category::SYNC),
        (f.readahead, category::AHEAD),
        (f.meta, category::META),
        (f.preflush, category::FLUSH),
        (f.fua, category::FUA),
        (
            matches!(op, Operation::Discard | Operation::SecureErase),
            category::DISCARD,
        ),
        (op == Operation::Flush, category::FLUSH),
    ] {
        if on {
            c |= bit;
        }
    }
    if matches!(
        action,
        Action::Insert | Action::Issue | Action::Complete | Action::Requeue | Action::RequestMerge
    ) {
        c |= if matches!(op, Operation::DriverIn | Operation::DriverOut) {
            category::PC
        } else {
            category::FS
        };
    }
    c
}

/// `blk_status_to_errno`, as the u16 the record keeps (a negative errno).
pub(crate) fn errno_of(status: u8) -> u16 {
    let errno: i32 = match status {
        0 => 0,
        1 => 95,  // NOTSUPP: EOPNOTSUPP
        2 => 110, // TIMEOUT: ETIMEDOUT
        3 => 28,  // NOSPC: ENOSPC
        4 => 67,  // TRANSPORT: ENOLINK
        5 => 121, // TARGET: EREMOTEIO
        7 => 61,  // MEDIUM: ENODATA
        8 => 84,  // PROTECTION: EILSEQ
        9 => 12,  // RESOURCE: ENOMEM
        12 => 11, // AGAIN: EAGAIN
        _ => 5,   // IOERR and the rest: EIO
    };
    (-errno) as u16
}

/// The sector the kernel's blktrace records: a request without one (a flush: the kernel's
/// "not set", all ones) is recorded at 0, as `blk_rq_trace_sector` does.
pub(crate) fn trace_sector(sector: u64) -> u64 {
    if sector == u64::MAX { 0 } else { sector }
}

/// A Q record's file payload: inode number (u64), file system device (kernel dev_t, u32) and
/// kind (1: a file, 2: the device's own pages), in this machine's byte order.
fn encode_file(file: IoFile) -> Vec<u8> {
    let (ino, dev, kind) = match file {
        IoFile::Inode { dev, ino } => (ino, dev.to_kernel(), 1u32),
        IoFile::DevicePages => (0, 0, 2),
    };
    let mut out = Vec::with_capacity(FILE_PAYLOAD_LEN);
    out.extend(ino.to_ne_bytes());
    out.extend(dev.to_ne_bytes());
    out.extend(kind.to_ne_bytes());
    out
}

/// The file of a Q record's payload (`encode_file`), read in the recording's byte order.
pub fn decode_file(payload: &[u8], endian: Endian) -> Option<IoFile> {
    if payload.len() < FILE_PAYLOAD_LEN {
        return None;
    }
    match endian.u32(&payload[12..]) {
        1 => Some(IoFile::Inode {
            dev: DeviceId::from_kernel(endian.u32(&payload[8..])),
            ino: endian.u64(payload),
        }),
        2 => Some(IoFile::DevicePages),
        _ => None,
    }
}

const FILE_PAYLOAD_LEN: usize = 16;

/// The message a recording names a file with: `file MAJ:MIN:INO PATH`.
pub fn file_note(dev: DeviceId, ino: u64, path: &str) -> Vec<u8> {
    format!("{FILE_NOTE_PREFIX}{}:{}:{ino} {path}", dev.major, dev.minor).into_bytes()
}

/// The file and path a message note names, if it is a `file_note`.
pub fn parse_file_note(message: &[u8]) -> Option<(DeviceId, u64, String)> {
    let text = std::str::from_utf8(message).ok()?;
    let (id, path) = text.strip_prefix(FILE_NOTE_PREFIX)?.split_once(' ')?;
    let mut parts = id.split(':');
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    let ino = parts.next()?.parse().ok()?;
    Some((DeviceId::new(major, minor), ino, path.to_owned()))
}

const FILE_NOTE_PREFIX: &str = "file ";

/// What a recording says of a cgroup: its path, and its container's name when the runtime
/// named it (`NAMESPACE/POD/CONTAINER` for Kubernetes).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CgroupNote {
    pub path: String,
    pub container: Option<String>,
}

/// The message a recording names a container with: `container ID NAME`, after the cgroup's
/// own note.
pub fn container_note(id: u64, name: &str) -> Vec<u8> {
    format!("{CONTAINER_NOTE_PREFIX}{id} {name}").into_bytes()
}

/// The cgroup id and container name a message note names, if it is a `container_note`.
pub fn parse_container_note(message: &[u8]) -> Option<(u64, String)> {
    let text = std::str::from_utf8(message).ok()?;
    let (id, name) = text.strip_prefix(CONTAINER_NOTE_PREFIX)?.split_once(' ')?;
    Some((id.parse().ok()?, name.to_owned()))
}

const CONTAINER_NOTE_PREFIX: &str = "container ";

/// The message a recording names a cgroup with: `cgroup ID PATH`.
pub fn cgroup_note(id: u64, path: &str) -> Vec<u8> {
    format!("{CGROUP_NOTE_PREFIX}{id} {path}").into_bytes()
}

/// The cgroup id and path a message note names, if it is a `cgroup_note`.
pub fn parse_cgroup_note(message: &[u8]) -> Option<(u64, String)> {
    let text = std::str::from_utf8(message).ok()?;
    let (id, path) = text.strip_prefix(CGROUP_NOTE_PREFIX)?.split_once(' ')?;
    Some((id.parse().ok()?, path.to_owned()))
}

const CGROUP_NOTE_PREFIX: &str = "cgroup ";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::event::tests::sample_event;

    fn event(action: Action, cpu: u32, pid: u32) -> BlockIoEvent {
        BlockIoEvent {
            cpu,
            pid,
            tgid: pid,
            ..sample_event(action, 1000)
        }
    }

    #[test]
    fn actions_and_categories_are_the_kernels() {
        let q = trace_of(&event(Action::Queue, 0, 1), None);
        assert_eq!(
            q.header.action,
            act::QUEUE | ((category::QUEUE | category::WRITE | category::SYNC) << category::SHIFT)
        );
        let d = trace_of(&event(Action::Issue, 0, 1), None);
        assert_eq!(
            d.header.action >> category::SHIFT,
            category::ISSUE | category::WRITE | category::SYNC | category::FS
        );
        let mut unplug = event(Action::UnplugIo, 0, 1);
        unplug.depth = 3;
        let u = trace_of(&unplug, None);
        assert_eq!((u.header.bytes, u.payload_u64()), (0, 3));
        let mut failed = event(Action::Complete, 0, 0);
        failed.status = 10;
        assert_eq!(trace_of(&failed, None).header.error as i16, -5);
        let cg = trace_of(&event(Action::Queue, 0, 1), Some(5));
        assert_eq!(cg.cgroup(Endian::NATIVE).map(|c| c.id()), Some(5));
    }

    #[test]
    fn notes_come_before_a_tasks_first_event_and_sequences_are_per_cpu() {
        let mut r = Recorder::new(
            RecordSettings {
                cgroup_ids: false,
                ..RecordSettings::default()
            },
            Clocks {
                wall_ns: 1_700_000_000_000_000_000,
                monotonic_ns: 0,
            },
        );
        let first = r.records(&event(Action::Queue, 1, 42), 5, &mut |_| None);
        let kinds: Vec<u32> = first.iter().map(|t| t.header.action).collect();
        assert_eq!(kinds[..2], [notify::TIMESTAMP, notify::PROCESS]);
        let stamp = first[0].payload();
        let secs = u32::from_ne_bytes([stamp[0], stamp[1], stamp[2], stamp[3]]);
        let nanos = u32::from_ne_bytes([stamp[4], stamp[5], stamp[6], stamp[7]]);
        assert_eq!(
            (secs, nanos),
            (1_700_000_000, 1000),
            "the wall clock at the event"
        );
        assert_eq!(first[1].payload_text(), b"dd");
        assert_eq!(first[2].header.sequence, 1);
        let again = r.records(&event(Action::Issue, 1, 42), 5, &mut |_| None);
        assert_eq!(again.len(), 1, "no second note for the task");
        assert_eq!(again[0].header.sequence, 2);
        let other_cpu = r.records(&event(Action::Complete, 0, 0), 5, &mut |_| None);
        assert_eq!(other_cpu.last().unwrap().header.sequence, 1);
        assert_eq!(r.counts()[&1].events, 2);

        let mut only_completions = Recorder::new(
            RecordSettings {
                act_mask: category::COMPLETE,
                cgroup_ids: false,
            },
            Clocks {
                wall_ns: 0,
                monotonic_ns: 0,
            },
        );
        assert!(
            only_completions
                .records(&event(Action::Queue, 0, 1), 5, &mut |_| None)
                .is_empty()
        );
        let c = only_completions.records(&event(Action::Complete, 0, 1), 5, &mut |_| None);
        assert_eq!(c.len(), 1, "no notes outside the mask: {c:?}");
    }

    #[test]
    fn a_request_without_a_sector_is_recorded_at_0_as_the_kernel_does() {
        let mut flush = event(Action::Issue, 0, 1);
        flush.sector = u64::MAX;
        assert_eq!(trace_of(&flush, None).header.sector, 0);
        let read = event(Action::Issue, 0, 1);
        assert_eq!(trace_of(&read, None).header.sector, read.sector);
    }

    #[test]
    fn a_cgroup_is_named_once_before_its_first_event() {
        let mut r = Recorder::new(
            RecordSettings {
                cgroup_ids: true,
                ..RecordSettings::default()
            },
            Clocks {
                wall_ns: 0,
                monotonic_ns: 0,
            },
        );
        let mut asked = Vec::new();
        let mut path_of = |id: u64| {
            asked.push(id);
            (id == 5).then(|| CgroupNote {
                path: "/system.slice/docker-ab.scope".to_owned(),
                container: Some("web".to_owned()),
            })
        };
        let first = r.records(&event(Action::Queue, 0, 1), 5, &mut path_of);
        let note = first
            .iter()
            .find(|t| t.header.action & !act::CGROUP == notify::MESSAGE)
            .expect("a cgroup note");
        assert_eq!(note.cgroup(Endian::NATIVE).map(|c| c.id()), Some(5));
        assert_eq!(
            parse_cgroup_note(note.payload_text()),
            Some((5, "/system.slice/docker-ab.scope".to_owned()))
        );
        let named = first
            .iter()
            .filter_map(|t| parse_container_note(t.payload_text()))
            .collect::<Vec<_>>();
        assert_eq!(
            named,
            [(5, "web".to_owned())],
            "the container's name follows"
        );
        let again = r.records(&event(Action::Issue, 0, 1), 5, &mut path_of);
        assert_eq!(again.len(), 1, "named once");
        let unknown = r.records(&event(Action::Queue, 0, 2), 7, &mut path_of);
        assert!(
            unknown
                .iter()
                .all(|t| t.header.action & !act::CGROUP != notify::MESSAGE)
        );
        r.records(&event(Action::Queue, 0, 3), 7, &mut path_of);
        assert_eq!(asked, [5, 7], "each cgroup asked once");
        assert_eq!(parse_cgroup_note(b"something else"), None);
    }
}
