//! bitesize's histograms: I/O sizes in power-of-two KiB slots, by process name or container,
//! and their text as bcc prints them (`print_log2_hist("Kbytes", "Process Name")`).

use std::collections::BTreeMap;

use crate::model::histogram::{Slots, json_buckets, render_log2};
use blkscope_common::task_io::{SIZE_SLOTS, size_class};

/// The histograms of one interval, by label (a process name or a container).
#[derive(Debug, Default)]
pub struct SizeHistograms {
    by_label: BTreeMap<String, Slots>,
}

impl SizeHistograms {
    /// Adds counts per slot (the kernel's) to the label's histogram.
    pub fn add_slots(&mut self, label: String, slots: &Slots) {
        let histogram = self.by_label.entry(label).or_insert([0; SIZE_SLOTS]);
        for (total, count) in histogram.iter_mut().zip(slots) {
            *total += count;
        }
    }

    /// Counts one I/O of `bytes`.
    pub fn add_io(&mut self, label: String, bytes: u64) {
        self.by_label.entry(label).or_insert([0; SIZE_SLOTS])[size_class(bytes)] += 1;
    }

    /// The interval's histograms; the next interval starts empty.
    pub fn take(&mut self) -> BTreeMap<String, Slots> {
        std::mem::take(&mut self.by_label)
    }
}

/// What the sections are named by: bcc's "Process Name", or the container.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SizeSections {
    Process,
    Container,
}

impl SizeSections {
    fn title(self) -> &'static str {
        match self {
            SizeSections::Process => "Process Name",
            SizeSections::Container => "Container",
        }
    }

    fn json_key(self) -> &'static str {
        match self {
            SizeSections::Process => "comm",
            SizeSections::Container => "container",
        }
    }
}

/// One interval's text: a section per label, as bcc prints it after the blank line.
pub fn render_text(histograms: &BTreeMap<String, Slots>, sections: SizeSections) -> String {
    let mut out = String::new();
    for (label, slots) in histograms {
        out.push_str(&format!("\n{} = {label}\n", sections.title()));
        out.push_str(&render_log2(slots, "Kbytes"));
    }
    out
}

/// One interval as JSON lines: a histogram object per label.
pub fn render_json(
    histograms: &BTreeMap<String, Slots>,
    sections: SizeSections,
    ts: &str,
) -> String {
    let mut lines = Vec::new();
    for (label, slots) in histograms {
        let data = json_buckets(slots);
        let mut object = serde_json::json!({"ts": ts, "val_type": "kbytes", "data": data});
        object[sections.json_key()] = serde_json::Value::String(label.clone());
        lines.push(object.to_string());
    }
    lines.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_land_in_bccs_kbyte_slots_and_print_per_process() {
        let mut sizes = SizeHistograms::default();
        for bytes in [4096, 4096, 8192, 131072, 512] {
            sizes.add_io("dd".into(), bytes);
        }
        let taken = sizes.take();
        let dd = taken["dd"];
        // 0.5 KiB -> "0 -> 1", 4 KiB -> "4 -> 7", 8 KiB -> "8 -> 15", 128 KiB -> "128 -> 255".
        assert_eq!((dd[0], dd[2], dd[3], dd[7]), (1, 2, 1, 1));
        let text = render_text(&taken, SizeSections::Process);
        assert!(text.starts_with(
            "\nProcess Name = dd\n     Kbytes              : count     distribution\n         0 -> 1          : 1        |"
        ), "{text}");
        assert!(
            text.contains("       128 -> 255        : 1        |"),
            "{text}"
        );
        assert!(sizes.take().is_empty(), "the next interval starts empty");
        let json = render_json(&taken, SizeSections::Container, "t");
        assert!(json.contains("\"container\":\"dd\"") && json.contains("\"val_type\":\"kbytes\""));
    }
}
