//! The recording loop: the probes' events, as the kernel's blktrace would log them, to per-CPU
//! files (`NAME.blktrace.CPU`, one trace per device unless `-o` names one) or as one stream on
//! stdout (`-o -`, for `| blkparse -i -`); then blktrace's closing summary and drop count.

use std::collections::{BTreeMap, HashSet};
use std::ffi::OsString;
use std::fs::File;
use std::io::{self, BufWriter};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use super::direct::{DirectSink, direct_path_serves};
use super::flight::{FlightRecorder, FlightSettings};
use super::options::RecordOptions;
use super::traces::{CountsPerCpu, TraceSet, ended_by};
use crate::blktrace::event_encoder::{CgroupNote, Clocks, CpuCounts, RecordSettings, Recorder};
use crate::blktrace::format::Trace;
use crate::blktrace::probe_encoder::ProbeRecordEncoder;
use crate::cgroup::{CgroupError, CgroupNameFilter, CgroupResolver, NameFilter, NameFilterError};
use crate::host::device::{self, DeviceError};
use crate::host::files::FileNames;
use crate::kernel::{BlockTraceOptions, CgroupFilter, DropCounts, privileges};
use crate::model::event::{Action, BlockIoEvent, DeviceId};
use crate::model::inflight::{RequestTracker, charged_cgroup};
use crate::run::events::{EventSink, EventSource, FeedError, feed, feed_probe_records};
use crate::run::stop::{INTERRUPT, Stop, StopError};
use crate::timeline::TimelineWriter;

/// The probes' ring buffer when neither `-b` nor `-n` is given (blktrace's default, 4 x 512
/// KiB per CPU, is sized for per-CPU relay buffers; ours is one buffer for all CPUs).
const DEFAULT_RING_BYTES: u32 = 16 << 20;

#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error(transparent)]
    Device(#[from] DeviceError),
    #[error("--cgroup: {0}")]
    Cgroup(#[from] CgroupError),
    #[error(transparent)]
    NameFilter(#[from] NameFilterError),
    #[error("--pod, --container-name: {0}")]
    Names(CgroupError),
    #[error(transparent)]
    Feed(#[from] FeedError),
    #[error(transparent)]
    Stop(#[from] StopError),
    #[error("{0}")]
    Write(io::Error),
    #[error("--perfetto {}: {source}", path.display())]
    Timeline { path: PathBuf, source: io::Error },
}

/// Who each event is charged to, and what `--cgroup` keeps. Bio events are the issuing
/// task's (the kernel filtered them by cgroup already); request events (I, D, C, R) belong to
/// the task that queued the request's first bio, followed through merges and splits by the
/// request tracker, since they happen in other contexts; plugs are the running task's.
struct Owners {
    /// Whether owners are wanted at all (`--cgroup-ids`, a cgroup or name filter): without,
    /// no record carries one, and following every request would only cost the collector.
    followed: bool,
    tracker: RequestTracker,
    /// With `--cgroup`: the cgroups whose bios the kernel let through.
    filtered: Option<HashSet<u64>>,
}

impl Owners {
    /// The cgroup id to record the event under; `None` when `--cgroup` leaves it out.
    fn owner(&mut self, e: &BlockIoEvent) -> Option<u64> {
        if !self.followed {
            return Some(e.cgroup_id);
        }
        let merged_away = (e.action == Action::RequestMerge)
            .then(|| self.tracker.request_issuer(e).map(|i| i.cgroup_id));
        // The probes read a bio's blkcg at its Q only; the bio's later events get it from there.
        let bio_cgroup = if e.action == Action::Queue {
            e.bio_cgroup_id
        } else {
            self.tracker.queued_bio_cgroup(e).unwrap_or(0)
        };
        let completed = self.tracker.observe(e);
        let request_owner = match e.action {
            Action::Complete => Some(completed.and_then(|c| c.issuer).map(|i| i.cgroup_id)),
            Action::RequestMerge => merged_away,
            Action::Insert | Action::Issue | Action::Requeue => {
                Some(self.tracker.request_issuer(e).map(|i| i.cgroup_id))
            }
            _ => None,
        };
        match (request_owner, &mut self.filtered) {
            (Some(Some(owner)), _) => Some(owner),
            // A request whose first bio was not seen: not the cgroup's, as far as we know.
            (Some(None), Some(_)) => None,
            (Some(None), None) => Some(e.cgroup_id),
            (None, None) => Some(charged_cgroup(e.cgroup_id, bio_cgroup)),
            (None, Some(seen)) => {
                if matches!(
                    e.action,
                    Action::Plug | Action::UnplugIo | Action::UnplugTimer
                ) {
                    seen.contains(&e.cgroup_id).then_some(e.cgroup_id)
                } else {
                    seen.insert(e.cgroup_id);
                    Some(charged_cgroup(e.cgroup_id, bio_cgroup))
                }
            }
        }
    }
}

/// The traces of one recording written from decoded events, and what that takes beyond the
/// events: owners followed, cgroups and files named, a timeline.
struct Traces {
    set: TraceSet<Recorder>,
    /// The records of the event being written (one vector for all of them).
    records: Vec<Trace>,
    owners: Owners,
    clocks: CpuClocks,
    /// Names the cgroups in the recording's notes (none when the hierarchy is not found).
    cgroups: Option<CgroupResolver>,
    /// Names the files in the recording's notes (`--files`).
    files: FileNames,
    /// `--pod`, `--container-name`: the containers whose I/O is recorded.
    names: Option<CgroupNameFilter>,
    /// `--perfetto`: the I/Os as a timeline too.
    timeline: Option<RecordedTimeline>,
}

/// `--perfetto`'s timeline, and the cgroups named in it so far.
struct RecordedTimeline {
    path: PathBuf,
    writer: TimelineWriter<BufWriter<File>>,
    named: HashSet<u64>,
}

impl RecordedTimeline {
    fn create(path: &Path) -> Result<RecordedTimeline, RecordError> {
        let failed = |source| RecordError::Timeline {
            path: path.to_path_buf(),
            source,
        };
        let file = File::create(path).map_err(failed)?;
        let disk_name = |d| match device::name(d) {
            Some(name) => format!("{name} ({d})"),
            None => d.to_string(),
        };
        let writer =
            TimelineWriter::new(BufWriter::with_capacity(1 << 17, file), Box::new(disk_name))
                .map_err(failed)?;
        Ok(RecordedTimeline {
            path: path.to_path_buf(),
            writer,
            named: HashSet::new(),
        })
    }

    /// Takes an event in, naming the cgroups of a queued bio the first time they are seen.
    fn event(&mut self, e: &BlockIoEvent, cgroups: &mut Option<CgroupResolver>) -> io::Result<()> {
        if e.action == Action::Queue
            && let Some(resolver) = cgroups.as_mut()
        {
            for id in [e.cgroup_id, e.bio_cgroup_id] {
                if id != 0 && self.named.insert(id) {
                    let name = resolver
                        .container_name(id)
                        .map(|n| n.display())
                        .or_else(|| resolver.path(id));
                    if let Some(name) = name {
                        self.writer.name_cgroup(id, &name);
                    }
                }
            }
        }
        self.writer.event(e)
    }
}

impl Traces {
    fn open(o: &RecordOptions, devices: &[DeviceId], names: Option<NameFilter>) -> Traces {
        let settings = record_settings(o);
        let clocks = clocks_now();
        let set = TraceSet::open(o, devices, || Recorder::new(settings, clocks));
        let owners = Owners {
            followed: o.cgroup_ids || o.cgroup.is_some() || names.is_some(),
            tracker: RequestTracker::new(),
            filtered: o.cgroup.as_ref().map(|_| HashSet::new()),
        };
        Traces {
            set,
            records: Vec::new(),
            owners,
            clocks: CpuClocks::default(),
            cgroups: CgroupResolver::new().ok(),
            files: FileNames::new(),
            names: names.map(CgroupNameFilter::new),
            timeline: None,
        }
    }

    /// Writes the events of a read, in time order per CPU.
    fn write(&mut self, events: &mut [BlockIoEvent]) -> io::Result<()> {
        // Sorted through (time, index) keys: the events are large, moving them costs more than
        // the sort, and contiguous keys sort fast (a read is mostly in order already). The
        // index keeps equal times in their ring-buffer order.
        let mut order: Vec<(u64, u32)> = events
            .iter()
            .enumerate()
            .map(|(i, e)| (e.time_ns, i as u32))
            .collect();
        order.sort_unstable();
        for (_, i) in order {
            let i = i as usize;
            let e = &mut events[i];
            self.clocks.keep_monotonic(e);
            let Some(owner) = self.owners.owner(e) else {
                continue;
            };
            if let (Some(names), Some(cgroups)) = (&mut self.names, &mut self.cgroups)
                && !names.keeps(owner, cgroups)
            {
                continue;
            }
            if let Some(trace) = self.set.of_device(e.device.to_kernel()) {
                if let Some(timeline) = &mut self.timeline {
                    timeline.event(e, &mut self.cgroups)?;
                }
                let cgroups = &mut self.cgroups;
                let mut path_of = |id| {
                    let resolver = cgroups.as_mut()?;
                    Some(CgroupNote {
                        path: resolver.path(id)?,
                        container: resolver.container_name(id).map(|n| n.display()),
                    })
                };
                let files = &mut self.files;
                let mut file_of = |dev, ino| files.find(dev, ino);
                self.records.clear();
                trace
                    .encoder
                    .records_into(e, owner, &mut path_of, &mut file_of, &mut self.records);
                for t in &self.records {
                    trace.destination.write(t)?;
                }
            }
        }
        self.set.flush()
    }
}

/// Keeps each CPU's records in time order across reads. A probe reads its clock, then
/// reserves its ring-buffer slot, with interrupts enabled: an interrupt's event can take a slot
/// ahead of an event timed just before it, and when a read falls between the two, the later
/// read holds an event older than one already written. Such an event (rare, and older by no
/// more than the probe's few hundred nanoseconds) is written at the time of the one before it,
/// so that readers never see a CPU's time go back.
#[derive(Debug, Default)]
struct CpuClocks {
    last: BTreeMap<u32, u64>,
}

impl CpuClocks {
    fn keep_monotonic(&mut self, e: &mut BlockIoEvent) {
        let last = self.last.entry(e.cpu).or_insert(0);
        if e.time_ns < *last {
            e.time_ns = *last;
        } else {
            *last = e.time_ns;
        }
    }
}

/// The recording as the live loop's view: each read's events, moved into the traces.
struct RecordSink<'a> {
    traces: &'a mut Traces,
    /// The write error that stopped the recording.
    failure: Option<io::Error>,
}

impl EventSink for RecordSink<'_> {
    fn consume(&mut self, events: &mut Vec<BlockIoEvent>) -> Result<bool, String> {
        match self.traces.write(events) {
            Ok(()) => Ok(true),
            Err(e) => ended_by(e, &mut self.failure),
        }
    }
}

/// What a finished recording reports.
pub struct Finished {
    /// blktrace's per-trace summary.
    pub summary: String,
    /// The trace went to stdout: the summary goes to stderr.
    pub summary_to_stderr: bool,
    /// blktrace's "You have N dropped events" lines (for stderr), when events were lost.
    pub drops: Option<String>,
}

/// Records until Ctrl-C, SIGTERM or the stopwatch.
pub fn run(o: &RecordOptions) -> Result<Finished, RecordError> {
    let mut devices = device::whole_disks(&o.devices)?;
    // A disk named twice (or a disk and its partition) is traced once.
    let mut seen = HashSet::new();
    devices.retain(|d| seen.insert(*d));
    let cgroup = o.cgroup.as_deref().map(CgroupFilter::of_path).transpose()?;
    let names = NameFilter::new(o.pod.as_deref(), o.container_name.as_deref())?;
    if names.is_some() {
        // Names are matched by cgroup: without the hierarchy nothing could match.
        crate::cgroup::resolver::unified_root().map_err(RecordError::Names)?;
    }
    let cpus = online_cpus();
    let ring_bytes = match (o.buffer_kib, o.buffers) {
        (None, None) => DEFAULT_RING_BYTES,
        (kib, n) => kib
            .unwrap_or(512)
            .saturating_mul(1024)
            .saturating_mul(n.unwrap_or(4))
            .saturating_mul(cpus),
    };
    let options = BlockTraceOptions {
        devices: devices.clone(),
        ring_bytes,
        cgroup,
        files: o.files,
        ..BlockTraceOptions::default()
    };
    if let Some(trigger) = o.trigger {
        return run_flight(o, &devices, &options, trigger, cpus);
    }
    if direct_path_serves(o) {
        // Each CPU's records in order is all the direct path needs.
        let options = BlockTraceOptions {
            per_cpu_rings: true,
            ..options
        };
        return run_direct(o, &devices, &options, cpus);
    }
    let mut traces = Traces::open(o, &devices, names);
    traces.timeline = o
        .perfetto
        .as_deref()
        .map(RecordedTimeline::create)
        .transpose()?;
    let mut sink = RecordSink {
        traces: &mut traces,
        failure: None,
    };
    let stop = Stop::on_signals(INTERRUPT)?.with_deadline(o.stopwatch);
    // Root keeps the right to write its per-CPU files where root may write (they are made as
    // CPUs first log an event).
    let source = EventSource::Live {
        options: &options,
        keep_capabilities: &[privileges::CAP_DAC_OVERRIDE],
    };
    let result = feed(source, &stop, &mut sink);
    if let Some(e) = sink.failure {
        return Err(RecordError::Write(e));
    }
    let drops = result?.unwrap_or_default();
    if let Some(timeline) = traces.timeline.take() {
        let path = timeline.path;
        timeline
            .writer
            .finish()
            .map_err(|source| RecordError::Timeline { path, source })?;
    }
    finished(traces.set, &drops, cpus)
}

/// A recording on the direct path (`direct`): the same records, for less of the CPU.
fn run_direct(
    o: &RecordOptions,
    devices: &[DeviceId],
    options: &BlockTraceOptions,
    cpus: u32,
) -> Result<Finished, RecordError> {
    let settings = record_settings(o);
    let clocks = clocks_now();
    let mut traces = TraceSet::open(o, devices, || ProbeRecordEncoder::new(settings, clocks));
    let mut sink = DirectSink::new(&mut traces);
    let stop = Stop::on_signals(INTERRUPT)?.with_deadline(o.stopwatch);
    let result = feed_probe_records(options, &[privileges::CAP_DAC_OVERRIDE], &stop, &mut sink);
    if let Some(e) = sink.failure {
        return Err(RecordError::Write(e));
    }
    let drops = result?;
    finished(traces, &drops, cpus)
}

/// Closes the traces; blktrace's summary and drop lines.
fn finished<E: CountsPerCpu>(
    traces: TraceSet<E>,
    drops: &DropCounts,
    cpus: u32,
) -> Result<Finished, RecordError> {
    let (finished, to_stderr) = traces.finish().map_err(RecordError::Write)?;
    let events: u64 = finished
        .iter()
        .flat_map(|(_, counts)| counts.values())
        .map(|c| c.events)
        .sum();
    Ok(Finished {
        summary: summary(&finished, drops, cpus),
        summary_to_stderr: to_stderr,
        drops: drops_lines(drops.total(), events),
    })
}

fn record_settings(o: &RecordOptions) -> RecordSettings {
    RecordSettings {
        act_mask: o.act_mask,
        cgroup_ids: o.cgroup_ids,
    }
}

/// The flight recorder (`--trigger`): captures around slow I/Os until Ctrl-C, SIGTERM or the
/// stopwatch; blktrace's summary per capture, and the triggers counted.
fn run_flight(
    o: &RecordOptions,
    devices: &[DeviceId],
    options: &BlockTraceOptions,
    trigger: std::time::Duration,
    cpus: u32,
) -> Result<Finished, RecordError> {
    let name: OsString = match (&o.output, devices) {
        (Some(name), _) => name.clone(),
        (None, [one]) => device::name(*one).unwrap_or_else(|| one.to_string()).into(),
        (None, _) => "trigger".into(),
    };
    let mut flight = FlightRecorder::new(FlightSettings {
        name,
        dir: o.dir.clone().unwrap_or_else(|| PathBuf::from(".")),
        threshold_ns: u64::try_from(trigger.as_nanos()).unwrap_or(u64::MAX),
        keep_ns: u64::try_from(o.keep.as_nanos()).unwrap_or(u64::MAX),
        record: RecordSettings {
            act_mask: o.act_mask,
            cgroup_ids: false,
        },
        clocks: clocks_now(),
    });
    let stop = Stop::on_signals(INTERRUPT)?.with_deadline(o.stopwatch);
    let source = EventSource::Live {
        options,
        keep_capabilities: &[privileges::CAP_DAC_OVERRIDE],
    };
    let result = feed(source, &stop, &mut flight);
    if let Some(e) = flight.failure.take() {
        return Err(RecordError::Write(e));
    }
    let drops = result?.unwrap_or_default();
    let done = flight.finish().map_err(RecordError::Write)?;
    let events: u64 = done
        .captures
        .iter()
        .flat_map(|(_, counts)| counts.values())
        .map(|c| c.events)
        .sum();
    let mut text = summary(&done.captures, &drops, cpus);
    text.push_str(&format!(
        "Triggered {} times (I/Os slower than {} ms): {} recordings\n",
        done.triggers,
        trigger.as_secs_f64() * 1000.0,
        done.captures.len()
    ));
    if done.evicted_early > 0 {
        text.push_str(&format!(
            "{} events let go before --keep (at most {} kept)\n",
            done.evicted_early,
            super::flight::MAX_KEPT_EVENTS
        ));
    }
    Ok(Finished {
        summary: text,
        summary_to_stderr: false,
        drops: drops_lines(drops.total(), events),
    })
}

/// blktrace's closing warning when events were lost.
fn drops_lines(dropped: u64, written: u64) -> Option<String> {
    if dropped == 0 {
        return None;
    }
    let ratio = dropped as f64 / (dropped + written) as f64;
    Some(format!(
        "\nYou have {dropped} ({:5.1}%) dropped events\n\
         Consider using a larger buffer size (-b) and/or more buffers (-n)\n",
        100.0 * ratio
    ))
}

/// blktrace's closing lines: per trace, events and KiB per CPU and the total.
fn summary(traces: &[(String, BTreeMap<u32, CpuCounts>)], drops: &DropCounts, cpus: u32) -> String {
    let mut text = String::new();
    let total_drops = drops.total();
    for (name, counts) in traces {
        text.push_str(&format!("=== {name} ===\n"));
        let last_cpu = counts.keys().next_back().map_or(0, |c| c + 1).max(cpus);
        let (mut events, mut bytes) = (0, 0);
        for cpu in 0..last_cpu {
            let c = counts.get(&cpu).copied().unwrap_or_default();
            text.push_str(&format!(
                "  CPU{cpu:3}: {:20} events, {:8} KiB data\n",
                c.events,
                c.bytes.div_ceil(1024)
            ));
            events += c.events;
            bytes += c.bytes;
        }
        // The ring buffer is shared: drops belong to the recording, not to one device.
        let dropped = if traces.len() == 1 { total_drops } else { 0 };
        text.push_str(&format!(
            "  Total:  {events:20} events (dropped {dropped}), {:8} KiB data\n",
            (bytes + 1024) >> 10
        ));
    }
    text
}

/// Both clocks, read back to back.
fn clocks_now() -> Clocks {
    let wall_ns = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let monotonic = nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC).map_or(0, |t| {
        t.tv_sec() as u64 * 1_000_000_000 + t.tv_nsec() as u64
    });
    Clocks {
        wall_ns,
        monotonic_ns: monotonic,
    }
}

fn online_cpus() -> u32 {
    std::thread::available_parallelism().map_or(1, |n| n.get() as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_cpu_goes_back_in_time_across_reads() {
        let event = |time_ns: u64| BlockIoEvent {
            cpu: 0,
            ..crate::model::event::tests::sample_event(Action::Queue, time_ns)
        };
        let mut clocks = CpuClocks::default();
        let mut times = Vec::new();
        // An interrupt's event (30) was written; one timed at 20 on the same CPU comes later.
        for t in [10, 30, 20, 40] {
            let mut e = event(t);
            clocks.keep_monotonic(&mut e);
            times.push(e.time_ns);
        }
        assert_eq!(times, vec![10, 30, 30, 40]);
        let mut other_cpu = event(5);
        other_cpu.cpu = 1;
        clocks.keep_monotonic(&mut other_cpu);
        assert_eq!(other_cpu.time_ns, 5, "each CPU on its own");
    }

    #[test]
    fn summary_is_blktraces() {
        let mut counts = BTreeMap::new();
        counts.insert(
            1,
            CpuCounts {
                events: 10,
                bytes: 2000,
            },
        );
        let drops = DropCounts {
            per_cpu: vec![0, 5],
            undecodable: 0,
        };
        let text = summary(&[("loop0".into(), counts)], &drops, 2);
        assert_eq!(
            text,
            "=== loop0 ===\n  \
             CPU  0:                    0 events,        0 KiB data\n  \
             CPU  1:                   10 events,        2 KiB data\n  \
             Total:                    10 events (dropped 5),        2 KiB data\n"
        );
        assert_eq!(
            drops_lines(5, 10).unwrap(),
            "\nYou have 5 ( 33.3%) dropped events\n\
             Consider using a larger buffer size (-b) and/or more buffers (-n)\n"
        );
        assert_eq!(drops_lines(0, 10), None);
    }
}
