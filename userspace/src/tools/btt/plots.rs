//! btt's per-device plot-data files (`-B -l -L -m -q -Q -s -u -z`): which were asked for,
//! and per device the open ones, fed by the analysis at each queue, issue, completion and
//! unplug. The files of a device are created when it is first seen (btt's `dip_alloc`),
//! whatever `-D` reports, and the empty ones are removed at the end.

use std::io;
use std::path::PathBuf;

use super::aqd::QueueDepth;
use super::latency::{Latency, LatencyFiles};
use super::rwc::RwcFiles;
use super::sps::{SeekStream, SpsFile};
use super::unplug_hist::UnplugHistogram;

/// The plot options given.
#[derive(Debug, Clone, Default)]
pub struct PlotNames {
    /// `-B`: issued block ranges.
    pub block_numbers: Option<PathBuf>,
    /// `-z`, `-l`, `-q`: Q2D, D2C and Q2C latencies.
    pub q2d: Option<PathBuf>,
    pub d2c: Option<PathBuf>,
    pub q2c: Option<PathBuf>,
    /// `-L`: the period of the averaged latencies, in seconds (off unless positive).
    pub periodic: f64,
    /// `-Q`: active queue depth.
    pub queue_depth: Option<PathBuf>,
    /// `-s`: seek distances; `-m`: seeks per second (only with `-s`).
    pub seeks: Option<PathBuf>,
    pub seeks_per_second: Option<PathBuf>,
    /// `-u`: unplug histogram.
    pub unplugs: Option<PathBuf>,
}

/// One device's open files.
struct DevicePlots {
    latencies: LatencyFiles,
    depth: Option<QueueDepth>,
    blocks: Option<RwcFiles>,
    unplugs: Option<UnplugHistogram>,
    d2d_seeks: Option<RwcFiles>,
    q2q_seeks: Option<RwcFiles>,
    per_second: Option<SpsFile>,
}

/// The files of every device, indexed as the analysis indexes its devices.
#[derive(Default)]
pub struct Plots {
    names: PlotNames,
    devices: Vec<DevicePlots>,
}

impl Plots {
    pub fn new(names: PlotNames) -> Plots {
        Plots {
            names,
            devices: Vec::new(),
        }
    }

    /// A new device, named `device` in file names (its `-M` name or `MAJ,MIN`).
    pub fn add_device(&mut self, device: &str) {
        let n = &self.names;
        let seeks = |post| {
            n.seeks
                .as_deref()
                .map(|name| RwcFiles::create(name, device, Some(post)))
        };
        let (d2d_seeks, q2q_seeks) = (seeks("d2d"), seeks("q2q"));
        let per_second = match (&n.seeks, &n.seeks_per_second) {
            (Some(_), Some(name)) => SpsFile::create(name, device),
            _ => None,
        };
        self.devices.push(DevicePlots {
            latencies: LatencyFiles::create(
                [n.q2d.as_deref(), n.d2c.as_deref(), n.q2c.as_deref()],
                n.periodic,
                device,
            ),
            depth: n
                .queue_depth
                .as_deref()
                .and_then(|name| QueueDepth::create(name, device)),
            blocks: n
                .block_numbers
                .as_deref()
                .map(|name| RwcFiles::create(name, device, None)),
            unplugs: n
                .unplugs
                .as_deref()
                .map(|name| UnplugHistogram::new(name, device)),
            d2d_seeks,
            q2q_seeks,
            per_second,
        });
    }

    /// A seek of `dist` sectors at `t` seconds, between issues (D2D) or queues (Q2Q).
    pub fn seek(
        &mut self,
        dev: usize,
        stream: SeekStream,
        t: f64,
        dist: i64,
        read: bool,
    ) -> io::Result<()> {
        let d = &mut self.devices[dev];
        let files = match stream {
            SeekStream::D2d => &mut d.d2d_seeks,
            SeekStream::Q2q => &mut d.q2q_seeks,
        };
        if let Some(files) = files {
            let rw = if read { 'r' } else { 'w' };
            files.write_line(read, &format!("{t:15.9} {dist:13} {rw}\n"))?;
        }
        match &mut d.per_second {
            Some(sps) => sps.add(stream, t),
            None => Ok(()),
        }
    }

    /// An issue at `t` seconds of sectors `[start, end)`.
    pub fn issue(
        &mut self,
        dev: usize,
        t: f64,
        start: u64,
        end: u64,
        read: bool,
    ) -> io::Result<()> {
        let d = &mut self.devices[dev];
        if let Some(files) = &mut d.blocks {
            // btt prints the sectors as signed 64-bit numbers.
            let line = format!("{t:15.9} {} {}\n", start as i64, end as i64);
            files.write_line(read, &line)?;
        }
        match &mut d.depth {
            Some(depth) => depth.issue(t),
            None => Ok(()),
        }
    }

    /// A completion at `t` seconds (before the I/Os it completes are counted).
    pub fn complete(&mut self, dev: usize, t: f64) -> io::Result<()> {
        match &mut self.devices[dev].depth {
            Some(depth) => depth.complete(t),
            None => Ok(()),
        }
    }

    /// A latency sample of `latency` ns stamped `stamp` ns.
    pub fn latency(
        &mut self,
        dev: usize,
        which: Latency,
        stamp: u64,
        latency: u64,
    ) -> io::Result<()> {
        self.devices[dev].latencies.add(which, stamp, latency)
    }

    /// An unplug (by I/O count) that released `ios` I/Os.
    pub fn unplug(&mut self, dev: usize, ios: u64) {
        if let Some(h) = &mut self.devices[dev].unplugs {
            h.unplug(ios);
        }
    }

    /// The last lines and the histograms; every file flushed, the empty ones removed.
    pub fn finish(&mut self) -> io::Result<()> {
        for d in self.devices.drain(..) {
            d.latencies.finish()?;
            if let Some(depth) = d.depth {
                depth.finish()?;
            }
            for files in [d.blocks, d.d2d_seeks, d.q2q_seeks].into_iter().flatten() {
                files.finish()?;
            }
            if let Some(h) = d.unplugs {
                h.finish()?;
            }
            if let Some(sps) = d.per_second {
                sps.finish()?;
            }
        }
        Ok(())
    }
}
