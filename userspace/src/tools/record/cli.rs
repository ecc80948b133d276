//! Entry point of `blkscope record` / `blktrace`: options in, exit status out.

use super::options::{self, Command, USAGE};
use super::run::run;

/// Runs a recording with `args` (without the program name); returns the exit status.
pub fn main(program: &str, args: &[std::ffi::OsString]) -> u8 {
    let o = match options::parse(args) {
        Ok(Command::Record(o)) => o,
        Ok(Command::Version) => {
            println!(
                "{program} version 2.0.0 (blkscope {}, blktrace compatible)",
                env!("CARGO_PKG_VERSION")
            );
            return 0;
        }
        Ok(Command::Help) => {
            eprint!("{USAGE}");
            return 0;
        }
        Err(e) => {
            eprintln!("{program}: {e}");
            eprint!("{USAGE}");
            return 1;
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
