//! Where a tool's records come from, named the way btt names its input: `-` for a stream on
//! stdin, an existing file for a binary dump (`blkparse -d`, or `blktrace -o -` saved), else
//! the name of per-CPU trace files `NAME.blktrace.N` (the CPUs that have one; a CPU without
//! events may have none), merged in time order.

use std::fs::File;
use std::io::{self, BufRead};
use std::path::{Path, PathBuf};

use super::error::TraceError;
use super::format::{Endian, Trace};
use super::reader::{DEFAULT_BATCH, Item, MergedTraces, OpenError, RecordReader, TraceInput};

/// Why an input could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("{}: {source}", path.display())]
    File { path: PathBuf, source: io::Error },
    #[error(transparent)]
    Open(#[from] OpenError),
}

/// Records, one at a time, notifies included.
pub enum TraceSource {
    Stream(RecordReader<Box<dyn BufRead>>),
    /// Per-CPU files, merged; event times made relative to the first, as in a dump.
    Merged {
        traces: MergedTraces,
        genesis: u64,
        endian: Endian,
    },
}

impl TraceSource {
    /// Opens `input`; `None` for an empty dump (btt says nothing at all about one).
    pub fn open(input: &Path) -> Result<Option<TraceSource>, SourceError> {
        if input.as_os_str() == "-" {
            let stdin: Box<dyn BufRead> =
                Box::new(io::BufReader::with_capacity(1 << 20, io::stdin()));
            return Ok(Some(TraceSource::Stream(RecordReader::new(stdin, "-"))));
        }
        // One CPU's file names the whole trace, as in blkparse: `sda.blktrace.0` is `sda`.
        let stripped = per_cpu_name(input);
        let input = stripped.as_deref().unwrap_or(input);
        let per_cpu = TraceInput {
            name: input.as_os_str().to_owned(),
            dir: None,
        };
        let cpus = if input.exists() {
            Vec::new()
        } else {
            per_cpu.cpus_present()
        };
        if !cpus.is_empty() {
            let traces = MergedTraces::open_cpus(&per_cpu, &cpus, DEFAULT_BATCH)?;
            let genesis = traces.first_time().unwrap_or(0);
            return Ok(Some(TraceSource::Merged {
                traces,
                genesis,
                endian: Endian::NATIVE,
            }));
        }
        let file = File::open(input).map_err(|source| SourceError::File {
            path: input.to_path_buf(),
            source,
        })?;
        if file.metadata().is_ok_and(|m| m.is_file() && m.len() == 0) {
            return Ok(None);
        }
        let reader: Box<dyn BufRead> = Box::new(io::BufReader::with_capacity(1 << 20, file));
        Ok(Some(TraceSource::Stream(RecordReader::new(reader, input))))
    }

    /// The next record, `Ok(false)` at the end; an error ends the input (with per-CPU files,
    /// the first one met; `take_errors` has the others).
    pub fn next(&mut self, t: &mut Trace) -> Result<bool, TraceError> {
        match self {
            TraceSource::Stream(r) => r.read_into(t),
            TraceSource::Merged {
                traces,
                genesis,
                endian,
            } => match traces.next_item() {
                None => match traces.take_errors().into_iter().next() {
                    Some(e) => Err(e),
                    None => Ok(false),
                },
                Some(Item::Notify(n, e)) => {
                    *endian = e;
                    std::mem::swap(t, n);
                    Ok(true)
                }
                Some(Item::Event {
                    trace, endian: e, ..
                }) => {
                    *endian = e;
                    std::mem::swap(t, trace);
                    t.header.time = t.header.time.wrapping_sub(*genesis);
                    Ok(true)
                }
            },
        }
    }

    /// The byte order of the last record read (payloads such as cgroup ids are in it).
    pub fn endian(&self) -> Endian {
        match self {
            TraceSource::Stream(r) => r.endian().unwrap_or(Endian::NATIVE),
            TraceSource::Merged { endian, .. } => *endian,
        }
    }

    /// Problems met besides the one `next` returned.
    pub fn take_errors(&mut self) -> Vec<TraceError> {
        match self {
            TraceSource::Stream(r) => r.take_skipped(),
            TraceSource::Merged { traces, .. } => traces.take_errors(),
        }
    }
}

/// `NAME` for a per-CPU file `NAME.blktrace.N`; `None` for any other name.
fn per_cpu_name(input: &Path) -> Option<std::path::PathBuf> {
    use std::os::unix::ffi::OsStrExt;
    let bytes = input.as_os_str().as_bytes();
    let at = bytes.windows(10).rposition(|w| w == b".blktrace.")?;
    let cpu = &bytes[at + 10..];
    if cpu.is_empty() || !cpu.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(std::path::PathBuf::from(std::ffi::OsStr::from_bytes(
        &bytes[..at],
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cpu_file_names_its_trace() {
        let name = |p: &str| per_cpu_name(Path::new(p));
        assert_eq!(name("dir/sda.blktrace.0"), Some("dir/sda".into()));
        assert_eq!(name("sda.blktrace.12"), Some("sda".into()));
        assert_eq!(name("sda.blktrace."), None);
        assert_eq!(name("sda.blktrace.x"), None);
        assert_eq!(name("sda.bin"), None);
    }
}
