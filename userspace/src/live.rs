//! The loop every live event view runs: start the probes, hand each batch of events to the
//! view, stop on Ctrl-C, SIGTERM, a deadline or when the view is done (its reader went away),
//! then detach, hand over what was still buffered, and return the drop counts.

use std::time::Duration;

use tokio::signal::unix::{SignalKind, signal};

use crate::{
    event::BlockIoEvent,
    kernel::{BlockTraceOptions, BlockTracer, DropCounts, KernelError},
};

#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    #[error(transparent)]
    Kernel(#[from] KernelError),
    #[error("installing the signal handlers: {0}")]
    Signals(std::io::Error),
    #[error("starting the event loop: {0}")]
    Runtime(std::io::Error),
    #[error("{0}")]
    View(String),
}

/// What a view does with a batch: `Ok(true)` to go on, `Ok(false)` when it is done (its
/// output closed), `Err` to stop with an error. The batch is the view's to take (a view that
/// keeps events moves them out instead of copying); what it leaves is dropped.
pub trait EventSink {
    fn consume(&mut self, events: &mut Vec<BlockIoEvent>) -> Result<bool, String>;
}

impl<F: FnMut(&[BlockIoEvent]) -> Result<bool, String>> EventSink for F {
    fn consume(&mut self, events: &mut Vec<BlockIoEvent>) -> Result<bool, String> {
        self(events)
    }
}

/// Runs the probes until stopped, on a runtime of its own; returns the drop counts.
pub fn run_blocking(
    options: &BlockTraceOptions,
    stop_after: Option<Duration>,
    sink: &mut dyn EventSink,
) -> Result<DropCounts, LiveError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(LiveError::Runtime)?;
    runtime.block_on(run(options, stop_after, sink))
}

/// Runs the probes until stopped; returns the drop counts.
pub async fn run(
    options: &BlockTraceOptions,
    stop_after: Option<Duration>,
    sink: &mut dyn EventSink,
) -> Result<DropCounts, LiveError> {
    let mut tracer = BlockTracer::start(options)?;
    let mut interrupt = signal(SignalKind::interrupt()).map_err(LiveError::Signals)?;
    let mut terminate = signal(SignalKind::terminate()).map_err(LiveError::Signals)?;
    // A far deadline stands for "none": Duration::MAX would overflow the timer.
    let deadline = tokio::time::sleep(stop_after.unwrap_or(Duration::from_secs(100 * 365 * 86400)));
    tokio::pin!(deadline);
    let mut batch = Vec::new();
    loop {
        tokio::select! {
            read = tracer.next_batch(&mut batch) => read?,
            _ = interrupt.recv() => break,
            _ = terminate.recv() => break,
            () = &mut deadline => break,
        }
        let go_on = sink.consume(&mut batch).map_err(LiveError::View)?;
        batch.clear();
        if !go_on {
            break;
        }
    }
    // Detach first so nothing new arrives, then hand over what is still buffered.
    let mut rest = tracer.stop();
    sink.consume(&mut rest).map_err(LiveError::View)?;
    Ok(tracer.drops()?)
}

/// blktrace's closing line when events were lost, `None` when none were.
pub fn drops_line(drops: &DropCounts) -> Option<String> {
    if drops.total() == 0 {
        return None;
    }
    let per_cpu: Vec<String> = drops
        .per_cpu
        .iter()
        .enumerate()
        .filter(|(_, n)| **n > 0)
        .map(|(cpu, n)| format!("CPU{cpu}: {n}"))
        .collect();
    Some(format!(
        "You have {} dropped events ({}; {} undecodable); consider a bigger buffer (-b)",
        drops.total(),
        per_cpu.join(", "),
        drops.undecodable
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drops_line_only_when_something_was_lost() {
        assert_eq!(drops_line(&DropCounts::default()), None);
        let drops = DropCounts {
            per_cpu: vec![0, 7],
            undecodable: 0,
        };
        assert_eq!(
            drops_line(&drops).unwrap(),
            "You have 7 dropped events (CPU1: 7; 0 undecodable); consider a bigger buffer (-b)"
        );
    }
}
