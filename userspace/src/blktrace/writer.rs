//! Writing traces in the blktrace format: one file per CPU (`NAME.blktrace.CPU`), as blktrace
//! writes them, so that stock blkparse and btt read what blkscope records.

use std::collections::BTreeMap;
use std::collections::btree_map::Entry;
use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use super::format::{Endian, Trace};

/// Writes the per-CPU files of one trace.
pub struct BlktraceWriter {
    dir: PathBuf,
    name: OsString,
    endian: Endian,
    files: BTreeMap<u32, BufWriter<File>>,
}

impl BlktraceWriter {
    /// Files go to `DIR/NAME.blktrace.CPU`, in this machine's byte order.
    pub fn new(dir: impl Into<PathBuf>, name: impl Into<OsString>) -> BlktraceWriter {
        BlktraceWriter::with_endian(dir, name, Endian::NATIVE)
    }

    /// In a given byte order (a trace recorded on a machine of the other order).
    pub fn with_endian(
        dir: impl Into<PathBuf>,
        name: impl Into<OsString>,
        endian: Endian,
    ) -> BlktraceWriter {
        BlktraceWriter {
            dir: dir.into(),
            name: name.into(),
            endian,
            files: BTreeMap::new(),
        }
    }

    pub fn path_of(&self, cpu: u32) -> PathBuf {
        cpu_file(&self.dir, &self.name, cpu)
    }

    /// Writes a record as it is (magic, sequence and all) to its CPU's file. Numbering the
    /// records and writing the notifies blkparse expects is the recorder's job.
    pub fn write(&mut self, trace: &Trace) -> std::io::Result<()> {
        let endian = self.endian;
        trace.write_to(endian, self.file_of(trace.header.cpu)?)
    }

    /// Writes records already encoded in this writer's byte order to `cpu`'s file.
    pub fn write_encoded(&mut self, cpu: u32, records: &[u8]) -> std::io::Result<()> {
        self.file_of(cpu)?.write_all(records)
    }

    fn file_of(&mut self, cpu: u32) -> std::io::Result<&mut BufWriter<File>> {
        Ok(match self.files.entry(cpu) {
            Entry::Occupied(e) => e.into_mut(),
            Entry::Vacant(v) => {
                let path = cpu_file(&self.dir, &self.name, cpu);
                let file = File::create(&path).map_err(|e| {
                    std::io::Error::new(e.kind(), format!("{}: {e}", path.display()))
                })?;
                v.insert(BufWriter::with_capacity(1 << 16, file))
            }
        })
    }

    /// Flushes every file and creates empty files for CPUs without records below the highest,
    /// since blkparse stops at the first CPU number without a file. Returns the files.
    pub fn finish(mut self) -> std::io::Result<Vec<PathBuf>> {
        let max = self.files.keys().next_back().copied();
        if let Some(max) = max {
            for cpu in 0..max {
                if !self.files.contains_key(&cpu) {
                    File::create(self.path_of(cpu))?;
                }
            }
        }
        for out in self.files.values_mut() {
            out.flush()?;
        }
        Ok(match max {
            Some(max) => (0..=max).map(|c| self.path_of(c)).collect(),
            None => Vec::new(),
        })
    }
}

fn cpu_file(dir: &Path, name: &OsStr, cpu: u32) -> PathBuf {
    // Any bytes in NAME: a trace name need not be UTF-8.
    let mut file = name.to_owned();
    file.push(format!(".blktrace.{cpu}"));
    dir.join(file)
}
