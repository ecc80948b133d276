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
    cgroup::{CgroupNameFilter, CgroupResolver, NamedCgroups, RecordedCgroups},
    host::{device, time::strftime_now},
    kernel::{
        CgroupFilter,
        block_latency::{LatencyOptions, LatencyProbe},
        privileges,
    },
    model::{event::BlockIoEvent, inflight::RequestTracker},
    run::{
        events::{EventSink, EventSource, feed},
        interval::{RecordingClock, ReportCount, Ticker as _, WallClock},
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
    let source = EventSource::recording(input, &[])?;
    let resolver = CgroupResolver::for_recording().labelling(args.names.label());
    let mut counter = RecordedCounter {
        args,
        layout,
        tracker: RequestTracker::new(),
        counts: CompletionHistograms::new(options.clone()),
        cgroups: RecordedCgroups::new(
            resolver,
            args.cgroup.as_deref(),
            args.names.filter()?.map(CgroupNameFilter::new),
            layout.per_container,
        ),
        clock: RecordingClock::new(
            args.interval
                .map(|s| s.max(1).saturating_mul(1_000_000_000)),
        ),
        count: ReportCount::new(args.count),
        out: Output::stdout(),
        reader_gone: false,
    };
    let fed = feed(source, stop, &mut counter);
    // What was counted is shown even when the recording turned out damaged.
    if !counter.count.done() && !counter.reader_gone {
        let elapsed = counter.clock.elapsed();
        counter.print(elapsed)?;
    }
    fed?;
    Ok(())
}

/// biolatency over a recording: histograms counted from its completions, one per INTERVAL
/// seconds of the recording's own time (all of it without INTERVAL); `-T` and the JSON `ts`
/// show the time since the recording's start.
struct RecordedCounter<'a> {
    args: &'a BiolatencyArgs,
    layout: &'a HistogramLayout,
    tracker: RequestTracker,
    counts: CompletionHistograms,
    cgroups: RecordedCgroups,
    clock: RecordingClock,
    count: ReportCount,
    out: Output,
    reader_gone: bool,
}

impl RecordedCounter<'_> {
    /// Prints the interval that ended `at` ns after the recording's start.
    fn print(&mut self, at: u64) -> Result<(), OutputError> {
        let (histograms, fine) = self.counts.take();
        let cgroups = &mut self.cgroups;
        let mut names = SectionNames {
            flag_bits: Some(&RECORDED_FLAG_BITS),
            disk: &mut disk_name,
            container: &mut |id| cgroups.label(id),
        };
        let labelled = label_histograms(&histograms, &fine, self.layout, &mut names);
        let secs = at / 1_000_000_000;
        let stamp = format!("{:02}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60);
        let read = print_histograms(
            &mut self.out,
            self.args,
            self.layout,
            &labelled,
            &(stamp.clone(), stamp),
        )?;
        self.reader_gone |= !read;
        Ok(())
    }

    /// Counts one event; false once the last report is printed.
    fn count_event(&mut self, event: &BlockIoEvent) -> Result<bool, OutputError> {
        while let Some(ended) = self.clock.passed(event.time_ns) {
            self.print(ended)?;
            if self.count.printed_one() || self.reader_gone {
                return Ok(false);
            }
        }
        if let Some(io) = self.tracker.observe(event)
            && self
                .cgroups
                .keeps(io.issuer.as_ref().map_or(0, |i| i.cgroup_id))
        {
            self.counts.add(&io);
        }
        Ok(true)
    }
}

impl EventSink for RecordedCounter<'_> {
    fn consume(&mut self, events: &mut Vec<BlockIoEvent>) -> Result<bool, String> {
        for event in events.iter() {
            if !self.count_event(event).map_err(|e| e.to_string())? {
                return Ok(false);
            }
        }
        Ok(true)
    }

    fn cgroup_named(&mut self, id: u64, path: &str) {
        self.cgroups.remember(id, path);
    }

    fn container_named(&mut self, id: u64, name: &str) {
        self.cgroups.remember_name(id, name);
    }
}
