//! One device as btt follows it: the queued I/Os still in flight, the latency spans, seek and
//! plug statistics, active periods and iostat counters.

use super::active::ActivePeriods;
use super::avg::Spans;
use super::iostat_file::DeviceIostat;
use super::process::ProcessId;
use super::q2d::Q2dHistogram;
use super::ranges::Regions;
use super::rbtree::{NIL, RbTree, Slot};
use super::seek::SeekStats;
use crate::blktrace::format::{major, minor};

/// A device as `MAJ,MIN`, how btt names it in range headers, `-X` lines and device maps.
pub fn devno(dev: u32) -> String {
    format!("{},{}", major(dev), minor(dev))
}

/// Whether a device is a stacking one (md, device-mapper), whose spans btt keeps apart.
pub fn is_remapper(dev: u32) -> bool {
    matches!(major(dev), 9 | 253 | 254)
}

/// A queued (Q) I/O, followed until it completes.
#[derive(Debug, Clone)]
pub struct QueuedIo {
    pub time: u64,
    pub sector: u64,
    pub bytes: u32,
    pub process: ProcessId,
    /// The sleep (S) time; 0 when none (btt's own marker: a sleep at time 0 does not count).
    pub sleep_time: u64,
    pub getrq_time: Option<u64>,
    pub insert_time: Option<u64>,
    pub merge_time: Option<u64>,
    pub issue_time: Option<u64>,
    /// Where the issue that took this I/O started, and its length in sectors (`-p`).
    pub issue_at: (u64, u32),
}

impl QueuedIo {
    pub fn end(&self) -> u64 {
        self.sector.wrapping_add(u64::from(self.bytes >> 9))
    }
}

/// Plugging: how often the queue was plugged and for how long.
#[derive(Debug, Clone, Default)]
pub struct PlugStats {
    pub plugged: bool,
    pub last_plug: f64,
    pub plugged_secs: f64,
    /// Unplugs by I/O count and by timer, with the I/Os each released.
    pub unplugs: i32,
    pub timer_unplugs: i32,
    pub ios_unplugged: u64,
    pub ios_timer_unplugged: u64,
}

impl PlugStats {
    pub fn plug(&mut self, now: f64) {
        if !self.plugged {
            self.plugged = true;
            self.last_plug = now;
        }
    }

    pub fn unplug(&mut self, now: f64, ios: u64, by_timer: bool) {
        if !self.plugged {
            return;
        }
        if by_timer {
            self.timer_unplugs += 1;
            self.ios_timer_unplugged = self.ios_timer_unplugged.wrapping_add(ios);
        } else {
            self.unplugs += 1;
            self.ios_unplugged = self.ios_unplugged.wrapping_add(ios);
        }
        self.plugged = false;
        self.plugged_secs += now - self.last_plug;
    }
}

/// Everything btt keeps about one device.
#[derive(Debug, Clone)]
pub struct Device {
    pub dev: u32,
    /// The name given by a device map (`-M`), printed in place of `(MAJ,MIN)`.
    pub mapped_name: Option<String>,
    /// Until the device's first queue or remap, its events are not followed.
    pub waiting_for_queue: bool,
    /// Queued I/Os not yet completed, by start sector.
    pub queued: RbTree<QueuedIo>,
    pub spans: Spans,
    pub regions: Regions,
    pub last_q: Option<u64>,
    pub queues: u64,
    pub issues: u64,
    /// Requests at the queue when each Q arrived: current and summed.
    pub active_at_q: u64,
    pub active_at_q_total: u64,
    pub plugs: PlugStats,
    pub start_secs: f64,
    pub end_secs: f64,
    pub q2q_seeks: SeekStats,
    pub d2d_seeks: SeekStats,
    pub active: ActivePeriods,
    pub q2d: Q2dHistogram,
    pub iostat: DeviceIostat,
}

impl Device {
    pub fn new(dev: u32, mapped_name: Option<String>, first_secs: f64) -> Device {
        Device {
            dev,
            mapped_name,
            waiting_for_queue: true,
            queued: RbTree::default(),
            spans: Spans::default(),
            regions: Regions::default(),
            last_q: None,
            queues: 0,
            issues: 0,
            active_at_q: 0,
            active_at_q_total: 0,
            plugs: PlugStats::default(),
            start_secs: first_secs,
            end_secs: 0.0,
            q2q_seeks: SeekStats::default(),
            d2d_seeks: SeekStats::default(),
            active: ActivePeriods::default(),
            q2d: Q2dHistogram::default(),
            iostat: DeviceIostat::default(),
        }
    }

    /// The name btt gives the device's files: the mapped name or `MAJ,MIN`.
    pub fn file_name(&self) -> String {
        self.mapped_name.clone().unwrap_or_else(|| devno(self.dev))
    }

    /// The header btt prints for this device: the mapped name or `(  8,  0)`, cut to
    /// `max - 1` characters like its fixed buffers.
    pub fn header(&self, max: usize) -> String {
        let text = match &self.mapped_name {
            Some(name) => name.clone(),
            None => format!("({:3},{:3})", major(self.dev), minor(self.dev)),
        };
        text.chars().take(max - 1).collect()
    }

    /// Follows a new queued I/O. One already followed with the same start is forgotten: the
    /// new one takes its place in the tree (what btt 2.09 as shipped in blktrace 1.2 does).
    pub fn enqueue(&mut self, io: QueuedIo) -> u32 {
        let mut slot = Slot {
            parent: NIL,
            left: false,
        };
        let mut at = self.queued.root();
        while at != NIL {
            let start = self.queued.get(at).sector;
            if io.sector == start {
                *self.queued.get_mut(at) = io;
                return at;
            }
            let left = io.sector < start;
            slot = Slot { parent: at, left };
            at = if left {
                self.queued.left(at)
            } else {
                self.queued.right(at)
            };
        }
        self.queued.insert(slot, io)
    }

    /// The queued I/O covering `sector`: the first met walking down from the root (with
    /// overlapping I/Os, btt's choice).
    pub fn queued_at(&mut self, sector: u64) -> Option<&mut QueuedIo> {
        let mut at = self.queued.root();
        while at != NIL {
            let io = self.queued.get(at);
            if sector < io.sector {
                at = self.queued.left(at);
            } else if sector >= io.end() {
                at = self.queued.right(at);
            } else {
                return Some(self.queued.get_mut(at));
            }
        }
        None
    }

    /// The queued I/Os lying inside `[start, end)`, in btt's walk order (a pre-order walk
    /// that skips subtrees by the visited node's own range, as btt's does).
    pub fn queued_within(&self, start: u64, end: u64) -> Vec<u32> {
        let mut out = Vec::new();
        let mut stack = vec![self.queued.root()];
        while let Some(at) = stack.pop() {
            if at == NIL {
                continue;
            }
            let io = self.queued.get(at);
            let (s, e) = (io.sector, io.end());
            if start <= s && e <= end {
                out.push(at);
            }
            if e < end {
                stack.push(self.queued.right(at));
            }
            if start < s {
                stack.push(self.queued.left(at));
            }
        }
        out
    }
}
