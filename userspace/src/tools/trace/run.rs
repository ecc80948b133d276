//! `blkscope trace` from probes to lines: the event feed into a printer, drops at the end.

use anyhow::Context as _;

use super::{args::TraceArgs, format::TraceFormatter};
use crate::{
    host::device,
    kernel::BlockTraceOptions,
    model::event::BlockIoEvent,
    run::{
        events::{EventSource, drops_line, feed},
        output::Output,
        stop::{INTERRUPT, Stop},
    },
};

pub fn run(args: TraceArgs) -> anyhow::Result<()> {
    let options = BlockTraceOptions {
        devices: device::whole_disks(&args.devices).context("-d")?,
        ring_bytes: args.buffer_mib.saturating_mul(1 << 20),
        ..BlockTraceOptions::default()
    };
    let stop = Stop::on_signals(INTERRUPT)?.with_deadline(args.seconds);
    let mut printer = EventPrinter {
        formatter: TraceFormatter::default(),
        json: args.json,
        out: Output::stdout(),
        count: 0,
    };
    let mut sink = |events: &[BlockIoEvent]| printer.print(events).map_err(|e| e.to_string());
    let drops = feed(EventSource::live(&options), &stop, &mut sink)?;
    eprintln!("blkscope: {} events", printer.count);
    if let Some(line) = drops.as_ref().and_then(drops_line) {
        eprintln!("{line}");
    }
    Ok(())
}

/// Each event as a line of text or JSON.
struct EventPrinter {
    formatter: TraceFormatter,
    json: bool,
    out: Output,
    count: u64,
}

impl EventPrinter {
    /// Prints a batch; false once the reader has gone away (a closed pipe ends the trace).
    fn print(&mut self, events: &[BlockIoEvent]) -> Result<bool, crate::run::output::OutputError> {
        for event in events {
            self.count += 1;
            let line = if self.json {
                self.formatter.json(event)
            } else {
                self.formatter.text(event)
            };
            if !self.out.line(&line)? {
                return Ok(false);
            }
        }
        self.out.flush()
    }
}
