//! Reports every INTERVAL seconds, COUNT times: iostat's and bcc's `[interval [count]]`.
//!
//! Three clocks behind one `Ticker`: `WallClock` (live: aligned on the start, as iostat's
//! alarm, so intervals do not drift by the time a report takes), `ReplayClock` (tests: never
//! waits), and `RecordingClock` (a recording's own time: an interval ends when an event past
//! its end is read).

use std::time::{Duration, Instant};

use super::stop::Stop;

/// Waits for the end of the current interval.
pub trait Ticker {
    /// Waits until the interval ends; true when the run should stop instead (the report of
    /// the interval so far is still due, as the tools print one last report on Ctrl-C).
    fn wait(&mut self) -> bool;
}

/// Live time: intervals of `interval` from the start, cut short by the stop.
pub struct WallClock {
    interval: Option<Duration>,
    next: Option<Instant>,
    last: Instant,
    stop: Stop,
}

impl WallClock {
    /// Intervals of `interval`; without one, a single interval that lasts until the stop
    /// (bcc's biolatency without an interval: one histogram at Ctrl-C).
    pub fn new(interval: Option<Duration>, stop: Stop) -> WallClock {
        let now = Instant::now();
        WallClock {
            interval,
            next: interval.and_then(|i| now.checked_add(i)),
            last: now,
            stop,
        }
    }

    /// Seconds since the previous interval ended (or the start): the length of the interval
    /// just waited for, to turn counts into rates.
    pub fn take_elapsed(&mut self) -> f64 {
        let now = Instant::now();
        let seconds = now.duration_since(self.last).as_secs_f64();
        self.last = now;
        seconds
    }
}

impl Ticker for WallClock {
    fn wait(&mut self) -> bool {
        let stopped = self.stop.sleep_until(self.next);
        if let (Some(next), Some(interval)) = (self.next, self.interval) {
            self.next = next.checked_add(interval);
        }
        stopped
    }
}

/// Captured samples played back: every interval ends at once.
#[derive(Default)]
pub struct ReplayClock;

impl Ticker for ReplayClock {
    fn wait(&mut self) -> bool {
        false
    }
}

/// A recording's own time: intervals of `step` nanoseconds from its first event.
pub struct RecordingClock {
    step_ns: Option<u64>,
    start_ns: Option<u64>,
    end_ns: Option<u64>,
    last_ns: u64,
}

impl RecordingClock {
    /// Intervals of `step_ns`; without a step, the whole recording is one interval.
    pub fn new(step_ns: Option<u64>) -> RecordingClock {
        RecordingClock {
            step_ns: step_ns.map(|s| s.max(1)),
            start_ns: None,
            end_ns: None,
            last_ns: 0,
        }
    }

    /// Takes an event's time; returns the end of an interval it passed (time since the
    /// recording's start), if any. Call again with the same time until it returns `None`: an
    /// event may come after several empty intervals, and each is reported.
    pub fn passed(&mut self, time_ns: u64) -> Option<u64> {
        let start = *self.start_ns.get_or_insert(time_ns);
        self.last_ns = self.last_ns.max(time_ns);
        let step = self.step_ns?;
        let end = self.end_ns.get_or_insert(start.saturating_add(step));
        if time_ns < *end {
            return None;
        }
        let ended = *end - start;
        *end = end.saturating_add(step);
        Some(ended)
    }

    /// Time from the first event to the last one seen: where the last interval ends.
    pub fn elapsed(&self) -> u64 {
        self.last_ns
            .saturating_sub(self.start_ns.unwrap_or(self.last_ns))
    }
}

/// How many reports are still to print (`COUNT`; none: until stopped).
#[derive(Clone, Copy, Debug)]
pub struct ReportCount(Option<u64>);

impl ReportCount {
    pub fn new(count: Option<u64>) -> ReportCount {
        ReportCount(count)
    }

    /// Counts one report; true when it was the last.
    pub fn printed_one(&mut self) -> bool {
        match self.0.as_mut() {
            Some(n) => {
                *n = n.saturating_sub(1);
                *n == 0
            }
            None => false,
        }
    }

    /// Whether no report is left (a COUNT of 0 was given, or all were printed).
    pub fn done(&self) -> bool {
        self.0 == Some(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recording_intervals_end_on_the_events_clock_including_empty_ones() {
        let mut clock = RecordingClock::new(Some(10));
        assert_eq!(clock.passed(100), None);
        assert_eq!(clock.passed(105), None);
        // 100..110 and 110..120 have ended when an event at 125 is read.
        assert_eq!(clock.passed(125), Some(10));
        assert_eq!(clock.passed(125), Some(20));
        assert_eq!(clock.passed(125), None);
        assert_eq!(clock.elapsed(), 25);
    }

    #[test]
    fn a_recording_without_a_step_is_one_interval() {
        let mut clock = RecordingClock::new(None);
        assert_eq!(clock.passed(7), None);
        assert_eq!(clock.passed(1_000_000), None);
        assert_eq!(clock.elapsed(), 999_993);
    }

    #[test]
    fn counts() {
        let mut forever = ReportCount::new(None);
        assert!(!forever.printed_one() && !forever.done());
        let mut two = ReportCount::new(Some(2));
        assert!(!two.printed_one());
        assert!(two.printed_one());
        assert!(two.done());
        assert!(ReportCount::new(Some(0)).done());
    }

    #[test]
    fn the_wall_clock_is_aligned_on_its_start() {
        let stop = Stop::manual();
        let mut clock = WallClock::new(Some(Duration::from_millis(20)), stop.clone());
        let start = Instant::now();
        assert!(!clock.wait());
        assert!(!clock.wait());
        let took = start.elapsed();
        assert!(took >= Duration::from_millis(40), "{took:?}");
        stop.trigger();
        assert!(clock.wait());
    }
}
