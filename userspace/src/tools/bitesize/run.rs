//! `blkscope bitesize` wired: live, the kernel's size histograms (`kernel::task_io`) read
//! every interval on the wall clock; over a recording, its finished I/Os counted per interval
//! of its own clock (`run::completions`). Both print through `print_sizes`.

use anyhow::Context as _;

use super::{
    args::BitesizeArgs,
    sizes::{SizeHistograms, SizeSections, render_json, render_text},
};
use crate::{
    cgroup::{CgroupResolver, NamedCgroups, RecordedCgroups},
    host::{device, time::strftime_now},
    kernel::{
        CgroupFilter, privileges,
        task_io::{TaskIoOptions, TaskIoProbe},
    },
    model::{comm::Comm, event::DeviceId, inflight::CompletedIo},
    run::{
        completions::{CompletionView, RecordedRun, count_recording, elapsed_stamp},
        interval::{ReportCount, Ticker as _, WallClock},
        output::{Output, OutputError, banner},
        stop::{INTERRUPT, Stop},
    },
};

pub fn run(args: BitesizeArgs) -> anyhow::Result<()> {
    let device = device::whole_disk_of(args.disk.as_deref()).context("-d")?;
    let sections = if args.containers {
        SizeSections::Container
    } else {
        SizeSections::Process
    };
    let stop = Stop::on_signals(INTERRUPT)?;
    let mut printer = SizePrinter {
        args: &args,
        sections,
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
            let mut view = RecordedSizes {
                printer,
                sizes: SizeHistograms::default(),
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
    args: &BitesizeArgs,
    device: Option<DeviceId>,
    printer: &mut SizePrinter<'_>,
    stop: Stop,
) -> anyhow::Result<()> {
    let cgroup = CgroupFilter::id_and_level(args.cgroup.as_deref()).context("-c")?;
    let mut probe = TaskIoProbe::start(&TaskIoOptions {
        device,
        cgroup,
        sizes: true,
        ..TaskIoOptions::default()
    })?;
    privileges::attached(&[]);
    let mut cgroups = NamedCgroups::new(
        CgroupResolver::new().map(|r| r.labelling(args.names.label())),
        args.names.filter()?,
    )
    .context("--pod, --container-name")?;
    if !args.json {
        banner("Tracing block I/O... Hit Ctrl-C to end.");
    }
    let mut clock = WallClock::new(args.interval.map(std::time::Duration::from_secs), stop);
    let mut count = ReportCount::new(args.count);
    let mut sizes = SizeHistograms::default();
    loop {
        let stopped = clock.wait();
        for (key, slots) in probe.take_sizes()? {
            if cgroups.filters() && !cgroups.keeps(key.cgroup_id) {
                continue;
            }
            let label = match printer.sections {
                SizeSections::Container => cgroups.label(key.cgroup_id),
                SizeSections::Process => Comm::from_kernel(&key.comm).to_string(),
            };
            sizes.add_slots(label, &slots);
        }
        let stamp = strftime_now("%H:%M:%S");
        let read = printer.print(&mut sizes, &stamp)?;
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

/// Prints an interval's histograms as bcc does (or a JSON line each).
struct SizePrinter<'a> {
    args: &'a BitesizeArgs,
    sections: SizeSections,
    out: Output,
}

impl SizePrinter<'_> {
    /// Prints and empties `sizes`; false once the reader has gone.
    fn print(&mut self, sizes: &mut SizeHistograms, stamp: &str) -> Result<bool, OutputError> {
        let histograms = sizes.take();
        let mut text = String::new();
        if self.args.json {
            let json = render_json(&histograms, self.sections, stamp);
            if !json.is_empty() {
                text.push_str(&json);
                text.push('\n');
            }
        } else {
            text.push('\n');
            if self.args.timestamp {
                text.push_str(&format!("{stamp:<8}\n"));
            }
            text.push_str(&render_text(&histograms, self.sections));
        }
        self.out.report(&text)
    }
}

/// bitesize over a recording: each finished I/O counted under its issuer's name (or
/// container); the stamp is the time since the recording's start.
struct RecordedSizes<'a> {
    printer: SizePrinter<'a>,
    sizes: SizeHistograms,
}

impl CompletionView for RecordedSizes<'_> {
    fn add(&mut self, io: &CompletedIo, cgroups: &mut RecordedCgroups) {
        let label = match self.printer.sections {
            SizeSections::Container => cgroups.label(io.issuer.as_ref().map_or(0, |i| i.cgroup_id)),
            SizeSections::Process => io
                .issuer
                .as_ref()
                .map(|i| i.comm.to_string())
                .unwrap_or_default(),
        };
        self.sizes.add_io(label, u64::from(io.bytes));
    }

    fn report(&mut self, at_ns: u64, _: &mut RecordedCgroups) -> Result<bool, OutputError> {
        let stamp = elapsed_stamp(at_ns);
        self.printer.print(&mut self.sizes, &stamp)
    }
}
