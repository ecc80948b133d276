//! What blkparse 1.2's `-t` times start from: the memory its I/O tracking reuses.
//!
//! blkparse 1.2 `malloc`s a 72-byte tracking record the first time it sees a sector (at G, I
//! or, on md/dm, Q) and never clears its four times (allocation, queue, dispatch, completion).
//! A stage whose predecessor was never seen - a D without an I (blk-mq issues most requests
//! straight after G), a C without a D - is therefore timed from whatever that memory held.
//! glibc hands out the block freed most recently in that size class, so the time usually
//! comes from an earlier request: the tracking record of an I/O that completed before (its
//! stale times, giving plausible elapsed times), or a trace record of the same size that
//! blkparse freed (a process-name notify, a remap with its payload: bytes that give values
//! above 10^17). Fresh memory is zero, which gives the time since the start of the trace.
//! blktrace 1.3 initialises the record and prints no time there.
//!
//! To print what blkparse 1.2 prints, this module keeps glibc's reuse order for that size
//! class (a per-thread cache of 7 blocks, then a "fast bin", both last-in first-out) and what
//! the blocks hold. What is not modelled: blkparse's smaller allocations (the 48-byte record
//! headers and their 64-byte chunks), which reach this class when a record's payload cannot
//! grow in place (many SCSI or message payloads) or when a header is carved from the last 80
//! bytes of a free region (long traces). Then some reused values differ.

use std::collections::VecDeque;

use crate::blktrace::format::Trace;

/// The four 64-bit words of a freed block where a tracking record keeps its times (bytes 40
/// to 72), in the record's order: allocation, queue, dispatch, completion.
pub type Block = [u64; 4];

/// glibc's per-thread cache holds this many free blocks of a size.
const CACHE_SLOTS: usize = 7;

/// Blocks kept beyond the cache. blkparse's heap keeps every one, but only as many as there
/// are tracked I/Os at a time are ever handed out again: the bound keeps memory flat on
/// endless traces.
const FAST_BIN_LIMIT: usize = 1 << 16;

/// The free blocks of the tracking records' size class (80-byte chunks), in glibc's order.
#[derive(Debug, Default)]
pub struct FreedBlocks {
    /// Most recently freed last.
    cache: Vec<Block>,
    /// Most recently freed at the back.
    fast_bin: VecDeque<Block>,
}

impl FreedBlocks {
    /// `malloc`: the block a new tracking record gets (zeros for fresh memory).
    pub fn take(&mut self) -> Block {
        if let Some(block) = self.cache.pop() {
            return block;
        }
        let Some(block) = self.fast_bin.pop_back() else {
            return Block::default();
        };
        // Taking from the fast bin moves its next blocks into the empty cache (so they come
        // out in the opposite order).
        while self.cache.len() < CACHE_SLOTS {
            let Some(next) = self.fast_bin.pop_back() else {
                break;
            };
            self.cache.push(next);
        }
        block
    }

    /// `free`: a block of this size class handed back.
    pub fn give(&mut self, block: Block) {
        if self.cache.len() < CACHE_SLOTS {
            self.cache.push(block);
            return;
        }
        if self.fast_bin.len() == FAST_BIN_LIMIT {
            self.fast_bin.pop_front();
        }
        self.fast_bin.push_back(block);
    }
}

/// The block a trace record occupies in blkparse's memory, when it is of the tracking
/// records' size class: 48 header bytes and a payload of 9 to 24 bytes (a process-name
/// notify, a remap's payload) round up to the same 80-byte chunk.
pub fn block_of_record(t: &Trace) -> Option<Block> {
    let pdu_len = t.header.pdu_len;
    if !(9..=24).contains(&pdu_len) {
        return None;
    }
    // Bytes 40..48 of the header (as blkparse converted it to host order): cpu, error,
    // pdu_len; then the payload as read from the file.
    let h = &t.header;
    let head = u64::from(h.cpu) | u64::from(h.error) << 32 | u64::from(pdu_len) << 48;
    let mut payload = [0u8; 24];
    let n = t.pdu.len().min(payload.len());
    payload[..n].copy_from_slice(&t.pdu[..n]);
    let word = |i: usize| {
        let mut w = [0u8; 8];
        w.copy_from_slice(&payload[i * 8..i * 8 + 8]);
        u64::from_le_bytes(w)
    };
    Some([head, word(0), word(1), word(2)])
}

/// The records blkparse still holds after printing them, per CPU of one device: it frees a
/// record (returning its block, if it has one of the tracking size) once `limit` later
/// records of that CPU were printed.
#[derive(Debug, Default)]
pub struct HeldRecords {
    /// Records kept per CPU: blkparse's batch times the device's number of files in file
    /// mode, 0 (freed at once) in pipe mode.
    pub limit: u64,
    cpus: Vec<CpuHeld>,
}

#[derive(Debug, Default)]
struct CpuHeld {
    /// Records of this CPU printed so far.
    printed: u64,
    /// The held records with a block of the tracking size: (number of the record, block).
    blocks: VecDeque<(u64, Block)>,
}

impl HeldRecords {
    /// A record of `cpu` was printed: hold it, and hand back the blocks of records now freed.
    pub fn hold(&mut self, cpu: u32, t: &Trace, freed: &mut FreedBlocks) {
        let i = cpu as usize;
        if i >= self.cpus.len() {
            self.cpus.resize_with(i + 1, CpuHeld::default);
        }
        let c = &mut self.cpus[i];
        let number = c.printed;
        c.printed += 1;
        if let Some(block) = block_of_record(t) {
            c.blocks.push_back((number, block));
        }
        // blkparse frees the oldest record once it holds more than `limit`.
        let oldest_kept = c.printed.saturating_sub(self.limit);
        while let Some(&(n, block)) = c.blocks.front() {
            if n >= oldest_kept {
                break;
            }
            c.blocks.pop_front();
            freed.give(block);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::blktrace::format::{MAGIC, TraceHeader, VERSION};

    fn block(n: u64) -> Block {
        [n, n, n, n]
    }

    #[test]
    fn the_last_block_freed_is_the_first_reused() {
        let mut f = FreedBlocks::default();
        assert_eq!(f.take(), [0; 4], "fresh memory is zero");
        f.give(block(1));
        f.give(block(2));
        assert_eq!(f.take(), block(2));
        assert_eq!(f.take(), block(1));
        assert_eq!(f.take(), [0; 4]);
    }

    #[test]
    fn past_seven_blocks_the_fast_bin_refills_the_cache_reversed() {
        let mut f = FreedBlocks::default();
        for n in 1..=10 {
            f.give(block(n));
        }
        // Cache: 1..=7 (7 on top); fast bin: 8, 9, 10 (10 on top).
        let first: Vec<u64> = (0..7).map(|_| f.take()[0]).collect();
        assert_eq!(first, [7, 6, 5, 4, 3, 2, 1]);
        // The fast bin's top comes out, the rest moves into the cache: 9 then 8 on top.
        let rest: Vec<u64> = (0..4).map(|_| f.take()[0]).collect();
        assert_eq!(rest, [10, 8, 9, 0]);
    }

    fn record(cpu: u32, pdu: &[u8]) -> Trace {
        Trace {
            header: TraceHeader {
                magic: MAGIC | VERSION,
                cpu,
                pdu_len: pdu.len() as u16,
                ..Default::default()
            },
            pdu: pdu.to_vec(),
        }
    }

    #[test]
    fn only_records_of_the_same_chunk_size_leave_a_block() {
        assert_eq!(block_of_record(&record(1, b"dd\0")), None);
        assert_eq!(block_of_record(&record(1, &[7; 8])), None);
        assert_eq!(block_of_record(&record(1, &[7; 25])), None);
        let name = b"kworker/u8:1\0";
        let b = block_of_record(&record(3, name)).unwrap();
        assert_eq!(b[0], 3 | (name.len() as u64) << 48);
        assert_eq!(b[1], u64::from_le_bytes(*b"kworker/"));
        assert_eq!(b[2], u64::from_le_bytes(*b"u8:1\0\0\0\0"));
    }

    #[test]
    fn held_records_free_their_blocks_after_the_limit() {
        let mut f = FreedBlocks::default();
        let mut held = HeldRecords {
            limit: 2,
            ..Default::default()
        };
        let remap = record(0, &[1; 16]);
        let plain = record(0, &[]);
        held.hold(0, &remap, &mut f);
        held.hold(0, &plain, &mut f);
        held.hold(1, &plain, &mut f);
        assert_eq!(f.take(), [0; 4], "still held");
        held.hold(0, &plain, &mut f);
        assert_eq!(f.take()[1], u64::from_le_bytes([1; 8]), "freed");
        let mut at_once = HeldRecords::default();
        at_once.hold(0, &remap, &mut f);
        assert_eq!(f.take()[1], u64::from_le_bytes([1; 8]));
    }
}
