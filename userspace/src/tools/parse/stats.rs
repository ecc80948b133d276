//! blkparse's counters (per CPU, per device, per process) and how it prints them.

use std::io::Write;

use crate::blktrace::format::TraceHeader;

/// A number of I/Os and their size. The size is kept as KiB plus a byte remainder, as
/// blkparse keeps it, so that its rounding is reproduced. All arithmetic wraps, as C's
/// unsigned counters do (requeues subtract; a hostile trace must not panic us).
#[derive(Debug, Default, Clone, Copy)]
pub struct IoCount {
    pub n: u64,
    pub kb: u64,
    pub b: u64,
}

impl IoCount {
    fn count(&mut self, h: &TraceHeader) {
        self.n = self.n.wrapping_add(1);
        self.kb = self.kb.wrapping_add(kb(h));
        self.b = self.b.wrapping_add(rem(h));
    }

    /// A requeue takes an issue's size back (not its count).
    fn take_back(&mut self, h: &TraceHeader) {
        self.kb = self.kb.wrapping_sub(kb(h));
        self.b = self.b.wrapping_sub(rem(h));
    }

    fn add(&mut self, o: &IoCount) {
        self.n = self.n.wrapping_add(o.n);
        self.kb = self.kb.wrapping_add(o.kb);
        self.b = self.b.wrapping_add(o.b);
    }

    /// The size in KiB as blkparse prints it.
    pub fn kib(&self) -> u64 {
        self.kb.wrapping_add(self.b >> 10)
    }
}

/// Counts of one CPU, device or process: blkparse's `struct io_stats`; [read, write] each.
#[derive(Debug, Default, Clone)]
pub struct IoStats {
    pub queued: [IoCount; 2],
    pub issued: [IoCount; 2],
    pub completed: [IoCount; 2],
    pub merged: [IoCount; 2],
    pub requeued: [u64; 2],
    pub pc_queued: [IoCount; 2],
    pub pc_issued: [IoCount; 2],
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

fn inc(x: &mut u64) {
    *x = x.wrapping_add(1);
}

impl IoStats {
    /// Counts one event.
    pub fn account(&mut self, what: Account, h: &TraceHeader) {
        let w = usize::from(h.is_write());
        match what {
            Account::Queue => self.queued[w].count(h),
            Account::Merge => self.merged[w].count(h),
            Account::Issue => self.issued[w].count(h),
            Account::Complete => self.completed[w].count(h),
            Account::Requeue => {
                inc(&mut self.requeued[w]);
                self.issued[w].take_back(h);
            }
            Account::PcQueue => {
                let q = &mut self.pc_queued[w];
                inc(&mut q.n);
                q.b = q.b.wrapping_add(rem(h));
                // blkparse adds PC read sizes to the fs read counter (a slip kept for equal output).
                let kib_to = if w == 1 { q } else { &mut self.queued[0] };
                kib_to.kb = kib_to.kb.wrapping_add(kb(h));
            }
            Account::PcIssue => self.pc_issued[w].count(h),
            Account::PcRequeue => {
                inc(&mut self.pc_requeued[w]);
                self.pc_issued[w].take_back(h);
            }
            Account::PcComplete => inc(&mut self.pc_completed[w]),
            Account::Unplug { timer: true } => inc(&mut self.timer_unplugs),
            Account::Unplug { timer: false } => inc(&mut self.io_unplugs),
        }
    }

    /// Adds another's counts (the per-device total of the CPUs).
    pub fn add(&mut self, o: &IoStats) {
        for w in 0..2 {
            self.queued[w].add(&o.queued[w]);
            self.issued[w].add(&o.issued[w]);
            self.completed[w].add(&o.completed[w]);
            self.merged[w].add(&o.merged[w]);
            self.pc_queued[w].add(&o.pc_queued[w]);
            self.pc_issued[w].add(&o.pc_issued[w]);
            self.requeued[w] = self.requeued[w].wrapping_add(o.requeued[w]);
            self.pc_requeued[w] = self.pc_requeued[w].wrapping_add(o.pc_requeued[w]);
            self.pc_completed[w] = self.pc_completed[w].wrapping_add(o.pc_completed[w]);
        }
        self.io_unplugs = self.io_unplugs.wrapping_add(o.io_unplugs);
        self.timer_unplugs = self.timer_unplugs.wrapping_add(o.timer_unplugs);
    }

    fn has_pc(&self) -> bool {
        (0..2).any(|w| {
            self.pc_queued[w].n != 0
                || self.pc_issued[w].n != 0
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

/// blkparse's `dump_io_stats`; `depth` is the device's maximum queue depth (per-CPU and
/// device blocks show it, totals and processes do not).
pub fn write_io_stats(
    out: &mut impl Write,
    ios: &IoStats,
    title: &str,
    depth: Option<[u32; 2]>,
) -> std::io::Result<()> {
    // Each line: the read figure, a tab, the write figure, labels padded as blkparse pads them;
    // a bare count on the read side takes a second tab, as in blkparse.
    let sized = |c: &IoCount| format!("{}, {}iB", size_cnv(c.n, false), size_cnv(c.kib(), true));
    let count = |n: u64| format!("{}\t", size_cnv(n, false));
    let line = |out: &mut dyn Write, read: &str, r: String, write: &str, w: String| {
        writeln!(out, " {read}{r}\t {write}{w}")
    };
    writeln!(out, "{title}")?;
    line(
        out,
        "Reads Queued:    ",
        sized(&ios.queued[0]),
        "Writes Queued:    ",
        sized(&ios.queued[1]),
    )?;
    line(
        out,
        "Read Dispatches: ",
        sized(&ios.issued[0]),
        "Write Dispatches: ",
        sized(&ios.issued[1]),
    )?;
    line(
        out,
        "Reads Requeued:  ",
        count(ios.requeued[0]),
        "Writes Requeued:  ",
        size_cnv(ios.requeued[1], false),
    )?;
    line(
        out,
        "Reads Completed: ",
        sized(&ios.completed[0]),
        "Writes Completed: ",
        sized(&ios.completed[1]),
    )?;
    line(
        out,
        "Read Merges:     ",
        sized(&ios.merged[0]),
        "Write Merges:     ",
        sized(&ios.merged[1]),
    )?;
    if let Some([r, w]) = depth {
        line(
            out,
            "Read depth:      ",
            format!("{r:8}{:8}", ' '),
            "Write depth:      ",
            format!("{w:8}"),
        )?;
    }
    if ios.has_pc() {
        line(
            out,
            "PC Reads Queued: ",
            sized(&ios.pc_queued[0]),
            "PC Writes Queued: ",
            sized(&ios.pc_queued[1]),
        )?;
        line(
            out,
            "PC Read Disp.:   ",
            sized(&ios.pc_issued[0]),
            "PC Write Disp.:   ",
            sized(&ios.pc_issued[1]),
        )?;
        line(
            out,
            "PC Reads Req.:   ",
            count(ios.pc_requeued[0]),
            "PC Writes Req.:   ",
            size_cnv(ios.pc_requeued[1], false),
        )?;
        line(
            out,
            "PC Reads Compl.: ",
            count(ios.pc_completed[0]),
            "PC Writes Compl.: ",
            size_cnv(ios.pc_completed[1], false),
        )?;
    }
    let unplugs = format!("{:8}{:8}", ios.io_unplugs, ' ');
    line(
        out,
        "IO unplugs:      ",
        unplugs,
        "Timer unplugs:    ",
        format!("{:8}", ios.timer_unplugs),
    )
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
