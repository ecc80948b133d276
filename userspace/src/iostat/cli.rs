//! `blkscope iostat ARGS` / `iostat ARGS`: parses iostat's command line and runs the reports on
//! the live system. Returns the process exit code (iostat's: 1 for usage errors).

use std::{
    io::{IsTerminal as _, Write as _},
    path::Path,
    sync::{Arc, atomic::AtomicBool},
    time::Duration,
};

use super::{
    format::{Colors, Printer},
    naming::Naming,
    options::{ArgNames, Invocation, UsageError, help_text, parse, usage_text},
    report::IostatReport,
    run::run_reports,
    source::StatFiles,
    system::{LiveClock, host, iso_dates, strftime_now},
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

/// What happened, for the caller to turn into an exit code.
pub enum Outcome {
    Done,
    /// Usage error or unreadable counters: the message is printed, exit with this code.
    Failed(u8),
    /// `--cgroups`: the per-cgroup report, which needs the probes.
    Cgroups(Box<super::options::IostatOptions>),
}

pub fn run(program: &str, args: &[String]) -> Outcome {
    let names = SystemNames(Naming::default());
    let options = match parse(args, &names) {
        Ok(Invocation::Report(options)) => options,
        Ok(Invocation::Version) => {
            println!(
                "blkscope {} (iostat of sysstat 12.6.1)",
                env!("CARGO_PKG_VERSION")
            );
            return Outcome::Done;
        }
        Ok(Invocation::Help) => {
            print!("{}", help_text(program));
            return Outcome::Done;
        }
        Err(UsageError::Usage) => {
            eprint!("{}", usage_text(program));
            return Outcome::Failed(1);
        }
        Err(err @ UsageError::PersistentType) => {
            eprintln!("{err}");
            return Outcome::Failed(1);
        }
    };
    if options.cgroups {
        return Outcome::Cgroups(options);
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
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        if let Err(err) = signal_hook::flag::register(signal, Arc::clone(&stop)) {
            eprintln!("{program}: installing the signal handler: {err}");
            return Outcome::Failed(2);
        }
    }
    let interval = Duration::from_secs(options.interval.max(1));
    let date = strftime_now(if iso_dates() { "%Y-%m-%d" } else { "%x" });
    let host = host(Path::new("/sys"));
    let mut report = IostatReport::new(*options, printer, names.0, &files);
    let mut clock = LiveClock::new(files, interval, stop);
    let mut stdout = std::io::stdout().lock();
    match run_reports(&mut report, &host, &date, &mut clock, &mut stdout) {
        Ok(()) => Outcome::Done,
        // A closed pipe (iostat | head) ends the reports quietly, as it does for iostat.
        Err(super::run::RunError::Output(err)) if err.kind() == std::io::ErrorKind::BrokenPipe => {
            Outcome::Done
        }
        Err(err) => {
            let _ = stdout.flush();
            eprintln!("{err}");
            Outcome::Failed(2)
        }
    }
}
