//! biolatency's histograms counted in userspace from finished I/Os (for `-i TRACE`, where
//! there is no kernel to count them): the same keys, slots and fine buckets as the kernel's
//! histograms, so the same labelling and rendering apply.

use std::collections::BTreeMap;

use blkscope_common::block_latency::{
    FINE_SLOTS, HistogramKey, LATENCY_SLOTS, fine_slot, log2_slot,
};
use blkscope_common::task_io::size_class;

use crate::kernel::block_latency::{FineCounts, LatencyOptions, Slots};
use crate::model::event::{LINUX6_FLAG_BITS, OpFlags, Operation, RequestFlagBits};
use crate::model::inflight::CompletedIo;

/// How a recording's operation and flags are packed into a `HistogramKey`'s `cmd_flags` (only
/// this module packs them, and the labels unpack them).
pub const RECORDED_FLAG_BITS: RequestFlagBits = LINUX6_FLAG_BITS;

/// Histograms being filled, by key, as the kernel keeps them.
#[derive(Debug)]
pub struct CompletionHistograms {
    options: LatencyOptions,
    slots: BTreeMap<HistogramKey, Slots>,
    fine: BTreeMap<HistogramKey, FineCounts>,
}

impl CompletionHistograms {
    pub fn new(options: LatencyOptions) -> CompletionHistograms {
        CompletionHistograms {
            options,
            slots: BTreeMap::new(),
            fine: BTreeMap::new(),
        }
    }

    /// Counts one finished I/O, timed from its issue (or, with `-Q`, its insertion when it
    /// was inserted); I/Os whose issue the recording missed are not counted, as live.
    pub fn add(&mut self, io: &CompletedIo) {
        let Some(issued) = io.started_ns() else {
            return;
        };
        let start = if self.options.queued {
            io.inserted_ns.unwrap_or(issued)
        } else {
            issued
        };
        let latency_ns = io.completed_ns.saturating_sub(start);
        let key = self.key(io);
        let units = latency_ns / u64::from(self.options.unit_ns());
        self.slots.entry(key).or_insert([0; LATENCY_SLOTS])[log2_slot(units, LATENCY_SLOTS)] += 1;
        if self.options.percentiles {
            let fine = self.fine.entry(key).or_insert_with(|| FineCounts {
                slots: vec![0; FINE_SLOTS],
                max_ns: Some(0),
            });
            if let Some(count) = fine.slots.get_mut(fine_slot(latency_ns)) {
                *count += 1;
            }
            fine.max_ns = fine.max_ns.max(Some(latency_ns));
        }
    }

    /// The histograms of the interval that ends now; the next interval starts empty.
    pub fn take(
        &mut self,
    ) -> (
        BTreeMap<HistogramKey, Slots>,
        BTreeMap<HistogramKey, FineCounts>,
    ) {
        (
            std::mem::take(&mut self.slots),
            std::mem::take(&mut self.fine),
        )
    }

    fn key(&self, io: &CompletedIo) -> HistogramKey {
        HistogramKey {
            dev: if self.options.per_disk {
                io.device.to_kernel()
            } else {
                0
            },
            cmd_flags: if self.options.per_flag {
                pack_flags(io.op, io.flags)
            } else {
                0
            },
            cgroup_id: if self.options.per_cgroup {
                io.issuer.as_ref().map_or(0, |i| i.cgroup_id)
            } else {
                0
            },
            size_slot: if self.options.per_size {
                size_class(u64::from(io.bytes)) as u32
            } else {
                0
            },
            ..HistogramKey::default()
        }
    }
}

/// An operation and its flags as `cmd_flags` in `RECORDED_FLAG_BITS`' layout.
fn pack_flags(op: Operation, flags: OpFlags) -> u32 {
    let b = &RECORDED_FLAG_BITS;
    let op = match op {
        Operation::Read => b.op_read,
        Operation::Write => b.op_write,
        Operation::Flush => b.op_flush,
        Operation::Discard => b.op_discard,
        Operation::SecureErase => b.op_secure_erase,
        Operation::WriteZeroes => b.op_write_zeroes,
        Operation::DriverIn => b.op_drv_in,
        Operation::DriverOut => b.op_drv_out,
        Operation::Other(o) => o,
    };
    let bit = |on: bool, at: Option<u32>| match at {
        Some(at) if on => 1 << at,
        _ => 0,
    };
    op & 0xff
        | bit(flags.sync, Some(b.sync))
        | bit(flags.meta, Some(b.meta))
        | bit(flags.fua, Some(b.fua))
        | bit(flags.preflush, Some(b.preflush))
        | bit(flags.readahead, Some(b.readahead))
        | bit(flags.background, b.background)
        | bit(flags.nowait, b.nowait)
        | bit(flags.priority, b.priority)
        | bit(flags.idle, b.idle)
}

#[cfg(test)]
mod tests {
    use super::super::render::flags_description;
    use super::*;
    use crate::model::event::DeviceId;
    use crate::model::inflight::Issuer;

    fn io(issued: u64, inserted: Option<u64>, completed: u64, op: Operation) -> CompletedIo {
        CompletedIo {
            device: DeviceId::new(7, 0),
            sector: 0,
            bytes: 4096,
            op,
            flags: OpFlags {
                sync: true,
                ..OpFlags::default()
            },
            status: 0,
            issuer: Some(Issuer {
                pid: 1,
                tgid: 1,
                comm: "dd".into(),
                cgroup_id: 42,
            }),
            bio_cgroup_id: 42,
            partition: None,
            stacked_on: None,
            file: None,
            queued_ns: None,
            got_ns: None,
            inserted_ns: inserted,
            issued_ns: Some(issued),
            completed_ns: completed,
            bio_based: false,
        }
    }

    #[test]
    fn counts_like_the_kernel_probe() {
        let mut h = CompletionHistograms::new(LatencyOptions {
            per_flag: true,
            percentiles: true,
            ..LatencyOptions::default()
        });
        // 100 µs and 3 µs from issue; the insertion is ignored without -Q.
        h.add(&io(1_000, Some(0), 101_000, Operation::Write));
        h.add(&io(1_000, None, 4_000, Operation::Write));
        let mut unissued = io(0, None, 9, Operation::Read);
        unissued.issued_ns = None;
        h.add(&unissued);
        let (slots, fine) = h.take();
        assert_eq!(slots.len(), 1);
        let (key, counts) = slots.iter().next().unwrap();
        assert_eq!(
            (counts[6], counts[1]),
            (1, 1),
            "100 µs in 64-127, 3 µs in 2-3"
        );
        assert_eq!(
            flags_description(&RECORDED_FLAG_BITS, key.cmd_flags),
            "Sync-Write"
        );
        assert_eq!(fine[key].max_ns, Some(100_000));
        assert!(h.take().0.is_empty(), "a new interval starts empty");

        let mut queued = CompletionHistograms::new(LatencyOptions {
            queued: true,
            milliseconds: true,
            ..LatencyOptions::default()
        });
        queued.add(&io(5_000_000, Some(0), 9_000_000, Operation::Read));
        let (slots, _) = queued.take();
        assert_eq!(
            slots[&HistogramKey::default()][3],
            1,
            "9 ms from insertion: 8-15"
        );
    }
}
