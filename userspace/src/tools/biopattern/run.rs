//! `blkscope biopattern` wired: live, the kernel's counts (`kernel::task_io`) read every
//! interval on the wall clock; over a recording, its finished I/Os counted per interval of its
//! own clock (`run::completions`). Both print through `PatternPrinter`.

use anyhow::Context as _;

use super::{
    args::BiopatternArgs,
    patterns::{PatternColumns, PatternCounts, PatternRow, header, render},
};
use crate::{
    cgroup::{CgroupResolver, NamedCgroups, RecordedCgroups},
    host::{device, time::strftime_now},
    kernel::{
        CgroupFilter, privileges,
        task_io::{PatternsBy, TaskIoOptions, TaskIoProbe},
    },
    model::{comm::Comm, event::DeviceId, inflight::CompletedIo},
    run::{
        completions::{CompletionView, RecordedRun, count_recording, elapsed_stamp},
        interval::{ReportCount, Ticker as _, WallClock},
        output::{Output, OutputError, banner},
        stop::{INTERRUPT, Stop},
    },
};

pub fn run(args: BiopatternArgs) -> anyhow::Result<()> {
    let device = device::whole_disk_of(args.disk.as_deref()).context("-d")?;
    let columns = if args.processes {
        PatternColumns::Process
    } else if args.containers {
        PatternColumns::Container
    } else {
        PatternColumns::Disk
    };
    let stop = Stop::on_signals(INTERRUPT)?;
    let mut printer = PatternPrinter {
        columns,
        timestamp: args.timestamp,
        out: Output::stdout(),
    };
    match &args.input {
        Some(input) => {
            let cgroups = RecordedCgroups::new(
                args.names.label(),
                args.cgroup.as_deref(),
                args.names.filter()?,
                args.containers,
            );
            if !printer.header()? {
                return Ok(());
            }
            let mut view = RecordedPatterns {
                printer,
                counts: PatternCounts::default(),
            };
            let run = RecordedRun {
                input,
                device,
                interval_s: args.interval,
                count: args.count,
                cgroups,
            };
            Ok(count_recording(run, &stop, &mut view)?)
        }
        None => run_live(&args, device, &mut printer, stop),
    }
}

fn run_live(
    args: &BiopatternArgs,
    device: Option<DeviceId>,
    printer: &mut PatternPrinter,
    stop: Stop,
) -> anyhow::Result<()> {
    let cgroup = CgroupFilter::id_and_level(args.cgroup.as_deref()).context("-c")?;
    let by = match printer.columns {
        PatternColumns::Disk => PatternsBy::Disk,
        PatternColumns::Process => PatternsBy::Process,
        PatternColumns::Container => PatternsBy::Cgroup,
    };
    let mut probe = TaskIoProbe::start(&TaskIoOptions {
        device,
        cgroup,
        patterns: Some(by),
        ..TaskIoOptions::default()
    })?;
    privileges::attached(&[]);
    let mut cgroups = NamedCgroups::new(
        CgroupResolver::new().map(|r| r.labelling(args.names.label())),
        args.names.filter()?,
    )
    .context("--pod, --container-name")?;
    banner("Tracing block device I/O requested seeks... Hit Ctrl-C to end.");
    if !printer.header()? {
        return Ok(());
    }
    let mut clock = WallClock::new(args.interval.map(std::time::Duration::from_secs), stop);
    let mut count = ReportCount::new(args.count);
    let mut counts = PatternCounts::default();
    loop {
        let stopped = clock.wait();
        for (key, counted) in probe.take_patterns()? {
            if cgroups.filters() && !cgroups.keeps(key.cgroup_id) {
                continue;
            }
            let who = match printer.columns {
                PatternColumns::Disk => None,
                PatternColumns::Process => {
                    Some(process_label(&Comm::from_kernel(&key.comm), key.tgid))
                }
                PatternColumns::Container => Some(cgroups.label(key.cgroup_id)),
            };
            let row = PatternRow {
                disk: DeviceId::from_kernel(key.dev),
                who,
            };
            counts.add_counts(row, &counted);
        }
        let stamp = strftime_now("%H:%M:%S");
        let read = printer.print(&mut counts, &stamp)?;
        if !read || count.printed_one() || stopped {
            break;
        }
    }
    let drops = probe.drops()?;
    if drops > 0 {
        eprintln!("You have {drops} completions not counted (table full)");
    }
    Ok(())
}

/// `COMM PID` as the process columns show them.
fn process_label(comm: &Comm, tgid: u32) -> String {
    format!("{:<16} {:<7} ", comm.as_str(), tgid)
}

/// Prints the header and each interval's rows.
struct PatternPrinter {
    columns: PatternColumns,
    timestamp: bool,
    out: Output,
}

impl PatternPrinter {
    fn header(&mut self) -> Result<bool, OutputError> {
        let line = header(self.columns, self.timestamp);
        self.out.report(&format!("{line}\n"))
    }

    /// Prints and empties `counts`; false once the reader has gone.
    fn print(&mut self, counts: &mut PatternCounts, stamp: &str) -> Result<bool, OutputError> {
        let rows = counts.take();
        let stamp = self.timestamp.then_some(stamp);
        let text = render(&rows, self.columns, stamp, &mut |d| {
            device::name(d).unwrap_or_else(|| "Unknown".to_owned())
        });
        self.out.report(&text)
    }
}

/// biopattern over a recording: each finished I/O counted on its disk's row (and its
/// issuer's or container's); the stamp is the time since the recording's start.
struct RecordedPatterns {
    printer: PatternPrinter,
    counts: PatternCounts,
}

impl CompletionView for RecordedPatterns {
    fn add(&mut self, io: &CompletedIo, cgroups: &mut RecordedCgroups) {
        let who = match self.printer.columns {
            PatternColumns::Disk => None,
            PatternColumns::Process => Some(io.issuer.as_ref().map_or_else(
                || process_label(&Comm::default(), 0),
                |i| process_label(&i.comm, i.tgid),
            )),
            PatternColumns::Container => {
                Some(cgroups.label(io.issuer.as_ref().map_or(0, |i| i.cgroup_id)))
            }
        };
        let row = PatternRow {
            disk: io.device,
            who,
        };
        self.counts.add_io(row, io.sector, u64::from(io.bytes));
    }

    fn report(&mut self, at_ns: u64, _: &mut RecordedCgroups) -> Result<bool, OutputError> {
        let stamp = elapsed_stamp(at_ns);
        self.printer.print(&mut self.counts, &stamp)
    }
}
