//! Latency histograms as bcc keeps them: counts per power-of-two slot (`Slots`), finer
//! log-linear slots for percentiles (`FineCounts`), and bcc's `print_log2_hist` printer. The
//! kernel counts (`kernel::block_latency`, `kernel::fs_latency`) or a recording is counted
//! (`tools::biolatency::recorded`); this is what the views compute and print from either.

use blkscope_common::block_latency::{LATENCY_SLOTS, fine_slot_range};
use serde::Serialize;

/// Counts per power-of-two slot.
pub type Slots = [u64; LATENCY_SLOTS];

/// Counts per fine (log-linear, nanosecond) slot, and the largest latency seen in them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FineCounts {
    pub slots: Vec<u64>,
    /// Exact when known for the interval, else `None` (the views use the top slot's bound).
    pub max_ns: Option<u64>,
}

/// `now - before` per slot: the counts of one interval from two running totals.
pub fn slot_differences<const N: usize>(now: &[u64; N], before: &[u64; N]) -> [u64; N] {
    let mut interval = [0; N];
    for ((d, n), b) in interval.iter_mut().zip(now).zip(before) {
        *d = n.saturating_sub(*b);
    }
    interval
}

pub fn merge_fine(parts: &[&FineCounts]) -> Option<FineCounts> {
    let first = parts.first()?;
    let mut merged = FineCounts {
        slots: vec![0; first.slots.len()],
        max_ns: None,
    };
    for part in parts {
        for (total, count) in merged.slots.iter_mut().zip(&part.slots) {
            *total += count;
        }
        merged.max_ns = merged.max_ns.max(part.max_ns);
    }
    Some(merged)
}

/// p50, p90, p99, p99.9 and the maximum, in nanoseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Percentiles {
    pub p50: u64,
    pub p90: u64,
    pub p99: u64,
    #[serde(rename = "p99.9")]
    pub p999: u64,
    pub max: u64,
}

/// Percentiles of a fine histogram: each slot's count is recorded at the slot's middle into an
/// HDR histogram (so a percentile is off by at most half a slot, 6%); the maximum is exact when
/// the kernel saw it in this interval, else the top slot's upper bound.
pub fn percentiles(fine: &FineCounts) -> Option<Percentiles> {
    let mut hdr = hdrhistogram::Histogram::<u64>::new_with_bounds(1, u64::MAX / 4, 3).ok()?;
    let mut top = None;
    for (slot, &count) in fine.slots.iter().enumerate() {
        if count == 0 {
            continue;
        }
        let (low, high) = fine_slot_range(slot);
        hdr.record_n((low + (high - low) / 2).max(1), count).ok()?;
        top = Some(high);
    }
    let max = fine.max_ns.unwrap_or(top?);
    // The top slot's middle can lie above the exact maximum: no percentile may exceed it.
    let at = |q: f64| hdr.value_at_quantile(q).min(max);
    Some(Percentiles {
        p50: at(0.5),
        p90: at(0.9),
        p99: at(0.99),
        p999: at(0.999),
        max,
    })
}

/// The percentile line printed under a histogram, in its unit.
pub fn render_percentiles(p: &Percentiles, milliseconds: bool) -> String {
    let (unit, divisor) = if milliseconds {
        ("msecs", 1e6)
    } else {
        ("usecs", 1e3)
    };
    let value = |ns: u64| format!("{:.1}", ns as f64 / divisor);
    format!(
        "     percentiles ({unit}): p50 {}  p90 {}  p99 {}  p99.9 {}  max {}\n",
        value(p.p50),
        value(p.p90),
        value(p.p99),
        value(p.p999),
        value(p.max)
    )
}

/// bcc's `print_log2_hist`: rows from the first slot to the last non-empty one, 40 stars for
/// the largest count. Nothing at all when the histogram is empty.
pub fn render_log2(slots: &Slots, unit: &str) -> String {
    let Some(last) = slots.iter().rposition(|&c| c > 0) else {
        return String::new();
    };
    let max = slots.iter().copied().max().unwrap_or(1).max(1);
    let mut out = format!("     {unit:<19} : count     distribution\n");
    for (slot, &count) in slots.iter().enumerate().take(last + 1) {
        let (low, high) = slot_range(slot);
        let stars = "*".repeat(usize::try_from(count.saturating_mul(40) / max).unwrap_or(40));
        out.push_str(&format!(
            "{low:>10} -> {high:<10} : {count:<8} |{stars:<40}|\n"
        ));
    }
    out
}

/// One slot as bcc's `-j` output has it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct JsonBucket {
    #[serde(rename = "interval-start")]
    pub start: u64,
    #[serde(rename = "interval-end")]
    pub end: u64,
    pub count: u64,
}

/// bcc's `-j` `data`: the slots from the first to the last non-empty one (the first alone
/// when all are empty).
pub fn json_buckets(slots: &Slots) -> Vec<JsonBucket> {
    let last = slots.iter().rposition(|&c| c > 0).unwrap_or(0);
    (0..=last)
        .map(|slot| {
            let (start, end) = slot_range(slot);
            JsonBucket {
                start,
                end,
                count: slots[slot],
            }
        })
        .collect()
}

/// The values slot `i` counts: `[2^i, 2^(i+1) - 1]`, the first slot from 0.
pub fn slot_range(slot: usize) -> (u64, u64) {
    let high = (1u64 << (slot + 1)) - 1;
    let low = if slot == 0 { 0 } else { 1u64 << slot };
    (low, high)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slots(counts: &[(usize, u64)]) -> Slots {
        let mut s = [0; LATENCY_SLOTS];
        for &(i, c) in counts {
            s[i] = c;
        }
        s
    }

    #[test]
    fn renders_like_bcc_print_log2_hist() {
        let text = render_log2(&slots(&[(3, 1), (6, 20), (7, 5)]), "usecs");
        let expected = "     usecs               : count     distribution
         0 -> 1          : 0        |                                        |
         2 -> 3          : 0        |                                        |
         4 -> 7          : 0        |                                        |
         8 -> 15         : 1        |**                                      |
        16 -> 31         : 0        |                                        |
        32 -> 63         : 0        |                                        |
        64 -> 127        : 20       |****************************************|
       128 -> 255        : 5        |**********                              |
";
        assert_eq!(text, expected);
        assert_eq!(render_log2(&[0; LATENCY_SLOTS], "usecs"), "");
    }

    #[test]
    fn percentiles_from_fine_buckets() {
        use blkscope_common::block_latency::{FINE_SLOTS, fine_slot};
        let mut fine = FineCounts {
            slots: vec![0; FINE_SLOTS],
            max_ns: Some(5_000_000),
        };
        // 1000 latencies: 990 at ~10 µs, 9 at ~1 ms, 1 at 5 ms.
        fine.slots[fine_slot(10_000)] += 990;
        fine.slots[fine_slot(1_000_000)] += 9;
        fine.slots[fine_slot(5_000_000)] += 1;
        let p = percentiles(&fine).unwrap();
        let near = |value: u64, target: u64| value.abs_diff(target) * 8 <= target;
        assert!(near(p.p50, 10_000), "{p:?}");
        assert!(near(p.p90, 10_000), "{p:?}");
        assert!(near(p.p99, 10_000) || near(p.p99, 1_000_000), "{p:?}");
        assert!(near(p.p999, 1_000_000), "{p:?}");
        assert_eq!(p.max, 5_000_000);

        // The slowest I/O near the bottom of its slot: p99.9 falls in that slot, whose middle
        // is above the exact maximum; the percentile stops at the maximum.
        let (slot_low, _) = fine_slot_range(fine_slot(5_000_000));
        fine.slots[fine_slot(5_000_000)] += 10;
        fine.max_ns = Some(slot_low + 1);
        let p = percentiles(&fine).unwrap();
        assert_eq!((p.p999, p.max), (slot_low + 1, slot_low + 1), "{p:?}");
        assert_eq!(
            render_percentiles(
                &Percentiles {
                    p50: 1500,
                    p90: 2000,
                    p99: 3000,
                    p999: 4000,
                    max: 5000
                },
                false
            ),
            "     percentiles (usecs): p50 1.5  p90 2.0  p99 3.0  p99.9 4.0  max 5.0\n"
        );
    }

    #[test]
    fn differences_never_go_below_zero() {
        let mut now = [0; LATENCY_SLOTS];
        let mut before = [0; LATENCY_SLOTS];
        now[2] = 7;
        before[2] = 5;
        before[3] = 1;
        let d = slot_differences(&now, &before);
        assert_eq!((d[2], d[3]), (2, 0));
    }
}
