//! The one event driver: block events from the probes' ring buffer (live) or from a
//! blktrace recording (`-i TRACE`) pushed through the same `EventSink`, so an event view is
//! written once for both. Live: start the probes, hand each batch to the sink, stop on the
//! `Stop` (Ctrl-C, SIGTERM, a deadline) or when the sink is done (its reader went away), then
//! detach, hand over what was still buffered, and return the drop counts. Recorded: the
//! recording's events in batches, its cgroup names as they come, and where it was damaged
//! after everything valid before it.

use std::path::{Path, PathBuf};

use crate::{
    blktrace::{
        event_decoder::{RecordedEvents, RecordedItem},
        source::SourceError,
    },
    kernel::{BlockTraceOptions, BlockTracer, DropCounts, KernelError, privileges},
    model::event::{BlockIoEvent, DeviceId, ProbeRecord},
    run::{
        output::banner,
        stop::{Stop, StopError, runtime},
    },
};

#[derive(Debug, thiserror::Error)]
pub enum FeedError {
    #[error(transparent)]
    Kernel(#[from] KernelError),
    #[error(transparent)]
    Stop(#[from] StopError),
    #[error("-i {}: {reason}", input.display())]
    Open { input: PathBuf, reason: SourceError },
    /// Where a recording was damaged, one line each, after its valid part was fed.
    #[error("{0}")]
    Damaged(String),
    #[error("{0}")]
    View(String),
}

/// What a view does with events: `Ok(true)` to go on, `Ok(false)` when it is done (its
/// output closed, its count reached), `Err` to stop with an error. The batch is the view's to
/// take (a view that keeps events moves them out instead of copying); what it leaves is
/// dropped.
pub trait EventSink {
    fn consume(&mut self, events: &mut Vec<BlockIoEvent>) -> Result<bool, String>;

    /// A recording names cgroup `id` (before the first event charged to it). Live views name
    /// cgroups from the running system instead.
    fn cgroup_named(&mut self, _id: u64, _path: &str) {}

    /// A recording names the container of cgroup `id` (`NAME` or `NAMESPACE/POD/CONTAINER`).
    fn container_named(&mut self, _id: u64, _name: &str) {}

    /// A recording named a file (`record --files`), before the first event that carries it.
    fn file_named(&mut self, _dev: DeviceId, _ino: u64, _path: &str) {}
}

impl<F: FnMut(&[BlockIoEvent]) -> Result<bool, String>> EventSink for F {
    fn consume(&mut self, events: &mut Vec<BlockIoEvent>) -> Result<bool, String> {
        self(events)
    }
}

/// Where the events come from.
pub enum EventSource<'a> {
    /// The probes, with their settings (devices, cgroup, ring size), and the capabilities
    /// the tool keeps once they are attached (`kernel::privileges`): none but record's.
    Live {
        options: &'a BlockTraceOptions,
        keep_capabilities: &'a [u32],
    },
    /// A recording, opened (`recording`), its events kept only for `devices` (all when
    /// empty), as the kernel keeps them live.
    Recording {
        events: Box<RecordedEvents>,
        devices: &'a [DeviceId],
    },
}

impl<'a> EventSource<'a> {
    /// The probes; every capability is given up once they are attached.
    pub fn live(options: &'a BlockTraceOptions) -> Self {
        EventSource::Live {
            options,
            keep_capabilities: &[],
        }
    }

    /// Opens a recording (`-`, a dump, or per-CPU files NAME.blktrace.N): a tool opens it
    /// before printing anything, so that a wrong name is the only thing it prints.
    pub fn recording(input: &Path, devices: &'a [DeviceId]) -> Result<Self, FeedError> {
        let events = RecordedEvents::open(input).map_err(|reason| FeedError::Open {
            input: input.to_path_buf(),
            reason,
        })?;
        Ok(EventSource::Recording {
            events: Box::new(events),
            devices,
        })
    }
}

/// Feeds `sink` until the source ends, the run is stopped or the sink is done; returns the
/// probes' drop counts (live only).
pub fn feed(
    source: EventSource<'_>,
    stop: &Stop,
    sink: &mut dyn EventSink,
) -> Result<Option<DropCounts>, FeedError> {
    match source {
        EventSource::Live {
            options,
            keep_capabilities,
        } => {
            let drops = runtime()?.block_on(feed_live(options, keep_capabilities, stop, sink))?;
            Ok(Some(drops))
        }
        EventSource::Recording { events, devices } => {
            feed_recording(*events, devices, stop, sink)?;
            Ok(None)
        }
    }
}

/// What `record` does with the probes' records when it needs no decoded event (its direct
/// path): each record as it comes, then a word after each read of the ring buffer.
pub trait ProbeRecordSink {
    fn record(&mut self, record: &ProbeRecord<'_>);

    /// After each read: `Ok(true)` to go on, `Ok(false)` when done, `Err` to stop with an
    /// error (as [`EventSink::consume`]).
    fn read_done(&mut self) -> Result<bool, String>;
}

/// Runs the probes until stopped (on the caller's runtime); returns the drop counts.
pub async fn feed_live(
    options: &BlockTraceOptions,
    keep_capabilities: &[u32],
    stop: &Stop,
    sink: &mut dyn EventSink,
) -> Result<DropCounts, FeedError> {
    let mut reader = DecodedReads {
        sink,
        batch: Vec::new(),
    };
    run_live(options, keep_capabilities, stop, &mut reader).await
}

/// [`feed`]'s live source for a [`ProbeRecordSink`] (on its own runtime).
pub fn feed_probe_records(
    options: &BlockTraceOptions,
    keep_capabilities: &[u32],
    stop: &Stop,
    sink: &mut dyn ProbeRecordSink,
) -> Result<DropCounts, FeedError> {
    let mut reader = RecordReads { sink };
    runtime()?.block_on(run_live(options, keep_capabilities, stop, &mut reader))
}

/// How the live loop reads: decoded batches for an [`EventSink`], records for a
/// [`ProbeRecordSink`].
trait LiveReads {
    /// Waits for the next read and hands it over; false when the run stopped or the sink is
    /// done.
    async fn next(&mut self, tracer: &mut BlockTracer, stop: &Stop) -> Result<bool, FeedError>;
    /// Hands over what is still buffered once the probes are detached.
    fn rest(&mut self, tracer: &mut BlockTracer) -> Result<(), FeedError>;
}

struct DecodedReads<'s> {
    sink: &'s mut dyn EventSink,
    batch: Vec<BlockIoEvent>,
}

impl LiveReads for DecodedReads<'_> {
    async fn next(&mut self, tracer: &mut BlockTracer, stop: &Stop) -> Result<bool, FeedError> {
        tokio::select! {
            read = tracer.next_batch(&mut self.batch) => read?,
            () = stop.stopped() => return Ok(false),
        }
        let go_on = self
            .sink
            .consume(&mut self.batch)
            .map_err(FeedError::View)?;
        self.batch.clear();
        Ok(go_on)
    }

    fn rest(&mut self, tracer: &mut BlockTracer) -> Result<(), FeedError> {
        let mut rest = Vec::new();
        tracer.drain(&mut rest);
        self.sink.consume(&mut rest).map_err(FeedError::View)?;
        Ok(())
    }
}

struct RecordReads<'s> {
    sink: &'s mut dyn ProbeRecordSink,
}

impl LiveReads for RecordReads<'_> {
    async fn next(&mut self, tracer: &mut BlockTracer, stop: &Stop) -> Result<bool, FeedError> {
        let sink = &mut *self.sink;
        let mut each = |r: &ProbeRecord<'_>| sink.record(r);
        tokio::select! {
            read = tracer.next_records(&mut each) => read?,
            () = stop.stopped() => return Ok(false),
        }
        self.sink.read_done().map_err(FeedError::View)
    }

    fn rest(&mut self, tracer: &mut BlockTracer) -> Result<(), FeedError> {
        tracer.drain_records(&mut |r| self.sink.record(r));
        self.sink.read_done().map_err(FeedError::View)?;
        Ok(())
    }
}

async fn run_live(
    options: &BlockTraceOptions,
    keep_capabilities: &[u32],
    stop: &Stop,
    reads: &mut impl LiveReads,
) -> Result<DropCounts, FeedError> {
    let mut tracer = BlockTracer::start(options)?;
    privileges::attached(keep_capabilities);
    banner("Tracing block I/O... Hit Ctrl-C to end.");
    while reads.next(&mut tracer, stop).await? {}
    // Detach first so nothing new arrives, then hand over what is still buffered.
    tracer.detach();
    reads.rest(&mut tracer)?;
    Ok(tracer.drops()?)
}

/// Events per call of the sink when reading a recording.
const RECORDED_BATCH: usize = 1024;

fn feed_recording(
    mut recording: RecordedEvents,
    devices: &[DeviceId],
    stop: &Stop,
    sink: &mut dyn EventSink,
) -> Result<(), FeedError> {
    let mut batch = Vec::with_capacity(RECORDED_BATCH);
    let mut go_on = true;
    while go_on && !stop.is_set() {
        let Some(item) = recording.next_item() else {
            break;
        };
        match item {
            RecordedItem::Event(event) => {
                if devices.is_empty() || devices.contains(&event.device) {
                    batch.push(event);
                }
                if batch.len() == RECORDED_BATCH {
                    go_on = sink.consume(&mut batch).map_err(FeedError::View)?;
                    batch.clear();
                }
            }
            // Events before the name go first: the name belongs to the ones after it.
            RecordedItem::CgroupPath { id, path } => {
                go_on = batch.is_empty() || sink.consume(&mut batch).map_err(FeedError::View)?;
                batch.clear();
                sink.cgroup_named(id, &path);
            }
            RecordedItem::ContainerName { id, name } => {
                go_on = batch.is_empty() || sink.consume(&mut batch).map_err(FeedError::View)?;
                batch.clear();
                sink.container_named(id, &name);
            }
            RecordedItem::FilePath { dev, ino, path } => {
                go_on = batch.is_empty() || sink.consume(&mut batch).map_err(FeedError::View)?;
                batch.clear();
                sink.file_named(dev, ino, &path);
            }
        }
    }
    if go_on && !batch.is_empty() {
        sink.consume(&mut batch).map_err(FeedError::View)?;
    }
    let errors = recording.take_errors();
    if errors.is_empty() {
        return Ok(());
    }
    let text: Vec<String> = errors.iter().map(ToString::to_string).collect();
    Err(FeedError::Damaged(text.join("\n")))
}

/// blktrace's closing line when events were lost, `None` when none were.
pub fn drops_line(drops: &DropCounts) -> Option<String> {
    if drops.total() == 0 {
        return None;
    }
    let per_cpu: Vec<String> = drops
        .per_cpu
        .iter()
        .enumerate()
        .filter(|(_, n)| **n > 0)
        .map(|(cpu, n)| format!("CPU{cpu}: {n}"))
        .collect();
    Some(format!(
        "You have {} dropped events ({}; {} undecodable); consider a bigger buffer (-b)",
        drops.total(),
        per_cpu.join(", "),
        drops.undecodable
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drops_line_only_when_something_was_lost() {
        assert_eq!(drops_line(&DropCounts::default()), None);
        let drops = DropCounts {
            per_cpu: vec![0, 7],
            undecodable: 0,
        };
        assert_eq!(
            drops_line(&drops).unwrap(),
            "You have 7 dropped events (CPU1: 7; 0 undecodable); consider a bigger buffer (-b)"
        );
    }
}
