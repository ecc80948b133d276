//! `-z`, `-l`, `-q` (`--q2d-latencies`, `--d2c-latencies`, `--q2c-latencies`): per device a
//! file `NAME_DEVICE_POST.dat` with a line `STAMP LATENCY` (seconds) per queued I/O; and the
//! `-L` averages of the same samples. Q2D and D2C lines are stamped at the issue and the
//! completion, Q2C lines at the queue, as btt stamps them.

use std::io::{self, Write};
use std::path::Path;

use super::data_file::{DataFile, device_file_name};
use super::plat::PeriodicLatency;
use super::time::to_sec;

/// The latencies btt writes files of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Latency {
    Q2d = 0,
    D2c = 1,
    Q2c = 2,
}

impl Latency {
    fn post(self) -> &'static str {
        match self {
            Latency::Q2d => "q2d",
            Latency::D2c => "d2c",
            Latency::Q2c => "q2c",
        }
    }
}

const ALL: [Latency; 3] = [Latency::Q2d, Latency::D2c, Latency::Q2c];

/// A device's latency files, each when asked for.
pub struct LatencyFiles {
    samples: [Option<DataFile>; 3],
    periodic: [Option<PeriodicLatency>; 3],
}

impl LatencyFiles {
    /// `names`: the option values for Q2D, D2C and Q2C; `freq`: `-L`'s period (0: none).
    pub fn create(names: [Option<&Path>; 3], freq: f64, device: &str) -> LatencyFiles {
        LatencyFiles {
            samples: ALL.map(|l| {
                names[l as usize].and_then(|name| {
                    DataFile::create(device_file_name(name, device, Some(l.post())))
                })
            }),
            periodic: ALL.map(|l| PeriodicLatency::create(freq, device, l.post())),
        }
    }

    /// One sample of `latency` ns, stamped `stamp` ns.
    pub fn add(&mut self, which: Latency, stamp: u64, latency: u64) -> io::Result<()> {
        if let Some(p) = &mut self.periodic[which as usize] {
            p.add(stamp, latency)?;
        }
        if let Some(out) = &mut self.samples[which as usize] {
            writeln!(out, "{:.6} {:.6}", to_sec(stamp), to_sec(latency))?;
        }
        Ok(())
    }

    pub fn finish(self) -> io::Result<()> {
        for p in self.periodic.into_iter().flatten() {
            p.finish()?;
        }
        super::data_file::finish_all(self.samples)
    }
}
