//! "I/O Active Period Information": the periods during which a device (or the system) had at
//! least one I/O between issue and completion.

use std::collections::BTreeMap;

use super::time::bit_time;

/// Issue-to-completion intervals, merged where they touch or overlap.
#[derive(Debug, Clone, Default)]
pub struct ActivePeriods {
    /// start -> end, disjoint.
    periods: BTreeMap<u64, u64>,
}

/// What btt prints for a set of active periods.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ActiveSummary {
    pub periods: u64,
    pub avg_active: f64,
    pub avg_idle: f64,
    pub percent_active: f64,
}

impl ActivePeriods {
    /// Adds the interval `[issued, completed]`.
    pub fn add(&mut self, issued: u64, completed: u64) {
        let (mut start, mut end) = (issued, completed);
        // Every period that touches [start, end] starts at or before `end`; walk back from
        // there while they still reach `start`.
        while let Some((&s, &e)) = self.periods.range(..=end).next_back() {
            if e < start {
                break;
            }
            self.periods.remove(&s);
            start = start.min(s);
            end = end.max(e);
        }
        self.periods.insert(start, end);
    }

    /// The periods as `(start, end)`, in time order.
    pub fn periods(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        self.periods.iter().map(|(&s, &e)| (s, e))
    }

    pub fn len(&self) -> usize {
        self.periods.len()
    }

    pub fn is_empty(&self) -> bool {
        self.periods.is_empty()
    }

    /// The figures btt prints. As btt does, the observed span is measured from time zero of
    /// the trace (not from the first period), and a single period shows a zero average.
    pub fn summary(&self) -> ActiveSummary {
        let periods = self.periods.len() as u64;
        let mut s = ActiveSummary {
            periods,
            avg_active: 0.0,
            avg_idle: 0.0,
            percent_active: 0.0,
        };
        match periods {
            0 => {}
            1 => s.percent_active = 100.0,
            _ => {
                let live: u64 = self.periods.iter().map(|(&a, &b)| b - a).sum();
                let last_end = self.periods.values().copied().max().unwrap_or(0);
                let span = bit_time(last_end);
                let live = bit_time(live);
                s.percent_active = 100.0 * (live / span);
                s.avg_active = live / periods as f64;
                s.avg_idle = (span - live) / (periods - 1) as f64;
            }
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn touching_and_overlapping_intervals_merge() {
        let mut p = ActivePeriods::default();
        p.add(10, 20);
        p.add(30, 40);
        p.add(20, 25); // touches the first
        p.add(5, 12); // overlaps the first
        p.add(24, 31); // bridges both
        assert_eq!(p.periods.into_iter().collect::<Vec<_>>(), [(5, 40)]);
    }

    #[test]
    fn summary_measures_from_time_zero() {
        let mut p = ActivePeriods::default();
        p.add(1_000_000_000, 1_500_000_000);
        p.add(3_000_000_000, 4_000_000_000);
        let s = p.summary();
        assert_eq!(s.periods, 2);
        assert_eq!(s.avg_active, 0.75);
        assert_eq!(s.percent_active, 37.5);
        assert_eq!(s.avg_idle, 2.5);
    }
}
