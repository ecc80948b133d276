//! The blktrace binary format: `struct blk_io_trace` (48 bytes) and its payloads.
//!
//! A trace file is a sequence of records, each a 48-byte header followed by `pdu_len` bytes of
//! payload. Files are in the byte order of the machine that recorded them; the magic tells which.
//! Payload integers (the unplug depth, the split sector, the remap record) are big endian
//! whatever the file's order, as the kernel writes them.

/// The magic in the high 24 bits of `magic`; the low 8 bits are the version.
pub const MAGIC: u32 = 0x6561_7400;
/// The only version the kernel has written since 2.6.
pub const VERSION: u32 = 0x07;
/// Linux's largest NR_CPUS is 8192; a CPU field beyond this is corruption (and must not make a
/// reader allocate per-CPU state for billions of CPUs).
pub const MAX_CPUS: u32 = 65536;
/// Size of the header.
pub const HEADER_LEN: usize = 48;

/// Category bits, stored in the high 16 bits of `action`.
pub mod category {
    pub const READ: u32 = 1 << 0;
    pub const WRITE: u32 = 1 << 1;
    pub const FLUSH: u32 = 1 << 2;
    pub const SYNC: u32 = 1 << 3;
    pub const QUEUE: u32 = 1 << 4;
    pub const REQUEUE: u32 = 1 << 5;
    pub const ISSUE: u32 = 1 << 6;
    pub const COMPLETE: u32 = 1 << 7;
    pub const FS: u32 = 1 << 8;
    pub const PC: u32 = 1 << 9;
    pub const NOTIFY: u32 = 1 << 10;
    pub const AHEAD: u32 = 1 << 11;
    pub const META: u32 = 1 << 12;
    pub const DISCARD: u32 = 1 << 13;
    pub const DRV_DATA: u32 = 1 << 14;
    pub const FUA: u32 = 1 << 15;
    /// How far the categories are shifted in `action`.
    pub const SHIFT: u32 = 16;

    /// Names as blkparse's `-a` takes them (also with a `BLK_TC_` prefix), in bit order.
    pub const NAMES: [(&str, u32); 16] = [
        ("READ", READ),
        ("WRITE", WRITE),
        ("FLUSH", FLUSH),
        ("SYNC", SYNC),
        ("QUEUE", QUEUE),
        ("REQUEUE", REQUEUE),
        ("ISSUE", ISSUE),
        ("COMPLETE", COMPLETE),
        ("FS", FS),
        ("PC", PC),
        ("NOTIFY", NOTIFY),
        ("AHEAD", AHEAD),
        ("META", META),
        ("DISCARD", DISCARD),
        ("DRV_DATA", DRV_DATA),
        ("FUA", FUA),
    ];

    /// The category bits of an action word.
    pub const fn of(action: u32) -> u32 {
        action >> SHIFT
    }
}

/// Basic actions, in the low 16 bits of `action`.
pub mod act {
    pub const QUEUE: u32 = 1;
    pub const BACKMERGE: u32 = 2;
    pub const FRONTMERGE: u32 = 3;
    pub const GETRQ: u32 = 4;
    pub const SLEEPRQ: u32 = 5;
    pub const REQUEUE: u32 = 6;
    pub const ISSUE: u32 = 7;
    pub const COMPLETE: u32 = 8;
    pub const PLUG: u32 = 9;
    pub const UNPLUG_IO: u32 = 10;
    pub const UNPLUG_TIMER: u32 = 11;
    pub const INSERT: u32 = 12;
    pub const SPLIT: u32 = 13;
    pub const BOUNCE: u32 = 14;
    pub const REMAP: u32 = 15;
    pub const ABORT: u32 = 16;
    pub const DRV_DATA: u32 = 17;
    /// Set (since Linux 4.14) when the payload starts with the issuing cgroup's 8-byte id.
    pub const CGROUP: u32 = 1 << 8;
}

/// Notify actions (category NOTIFY): not I/O, but facts about the trace.
pub mod notify {
    use super::category;
    pub const PROCESS: u32 = category::NOTIFY << category::SHIFT;
    pub const TIMESTAMP: u32 = 1 | (category::NOTIFY << category::SHIFT);
    pub const MESSAGE: u32 = 2 | (category::NOTIFY << category::SHIFT);
}

/// Byte order of a trace file, told by its first record's magic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endian {
    Little,
    Big,
}

impl Endian {
    /// The order of the machine we run on (files written here are in it).
    pub const NATIVE: Endian = if cfg!(target_endian = "little") {
        Endian::Little
    } else {
        Endian::Big
    };

    /// Which order makes `raw` (the first four bytes of a record) a blktrace magic.
    pub fn detect(raw: [u8; 4]) -> Option<Endian> {
        if u32::from_le_bytes(raw) & 0xffff_ff00 == MAGIC {
            Some(Endian::Little)
        } else if u32::from_be_bytes(raw) & 0xffff_ff00 == MAGIC {
            Some(Endian::Big)
        } else {
            None
        }
    }

    fn u16(self, b: &[u8]) -> u16 {
        let a = [b[0], b[1]];
        match self {
            Endian::Little => u16::from_le_bytes(a),
            Endian::Big => u16::from_be_bytes(a),
        }
    }

    pub(crate) fn u32(self, b: &[u8]) -> u32 {
        let a = [b[0], b[1], b[2], b[3]];
        match self {
            Endian::Little => u32::from_le_bytes(a),
            Endian::Big => u32::from_be_bytes(a),
        }
    }

    pub(crate) fn u64(self, b: &[u8]) -> u64 {
        let mut a = [0u8; 8];
        a.copy_from_slice(&b[..8]);
        match self {
            Endian::Little => u64::from_le_bytes(a),
            Endian::Big => u64::from_be_bytes(a),
        }
    }

    #[inline]
    fn put_u16(self, v: u16) -> [u8; 2] {
        match self {
            Endian::Little => v.to_le_bytes(),
            Endian::Big => v.to_be_bytes(),
        }
    }

    #[inline]
    fn put_u32(self, v: u32) -> [u8; 4] {
        match self {
            Endian::Little => v.to_le_bytes(),
            Endian::Big => v.to_be_bytes(),
        }
    }

    #[inline]
    fn put_u64(self, v: u64) -> [u8; 8] {
        match self {
            Endian::Little => v.to_le_bytes(),
            Endian::Big => v.to_be_bytes(),
        }
    }
}

/// One `struct blk_io_trace`, in host order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TraceHeader {
    /// MAGIC | version.
    pub magic: u32,
    /// Per-CPU event number, from 1.
    pub sequence: u32,
    /// Nanoseconds.
    pub time: u64,
    /// 512-byte sector.
    pub sector: u64,
    pub bytes: u32,
    /// Basic action in the low 16 bits, categories in the high 16.
    pub action: u32,
    pub pid: u32,
    /// The kernel's dev_t: major << 20 | minor.
    pub device: u32,
    pub cpu: u32,
    pub error: u16,
    pub pdu_len: u16,
}

impl TraceHeader {
    /// Decodes 48 bytes in the given order.
    pub fn decode(b: &[u8; HEADER_LEN], e: Endian) -> TraceHeader {
        TraceHeader {
            magic: e.u32(&b[0..]),
            sequence: e.u32(&b[4..]),
            time: e.u64(&b[8..]),
            sector: e.u64(&b[16..]),
            bytes: e.u32(&b[24..]),
            action: e.u32(&b[28..]),
            pid: e.u32(&b[32..]),
            device: e.u32(&b[36..]),
            cpu: e.u32(&b[40..]),
            error: e.u16(&b[44..]),
            pdu_len: e.u16(&b[46..]),
        }
    }

    /// The 48 bytes of this header in the given order.
    // Inlined: with `Endian::NATIVE` the byte order is known where it is called, and the
    // recorder encodes a header per event.
    #[inline]
    pub fn encode(&self, e: Endian) -> [u8; HEADER_LEN] {
        let mut b = [0u8; HEADER_LEN];
        b[0..4].copy_from_slice(&e.put_u32(self.magic));
        b[4..8].copy_from_slice(&e.put_u32(self.sequence));
        b[8..16].copy_from_slice(&e.put_u64(self.time));
        b[16..24].copy_from_slice(&e.put_u64(self.sector));
        b[24..28].copy_from_slice(&e.put_u32(self.bytes));
        b[28..32].copy_from_slice(&e.put_u32(self.action));
        b[32..36].copy_from_slice(&e.put_u32(self.pid));
        b[36..40].copy_from_slice(&e.put_u32(self.device));
        b[40..44].copy_from_slice(&e.put_u32(self.cpu));
        b[44..46].copy_from_slice(&e.put_u16(self.error));
        b[46..48].copy_from_slice(&e.put_u16(self.pdu_len));
        b
    }

    /// Whether the magic is blktrace's (any version).
    pub fn has_magic(&self) -> bool {
        self.magic & 0xffff_ff00 == MAGIC
    }

    pub fn version(&self) -> u32 {
        self.magic & 0xff
    }

    /// The basic action without the cgroup flag.
    pub fn basic_action(&self) -> u32 {
        self.action & 0xffff & !act::CGROUP
    }

    /// Whether the category bit `cat` (a `category::*`) is set.
    pub fn is(&self, cat: u32) -> bool {
        self.action & (cat << category::SHIFT) != 0
    }

    /// Whether this is a notify record other than a message (process name, timestamp).
    pub fn is_notify(&self) -> bool {
        self.is(category::NOTIFY)
    }

    /// Whether this is a message notify (with or without a cgroup id).
    pub fn is_message(&self) -> bool {
        self.action & !act::CGROUP == notify::MESSAGE
    }

    pub fn has_cgroup(&self) -> bool {
        self.action & act::CGROUP != 0
    }

    pub fn is_write(&self) -> bool {
        self.is(category::WRITE)
    }

    pub fn major(&self) -> u32 {
        major(self.device)
    }

    pub fn minor(&self) -> u32 {
        minor(self.device)
    }

    /// Length in 512-byte sectors.
    pub fn sectors(&self) -> u32 {
        self.bytes >> 9
    }
}

/// Major of a kernel dev_t (20-bit minor).
pub const fn major(dev: u32) -> u32 {
    dev >> 20
}

/// Minor of a kernel dev_t.
pub const fn minor(dev: u32) -> u32 {
    dev & ((1 << 20) - 1)
}

/// The kernel's dev_t for a major and minor.
pub const fn make_dev(major: u32, minor: u32) -> u32 {
    (major << 20) | (minor & ((1 << 20) - 1))
}

/// One record: header and payload.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Trace {
    pub header: TraceHeader,
    pub pdu: Vec<u8>,
}

/// A remap record (`struct blk_io_trace_remap`), big endian in the payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Remap {
    pub device_from: u32,
    pub device_to: u32,
    pub sector_from: u64,
}

impl Remap {
    pub const LEN: usize = 16;

    pub fn decode(pdu: &[u8]) -> Option<Remap> {
        let b = pdu.get(..Self::LEN)?;
        Some(Remap {
            device_from: Endian::Big.u32(&b[0..]),
            device_to: Endian::Big.u32(&b[4..]),
            sector_from: Endian::Big.u64(&b[8..]),
        })
    }

    pub fn encode(&self) -> [u8; Self::LEN] {
        let mut b = [0u8; Self::LEN];
        b[0..4].copy_from_slice(&self.device_from.to_be_bytes());
        b[4..8].copy_from_slice(&self.device_to.to_be_bytes());
        b[8..16].copy_from_slice(&self.sector_from.to_be_bytes());
        b
    }
}

/// The cgroup id at the start of the payload of records with `act::CGROUP`: the cgroup's
/// inode number (low 32 bits) and generation (high 32 bits), a u64 in the file's byte order
/// (the kernel copies its u64 as is).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CgroupId {
    pub ino: u32,
    pub generation: u32,
}

impl CgroupId {
    pub const LEN: usize = 8;

    pub fn decode(pdu: &[u8], e: Endian) -> Option<CgroupId> {
        let b = pdu.get(..Self::LEN)?;
        Some(CgroupId::from_id(e.u64(b)))
    }

    /// The 64-bit id as the kernel and bpf_get_current_cgroup_id() see it.
    pub fn id(&self) -> u64 {
        (u64::from(self.generation) << 32) | u64::from(self.ino)
    }

    pub fn from_id(id: u64) -> CgroupId {
        CgroupId {
            ino: id as u32,
            generation: (id >> 32) as u32,
        }
    }

    pub fn encode(&self, e: Endian) -> [u8; Self::LEN] {
        e.put_u64(self.id())
    }
}

impl Trace {
    /// The cgroup id, when the record carries one.
    pub fn cgroup(&self, e: Endian) -> Option<CgroupId> {
        if self.header.has_cgroup() {
            CgroupId::decode(&self.pdu, e)
        } else {
            None
        }
    }

    /// The payload after the cgroup id, if any.
    pub fn payload(&self) -> &[u8] {
        if self.header.has_cgroup() {
            self.pdu.get(CgroupId::LEN..).unwrap_or(&[])
        } else {
            &self.pdu
        }
    }

    /// The big-endian u64 payload of unplug (queue depth) and split (new sector) records;
    /// 0 when the payload is too short, as the tools print.
    pub fn payload_u64(&self) -> u64 {
        self.payload()
            .get(..8)
            .map(|b| Endian::Big.u64(b))
            .unwrap_or(0)
    }

    pub fn remap(&self) -> Option<Remap> {
        Remap::decode(self.payload())
    }

    /// The payload as C text, up to its first NUL: a process-name notify's name, a message's
    /// text.
    pub fn payload_text(&self) -> &[u8] {
        let p = self.payload();
        let end = p.iter().position(|&c| c == 0).unwrap_or(p.len());
        &p[..end]
    }

    /// The whole record in the given byte order (pdu_len taken from the payload).
    pub fn encode(&self, e: Endian) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEADER_LEN + self.pdu.len());
        out.extend_from_slice(&self.encoded_header(e));
        out.extend_from_slice(&self.pdu);
        out
    }

    /// The record written straight into `out` (a buffered writer): no allocation per record.
    pub fn write_to(&self, e: Endian, out: &mut impl std::io::Write) -> std::io::Result<()> {
        out.write_all(&self.encoded_header(e))?;
        out.write_all(&self.pdu)
    }

    fn encoded_header(&self, e: Endian) -> [u8; HEADER_LEN] {
        let mut header = self.header;
        header.pdu_len = self.pdu.len() as u16;
        header.encode(e)
    }
}

/// The rwbs string blkparse prints (`R`, `WS`, `FWFSM`, `D`, `N`...).
pub fn rwbs(h: &TraceHeader) -> RwbsBuf {
    let mut out = RwbsBuf::default();
    if h.is(category::FLUSH) {
        out.push(b'F');
    }
    if h.is(category::DISCARD) {
        out.push(b'D');
    } else if h.is(category::WRITE) {
        out.push(b'W');
    } else if h.bytes != 0 {
        out.push(b'R');
    } else {
        out.push(b'N');
    }
    if h.is(category::FUA) {
        out.push(b'F');
    }
    if h.is(category::AHEAD) {
        out.push(b'A');
    }
    if h.is(category::SYNC) {
        out.push(b'S');
    }
    if h.is(category::META) {
        out.push(b'M');
    }
    out
}

/// A short string without allocation (rwbs is at most 6 letters).
#[derive(Debug, Default, Clone, Copy)]
pub struct RwbsBuf {
    buf: [u8; 8],
    len: usize,
}

impl RwbsBuf {
    fn push(&mut self, c: u8) {
        self.buf[self.len] = c;
        self.len += 1;
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }

    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.buf[..self.len]).unwrap_or("")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trips_in_both_orders() {
        let h = TraceHeader {
            magic: MAGIC | VERSION,
            sequence: 7,
            time: 123_456_789_012,
            sector: 1 << 40,
            bytes: 4096,
            action: act::QUEUE | ((category::QUEUE | category::WRITE) << category::SHIFT),
            pid: 4242,
            device: make_dev(259, 3),
            cpu: 3,
            error: 5,
            pdu_len: 0,
        };
        for e in [Endian::Little, Endian::Big] {
            let b = h.encode(e);
            assert_eq!(Endian::detect([b[0], b[1], b[2], b[3]]), Some(e));
            assert_eq!(TraceHeader::decode(&b, e), h);
        }
        assert_eq!(Endian::detect([0, 0, 0, 0]), None);
    }

    #[test]
    fn rwbs_matches_blkparse_letters() {
        let mut h = TraceHeader::default();
        let cats = |c: u32| c << category::SHIFT;
        h.action = cats(
            category::WRITE | category::FLUSH | category::FUA | category::SYNC | category::META,
        );
        assert_eq!(rwbs(&h).as_str(), "FWFSM");
        h.action = cats(category::DISCARD | category::WRITE);
        assert_eq!(rwbs(&h).as_str(), "D");
        h.action = 0;
        assert_eq!(rwbs(&h).as_str(), "N");
        h.bytes = 512;
        h.action = cats(category::AHEAD);
        assert_eq!(rwbs(&h).as_str(), "RA");
    }

    #[test]
    fn payload_skips_the_cgroup_id() {
        let mut t = Trace::default();
        t.header.action = act::UNPLUG_IO | act::CGROUP;
        t.pdu = CgroupId::from_id(0x0000_0002_0000_1234)
            .encode(Endian::Little)
            .to_vec();
        t.pdu.extend_from_slice(&5u64.to_be_bytes());
        assert_eq!(t.payload_u64(), 5);
        assert_eq!(
            t.cgroup(Endian::Little).map(|c| c.id()),
            Some(0x0000_0002_0000_1234)
        );
        assert_eq!(t.header.basic_action(), act::UNPLUG_IO);
    }
}
