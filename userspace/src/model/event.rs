//! The block event model every event view consumes: decoded from the probes' raw
//! [`BlockEvent`]s (live) and, later, from blktrace records (recordings), so that one view
//! code path serves both.

use std::{collections::HashMap, fmt};

use blkscope_common::{
    BlockAction, BlockEvent, BlockEventExtra, BlockEventFull,
    block_events::{EVENT_BDEV_PAGES, EVENT_COMM, EVENT_FILE, EVENT_FROM_BIO},
};
use foldhash::fast::RandomState as FastHash;
use serde::Serialize;

use crate::model::comm::Comm;

/// A block device number (`major:minor`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct DeviceId {
    pub major: u32,
    pub minor: u32,
}

impl DeviceId {
    pub const fn new(major: u32, minor: u32) -> Self {
        Self { major, minor }
    }

    /// From the kernel's internal `dev_t` encoding (`major << 20 | minor`), which the probes
    /// and blktrace records use.
    pub const fn from_kernel(dev: u32) -> Self {
        Self::new(dev >> 20, dev & 0xf_ffff)
    }

    pub const fn to_kernel(self) -> u32 {
        (self.major << 20) | (self.minor & 0xf_ffff)
    }

    /// From a userspace `st_rdev` (glibc encoding).
    pub fn from_rdev(rdev: u64) -> Self {
        Self::new(libc::major(rdev), libc::minor(rdev))
    }
}

impl fmt::Display for DeviceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{},{}", self.major, self.minor)
    }
}

/// Bit positions of the operation and flags in the kernel's `blk_opf_t`, read from BTF.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RequestFlagBits {
    /// Number of low bits that hold the operation (`REQ_OP_BITS`).
    pub op_bits: u32,
    pub op_read: u32,
    pub op_write: u32,
    pub op_flush: u32,
    pub op_discard: u32,
    pub op_secure_erase: u32,
    pub op_write_zeroes: u32,
    pub op_drv_in: u32,
    pub op_drv_out: u32,
    pub sync: u32,
    pub meta: u32,
    pub fua: u32,
    pub preflush: u32,
    pub readahead: u32,
    pub background: Option<u32>,
    pub nowait: Option<u32>,
    pub priority: Option<u32>,
    pub idle: Option<u32>,
    pub nomerge: Option<u32>,
}

/// What an I/O does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Operation {
    Read,
    Write,
    Flush,
    Discard,
    SecureErase,
    WriteZeroes,
    DriverIn,
    DriverOut,
    /// An operation without a name here (zone management and the like): the raw `REQ_OP_*`.
    Other(u32),
}

/// The request flags the views show (the rest of `blk_opf_t` is dropped).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize)]
pub struct OpFlags {
    pub sync: bool,
    pub meta: bool,
    pub fua: bool,
    pub preflush: bool,
    pub readahead: bool,
    pub background: bool,
    pub nowait: bool,
    pub priority: bool,
    pub idle: bool,
}

/// The layout of Linux 6.x (include/linux/blk_types.h): what BTF gives on these machines, and
/// the layout recordings' flags are packed in (`latency::RECORDED_FLAG_BITS`).
pub const LINUX6_FLAG_BITS: RequestFlagBits = RequestFlagBits {
    op_bits: 8,
    op_read: 0,
    op_write: 1,
    op_flush: 2,
    op_discard: 3,
    op_secure_erase: 5,
    op_write_zeroes: 9,
    op_drv_in: 34,
    op_drv_out: 35,
    sync: 11,
    meta: 12,
    fua: 17,
    preflush: 18,
    readahead: 19,
    background: Some(20),
    nowait: Some(21),
    priority: Some(13),
    idle: Some(15),
    nomerge: Some(14),
};

impl RequestFlagBits {
    pub fn operation(&self, opf: u32) -> Operation {
        let op = opf & ((1u32 << self.op_bits.min(31)) - 1);
        match op {
            o if o == self.op_read => Operation::Read,
            o if o == self.op_write => Operation::Write,
            o if o == self.op_flush => Operation::Flush,
            o if o == self.op_discard => Operation::Discard,
            o if o == self.op_secure_erase => Operation::SecureErase,
            o if o == self.op_write_zeroes => Operation::WriteZeroes,
            o if o == self.op_drv_in => Operation::DriverIn,
            o if o == self.op_drv_out => Operation::DriverOut,
            o => Operation::Other(o),
        }
    }

    pub fn flags(&self, opf: u32) -> OpFlags {
        let set = |bit: u32| bit < 32 && opf & (1 << bit) != 0;
        let maybe = |bit: Option<u32>| bit.is_some_and(set);
        OpFlags {
            sync: set(self.sync),
            meta: set(self.meta),
            fua: set(self.fua),
            preflush: set(self.preflush),
            readahead: set(self.readahead),
            background: maybe(self.background),
            nowait: maybe(self.nowait),
            priority: maybe(self.priority),
            idle: maybe(self.idle),
        }
    }
}

/// The kernel's `rwbs` string for an operation and its flags (as `blk_fill_rwbs` builds it for
/// the block tracepoints): `F` for a preflush, the operation letter, then `F`ua, read`A`head,
/// `S`ync, `M`eta.
pub fn rwbs(op: Operation, flags: OpFlags) -> String {
    let mut s = String::with_capacity(6);
    if flags.preflush {
        s.push('F');
    }
    s.push_str(match op {
        Operation::Write => "W",
        Operation::Discard => "D",
        Operation::SecureErase => "DE",
        Operation::Flush => "F",
        Operation::Read => "R",
        _ => "N",
    });
    for (on, letter) in [
        (flags.fua, 'F'),
        (flags.readahead, 'A'),
        (flags.sync, 'S'),
        (flags.meta, 'M'),
    ] {
        if on {
            s.push(letter);
        }
    }
    s
}

/// One decoded block-layer event.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct BlockIoEvent {
    /// CLOCK_MONOTONIC nanoseconds.
    pub time_ns: u64,
    pub cpu: u32,
    pub action: Action,
    /// The whole disk.
    pub device: DeviceId,
    pub sector: u64,
    pub bytes: u32,
    pub op: Operation,
    pub flags: OpFlags,
    /// Complete: the kernel's `blk_status_t` (0 = success).
    pub status: u8,
    /// Thread id of the task running when the event fired (blktrace's pid).
    pub pid: u32,
    pub tgid: u32,
    pub comm: Comm,
    /// cgroup v2 id of the running task.
    pub cgroup_id: u64,
    /// cgroup id of the bio's owner (blkcg), 0 when none.
    pub bio_cgroup_id: u64,
    /// Opaque identity of the request (or bio, `from_bio`) in flight.
    pub request_id: u64,
    pub from_bio: bool,
    /// Remap: where the I/O came from (device, sector).
    pub remapped_from: Option<(DeviceId, u64)>,
    /// Split: first sector of the split-off part.
    pub split_sector: Option<u64>,
    /// Unplug: requests flushed.
    pub depth: u32,
    /// Queue, with `--file`: the file whose data the bio carries.
    pub file: Option<IoFile>,
}

/// What a bio carries, when the probes were asked (`--file`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum IoFile {
    /// A file's data: its inode on the file system of `dev` (`st_dev`).
    Inode { dev: DeviceId, ino: u64 },
    /// The block device's own pages: file-system metadata or a journal, or a raw read.
    DevicePages,
}

/// [`BlockAction`] for the views: serializable, with blktrace's letters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Queue,
    BackMerge,
    FrontMerge,
    GetRequest,
    Requeue,
    Issue,
    Complete,
    Plug,
    UnplugIo,
    UnplugTimer,
    Insert,
    Split,
    Remap,
    RequestMerge,
}

impl Action {
    /// blktrace's one- or two-letter code (`Q`, `G`, `D`, `C`, `UT`...); request merges are
    /// logged by blktrace as back merges (`M`).
    pub fn letters(self) -> &'static str {
        match self {
            Action::Queue => "Q",
            Action::BackMerge | Action::RequestMerge => "M",
            Action::FrontMerge => "F",
            Action::GetRequest => "G",
            Action::Requeue => "R",
            Action::Issue => "D",
            Action::Complete => "C",
            Action::Plug => "P",
            Action::UnplugIo => "U",
            Action::UnplugTimer => "UT",
            Action::Insert => "I",
            Action::Split => "X",
            Action::Remap => "A",
        }
    }
}

impl From<BlockAction> for Action {
    fn from(a: BlockAction) -> Self {
        match a {
            BlockAction::Queue => Action::Queue,
            BlockAction::BackMerge => Action::BackMerge,
            BlockAction::FrontMerge => Action::FrontMerge,
            BlockAction::GetRequest => Action::GetRequest,
            BlockAction::Requeue => Action::Requeue,
            BlockAction::Issue => Action::Issue,
            BlockAction::Complete => Action::Complete,
            BlockAction::Plug => Action::Plug,
            BlockAction::UnplugIo => Action::UnplugIo,
            BlockAction::UnplugTimer => Action::UnplugTimer,
            BlockAction::Insert => Action::Insert,
            BlockAction::Split => Action::Split,
            BlockAction::Remap => Action::Remap,
            BlockAction::RequestMerge => Action::RequestMerge,
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DecodeError {
    #[error(
        "ring buffer record of {0} bytes, expected {base} or {full}",
        base = BlockEvent::SIZE,
        full = BlockEventFull::SIZE
    )]
    Size(usize),
    #[error("unknown block action code {0}")]
    UnknownAction(u8),
}

/// A probe's ring-buffer record, checked but not decoded (its extension zeroed when it came
/// without one): what `record` writes blktrace records from, with the kernel's flag bits to
/// read its operation.
#[derive(Clone, Copy, Debug)]
pub struct ProbeRecord<'a> {
    pub event: BlockEventFull,
    pub action: Action,
    pub bits: &'a RequestFlagBits,
}

/// The record in `bytes` (a [`BlockEvent`] or a [`BlockEventFull`]), and whether it had its
/// extension.
fn probe_event(bytes: &[u8]) -> Result<(BlockEventFull, bool), DecodeError> {
    // SAFETY (both reads): the length matches and the records are plain data valid for any
    // bit pattern; read_unaligned because ring-buffer records are only 8-byte aligned by
    // contract.
    match bytes.len() {
        BlockEvent::SIZE => {
            let base = unsafe { std::ptr::read_unaligned(bytes.as_ptr().cast::<BlockEvent>()) };
            let extra = BlockEventExtra {
                aux_sector: 0,
                bio_cgroup_id: 0,
                aux_dev: 0,
                _pad: 0,
                comm: [0; 16],
            };
            Ok((BlockEventFull { base, extra }, false))
        }
        BlockEventFull::SIZE => {
            let full = unsafe { std::ptr::read_unaligned(bytes.as_ptr().cast::<BlockEventFull>()) };
            Ok((full, true))
        }
        other => Err(DecodeError::Size(other)),
    }
}

/// Turns the probes' raw records into [`BlockIoEvent`]s. The probes send a task's name only
/// when it is not the one its CPU sent last: the decoder keeps the names it saw, by thread,
/// for the records that leave it out (records are decoded in the order they were written).
#[derive(Clone, Debug)]
pub struct EventDecoder {
    bits: RequestFlagBits,
    names: HashMap<u32, Comm, FastHash>,
}

impl EventDecoder {
    pub fn new(bits: RequestFlagBits) -> Self {
        Self {
            bits,
            names: HashMap::default(),
        }
    }

    /// Decodes one ring-buffer record (the bytes of a [`BlockEvent`] or a [`BlockEventFull`]).
    pub fn decode_bytes(&mut self, bytes: &[u8]) -> Result<BlockIoEvent, DecodeError> {
        let (raw, extended) = probe_event(bytes)?;
        self.decode(&raw.base, extended.then_some(&raw.extra))
    }

    /// One ring-buffer record as it came, for a reader that needs none of the decoding.
    pub fn probe_record(&self, bytes: &[u8]) -> Result<ProbeRecord<'_>, DecodeError> {
        let (event, _) = probe_event(bytes)?;
        let action = BlockAction::from_u8(event.base.action)
            .ok_or(DecodeError::UnknownAction(event.base.action))?;
        Ok(ProbeRecord {
            event,
            action: action.into(),
            bits: &self.bits,
        })
    }

    pub fn decode(
        &mut self,
        raw: &BlockEvent,
        extra: Option<&BlockEventExtra>,
    ) -> Result<BlockIoEvent, DecodeError> {
        let action =
            BlockAction::from_u8(raw.action).ok_or(DecodeError::UnknownAction(raw.action))?;
        let comm = match extra {
            Some(extra) if raw.flags & EVENT_COMM != 0 => {
                let comm = Comm::from_kernel(&extra.comm);
                self.names.insert(raw.pid, comm);
                comm
            }
            // Not known only when the record that named the task was lost.
            _ => self.names.get(&raw.pid).copied().unwrap_or_default(),
        };
        let extra = extra.copied().unwrap_or(BlockEventExtra {
            aux_sector: 0,
            bio_cgroup_id: 0,
            aux_dev: 0,
            _pad: 0,
            comm: [0; 16],
        });
        Ok(BlockIoEvent {
            time_ns: raw.timestamp_ns,
            cpu: raw.cpu,
            action: action.into(),
            device: DeviceId::from_kernel(raw.dev),
            sector: raw.sector,
            bytes: raw.bytes,
            op: self.bits.operation(raw.op_flags),
            flags: self.bits.flags(raw.op_flags),
            status: raw.status,
            pid: raw.pid,
            tgid: raw.tgid,
            comm,
            cgroup_id: raw.cgroup_id,
            bio_cgroup_id: extra.bio_cgroup_id,
            request_id: raw.request_id,
            from_bio: raw.flags & EVENT_FROM_BIO != 0,
            remapped_from: (action == BlockAction::Remap)
                .then(|| (DeviceId::from_kernel(extra.aux_dev), extra.aux_sector)),
            split_sector: (action == BlockAction::Split).then_some(extra.aux_sector),
            depth: raw.depth,
            file: if action != BlockAction::Queue {
                None
            } else if raw.flags & EVENT_FILE != 0 {
                Some(IoFile::Inode {
                    dev: DeviceId::from_kernel(extra.aux_dev),
                    ino: extra.aux_sector,
                })
            } else if raw.flags & EVENT_BDEV_PAGES != 0 {
                Some(IoFile::DevicePages)
            } else {
                None
            },
        })
    }
}

impl BlockIoEvent {
    /// Number of 512-byte sectors.
    pub fn sectors(&self) -> u64 {
        u64::from(self.bytes) / 512
    }

    /// The rwbs column; plug and unplug records carry no I/O and show `N`, as in blkparse.
    pub fn rwbs(&self) -> String {
        match self.action {
            Action::Plug | Action::UnplugIo | Action::UnplugTimer => "N".to_owned(),
            _ => rwbs(self.op, self.flags),
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn linux6_bits() -> RequestFlagBits {
        LINUX6_FLAG_BITS
    }

    /// A 4 KiB synchronous write of dd (pid 4242) at sector 2048 of 7,0, on CPU 1: tests
    /// change the fields they are about.
    pub(crate) fn sample_event(action: Action, time_ns: u64) -> BlockIoEvent {
        BlockIoEvent {
            time_ns,
            cpu: 1,
            action,
            device: DeviceId::new(7, 0),
            sector: 2048,
            bytes: 4096,
            op: Operation::Write,
            flags: OpFlags {
                sync: true,
                ..OpFlags::default()
            },
            status: 0,
            pid: 4242,
            tgid: 4242,
            comm: "dd".into(),
            cgroup_id: 1,
            bio_cgroup_id: 0,
            request_id: 1,
            from_bio: true,
            remapped_from: None,
            split_sector: None,
            depth: 0,
            file: None,
        }
    }

    fn raw(action: BlockAction, opf: u32) -> BlockEventFull {
        let mut comm = [0u8; 16];
        comm[..2].copy_from_slice(b"dd");
        BlockEventFull {
            base: BlockEvent {
                timestamp_ns: 5,
                sector: 2048,
                cgroup_id: 1,
                request_id: 0xffff_8880_0000_1000,
                bytes: 4096,
                dev: (7 << 20) | 3,
                op_flags: opf,
                pid: 42,
                tgid: 41,
                cpu: 1,
                depth: 0,
                action: action as u8,
                status: 0,
                flags: blkscope_common::block_events::EVENT_EXTENDED | EVENT_COMM,
                _pad: 0,
            },
            extra: BlockEventExtra {
                aux_sector: 7,
                bio_cgroup_id: 2,
                aux_dev: (259 << 20) | 1,
                _pad: 0,
                comm,
            },
        }
    }

    fn bytes_of<T>(record: &T) -> &[u8] {
        // SAFETY: the records are plain data without padding.
        unsafe { std::slice::from_raw_parts((record as *const T).cast::<u8>(), size_of::<T>()) }
    }

    #[test]
    fn decodes_device_comm_and_direction() {
        let mut decoder = EventDecoder::new(linux6_bits());
        let e = decoder
            .decode_bytes(bytes_of(&raw(BlockAction::Complete, 1 | 1 << 11)))
            .unwrap();
        assert_eq!(e.device, DeviceId::new(7, 3));
        assert_eq!(e.comm, "dd");
        assert_eq!(e.op, Operation::Write);
        assert!(e.flags.sync && !e.flags.fua);
        assert_eq!(e.rwbs(), "WS");
        assert_eq!(e.sectors(), 8);
        assert_eq!(e.remapped_from, None);
    }

    #[test]
    fn remap_carries_its_origin() {
        let mut decoder = EventDecoder::new(linux6_bits());
        let e = decoder
            .decode_bytes(bytes_of(&raw(BlockAction::Remap, 0)))
            .unwrap();
        assert_eq!(e.remapped_from, Some((DeviceId::new(259, 1), 7)));
        assert_eq!(e.action.letters(), "A");
    }

    #[test]
    fn rwbs_follows_the_kernel_order() {
        let bits = linux6_bits();
        let opf = 1 | 1 << 18 | 1 << 17 | 1 << 11 | 1 << 12;
        assert_eq!(rwbs(bits.operation(opf), bits.flags(opf)), "FWFSM");
        assert_eq!(rwbs(bits.operation(1 << 19), bits.flags(1 << 19)), "RA");
        assert_eq!(rwbs(bits.operation(2), bits.flags(2)), "F");
        assert_eq!(rwbs(bits.operation(5), bits.flags(5)), "DE");
        assert_eq!(rwbs(bits.operation(34), bits.flags(34)), "N");
    }

    #[test]
    fn bad_records_are_errors_not_panics() {
        let mut decoder = EventDecoder::new(linux6_bits());
        assert_eq!(decoder.decode_bytes(&[0u8; 10]), Err(DecodeError::Size(10)));
        let mut r = raw(BlockAction::Queue, 0);
        r.base.action = 99;
        assert_eq!(
            decoder.decode_bytes(bytes_of(&r)),
            Err(DecodeError::UnknownAction(99))
        );
    }

    #[test]
    fn a_task_named_once_keeps_its_name() {
        let mut decoder = EventDecoder::new(linux6_bits());
        let named = raw(BlockAction::Queue, 0);
        let mut issue = named.base;
        issue.action = BlockAction::Issue as u8;
        issue.flags = 0;
        let mut stranger = issue;
        stranger.pid = 7;
        // Before the record that names task 42 came through, its name is not known.
        assert_eq!(decoder.decode_bytes(bytes_of(&issue)).unwrap().comm, "");
        assert_eq!(decoder.decode_bytes(bytes_of(&named)).unwrap().comm, "dd");
        let e = decoder.decode_bytes(bytes_of(&issue)).unwrap();
        assert_eq!((e.comm.as_str(), e.pid), ("dd", 42));
        // A short record has no auxiliary fields.
        assert_eq!((e.bio_cgroup_id, e.remapped_from), (0, None));
        assert_eq!(decoder.decode_bytes(bytes_of(&stranger)).unwrap().comm, "");
        // An extended record without a name (a Q of a task named before) keeps the name.
        let mut split = named;
        split.base.action = BlockAction::Split as u8;
        split.base.flags = blkscope_common::block_events::EVENT_EXTENDED;
        split.extra.comm = [0; 16];
        let e = decoder.decode_bytes(bytes_of(&split)).unwrap();
        assert_eq!((e.comm.as_str(), e.split_sector), ("dd", Some(7)));
    }

    #[test]
    fn device_encodings_round_trip() {
        let d = DeviceId::new(259, 70000);
        assert_eq!(DeviceId::from_kernel(d.to_kernel()), d);
        assert_eq!(d.to_string(), "259,70000");
    }
}
