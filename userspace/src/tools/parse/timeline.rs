//! `--format perfetto`: the trace as a Perfetto (Chrome trace-event JSON) timeline, through
//! the shared recording feed (`run::events`) rather than blkparse's engine: the timeline is
//! made of I/Os followed from queue to completion, not of records.

use std::io::{BufWriter, Write};
use std::path::PathBuf;

use super::options::BlkparseOptions;
use super::run::{Finished, RunError, create, trace_inputs};
use crate::host::device;
use crate::model::event::BlockIoEvent;
use crate::run::events::{EventSink, EventSource, feed};
use crate::run::stop::{INTERRUPT_OR_HANGUP, Stop};
use crate::timeline::TimelineWriter;

/// Feeds a recording's events to the timeline.
struct TimelineSink<W: Write> {
    writer: TimelineWriter<W>,
}

impl<W: Write> EventSink for TimelineSink<W> {
    fn consume(&mut self, events: &mut Vec<BlockIoEvent>) -> Result<bool, String> {
        for e in events.iter() {
            self.writer
                .event(e)
                .map_err(|e| format!("writing the timeline: {e}"))?;
        }
        Ok(true)
    }

    fn cgroup_named(&mut self, id: u64, path: &str) {
        self.writer.name_cgroup(id, path);
    }

    fn container_named(&mut self, id: u64, name: &str) {
        // After the cgroup's path: the container's name is the better label.
        self.writer.name_cgroup(id, name);
    }
}

/// Writes the timeline of the one trace `-i` names to `-o` (stdout without it).
pub fn run(o: &BlkparseOptions) -> Result<Finished, RunError> {
    let input = the_input(o)?;
    let stop = Stop::on_signals(INTERRUPT_OR_HANGUP).unwrap_or_else(|_| Stop::manual());
    let source =
        EventSource::recording(&input, &[]).map_err(|e| RunError::Timeline(e.to_string()))?;
    let out: Box<dyn Write> = match &o.output {
        Some(path) => Box::new(BufWriter::with_capacity(1 << 17, create(path)?)),
        None => Box::new(BufWriter::with_capacity(1 << 17, std::io::stdout().lock())),
    };
    let writer = TimelineWriter::new(out, Box::new(device::label))?;
    let mut sink = TimelineSink { writer };
    let fed = feed(source, &stop, &mut sink);
    // What was valid is written and the document closed before a damaged part is reported.
    sink.writer.finish()?;
    match fed {
        Ok(_) => Ok(Finished {
            input_errors: Vec::new(),
        }),
        Err(e) => Err(RunError::Timeline(e.to_string())),
    }
}

/// The trace to read: `-i -` (or a FIFO) or one trace name, with `-D`'s directory.
fn the_input(o: &BlkparseOptions) -> Result<PathBuf, RunError> {
    if let Some(pipe) = &o.pipe {
        return Ok(pipe.clone());
    }
    match trace_inputs(o).as_slice() {
        [one] => Ok(match &one.dir {
            Some(dir) => dir.join(&one.name),
            None => PathBuf::from(&one.name),
        }),
        _ => Err(RunError::Timeline(
            "--format perfetto reads one trace: give one -i NAME".to_owned(),
        )),
    }
}
