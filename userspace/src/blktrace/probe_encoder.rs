//! The probes' records written as blktrace records straight to bytes, without a decoded
//! event in between: what `record` does when nothing needs one (no owners to follow, no
//! files to name, no timeline). The records are those [`Recorder`] writes for the same
//! events, as a test holds them, for a fraction of the collector's work per event: at a
//! million events a second that work is taken from the workload being traced.
//!
//! [`Recorder`]: super::event_encoder::Recorder

use std::collections::{BTreeMap, HashMap, HashSet};

use blkscope_common::block_events::EVENT_COMM;
use foldhash::fast::RandomState as FastHash;

use super::event_encoder::{
    Clocks, CpuCounts, RecordSettings, action_word, errno_of, trace_sector,
};
use super::format::{Endian, MAGIC, Remap, TraceHeader, VERSION, category, notify};
use crate::model::comm::Comm;
use crate::model::event::{Action, ProbeRecord};

/// The names the probes sent, by thread: a record carries its task's name only when its CPU
/// sent another task's last, and a recording names each task once, at its first record on
/// whichever CPU (shared by every trace of a recording, as the names are).
#[derive(Debug, Default)]
pub struct TaskNames {
    names: HashMap<u32, Comm, FastHash>,
}

impl TaskNames {
    /// Learns the name a record carries, if it carries one.
    pub fn observe(&mut self, r: &ProbeRecord<'_>) {
        if r.event.base.flags & EVENT_COMM != 0 {
            let name = Comm::from_kernel(&r.event.extra.comm);
            self.names.insert(r.event.base.pid, name);
        }
    }

    /// The name of the record's task: its own, or the last one sent for its thread (none when
    /// the record that named it was lost).
    fn of(&self, r: &ProbeRecord<'_>) -> Comm {
        if r.event.base.flags & EVENT_COMM != 0 {
            return Comm::from_kernel(&r.event.extra.comm);
        }
        self.names
            .get(&r.event.base.pid)
            .copied()
            .unwrap_or_default()
    }
}

/// One trace's records, numbered per CPU, with blktrace's notes.
#[derive(Debug)]
pub struct ProbeRecordEncoder {
    settings: RecordSettings,
    /// By CPU number: the last sequence number, the last time written, the thread whose
    /// name note was last looked at (most records are of the same thread as the one
    /// before them on their CPU: no set lookup for those), and what was written.
    cpus: Vec<CpuState>,
    /// Threads named so far.
    named: HashSet<u32, FastHash>,
    /// By action: the operation flags last seen with it and the action word they make (the
    /// flags of a workload's I/O seldom change; reading them is a dozen bit tests).
    words: [Option<(Action, u32, u32)>; ACTIONS],
    /// The clocks at the start, until the wall-clock note is written (before the first event).
    clocks: Option<Clocks>,
}

/// Kinds of [`Action`].
const ACTIONS: usize = 16;

#[derive(Clone, Copy, Debug, Default)]
struct CpuState {
    sequence: u32,
    last_time: u64,
    last_named: Option<u32>,
    counts: CpuCounts,
}

impl ProbeRecordEncoder {
    /// `settings.cgroup_ids` is not for this encoder (it needs each request's owner): it is
    /// ignored.
    pub fn new(settings: RecordSettings, clocks: Clocks) -> ProbeRecordEncoder {
        ProbeRecordEncoder {
            settings,
            cpus: Vec::new(),
            named: HashSet::default(),
            words: [None; ACTIONS],
            clocks: Some(clocks),
        }
    }

    fn action_word(&mut self, r: &ProbeRecord<'_>) -> u32 {
        let opf = r.event.base.op_flags;
        let cached = &mut self.words[r.action as usize % ACTIONS];
        match *cached {
            Some((action, flags, word)) if action == r.action && flags == opf => word,
            _ => {
                let op = r.bits.operation(opf);
                let word = action_word(r.action, op, r.bits.flags(opf));
                *cached = Some((r.action, opf, word));
                word
            }
        }
    }

    /// Appends the record's blktrace records (notes first, when due) to `out`, in this
    /// machine's byte order; nothing when the action mask leaves it out. A record timed
    /// before the last one of its CPU (an interrupt's event took its ring-buffer slot first)
    /// is written at that time, so that no CPU's time goes back.
    pub fn encode(&mut self, r: &ProbeRecord<'_>, names: &TaskNames, out: &mut Vec<u8>) {
        let base = &r.event.base;
        let action = self.action_word(r);
        let cpu = base.cpu as usize;
        if self.cpus.len() <= cpu {
            self.cpus.resize(cpu + 1, CpuState::default());
        }
        let state = &mut self.cpus[cpu];
        // Records the mask leaves out count too: the times written are those record's
        // decoded path writes.
        let time = base.timestamp_ns.max(state.last_time);
        state.last_time = time;
        if (self.settings.act_mask << category::SHIFT) & action == 0 {
            return;
        }
        let start = out.len();
        let header = |action: u32, pdu_len: usize| TraceHeader {
            magic: MAGIC | VERSION,
            sequence: 0,
            time,
            sector: 0,
            bytes: 0,
            action,
            pid: base.pid,
            device: base.dev,
            cpu: base.cpu,
            error: 0,
            pdu_len: pdu_len as u16,
        };
        if self.settings.act_mask & category::NOTIFY != 0 {
            if let Some(clocks) = self.clocks.take() {
                // The wall clock at the first event's time, as (u32 seconds, u32 nanoseconds).
                let wall = clocks.wall_ns + time.saturating_sub(clocks.monotonic_ns);
                out.extend(header(notify::TIMESTAMP, 8).encode(Endian::NATIVE));
                out.extend(((wall / 1_000_000_000) as u32).to_ne_bytes());
                out.extend(((wall % 1_000_000_000) as u32).to_ne_bytes());
            }
            if state.last_named != Some(base.pid) {
                state.last_named = Some(base.pid);
                if self.named.insert(base.pid) {
                    let comm = names.of(r);
                    let mut name = [0u8; 16];
                    let bytes = &comm.as_bytes()[..comm.len().min(15)];
                    name[..bytes.len()].copy_from_slice(bytes);
                    out.extend(header(notify::PROCESS, 16).encode(Endian::NATIVE));
                    out.extend(name);
                }
            }
        }
        let pdu = payload(r);
        let carries_io = !matches!(
            r.action,
            Action::Plug | Action::UnplugIo | Action::UnplugTimer
        );
        state.sequence = state.sequence.wrapping_add(1);
        let event = TraceHeader {
            sequence: state.sequence,
            sector: if carries_io {
                trace_sector(base.sector)
            } else {
                0
            },
            bytes: if carries_io { base.bytes } else { 0 },
            error: if r.action == Action::Complete {
                errno_of(base.status)
            } else {
                0
            },
            ..header(action, pdu.len())
        };
        out.extend(event.encode(Endian::NATIVE));
        out.extend(pdu.as_slice());
        state.counts.events += 1;
        state.counts.bytes += (out.len() - start) as u64;
    }

    /// What was written per CPU so far (only CPUs that wrote something, as blktrace lists
    /// them).
    pub fn counts(&self) -> BTreeMap<u32, CpuCounts> {
        (0u32..)
            .zip(&self.cpus)
            .filter(|(_, c)| c.counts.bytes != 0)
            .map(|(cpu, c)| (cpu, c.counts))
            .collect()
    }
}

/// A record's payload: at most 16 bytes, kept on the stack.
struct Payload {
    bytes: [u8; Remap::LEN],
    len: usize,
}

impl Payload {
    fn as_slice(&self) -> &[u8] {
        &self.bytes[..self.len]
    }

    fn len(&self) -> usize {
        self.len
    }
}

/// The payload the kernel's blktrace gives the action: a remap's origin, a split's sector,
/// an unplug's depth (big endian, as the kernel writes them).
fn payload(r: &ProbeRecord<'_>) -> Payload {
    let mut p = Payload {
        bytes: [0; Remap::LEN],
        len: 0,
    };
    let (base, extra) = (&r.event.base, &r.event.extra);
    let mut put = |bytes: &[u8]| {
        p.bytes[..bytes.len()].copy_from_slice(bytes);
        p.len = bytes.len();
    };
    match r.action {
        Action::Remap => put(&Remap {
            device_from: extra.aux_dev,
            device_to: base.dev,
            sector_from: extra.aux_sector,
        }
        .encode()),
        Action::Split => put(&extra.aux_sector.to_be_bytes()),
        Action::UnplugIo | Action::UnplugTimer => put(&u64::from(base.depth).to_be_bytes()),
        _ => {}
    }
    p
}

#[cfg(test)]
mod tests {
    use blkscope_common::block_events::{EVENT_EXTENDED, EVENT_FROM_BIO};
    use blkscope_common::{BlockAction, BlockEvent, BlockEventExtra, BlockEventFull};

    use super::*;
    use crate::blktrace::event_encoder::Recorder;
    use crate::model::event::{EventDecoder, tests::linux6_bits};

    const CLOCKS: Clocks = Clocks {
        wall_ns: 1_700_000_000_000_000_000,
        monotonic_ns: 1_000,
    };

    /// A probe's record of `action` by thread `pid` on `cpu` at `time`, extended (with the
    /// name) when `comm` is given or the action carries an origin.
    fn probe(action: BlockAction, cpu: u32, pid: u32, time: u64, comm: Option<&str>) -> Vec<u8> {
        let mut name = [0u8; 16];
        if let Some(comm) = comm {
            name[..comm.len()].copy_from_slice(comm.as_bytes());
        }
        let extended = comm.is_some() || matches!(action, BlockAction::Split | BlockAction::Remap);
        let mut flags = if extended { EVENT_EXTENDED } else { 0 };
        if comm.is_some() {
            flags |= EVENT_COMM;
        }
        if matches!(action, BlockAction::Queue | BlockAction::GetRequest) {
            flags |= EVENT_FROM_BIO;
        }
        let event = BlockEventFull {
            base: BlockEvent {
                timestamp_ns: time,
                sector: 2048 + u64::from(pid),
                request_id: 0xffff_8880_0000_0000 + time,
                cgroup_id: 1,
                bytes: 4096,
                dev: 7 << 20,
                // A synchronous write (REQ_OP_WRITE | REQ_SYNC on Linux 6).
                op_flags: 1 | (1 << 11),
                pid,
                tgid: pid,
                cpu,
                depth: 3,
                action: action as u8,
                status: u8::from(action == BlockAction::Complete && pid == 43) * 10,
                flags,
                _pad: 0,
            },
            extra: BlockEventExtra {
                aux_sector: 77,
                bio_cgroup_id: 0,
                aux_dev: (259 << 20) | 1,
                _pad: 0,
                comm: name,
            },
        };
        let len = if extended {
            BlockEventFull::SIZE
        } else {
            BlockEvent::SIZE
        };
        // SAFETY: plain data without padding, read as the bytes the probe writes.
        let all = unsafe {
            std::slice::from_raw_parts((&raw const event).cast::<u8>(), BlockEventFull::SIZE)
        };
        all[..len].to_vec()
    }

    /// Two CPUs, names sent once per task and CPU (one task first seen on a CPU that did not
    /// send its name, one never named), every action with a payload, an error, and an
    /// interrupt's record that took its slot before an earlier one.
    fn records() -> Vec<Vec<u8>> {
        use BlockAction::*;
        vec![
            probe(Queue, 0, 42, 2_000, Some("fio")),
            probe(Split, 0, 42, 2_100, None),
            probe(GetRequest, 0, 42, 2_200, None),
            probe(Plug, 0, 42, 2_250, None),
            probe(UnplugIo, 0, 42, 2_260, None),
            probe(Insert, 0, 42, 2_300, None),
            probe(Issue, 1, 0, 2_400, Some("kworker/1:1")),
            probe(Remap, 1, 0, 2_450, None),
            probe(Complete, 0, 43, 3_000, Some("swapper/0")),
            probe(Complete, 0, 42, 2_900, Some("fio")),
            probe(Queue, 1, 42, 3_100, None),
            probe(UnplugTimer, 1, 44, 3_200, None),
            probe(Requeue, 1, 44, 3_300, None),
            probe(BackMerge, 0, 43, 3_400, None),
            probe(FrontMerge, 0, 43, 3_500, None),
            probe(RequestMerge, 1, 44, 3_600, None),
        ]
    }

    /// What `Recorder` writes for the decoded records, per CPU, clamped as record clamps.
    fn by_recorder(records: &[Vec<u8>], act_mask: u32) -> BTreeMap<u32, Vec<u8>> {
        let settings = RecordSettings {
            act_mask,
            cgroup_ids: false,
        };
        let mut recorder = Recorder::new(settings, CLOCKS);
        let mut decoder = EventDecoder::new(linux6_bits());
        let mut last = BTreeMap::new();
        let mut out: BTreeMap<u32, Vec<u8>> = BTreeMap::new();
        for bytes in records {
            let mut e = decoder.decode_bytes(bytes).unwrap();
            let last = last.entry(e.cpu).or_insert(0);
            e.time_ns = e.time_ns.max(*last);
            *last = e.time_ns;
            for t in recorder.records(&e, 0, &mut |_| None) {
                let cpu_out = out.entry(t.header.cpu).or_default();
                t.write_to(Endian::NATIVE, cpu_out).unwrap();
            }
        }
        out
    }

    fn by_probe_encoder(records: &[Vec<u8>], act_mask: u32) -> BTreeMap<u32, Vec<u8>> {
        let settings = RecordSettings {
            act_mask,
            cgroup_ids: false,
        };
        let mut encoder = ProbeRecordEncoder::new(settings, CLOCKS);
        let decoder = EventDecoder::new(linux6_bits());
        let mut names = TaskNames::default();
        let mut out: BTreeMap<u32, Vec<u8>> = BTreeMap::new();
        for bytes in records {
            let r = decoder.probe_record(bytes).unwrap();
            names.observe(&r);
            encoder.encode(&r, &names, out.entry(r.event.base.cpu).or_default());
        }
        // As by_recorder: a CPU that wrote nothing is not there.
        out.retain(|_, bytes| !bytes.is_empty());
        out
    }

    #[test]
    fn writes_what_the_recorder_writes_for_the_decoded_events() {
        let records = records();
        let expected = by_recorder(&records, 0xffff);
        assert_eq!(expected.len(), 2, "both CPUs wrote");
        assert_eq!(by_probe_encoder(&records, 0xffff), expected);
    }

    #[test]
    fn the_action_mask_leaves_out_what_the_recorder_leaves_out() {
        let records = records();
        // Completions only, then everything but the notes.
        for mask in [category::COMPLETE, 0xffff & !category::NOTIFY] {
            assert_eq!(
                by_probe_encoder(&records, mask),
                by_recorder(&records, mask),
                "mask {mask:#x}"
            );
        }
    }

    #[test]
    fn counts_match_the_bytes_written() {
        let records = records();
        let settings = RecordSettings::default();
        let mut encoder = ProbeRecordEncoder::new(settings, CLOCKS);
        let decoder = EventDecoder::new(linux6_bits());
        let mut names = TaskNames::default();
        let mut written = 0;
        for bytes in &records {
            let r = decoder.probe_record(bytes).unwrap();
            names.observe(&r);
            let mut out = Vec::new();
            encoder.encode(&r, &names, &mut out);
            written += out.len() as u64;
        }
        let counts = encoder.counts();
        assert_eq!(counts.values().map(|c| c.bytes).sum::<u64>(), written);
        assert_eq!(
            counts.values().map(|c| c.events).sum::<u64>(),
            records.len() as u64
        );
    }
}
