//! `blkscope biolatency`: bcc biolatency's power-of-two latency histograms, from histograms the
//! kernel keeps (see `kernel::biolatency`). This module only renders them.

use std::collections::BTreeMap;

use blkscope_common::biolatency::{HistogramKey, LATENCY_SLOTS};
use serde::Serialize;

use crate::{
    device,
    event::{DeviceId, Operation, RequestFlagBits},
    kernel::biolatency::Slots,
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
}

/// Names for what the histograms are split by.
pub struct SectionNames<'a> {
    pub flag_bits: Option<&'a RequestFlagBits>,
    pub disk: &'a mut dyn FnMut(DeviceId) -> String,
    /// A cgroup id's container label (cgroups of one container share a histogram).
    pub container: &'a mut dyn FnMut(u64) -> String,
}

/// Groups the kernel's histograms into what is printed: one overall, or one per disk, flag set
/// or container.
pub fn label_histograms(
    histograms: &BTreeMap<HistogramKey, Slots>,
    layout: &HistogramLayout,
    names: &mut SectionNames<'_>,
) -> Vec<LabelledHistogram> {
    if layout.per_container {
        let mut merged: BTreeMap<String, Slots> = BTreeMap::new();
        for (key, slots) in histograms {
            let total = merged
                .entry((names.container)(key.cgroup_id))
                .or_insert([0; LATENCY_SLOTS]);
            for (t, s) in total.iter_mut().zip(slots) {
                *t += s;
            }
        }
        return merged
            .into_iter()
            .map(|(label, slots)| LabelledHistogram {
                section: Some(("container", label)),
                slots,
            })
            .collect();
    }
    if !layout.per_disk && !layout.per_flag {
        let mut all = [0u64; LATENCY_SLOTS];
        for slots in histograms.values() {
            for (a, s) in all.iter_mut().zip(slots) {
                *a += s;
            }
        }
        return vec![LabelledHistogram {
            section: None,
            slots: all,
        }];
    }
    histograms
        .iter()
        .map(|(key, slots)| {
            let section = if layout.per_disk {
                ("disk", (names.disk)(DeviceId::from_kernel(key.dev)))
            } else {
                let flags = names.flag_bits.map_or_else(
                    || "Unknown".to_owned(),
                    |b| flags_description(b, key.cmd_flags),
                );
                ("flags", flags)
            };
            LabelledHistogram {
                section: Some(section),
                slots: *slots,
            }
        })
        .collect()
}

/// The text of one interval, as bcc prints it after the blank line.
pub fn render_text(histograms: &[LabelledHistogram], layout: &HistogramLayout) -> String {
    let mut out = String::new();
    for histogram in histograms {
        if let Some((name, value)) = &histogram.section {
            out.push_str(&format!("\n{name} = {value}\n"));
        }
        out.push_str(&render_log2(&histogram.slots, layout.unit()));
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
            },
            slots(&[(0, 2)]),
        );
        histograms.insert(
            HistogramKey {
                dev: 8 << 20,
                cmd_flags: 0,
                cgroup_id: 41,
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
        let text = render_text(&label_histograms(&histograms, &layout, &mut names), &layout);
        assert!(text.starts_with("\ndisk = disk7\n     usecs "), "{text:?}");
        // Two cgroups of one container share its histogram.
        let layout = HistogramLayout {
            per_container: true,
            ..Default::default()
        };
        let labelled = label_histograms(&histograms, &layout, &mut names);
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
    fn json_has_bcc_fields() {
        let layout = HistogramLayout::default();
        let labelled = vec![LabelledHistogram {
            section: None,
            slots: slots(&[(1, 3)]),
        }];
        let v: serde_json::Value =
            serde_json::from_str(&render_json(&labelled, &layout, "t")).unwrap();
        assert_eq!(v["val_type"], "usecs");
        assert_eq!(v["data"][1]["interval-start"], 2);
        assert_eq!(v["data"][1]["interval-end"], 3);
        assert_eq!(v["data"][1]["count"], 3);
    }
}
