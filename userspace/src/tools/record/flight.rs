//! `record --trigger LAT_MS [--keep SECONDS]`: a flight recorder. The last SECONDS of events are
//! kept in memory (at most `MAX_KEPT_EVENTS` of them); when an I/O slower than LAT_MS (issue to
//! completion, biosnoop's LAT) completes, they are written as a blktrace recording of their
//! own (`NAME.N.blktrace.CPU`, N counting from 1) and the recording goes on for SECONDS after
//! the slow I/O, so that it holds what led to it and what followed. A slow I/O inside a
//! capture's window is in that capture (counted as a trigger, not written twice).

use std::collections::{BTreeMap, VecDeque};
use std::ffi::OsString;
use std::io;
use std::path::PathBuf;

use crate::blktrace::event_encoder::{Clocks, CpuCounts, RecordSettings, Recorder};
use crate::blktrace::format::Trace;
use crate::blktrace::writer::BlktraceWriter;
use crate::model::event::BlockIoEvent;
use crate::model::inflight::RequestTracker;
use crate::run::events::EventSink;

/// Events kept in memory at most (some 150 MB): past it the oldest go, however recent.
pub const MAX_KEPT_EVENTS: usize = 1 << 20;

/// What the flight recorder writes and when.
pub struct FlightSettings {
    /// The captures are `NAME.N` in `dir`.
    pub name: OsString,
    pub dir: PathBuf,
    /// An I/O at least this slow (issue to completion) triggers a capture.
    pub threshold_ns: u64,
    /// Kept before a trigger, and recorded after it.
    pub keep_ns: u64,
    pub record: RecordSettings,
    pub clocks: Clocks,
}

/// One capture being written.
struct Capture {
    name: String,
    recorder: Recorder,
    writer: BlktraceWriter,
    /// The capture ends with the first event at or after this time.
    until_ns: u64,
    records: Vec<Trace>,
}

impl Capture {
    fn write(&mut self, e: &BlockIoEvent) -> io::Result<()> {
        self.records.clear();
        let mut no_path = |_| None;
        let mut no_file = |_, _| None;
        self.recorder.records_into(
            e,
            e.cgroup_id,
            &mut no_path,
            &mut no_file,
            &mut self.records,
        );
        for t in &self.records {
            self.writer.write(t)?;
        }
        Ok(())
    }
}

/// What the flight recorder did, for the closing summary.
pub struct FlightSummary {
    /// Per capture: its name and what it holds per CPU.
    pub captures: Vec<(String, BTreeMap<u32, CpuCounts>)>,
    /// Slow I/Os seen (each started a capture, or was inside one).
    pub triggers: u64,
    /// Events let go before their time because `MAX_KEPT_EVENTS` were kept.
    pub evicted_early: u64,
}

pub struct FlightRecorder {
    settings: FlightSettings,
    kept: VecDeque<BlockIoEvent>,
    tracker: RequestTracker,
    capture: Option<Capture>,
    summary: FlightSummary,
    /// The write error that stopped the recording.
    pub failure: Option<io::Error>,
}

impl FlightRecorder {
    pub fn new(settings: FlightSettings) -> FlightRecorder {
        FlightRecorder {
            settings,
            kept: VecDeque::new(),
            tracker: RequestTracker::new(),
            capture: None,
            summary: FlightSummary {
                captures: Vec::new(),
                triggers: 0,
                evicted_early: 0,
            },
            failure: None,
        }
    }

    /// Takes one event, in time order.
    fn event(&mut self, e: BlockIoEvent) -> io::Result<()> {
        let slow = self.tracker.observe(&e).is_some_and(|io| {
            io.started_ns()
                .is_some_and(|s| io.completed_ns.saturating_sub(s) >= self.settings.threshold_ns)
        });
        self.summary.triggers += u64::from(slow);
        if let Some(capture) = &mut self.capture {
            capture.write(&e)?;
            if e.time_ns >= capture.until_ns {
                self.finish_capture()?;
            }
            return Ok(());
        }
        let time_ns = e.time_ns;
        self.keep(e);
        if slow {
            self.start_capture(time_ns)?;
        }
        Ok(())
    }

    /// Keeps an event, letting go of those older than the window (or past the cap).
    fn keep(&mut self, e: BlockIoEvent) {
        let oldest_kept = e.time_ns.saturating_sub(self.settings.keep_ns);
        self.kept.push_back(e);
        while self.kept.front().is_some_and(|k| k.time_ns < oldest_kept) {
            self.kept.pop_front();
        }
        if self.kept.len() > MAX_KEPT_EVENTS {
            self.kept.pop_front();
            self.summary.evicted_early += 1;
        }
    }

    /// Writes what was kept into a new capture, which stays open `keep` past `now_ns`.
    fn start_capture(&mut self, now_ns: u64) -> io::Result<()> {
        let number = self.summary.captures.len() + 1;
        let mut name = self.settings.name.clone();
        name.push(format!(".{number}"));
        let mut capture = Capture {
            name: name.to_string_lossy().into_owned(),
            recorder: Recorder::new(self.settings.record, self.settings.clocks),
            writer: BlktraceWriter::new(&self.settings.dir, name),
            until_ns: now_ns.saturating_add(self.settings.keep_ns),
            records: Vec::new(),
        };
        for e in self.kept.drain(..) {
            capture.write(&e)?;
        }
        self.capture = Some(capture);
        Ok(())
    }

    fn finish_capture(&mut self) -> io::Result<()> {
        if let Some(capture) = self.capture.take() {
            let counts = capture.recorder.counts();
            capture.writer.finish()?;
            self.summary.captures.push((capture.name, counts));
        }
        Ok(())
    }

    /// Closes a capture still open (tracing stopped inside its window).
    pub fn finish(mut self) -> io::Result<FlightSummary> {
        self.finish_capture()?;
        Ok(self.summary)
    }
}

impl EventSink for FlightRecorder {
    fn consume(&mut self, events: &mut Vec<BlockIoEvent>) -> Result<bool, String> {
        // A read holds the CPUs' events interleaved: in time order for the request tracker.
        events.sort_by_key(|e| e.time_ns);
        for e in events.drain(..) {
            if let Err(err) = self.event(e) {
                let text = err.to_string();
                self.failure = Some(err);
                return Err(text);
            }
        }
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::event::{Action, tests::sample_event};

    fn io(rq: u64, issue_ns: u64, complete_ns: u64) -> [BlockIoEvent; 2] {
        let mut issue = sample_event(Action::Issue, issue_ns);
        issue.request_id = rq;
        issue.from_bio = false;
        let mut complete = sample_event(Action::Complete, complete_ns);
        complete.request_id = rq;
        complete.from_bio = false;
        [issue, complete]
    }

    #[test]
    fn a_slow_io_writes_what_came_before_and_after_it_once() {
        let dir = std::env::temp_dir().join(format!("flight-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut flight = FlightRecorder::new(FlightSettings {
            name: "t".into(),
            dir: dir.clone(),
            threshold_ns: 1_000_000,
            keep_ns: 10_000_000,
            record: RecordSettings::default(),
            clocks: Clocks {
                wall_ns: 0,
                monotonic_ns: 0,
            },
        });
        let mut events = Vec::new();
        // Fast I/Os every ms from 0 to 40 ms; one slow I/O (issued at 20 ms, 5 ms long);
        // another slow one inside the window after it.
        for i in 0..40u64 {
            events.extend(io(100 + i, i * 1_000_000, i * 1_000_000 + 10_000));
        }
        events.extend(io(1, 20_000_000, 25_500_000));
        events.extend(io(2, 26_000_000, 28_000_000));
        flight.consume(&mut events).unwrap();
        let summary = flight.finish().unwrap();
        assert_eq!(summary.triggers, 2);
        assert_eq!(summary.captures.len(), 1, "the second was inside the first");
        let (name, counts) = &summary.captures[0];
        assert_eq!(name, "t.1");
        // From 15.5 ms (10 ms before the trigger) to 35.5 ms (10 ms after): 20 fast I/Os
        // of 2 events, give or take the window's edges, and the two slow ones.
        let events: u64 = counts.values().map(|c| c.events).sum();
        assert!((40..=48).contains(&events), "{events}");
        assert!(dir.join("t.1.blktrace.1").exists());
        assert!(!dir.join("t.2.blktrace.1").exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
