//! The report loop (sysstat's rw_io_stat_loop): sample, print, wait an interval, until the
//! count is reached or SIGINT arrives; JSON documents are closed properly either way.

use std::io::Write;

use super::{
    report::{Host, IostatReport},
    source::{SourceError, StatFiles},
};

/// What the loop needs from the outside world: the counters to read, the time, the waiting.
pub trait ReportClock {
    /// Where the next sample comes from.
    fn files(&self) -> &StatFiles;
    /// The `-t` timestamp of now (`%x %X`, or ISO 8601 with S_TIME_FORMAT=ISO).
    fn timestamp(&self) -> String;
    /// Waits for the next interval; true when interrupted (SIGINT).
    fn wait(&mut self) -> bool;
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
    clock: &mut dyn ReportClock,
    out: &mut dyn Write,
) -> Result<(), RunError> {
    let options = report.options().clone();
    out.write_all(report.banner(host, date).as_bytes())?;
    // -y only means something with an interval: the first report is then since boot.
    let mut skip = options.omit_since_boot && options.interval > 0;
    let mut remaining = options.count;
    loop {
        report.sample(clock.files())?;
        let text = report.write_stats(&clock.timestamp(), skip);
        out.write_all(text.as_bytes())?;
        if !skip && let Some(n) = remaining.as_mut() {
            *n -= 1;
        }
        let more = remaining != Some(0);
        if more {
            report.advance();
            out.flush()?;
            if clock.wait() {
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

/// Two (or more) captured samples played back in order, one per interval, no waiting: the
/// fixtures' A then B.
pub struct Replay {
    pub samples: Vec<StatFiles>,
    pub timestamp: String,
    pub position: usize,
}

impl ReportClock for Replay {
    fn files(&self) -> &StatFiles {
        &self.samples[self.position.min(self.samples.len() - 1)]
    }
    fn timestamp(&self) -> String {
        self.timestamp.clone()
    }
    fn wait(&mut self) -> bool {
        self.position += 1;
        false
    }
}
