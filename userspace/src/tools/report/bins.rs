//! The charts' numbers: a disk's I/Os binned in time (completion time, in whole microseconds
//! from the report's time zero, as biosnoop prints it), in log2 latency buckets (biolatency's),
//! and in sector rows. Binning is what keeps a page of a large trace small: a chart has at most
//! `TIME_BINS` columns whatever the trace's length.

use std::collections::BTreeMap;

use super::collect::{Direction, IoSample};

/// Columns of every time chart.
pub const TIME_BINS: u64 = 100;
/// Rows of the offset chart.
pub const SECTOR_ROWS: u64 = 60;

/// The time columns: `width_us` microseconds each from `origin_us`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimeBins {
    pub origin_us: u64,
    pub width_us: u64,
    pub columns: u64,
}

impl TimeBins {
    /// Columns covering completions from `origin_us` to `last_us`.
    pub fn covering(origin_us: u64, last_us: u64) -> TimeBins {
        let span = last_us.saturating_sub(origin_us) + 1;
        let width_us = span.div_ceil(TIME_BINS).max(1);
        TimeBins {
            origin_us,
            width_us,
            columns: span.div_ceil(width_us),
        }
    }

    /// The column of a time in nanoseconds (whole microseconds first, as biosnoop rounds).
    pub fn column(&self, time_ns: u64) -> u64 {
        ((time_ns / 1000).saturating_sub(self.origin_us) / self.width_us).min(self.columns - 1)
    }

    /// The column's first microsecond, from time zero.
    pub fn start_us(&self, column: u64) -> u64 {
        column * self.width_us
    }

    pub fn span_us(&self) -> u64 {
        self.columns * self.width_us
    }
}

/// biolatency's log2 bucket of a latency in microseconds: 0 holds 0 and 1, bucket `b` holds
/// 2^b to 2^(b+1)-1.
pub fn latency_bucket(latency_us: u64) -> u32 {
    if latency_us < 2 {
        0
    } else {
        63 - latency_us.leading_zeros()
    }
}

/// The microseconds a latency bucket holds, first and last.
pub fn bucket_range_us(bucket: u32) -> (u64, u64) {
    if bucket == 0 {
        (0, 1)
    } else {
        (1 << bucket, (1 << (bucket + 1)) - 1)
    }
}

/// I/Os per (time column, latency bucket).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Heatmap {
    pub cells: BTreeMap<(u64, u32), u64>,
}

impl Heatmap {
    pub fn of(ios: &[IoSample], bins: &TimeBins) -> Heatmap {
        let mut cells = BTreeMap::new();
        for io in ios {
            let bucket = latency_bucket(io.latency_ns() / 1000);
            *cells
                .entry((bins.column(io.completed_ns), bucket))
                .or_insert(0) += 1;
        }
        Heatmap { cells }
    }

    /// The lowest and highest bucket with an I/O.
    pub fn bucket_span(&self) -> Option<(u32, u32)> {
        let low = self.cells.keys().map(|(_, b)| *b).min()?;
        let high = self.cells.keys().map(|(_, b)| *b).max()?;
        Some((low, high))
    }

    pub fn max_count(&self) -> u64 {
        self.cells.values().copied().max().unwrap_or(0)
    }
}

/// Per time column: completions, bytes read and written (not discarded: a discard moves no
/// data, and its megabytes would flatten the chart), and the mean number of I/Os in flight
/// (started and not completed), weighted by time.
#[derive(Debug, PartialEq)]
pub struct Throughput {
    pub ios: Vec<u64>,
    pub bytes: Vec<u64>,
    pub depth: Vec<f64>,
}

impl Throughput {
    pub fn of(ios: &[IoSample], bins: &TimeBins) -> Throughput {
        let n = bins.columns as usize;
        let (mut count, mut bytes, mut busy_ns) = (vec![0; n], vec![0; n], vec![0u64; n]);
        let origin_ns = bins.origin_us * 1000;
        let width_ns = bins.width_us * 1000;
        for io in ios {
            let c = bins.column(io.completed_ns) as usize;
            count[c] += 1;
            if io.direction != Direction::Other {
                bytes[c] += u64::from(io.bytes);
            }
            // The I/O's time in flight, spread over the columns it spans.
            let from = io.started_ns.max(origin_ns) - origin_ns;
            let to = io
                .completed_ns
                .saturating_sub(origin_ns)
                .min(width_ns * bins.columns);
            let mut t = from;
            while t < to {
                let column = t / width_ns;
                let end = ((column + 1) * width_ns).min(to);
                busy_ns[column as usize] += end - t;
                t = end;
            }
        }
        let depth = busy_ns
            .iter()
            .map(|&b| b as f64 / width_ns as f64)
            .collect();
        Throughput {
            ios: count,
            bytes,
            depth,
        }
    }
}

/// I/Os per (time column, sector row, direction): where on the disk they went, when.
#[derive(Debug, PartialEq, Eq)]
pub struct Offsets {
    /// Sectors per row.
    pub row_sectors: u64,
    pub rows: u64,
    pub cells: BTreeMap<(u64, u64, Direction), u64>,
}

impl Offsets {
    pub fn of(ios: &[IoSample], bins: &TimeBins) -> Offsets {
        let end = ios
            .iter()
            .map(|io| io.sector + u64::from(io.bytes >> 9))
            .max()
            .unwrap_or(0)
            .max(1);
        let row_sectors = end.div_ceil(SECTOR_ROWS).max(1);
        let mut cells = BTreeMap::new();
        for io in ios {
            let key = (
                bins.column(io.completed_ns),
                io.sector / row_sectors,
                io.direction,
            );
            *cells.entry(key).or_insert(0) += 1;
        }
        Offsets {
            row_sectors,
            rows: end.div_ceil(row_sectors),
            cells,
        }
    }
}

/// btt's stage averages, in nanoseconds, each over the I/Os that have both ends of it.
#[derive(Debug, Default, PartialEq)]
pub struct Stages {
    /// (name, mean ns, I/Os) for Q2G, G2I, I2D, D2C.
    pub stages: Vec<(&'static str, f64, u64)>,
}

impl Stages {
    pub fn of(ios: &[IoSample]) -> Stages {
        type Ends = fn(&IoSample) -> (Option<u64>, Option<u64>);
        let spans: [(&str, Ends); 4] = [
            ("Q2G", |io| (io.queued_ns, io.got_ns)),
            ("G2I", |io| (io.got_ns, io.inserted_ns)),
            ("I2D", |io| (io.inserted_ns, io.issued_ns)),
            ("D2C", |io| (io.issued_ns, Some(io.completed_ns))),
        ];
        let stages = spans
            .iter()
            .map(|(name, ends)| {
                let (mut sum, mut n) = (0u64, 0u64);
                for io in ios {
                    if let (Some(a), Some(b)) = ends(io)
                        && b >= a
                    {
                        sum += b - a;
                        n += 1;
                    }
                }
                let mean = if n == 0 { 0.0 } else { sum as f64 / n as f64 };
                (*name, mean, n)
            })
            .collect();
        Stages { stages }
    }
}

/// The latency histogram (biolatency's buckets) and its percentiles, in microseconds.
#[derive(Debug, PartialEq)]
pub struct Latencies {
    pub buckets: BTreeMap<u32, u64>,
    /// (label, microseconds): p50, p90, p99, p99.9, max.
    pub percentiles: Vec<(&'static str, f64)>,
}

impl Latencies {
    pub fn of(ios: &[IoSample]) -> Latencies {
        let mut sorted: Vec<u64> = ios.iter().map(IoSample::latency_ns).collect();
        sorted.sort_unstable();
        let mut buckets = BTreeMap::new();
        for ns in &sorted {
            *buckets.entry(latency_bucket(ns / 1000)).or_insert(0) += 1;
        }
        let at = |q: f64| -> f64 {
            if sorted.is_empty() {
                return 0.0;
            }
            // The nearest-rank percentile: the smallest latency with q of the I/Os at or below.
            let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
            sorted[rank - 1] as f64 / 1000.0
        };
        let percentiles = vec![
            ("p50", at(0.50)),
            ("p90", at(0.90)),
            ("p99", at(0.99)),
            ("p99.9", at(0.999)),
            ("max", at(1.0)),
        ];
        Latencies {
            buckets,
            percentiles,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn io(started_ns: u64, completed_ns: u64, sector: u64, direction: Direction) -> IoSample {
        IoSample {
            started_ns,
            completed_ns,
            queued_ns: Some(started_ns.saturating_sub(3_000)),
            got_ns: Some(started_ns.saturating_sub(2_000)),
            inserted_ns: Some(started_ns.saturating_sub(1_000)),
            issued_ns: Some(started_ns),
            sector,
            bytes: 4096,
            direction,
        }
    }

    #[test]
    fn buckets_are_biolatencys() {
        assert_eq!(latency_bucket(0), 0);
        assert_eq!(latency_bucket(1), 0);
        assert_eq!(latency_bucket(2), 1);
        assert_eq!(latency_bucket(3), 1);
        assert_eq!(latency_bucket(4), 2);
        assert_eq!(latency_bucket(1023), 9);
        assert_eq!(bucket_range_us(0), (0, 1));
        assert_eq!(bucket_range_us(9), (512, 1023));
    }

    #[test]
    fn a_long_trace_is_binned_into_at_most_a_hundred_columns() {
        let bins = TimeBins::covering(1_000, 1_000 + 10_000_000);
        assert!(bins.columns <= TIME_BINS, "{bins:?}");
        assert_eq!(bins.column(1_000_000), 0);
        assert_eq!(bins.column(11_000_000_000), bins.columns - 1);
        let short = TimeBins::covering(5, 5);
        assert_eq!((short.width_us, short.columns), (1, 1));
    }

    #[test]
    fn heatmap_cells_count_every_io_once() {
        let ios = [
            io(0, 10_000, 0, Direction::Read),
            io(5_000_000, 5_100_000, 8, Direction::Write),
            io(9_000_000, 9_000_500, 16, Direction::Read),
        ];
        let bins = TimeBins::covering(10, 9_000);
        let heat = Heatmap::of(&ios, &bins);
        assert_eq!(heat.cells.values().sum::<u64>(), 3);
        assert_eq!(heat.cells.get(&(0, 3)), Some(&1), "10 µs: bucket 8-15");
        assert_eq!(heat.bucket_span(), Some((0, 6)));
    }

    #[test]
    fn depth_is_time_in_flight_per_column() {
        // Two I/Os each in flight for a whole 1 ms column: depth 2 there.
        let bins = TimeBins {
            origin_us: 0,
            width_us: 1_000,
            columns: 3,
        };
        let ios = [
            io(1_000_000, 2_000_000, 0, Direction::Read),
            io(1_000_000, 2_999_999, 0, Direction::Read),
        ];
        let t = Throughput::of(&ios, &bins);
        assert_eq!(t.ios, [0, 0, 2]);
        assert!((t.depth[1] - 2.0).abs() < 1e-9, "{:?}", t.depth);
        assert!(t.depth[0] == 0.0);
    }

    #[test]
    fn stages_and_percentiles() {
        let ios: Vec<IoSample> = (1..=1000)
            .map(|i| io(10_000, 10_000 + i * 1_000, 0, Direction::Read))
            .collect();
        let stages = Stages::of(&ios);
        assert_eq!(stages.stages[0], ("Q2G", 1_000.0, 1000));
        assert_eq!(stages.stages[3].1, 500_500.0);
        let lat = Latencies::of(&ios);
        assert_eq!(lat.percentiles[0], ("p50", 500.0));
        assert_eq!(lat.percentiles[2], ("p99", 990.0));
        assert_eq!(lat.percentiles[4], ("max", 1000.0));
        assert_eq!(lat.buckets.values().sum::<u64>(), 1000);
    }

    #[test]
    fn offsets_rows_cover_the_highest_sector() {
        let ios = [
            io(0, 1_000, 0, Direction::Read),
            io(0, 1_000, 5_999, Direction::Write),
        ];
        let bins = TimeBins::covering(1, 1);
        let o = Offsets::of(&ios, &bins);
        assert!(o.rows <= SECTOR_ROWS);
        assert!(o.rows * o.row_sectors >= 6_007);
        assert_eq!(o.cells.values().sum::<u64>(), 2);
    }
}
