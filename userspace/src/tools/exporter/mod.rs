//! `blkscope exporter`: the probes' in-kernel counts and /proc/diskstats as Prometheus metrics.
//! `collect` owns the probes and keeps running totals (read every interval, nothing per
//! event); `series` bounds them per cgroup; `metrics` turns a copy of them into the
//! OpenMetrics (or classic) text at scrape time; `server` serves it, with `web`'s TLS and basic
//! auth and its own limits. See docs/exporter.md.

pub mod args;
pub mod collect;
pub mod metrics;
pub mod run;
pub mod series;
pub mod server;
pub mod web;

pub use args::ExporterArgs;

/// Runs the exporter until SIGINT or SIGTERM.
pub fn run(args: &ExporterArgs) -> anyhow::Result<()> {
    run::run(&args.options()?)?;
    Ok(())
}
