//! biolatency's output: the histograms labelled (per disk, flag set or container) and
//! rendered as bcc prints them, or as JSON. Counting is the kernel's (`kernel::block_latency`)
//! or `recorded`'s; the log2 printer and percentiles are `model::histogram`'s.

use std::collections::BTreeMap;

use blkscope_common::block_latency::{HistogramKey, LATENCY_SLOTS};

use crate::{
    host::device,
    model::event::{DeviceId, Operation, RequestFlagBits},
    model::histogram::{
        FineCounts, Percentiles, Slots, json_buckets, merge_fine, percentiles, render_log2,
        render_percentiles, slot_range,
    },
};

/// How to split and label the histograms.
#[derive(Clone, Debug, Default)]
pub struct HistogramLayout {
    pub per_disk: bool,
    pub per_flag: bool,
    /// One histogram per container (`--containers`).
    pub per_container: bool,
    /// One histogram per size class (`--size`).
    pub per_size: bool,
    pub milliseconds: bool,
}

impl HistogramLayout {
    /// Whether the histograms are split at all (else one is printed, empty or not).
    fn split(&self) -> bool {
        self.per_disk || self.per_flag || self.per_container || self.per_size
    }
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
    // Size classes in size order (their labels would sort as text); other sections by label.
    type Section = (u32, Option<(&'static str, String)>);
    let mut groups: BTreeMap<Section, Vec<HistogramKey>> = BTreeMap::new();
    for key in histograms.keys().chain(fine.keys()) {
        let section = (key.size_slot, section_of(key, layout, names));
        let keys = groups.entry(section).or_default();
        if !keys.contains(key) {
            keys.push(*key);
        }
    }
    if groups.is_empty() && !layout.split() {
        groups.insert((0, None), Vec::new());
    }
    groups
        .into_iter()
        .map(|((_, section), keys)| {
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
    } else if layout.per_size {
        let (low, high) = slot_range(key.size_slot as usize);
        Some(("size", format!("{low} -> {high} KiB")))
    } else {
        None
    }
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

/// One interval as JSON: bcc's `-j` fields, in real JSON.
pub fn render_json(histograms: &[LabelledHistogram], layout: &HistogramLayout, ts: &str) -> String {
    let mut lines = Vec::new();
    for histogram in histograms {
        let data = json_buckets(&histogram.slots);
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

/// The disk's kernel name; a disk this machine does not have (a recording's, or one gone)
/// by its numbers as blkparse shows them (`7,0`), so that two such disks stay two histograms.
pub fn disk_name(device: DeviceId) -> String {
    device::name(device).unwrap_or_else(|| device.to_string())
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
    fn size_classes_in_size_order() {
        let mut histograms = BTreeMap::new();
        for (size_slot, count) in [(7, 2), (2, 5), (10, 1)] {
            let key = HistogramKey {
                size_slot,
                ..HistogramKey::default()
            };
            histograms.insert(key, slots(&[(3, count)]));
        }
        let mut disk = |d: DeviceId| d.to_string();
        let mut container = |id: u64| id.to_string();
        let mut names = SectionNames {
            flag_bits: None,
            disk: &mut disk,
            container: &mut container,
        };
        let layout = HistogramLayout {
            per_size: true,
            ..Default::default()
        };
        let labelled = label_histograms(&histograms, &BTreeMap::new(), &layout, &mut names);
        let sections: Vec<String> = labelled
            .iter()
            .filter_map(|h| h.section.as_ref().map(|(_, v)| v.clone()))
            .collect();
        assert_eq!(
            sections,
            ["4 -> 7 KiB", "128 -> 255 KiB", "1024 -> 2047 KiB"]
        );
        assert!(render_text(&labelled, &layout).starts_with("\nsize = 4 -> 7 KiB\n"));
    }

    #[test]
    fn flag_descriptions_follow_bcc() {
        let bits = crate::model::event::tests::linux6_bits();
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
