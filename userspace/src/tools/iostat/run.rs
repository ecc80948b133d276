//! The report loop (sysstat's rw_io_stat_loop): sample, print, wait an interval, until the
//! count is reached or SIGINT arrives; JSON documents are closed properly either way.

use std::io::Write;

use super::report::{Host, IostatReport};
use crate::{
    host::{
        stat_files::{SourceError, StatFiles},
        time::{iso_dates, strftime_now},
    },
    run::interval::Ticker,
};

/// Where the samples come from: the counter files and the time they were read.
pub trait Samples {
    /// Where the next sample comes from.
    fn files(&self) -> &StatFiles;
    /// The `-t` timestamp of now (`%x %X`, or ISO 8601 with S_TIME_FORMAT=ISO).
    fn timestamp(&self) -> String;
    /// Moves on to the next interval's sample (live: the same files, read again).
    fn advance(&mut self) {}
}

/// The live system's files, stamped with the local time.
pub struct LiveSamples {
    pub files: StatFiles,
    iso: bool,
}

impl LiveSamples {
    pub fn new(files: StatFiles) -> LiveSamples {
        LiveSamples {
            files,
            iso: iso_dates(),
        }
    }
}

impl Samples for LiveSamples {
    fn files(&self) -> &StatFiles {
        &self.files
    }

    fn timestamp(&self) -> String {
        strftime_now(if self.iso { "%FT%T%z" } else { "%x %X" })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error("writing the report: {0}")]
    Output(#[from] std::io::Error),
}

/// Prints the banner and every report.
pub fn run_reports(
    report: &mut IostatReport,
    host: &Host,
    date: &str,
    samples: &mut dyn Samples,
    ticker: &mut dyn Ticker,
    out: &mut dyn Write,
) -> Result<(), RunError> {
    let options = report.options().clone();
    out.write_all(report.banner(host, date).as_bytes())?;
    // -y only means something with an interval: the first report is then since boot.
    let mut skip = options.omit_since_boot && options.interval > 0;
    let mut remaining = options.count;
    loop {
        report.sample(samples.files())?;
        let text = report.write_stats(&samples.timestamp(), skip);
        out.write_all(text.as_bytes())?;
        if !skip && let Some(n) = remaining.as_mut() {
            *n -= 1;
        }
        let more = remaining != Some(0);
        if more {
            report.advance();
            out.flush()?;
            let stopped = ticker.wait();
            samples.advance();
            if stopped {
                remaining = Some(0);
            } else if options.json && !skip {
                out.write_all(b",")?;
            }
            skip = false;
        }
        out.write_all(b"\n")?;
        if remaining == Some(0) {
            break;
        }
    }
    out.write_all(report.footer().as_bytes())?;
    out.flush()?;
    Ok(())
}

/// Two (or more) captured samples played back in order, one per interval (with
/// `run::interval::ReplayClock`, no waiting): the fixtures' A then B.
pub struct Replay {
    pub samples: Vec<StatFiles>,
    pub timestamp: String,
    pub position: usize,
}

impl Samples for Replay {
    fn files(&self) -> &StatFiles {
        &self.samples[self.position.min(self.samples.len() - 1)]
    }
    fn timestamp(&self) -> String {
        self.timestamp.clone()
    }
    fn advance(&mut self) {
        self.position += 1;
    }
}
