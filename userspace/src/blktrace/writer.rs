//! Writing traces in the blktrace format: one file per CPU (`NAME.blktrace.CPU`), as blktrace
//! writes them, so that stock blkparse and btt read what blkscope records.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use super::format::{CgroupId, Endian, MAGIC, Trace, TraceHeader, VERSION, notify};

/// Writes the per-CPU files of one trace.
pub struct BlktraceWriter {
    dir: PathBuf,
    name: String,
    endian: Endian,
    files: BTreeMap<u32, BufWriter<File>>,
    sequences: BTreeMap<u32, u32>,
}

impl BlktraceWriter {
    /// Files go to `DIR/NAME.blktrace.CPU`, in this machine's byte order.
    pub fn new(dir: impl Into<PathBuf>, name: impl Into<String>) -> BlktraceWriter {
        BlktraceWriter::with_endian(dir, name, Endian::NATIVE)
    }

    /// In a given byte order (a trace recorded on a machine of the other order).
    pub fn with_endian(
        dir: impl Into<PathBuf>,
        name: impl Into<String>,
        endian: Endian,
    ) -> BlktraceWriter {
        BlktraceWriter {
            dir: dir.into(),
            name: name.into(),
            endian,
            files: BTreeMap::new(),
            sequences: BTreeMap::new(),
        }
    }

    pub fn path_of(&self, cpu: u32) -> PathBuf {
        self.dir.join(format!("{}.blktrace.{cpu}", self.name))
    }

    /// Writes a record as it is (magic, sequence and all) to its CPU's file.
    pub fn write(&mut self, trace: &Trace) -> std::io::Result<()> {
        let cpu = trace.header.cpu;
        if !self.files.contains_key(&cpu) {
            let path = self.path_of(cpu);
            let file = File::create(&path)
                .map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
            self.files
                .insert(cpu, BufWriter::with_capacity(1 << 16, file));
        }
        let endian = self.endian;
        let out = self
            .files
            .get_mut(&cpu)
            .ok_or_else(|| std::io::Error::other("no file"))?;
        out.write_all(&trace.encode(endian))
    }

    /// Writes an event, giving it the magic and the next sequence number of its CPU (blktrace
    /// numbers each CPU's records from 1, notifies included).
    pub fn record(&mut self, mut trace: Trace) -> std::io::Result<()> {
        let seq = self.sequences.entry(trace.header.cpu).or_insert(0);
        *seq += 1;
        trace.header.sequence = *seq;
        trace.header.magic = MAGIC | VERSION;
        self.write(&trace)
    }

    /// Records the name of a pid (BLK_TN_PROCESS), as blktrace does before its first event.
    pub fn process_name(
        &mut self,
        cpu: u32,
        time: u64,
        pid: u32,
        device: u32,
        comm: &str,
    ) -> std::io::Result<()> {
        let mut pdu = [0u8; 16];
        let bytes = comm.as_bytes();
        let n = bytes.len().min(15);
        pdu[..n].copy_from_slice(&bytes[..n]);
        self.record(Trace {
            header: TraceHeader {
                time,
                action: notify::PROCESS,
                pid,
                device,
                cpu,
                ..Default::default()
            },
            pdu: pdu.to_vec(),
        })
    }

    /// Records the wall-clock time of trace time `time` (BLK_TN_TIMESTAMP: two u32, seconds and
    /// nanoseconds, in the file's order).
    pub fn timestamp(
        &mut self,
        cpu: u32,
        time: u64,
        device: u32,
        sec: u32,
        nsec: u32,
    ) -> std::io::Result<()> {
        let mut pdu = Vec::with_capacity(8);
        let (s, n) = match self.endian {
            Endian::Little => (sec.to_le_bytes(), nsec.to_le_bytes()),
            Endian::Big => (sec.to_be_bytes(), nsec.to_be_bytes()),
        };
        pdu.extend_from_slice(&s);
        pdu.extend_from_slice(&n);
        self.record(Trace {
            header: TraceHeader {
                time,
                action: notify::TIMESTAMP,
                device,
                cpu,
                ..Default::default()
            },
            pdu,
        })
    }

    /// A message notify (BLK_TN_MESSAGE), as `blk_add_trace_msg` writes.
    pub fn message(&mut self, cpu: u32, time: u64, device: u32, text: &str) -> std::io::Result<()> {
        self.record(Trace {
            header: TraceHeader {
                time,
                action: notify::MESSAGE,
                device,
                cpu,
                ..Default::default()
            },
            pdu: text.as_bytes().to_vec(),
        })
    }

    /// A cgroup-id payload prefix in this writer's byte order.
    pub fn cgroup_prefix(&self, id: u64) -> [u8; CgroupId::LEN] {
        CgroupId::from_id(id).encode(self.endian)
    }

    /// Flushes every file and creates empty files for CPUs without records below the highest,
    /// since blkparse stops at the first CPU number without a file. Returns the files.
    pub fn finish(mut self) -> std::io::Result<Vec<PathBuf>> {
        let max = self.files.keys().next_back().copied();
        if let Some(max) = max {
            for cpu in 0..max {
                if !self.files.contains_key(&cpu) {
                    File::create(self.path_of(cpu))?;
                }
            }
        }
        for out in self.files.values_mut() {
            out.flush()?;
        }
        Ok(match max {
            Some(max) => (0..=max).map(|c| self.path_of(c)).collect(),
            None => Vec::new(),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
}
