//! record's direct path: the probes' records to blktrace records, each as it comes out of the
//! ring buffer, with no decoded event, no batch and no sort in between (each CPU's records
//! come out of the ring buffer in the order they were written). Taken when nothing needs the
//! decoded events: no owners to follow (`--cgroup-ids`, `-c`, `--pod`), no files, no timeline.

use std::io;

use super::options::RecordOptions;
use super::traces::{TraceSet, ended_by};
use crate::blktrace::probe_encoder::{ProbeRecordEncoder, TaskNames};
use crate::model::event::ProbeRecord;
use crate::run::events::ProbeRecordSink;

/// Whether `o` can be recorded on the direct path.
pub fn direct_path_serves(o: &RecordOptions) -> bool {
    !o.cgroup_ids
        && o.cgroup.is_none()
        && o.pod.is_none()
        && o.container_name.is_none()
        && !o.files
        && o.perfetto.is_none()
        && o.trigger.is_none()
}

/// The traces, written from the probes' records.
pub struct DirectSink<'a> {
    pub traces: &'a mut TraceSet<ProbeRecordEncoder>,
    names: TaskNames,
    /// One record's blktrace records (its notes and itself).
    encoded: Vec<u8>,
    /// The write error that stopped the recording.
    pub failure: Option<io::Error>,
}

impl<'a> DirectSink<'a> {
    pub fn new(traces: &'a mut TraceSet<ProbeRecordEncoder>) -> DirectSink<'a> {
        DirectSink {
            traces,
            names: TaskNames::default(),
            encoded: Vec::with_capacity(256),
            failure: None,
        }
    }
}

impl ProbeRecordSink for DirectSink<'_> {
    fn record(&mut self, r: &ProbeRecord<'_>) {
        self.names.observe(r);
        if self.failure.is_some() {
            return;
        }
        let Some(trace) = self.traces.of_device(r.event.base.dev) else {
            return;
        };
        self.encoded.clear();
        trace.encoder.encode(r, &self.names, &mut self.encoded);
        if let Err(e) = trace
            .destination
            .write_encoded(r.event.base.cpu, &self.encoded)
        {
            self.failure = Some(e);
        }
    }

    fn read_done(&mut self) -> Result<bool, String> {
        let written = match self.failure.take() {
            Some(e) => Err(e),
            None => self.traces.flush(),
        };
        match written {
            Ok(()) => Ok(true),
            Err(e) => ended_by(e, &mut self.failure),
        }
    }
}
