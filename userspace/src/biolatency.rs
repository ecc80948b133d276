//! `blkscope biolatency`: bcc biolatency's power-of-two latency histograms, from histograms the
//! kernel keeps (see `kernel::biolatency`). This module only renders them.

use std::collections::BTreeMap;

use blkscope_common::biolatency::{HistogramKey, LATENCY_SLOTS, fine_slot_range};
use serde::Serialize;

use crate::{
    device,
    event::{DeviceId, Operation, RequestFlagBits},
    kernel::biolatency::{FineCounts, Slots},
};

/// How to split and label the histograms.
#[derive(Clone, Debug, Default)]
pub struct HistogramLayout {
    pub per_disk: bool,
    pub per_flag: bool,
    /// One histogram per container (`--containers`).
    pub per_container: bool,
    pub milliseconds: bool,
}

impl HistogramLayout {
    fn unit(&self) -> &'static str {
        if self.milliseconds { "msecs" } else { "usecs" }
    }
}

/// One histogram to print, with its section label (`disk = loop0`, `flags = Sync-Write`).
#[derive(Debug, PartialEq, Eq)]
pub struct LabelledHistogram {
    pub section: Option<(&'static str, String)>,
    pub slots: Slots,
    /// With `--percentiles`.
    pub percentiles: Option<Percentiles>,
}

/// Names for what the histograms are split by.
pub struct SectionNames<'a> {
    pub flag_bits: Option<&'a RequestFlagBits>,
    pub disk: &'a mut dyn FnMut(DeviceId) -> String,
    /// A cgroup id's container label (cgroups of one container share a histogram).
    pub container: &'a mut dyn FnMut(u64) -> String,
}

/// Groups the kernel's histograms into what is printed: one overall, or one per disk, flag set
/// or container (cgroups of one container share its histogram). With fine histograms
/// (`--percentiles`), each printed histogram also gets its percentiles.
pub fn label_histograms(
    histograms: &BTreeMap<HistogramKey, Slots>,
    fine: &BTreeMap<HistogramKey, FineCounts>,
    layout: &HistogramLayout,
    names: &mut SectionNames<'_>,
) -> Vec<LabelledHistogram> {
    let mut groups: BTreeMap<Option<(&'static str, String)>, Vec<HistogramKey>> = BTreeMap::new();
    for key in histograms.keys().chain(fine.keys()) {
        let section = section_of(key, layout, names);
        let keys = groups.entry(section).or_default();
        if !keys.contains(key) {
            keys.push(*key);
        }
    }
    if groups.is_empty() && !layout.per_disk && !layout.per_flag && !layout.per_container {
        groups.insert(None, Vec::new());
    }
    groups
        .into_iter()
        .map(|(section, keys)| {
            let mut slots = [0u64; LATENCY_SLOTS];
            for key in &keys {
                for (total, count) in slots
                    .iter_mut()
                    .zip(histograms.get(key).into_iter().flatten())
                {
                    *total += count;
                }
            }
            let fine_counts: Vec<&FineCounts> = keys.iter().filter_map(|k| fine.get(k)).collect();
            LabelledHistogram {
                section,
                slots,
                percentiles: merge_fine(&fine_counts).and_then(|f| percentiles(&f)),
            }
        })
        .collect()
}

fn section_of(
    key: &HistogramKey,
    layout: &HistogramLayout,
    names: &mut SectionNames<'_>,
) -> Option<(&'static str, String)> {
    if layout.per_container {
        Some(("container", (names.container)(key.cgroup_id)))
    } else if layout.per_disk {
        Some(("disk", (names.disk)(DeviceId::from_kernel(key.dev))))
    } else if layout.per_flag {
        let flags = names.flag_bits.map_or_else(
            || "Unknown".to_owned(),
            |b| flags_description(b, key.cmd_flags),
        );
        Some(("flags", flags))
    } else {
        None
    }
}

fn merge_fine(parts: &[&FineCounts]) -> Option<FineCounts> {
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

/// The text of one interval, as bcc prints it after the blank line.
pub fn render_text(histograms: &[LabelledHistogram], layout: &HistogramLayout) -> String {
    let mut out = String::new();
    for histogram in histograms {
        if let Some((name, value)) = &histogram.section {
            out.push_str(&format!("\n{name} = {value}\n"));
        }
        out.push_str(&render_log2(&histogram.slots, layout.unit()));
        if let Some(p) = &histogram.percentiles {
            out.push_str(&render_percentiles(p, layout.milliseconds));
        }
    }
    out
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

/// The values slot `i` counts: `[2^i, 2^(i+1) - 1]`, the first slot from 0.
fn slot_range(slot: usize) -> (u64, u64) {
    let high = (1u64 << (slot + 1)) - 1;
    let low = if slot == 0 { 0 } else { 1u64 << slot };
    (low, high)
}

/// One interval as JSON: bcc's `-j` fields, in real JSON.
pub fn render_json(histograms: &[LabelledHistogram], layout: &HistogramLayout, ts: &str) -> String {
    #[derive(Serialize)]
    struct Bucket {
        #[serde(rename = "interval-start")]
        start: u64,
        #[serde(rename = "interval-end")]
        end: u64,
        count: u64,
    }
    let mut lines = Vec::new();
    for histogram in histograms {
        let last = histogram.slots.iter().rposition(|&c| c > 0).unwrap_or(0);
        let data: Vec<Bucket> = histogram
            .slots
            .iter()
            .enumerate()
            .take(last + 1)
            .map(|(slot, &count)| {
                let (start, end) = slot_range(slot);
                Bucket { start, end, count }
            })
            .collect();
        let mut object = serde_json::json!({"ts": ts, "val_type": layout.unit(), "data": data});
        if let Some((name, value)) = &histogram.section {
            object[*name] = serde_json::Value::String(value.clone());
        }
        if let Some(p) = &histogram.percentiles {
            object["percentiles_ns"] = serde_json::to_value(p).unwrap_or_default();
        }
        lines.push(object.to_string());
    }
    lines.join("\n")
}

/// bcc's description of a flag set: `Sync-Write`, `ReadAhead-Read`, `Metadata-Sync-Write`.
pub fn flags_description(bits: &RequestFlagBits, cmd_flags: u32) -> String {
    let mut text = match bits.operation(cmd_flags) {
        Operation::Read => "Read",
        Operation::Write => "Write",
        Operation::Flush => "Flush",
        Operation::Discard => "Discard",
        Operation::SecureErase => "SecureErase",
        Operation::WriteZeroes => "WriteZeros",
        _ => "Unknown",
    }
    .to_owned();
    let flags = bits.flags(cmd_flags);
    let nomerge = bits
        .nomerge
        .is_some_and(|b| b < 32 && cmd_flags & (1 << b) != 0);
    // bcc prepends each flag in this order, so the last one ends up first.
    for (on, prefix) in [
        (flags.sync, "Sync-"),
        (flags.meta, "Metadata-"),
        (flags.fua, "ForcedUnitAccess-"),
        (flags.priority, "Priority-"),
        (nomerge, "NoMerge-"),
        (flags.idle, "Idle-"),
        (flags.readahead, "ReadAhead-"),
        (flags.background, "Background-"),
        (flags.nowait, "NoWait-"),
    ] {
        if on {
            text.insert_str(0, prefix);
        }
    }
    text
}

/// The disk's kernel name, `?` when it has none (bcc's placeholder).
pub fn disk_name(device: DeviceId) -> String {
    device::name(device).unwrap_or_else(|| "?".to_owned())
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
    fn sections_per_disk() {
        let mut histograms = BTreeMap::new();
        histograms.insert(
            HistogramKey {
                dev: 7 << 20,
                cmd_flags: 0,
                cgroup_id: 40,
                ..HistogramKey::default()
            },
            slots(&[(0, 2)]),
        );
        histograms.insert(
            HistogramKey {
                dev: 8 << 20,
                cmd_flags: 0,
                cgroup_id: 41,
                ..HistogramKey::default()
            },
            slots(&[(0, 3)]),
        );
        let mut disk = |d: DeviceId| format!("disk{}", d.major);
        let mut container = |_id: u64| "docker:0123456789ab".to_owned();
        let mut names = SectionNames {
            flag_bits: None,
            disk: &mut disk,
            container: &mut container,
        };
        let layout = HistogramLayout {
            per_disk: true,
            ..Default::default()
        };
        let none = BTreeMap::new();
        let text = render_text(
            &label_histograms(&histograms, &none, &layout, &mut names),
            &layout,
        );
        assert!(text.starts_with("\ndisk = disk7\n     usecs "), "{text:?}");
        // Two cgroups of one container share its histogram.
        let layout = HistogramLayout {
            per_container: true,
            ..Default::default()
        };
        let labelled = label_histograms(&histograms, &none, &layout, &mut names);
        assert_eq!(labelled.len(), 1);
        assert_eq!(labelled[0].slots[0], 5);
        let text = render_text(&labelled, &layout);
        assert!(
            text.starts_with("\ncontainer = docker:0123456789ab\n"),
            "{text:?}"
        );
    }

    #[test]
    fn flag_descriptions_follow_bcc() {
        let bits = crate::event::tests::linux6_bits();
        assert_eq!(flags_description(&bits, 1 | 1 << 11), "Sync-Write");
        assert_eq!(flags_description(&bits, 1 << 19), "ReadAhead-Read");
        assert_eq!(
            flags_description(&bits, 1 | 1 << 11 | 1 << 12 | 1 << 13),
            "Priority-Metadata-Sync-Write"
        );
        assert_eq!(flags_description(&bits, 200), "Unknown");
    }

    #[test]
    fn percentiles_from_fine_buckets() {
        use blkscope_common::biolatency::{FINE_SLOTS, fine_slot};
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
    fn json_has_bcc_fields() {
        let layout = HistogramLayout::default();
        let labelled = vec![LabelledHistogram {
            section: None,
            slots: slots(&[(1, 3)]),
            percentiles: None,
        }];
        let v: serde_json::Value =
            serde_json::from_str(&render_json(&labelled, &layout, "t")).unwrap();
        assert_eq!(v["val_type"], "usecs");
        assert_eq!(v["data"][1]["interval-start"], 2);
        assert_eq!(v["data"][1]["interval-end"], 3);
        assert_eq!(v["data"][1]["count"], 3);
    }
}
