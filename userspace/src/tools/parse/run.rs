//! Driving a parse: file mode (per-CPU files merged in time order) and pipe mode (one stream,
//! read in batches and sorted, as `blktrace -o - | blkparse -i -`), then the closing summary.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fs::File;
use std::io::{IsTerminal, Read, Write};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

use crate::blktrace::error::TraceError;
use crate::blktrace::format::{Trace, major, minor};
use crate::blktrace::read_ahead::ReadAhead;
use crate::blktrace::reader::{Item, MergedTraces, OpenError, RecordReader, TraceInput};

use super::engine::{DevInfo, Engine, ProcInfo};
use super::json;
use super::options::{BlkparseOptions, OutputKind};
use super::stats::{IoCount, IoStats, strverscmp, write_io_stats, write_waits};
use crate::run::stop::{INTERRUPT_OR_HANGUP, Stop};

/// Why a parse failed.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Open(#[from] OpenError),
    #[error("{}: {source}", path.display())]
    Create {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("writing the output: {0}")]
    Write(#[from] std::io::Error),
    #[error(transparent)]
    Format(#[from] super::events::FormatError),
    #[error("starting the trace reader thread: {0}")]
    Thread(std::io::Error),
    /// `--format perfetto`: the input could not be opened, or was damaged after its valid part.
    #[error("{0}")]
    Timeline(String),
}

/// What a finished parse reports besides its output.
pub struct Finished {
    /// Problems in the input, after everything valid was printed.
    pub input_errors: Vec<TraceError>,
}

/// Runs a parse with the given options, writing to stdout or `-o`.
pub fn run(o: &BlkparseOptions) -> Result<Finished, RunError> {
    if o.kind == OutputKind::Perfetto {
        return super::timeline::run(o);
    }
    // Without the handlers a signal just ends the parse without its summary; not fatal.
    let stop = Stop::on_signals(INTERRUPT_OR_HANGUP).unwrap_or_else(|_| Stop::manual());
    let mut out: Option<Box<dyn Write>> = match (&o.output, o.text_output) {
        (_, false) => None,
        (Some(path), true) => Some(Box::new(std::io::BufWriter::new(create(path)?))),
        (None, true) => Some(Box::new(std::io::stdout().lock())),
    };
    let mut engine = Engine::new(o);
    engine.dump = match o.dump_binary.as_deref() {
        None => None,
        Some(path) if path.as_os_str() == "-" => Some(Box::new(std::io::BufWriter::with_capacity(
            1 << 17,
            std::io::stdout(),
        ))),
        Some(path) => Some(Box::new(std::io::BufWriter::with_capacity(
            1 << 17,
            create(path)?,
        ))),
    };
    let machine_format = o.kind == OutputKind::Json;
    let mut announce = Announcements::new(machine_format);
    let result = match &o.pipe {
        Some(name) => pipe_mode(o, name, &mut engine, &mut out, &stop),
        None => file_mode(o, &mut engine, &mut out, &stop, &mut announce),
    };
    let input_errors = match result {
        Ok(errors) => errors,
        Err(RunError::Open(e)) => {
            announce.flush();
            return Err(RunError::Open(e));
        }
        Err(e) => return Err(e),
    };
    if let Some(w) = out.as_mut() {
        let skips = collect_skips(&engine.devices, o.verbose > 0);
        let mut text = std::mem::take(&mut engine.out);
        if o.kind == OutputKind::Json {
            if o.device_stats {
                json::summary(&mut text, &engine.devices, &skips);
            }
        } else {
            if o.per_process_stats {
                process_stats(&mut text, &engine.processes)?;
            }
            if o.device_stats {
                device_stats(&mut text, &engine.devices, &skips)?;
            }
        }
        w.write_all(&text)?;
        w.flush()?;
    }
    if let Some(d) = engine.dump.as_mut() {
        d.flush()?;
    }
    announce.flush();
    if engine.have_drv_data && o.dump_binary.is_none() {
        Announcements::note(
            machine_format,
            "\ndiscarded traces containing low-level device driver specific data (only available in binary output)",
        );
    }
    Ok(Finished { input_errors })
}

pub(super) fn create(path: &Path) -> Result<File, RunError> {
    File::create(path).map_err(|source| RunError::Create {
        path: path.to_path_buf(),
        source,
    })
}

/// "Input file X added" lines: blkparse prints them with printf while its text goes through a
/// line-buffered stream of its own, so on a terminal they come first and otherwise last. With
/// `--format json` they go to stderr: stdout carries only the JSON.
struct Announcements {
    lines: Vec<String>,
    immediate: bool,
    to_stderr: bool,
}

impl Announcements {
    fn new(to_stderr: bool) -> Announcements {
        Announcements {
            lines: Vec::new(),
            immediate: std::io::stdout().is_terminal(),
            to_stderr,
        }
    }

    /// A line for a human, on stderr when stdout holds a machine format.
    fn note(to_stderr: bool, line: &str) {
        if to_stderr {
            eprintln!("{line}");
        } else {
            println!("{line}");
        }
    }

    fn add(&mut self, line: String) {
        if self.to_stderr {
            eprintln!("{line}");
        } else if self.immediate {
            println!("{line}");
        } else {
            self.lines.push(line);
        }
    }

    fn flush(&mut self) {
        let mut stdout = std::io::stdout().lock();
        for l in self.lines.drain(..) {
            let _ = writeln!(stdout, "{l}");
        }
        let _ = stdout.flush();
    }
}

/// Where blkparse looks for a trace's files: a name with a directory sets the directory (for
/// it and the inputs after it); ".blktrace.N" is stripped from names.
pub(super) fn trace_inputs(o: &BlkparseOptions) -> Vec<TraceInput> {
    let mut dir = o.input_dir.clone();
    o.inputs
        .iter()
        .map(|name| {
            // Names are bytes to the kernel: one that is not UTF-8 is opened all the same.
            let name = name.as_os_str().as_bytes();
            let name = match find(name, b".blktrace.") {
                Some(i) => &name[..i],
                None => name,
            };
            let (parent, base) = split_dirname(name);
            let name = match parent {
                Some(p) => {
                    dir = Some(PathBuf::from(os(p)));
                    base
                }
                None => name,
            };
            TraceInput {
                name: os(name),
                dir: dir.clone(),
            }
        })
        .collect()
}

fn os(bytes: &[u8]) -> OsString {
    OsString::from_vec(bytes.to_vec())
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// dirname/basename as libgen's, None when dirname is ".".
fn split_dirname(name: &[u8]) -> (Option<&[u8]>, &[u8]) {
    let trimmed = trim_end_slashes(name);
    match trimmed.iter().rposition(|&b| b == b'/') {
        None => (None, name),
        Some(i) => {
            let dir = trim_end_slashes(&trimmed[..i]);
            let dir: &[u8] = if dir.is_empty() { b"/" } else { dir };
            if dir == b"." {
                (None, name)
            } else {
                (Some(dir), &trimmed[i + 1..])
            }
        }
    }
}

fn trim_end_slashes(mut name: &[u8]) -> &[u8] {
    while let [rest @ .., b'/'] = name {
        name = rest;
    }
    name
}

fn flush_some(engine: &mut Engine, out: &mut Option<Box<dyn Write>>) -> Result<(), RunError> {
    if let Some(w) = out.as_mut() {
        w.write_all(&engine.out)?;
    }
    engine.out.clear();
    Ok(())
}

fn file_mode(
    o: &BlkparseOptions,
    engine: &mut Engine,
    out: &mut Option<Box<dyn Write>>,
    stop: &Stop,
    announce: &mut Announcements,
) -> Result<Vec<TraceError>, RunError> {
    let inputs = trace_inputs(o);
    let mut merged =
        ReadAhead::start(MergedTraces::open(&inputs, o.batch)?).map_err(RunError::Thread)?;
    for f in merged.files() {
        announce.add(format!("Input file {} added", f.display()));
    }
    engine.devices = inputs
        .iter()
        .map(|i| DevInfo::named(Some(i.name.to_string_lossy().into_owned()), 0))
        .collect();
    // blkparse frees a notify once read, and holds a printed record until its device printed
    // `batch` records per file more on that CPU (this shapes -t's reuse of memory).
    engine.frees_notifies = true;
    let files = files_per_input(&inputs, merged.files());
    for (d, n) in engine.devices.iter_mut().zip(files) {
        d.held.limit = (o.batch as u64).saturating_mul(n);
    }
    let genesis = merged.first_time().unwrap_or(0);
    let (start, end) = o.stopwatch;
    while !stop.is_set() {
        let Some(item) = merged.next_item() else {
            break;
        };
        match item {
            Item::Notify(t, endian) => {
                engine.endian = endian;
                engine.handle_notify(t);
            }
            Item::Event {
                trace,
                input,
                cpu,
                endian,
            } => {
                engine.endian = endian;
                engine.devices[input].cpu(cpu).nelems += 1;
                trace.header.time = trace.header.time.wrapping_sub(genesis);
                if trace.header.time > end {
                    break;
                }
                engine.devices[input].last_reported_time = trace.header.time;
                if engine.shown(trace) && trace.header.time >= start {
                    engine.dump_trace(trace, input, cpu)?;
                }
                engine.hold_record(trace, input, cpu);
                if engine.out.len() > 1 << 16 {
                    flush_some(engine, out)?;
                }
            }
        }
    }
    flush_some(engine, out)?;
    Ok(merged.take_errors())
}

/// How many (non-empty) files each input has: blkparse's `nfiles` of its device.
fn files_per_input(inputs: &[TraceInput], files: &[PathBuf]) -> Vec<u64> {
    // A file is NAME.blktrace.CPU: it belongs to the input whose file of that CPU it is.
    let cpu_of = |f: &PathBuf| f.to_str()?.rsplit_once('.')?.1.parse::<u32>().ok();
    inputs
        .iter()
        .map(|input| {
            let of_input = |f: &&PathBuf| cpu_of(f).is_some_and(|cpu| input.file_of(cpu) == **f);
            files.iter().filter(of_input).count() as u64
        })
        .collect()
}

/// blkparse's `get_dev_info` for pipe mode: devices by dev_t in order of appearance (an input
/// name given without a dev_t takes the first one).
fn device_index(devices: &mut Vec<DevInfo>, dev: u32) -> usize {
    for (i, d) in devices.iter_mut().enumerate() {
        if d.dev == 0 {
            d.dev = dev;
        }
        if d.dev == dev {
            return i;
        }
    }
    devices.push(DevInfo::named(None, dev));
    devices.len() - 1
}

/// Key of the sort tree: time, device, sequence, then arrival (for equal keys).
type SortKey = (u64, u32, u32, u64);

fn pipe_mode(
    o: &BlkparseOptions,
    name: &Path,
    engine: &mut Engine,
    out: &mut Option<Box<dyn Write>>,
    stop: &Stop,
) -> Result<Vec<TraceError>, RunError> {
    let input: Box<dyn Read> = if name.as_os_str() == "-" {
        Box::new(std::io::stdin().lock())
    } else {
        Box::new(File::open(name).map_err(|source| RunError::Create {
            path: name.to_path_buf(),
            source,
        })?)
    };
    let mut reader = RecordReader::new(std::io::BufReader::with_capacity(1 << 16, input), name);
    engine.devices = o
        .inputs
        .iter()
        .map(|n| DevInfo::named(Some(n.to_string_lossy().into_owned()), 0))
        .collect();
    let mut sorted: BTreeMap<SortKey, Trace> = BTreeMap::new();
    let mut arrival = 0u64;
    let mut genesis = 0u64;
    let mut errors = Vec::new();
    let (start, end) = o.stopwatch;
    loop {
        if stop.is_set() {
            break;
        }
        let batch = match read_batch(&mut reader, engine, o.batch) {
            Ok(b) => b,
            Err((b, e)) => {
                errors.push(e);
                b
            }
        };
        errors.extend(reader.take_skipped());
        if batch.is_empty() {
            break;
        }
        if genesis == 0 {
            genesis = find_genesis(&batch, engine);
        }
        let mut youngest = 0u64;
        // blkparse keeps a batch in a list built by prepending, so it inserts newest first.
        for mut t in batch.into_iter().rev() {
            t.header.time = t.header.time.wrapping_sub(genesis);
            if t.header.time < youngest || youngest == 0 {
                youngest = t.header.time;
            }
            let dev = device_index(&mut engine.devices, t.header.device);
            engine.devices[dev].cpu(t.header.cpu);
            if t.header.time >= end || t.header.time < start {
                engine.free_record(&t);
                continue;
            }
            arrival += 1;
            sorted.insert(
                (t.header.time, t.header.device, t.header.sequence, arrival),
                t,
            );
        }
        let finished = errors.iter().any(TraceError::is_fatal);
        if youngest > end {
            break;
        }
        show_sorted(&mut sorted, engine, false, stop)?;
        flush_some(engine, out)?;
        if let Some(w) = out.as_mut() {
            w.flush()?;
        }
        if finished {
            break;
        }
    }
    if !sorted.is_empty() {
        show_sorted(&mut sorted, engine, true, stop)?;
    }
    flush_some(engine, out)?;
    Ok(errors)
}

/// Reads up to `batch` events (notifies are applied at once and not counted).
fn read_batch<R: std::io::BufRead>(
    reader: &mut RecordReader<R>,
    engine: &mut Engine,
    batch: usize,
) -> Result<Vec<Trace>, (Vec<Trace>, TraceError)> {
    let mut events = Vec::with_capacity(batch);
    while events.len() < batch {
        match reader.next_trace() {
            Ok(None) => break,
            Ok(Some(t)) => {
                engine.endian = reader.endian().unwrap_or(engine.endian);
                if t.header.is_notify() && !t.header.is_message() {
                    engine.handle_notify(&t);
                    continue;
                }
                events.push(t);
            }
            Err(e) => return Err((events, e)),
        }
    }
    Ok(events)
}

/// The earliest time of a batch; moves the wall-clock anchor along when the timestamp notify
/// was not the earliest record.
fn find_genesis(batch: &[Trace], engine: &mut Engine) -> u64 {
    let genesis = batch
        .iter()
        .map(|t| t.header.time)
        .min()
        .unwrap_or(u64::MAX);
    if engine.start_timestamp != 0 && engine.start_timestamp != genesis {
        let delta = genesis.wrapping_sub(engine.start_timestamp);
        engine.wall_start.0 += (delta / 1_000_000_000) as i64;
        engine.wall_start.1 += (delta % 1_000_000_000) as i64;
        if engine.wall_start.1 < 0 {
            engine.wall_start.1 += 1_000_000_000;
            engine.wall_start.0 -= 1;
        } else if engine.wall_start.1 > 1_000_000_000 {
            engine.wall_start.1 -= 1_000_000_000;
            engine.wall_start.0 += 1;
        }
    }
    genesis
}

/// blkparse's `show_entries_rb`: hands on records in sorted order while each CPU's sequence
/// numbers follow on; a gap waits for more input unless `force`, when it is recorded as skipped.
fn show_sorted(
    sorted: &mut BTreeMap<SortKey, Trace>,
    engine: &mut Engine,
    force: bool,
    stop: &Stop,
) -> Result<(), RunError> {
    while let Some(entry) = sorted.first_entry() {
        if stop.is_set() && !force {
            break;
        }
        let t = entry.get();
        let dev = device_index(&mut engine.devices, t.header.device);
        let message = t.header.is_message();
        let cpu = engine.devices[dev].cpu(t.header.cpu);
        if !message && sequence_gap(cpu, u64::from(t.header.sequence), force) {
            break;
        }
        let t = entry.remove();
        let d = &mut engine.devices[dev];
        d.last_reported_time = t.header.time;
        let cpu = d.cpu(t.header.cpu);
        if !message {
            cpu.last_sequence = Some(u64::from(t.header.sequence));
        }
        cpu.nelems += 1;
        if engine.shown(&t) {
            engine.dump_trace(&t, dev, t.header.cpu)?;
        }
        // Pipe mode holds no records: each is freed once printed (`limit` 0).
        engine.hold_record(&t, dev, t.header.cpu);
    }
    Ok(())
}

/// Whether to wait for the record before `seq` on this CPU (blkparse's `check_sequence`).
fn sequence_gap(cpu: &mut super::engine::CpuInfo, seq: u64, force: bool) -> bool {
    let Some(last) = cpu.last_sequence else {
        return false;
    };
    let expected = last.wrapping_add(1);
    if seq == expected {
        return false;
    }
    if !force {
        return true;
    }
    if check_current_skips(&mut cpu.skips, seq) {
        return false;
    }
    if expected < seq {
        insert_skip(&mut cpu.skips, expected, seq - 1);
    }
    false
}

fn insert_skip(skips: &mut Vec<(u64, u64)>, start: u64, end: u64) {
    for s in skips.iter_mut().rev() {
        if end == s.0.wrapping_sub(1) {
            s.0 = start;
            return;
        } else if start == s.1.wrapping_add(1) {
            s.1 = end;
            return;
        }
    }
    skips.push((start, end));
}

/// A late record fills (part of) a recorded gap.
fn check_current_skips(skips: &mut Vec<(u64, u64)>, seq: u64) -> bool {
    for i in (0..skips.len()).rev() {
        let (s, e) = skips[i];
        if s <= seq && seq <= e {
            if s == seq {
                if e == seq {
                    skips.remove(i);
                } else {
                    skips[i].0 += 1;
                }
            } else if e == seq {
                skips[i].1 -= 1;
            } else {
                skips[i].1 = seq - 1;
                // blkparse passes the already shortened end here; kept for equal counts.
                insert_skip(skips, seq + 1, seq - 1);
            }
            return true;
        }
    }
    false
}

/// Per device: (number of gaps, sequences missing).
fn collect_skips(devices: &[DevInfo], verbose: bool) -> Vec<(u64, u64)> {
    devices
        .iter()
        .map(|d| {
            let mut n = 0u64;
            let mut missing = 0u64;
            for cpu in &d.cpus {
                for &(s, e) in &cpu.skips {
                    n += 1;
                    missing = missing.wrapping_add(e.wrapping_sub(s).wrapping_add(1));
                    if verbose {
                        eprintln!("({},{}): skipping {s} -> {e}", major(d.dev), minor(d.dev));
                    }
                }
            }
            (n, missing)
        })
        .collect()
}

/// printf's `%.*s`-style truncation of blkparse's fixed buffers.
fn truncated(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

fn device_stats(
    out: &mut Vec<u8>,
    devices: &[DevInfo],
    skips: &[(u64, u64)],
) -> std::io::Result<()> {
    for (i, d) in devices.iter().enumerate() {
        if i > 0 {
            writeln!(out)?;
        }
        let name = d.display_name();
        let short = truncated(&name, 31);
        let mut total = IoStats::default();
        let mut shown = 0;
        for (n, cpu) in d.cpus.iter().enumerate() {
            if cpu.nelems == 0 {
                continue;
            }
            total.add(&cpu.stats);
            let title = format!("CPU{n} ({short}):");
            write_io_stats(out, &cpu.stats, truncated(&title, 46), Some(d.max_depth))?;
            shown += 1;
        }
        if shown > 1 {
            writeln!(out)?;
            let title = format!("Total ({short}):");
            write_io_stats(out, &total, truncated(&title, 46), None)?;
        }
        let msec = d.last_reported_time.wrapping_sub(d.first_reported_time) / 1_000_000;
        let (rrate, wrate) = if msec != 0 {
            let rate = |c: &IoCount| c.kb.wrapping_mul(1000).wrapping_add(c.b) / msec;
            (rate(&total.completed[0]), rate(&total.completed[1]))
        } else {
            (0, 0)
        };
        writeln!(out, "\nThroughput (R/W): {rrate}KiB/s / {wrate}KiB/s")?;
        writeln!(
            out,
            "Events ({}): {} entries",
            truncated(&name, 47),
            d.events
        )?;
        let (n, missing) = skips.get(i).copied().unwrap_or((0, 0));
        let ratio = if n == 0 && d.events == 0 {
            0.0
        } else {
            100.0 * (missing as f64) / ((d.events.wrapping_add(missing)) as f64)
        };
        writeln!(out, "Skips: {n} forward ({missing} - {ratio:5.1}%)")?;
    }
    Ok(())
}

fn process_stats(out: &mut Vec<u8>, processes: &[ProcInfo]) -> std::io::Result<()> {
    let mut procs: Vec<&ProcInfo> = processes.iter().collect();
    procs.sort_by(|a, b| strverscmp(&a.name, &b.name).then(a.pid.cmp(&b.pid)));
    for p in &procs {
        let name = String::from_utf8_lossy(&p.name);
        let title = if p.more_than_one {
            format!("{name} ({}, ...)", p.pid)
        } else {
            format!("{name} ({})", p.pid)
        };
        write_io_stats(out, &p.stats, &title, None)?;
        write_waits(out, &p.waits)?;
    }
    writeln!(out)
}
