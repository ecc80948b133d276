//! `blkscope ext4slower` wired: slow operations from the fs_latency probes' ring buffer,
//! named (files, containers), printed as they come; the per-container summary at the end.

use anyhow::Context as _;

use super::{
    args::Ext4slowerArgs,
    render::{SlowerLayout, slower_banner, slower_header, slower_line},
};
use crate::{
    cgroup::{CgroupResolver, ContainerSummary, NamedCgroups},
    host::{mounts::MountTable, time::strftime_now},
    kernel::{
        fs_latency::{FsOptions, FsProbe},
        privileges,
    },
    model::fs_op::{FileSystem, decode},
    run::{
        output::{Output, banner},
        stop::{INTERRUPT, Stop, runtime},
    },
};

pub fn run(args: Ext4slowerArgs) -> anyhow::Result<()> {
    let (fs, mut options) = args.scope.probe_options()?;
    options.min_latency_ns = args.min_ms.saturating_mul(1_000_000);
    let layout = SlowerLayout {
        csv: args.csv,
        json: args.json,
        full_path: args.full_path,
        container: args.container || args.containers,
    };
    let stop = Stop::on_signals(INTERRUPT)?;
    runtime()?.block_on(trace(&args, fs, &options, layout, &stop))
}

/// Prints slow operations until stopped.
async fn trace(
    args: &Ext4slowerArgs,
    fs: FileSystem,
    options: &FsOptions,
    layout: SlowerLayout,
    stop: &Stop,
) -> anyhow::Result<()> {
    let mut probe = FsProbe::start(options)?;
    privileges::attached(&[]);
    let mut printer = SlowPrinter {
        mounts: MountTable::read(),
        cgroups: NamedCgroups::new(
            CgroupResolver::new().map(|r| r.labelling(args.names.label())),
            args.names.filter()?,
        )
        .context("--pod, --container-name")?,
        label: layout.container || args.json,
        json: args.json,
        summary: args.containers.then(ContainerSummary::default),
        layout,
        out: Output::stdout(),
    };
    if let Some(text) = slower_banner(fs, args.min_ms, &printer.layout) {
        banner(&text);
    }
    if let Some(header) = slower_header(&printer.layout)
        && !(printer.out.line(&header)? && printer.out.flush()?)
    {
        return Ok(());
    }
    let mut events = Vec::new();
    loop {
        let stopped = tokio::select! {
            read = probe.next_events(&mut events) => { read?; false }
            () = stop.stopped() => true,
        };
        if stopped {
            probe.drain(&mut events);
        }
        if !printer.print(&mut events)? {
            return Ok(());
        }
        if stopped {
            break;
        }
    }
    if let Some(summary) = &printer.summary {
        let text = summary.render(args.json, "OPS");
        if !printer.out.report(&text)? {
            return Ok(());
        }
    }
    let drops = probe.drops()?;
    if drops > 0 {
        eprintln!("You have {drops} dropped events");
    }
    Ok(())
}

/// Slow operations named and printed, counted per container for the summary.
struct SlowPrinter {
    mounts: MountTable,
    cgroups: NamedCgroups,
    /// Whether each operation is labelled with its container.
    label: bool,
    json: bool,
    summary: Option<ContainerSummary>,
    layout: SlowerLayout,
    out: Output,
}

impl SlowPrinter {
    /// Prints (and takes) the events; false once the reader has gone.
    fn print(
        &mut self,
        events: &mut Vec<blkscope_common::fs_latency::FsEvent>,
    ) -> Result<bool, crate::run::output::OutputError> {
        for event in events.drain(..) {
            let Some(mut op) = decode(&event, &self.mounts) else {
                continue;
            };
            if !self.cgroups.keeps(op.cgroup_id) {
                continue;
            }
            if self.label {
                op.container = Some(self.cgroups.label(op.cgroup_id));
            }
            if self.json {
                op.container_id = Some(self.cgroups.id_label(op.cgroup_id));
            }
            if let (Some(summary), Some(container)) = (self.summary.as_mut(), &op.container) {
                summary.add(container, op.bytes, op.latency_us.saturating_mul(1000));
            }
            if !self
                .out
                .line(&slower_line(&op, &self.layout, &strftime_now("%H:%M:%S")))?
            {
                return Ok(false);
            }
        }
        self.out.flush()
    }
}
