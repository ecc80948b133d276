//! The Q2D histogram of `btt -A`: how long I/Os waited between queue and issue, in ten
//! buckets from under 5 ms to a second and more.

use super::time::{bit_time, fixed};

const BUCKETS: usize = 10;

/// Bucket labels, as btt prints them (the last one carries the newline, and so the space
/// after it starts the next line).
const LABELS: [&str; BUCKETS] = [
    "<.005", "<.010", "<.025", "<.050", "<.075", "<.100", "<.250", "<.500", "< 1.0", ">=1.0\n",
];

#[derive(Debug, Clone, Default)]
pub struct Q2dHistogram {
    total: u64,
    counts: [u64; BUCKETS],
}

impl Q2dHistogram {
    pub fn add(&mut self, q2d_ns: u64) {
        let msec = (bit_time(q2d_ns) / 0.001) as i64;
        let bucket = match msec {
            0..=4 => 0,
            5..=9 => 1,
            10..=24 => 2,
            25..=49 => 3,
            50..=74 => 4,
            75..=99 => 5,
            100..=249 => 6,
            250..=499 => 7,
            500..=999 => 8,
            _ => 9,
        };
        self.counts[bucket] += 1;
        self.total += 1;
    }

    pub fn is_empty(&self) -> bool {
        self.total == 0
    }

    pub fn accumulate(&mut self, other: &Q2dHistogram) {
        for (a, b) in self.counts.iter_mut().zip(other.counts) {
            *a += b;
        }
        self.total += other.total;
    }

    pub fn header() -> String {
        LABELS.iter().map(|l| format!("{l:>5} ")).collect()
    }

    pub fn dashes() -> String {
        "===== ".repeat(BUCKETS) + "\n"
    }

    /// Each bucket's share in percent.
    pub fn row(&self) -> String {
        let n = self.total as f64;
        let mut out: String = self
            .counts
            .iter()
            .map(|&c| fixed(100.0 * c as f64 / n, 5, 1) + " ")
            .collect();
        out.push('\n');
        out
    }
}
