//! The traces of one recording and where their records go: one per traced disk (per-CPU files
//! `NAME.blktrace.CPU`), or one for all disks when `-o` names it (`-o -`: one stream on
//! stdout). Both of record's encoders write through them: `Recorder` from decoded events,
//! `ProbeRecordEncoder` from the probes' records.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::io::{self, BufWriter, Write};
use std::path::PathBuf;

use super::options::RecordOptions;
use crate::blktrace::event_encoder::{CpuCounts, Recorder};
use crate::blktrace::format::{Endian, Trace};
use crate::blktrace::probe_encoder::ProbeRecordEncoder;
use crate::blktrace::writer::BlktraceWriter;
use crate::host::device;
use crate::model::event::DeviceId;

/// Where one trace's records go.
pub enum Destination {
    Files(BlktraceWriter),
    Stdout(BufWriter<io::Stdout>),
}

impl Destination {
    fn open(dir: &std::path::Path, name: &OsString) -> Destination {
        if name == "-" {
            Destination::Stdout(BufWriter::with_capacity(1 << 16, io::stdout()))
        } else {
            Destination::Files(BlktraceWriter::new(dir, name.clone()))
        }
    }

    pub fn write(&mut self, t: &Trace) -> io::Result<()> {
        match self {
            Destination::Files(w) => w.write(t),
            Destination::Stdout(out) => t.write_to(Endian::NATIVE, out),
        }
    }

    /// Records already encoded in this machine's byte order, all of `cpu`.
    pub fn write_encoded(&mut self, cpu: u32, records: &[u8]) -> io::Result<()> {
        match self {
            Destination::Files(w) => w.write_encoded(cpu, records),
            Destination::Stdout(out) => out.write_all(records),
        }
    }

    pub fn flush(&mut self) -> io::Result<()> {
        match self {
            Destination::Files(_) => Ok(()),
            Destination::Stdout(out) => out.flush(),
        }
    }
}

/// What a write error means for the recording, as a sink answers it: a closed pipe (`| head`)
/// ends it quietly, as for blktrace; another error stops it, kept in `failure` for the
/// caller to report.
pub fn ended_by(e: io::Error, failure: &mut Option<io::Error>) -> Result<bool, String> {
    if e.kind() == io::ErrorKind::BrokenPipe {
        return Ok(false);
    }
    let text = e.to_string();
    *failure = Some(e);
    Err(text)
}

/// What an encoder wrote per CPU, for blktrace's closing summary.
pub trait CountsPerCpu {
    fn counts(&self) -> BTreeMap<u32, CpuCounts>;
}

impl CountsPerCpu for Recorder {
    fn counts(&self) -> BTreeMap<u32, CpuCounts> {
        Recorder::counts(self)
    }
}

impl CountsPerCpu for ProbeRecordEncoder {
    fn counts(&self) -> BTreeMap<u32, CpuCounts> {
        ProbeRecordEncoder::counts(self)
    }
}

/// One trace being written: its name, its encoder (numbering, notes), its destination.
pub struct TraceOut<E> {
    pub name: String,
    pub encoder: E,
    pub destination: Destination,
}

/// The traces of a recording, by device.
pub struct TraceSet<E> {
    /// By the kernel's dev_t: a few disks, looked up for every event.
    by_device: Vec<(u32, usize)>,
    pub traces: Vec<TraceOut<E>>,
}

/// A finished trace: its name and what it holds per CPU.
pub type TraceCounts = (String, BTreeMap<u32, CpuCounts>);

impl<E: CountsPerCpu> TraceSet<E> {
    /// The traces `o` asks for, each with an encoder `encoder` makes.
    pub fn open(o: &RecordOptions, devices: &[DeviceId], encoder: impl Fn() -> E) -> TraceSet<E> {
        let dir = o.dir.clone().unwrap_or_else(|| PathBuf::from("."));
        let trace = |name: OsString| TraceOut {
            destination: Destination::open(&dir, &name),
            name: name.to_string_lossy().into_owned(),
            encoder: encoder(),
        };
        let mut set = TraceSet {
            by_device: Vec::new(),
            traces: Vec::new(),
        };
        match &o.output {
            Some(name) => {
                set.traces.push(trace(name.clone()));
                set.by_device
                    .extend(devices.iter().map(|d| (d.to_kernel(), 0)));
            }
            None => {
                for d in devices {
                    let name = device::name(*d).unwrap_or_else(|| d.to_string());
                    set.by_device.push((d.to_kernel(), set.traces.len()));
                    set.traces.push(trace(name.into()));
                }
            }
        }
        set
    }

    /// The trace of the disk with kernel dev_t `dev`, if it is traced.
    pub fn of_device(&mut self, dev: u32) -> Option<&mut TraceOut<E>> {
        let &(_, t) = self.by_device.iter().find(|(d, _)| *d == dev)?;
        self.traces.get_mut(t)
    }

    pub fn flush(&mut self) -> io::Result<()> {
        self.traces
            .iter_mut()
            .try_for_each(|t| t.destination.flush())
    }

    /// Closes every trace (the per-CPU files blkparse needs included); what each holds, and
    /// whether one went to stdout (the summary then goes to stderr).
    pub fn finish(self) -> io::Result<(Vec<TraceCounts>, bool)> {
        let mut to_stderr = false;
        let mut finished = Vec::new();
        for t in self.traces {
            let counts = t.encoder.counts();
            match t.destination {
                Destination::Files(w) => {
                    w.finish()?;
                }
                Destination::Stdout(mut out) => {
                    to_stderr = true;
                    // A reader that went away is not an error at the end either.
                    let _ = out.flush();
                }
            }
            finished.push((t.name, counts));
        }
        Ok((finished, to_stderr))
    }
}
