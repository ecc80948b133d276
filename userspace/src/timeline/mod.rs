//! Block I/O as a timeline in the Chrome trace-event JSON format, which ui.perfetto.dev and
//! chrome://tracing open (`parse --format perfetto`, `record --perfetto`).
//!
//! Each disk is a process of the timeline. Each completed I/O is an async slice on it, from its
//! queueing (or, when that was not seen, its issue) to its completion, named by direction and
//! size, with its sector, size, rwbs, process and container as arguments; the time it waited
//! before the driver had it is a nested `queued` slice. Async slices, not complete ones ("X"):
//! I/Os in flight together overlap without nesting, which Perfetto lays out in lanes only for
//! async slices. A counter per disk follows the requests the driver holds.

use std::collections::{BTreeMap, HashMap};
use std::io::{self, Write};

use serde::Serialize;

use crate::model::event::{Action, BlockIoEvent, DeviceId, rwbs};
use crate::model::inflight::{CompletedIo, RequestTracker};

/// The shortest gap between two samples of a disk's in-flight counter: a sample per change
/// would be two per I/O, as many as the slices; the last value of a shorter gap is kept.
const COUNTER_GAP_NS: u64 = 10_000;

/// One trace event, as the format names its fields.
#[derive(Serialize)]
struct TraceEvent<'a, A: Serialize> {
    name: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    cat: &'a str,
    ph: &'a str,
    /// Microseconds from the first event.
    #[serde(skip_serializing_if = "Option::is_none")]
    ts: Option<f64>,
    pid: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<u64>,
    args: A,
}

/// The arguments of an I/O's slice.
#[derive(Serialize)]
struct IoArgs<'a> {
    sector: u64,
    bytes: u32,
    rwbs: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    process: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pid: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    container: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cgroup_id: Option<u64>,
}

#[derive(Serialize)]
struct NameArgs<'a> {
    name: &'a str,
}

#[derive(Serialize)]
struct CounterArgs {
    requests: u64,
}

#[derive(Serialize)]
struct NoArgs {}

/// A disk's process on the timeline and its in-flight counter.
struct DiskTrack {
    pid: u32,
    in_flight: u64,
    /// When the count last changed, and whether that value is not written yet.
    changed_ns: u64,
    unsampled: bool,
    /// When the counter was last written.
    sampled_ns: Option<u64>,
}

/// Writes the timeline of a stream of block events.
pub struct TimelineWriter<W: Write> {
    out: W,
    tracker: RequestTracker,
    disks: BTreeMap<DeviceId, DiskTrack>,
    /// Cgroup id -> container (or cgroup path), from the recording's notes or the resolver.
    containers: HashMap<u64, String>,
    /// The time all timestamps are counted from (the first event's).
    start_ns: Option<u64>,
    /// Events written so far (a comma goes before each but the first).
    written: u64,
    /// I/O slices written so far.
    slices: u64,
    /// Names each disk's process: `DiskNames::name(device)`.
    disk_name: Box<dyn FnMut(DeviceId) -> String>,
}

impl<W: Write> TimelineWriter<W> {
    /// Starts the JSON document on `out`; `disk_name` names a disk's process.
    pub fn new(mut out: W, disk_name: Box<dyn FnMut(DeviceId) -> String>) -> io::Result<Self> {
        out.write_all(b"{\"displayTimeUnit\":\"ns\",\"traceEvents\":[\n")?;
        Ok(TimelineWriter {
            out,
            tracker: RequestTracker::new(),
            disks: BTreeMap::new(),
            containers: HashMap::new(),
            start_ns: None,
            written: 0,
            slices: 0,
            disk_name,
        })
    }

    /// A cgroup's container (or path) for the slices of its I/O.
    pub fn name_cgroup(&mut self, id: u64, name: &str) {
        self.containers.insert(id, name.to_owned());
    }

    /// Takes one event in; writes the slices of an I/O it completes.
    pub fn event(&mut self, e: &BlockIoEvent) -> io::Result<()> {
        self.start_ns.get_or_insert(e.time_ns);
        self.disk(e.device)?;
        match e.action {
            Action::Issue => self.in_flight(e.device, e.time_ns, 1)?,
            Action::Requeue => self.in_flight(e.device, e.time_ns, -1)?,
            _ => {}
        }
        if let Some(io) = self.tracker.observe(e) {
            if io.issued_ns.is_some() {
                self.in_flight(io.device, io.completed_ns, -1)?;
            }
            self.io(&io)?;
        }
        Ok(())
    }

    /// Ends the JSON document; returns the number of I/O slices written.
    pub fn finish(mut self) -> io::Result<u64> {
        let devices: Vec<DeviceId> = self.disks.keys().copied().collect();
        for device in devices {
            self.sample(device)?;
        }
        self.out.write_all(b"\n]}\n")?;
        self.out.flush()?;
        Ok(self.slices)
    }

    /// The disk's track, named on first sight.
    fn disk(&mut self, device: DeviceId) -> io::Result<u32> {
        if let Some(track) = self.disks.get(&device) {
            return Ok(track.pid);
        }
        let pid = self.disks.len() as u32 + 1;
        self.disks.insert(
            device,
            DiskTrack {
                pid,
                in_flight: 0,
                changed_ns: 0,
                unsampled: false,
                sampled_ns: None,
            },
        );
        let name = (self.disk_name)(device);
        self.write(&TraceEvent {
            name: "process_name",
            cat: "",
            ph: "M",
            ts: None,
            pid,
            id: None,
            args: NameArgs { name: &name },
        })?;
        Ok(pid)
    }

    /// The slice of one completed I/O, with its queued stage nested in it.
    fn io(&mut self, io: &CompletedIo) -> io::Result<()> {
        let Some(begin) = io.queued_ns.or(io.started_ns()) else {
            // Queued and issued before the trace began: its start is not known.
            return Ok(());
        };
        let pid = self.disk(io.device)?;
        let id = Some(self.slices + 1);
        let rwbs = rwbs(io.op, io.flags);
        let name = format!("{rwbs} {}", size_label(io.bytes));
        let owner = io.charged_cgroup();
        let container = owner.and_then(|o| self.containers.get(&o)).cloned();
        let args = IoArgs {
            sector: io.sector,
            bytes: io.bytes,
            rwbs: &rwbs,
            process: io.issuer.as_ref().map(|i| i.comm.as_str()),
            pid: io.issuer.as_ref().map(|i| i.tgid),
            container: container.as_deref(),
            cgroup_id: owner.filter(|&c| c != 0),
        };
        let edge = |ph, ts, name| TraceEvent {
            name,
            cat: "io",
            ph,
            ts: Some(ts),
            pid,
            id,
            args: NoArgs {},
        };
        let opening = TraceEvent {
            name: &name,
            cat: "io",
            ph: "b",
            ts: Some(self.micros(begin)),
            pid,
            id,
            args,
        };
        let closing = edge("e", self.micros(io.completed_ns), &name);
        let queued = match (io.queued_ns, io.issued_ns) {
            (Some(q), Some(d)) if d > q => Some((
                edge("b", self.micros(q), "queued"),
                edge("e", self.micros(d), "queued"),
            )),
            _ => None,
        };
        self.write(&opening)?;
        if let Some((b, e)) = queued {
            self.write(&b)?;
            self.write(&e)?;
        }
        self.write(&closing)?;
        self.slices += 1;
        Ok(())
    }

    /// Moves a disk's in-flight count by `change` at `time_ns`, sampling the counter: a change
    /// within `COUNTER_GAP_NS` of the last sample waits, and is written (at its own time) before
    /// the next sample, unless another change replaced it first.
    fn in_flight(&mut self, device: DeviceId, time_ns: u64, change: i64) -> io::Result<()> {
        let Some(track) = self.disks.get(&device) else {
            return Ok(());
        };
        let due = track
            .sampled_ns
            .is_none_or(|last| time_ns.saturating_sub(last) >= COUNTER_GAP_NS);
        if due {
            self.sample(device)?;
        }
        let Some(track) = self.disks.get_mut(&device) else {
            return Ok(());
        };
        track.in_flight = track.in_flight.saturating_add_signed(change);
        track.changed_ns = time_ns;
        track.unsampled = true;
        if due {
            track.sampled_ns = Some(time_ns);
            self.sample(device)?;
        }
        Ok(())
    }

    /// Writes the disk's counter at its last change, if it was not written since.
    fn sample(&mut self, device: DeviceId) -> io::Result<()> {
        let Some(track) = self.disks.get_mut(&device) else {
            return Ok(());
        };
        if !track.unsampled {
            return Ok(());
        }
        track.unsampled = false;
        let (pid, requests, time) = (track.pid, track.in_flight, track.changed_ns);
        let ts = Some(self.micros(time));
        self.write(&TraceEvent {
            name: "requests in flight",
            cat: "",
            ph: "C",
            ts,
            pid,
            id: None,
            args: CounterArgs { requests },
        })
    }

    fn micros(&self, time_ns: u64) -> f64 {
        time_ns.saturating_sub(self.start_ns.unwrap_or(time_ns)) as f64 / 1000.0
    }

    fn write<A: Serialize>(&mut self, event: &TraceEvent<'_, A>) -> io::Result<()> {
        if self.written > 0 {
            self.out.write_all(b",\n")?;
        }
        serde_json::to_writer(&mut self.out, event)?;
        self.written += 1;
        Ok(())
    }
}

/// `4 KiB`, `128 KiB`, `1.5 MiB`, `512 B`.
fn size_label(bytes: u32) -> String {
    match bytes {
        b if b >= 1 << 20 && b % (1 << 20) == 0 => format!("{} MiB", b >> 20),
        b if b >= 1 << 20 => format!("{:.1} MiB", f64::from(b) / f64::from(1u32 << 20)),
        b if b >= 1 << 10 && b % (1 << 10) == 0 => format!("{} KiB", b >> 10),
        b => format!("{b} B"),
    }
}

#[cfg(test)]
mod tests;
