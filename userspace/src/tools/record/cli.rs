//! Entry point of `blkscope record` / `blktrace`: options in, exit status out.

use super::options::{self, Command, USAGE, UsageError};
use super::run::run;
use crate::cli::caller::{Caller, StockHelp};

/// Runs a recording with `args` (without the program name); returns the exit status (usage
/// errors: 2 as `blkscope record`, blktrace's 1 as `blktrace`).
pub fn main(caller: &Caller, args: &[std::ffi::OsString]) -> u8 {
    let program = caller.program();
    let o = match options::parse(args) {
        Ok(Command::Record(o)) => o,
        Ok(Command::Version) => {
            println!(
                "{program} version 2.0.0 (blkscope {}, blktrace compatible)",
                env!("CARGO_PKG_VERSION")
            );
            return 0;
        }
        // blktrace prints its usage on stderr and exits 1.
        Ok(Command::Help) => return caller.help(USAGE, StockHelp { exit_code: 1 }),
        // A devices file (-I) that cannot be read is a failed input, not a misused command.
        Err(e @ UsageError::DeviceList { .. }) => {
            eprintln!("{program}: {e}");
            return 1;
        }
        Err(e) => {
            eprintln!("{program}: {e}");
            eprint!("{USAGE}");
            return caller.usage_error(1);
        }
    };
    if let Some(path) = &o.btf {
        crate::kernel::btf_layout::use_btf_file(path);
    }
    match run(&o) {
        Ok(finished) => {
            if finished.summary_to_stderr {
                eprint!("{}", finished.summary);
            } else {
                print!("{}", finished.summary);
            }
            if let Some(drops) = finished.drops {
                eprint!("{drops}");
            }
            0
        }
        Err(e) => {
            eprintln!("{program}: {e}");
            1
        }
    }
}
