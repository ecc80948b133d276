//! A merged trace read on a thread of its own: the per-CPU files are read, checked and merged
//! on one core while the caller prints on another (a parse spends about a third of its time
//! reading and merging).
//!
//! Items come in the order `MergedTraces` gives them, errors included at the point where the
//! merge found them, so a caller that stops early (blkparse's `-w`) reports exactly what it
//! would have reported reading in line. Memory stays bounded: a few batches are in flight,
//! each cut at `BATCH_ITEMS` records or `BATCH_BYTES` of payload.

use std::path::PathBuf;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread;

use super::error::TraceError;
use super::format::{Endian, Trace};
use super::reader::{Item, MergedTraces};

/// Records per batch handed across.
const BATCH_ITEMS: usize = 2048;
/// Payload bytes per batch (payloads are at most 64 KiB each).
const BATCH_BYTES: usize = 1 << 20;
/// Batches read ahead of the caller.
const BATCHES_AHEAD: usize = 3;

/// An item moved out of the merge.
enum Owned {
    Notify(Trace, Endian),
    Event {
        trace: Trace,
        input: usize,
        cpu: u32,
        endian: Endian,
    },
}

/// Items moved across at once, with the problems the merge found on the way.
#[derive(Default)]
struct Batch {
    items: Vec<Owned>,
    /// Each with the index of the item whose reading found it: a caller that stops at that
    /// item has still been told, as it would have been reading in line.
    errors: Vec<(usize, TraceError)>,
}

/// A `MergedTraces` running on its own thread; the same lending interface.
pub struct ReadAhead {
    batches: Receiver<Batch>,
    /// Emptied batches go back to the reader to be filled again (no allocation per batch).
    spent: SyncSender<Batch>,
    current: Batch,
    /// The next item of `current` to hand out.
    at: usize,
    errors: Vec<TraceError>,
    files: Vec<PathBuf>,
    first_time: Option<u64>,
}

impl ReadAhead {
    /// Starts reading `merged` on a new thread.
    pub fn start(mut merged: MergedTraces) -> std::io::Result<ReadAhead> {
        let files = merged.files().to_vec();
        let first_time = merged.first_time();
        let (batch_tx, batches) = sync_channel(BATCHES_AHEAD);
        let (spent, spent_rx) = sync_channel(BATCHES_AHEAD + 2);
        thread::Builder::new()
            .name("trace-reader".into())
            .spawn(move || fill_batches(&mut merged, &batch_tx, &spent_rx))?;
        Ok(ReadAhead {
            batches,
            spent,
            current: Batch::default(),
            at: 0,
            errors: Vec::new(),
            files,
            first_time,
        })
    }

    /// The files opened, in the order blkparse announces them.
    pub fn files(&self) -> &[PathBuf] {
        &self.files
    }

    /// The time of the first record: blkparse's "genesis".
    pub fn first_time(&self) -> Option<u64> {
        self.first_time
    }

    /// Problems met in the items handed out so far.
    pub fn take_errors(&mut self) -> Vec<TraceError> {
        std::mem::take(&mut self.errors)
    }

    /// The next notify or event, as `MergedTraces::next_item` gives it.
    pub fn next_item(&mut self) -> Option<Item<'_>> {
        if self.at == self.current.items.len() {
            self.take_errors_up_to(usize::MAX);
            if !self.refill() {
                return None;
            }
        }
        let at = self.at;
        self.at += 1;
        self.take_errors_up_to(at);
        Some(match self.current.items.get_mut(at)? {
            Owned::Notify(trace, endian) => Item::Notify(trace, *endian),
            Owned::Event {
                trace,
                input,
                cpu,
                endian,
            } => Item::Event {
                trace,
                input: *input,
                cpu: *cpu,
                endian: *endian,
            },
        })
    }

    /// Moves the current batch's errors found up to item `at` to the caller's list.
    fn take_errors_up_to(&mut self, at: usize) {
        let errors = &mut self.current.errors;
        if errors.first().is_none_or(|(i, _)| *i > at) {
            return;
        }
        let due = errors.iter().take_while(|(i, _)| *i <= at).count();
        self.errors.extend(errors.drain(..due).map(|(_, e)| e));
    }

    /// Swaps in the next batch; false at the end of the trace.
    fn refill(&mut self) -> bool {
        // At the end the batch stays empty, so every later call ends here again.
        let Ok(next) = self.batches.recv() else {
            return false;
        };
        let mut done = std::mem::replace(&mut self.current, next);
        done.items.clear();
        // The reader may be gone (end of trace): then the batch is simply dropped.
        let _ = self.spent.try_send(done);
        self.at = 0;
        true
    }
}

/// The reader thread: fills batches until the trace ends or the caller hangs up.
fn fill_batches(merged: &mut MergedTraces, batches: &SyncSender<Batch>, spent: &Receiver<Batch>) {
    loop {
        let mut batch = spent.try_recv().unwrap_or_else(|_| Batch {
            items: Vec::with_capacity(BATCH_ITEMS),
            errors: Vec::new(),
        });
        let mut bytes = 0;
        let mut ended = false;
        while batch.items.len() < BATCH_ITEMS && bytes < BATCH_BYTES {
            let item = next_owned(merged);
            let at = batch.items.len();
            batch
                .errors
                .extend(merged.take_errors().into_iter().map(|e| (at, e)));
            let Some(item) = item else {
                ended = true;
                break;
            };
            let (Owned::Notify(t, _) | Owned::Event { trace: t, .. }) = &item;
            bytes += t.pdu.len();
            batch.items.push(item);
        }
        let empty = batch.items.is_empty() && batch.errors.is_empty();
        if !empty && batches.send(batch).is_err() {
            return;
        }
        if ended {
            return;
        }
    }
}

/// The next item, moved out of the merge.
fn next_owned(merged: &mut MergedTraces) -> Option<Owned> {
    Some(match merged.next_item()? {
        Item::Notify(trace, endian) => Owned::Notify(std::mem::take(trace), endian),
        Item::Event {
            trace,
            input,
            cpu,
            endian,
        } => Owned::Event {
            trace: std::mem::take(trace),
            input,
            cpu,
            endian,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::blktrace::reader::TraceInput;
    use crate::blktrace::synthetic::{SyntheticSpec, generate};
    use crate::blktrace::writer::BlktraceWriter;

    /// What a reader hands out, in order: items as (kind, time, cpu) and errors as offsets.
    fn walk(
        mut next: impl FnMut() -> Option<(char, u64, u32)>,
        stop: usize,
    ) -> Vec<(char, u64, u32)> {
        let mut seen = Vec::new();
        while seen.len() < stop {
            match next() {
                Some(item) => seen.push(item),
                None => break,
            }
        }
        seen
    }

    fn summary(item: Item<'_>) -> (char, u64, u32) {
        match item {
            Item::Notify(t, _) => ('n', t.header.time, t.header.cpu),
            Item::Event { trace, cpu, .. } => ('e', trace.header.time, cpu),
        }
    }

    #[test]
    fn hands_out_what_the_merge_gives_with_errors_in_place() {
        let dir = std::env::temp_dir().join(format!("blkscope-read-ahead-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut writer = BlktraceWriter::new(&dir, "t");
        let spec = SyntheticSpec {
            ios: 2000,
            cpus: 3,
            ..Default::default()
        };
        for t in generate(&spec) {
            writer.write(&t).unwrap();
        }
        let files = writer.finish().unwrap();
        // Garbage two thirds into CPU 1's file: its records stop there, the others go on.
        let bytes = std::fs::read(&files[1]).unwrap();
        let mut damaged = bytes[..bytes.len() * 2 / 3].to_vec();
        damaged.extend([0xAB; 100]);
        std::fs::write(&files[1], damaged).unwrap();

        let input = [TraceInput {
            name: "t".into(),
            dir: Some(dir.clone()),
        }];
        // The item at which reading in line meets the error.
        let mut inline = MergedTraces::open(&input, 512).unwrap();
        let mut found_at = 0;
        while inline.next_item().is_some() {
            found_at += 1;
            if !inline.take_errors().is_empty() {
                break;
            }
        }
        assert!(found_at > BATCH_ITEMS, "error met at item {found_at}");
        for stop in [usize::MAX, found_at, found_at - 1, 3] {
            let mut inline = MergedTraces::open(&input, 512).unwrap();
            let expected = walk(|| inline.next_item().map(summary), stop);
            let expected_errors: Vec<u64> = inline.take_errors().iter().map(|e| e.offset).collect();

            let mut ahead = ReadAhead::start(MergedTraces::open(&input, 512).unwrap()).unwrap();
            let got = walk(|| ahead.next_item().map(summary), stop);
            let errors: Vec<u64> = ahead.take_errors().iter().map(|e| e.offset).collect();
            assert_eq!(got, expected, "stop {stop}");
            assert_eq!(errors, expected_errors, "stop {stop}");
            // Told about the error exactly when reading in line would have been.
            assert_eq!(errors.len(), usize::from(stop >= found_at), "stop {stop}");
            if stop == usize::MAX {
                assert!(got.len() > 3 * BATCH_ITEMS, "{} items", got.len());
            }
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
