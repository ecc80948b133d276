//! The parse itself: what blkparse does with each record once the records are in order
//! (accounting, I/O tracking, printing), independent of where the records come from.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;

use crate::blktrace::format::{Endian, Trace, act, category, major, minor, notify};

use super::events::{EventLine, FormatError, Formats, write_event};
use super::json;
use super::memory::{Block, FreedBlocks, HeldRecords, block_of_record};
use super::options::{BlkparseOptions, OutputKind};
use super::stats::{Account, IoStats, Waits};

/// A fast hash for pids (looked up for every event printed): murmur3's 64-bit finalizer.
#[derive(Default, Clone, Copy)]
pub struct PidHasher(u64);

impl std::hash::Hasher for PidHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(self.0 ^ u64::from(b));
        }
    }

    fn write_u32(&mut self, n: u32) {
        self.write_u64(u64::from(n));
    }

    fn write_u64(&mut self, n: u64) {
        let mut k = n ^ self.0;
        k ^= k >> 33;
        k = k.wrapping_mul(0xff51_afd7_ed55_8ccd);
        k ^= k >> 33;
        k = k.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        k ^= k >> 33;
        self.0 = k;
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

type PidHash = std::hash::BuildHasherDefault<PidHasher>;

/// One CPU of one device.
#[derive(Debug, Default, Clone)]
pub struct CpuInfo {
    /// Records seen (whether shown or not).
    pub nelems: u64,
    pub stats: IoStats,
    /// Sequence of the last record handed on (pipe mode), None before the first.
    pub last_sequence: Option<u64>,
    /// Sequence ranges found missing (pipe mode), oldest first.
    pub skips: Vec<(u64, u64)>,
}

/// One I/O being tracked (`-t`), keyed by its sector. A time not set yet holds what blkparse
/// 1.2's uncleared memory held (see `memory`).
#[derive(Debug, Default, Clone)]
struct IoTrack {
    pid: u32,
    allocation_time: u64,
    queue_time: u64,
    dispatch_time: u64,
    completion_time: u64,
}

impl IoTrack {
    /// A record made in reused memory.
    fn in_block(pid: u32, block: Block) -> IoTrack {
        let [allocation_time, queue_time, dispatch_time, completion_time] = block;
        IoTrack {
            pid,
            allocation_time,
            queue_time,
            dispatch_time,
            completion_time,
        }
    }

    /// The memory it leaves when freed.
    fn block(&self) -> Block {
        [
            self.allocation_time,
            self.queue_time,
            self.dispatch_time,
            self.completion_time,
        ]
    }
}

/// One device: an input name in file mode, a dev_t in pipe mode.
#[derive(Debug, Default)]
pub struct DevInfo {
    pub name: Option<String>,
    pub dev: u32,
    pub events: u64,
    pub first_reported_time: u64,
    pub last_reported_time: u64,
    pub max_depth: [u32; 2],
    cur_depth: [u32; 2],
    pub cpus: Vec<CpuInfo>,
    track: BTreeMap<u64, IoTrack>,
    /// Printed records blkparse still holds in memory (`-t` only).
    pub held: HeldRecords,
}

impl DevInfo {
    pub fn named(name: Option<String>, dev: u32) -> DevInfo {
        DevInfo {
            name,
            dev,
            ..Default::default()
        }
    }

    /// blkparse's `get_dev_name`: the input name, or "major,minor".
    pub fn display_name(&self) -> String {
        match &self.name {
            Some(n) => n.clone(),
            None => format!("{},{}", major(self.dev), minor(self.dev)),
        }
    }

    pub fn cpu(&mut self, cpu: u32) -> &mut CpuInfo {
        let i = cpu as usize;
        if i >= self.cpus.len() {
            self.cpus.resize_with(i + 1, CpuInfo::default);
        }
        &mut self.cpus[i]
    }
}

/// Per-process counters (`-s`).
#[derive(Debug, Clone)]
pub struct ProcInfo {
    pub pid: u32,
    pub name: Vec<u8>,
    pub stats: IoStats,
    pub waits: Waits,
    pub more_than_one: bool,
}

/// The state of a parse.
pub struct Engine {
    pub devices: Vec<DevInfo>,
    /// pid -> name, first name wins (blkparse never renames a pid).
    names: HashMap<u32, Vec<u8>, PidHash>,
    pub processes: Vec<ProcInfo>,
    by_pid: HashMap<u32, usize>,
    by_name: HashMap<Vec<u8>, usize>,
    /// Wall clock of trace time 0, from the timestamp notify.
    pub wall_start: (i64, i64),
    /// Raw trace time of the timestamp notify.
    pub start_timestamp: u64,
    pub have_drv_data: bool,
    formats: Formats,
    per_process: bool,
    hash_by_name: bool,
    track_ios: bool,
    /// `-t`: blkparse's freed memory that new tracking records reuse.
    freed: FreedBlocks,
    /// Whether notifies are freed once read (file mode; blkparse's pipe mode keeps them).
    pub frees_notifies: bool,
    verbose: u32,
    text_output: bool,
    json: bool,
    act_mask: u32,
    dump_messages: bool,
    /// Text waiting to be written.
    pub out: Vec<u8>,
    pub dump: Option<Box<dyn Write>>,
    pub endian: Endian,
}

impl Engine {
    pub fn new(o: &BlkparseOptions) -> Engine {
        Engine {
            devices: Vec::new(),
            names: HashMap::default(),
            processes: Vec::new(),
            by_pid: HashMap::new(),
            by_name: HashMap::new(),
            wall_start: (0, 0),
            start_timestamp: 0,
            have_drv_data: false,
            formats: Formats::new(&o.formats),
            per_process: o.per_process_stats,
            hash_by_name: o.hash_by_name,
            track_ios: o.track_ios,
            freed: FreedBlocks::default(),
            frees_notifies: false,
            verbose: o.verbose,
            text_output: o.text_output,
            json: o.kind == OutputKind::Json,
            act_mask: o.act_mask,
            dump_messages: o.dump_messages,
            out: Vec::with_capacity(1 << 17),
            dump: None,
            endian: Endian::NATIVE,
        }
    }

    /// A process-name or timestamp notify, applied when read.
    pub fn handle_notify(&mut self, t: &Trace) {
        match t.header.action & !act::CGROUP {
            notify::PROCESS => {
                let name = t.payload_text();
                let name = name[..name.len().min(15)].to_vec();
                self.names.entry(t.header.pid).or_insert(name);
            }
            notify::TIMESTAMP => {
                let p = t.payload();
                if p.len() == 8 {
                    let word = |b: &[u8]| {
                        let a = [b[0], b[1], b[2], b[3]];
                        match self.endian {
                            Endian::Little => u32::from_le_bytes(a),
                            Endian::Big => u32::from_be_bytes(a),
                        }
                    };
                    self.start_timestamp = t.header.time;
                    self.wall_start = (i64::from(word(&p[0..4])), i64::from(word(&p[4..8]) as i32));
                    if self.wall_start.1 < 0 {
                        self.wall_start.0 -= 1;
                        self.wall_start.1 += 1_000_000_000;
                    }
                }
            }
            _ => {}
        }
        if self.frees_notifies {
            self.free_record(t);
        }
        self.output_binary(t);
    }

    /// Whether `-t` times depend on blkparse's reuse of memory (they are printed).
    fn models_memory(&self) -> bool {
        self.track_ios && self.text_output
    }

    /// blkparse frees a record it read (a notify, or one outside the `-w` window in pipe
    /// mode): its memory may become a tracking record's.
    pub fn free_record(&mut self, t: &Trace) {
        if self.models_memory()
            && let Some(block) = block_of_record(t)
        {
            self.freed.give(block);
        }
    }

    /// A record of device `dev` was handed on (printed or not): blkparse holds it for a while
    /// before freeing it.
    pub fn hold_record(&mut self, t: &Trace, dev: usize, cpu: u32) {
        if self.models_memory() {
            self.devices[dev].held.hold(cpu, t, &mut self.freed);
        }
    }

    /// Whether the action mask lets this record through.
    pub fn shown(&self, t: &Trace) -> bool {
        t.header.action & (self.act_mask << category::SHIFT) != 0
    }

    /// blkparse's `dump_trace`: print and count one record of device `dev` on `cpu`.
    pub fn dump_trace(&mut self, t: &Trace, dev: usize, cpu: u32) -> Result<(), FormatError> {
        if self.text_output {
            if t.header.is_message() {
                self.message(t, dev);
            } else if t.header.is(category::PC) {
                self.dump_pc(t, dev, cpu)?;
            } else {
                self.dump_fs(t, dev, cpu)?;
            }
        }
        let d = &mut self.devices[dev];
        if d.events == 0 {
            d.first_reported_time = t.header.time;
        }
        d.events += 1;
        if self.dump_messages || !t.header.is_message() {
            self.output_binary(t);
        }
        Ok(())
    }

    /// `-d`: a record to the binary dump. A full disk or closed pipe stops the dump, as in
    /// blkparse; the text goes on.
    fn output_binary(&mut self, t: &Trace) {
        if let Some(d) = self.dump.as_mut()
            && let Err(e) = d.write_all(&t.encode(Endian::NATIVE))
        {
            eprintln!("blkparse: binary dump: {e}");
            self.dump = None;
        }
    }

    fn message(&mut self, t: &Trace, dev: usize) {
        let h = &t.header;
        if h.pdu_len == 0 {
            return;
        }
        if self.json {
            json::message(&mut self.out, t, &self.devices[dev]);
            return;
        }
        let cgroup = t.cgroup(self.endian);
        let text = t.payload_text();
        let _ = write!(
            self.out,
            "{:3},{:<3} {:2} {:>8} {:5}.{:09} {:5} ",
            major(h.device),
            minor(h.device),
            h.cpu,
            "0",
            (h.time / 1_000_000_000) as i32,
            h.time % 1_000_000_000,
            0
        );
        if let Some(cg) = cgroup {
            let _ = write!(self.out, "{:x},{:x} ", cg.ino, cg.generation);
        }
        let _ = write!(self.out, "{:>2} {:>3} ", "m", "N");
        self.out.extend_from_slice(text);
        self.out.push(b'\n');
    }

    fn dump_pc(&mut self, t: &Trace, dev: usize, cpu: u32) -> Result<(), FormatError> {
        let w = usize::from(t.header.is_write());
        let a = t.header.basic_action();
        let with_pdu = Some(t.payload());
        match a {
            act::QUEUE => {
                self.line(t, dev, cpu, "Q", None, None)?;
                self.account(t, dev, cpu, Account::PcQueue);
            }
            act::GETRQ => self.line(t, dev, cpu, "G", None, None)?,
            act::SLEEPRQ => self.line(t, dev, cpu, "S", None, None)?,
            act::REQUEUE => {
                self.depth_down(dev, w);
                self.account(t, dev, cpu, Account::PcRequeue);
                self.line(t, dev, cpu, "R", None, None)?;
            }
            act::ISSUE => {
                self.account(t, dev, cpu, Account::PcIssue);
                self.depth_up(dev, w);
                self.line(t, dev, cpu, "D", None, with_pdu)?;
            }
            act::COMPLETE => {
                self.depth_down(dev, w);
                self.line(t, dev, cpu, "C", None, with_pdu)?;
                self.account(t, dev, cpu, Account::PcComplete);
            }
            act::INSERT => self.line(t, dev, cpu, "I", None, with_pdu)?,
            _ => eprintln!("Bad pc action {a:x}"),
        }
        Ok(())
    }

    fn dump_fs(&mut self, t: &Trace, dev: usize, cpu: u32) -> Result<(), FormatError> {
        let w = usize::from(t.header.is_write());
        match t.header.basic_action() {
            act::QUEUE => {
                self.track_queue(t, dev);
                self.account(t, dev, cpu, Account::Queue);
                self.line(t, dev, cpu, "Q", None, None)?;
            }
            act::INSERT => {
                let el = self.track_insert(t, dev);
                self.line(t, dev, cpu, "I", el, None)?;
            }
            act::BACKMERGE => {
                self.account(t, dev, cpu, Account::Merge);
                self.line(t, dev, cpu, "M", None, None)?;
            }
            act::FRONTMERGE => {
                self.account(t, dev, cpu, Account::Merge);
                self.track_frontmerge(t, dev);
                self.line(t, dev, cpu, "F", None, None)?;
            }
            act::GETRQ => {
                self.track_getrq(t, dev);
                self.line(t, dev, cpu, "G", None, None)?;
            }
            act::SLEEPRQ => self.line(t, dev, cpu, "S", None, None)?,
            act::REQUEUE => {
                self.depth_down(dev, w);
                self.account(t, dev, cpu, Account::Requeue);
                self.line(t, dev, cpu, "R", None, None)?;
            }
            act::ISSUE => {
                self.account(t, dev, cpu, Account::Issue);
                self.depth_up(dev, w);
                let el = self.track_issue(t, dev);
                self.line(t, dev, cpu, "D", el, None)?;
            }
            act::COMPLETE => {
                self.depth_down(dev, w);
                self.account(t, dev, cpu, Account::Complete);
                let el = self.track_complete(t, dev);
                self.line(t, dev, cpu, "C", el, None)?;
            }
            act::PLUG => self.line(t, dev, cpu, "P", None, None)?,
            act::UNPLUG_IO => {
                self.account(t, dev, cpu, Account::Unplug { timer: false });
                self.line(t, dev, cpu, "U", None, None)?;
            }
            act::UNPLUG_TIMER => {
                self.account(t, dev, cpu, Account::Unplug { timer: true });
                self.line(t, dev, cpu, "UT", None, None)?;
            }
            act::SPLIT => self.line(t, dev, cpu, "X", None, None)?,
            act::BOUNCE => self.line(t, dev, cpu, "B", None, None)?,
            act::REMAP => self.line(t, dev, cpu, "A", None, None)?,
            act::DRV_DATA => self.have_drv_data = true,
            _ => eprintln!("Bad fs action {:x}", t.header.action),
        }
        Ok(())
    }

    /// A requeue or completion; missed traces must not take the depth below zero.
    fn depth_down(&mut self, dev: usize, w: usize) {
        let d = &mut self.devices[dev];
        d.cur_depth[w] = d.cur_depth[w].saturating_sub(1);
    }

    fn depth_up(&mut self, dev: usize, w: usize) {
        let d = &mut self.devices[dev];
        d.cur_depth[w] += 1;
        d.max_depth[w] = d.max_depth[w].max(d.cur_depth[w]);
    }

    fn line(
        &mut self,
        t: &Trace,
        dev: usize,
        cpu: u32,
        act: &str,
        elapsed: Option<u64>,
        pdu: Option<&[u8]>,
    ) -> Result<(), FormatError> {
        let e = EventLine {
            act,
            cpu,
            trace: t,
            elapsed,
            pdu,
            name: self.names.get(&t.header.pid).map(Vec::as_slice),
            cgroup: t.cgroup(self.endian),
            wall_start: self.wall_start,
        };
        if self.json {
            json::event(&mut self.out, &e, &self.devices[dev]);
            Ok(())
        } else {
            write_event(&mut self.out, &self.formats, &e)
        }
    }

    fn account(&mut self, t: &Trace, dev: usize, cpu: u32, what: Account) {
        self.devices[dev].cpu(cpu).stats.account(what, &t.header);
        if self.per_process {
            let p = self.process_stats(t.header.pid);
            self.processes[p].stats.account(what, &t.header);
        }
    }

    /// The name of a pid, registering "unknown" when none is known (as blkparse does).
    fn ppm_name(&mut self, pid: u32) -> Vec<u8> {
        self.names
            .entry(pid)
            .or_insert_with(|| b"unknown".to_vec())
            .clone()
    }

    fn find_process(&mut self, pid: u32) -> Option<usize> {
        if !self.hash_by_name {
            return self.by_pid.get(&pid).copied();
        }
        let name = self.names.get(&pid)?;
        let i = *self.by_name.get(name)?;
        if self.processes[i].pid != pid {
            self.processes[i].more_than_one = true;
        }
        Some(i)
    }

    fn process_stats(&mut self, pid: u32) -> usize {
        if let Some(i) = self.find_process(pid) {
            return i;
        }
        let name = self.ppm_name(pid);
        let i = self.processes.len();
        if self.hash_by_name {
            self.by_name.insert(name.clone(), i);
        } else {
            self.by_pid.insert(pid, i);
        }
        self.processes.push(ProcInfo {
            pid,
            name,
            stats: IoStats::default(),
            waits: Waits::default(),
            more_than_one: false,
        });
        i
    }

    /// The record of the I/O at `sector`, made (in reused memory) if there is none.
    fn find_track(&mut self, dev: usize, pid: u32, sector: u64) -> &mut IoTrack {
        if !self.devices[dev].track.contains_key(&sector) {
            self.ppm_name(pid);
        }
        let freed = &mut self.freed;
        self.devices[dev]
            .track
            .entry(sector)
            .or_insert_with(|| IoTrack::in_block(pid, freed.take()))
    }

    fn track_frontmerge(&mut self, t: &Trace, dev: usize) {
        if !self.track_ios {
            return;
        }
        let h = &t.header;
        let key = h.sector.wrapping_add(u64::from(h.sectors()));
        let d = &mut self.devices[dev];
        let Some(iot) = d.track.remove(&key) else {
            if self.verbose > 0 {
                eprintln!(
                    "merge not found for ({},{}): {key}",
                    major(d.dev),
                    minor(d.dev)
                );
            }
            return;
        };
        let new_key = key.wrapping_sub(u64::from(h.sectors()));
        match d.track.entry(new_key) {
            std::collections::btree_map::Entry::Occupied(_) => eprintln!(
                "sector alias ({new_key}) on device {},{}!",
                major(d.dev),
                minor(d.dev)
            ),
            std::collections::btree_map::Entry::Vacant(v) => {
                v.insert(iot);
            }
        }
    }

    fn track_getrq(&mut self, t: &Trace, dev: usize) {
        if self.track_ios {
            self.find_track(dev, t.header.pid, t.header.sector)
                .allocation_time = t.header.time;
        }
    }

    fn track_queue(&mut self, t: &Trace, dev: usize) {
        // md (9) and dm (253) only remap: for them the interesting span is Q -> C.
        if self.track_ios && matches!(major(self.devices[dev].dev), 9 | 253) {
            self.find_track(dev, t.header.pid, t.header.sector)
                .dispatch_time = t.header.time;
        }
    }

    fn track_insert(&mut self, t: &Trace, dev: usize) -> Option<u64> {
        if !self.track_ios {
            return None;
        }
        let iot = self.find_track(dev, t.header.pid, t.header.sector);
        iot.queue_time = t.header.time;
        if iot.allocation_time == 0 {
            return None;
        }
        let elapsed = iot.queue_time.wrapping_sub(iot.allocation_time);
        let pid = iot.pid;
        self.longest(pid, t, elapsed, |w| &mut w.allocation);
        Some(elapsed)
    }

    fn track_issue(&mut self, t: &Trace, dev: usize) -> Option<u64> {
        if !self.track_ios || !t.header.is(category::FS) {
            return None;
        }
        let d = &mut self.devices[dev];
        let Some(iot) = d.track.get_mut(&t.header.sector) else {
            if self.verbose > 0 {
                eprintln!(
                    "issue not found for ({},{}): {}",
                    major(d.dev),
                    minor(d.dev),
                    t.header.sector
                );
            }
            return None;
        };
        iot.dispatch_time = t.header.time;
        let elapsed = iot.dispatch_time.wrapping_sub(iot.queue_time);
        let pid = iot.pid;
        self.longest(pid, t, elapsed, |w| &mut w.dispatch);
        Some(elapsed)
    }

    fn track_complete(&mut self, t: &Trace, dev: usize) -> Option<u64> {
        if !self.track_ios {
            return None;
        }
        let d = &mut self.devices[dev];
        let Some(iot) = d.track.remove(&t.header.sector) else {
            if self.verbose > 0 {
                eprintln!(
                    "complete not found for ({},{}): {}",
                    major(d.dev),
                    minor(d.dev),
                    t.header.sector
                );
            }
            return None;
        };
        let iot = IoTrack {
            completion_time: t.header.time,
            ..iot
        };
        let elapsed = iot.completion_time.wrapping_sub(iot.dispatch_time);
        self.freed.give(iot.block());
        self.longest(iot.pid, t, elapsed, |w| &mut w.completion);
        Some(elapsed)
    }

    fn longest(
        &mut self,
        pid: u32,
        t: &Trace,
        elapsed: u64,
        which: impl Fn(&mut Waits) -> &mut [u64; 2],
    ) {
        if !self.per_process {
            return;
        }
        if let Some(p) = self.find_process(pid) {
            let w = usize::from(t.header.is_write());
            let slot = &mut which(&mut self.processes[p].waits)[w];
            *slot = (*slot).max(elapsed);
        }
    }
}
