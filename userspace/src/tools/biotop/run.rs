//! `blkscope biotop` wired: the task_io probes read every interval, their rows named and
//! grouped (`model`), shown in the TUI on a terminal, as bcc's text (`batch`) or JSON otherwise.

use std::io::IsTerminal as _;

use anyhow::Context as _;

use super::{
    args::BiotopArgs,
    batch::{self, BatchLayout},
    rows::{self, Grouping, RowNames, SortKey, TopRow, rows_from},
    tui::{self, TuiState},
};
use crate::{
    cgroup::{CgroupResolver, NamedCgroups},
    host::{device, files::FileNames, time::strftime_now},
    kernel::{
        CgroupFilter, privileges,
        task_io::{TaskIoOptions, TaskIoProbe},
    },
    model::event::DeviceId,
    run::{
        interval::{ReportCount, Ticker as _, WallClock},
        output::{Output, banner},
        stop::{INTERRUPT, Stop},
    },
};

pub fn run(args: BiotopArgs) -> anyhow::Result<()> {
    let sort = SortKey::parse(&args.sort)
        .with_context(|| format!("-s {}: sort by kbytes, io, avgms, pid or comm", args.sort))?;
    if args.interval == 0 {
        anyhow::bail!("interval must be at least 1 second");
    }
    let name_filter = args.names.filter()?;
    let disk = args
        .disk
        .as_deref()
        .map(device::resolve)
        .transpose()
        .context("-d")?;
    let cgroup = args
        .cgroup
        .as_deref()
        .map(CgroupFilter::of_path)
        .transpose()
        .context("-c")?;
    let mut probe = TaskIoProbe::start(&TaskIoOptions {
        device: disk.map(device::whole_disk),
        pid: args.pid,
        cgroup: cgroup.map(|f| (f.id, f.level)),
        files: args.files,
        ..TaskIoOptions::default()
    })?;
    privileges::attached(&[]);
    let cgroups = std::cell::RefCell::new(
        NamedCgroups::new(
            CgroupResolver::new().map(|r| r.labelling(args.names.label())),
            name_filter,
        )
        .context("--pod, --container-name")?,
    );
    let mut container_label = |id: u64| cgroups.borrow_mut().label(id);
    let mut disk_label = |d: DeviceId| device::name(d).unwrap_or_else(|| "?".to_owned());
    let mut file_names = FileNames::new();
    let mut file_label = |dev: DeviceId, ino: u64| file_names.path(dev, ino);
    let mut refresh = || -> anyhow::Result<(Vec<TopRow>, u64)> {
        let mut interval = probe.take_interval()?;
        interval.retain(|(key, _)| cgroups.borrow_mut().keeps(key.cgroup_id));
        let mut names = RowNames {
            disk: &mut disk_label,
            container: &mut container_label,
            file: &mut file_label,
        };
        Ok((rows_from(&interval, &mut names), probe.drops()?))
    };
    let stop = Stop::on_signals(INTERRUPT)?;
    let grouping = match (args.files, args.containers) {
        (true, true) => Grouping::ContainerFile,
        (true, false) => Grouping::File,
        (false, true) => Grouping::Container,
        (false, false) => Grouping::Process,
    };
    let interval = std::time::Duration::from_secs(args.interval);
    if std::io::stdout().is_terminal() && !args.batch && !args.json {
        let mut state = TuiState::new(grouping, sort, interval);
        return tui::run(&mut state, &stop, &mut refresh, &|| {
            strftime_now("%H:%M:%S")
        });
    }
    let layout = BatchLayout {
        no_clear: args.noclear,
        max_rows: args.maxrows,
        grouping,
        container_column: args.container,
    };
    let mut out = Output::stdout();
    if !args.json {
        banner(&format!(
            "Tracing... Output every {} secs. Hit Ctrl-C to end",
            args.interval
        ));
    }
    let mut clock = WallClock::new(Some(interval), stop);
    let mut count = ReportCount::new(args.count);
    loop {
        let stopped = clock.wait();
        let (rows, drops) = refresh()?;
        let mut rows = rows::group(&rows, grouping);
        rows::sort(&mut rows, sort, false);
        let loadavg = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
        let text = if args.json {
            let line = serde_json::json!({
                "time": strftime_now("%H:%M:%S"),
                "loadavg": loadavg.trim(),
                "drops": drops,
                "rows": rows.iter().take(args.maxrows).collect::<Vec<_>>(),
            });
            format!("{line}\n")
        } else {
            batch::render(&rows, &layout, &strftime_now("%H:%M:%S"), &loadavg)
        };
        if !out.report(&text)? {
            return Ok(());
        }
        if count.printed_one() || stopped {
            break;
        }
    }
    if !args.json {
        out.report("Detaching...\n")?;
    }
    Ok(())
}
