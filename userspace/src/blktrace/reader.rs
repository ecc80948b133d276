//! Reading traces: one record at a time from a byte stream (`RecordReader`), and the per-CPU
//! files of traces merged in time order (`MergedTraces`) the way blkparse merges them.
//!
//! Memory is bounded: each CPU's file is read `batch` records ahead (blkparse's default 512),
//! and a payload is at most 65535 bytes (`pdu_len` is 16 bits).

use std::collections::VecDeque;
use std::ffi::OsString;
use std::fs::File;
use std::io::{BufRead, BufReader, ErrorKind};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use super::error::{CorruptKind, TraceError};
use super::format::{Endian, HEADER_LEN, Trace, TraceHeader, VERSION};

/// blkparse reads each CPU's file this many records ahead.
pub const DEFAULT_BATCH: usize = 512;

/// Reads records from one byte stream, detecting its byte order from the first record.
pub struct RecordReader<R> {
    input: R,
    path: PathBuf,
    offset: u64,
    endian: Option<Endian>,
    /// Records passed over (an impossible CPU number), as blkparse warns and goes on.
    skipped: Vec<TraceError>,
}

impl<R: BufRead> RecordReader<R> {
    /// `path` names the stream in errors ("-" for stdin).
    pub fn new(input: R, path: impl Into<PathBuf>) -> RecordReader<R> {
        RecordReader {
            input,
            path: path.into(),
            offset: 0,
            endian: None,
            skipped: Vec::new(),
        }
    }

    /// The records passed over so far, each with its offset.
    pub fn take_skipped(&mut self) -> Vec<TraceError> {
        std::mem::take(&mut self.skipped)
    }

    /// The byte order, once the first record was read.
    pub fn endian(&self) -> Option<Endian> {
        self.endian
    }

    /// Bytes consumed so far (the offset of the next record).
    pub fn offset(&self) -> u64 {
        self.offset
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Reads the next record into `out` (its payload buffer is reused). `Ok(false)` at a clean
    /// end of the stream. A whole record with an impossible CPU number is passed over (see
    /// `take_skipped`): its length is sound, so the records after it are still read.
    pub fn read_into(&mut self, out: &mut Trace) -> Result<bool, TraceError> {
        loop {
            let start = self.offset;
            if !self.read_record(out)? {
                return Ok(false);
            }
            if out.header.cpu < super::format::MAX_CPUS {
                return Ok(true);
            }
            let error = self.error(start, CorruptKind::BadCpu(out.header.cpu));
            self.skipped.push(error);
        }
    }

    fn read_record(&mut self, out: &mut Trace) -> Result<bool, TraceError> {
        let start = self.offset;
        let mut raw = [0u8; HEADER_LEN];
        let got = self
            .take(&mut raw)
            .map_err(|e| self.error(start, e.into()))?;
        if got == 0 {
            return Ok(false);
        }
        if got < HEADER_LEN {
            return Err(self.error(
                start,
                CorruptKind::Truncated {
                    needed: HEADER_LEN,
                    found: got,
                },
            ));
        }
        let endian = match self
            .endian
            .or_else(|| Endian::detect([raw[0], raw[1], raw[2], raw[3]]))
        {
            Some(e) => e,
            None => {
                let magic = u32::from_ne_bytes([raw[0], raw[1], raw[2], raw[3]]);
                return Err(self.error(start, CorruptKind::BadMagic(magic)));
            }
        };
        self.endian = Some(endian);
        let header = TraceHeader::decode(&raw, endian);
        if !header.has_magic() {
            return Err(self.error(start, CorruptKind::BadMagic(header.magic)));
        }
        if header.version() != VERSION {
            return Err(self.error(start, CorruptKind::BadVersion(header.version())));
        }
        let pdu_len = usize::from(header.pdu_len);
        out.pdu.clear();
        let got = self
            .take_payload(&mut out.pdu, pdu_len)
            .map_err(|e| self.error(start, e.into()))?;
        if got < pdu_len {
            return Err(self.error(
                start,
                CorruptKind::Truncated {
                    needed: HEADER_LEN + pdu_len,
                    found: HEADER_LEN + got,
                },
            ));
        }
        out.header = header;
        Ok(true)
    }

    /// Reads the next record. `Ok(None)` at a clean end of the stream.
    pub fn next_trace(&mut self) -> Result<Option<Trace>, TraceError> {
        let mut t = Trace::default();
        Ok(self.read_into(&mut t)?.then_some(t))
    }

    /// Fills a header from the stream (straight from its buffer when the header is there in
    /// one piece, the common case); returns the bytes read, fewer at the end of the stream.
    fn take(&mut self, raw: &mut [u8; HEADER_LEN]) -> std::io::Result<usize> {
        let buf = self.buffered()?;
        if buf.len() >= HEADER_LEN {
            raw.copy_from_slice(&buf[..HEADER_LEN]);
            self.input.consume(HEADER_LEN);
            self.offset += HEADER_LEN as u64;
            return Ok(HEADER_LEN);
        }
        let mut done = 0;
        self.take_with(HEADER_LEN, |piece| {
            raw[done..done + piece.len()].copy_from_slice(piece);
            done += piece.len();
        })
    }

    /// Appends up to `len` payload bytes to `out`; returns how many the stream had.
    fn take_payload(&mut self, out: &mut Vec<u8>, len: usize) -> std::io::Result<usize> {
        self.take_with(len, |piece| out.extend_from_slice(piece))
    }

    /// Hands up to `len` bytes to `put`, piece by piece as the buffer holds them; returns how
    /// many the stream had.
    fn take_with(&mut self, len: usize, mut put: impl FnMut(&[u8])) -> std::io::Result<usize> {
        let mut done = 0;
        while done < len {
            let buf = self.buffered()?;
            if buf.is_empty() {
                break;
            }
            let n = buf.len().min(len - done);
            put(&buf[..n]);
            self.input.consume(n);
            done += n;
        }
        self.offset += done as u64;
        Ok(done)
    }

    /// The stream's buffered bytes, refilled when empty (retrying interrupted reads).
    fn buffered(&mut self) -> std::io::Result<&[u8]> {
        // The retry loop cannot return the borrowed buffer (a borrow-checker limit), so the
        // slice comes from a second fill_buf, which only returns what is already buffered.
        loop {
            match self.input.fill_buf() {
                Ok(_) => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
        self.input.fill_buf()
    }

    fn error(&self, offset: u64, kind: CorruptKind) -> TraceError {
        TraceError {
            path: self.path.clone(),
            offset,
            kind,
        }
    }
}

/// One input of a file-mode parse: a trace name whose files are `NAME.blktrace.CPU`.
#[derive(Debug, Clone)]
pub struct TraceInput {
    /// The name as given (`-i NAME`, any bytes), ".blktrace.N" already stripped.
    pub name: OsString,
    /// The directory the files are in (from `-D`, or the name's own directory).
    pub dir: Option<PathBuf>,
}

impl TraceInput {
    /// The CPUs that have a file, in order.
    pub fn cpus_present(&self) -> Vec<u32> {
        let first = self.file_of(0);
        let dir = match first.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let Some(prefix) = first
            .file_name()
            .and_then(|n| n.as_bytes().strip_suffix(b"0"))
            .map(<[u8]>::to_vec)
        else {
            return Vec::new();
        };
        let mut cpus: Vec<u32> = std::fs::read_dir(&dir)
            .into_iter()
            .flatten()
            .filter_map(|entry| {
                let name = entry.ok()?.file_name();
                let cpu = name.as_bytes().strip_prefix(prefix.as_slice())?;
                let cpu = std::str::from_utf8(cpu).ok()?;
                // "0" and "17", not "017" (which would open as file 17's name otherwise).
                let n: u32 = cpu.parse().ok()?;
                (n.to_string() == cpu && n < super::format::MAX_CPUS).then_some(n)
            })
            .collect();
        cpus.sort_unstable();
        cpus
    }

    /// The file of one CPU.
    pub fn file_of(&self, cpu: u32) -> PathBuf {
        // Joined as blkparse joins it ("DIR/NAME.blktrace.N", not Path::join), so names print
        // alike.
        let mut file = OsString::new();
        if let Some(dir) = &self.dir {
            file.push(dir);
            file.push("/");
        }
        file.push(&self.name);
        file.push(format!(".blktrace.{cpu}"));
        PathBuf::from(file)
    }
}

/// What `MergedTraces::next_item` yields: records lent in place (no copy), valid until the
/// next call.
#[derive(Debug)]
pub enum Item<'a> {
    /// A notify record other than a message (process name, timestamp), handed out as soon as
    /// it is read, ahead of the events around it (blkparse applies them when it reads them).
    Notify(&'a mut Trace, Endian),
    /// The next record in time order, with the input it came from and its file's CPU.
    Event {
        trace: &'a mut Trace,
        input: usize,
        cpu: u32,
        endian: Endian,
    },
}

/// One CPU's file of one input, read `batch` records ahead.
struct CpuStream {
    reader: Option<RecordReader<BufReader<File>>>,
    input: usize,
    cpu: u32,
    queue: VecDeque<Trace>,
    last_time: Option<u64>,
    endian: Endian,
}

/// The per-CPU files of one or more traces, merged in time order.
///
/// The merge order replicates blkparse's list of streams (a stream with the same time as
/// another stays behind the one already in front), so equal timestamps print in its order.
pub struct MergedTraces {
    streams: Vec<CpuStream>,
    /// Streams with records left, ordered by the time of their next record.
    order: Vec<usize>,
    pending_notifies: VecDeque<(Trace, Endian)>,
    /// The front notify was lent out and goes at the next call.
    notify_lent: bool,
    /// The stream whose front record was lent out and goes at the next call.
    needs_dequeue: Option<usize>,
    batch: usize,
    files: Vec<PathBuf>,
    errors: Vec<TraceError>,
}

/// Why a trace could not be opened at all.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("No input files found for {}", .0.to_string_lossy())]
    NoFiles(OsString),
    #[error("{}: {source}", path.display())]
    Open {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl MergedTraces {
    /// Opens `NAME.blktrace.0`, `.1`... of every input, up to the first CPU number without a
    /// file, as blkparse does. Empty files are skipped.
    pub fn open(inputs: &[TraceInput], batch: usize) -> Result<MergedTraces, OpenError> {
        let mut merged = MergedTraces::empty(batch);
        for (index, input) in inputs.iter().enumerate() {
            let cpus: Vec<u32> = (0..)
                .take_while(|&cpu| input.file_of(cpu).exists())
                .collect();
            merged.add_input(index, input, &cpus)?;
        }
        Ok(merged)
    }

    /// Opens the files of these CPUs of one input, gaps allowed (`TraceInput::cpus_present`: a
    /// trace holding only the CPUs that had events, which the views read; blkparse would stop
    /// at the first gap).
    pub fn open_cpus(
        input: &TraceInput,
        cpus: &[u32],
        batch: usize,
    ) -> Result<MergedTraces, OpenError> {
        let mut merged = MergedTraces::empty(batch);
        merged.add_input(0, input, cpus)?;
        Ok(merged)
    }

    fn empty(batch: usize) -> MergedTraces {
        MergedTraces {
            streams: Vec::new(),
            order: Vec::new(),
            pending_notifies: VecDeque::new(),
            notify_lent: false,
            needs_dequeue: None,
            batch: batch.max(1),
            files: Vec::new(),
            errors: Vec::new(),
        }
    }

    /// Adds the files of these CPUs of one input (empty ones skipped).
    fn add_input(
        &mut self,
        index: usize,
        input: &TraceInput,
        cpus: &[u32],
    ) -> Result<(), OpenError> {
        if cpus.is_empty() {
            return Err(OpenError::NoFiles(input.name.clone()));
        }
        for &cpu in cpus {
            let path = input.file_of(cpu);
            if std::fs::metadata(&path).map_or(true, |m| m.len() == 0) {
                continue;
            }
            let file = File::open(&path).map_err(|source| OpenError::Open {
                path: path.clone(),
                source,
            })?;
            self.files.push(path.clone());
            self.add_stream(
                index,
                cpu,
                RecordReader::new(BufReader::with_capacity(1 << 16, file), path),
            );
        }
        Ok(())
    }

    fn add_stream(&mut self, input: usize, cpu: u32, reader: RecordReader<BufReader<File>>) {
        let id = self.streams.len();
        self.streams.push(CpuStream {
            reader: Some(reader),
            input,
            cpu,
            queue: VecDeque::new(),
            last_time: None,
            endian: Endian::NATIVE,
        });
        if self.prime(id) > 0 {
            self.insert_sorted(id);
        }
    }

    /// The files opened, in the order blkparse announces them ("Input file ... added").
    pub fn files(&self) -> &[PathBuf] {
        &self.files
    }

    /// The time of the first record to come: blkparse's "genesis", subtracted from all times.
    pub fn first_time(&self) -> Option<u64> {
        self.order.first().and_then(|&s| self.head_time(s))
    }

    /// Problems met so far (each stream stops at its first fatal one).
    pub fn take_errors(&mut self) -> Vec<TraceError> {
        std::mem::take(&mut self.errors)
    }

    /// The next notify or event.
    pub fn next_item(&mut self) -> Option<Item<'_>> {
        if let Some(stream) = self.needs_dequeue.take() {
            self.streams[stream].queue.pop_front();
            self.after_pop(stream);
        }
        if self.notify_lent {
            self.pending_notifies.pop_front();
            self.notify_lent = false;
        }
        if !self.pending_notifies.is_empty() {
            self.notify_lent = true;
            let (notify, endian) = self.pending_notifies.front_mut()?;
            return Some(Item::Notify(notify, *endian));
        }
        let &head = self.order.first()?;
        self.needs_dequeue = Some(head);
        let stream = &mut self.streams[head];
        let (input, cpu, endian) = (stream.input, stream.cpu, stream.endian);
        let trace = stream.queue.front_mut()?;
        Some(Item::Event {
            trace,
            input,
            cpu,
            endian,
        })
    }

    /// Refills the head stream if it ran dry and moves it to its place in time order.
    fn after_pop(&mut self, id: usize) {
        if self.streams[id].queue.is_empty() && self.prime(id) == 0 {
            self.order.retain(|&s| s != id);
            return;
        }
        if self.order.len() > 1 && self.order[0] == id {
            let (now, next) = (self.head_time(id), self.head_time(self.order[1]));
            if now > next {
                self.order.remove(0);
                self.insert_sorted(id);
            }
        }
    }

    fn head_time(&self, id: usize) -> Option<u64> {
        self.streams[id].queue.front().map(|t| t.header.time)
    }

    /// Puts a stream in the ordered list: before the first stream with a later time, except that
    /// a stream tying with the head goes after it (blkparse's list insertion).
    fn insert_sorted(&mut self, id: usize) {
        let Some(time) = self.head_time(id) else {
            return;
        };
        if self.order.is_empty() {
            self.order.push(id);
            return;
        }
        if Some(time) < self.head_time(self.order[0]) {
            self.order.insert(0, id);
            return;
        }
        let mut at = 0;
        while at + 1 < self.order.len() && self.head_time(self.order[at + 1]) < Some(time) {
            at += 1;
        }
        self.order.insert(at + 1, id);
    }

    /// Reads up to `batch` records of one stream (notifies do not count and are queued for
    /// `next_item`); returns how many records were queued.
    fn prime(&mut self, id: usize) -> usize {
        let mut queued = 0;
        let mut counted = 0;
        while counted < self.batch {
            let stream = &mut self.streams[id];
            let Some(reader) = stream.reader.as_mut() else {
                break;
            };
            let offset = reader.offset();
            // Read in place at the back of the queue: no copy of the record.
            stream.queue.push_back(Trace::default());
            let Some(trace) = stream.queue.back_mut() else {
                break;
            };
            let read = reader.read_into(trace);
            self.errors.extend(reader.take_skipped());
            match read {
                Ok(true) => {}
                Ok(false) => {
                    stream.queue.pop_back();
                    stream.reader = None;
                    break;
                }
                Err(e) => {
                    stream.queue.pop_back();
                    stream.reader = None;
                    self.errors.push(e);
                    break;
                }
            }
            let header = trace.header;
            if header.cpu != stream.cpu {
                stream.queue.pop_back();
                let path = reader.path().to_path_buf();
                self.errors.push(TraceError {
                    path,
                    offset,
                    kind: CorruptKind::WrongCpu {
                        file: stream.cpu,
                        record: header.cpu,
                    },
                });
                counted += 1;
                continue;
            }
            stream.endian = reader.endian().unwrap_or(Endian::NATIVE);
            if header.is_notify() && !header.is_message() {
                if let Some(notify) = stream.queue.pop_back() {
                    self.pending_notifies.push_back((notify, stream.endian));
                }
                continue;
            }
            if let Some(before) = stream.last_time
                && header.time < before
            {
                let path = reader.path().to_path_buf();
                self.errors.push(TraceError {
                    path,
                    offset,
                    kind: CorruptKind::TimeBackwards {
                        before,
                        now: header.time,
                    },
                });
            }
            stream.last_time = Some(header.time);
            queued += 1;
            counted += 1;
        }
        queued
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::blktrace::format::{MAGIC, Trace, TraceHeader};

    fn record(time: u64, pdu: &[u8]) -> Vec<u8> {
        let t = Trace {
            header: TraceHeader {
                magic: MAGIC | VERSION,
                time,
                action: 1 | (0x10 << 16),
                ..Default::default()
            },
            pdu: pdu.to_vec(),
        };
        t.encode(Endian::Little)
    }

    #[test]
    fn reads_records_and_reports_truncation_with_offset() {
        let mut bytes = record(1, &[]);
        bytes.extend(record(2, &[1, 2, 3]));
        let good = bytes.len() as u64;
        bytes.extend(&record(3, &[9; 8])[..50]);
        let mut r = RecordReader::new(&bytes[..], "t");
        assert_eq!(r.next_trace().unwrap().unwrap().header.time, 1);
        assert_eq!(r.next_trace().unwrap().unwrap().pdu, vec![1, 2, 3]);
        let err = r.next_trace().unwrap_err();
        assert_eq!(err.offset, good);
        assert!(err.to_string().contains("truncated"), "{err}");
    }

    #[test]
    fn the_cpus_present_may_have_gaps() {
        let dir = std::env::temp_dir().join(format!("blkscope-cpus-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for name in [
            "t.blktrace.1",
            "t.blktrace.3",
            "t.blktrace.03",
            "u.blktrace.0",
        ] {
            std::fs::write(dir.join(name), b"").unwrap();
        }
        let input = TraceInput {
            name: "t".into(),
            dir: Some(dir.clone()),
        };
        assert_eq!(input.cpus_present(), vec![1, 3]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn garbage_is_a_bad_magic_at_its_offset() {
        let mut bytes = record(1, &[]);
        bytes.extend([0xAB; 48]);
        let mut r = RecordReader::new(&bytes[..], "t");
        r.next_trace().unwrap();
        let err = r.next_trace().unwrap_err();
        assert_eq!(err.offset, 48);
        assert!(matches!(err.kind, CorruptKind::BadMagic(_)));
    }

    #[test]
    fn big_endian_files_are_read() {
        let t = Trace {
            header: TraceHeader {
                magic: MAGIC | VERSION,
                sequence: 3,
                time: 77,
                ..Default::default()
            },
            pdu: vec![],
        };
        let bytes = t.encode(Endian::Big);
        let mut r = RecordReader::new(&bytes[..], "t");
        assert_eq!(r.next_trace().unwrap().unwrap(), t);
        assert_eq!(r.endian(), Some(Endian::Big));
    }
}
