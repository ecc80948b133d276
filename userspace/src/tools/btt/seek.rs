//! Seek distances between consecutive I/Os of a device (btt's "Q2Q" and "D2D Seek
//! Information"): count, mean, median and modes, computed as btt computes them.

use super::rbtree::CountTree;

/// The seeks of one device at one point of the path (queue or issue).
#[derive(Debug, Clone, Default)]
pub struct SeekStats {
    buckets: CountTree,
    total_seeks: i64,
    total_sectors: f64,
    last_start: i64,
    last_end: i64,
}

/// The most frequent distances and how often each occurred.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Modes {
    pub most_seeks: i32,
    pub modes: Vec<i64>,
}

impl SeekStats {
    /// Adds the seek to an I/O of `[start, end)` sectors. `absolute`: btt's `-a`, the distance
    /// from the previous end even when the two overlap. Returns the signed distance.
    pub fn add(&mut self, start: u64, end: u64, absolute: bool) -> i64 {
        let (start, end) = (start as i64, end as i64);
        let (ls, le) = (self.last_start, self.last_end);
        let dist = if absolute {
            start.wrapping_sub(le)
        } else if (ls <= start && start <= le) || (ls <= end && end <= le) {
            0
        } else if start > le {
            start.wrapping_sub(le)
        } else {
            start.wrapping_sub(ls)
        };
        self.last_start = start;
        self.last_end = end;
        let magnitude = dist.wrapping_abs();
        self.total_seeks += 1;
        self.total_sectors += magnitude as f64;
        self.buckets.add(magnitude);
        dist
    }

    pub fn count(&self) -> i64 {
        self.total_seeks
    }

    pub fn mean(&self) -> f64 {
        self.total_sectors / self.total_seeks as f64
    }

    /// btt's median: the first bucket, in pre-order, that alone holds half of the seeks.
    pub fn median(&self) -> i64 {
        let target = self.total_seeks / 2;
        self.buckets
            .pre_order()
            .into_iter()
            .find(|&(_, n)| i64::from(n) >= target)
            .map_or(0, |(key, _)| key)
    }

    /// The buckets with the most seeks, in post-order.
    pub fn modes(&self) -> Modes {
        let mut m = Modes::default();
        for (key, n) in self.buckets.post_order() {
            if m.modes.is_empty() || n > m.most_seeks {
                m.modes.clear();
            } else if n < m.most_seeks {
                continue;
            }
            m.most_seeks = n;
            m.modes.push(key);
        }
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlapping_io_is_no_seek() {
        let mut s = SeekStats::default();
        assert_eq!(s.add(100, 108, false), 100);
        assert_eq!(s.add(104, 112, false), 0);
        assert_eq!(s.add(50, 58, false), -54);
        assert_eq!(s.add(200, 208, true), 142);
        assert_eq!(s.count(), 4);
        assert_eq!(s.mean(), (100 + 54 + 142) as f64 / 4.0);
    }

    #[test]
    fn mode_and_median_of_a_clear_winner() {
        let mut s = SeekStats::default();
        for (a, b) in [(0, 8), (8, 16), (16, 24), (1000, 1008), (1008, 1016)] {
            s.add(a, b, false);
        }
        // Distances 0 (first from 0), 0, 0, 976, 0.
        assert_eq!(s.median(), 0);
        assert_eq!(
            s.modes(),
            Modes {
                most_seeks: 4,
                modes: vec![0]
            }
        );
    }
}
