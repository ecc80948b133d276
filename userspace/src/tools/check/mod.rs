//! `blkscope check`: will blkscope work on this kernel (or on the kernel whose BTF is in
//! `--btf FILE`)? What the kernel offers (`report`), and which views run on it and why not
//! the others, printed for people or as JSON (`render`). Like `bpftool feature probe`, but
//! answering the user's question.

pub mod args;
pub mod render;
pub mod report;

pub use args::CheckArgs;

/// Runs the check; `Ok(false)` when some view cannot run (the exit code says so).
pub fn run(args: &CheckArgs) -> anyhow::Result<bool> {
    let report = report::CheckReport::gather()?;
    let text = if args.json {
        render::json(&report)?
    } else {
        render::text(&report)
    };
    crate::run::output::Output::stdout().report(&text)?;
    Ok(report.every_view_runs())
}
