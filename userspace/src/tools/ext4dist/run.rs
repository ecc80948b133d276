//! `blkscope ext4dist` wired: the fs_latency probes' histograms read every interval.

use super::{args::Ext4distArgs, render::render_dist};
use crate::{
    host::time::strftime_now,
    kernel::{fs_latency::FsProbe, privileges},
    run::{
        interval::{ReportCount, Ticker as _, WallClock},
        output::{Output, banner},
        stop::{INTERRUPT, Stop, runtime},
    },
};

pub fn run(args: Ext4distArgs) -> anyhow::Result<()> {
    let (fs, mut options) = args.scope.probe_options()?;
    options.histogram_unit_ns = Some(if args.milliseconds { 1_000_000 } else { 1000 });
    // The probes' ring buffer registers with the runtime's reactor, even when unread.
    let runtime = runtime()?;
    let _entered = runtime.enter();
    let mut probe = FsProbe::start(&options)?;
    privileges::attached(&[]);
    let mut out = Output::stdout();
    banner(&format!(
        "Tracing {} operation latency... Hit Ctrl-C to end.",
        fs.name()
    ));
    let stop = Stop::on_signals(INTERRUPT)?;
    let mut clock = WallClock::new(args.interval.map(std::time::Duration::from_secs), stop);
    let mut count = ReportCount::new(args.count);
    loop {
        let stopped = clock.wait();
        let histograms = probe.take_histograms()?;
        let mut text = String::from("\n");
        if args.timestamp {
            text.push_str(&format!("{:<8}\n", strftime_now("%H:%M:%S")));
        }
        text.push_str(&render_dist(&histograms, args.milliseconds));
        if !out.report(&text)? || count.printed_one() || stopped {
            break;
        }
    }
    Ok(())
}
