//! Entry point of `blkscope btt` / `btt`: options in, exit status out.

use super::options::{self, Command, HELP, USAGE, UsageError};
use super::run::run;
use crate::blktrace::error::report_input_errors;
use crate::cli::caller::{Caller, StockHelp};

/// Runs btt with `args` (without the program name); returns the exit status (usage errors:
/// 2 as `blkscope btt`, btt's 1 as `btt`).
pub fn main(caller: &Caller, args: &[std::ffi::OsString]) -> u8 {
    let program = caller.program();
    let o = match options::parse(args) {
        Ok(Command::Run(o)) => o,
        Ok(Command::Version) => {
            println!(
                "{program} version 2.09 (blkscope {}, btt 2.09 compatible)",
                env!("CARGO_PKG_VERSION")
            );
            return 0;
        }
        // btt prints its usage on stderr and exits 0.
        Ok(Command::Help) => {
            let text = format!("Usage: {program} {USAGE}{HELP}");
            return caller.help(&text, StockHelp { exit_code: 0 });
        }
        Err(e) => {
            match &e {
                UsageError::Getopt(g) => eprintln!("{program}: {g}"),
                UsageError::NoInput => {}
                other => eprintln!("{program}: {other}"),
            }
            if e.shows_usage() {
                eprint!("Usage: {program} {USAGE}");
            }
            return caller.usage_error(1);
        }
    };
    match run(&o) {
        Ok(finished) => report_input_errors(program, &finished.input_errors),
        Err(e) => {
            eprintln!("{program}: {e}");
            1
        }
    }
}
