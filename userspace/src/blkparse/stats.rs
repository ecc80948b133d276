//! blkparse's counters (per CPU, per device, per process) and how it prints them.

use std::io::Write;

use crate::blktrace::format::TraceHeader;

/// Counts of one CPU, device or process: blkparse's `struct io_stats`. All arithmetic wraps,
/// as C's unsigned counters do (requeues subtract; a hostile trace must not panic us). Sizes are kept as
/// KiB plus a byte remainder, as blkparse keeps them, so that its rounding is reproduced.
#[derive(Debug, Default, Clone)]
pub struct IoStats {
    pub queued: [u64; 2],
    pub queued_kb: [u64; 2],
    pub queued_b: [u64; 2],
    pub issued: [u64; 2],
    pub issued_kb: [u64; 2],
    pub issued_b: [u64; 2],
    pub completed: [u64; 2],
    pub completed_kb: [u64; 2],
    pub completed_b: [u64; 2],
    pub merged: [u64; 2],
    pub merged_kb: [u64; 2],
    pub merged_b: [u64; 2],
    pub requeued: [u64; 2],
    pub pc_queued: [u64; 2],
    pub pc_queued_kb: [u64; 2],
    pub pc_queued_b: [u64; 2],
    pub pc_issued: [u64; 2],
    pub pc_issued_kb: [u64; 2],
    pub pc_issued_b: [u64; 2],
    pub pc_requeued: [u64; 2],
    pub pc_completed: [u64; 2],
    pub io_unplugs: u64,
    pub timer_unplugs: u64,
}

fn kb(h: &TraceHeader) -> u64 {
    u64::from(h.bytes >> 10)
}

fn rem(h: &TraceHeader) -> u64 {
    u64::from(h.bytes & 1023)
}

/// Which accounting an event gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Account {
    Queue,
    Merge,
    Issue,
    Complete,
    Requeue,
    PcQueue,
    PcIssue,
    PcRequeue,
    PcComplete,
    Unplug { timer: bool },
}

impl IoStats {
    /// Counts one event. `w` is 1 for writes.
    pub fn account(&mut self, what: Account, h: &TraceHeader) {
        let w = usize::from(h.is_write());
        match what {
            Account::Queue => {
                self.queued[w] = self.queued[w].wrapping_add(1);
                self.queued_kb[w] = self.queued_kb[w].wrapping_add(kb(h));
                self.queued_b[w] = self.queued_b[w].wrapping_add(rem(h));
            }
            Account::Merge => {
                self.merged[w] = self.merged[w].wrapping_add(1);
                self.merged_kb[w] = self.merged_kb[w].wrapping_add(kb(h));
                self.merged_b[w] = self.merged_b[w].wrapping_add(rem(h));
            }
            Account::Issue => {
                self.issued[w] = self.issued[w].wrapping_add(1);
                self.issued_kb[w] = self.issued_kb[w].wrapping_add(kb(h));
                self.issued_b[w] = self.issued_b[w].wrapping_add(rem(h));
            }
            Account::Complete => {
                self.completed[w] = self.completed[w].wrapping_add(1);
                self.completed_kb[w] = self.completed_kb[w].wrapping_add(kb(h));
                self.completed_b[w] = self.completed_b[w].wrapping_add(rem(h));
            }
            Account::Requeue => {
                self.requeued[w] = self.requeued[w].wrapping_add(1);
                self.issued_kb[w] = self.issued_kb[w].wrapping_sub(kb(h));
                self.issued_b[w] = self.issued_b[w].wrapping_sub(rem(h));
            }
            Account::PcQueue => {
                self.pc_queued[w] = self.pc_queued[w].wrapping_add(1);
                // blkparse adds PC read sizes to the fs read counter (a slip kept for equal output).
                if w == 1 {
                    self.pc_queued_kb[w] = self.pc_queued_kb[w].wrapping_add(kb(h));
                } else {
                    self.queued_kb[0] = self.queued_kb[0].wrapping_add(kb(h));
                }
                self.pc_queued_b[w] = self.pc_queued_b[w].wrapping_add(rem(h));
            }
            Account::PcIssue => {
                self.pc_issued[w] = self.pc_issued[w].wrapping_add(1);
                self.pc_issued_kb[w] = self.pc_issued_kb[w].wrapping_add(kb(h));
                self.pc_issued_b[w] = self.pc_issued_b[w].wrapping_add(rem(h));
            }
            Account::PcRequeue => {
                self.pc_requeued[w] = self.pc_requeued[w].wrapping_add(1);
                self.pc_issued_kb[w] = self.pc_issued_kb[w].wrapping_sub(kb(h));
                self.pc_issued_b[w] = self.pc_issued_b[w].wrapping_sub(rem(h));
            }
            Account::PcComplete => self.pc_completed[w] += 1,
            Account::Unplug { timer: true } => self.timer_unplugs += 1,
            Account::Unplug { timer: false } => self.io_unplugs += 1,
        }
    }

    /// Adds another's counts (the per-device total of the CPUs).
    pub fn add(&mut self, o: &IoStats) {
        for w in 0..2 {
            self.queued[w] = self.queued[w].wrapping_add(o.queued[w]);
            self.queued_kb[w] = self.queued_kb[w].wrapping_add(o.queued_kb[w]);
            self.queued_b[w] = self.queued_b[w].wrapping_add(o.queued_b[w]);
            self.issued[w] = self.issued[w].wrapping_add(o.issued[w]);
            self.issued_kb[w] = self.issued_kb[w].wrapping_add(o.issued_kb[w]);
            self.issued_b[w] = self.issued_b[w].wrapping_add(o.issued_b[w]);
            self.completed[w] = self.completed[w].wrapping_add(o.completed[w]);
            self.completed_kb[w] = self.completed_kb[w].wrapping_add(o.completed_kb[w]);
            self.completed_b[w] = self.completed_b[w].wrapping_add(o.completed_b[w]);
            self.merged[w] = self.merged[w].wrapping_add(o.merged[w]);
            self.merged_kb[w] = self.merged_kb[w].wrapping_add(o.merged_kb[w]);
            self.merged_b[w] = self.merged_b[w].wrapping_add(o.merged_b[w]);
            self.requeued[w] = self.requeued[w].wrapping_add(o.requeued[w]);
            self.pc_queued[w] = self.pc_queued[w].wrapping_add(o.pc_queued[w]);
            self.pc_queued_kb[w] = self.pc_queued_kb[w].wrapping_add(o.pc_queued_kb[w]);
            self.pc_queued_b[w] = self.pc_queued_b[w].wrapping_add(o.pc_queued_b[w]);
            self.pc_issued[w] = self.pc_issued[w].wrapping_add(o.pc_issued[w]);
            self.pc_issued_kb[w] = self.pc_issued_kb[w].wrapping_add(o.pc_issued_kb[w]);
            self.pc_issued_b[w] = self.pc_issued_b[w].wrapping_add(o.pc_issued_b[w]);
            self.pc_requeued[w] = self.pc_requeued[w].wrapping_add(o.pc_requeued[w]);
            self.pc_completed[w] = self.pc_completed[w].wrapping_add(o.pc_completed[w]);
        }
        self.io_unplugs = self.io_unplugs.wrapping_add(o.io_unplugs);
        self.timer_unplugs = self.timer_unplugs.wrapping_add(o.timer_unplugs);
    }

    fn has_pc(&self) -> bool {
        (0..2).any(|w| {
            self.pc_queued[w] != 0
                || self.pc_issued[w] != 0
                || self.pc_requeued[w] != 0
                || self.pc_completed[w] != 0
        })
    }
}

/// blkparse's `size_cnv`: at most 8 digits, then K, M, G, P (sizes start at K).
pub fn size_cnv(mut num: u64, in_kb: bool) -> String {
    const SUFFIX: [&str; 5] = ["", "K", "M", "G", "P"];
    let mut i = usize::from(in_kb);
    while num > 1_000_000 && i < SUFFIX.len() - 1 {
        i += 1;
        num /= 1000;
    }
    format!("{num:8}{}", SUFFIX[i])
}

fn both(kb: u64, b: u64) -> u64 {
    kb.wrapping_add(b >> 10)
}

/// blkparse's `dump_io_stats`; `depth` is the device's maximum queue depth (per-CPU and
/// device blocks show it, totals and processes do not).
pub fn write_io_stats(
    out: &mut impl Write,
    ios: &IoStats,
    title: &str,
    depth: Option<[u32; 2]>,
) -> std::io::Result<()> {
    let pair = |n: u64, kb: u64, b: u64| {
        format!("{}, {}iB", size_cnv(n, false), size_cnv(both(kb, b), true))
    };
    writeln!(out, "{title}")?;
    write!(
        out,
        " Reads Queued:    {}\t",
        pair(ios.queued[0], ios.queued_kb[0], ios.queued_b[0])
    )?;
    writeln!(
        out,
        " Writes Queued:    {}",
        pair(ios.queued[1], ios.queued_kb[1], ios.queued_b[1])
    )?;
    write!(
        out,
        " Read Dispatches: {}\t",
        pair(ios.issued[0], ios.issued_kb[0], ios.issued_b[0])
    )?;
    writeln!(
        out,
        " Write Dispatches: {}",
        pair(ios.issued[1], ios.issued_kb[1], ios.issued_b[1])
    )?;
    write!(
        out,
        " Reads Requeued:  {}\t\t",
        size_cnv(ios.requeued[0], false)
    )?;
    writeln!(
        out,
        " Writes Requeued:  {}",
        size_cnv(ios.requeued[1], false)
    )?;
    write!(
        out,
        " Reads Completed: {}\t",
        pair(ios.completed[0], ios.completed_kb[0], ios.completed_b[0])
    )?;
    writeln!(
        out,
        " Writes Completed: {}",
        pair(ios.completed[1], ios.completed_kb[1], ios.completed_b[1])
    )?;
    write!(
        out,
        " Read Merges:     {}\t",
        pair(ios.merged[0], ios.merged_kb[0], ios.merged_b[0])
    )?;
    writeln!(
        out,
        " Write Merges:     {}",
        pair(ios.merged[1], ios.merged_kb[1], ios.merged_b[1])
    )?;
    if let Some([r, w]) = depth {
        write!(out, " Read depth:      {r:8}{:8}\t", ' ')?;
        writeln!(out, " Write depth:      {w:8}")?;
    }
    if ios.has_pc() {
        write!(
            out,
            " PC Reads Queued: {}\t",
            pair(ios.pc_queued[0], ios.pc_queued_kb[0], ios.pc_queued_b[0])
        )?;
        writeln!(
            out,
            " PC Writes Queued: {}",
            pair(ios.pc_queued[1], ios.pc_queued_kb[1], ios.pc_queued_b[1])
        )?;
        write!(
            out,
            " PC Read Disp.:   {}\t",
            pair(ios.pc_issued[0], ios.pc_issued_kb[0], ios.pc_issued_b[0])
        )?;
        writeln!(
            out,
            " PC Write Disp.:   {}",
            pair(ios.pc_issued[1], ios.pc_issued_kb[1], ios.pc_issued_b[1])
        )?;
        write!(
            out,
            " PC Reads Req.:   {}\t\t",
            size_cnv(ios.pc_requeued[0], false)
        )?;
        writeln!(
            out,
            " PC Writes Req.:   {}",
            size_cnv(ios.pc_requeued[1], false)
        )?;
        write!(
            out,
            " PC Reads Compl.: {}\t\t",
            size_cnv(ios.pc_completed[0], false)
        )?;
        writeln!(
            out,
            " PC Writes Compl.: {}",
            size_cnv(ios.pc_completed[1], false)
        )?;
    }
    write!(out, " IO unplugs:      {:8}{:8}\t", ios.io_unplugs, ' ')?;
    writeln!(out, " Timer unplugs:    {:8}", ios.timer_unplugs)
}

/// Longest waits of a process (`-t -s`), nanoseconds, [read, write].
#[derive(Debug, Default, Clone)]
pub struct Waits {
    pub allocation: [u64; 2],
    pub dispatch: [u64; 2],
    pub completion: [u64; 2],
}

/// blkparse's `dump_wait_stats` (microseconds).
pub fn write_waits(out: &mut impl Write, w: &Waits) -> std::io::Result<()> {
    write!(
        out,
        " Allocation wait: {:8}{:8}\t",
        w.allocation[0] / 1000,
        ' '
    )?;
    writeln!(out, " Allocation wait:  {:8}", w.allocation[1] / 1000)?;
    write!(
        out,
        " Dispatch wait:   {:8}{:8}\t",
        w.dispatch[0] / 1000,
        ' '
    )?;
    writeln!(out, " Dispatch wait:    {:8}", w.dispatch[1] / 1000)?;
    write!(
        out,
        " Completion wait: {:8}{:8}\t",
        w.completion[0] / 1000,
        ' '
    )?;
    writeln!(out, " Completion wait:  {:8}", w.completion[1] / 1000)
}

/// glibc's strverscmp: digit runs compare as numbers (runs with leading zeros as fractions).
pub fn strverscmp(a: &[u8], b: &[u8]) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        if a[i].is_ascii_digit() && b[j].is_ascii_digit() {
            let si = i;
            let sj = j;
            while i < a.len() && a[i].is_ascii_digit() {
                i += 1;
            }
            while j < b.len() && b[j].is_ascii_digit() {
                j += 1;
            }
            let (da, db) = (&a[si..i], &b[sj..j]);
            let fractional = da[0] == b'0' || db[0] == b'0';
            let ord = if fractional {
                da.cmp(db)
            } else {
                da.len().cmp(&db.len()).then_with(|| da.cmp(db))
            };
            if ord != Ordering::Equal {
                return ord;
            }
        } else {
            if a[i] != b[j] {
                return a[i].cmp(&b[j]);
            }
            i += 1;
            j += 1;
        }
    }
    (a.len() - i).cmp(&(b.len() - j))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cmp::Ordering::*;

    #[test]
    fn size_conversion() {
        assert_eq!(size_cnv(0, false), "       0");
        assert_eq!(size_cnv(12_345_678, true), "   12345M");
        assert_eq!(size_cnv(1_000_001, false), "    1000K");
    }

    #[test]
    fn version_order() {
        assert_eq!(strverscmp(b"kworker/9", b"kworker/10"), Less);
        assert_eq!(strverscmp(b"a", b"b"), Less);
        assert_eq!(strverscmp(b"sync", b"sync"), Equal);
        assert_eq!(strverscmp(b"dd", b"d"), Greater);
    }
}
