//! `-Q` (`--active-queue-depth`): per device `NAME_DEVICE_aqd.dat`, the number of issued I/Os
//! not yet completed, as a step plot: two lines (before and after) per issue and completion.

use std::io::{self, Write};
use std::path::Path;

use super::data_file::{DataFile, device_file_name};

pub struct QueueDepth {
    out: DataFile,
    /// btt's `int` count.
    active: i32,
}

impl QueueDepth {
    pub fn create(name: &Path, device: &str) -> Option<QueueDepth> {
        let out = DataFile::create(device_file_name(name, device, Some("aqd")))?;
        Some(QueueDepth { out, active: 0 })
    }

    /// An issue at `t` seconds.
    pub fn issue(&mut self, t: f64) -> io::Result<()> {
        self.step(t, self.active.wrapping_add(1))
    }

    /// A completion at `t` seconds; completions of I/Os issued before the trace are not
    /// counted below zero.
    pub fn complete(&mut self, t: f64) -> io::Result<()> {
        if self.active > 0 {
            self.step(t, self.active - 1)?;
        }
        Ok(())
    }

    fn step(&mut self, t: f64, to: i32) -> io::Result<()> {
        write!(self.out, "{t:.6} {}\n{t:.6} {to}\n", self.active)?;
        self.active = to;
        Ok(())
    }

    pub fn finish(self) -> io::Result<()> {
        self.out.finish()
    }
}
