//! `blkscope report` wired: a recording or the live probes through the one event feed, each
//! event followed to its completion (`model::inflight`), each completed I/O collected; the page
//! is written when the input ends.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context as _, bail};
use blkscope_common::BlockAction;

use super::args::ReportArgs;
use super::collect::Collected;
use super::page;
use crate::cgroup::CgroupResolver;
use crate::host::device;
use crate::kernel::BlockTraceOptions;
use crate::model::event::BlockIoEvent;
use crate::model::inflight::RequestTracker;
use crate::run::events::{EventSink, EventSource, FeedError, drops_line, feed};
use crate::run::stop::{INTERRUPT, Stop};

/// Follows events to completed I/Os and collects them.
struct ReportSink {
    tracker: RequestTracker,
    collected: Collected,
}

impl EventSink for ReportSink {
    fn consume(&mut self, events: &mut Vec<BlockIoEvent>) -> Result<bool, String> {
        for e in events.iter() {
            if let Some(io) = self.tracker.observe(e) {
                self.collected.add(&io);
            }
        }
        Ok(true)
    }

    fn cgroup_named(&mut self, id: u64, path: &str) {
        self.collected.cgroup_names.insert(id, path.to_owned());
    }

    fn container_named(&mut self, id: u64, name: &str) {
        // After the cgroup's path: the container's name is the better label.
        self.collected.cgroup_names.insert(id, name.to_owned());
    }
}

pub fn run(args: ReportArgs) -> anyhow::Result<()> {
    if args.input.is_none() && args.seconds.is_none() {
        bail!("-i TRACE reports on a recording, -w SECONDS on a live trace of that long: give one");
    }
    check_output(&args.output)?;
    let disk = args
        .disk
        .as_deref()
        .map(device::resolve)
        .transpose()
        .context("-d")?;
    // G too: btt's Q2G and G2I need it; the views that only time I/Os leave it off.
    let mut actions = RequestTracker::ACTIONS.to_vec();
    actions.push(BlockAction::GetRequest);
    let options = BlockTraceOptions {
        devices: disk.map(device::whole_disk).into_iter().collect(),
        actions,
        ring_bytes: args.buffer_mib.saturating_mul(1 << 20),
        cgroup: None,
        files: false,
        ..BlockTraceOptions::default()
    };
    let source = match &args.input {
        Some(input) => EventSource::recording(input, &options.devices)?,
        None => EventSource::live(&options),
    };
    let stop = Stop::on_signals(INTERRUPT)?.with_deadline(args.seconds.map(Duration::from_secs));
    let mut sink = ReportSink {
        tracker: RequestTracker::new(),
        collected: Collected::default(),
    };
    let fed = feed(source, &stop, &mut sink);
    // A damaged recording is reported on after its valid part, then named.
    let damaged = match fed {
        Ok(drops) => {
            if let Some(line) = drops.as_ref().and_then(drops_line) {
                eprintln!("{line}");
            }
            None
        }
        Err(FeedError::Damaged(where_)) => Some(where_),
        Err(e) => return Err(e.into()),
    };
    let mut collected = sink.collected;
    if args.input.is_none() {
        name_live_cgroups(&mut collected);
    }
    let title = args.title.clone().unwrap_or_else(|| match &args.input {
        Some(input) => input.display().to_string(),
        None => format!("live, {} s", args.seconds.unwrap_or(0)),
    });
    let html = page::render(&title, &collected, &device::label);
    std::fs::write(&args.output, html).with_context(|| format!("-o {}", args.output.display()))?;
    eprintln!(
        "{}: {} I/Os on {} disk(s)",
        args.output.display(),
        collected.io_count(),
        collected.disks.len()
    );
    match damaged {
        Some(where_) => bail!("{where_}"),
        None => Ok(()),
    }
}

/// Fails before tracing or reading when the page could not be written where asked.
fn check_output(output: &Path) -> anyhow::Result<()> {
    let dir = match output.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    if !dir.is_dir() {
        bail!("-o {}: no directory {}", output.display(), dir.display());
    }
    if output.is_dir() {
        bail!("-o {}: is a directory", output.display());
    }
    Ok(())
}

/// Live, the cgroups are this machine's: named by the resolver (containers by name).
fn name_live_cgroups(collected: &mut Collected) {
    let Ok(mut resolver) = CgroupResolver::new() else {
        return;
    };
    let ids: Vec<u64> = collected
        .cgroups
        .values()
        .flat_map(|by_id| by_id.keys().copied())
        .collect();
    for id in ids {
        let name = resolver
            .container_name(id)
            .map(|n| n.display())
            .or_else(|| resolver.path(id));
        if let Some(name) = name {
            collected.cgroup_names.insert(id, name);
        }
    }
}
