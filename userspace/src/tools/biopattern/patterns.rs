//! biopattern's counts and table. An I/O that starts where the previous one of its row ended
//! is sequential, any other random; the first one of a row in an interval only sets the
//! position (as libbpf-tools', whose table starts over after each report). The kernel counts
//! the same way live (`task_io`'s `TASK_IO_PATTERNS`); a recording is counted here.

use std::collections::BTreeMap;

use blkscope_common::task_io::AccessPattern;

use crate::model::event::DeviceId;

/// One row: a disk, and the process or container when rows are kept per those.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct PatternRow {
    pub disk: DeviceId,
    /// `COMM PID` or a container's label, when asked for.
    pub who: Option<String>,
}

/// The rows of one interval.
#[derive(Debug, Default)]
pub struct PatternCounts {
    rows: BTreeMap<PatternRow, AccessPattern>,
}

impl PatternCounts {
    /// Counts one I/O of `bytes` at `sector`.
    pub fn add_io(&mut self, row: PatternRow, sector: u64, bytes: u64) {
        let counts = self.rows.entry(row).or_default();
        if counts.last_sector != 0 {
            if counts.last_sector == sector {
                counts.sequential += 1;
            } else {
                counts.random += 1;
            }
            counts.bytes += bytes;
        }
        counts.last_sector = sector + bytes / 512;
    }

    /// Adds what the kernel counted for a row.
    pub fn add_counts(&mut self, row: PatternRow, counted: &AccessPattern) {
        let counts = self.rows.entry(row).or_default();
        counts.sequential += counted.sequential;
        counts.random += counted.random;
        counts.bytes += counted.bytes;
    }

    /// The interval's rows; the next interval starts over.
    pub fn take(&mut self) -> BTreeMap<PatternRow, AccessPattern> {
        std::mem::take(&mut self.rows)
    }
}

/// What is shown besides the disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PatternColumns {
    Disk,
    Process,
    Container,
}

/// The header line (libbpf-tools': `-T` adds TIME).
pub fn header(columns: PatternColumns, timestamp: bool) -> String {
    let mut line = String::new();
    if timestamp {
        line.push_str(&format!("{:<9} ", "TIME"));
    }
    line.push_str(&format!("{:<7} ", "DISK"));
    line.push_str(who_header(columns));
    line.push_str(&format!(
        "{:>5} {:>5} {:>8} {:>10}",
        "%RND", "%SEQ", "COUNT", "KBYTES"
    ));
    line
}

fn who_header(columns: PatternColumns) -> &'static str {
    match columns {
        PatternColumns::Disk => "",
        PatternColumns::Process => "COMM             PID     ",
        PatternColumns::Container => "CONTAINER                      ",
    }
}

/// One interval's lines; rows with no I/O counted are left out, as libbpf-tools leaves them.
pub fn render(
    rows: &BTreeMap<PatternRow, AccessPattern>,
    columns: PatternColumns,
    stamp: Option<&str>,
    disk_name: &mut dyn FnMut(DeviceId) -> String,
) -> String {
    let mut out = String::new();
    for (row, counts) in rows {
        let total = counts.sequential + counts.random;
        if total == 0 {
            continue;
        }
        if let Some(stamp) = stamp {
            out.push_str(&format!("{stamp:<9} "));
        }
        out.push_str(&format!("{:<7} ", disk_name(row.disk)));
        if columns != PatternColumns::Disk {
            let width = who_header(columns).len();
            let who = row.who.as_deref().unwrap_or("");
            out.push_str(&format!("{who:<width$}"));
        }
        out.push_str(&format!(
            "{:>5} {:>5} {:>8} {:>10}\n",
            counts.random * 100 / total,
            counts.sequential * 100 / total,
            total,
            counts.bytes / 1024
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequential_and_random_as_libbpf_tools_counts_them() {
        let row = || PatternRow {
            disk: DeviceId::new(7, 1),
            who: None,
        };
        let mut counts = PatternCounts::default();
        // Ten 8-sector I/Os back to back, then a jump: the first sets the position only.
        for i in 0..10 {
            counts.add_io(row(), 100 + i * 8, 4096);
        }
        counts.add_io(row(), 5000, 4096);
        let rows = counts.take();
        let c = rows[&row()];
        assert_eq!((c.sequential, c.random, c.bytes), (9, 1, 10 * 4096));
        let text = render(&rows, PatternColumns::Disk, None, &mut |_| "loop1".into());
        assert_eq!(text, "loop1      10    90       10         40\n");
        assert_eq!(
            header(PatternColumns::Disk, false),
            "DISK     %RND  %SEQ    COUNT     KBYTES"
        );
        assert_eq!(
            header(PatternColumns::Disk, true),
            "TIME      DISK     %RND  %SEQ    COUNT     KBYTES"
        );
        assert!(counts.take().is_empty(), "the next interval starts over");
    }
}
