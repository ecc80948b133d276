//! `blkscope biolatency` wired: live, the kernel's histograms read every interval on the wall
//! clock; over a recording, its completed I/Os counted per interval of its own clock. Both
//! print through `print_histograms`.

use anyhow::Context as _;

use super::{
    args::BiolatencyArgs,
    recorded::{CompletionHistograms, RECORDED_FLAG_BITS},
    render::{
        HistogramLayout, LabelledHistogram, SectionNames, disk_name, label_histograms, render_json,
        render_text,
    },
};
use crate::{
    cgroup::{CgroupResolver, NamedCgroups, RecordedCgroups},
    host::{device, time::strftime_now},
    kernel::{
        CgroupFilter,
        block_latency::{LatencyOptions, LatencyProbe},
        privileges,
    },
    model::inflight::CompletedIo,
    run::{
        completions::{CompletionView, RecordedRun, count_recording, elapsed_stamp},
        interval::{ReportCount, Ticker as _, WallClock},
        output::{Output, OutputError, banner},
        stop::{INTERRUPT, Stop},
    },
};

pub fn run(args: BiolatencyArgs) -> anyhow::Result<()> {
    if [args.disks, args.flags, args.containers, args.size]
        .iter()
        .filter(|&&on| on)
        .count()
        > 1
    {
        anyhow::bail!("can only use one of -D, -F, --containers and --size");
    }
    let cgroup = args
        .cgroup
        .as_deref()
        .filter(|_| args.input.is_none())
        .map(CgroupFilter::of_path)
        .transpose()
        .context("-c")?
        .map(|f| (f.id, f.level));
    let device = args
        .disk
        .as_deref()
        .map(device::resolve)
        .transpose()
        .context("-d")?;
    let options = LatencyOptions {
        queued: args.queued,
        per_disk: args.disks,
        per_flag: args.flags,
        milliseconds: args.milliseconds,
        device: device.map(device::whole_disk),
        // A name filter keeps cgroups' histograms apart until it has chosen among them.
        per_cgroup: args.containers
            || args.names.pod.is_some()
            || args.names.container_name.is_some(),
        cgroup,
        percentiles: args.percentiles,
        split_stages: false,
        per_direction: false,
        per_size: args.size,
    };
    let layout = HistogramLayout {
        per_disk: args.disks,
        per_flag: args.flags,
        per_container: args.containers,
        per_size: args.size,
        milliseconds: args.milliseconds,
    };
    let stop = Stop::on_signals(INTERRUPT)?;
    match &args.input {
        Some(input) => run_recorded(&args, &options, &layout, input, &stop),
        None => run_live(&args, &options, &layout, stop),
    }
}

fn run_live(
    args: &BiolatencyArgs,
    options: &LatencyOptions,
    layout: &HistogramLayout,
    stop: Stop,
) -> anyhow::Result<()> {
    let mut probe = LatencyProbe::start(options)?;
    privileges::attached(&[]);
    let resolver = match CgroupResolver::new() {
        Err(e) if layout.per_container => return Err(anyhow::Error::new(e).context("--containers")),
        found => found.map(|r| r.labelling(args.names.label())),
    };
    let mut cgroups =
        NamedCgroups::new(resolver, args.names.filter()?).context("--pod, --container-name")?;
    let mut out = Output::stdout();
    if !args.json {
        banner("Tracing block device I/O... Hit Ctrl-C to end.");
    }
    let interval = args.interval.map(std::time::Duration::from_secs);
    let mut clock = WallClock::new(interval, stop);
    let mut count = ReportCount::new(args.count);
    loop {
        let stopped = clock.wait();
        let mut histograms = probe.take_interval()?;
        let mut fine = probe.take_fine_interval()?;
        if cgroups.filters() {
            histograms.retain(|key, _| cgroups.keeps(key.cgroup_id));
            fine.retain(|key, _| cgroups.keeps(key.cgroup_id));
        }
        let mut names = SectionNames {
            flag_bits: Some(probe.flag_bits()),
            disk: &mut disk_name,
            container: &mut |id| cgroups.label(id),
        };
        let labelled = label_histograms(&histograms, &fine, layout, &mut names);
        let times = (strftime_now("%H:%M:%S"), strftime_now("%Y-%m-%d %H:%M:%S"));
        let read = print_histograms(&mut out, args, layout, &labelled, &times)?;
        if !read || count.printed_one() || stopped {
            break;
        }
    }
    let drops = probe.drops()?;
    if drops > 0 {
        eprintln!("You have {drops} completions not counted (histogram map full)");
    }
    Ok(())
}

/// One interval's histograms, as bcc prints them (or one JSON object each); `times` are the
/// `-T` stamp and the JSON `ts`. False once the reader has gone.
fn print_histograms(
    out: &mut Output,
    args: &BiolatencyArgs,
    layout: &HistogramLayout,
    labelled: &[LabelledHistogram],
    times: &(String, String),
) -> Result<bool, OutputError> {
    let mut text = String::new();
    if args.json {
        let json = render_json(labelled, layout, &times.1);
        if !json.is_empty() {
            text.push_str(&json);
            text.push('\n');
        }
    } else {
        text.push('\n');
        if args.timestamp {
            text.push_str(&format!("{:<8}\n", times.0));
        }
        text.push_str(&render_text(labelled, layout));
    }
    out.report(&text)
}

fn run_recorded(
    args: &BiolatencyArgs,
    options: &LatencyOptions,
    layout: &HistogramLayout,
    input: &std::path::Path,
    stop: &Stop,
) -> anyhow::Result<()> {
    let cgroups = RecordedCgroups::new(
        args.names.label(),
        args.cgroup.as_deref(),
        args.names.filter()?,
        layout.per_container,
    );
    let mut view = RecordedHistograms {
        args,
        layout,
        counts: CompletionHistograms::new(options.clone()),
        out: Output::stdout(),
    };
    let run = RecordedRun {
        input,
        device: options.device,
        interval_s: args.interval,
        count: args.count,
        cgroups,
    };
    Ok(count_recording(run, stop, &mut view)?)
}

/// biolatency over a recording: histograms counted from its completions, one per INTERVAL
/// seconds of the recording's own time (all of it without INTERVAL); `-T` and the JSON `ts`
/// show the time since the recording's start.
struct RecordedHistograms<'a> {
    args: &'a BiolatencyArgs,
    layout: &'a HistogramLayout,
    counts: CompletionHistograms,
    out: Output,
}

impl CompletionView for RecordedHistograms<'_> {
    fn add(&mut self, io: &CompletedIo, _: &mut RecordedCgroups) {
        self.counts.add(io);
    }

    fn report(&mut self, at_ns: u64, cgroups: &mut RecordedCgroups) -> Result<bool, OutputError> {
        let (histograms, fine) = self.counts.take();
        let mut names = SectionNames {
            flag_bits: Some(&RECORDED_FLAG_BITS),
            disk: &mut disk_name,
            container: &mut |id| cgroups.label(id),
        };
        let labelled = label_histograms(&histograms, &fine, self.layout, &mut names);
        let stamp = elapsed_stamp(at_ns);
        print_histograms(
            &mut self.out,
            self.args,
            self.layout,
            &labelled,
            &(stamp.clone(), stamp),
        )
    }
}
