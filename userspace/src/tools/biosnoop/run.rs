//! `blkscope biosnoop` wired: live probes or a recording through the one event feed, each
//! event followed to its completion (`model::inflight`), each completed I/O to the view.

use anyhow::Context as _;

use super::{
    args::BiosnoopArgs,
    view::{BiosnoopOptions, BiosnoopView},
};
use crate::{
    cgroup::{CgroupNameFilter, CgroupResolver, CgroupSubtree},
    host::device,
    kernel::{BlockTraceOptions, CgroupFilter},
    model::{
        event::{BlockIoEvent, DeviceId},
        inflight::RequestTracker,
    },
    run::{
        events::{EventSink, EventSource, drops_line, feed},
        output::{Output, OutputError},
        stop::{INTERRUPT, Stop},
    },
};

pub fn run(args: BiosnoopArgs) -> anyhow::Result<()> {
    let disk = args
        .disk
        .as_deref()
        .map(device::resolve)
        .transpose()
        .context("-d")?;
    if args.input.is_some() && args.duration.is_some() {
        anyhow::bail!("DURATION: a recording is read to its end (no DURATION with -i)");
    }
    // Live, the kernel filters by cgroup; a recording is filtered by its cgroups' paths.
    let cgroup = args
        .cgroup
        .as_deref()
        .filter(|_| args.input.is_none())
        .map(CgroupFilter::of_path)
        .transpose()
        .context("-c")?;
    let options = BlockTraceOptions {
        devices: disk.map(device::whole_disk).into_iter().collect(),
        actions: RequestTracker::ACTIONS.to_vec(),
        ring_bytes: args.buffer_mib.saturating_mul(1 << 20),
        cgroup,
        files: args.file,
        ..BlockTraceOptions::default()
    };
    let mut printer = CompletionPrinter {
        tracker: RequestTracker::new(),
        view: view(&args, cgroup.is_some())?,
        only_partition: disk.filter(|d| device::whole_disk(*d) != *d),
        out: Output::stdout(),
    };
    let source = match &args.input {
        Some(input) => EventSource::recording(input, &options.devices)?,
        None => EventSource::live(&options),
    };
    if let Some(header) = printer.view.header()
        && !(printer.out.line(&header)? && printer.out.flush()?)
    {
        return Ok(());
    }
    let stop = Stop::on_signals(INTERRUPT)?
        .with_deadline(args.duration.map(std::time::Duration::from_secs));
    let drops = feed(source, &stop, &mut printer)?;
    if let Some(line) = drops.as_ref().and_then(drops_line) {
        eprintln!("{line}");
    }
    printer.finish()?;
    Ok(())
}

/// The view the arguments ask for.
fn view(args: &BiosnoopArgs, kernel_filters_cgroup: bool) -> anyhow::Result<BiosnoopView> {
    let mut view = BiosnoopView::new(BiosnoopOptions {
        queued: args.queued,
        flags: args.flags,
        pid: args.pid,
        json: args.json,
        require_issuer: kernel_filters_cgroup,
        recorded: args.input.is_some(),
        stack: args.stack,
        file: args.file,
    });
    let label = args.names.label();
    if args.container || args.containers {
        let resolver = CgroupResolver::new().context("--container")?;
        view = view.with_containers(resolver.labelling(label));
    }
    if let Some(filter) = args.names.filter()? {
        let resolver = if args.input.is_some() {
            CgroupResolver::for_recording()
        } else {
            CgroupResolver::new().context("--pod, --container-name")?
        };
        view = view.with_name_filter(CgroupNameFilter::new(filter), resolver.labelling(label));
    }
    if args.containers {
        view = view.with_container_summary();
    }
    if let (Some(path), Some(_)) = (&args.cgroup, &args.input) {
        let resolver = CgroupResolver::for_recording().labelling(label);
        let subtree = CgroupSubtree::new(path, Some(resolver.root()));
        view = view.with_cgroup_subtree(subtree, resolver);
    }
    Ok(view)
}

/// biosnoop's lines from block events, live or recorded.
struct CompletionPrinter {
    tracker: RequestTracker,
    view: BiosnoopView,
    /// `-d` named a partition: only its I/O.
    only_partition: Option<DeviceId>,
    out: Output,
}

impl CompletionPrinter {
    /// Prints the I/Os these events finish; false once stdout is closed.
    fn print(&mut self, events: &[BlockIoEvent]) -> Result<bool, OutputError> {
        for event in events {
            let Some(io) = self.tracker.observe(event) else {
                continue;
            };
            if self.only_partition.is_some() && io.partition != self.only_partition {
                continue;
            }
            if let Some(line) = self.view.line(&io)
                && !self.out.line(&line)?
            {
                return Ok(false);
            }
        }
        self.out.flush()
    }

    /// The closing per-container summary (`--containers`).
    fn finish(mut self) -> Result<(), OutputError> {
        if let Some(summary) = self.view.summary() {
            self.out.report(&summary)?;
        }
        Ok(())
    }
}

impl EventSink for CompletionPrinter {
    fn consume(&mut self, events: &mut Vec<BlockIoEvent>) -> Result<bool, String> {
        self.print(events).map_err(|e| e.to_string())
    }

    fn file_named(&mut self, dev: DeviceId, ino: u64, path: &str) {
        self.view.remember_file(dev, ino, path);
    }

    fn cgroup_named(&mut self, id: u64, path: &str) {
        self.view.remember_cgroup(id, path);
    }

    fn container_named(&mut self, id: u64, name: &str) {
        self.view.remember_container(id, name);
    }
}
