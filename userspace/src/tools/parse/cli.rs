//! Entry point of `blkscope parse` / `blkparse`: options in, exit status out.

use super::options::{self, Command, EXTRA_HELP, USAGE, UsageError};
use super::run::{RunError, run};
use crate::blktrace::error::report_input_errors;
use crate::cli::caller::{Caller, StockHelp};

/// Runs blkparse with `args` (without the program name); returns the exit status (usage
/// errors: 2 as `blkscope parse`, blkparse's 1 as `blkparse`).
pub fn main(caller: &Caller, args: &[std::ffi::OsString]) -> u8 {
    let program = caller.program();
    let o = match options::parse(args) {
        Ok(Command::Parse(o)) => o,
        Ok(Command::Version) => {
            // What scripts that check blkparse's version read: "blkparse version 1.2.0".
            println!(
                "{program} version 1.2.0 (blkscope {}, blkparse 1.2 compatible)",
                env!("CARGO_PKG_VERSION")
            );
            return 0;
        }
        // blkparse has no --help: its usage, on stderr, exit 1.
        Ok(Command::Help) => {
            let text = format!("Usage: {program} {USAGE}{EXTRA_HELP}");
            return caller.help(&text, StockHelp { exit_code: 1 });
        }
        Err(e) => {
            match &e {
                UsageError::Getopt(g) => eprintln!("{program}: {g}"),
                UsageError::Value(v) => eprintln!("{v}"),
                UsageError::NoInput => {}
            }
            if e.shows_usage() {
                eprint!("Usage: {program} {USAGE}");
            }
            return caller.usage_error(1);
        }
    };
    match run(&o) {
        Ok(finished) => report_input_errors(program, &finished.input_errors),
        Err(RunError::Open(e)) => {
            eprintln!("{e}");
            1
        }
        Err(e) => {
            eprintln!("{program}: {e}");
            1
        }
    }
}
