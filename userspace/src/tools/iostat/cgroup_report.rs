//! `iostat --cgroups` (and `--cgroup PATH`, `--container`, `--containers`): the -x columns per
//! cgroup (or container) and disk, from the task_io probes' in-kernel sums; disks' %util from
//! /proc/diskstats over the same interval. `cgroups` computes and renders the rows.

use std::collections::HashMap;
use std::path::Path;

use anyhow::Context as _;
use blkscope_common::task_io::{TaskIoCounts, TaskIoKey};

use super::{
    cgroups,
    format::Printer,
    options::{IostatOptions, Selection},
    report::text_banner,
};
use crate::{
    cgroup::{CgroupResolver, ContainerLabel, NameFilter, NamedCgroups},
    host::{
        device,
        stat_files::StatFiles,
        system::host,
        time::{iso_dates, strftime_now},
    },
    kernel::{
        CgroupFilter, privileges,
        task_io::{TaskIoOptions, TaskIoProbe},
    },
    model::event::DeviceId,
    run::{
        interval::{ReportCount, Ticker as _, WallClock},
        output::Output,
        stop::{INTERRUPT, Stop},
    },
};

pub fn run(options: &IostatOptions) -> anyhow::Result<()> {
    let wanted = wanted_disks(options)?;
    let cgroup = options
        .cgroup
        .as_deref()
        .map(CgroupFilter::of_path)
        .transpose()
        .context("--cgroup")?;
    let mut probe = TaskIoProbe::start(&TaskIoOptions {
        device: (wanted.len() == 1).then(|| wanted[0]),
        pid: None,
        cgroup: cgroup.map(|f| (f.id, f.level)),
        ..TaskIoOptions::default()
    })?;
    privileges::attached(&[]);
    let label = ContainerLabel::ids_if(options.container_id);
    let filter = NameFilter::new(options.pod.as_deref(), options.container_name.as_deref())?;
    let mut named = NamedCgroups::new(CgroupResolver::new().map(|r| r.labelling(label)), filter)
        .context("--pod, --container-name")?;
    let printer = Printer {
        colors: Default::default(),
        decimals: options.decimals,
    };
    let date = strftime_now(if iso_dates() { "%Y-%m-%d" } else { "%x" });
    let mut out = Output::stdout();
    if !out.report(&text_banner(&host(Path::new("/sys")), &date))? {
        return Ok(());
    }
    let stop = Stop::on_signals(INTERRUPT)?;
    let files = StatFiles::default();
    // Without an interval, one report over one second (there is no "since boot" per cgroup).
    let mut clock = WallClock::new(
        Some(std::time::Duration::from_secs(options.interval.max(1))),
        stop,
    );
    let mut count = ReportCount::new(options.count);
    let mut before = busy_ticks(&files);
    while !count.done() {
        let stopped = clock.wait();
        let mut rows = probe.take_interval()?;
        rows.retain(|(key, _)| named.keeps(key.cgroup_id));
        let seconds = clock.take_elapsed();
        let after = busy_ticks(&files);
        let mut name = |id: u64| match named.resolver().and_then(|r| r.path(id)) {
            Some(path) => cgroups::CgroupName {
                container: named.label(id),
                path,
            },
            None => cgroups::CgroupName {
                path: id.to_string(),
                container: id.to_string(),
            },
        };
        let printed = interval_rows(
            &rows,
            options,
            &wanted,
            seconds,
            (&before, &after),
            &mut name,
        );
        before = after;
        let mut text = String::new();
        if options.timestamp {
            text.push_str(&strftime_now("%x %X"));
            text.push('\n');
        }
        text.push_str(&cgroups::render(
            options.cgroup_rows.headers(),
            &printed,
            &printer,
            options.human,
        ));
        let read = out.report(&text)?;
        let drops = probe.drops()?;
        if drops > 0 {
            eprintln!(
                "iostat --cgroups: {drops} completions found no room in the kernel's table and are not counted"
            );
        }
        if !read || count.printed_one() || stopped {
            break;
        }
    }
    Ok(())
}

/// The disks named on the command line (whole disks: the probes count per disk).
fn wanted_disks(options: &IostatOptions) -> anyhow::Result<Vec<DeviceId>> {
    options
        .selections
        .iter()
        .filter_map(|s| match &s.what {
            Selection::Device(name) | Selection::DeviceAndPartitions(name) => Some(name),
            Selection::Group(_) => None,
        })
        .map(|name| device::resolve(name).map(device::whole_disk))
        .collect::<Result<_, _>>()
        .context("iostat --cgroups: a device")
}

/// Each disk's busy time so far (ms), for its %util.
fn busy_ticks(files: &StatFiles) -> HashMap<DeviceId, u32> {
    files
        .diskstats()
        .into_iter()
        .map(|l| (DeviceId::new(l.major, l.minor), l.counters.tot_ticks))
        .collect()
}

/// One interval's rows, sorted by disk then cgroup.
fn interval_rows(
    rows: &[(TaskIoKey, TaskIoCounts)],
    options: &IostatOptions,
    wanted: &[DeviceId],
    seconds: f64,
    (before, after): (&HashMap<DeviceId, u32>, &HashMap<DeviceId, u32>),
    name: &mut dyn FnMut(u64) -> cgroups::CgroupName,
) -> Vec<cgroups::CgroupRow> {
    let sums = cgroups::per_cgroup(rows);
    let mut disk_busy: HashMap<DeviceId, u64> = HashMap::new();
    for ((_, disk), io) in &sums {
        *disk_busy.entry(*disk).or_default() += io.read_ns + io.write_ns;
    }
    let mut printed: Vec<cgroups::CgroupRow> = cgroups::labelled(&sums, options.cgroup_rows, name)
        .into_iter()
        .filter(|((_, disk), _)| wanted.is_empty() || wanted.contains(disk))
        .map(|((labels, disk), io)| {
            let ticks = after
                .get(&disk)
                .zip(before.get(&disk))
                .map_or(0, |(a, b)| a.wrapping_sub(*b));
            let disk_util = (f64::from(ticks) / (seconds * 1000.0) * 100.0).min(100.0);
            cgroups::CgroupRow {
                labels,
                device: device::name(disk).unwrap_or_else(|| disk.to_string()),
                stats: cgroups::stats(&io, seconds, disk_util, disk_busy[&disk]),
            }
        })
        .collect();
    printed.sort_by(|a, b| (&a.device, &a.labels).cmp(&(&b.device, &b.labels)));
    printed
}
