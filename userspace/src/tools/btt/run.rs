//! Driving a btt run: open the input (a binary dump, stdin, or per-CPU trace files merged as
//! `blkparse -d` would), feed every record to the analysis, then write the report.

use std::ffi::OsString;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use super::analysis::{Analysis, Settings, Sinks};
use super::options::{BttOptions, read_device_map};
use super::plots::Plots;
use super::report::{Report, ReportOptions};
use super::trees::IoTrees;
use crate::blktrace::error::TraceError;
use crate::blktrace::format::Trace;
use crate::blktrace::source::{SourceError, TraceSource};
use crate::host::bounded::{TEXT_FILE_LIMIT, read_text};

/// Why a run failed before it could report.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("{}: {source}", path.display())]
    File { path: PathBuf, source: io::Error },
    #[error(transparent)]
    Open(#[from] SourceError),
    #[error("writing the output: {0}")]
    Write(#[from] io::Error),
}

/// What a finished run reports besides its output.
pub struct Finished {
    /// Problems in the input, after everything valid before them was analysed and reported.
    pub input_errors: Vec<TraceError>,
}

fn create(path: &Path) -> Result<BufWriter<File>, RunError> {
    File::create(path)
        .map(|f| BufWriter::with_capacity(64 * 1024, f))
        .map_err(|source| RunError::File {
            path: path.to_path_buf(),
            source,
        })
}

/// `NAME` + `suffix`, as btt names its files (any bytes in NAME).
fn with_suffix(name: &Path, suffix: &str) -> PathBuf {
    let mut path = OsString::from(name);
    path.push(suffix);
    PathBuf::from(path)
}

/// `-o NAME`: one of btt's NAME.SUFFIX files (announced under `-v`).
fn output_file(
    o: &BttOptions,
    suffix: &str,
    what: &str,
) -> Result<Option<Box<dyn Write>>, RunError> {
    let Some(name) = &o.output else {
        return Ok(None);
    };
    let path = with_suffix(name, &format!(".{suffix}"));
    let file = create(&path)?;
    if o.verbose {
        println!("Sending {what} to {}", path.display());
    }
    Ok(Some(Box::new(file)))
}

fn settings(o: &BttOptions) -> Result<Settings, RunError> {
    let device_names = match &o.device_map {
        None => Vec::new(),
        Some(path) => {
            let text = read_text(path, TEXT_FILE_LIMIT).map_err(|source| RunError::File {
                path: path.clone(),
                source,
            })?;
            read_device_map(&text)
        }
    };
    let defaults = Settings::default();
    let window = match (o.time_start, o.time_end) {
        (None, None) => None,
        (start, end) => Some((start.unwrap_or(f64::MIN), end.unwrap_or(f64::MAX))),
    };
    Ok(Settings {
        seek_absolute: o.seek_absolute,
        all_data: o.all_data,
        range_delta: o.range_delta.unwrap_or(defaults.range_delta),
        ignore_remaps: o.ignore_remaps,
        window,
        iostat_interval: o
            .iostat_interval
            .map_or(defaults.iostat_interval, |s| u64::from(s) * 1_000_000_000),
        devices: o.devices.clone(),
        device_names,
    })
}

/// Runs btt with the given options.
pub fn run(o: &BttOptions) -> Result<Finished, RunError> {
    let settings = settings(o)?;
    let Some(mut source) = TraceSource::open(&o.input)? else {
        return Ok(Finished {
            input_errors: Vec::new(),
        });
    };
    let stdout =
        || -> Box<dyn Write> { Box::new(BufWriter::with_capacity(64 * 1024, io::stdout())) };
    let ranges_out = output_file(o, "dat", "range data")?;
    let avgs_out = output_file(o, "avg", "stats data")?;
    let messages = output_file(o, "msg", "K messages")?.unwrap_or_else(stdout);
    let easy = if o.easy_parse {
        output_file(o, "xvg", "EZ stats data")?
    } else {
        None
    };
    let open = |p: &Option<PathBuf>| -> Result<Option<Box<dyn Write>>, RunError> {
        match p {
            None => Ok(None),
            Some(path) => Ok(Some(Box::new(create(path)?))),
        }
    };
    let sinks = Sinks {
        messages,
        iostat: open(&o.iostat)?,
        per_io: open(&o.per_io)?,
        trees: o.per_io_trees.then(IoTrees::default),
        plots: Plots::new(o.plots.clone()),
    };
    let mut a = Analysis::new(settings, sinks)?;

    let started = Instant::now();
    let mut t = Trace::default();
    let mut input_errors = Vec::new();
    while !a.done {
        match source.next(&mut t) {
            Ok(true) => a.add(&t)?,
            Ok(false) => break,
            Err(e) => {
                input_errors.push(e);
                break;
            }
        }
    }
    input_errors.extend(source.take_errors());
    a.sinks.messages.flush()?;
    if o.verbose {
        let secs = started.elapsed().as_secs_f64();
        print!("\r{:80}\r", "");
        println!(
            "{:10} traces @ {:.1} Ktps in {secs:.6} seconds",
            a.traces,
            a.traces as f64 / secs / 1000.0
        );
    }

    let report_options = ReportOptions {
        all_data: o.all_data,
        exes: o.exes.clone(),
    };
    let mut avgs_out = avgs_out.unwrap_or_else(stdout);
    let mut easy = easy;
    let mut report = Report {
        a: &mut a,
        options: &report_options,
        out: avgs_out.as_mut(),
        easy: easy.as_deref_mut().map(|e| e as &mut dyn Write),
    };
    report.write_tables()?;
    report.out.flush()?;
    if let Some(e) = report.easy.as_mut() {
        e.flush()?;
    }
    if o.live {
        super::live::write_all(report.a)?;
    }
    if let Some(name) = &o.output {
        write_size_histograms(report.a, name)?;
    }
    let mut ranges_out = ranges_out.unwrap_or_else(stdout);
    report.out = ranges_out.as_mut();
    report.write_ranges()?;
    ranges_out.flush()?;

    if let Some(out) = a.sinks.iostat.as_mut() {
        out.write_all(b"\n")?;
        let stamp = a.last_stamp;
        a.write_iostat(stamp, true)?;
    }
    for out in [a.sinks.iostat.as_mut(), a.sinks.per_io.as_mut()]
        .into_iter()
        .flatten()
    {
        out.flush()?;
    }
    if let Some(trees) = a.sinks.trees.as_mut() {
        trees.flush()?;
    }
    a.sinks.plots.finish()?;
    Ok(Finished { input_errors })
}

/// `-o NAME`: NAME_qhist.dat and NAME_dhist.dat, the sizes of queued and issued I/Os.
fn write_size_histograms(a: &Analysis, name: &Path) -> Result<(), RunError> {
    for (suffix, title, buckets) in [
        ("qhist", "Q", &a.queue_sizes),
        ("dhist", "D", &a.issue_sizes),
    ] {
        let path = with_suffix(name, &format!("_{suffix}.dat"));
        let mut out = create(&path)?;
        if title == "Q" {
            out.write_all(b"# BTT histogram data\n")?;
        }
        writeln!(out, "# {title} buckets")?;
        let last = buckets.len() - 1;
        for (i, n) in buckets[..last].iter().enumerate() {
            writeln!(out, "{:4} {n}", i + 1)?;
        }
        writeln!(
            out,
            "\n# {title} bucket for > {last}\n{last:4} {}",
            buckets[last]
        )?;
        out.flush()?;
    }
    Ok(())
}
