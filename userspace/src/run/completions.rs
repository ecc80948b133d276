//! The counting views (bitesize, biopattern) over a recording: its events followed to their
//! completion (`model::inflight`), each finished I/O of a kept cgroup handed to the view, and
//! an interval reported every INTERVAL seconds of the recording's own clock (once at its end
//! without INTERVAL), as the live views report on the wall clock.

use std::path::Path;

use crate::{
    cgroup::RecordedCgroups,
    model::{
        event::{BlockIoEvent, DeviceId},
        inflight::{CompletedIo, RequestTracker},
    },
    run::{
        events::{EventSink, EventSource, FeedError, feed},
        interval::{RecordingClock, ReportCount},
        output::OutputError,
        stop::Stop,
    },
};

/// `HH:MM:SS` of a time since the recording's start: the `-T` stamp of a report over a
/// recording.
pub fn elapsed_stamp(at_ns: u64) -> String {
    let secs = at_ns / 1_000_000_000;
    format!("{:02}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60)
}

/// A view that counts finished I/Os and reports per interval.
pub trait CompletionView {
    /// Counts one finished I/O (one its filters keep).
    fn add(&mut self, io: &CompletedIo, cgroups: &mut RecordedCgroups);

    /// Reports the interval that ended `at_ns` after the recording's start and starts the
    /// next one empty; false once the reader has gone.
    fn report(&mut self, at_ns: u64, cgroups: &mut RecordedCgroups) -> Result<bool, OutputError>;
}

/// How a recording is counted: per INTERVAL seconds (all of it without), COUNT reports at most,
/// the I/Os of one whole disk (`-d`) or of all.
pub struct RecordedRun<'a> {
    pub input: &'a Path,
    pub device: Option<DeviceId>,
    pub interval_s: Option<u64>,
    pub count: Option<u64>,
    pub cgroups: RecordedCgroups,
}

/// Feeds the recording to `view`; what was counted is reported even when the recording turns
/// out damaged (the error follows).
pub fn count_recording(
    run: RecordedRun<'_>,
    stop: &Stop,
    view: &mut dyn CompletionView,
) -> Result<(), FeedError> {
    let source = EventSource::recording(run.input, &[])?;
    let mut counter = Counter {
        view,
        tracker: RequestTracker::new(),
        cgroups: run.cgroups,
        device: run.device,
        clock: RecordingClock::new(
            run.interval_s
                .map(|s| s.max(1).saturating_mul(1_000_000_000)),
        ),
        count: ReportCount::new(run.count),
        reader_gone: false,
    };
    let fed = feed(source, stop, &mut counter);
    if !counter.count.done() && !counter.reader_gone {
        let elapsed = counter.clock.elapsed();
        counter
            .view
            .report(elapsed, &mut counter.cgroups)
            .map_err(|e| FeedError::View(e.to_string()))?;
    }
    fed.map(|_| ())
}

struct Counter<'a> {
    view: &'a mut dyn CompletionView,
    tracker: RequestTracker,
    cgroups: RecordedCgroups,
    device: Option<DeviceId>,
    clock: RecordingClock,
    count: ReportCount,
    reader_gone: bool,
}

impl Counter<'_> {
    /// Counts one event; false once the last report is printed.
    fn count_event(&mut self, event: &BlockIoEvent) -> Result<bool, OutputError> {
        while let Some(ended) = self.clock.passed(event.time_ns) {
            self.reader_gone |= !self.view.report(ended, &mut self.cgroups)?;
            if self.count.printed_one() || self.reader_gone {
                return Ok(false);
            }
        }
        if let Some(io) = self.tracker.observe(event)
            && self.device.is_none_or(|d| d == io.device)
            && self
                .cgroups
                .keeps(io.issuer.as_ref().map_or(0, |i| i.cgroup_id))
        {
            self.view.add(&io, &mut self.cgroups);
        }
        Ok(true)
    }
}

impl EventSink for Counter<'_> {
    fn consume(&mut self, events: &mut Vec<BlockIoEvent>) -> Result<bool, String> {
        for event in events.iter() {
            if !self.count_event(event).map_err(|e| e.to_string())? {
                return Ok(false);
            }
        }
        Ok(true)
    }

    fn cgroup_named(&mut self, id: u64, path: &str) {
        self.cgroups.remember(id, path);
    }

    fn container_named(&mut self, id: u64, name: &str) {
        self.cgroups.remember_name(id, name);
    }
}
