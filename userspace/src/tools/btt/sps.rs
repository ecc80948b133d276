//! `-m` (`--seeks-per-second`): per device `NAME_DEVICE.dat`, a line per window of at least a
//! second of seeks: `START RATE`.
//!
//! btt counts D2D and Q2Q seeks in windows of their own, and opens this one file name for
//! both: two C streams, each with its own buffer and its own file offset, both writing from
//! the start of the file. What the file holds is what is left after their block writes
//! overwrite each other, in the order they happen; and when the first stream closes on an
//! empty file, btt removes the name and the second stream's lines are lost with it. The
//! streams are replayed here write by write so that the file ends the same.

use std::fs::File;
use std::io;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};

use super::data_file::{device_file_name, with_path};

/// glibc's buffer for a file stream: the file system's block size, at most `BUFSIZ`.
const BUFSIZ: u64 = 8192;

/// The two seek streams of a device, in the order btt opens (and closes) them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeekStream {
    D2d = 0,
    Q2q = 1,
}

/// One window of seeks.
#[derive(Debug, Clone, Copy, Default)]
struct Window {
    start: f64,
    last: f64,
    seeks: u64,
}

impl Window {
    /// Counts a seek at `t` (seconds); the line of the window this closes, if any.
    fn add(&mut self, t: f64) -> Option<String> {
        let closed = if self.seeks != 0 && t - self.start >= 1.0 {
            self.close()
        } else {
            None
        };
        self.last = t;
        if self.seeks == 0 {
            self.start = t;
        }
        self.seeks += 1;
        closed
    }

    /// The open window's line (none when empty); the window starts over.
    fn close(&mut self) -> Option<String> {
        if self.seeks == 0 {
            return None;
        }
        let span = self.last - self.start;
        // One seek, or seeks all at one instant, count as that many per second.
        let rate = if self.seeks == 1 || span < f64::EPSILON {
            self.seeks as f64
        } else {
            self.seeks as f64 / span
        };
        let line = format!("{:15.9} {rate:.2}\n", self.start);
        self.start = 0.0;
        self.seeks = 0;
        Some(line)
    }
}

/// A C stream's state: bytes buffered, and where its next block lands.
#[derive(Default)]
struct Stream {
    pending: Vec<u8>,
    offset: u64,
    window: Window,
}

pub struct SpsFile {
    path: PathBuf,
    file: File,
    block: usize,
    streams: [Stream; 2],
}

impl SpsFile {
    /// Creates `NAME_DEVICE.dat`; a file that cannot be created is reported and left out.
    pub fn create(name: &Path, device: &str) -> Option<SpsFile> {
        let path = device_file_name(name, device, None);
        let opened = File::create(&path).and_then(|file| {
            let blksize = file.metadata()?.blksize();
            Ok((file, blksize))
        });
        match opened {
            Ok((file, blksize)) => Some(SpsFile {
                path,
                file,
                block: if blksize > 0 && blksize < BUFSIZ {
                    blksize as usize
                } else {
                    BUFSIZ as usize
                },
                streams: Default::default(),
            }),
            Err(e) => {
                eprintln!("{}: {e}", path.display());
                None
            }
        }
    }

    /// A seek of `stream` at `t` seconds.
    pub fn add(&mut self, stream: SeekStream, t: f64) -> io::Result<()> {
        match self.streams[stream as usize].window.add(t) {
            Some(line) => self.put(stream as usize, line.as_bytes()),
            None => Ok(()),
        }
    }

    /// Buffers `bytes` in stream `i`; a full buffer goes to the file when more comes.
    fn put(&mut self, i: usize, bytes: &[u8]) -> io::Result<()> {
        let s = &mut self.streams[i];
        s.pending.extend_from_slice(bytes);
        while s.pending.len() > self.block {
            self.file
                .write_all_at(&s.pending[..self.block], s.offset)
                .map_err(|e| with_path(&self.path, e))?;
            s.offset += self.block as u64;
            s.pending.drain(..self.block);
        }
        Ok(())
    }

    /// The last windows, then each stream's rest in turn, removing an empty file as btt does.
    pub fn finish(mut self) -> io::Result<()> {
        for i in 0..self.streams.len() {
            if let Some(line) = self.streams[i].window.close() {
                self.put(i, line.as_bytes())?;
            }
        }
        for i in 0..self.streams.len() {
            let s = &self.streams[i];
            self.file
                .write_all_at(&s.pending, s.offset)
                .map_err(|e| with_path(&self.path, e))?;
            let len = self
                .file
                .metadata()
                .map_err(|e| with_path(&self.path, e))?
                .len();
            if len == 0 {
                // The other stream then writes to a file no longer named.
                return std::fs::remove_file(&self.path).map_err(|e| with_path(&self.path, e));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_last_at_least_a_second() {
        let mut w = Window::default();
        assert_eq!(w.add(0.5), None);
        assert_eq!(w.add(1.0), None);
        assert_eq!(w.add(1.5).as_deref(), Some("    0.500000000 4.00\n"));
        assert_eq!(w.close().as_deref(), Some("    1.500000000 1.00\n"));
        assert_eq!(w.close(), None);
    }
}
