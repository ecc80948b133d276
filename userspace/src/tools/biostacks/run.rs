//! `blkscope biostacks` wired: the task_io probes with stacks, read once when tracing ends,
//! each stack symbolised from /proc/kallsyms.

use anyhow::Context as _;

use super::{
    args::BiostacksArgs,
    render::{StackRow, is_probe_frame, render_folded, render_text},
};
use crate::{
    cgroup::CgroupResolver,
    host::{device, kallsyms::KernelSymbols},
    kernel::{
        CgroupFilter, privileges,
        task_io::{TaskIoOptions, TaskIoProbe},
    },
    model::{comm::Comm, event::DeviceId},
    run::{
        interval::{Ticker as _, WallClock},
        output::{Output, banner},
        stop::{INTERRUPT, Stop},
    },
};

pub fn run(args: BiostacksArgs) -> anyhow::Result<()> {
    let device = device::whole_disk_of(args.disk.as_deref()).context("-d")?;
    let cgroup = CgroupFilter::id_and_level(args.cgroup.as_deref()).context("-c")?;
    let unit_ns = if args.milliseconds { 1_000_000 } else { 1000 };
    // Read first: the addresses are shown only to a process that still holds CAP_SYSLOG,
    // which every live view gives up once its probes are attached.
    let symbols = KernelSymbols::load().context("/proc/kallsyms")?;
    let mut probe = TaskIoProbe::start(&TaskIoOptions {
        device,
        cgroup,
        stacks: Some(unit_ns),
        ..TaskIoOptions::default()
    })?;
    privileges::attached(&[]);
    banner("Tracing block I/O with init stacks. Hit Ctrl-C to end.");
    let stop = Stop::on_signals(INTERRUPT)?;
    let mut clock = WallClock::new(args.duration.map(std::time::Duration::from_secs), stop);
    clock.wait();
    let mut resolver = if args.containers {
        Some(CgroupResolver::new().context("--containers")?)
    } else {
        None
    };
    let mut rows: Vec<StackRow> = probe
        .take_stacks()?
        .into_iter()
        .map(|(key, latencies)| StackRow {
            comm: Comm::from_kernel(&key.comm).to_string(),
            pid: key.tgid,
            disk: device::name(DeviceId::from_kernel(key.dev))
                .unwrap_or_else(|| "Unknown".to_owned()),
            container: resolver.as_mut().map(|r| r.label(key.cgroup_id)),
            frames: probe
                .stack(key.stack_id)
                .into_iter()
                .map(|ip| symbols.name_of(ip).unwrap_or("Unknown").to_owned())
                .filter(|name| !is_probe_frame(name))
                .collect(),
            latencies,
        })
        .collect();
    // The most I/O first.
    rows.sort_by(|a, b| b.ios().cmp(&a.ios()).then_with(|| a.comm.cmp(&b.comm)));
    let text = if args.folded {
        render_folded(&rows)
    } else {
        render_text(&rows, if args.milliseconds { "msecs" } else { "usecs" })
    };
    Output::stdout().report(&text)?;
    let drops = probe.drops()?;
    if drops > 0 {
        eprintln!("You have {drops} completions not counted (table full)");
    }
    Ok(())
}
