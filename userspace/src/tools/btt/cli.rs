//! Entry point of `blkscope btt` / `btt`: options in, exit status out.

use super::options::{self, Command, USAGE, UsageError};
use super::run::run;
use crate::blktrace::error::report_input_errors;

/// Runs btt with `args` (without the program name); returns the exit status.
pub fn main(program: &str, args: &[std::ffi::OsString]) -> u8 {
    let o = match options::parse(args) {
        Ok(Command::Run(o)) => o,
        Ok(Command::Version) => {
            println!(
                "{program} version 2.09 (blkscope {}, btt 2.09 compatible)",
                env!("CARGO_PKG_VERSION")
            );
            return 0;
        }
        Ok(Command::Help) => {
            eprint!("Usage: {program} {USAGE}");
            return 0;
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
            return 1;
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
