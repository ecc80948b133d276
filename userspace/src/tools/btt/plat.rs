//! `-L FREQ` (`--periodic-latencies`): per device and latency (Q2D, D2C, Q2C) a file
//! `DEVICE_POST_plat.dat` with the average latency of each period of FREQ seconds, placed at
//! the middle of the period's first and last samples.

use std::io::{self, Write};
use std::path::PathBuf;

use super::data_file::DataFile;
use super::time::to_sec;

/// The samples of the open period.
#[derive(Debug, Clone, Copy)]
struct Period {
    first: f64,
    last: f64,
    total: f64,
    samples: u64,
}

pub struct PeriodicLatency {
    freq: f64,
    out: DataFile,
    period: Option<Period>,
}

impl PeriodicLatency {
    /// `DEVICE_POST_plat.dat`; none unless FREQ is positive (btt's switch for the option).
    pub fn create(freq: f64, device: &str, post: &str) -> Option<PeriodicLatency> {
        if freq <= 0.0 {
            return None;
        }
        let out = DataFile::create(PathBuf::from(format!("{device}_{post}_plat.dat")))?;
        Some(PeriodicLatency {
            freq,
            out,
            period: None,
        })
    }

    /// A latency of `latency` ns at `stamp` ns.
    pub fn add(&mut self, stamp: u64, latency: u64) -> io::Result<()> {
        let (now, latency) = (to_sec(stamp), to_sec(latency));
        match &mut self.period {
            Some(p) if now - p.first < self.freq => {
                p.last = now;
                p.samples += 1;
                p.total += latency;
                return Ok(());
            }
            Some(p) => {
                let p = *p;
                self.write(&p)?;
            }
            None => {}
        }
        self.period = Some(Period {
            first: now,
            last: now,
            total: latency,
            samples: 1,
        });
        Ok(())
    }

    fn write(&mut self, p: &Period) -> io::Result<()> {
        let middle = p.first + (p.last - p.first) / 2.0;
        writeln!(self.out, "{middle:.6} {:.6}", p.total / p.samples as f64)
    }

    /// The open period's line, then the file is done.
    pub fn finish(mut self) -> io::Result<()> {
        if let Some(p) = self.period {
            self.write(&p)?;
        }
        self.out.finish()
    }
}
