//! `blkscope iostat ARGS` / `iostat ARGS`: parses iostat's command line and runs the reports on
//! the live system. Returns the process exit code (iostat's: 1 for usage errors).

use std::{
    ffi::OsString,
    io::{IsTerminal as _, Write as _},
    path::Path,
    time::Duration,
};

use super::{
    cgroup_report,
    format::{Colors, Printer},
    naming::Naming,
    options::{ArgNames, Invocation, UsageError, help_text, parse, usage_text},
    report::IostatReport,
    run::{LiveSamples, RunError, run_reports},
};
use crate::{
    cli::caller::{Caller, StockHelp},
    host::{
        stat_files::StatFiles,
        system::host,
        time::{iso_dates, strftime_now},
    },
    run::{
        interval::WallClock,
        stop::{INTERRUPT, Stop},
    },
};

/// Device arguments as sysstat resolves them against the live /dev.
struct SystemNames(Naming);

impl ArgNames for SystemNames {
    fn device_name(&self, arg: &str) -> String {
        // realpath(3); a name that is not a path (sda) is kept as given.
        let Ok(resolved) = std::fs::canonicalize(arg) else {
            return arg.to_owned();
        };
        let resolved = resolved.to_string_lossy();
        resolved
            .strip_prefix("/dev/")
            .unwrap_or(&resolved)
            .replace('/', "!")
    }
    fn persistent_type_exists(&self, kind: &str) -> bool {
        self.0.persistent_type_exists(kind)
    }
    fn device_of_persistent(&self, kind: &str, name: &str) -> Option<String> {
        self.0.device_of_persistent(kind, name)
    }
}

/// Runs iostat; returns its exit code (usage errors: 2 as `blkscope iostat`, sysstat's 1 as
/// `iostat`; 2 when the counters cannot be read or the report cannot be written).
pub fn main(caller: &Caller, args: &[OsString]) -> u8 {
    let program = caller.program();
    // iostat's arguments are numbers, device names and a directory of its own stat files: all
    // text here. One that is not is named (a lossy copy would be a different name).
    let args: Vec<String> = match args.iter().map(|a| a.clone().into_string()).collect() {
        Ok(args) => args,
        Err(bad) => {
            eprintln!(
                "{program}: argument '{}' is not valid UTF-8",
                bad.to_string_lossy()
            );
            return caller.usage_error(1);
        }
    };
    let names = SystemNames(Naming::default());
    let options = match parse(&args, &names) {
        Ok(Invocation::Report(options)) => options,
        Ok(Invocation::Version) => {
            println!(
                "sysstat version 12.6.1 (blkscope {}: iostat of sysstat 12.6.1)",
                env!("CARGO_PKG_VERSION")
            );
            return 0;
        }
        // sysstat has no --help: its usage, on stderr, exit 1.
        Ok(Invocation::Help) => {
            return caller.help(&help_text(program), StockHelp { exit_code: 1 });
        }
        Err(UsageError::Usage) => {
            eprint!("{}", usage_text(program));
            return caller.usage_error(1);
        }
        Err(err @ UsageError::PersistentType) => {
            eprintln!("{err}");
            return caller.usage_error(1);
        }
    };
    if let Some(path) = &options.btf {
        crate::kernel::btf_layout::use_btf_file(path);
    }
    if options.cgroups {
        return match cgroup_report::run(&options) {
            Ok(()) => 0,
            Err(err) => {
                eprintln!("blkscope: {err:#}");
                1
            }
        };
    }
    let files = StatFiles {
        alternate: options.alternate_dir.clone(),
        ..StatFiles::default()
    };
    let printer = Printer {
        colors: Colors::from_env(
            std::env::var("S_COLORS").ok().as_deref(),
            std::env::var("S_COLORS_SGR").ok().as_deref(),
            std::io::stdout().is_terminal(),
        ),
        decimals: options.decimals,
    };
    let stop = match Stop::on_signals(INTERRUPT) {
        Ok(stop) => stop,
        Err(err) => {
            eprintln!("{program}: {err}");
            return 2;
        }
    };
    let interval = Duration::from_secs(options.interval.max(1));
    let date = strftime_now(if iso_dates() { "%Y-%m-%d" } else { "%x" });
    let host = host(Path::new("/sys"));
    let mut report = IostatReport::new(*options, printer, names.0, &files);
    let mut samples = LiveSamples::new(files);
    let mut clock = WallClock::new(Some(interval), stop);
    let mut stdout = std::io::stdout().lock();
    match run_reports(
        &mut report,
        &host,
        &date,
        &mut samples,
        &mut clock,
        &mut stdout,
    ) {
        Ok(()) => 0,
        // A closed pipe (iostat | head) ends the reports quietly, as it does for iostat.
        Err(RunError::Output(err)) if err.kind() == std::io::ErrorKind::BrokenPipe => 0,
        Err(err) => {
            let _ = stdout.flush();
            eprintln!("{err}");
            2
        }
    }
}
