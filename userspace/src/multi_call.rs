//! The names blkscope answers to: a symlink named after a view (`biosnoop`, `blkparse`) runs
//! that view, and a tool with its own grammar names itself after the name it was started under.

use std::{ffi::OsString, path::Path};

use blkscope::cli::caller::Caller;

use super::{CLAP_TOOLS, GETOPT_TOOLS};

/// `iostat -x 2` started through a symlink named iostat becomes `blkscope iostat -x 2`.
pub fn multi_call_args(mut args: Vec<OsString>) -> Vec<OsString> {
    let invoked = invoked_name(&args).unwrap_or("blkscope").to_owned();
    let command = GETOPT_TOOLS
        .iter()
        .find(|(_, alias, _)| *alias == invoked)
        .map(|(command, ..)| *command)
        .or_else(|| CLAP_TOOLS.iter().find(|name| **name == invoked).copied());
    if let Some(command) = command {
        args[0] = "blkscope".into();
        args.insert(1, command.into());
    }
    args
}

/// The file name blkscope was started under.
pub fn invoked_name(args: &[OsString]) -> Option<&str> {
    args.first()
        .and_then(|a| Path::new(a).file_name())
        .and_then(|n| n.to_str())
}

/// How a tool with its own grammar was started: through a symlink named `alias` (the stock
/// tool's name), or as `blkscope COMMAND`.
pub fn caller(invoked: &str, alias: &str, command: &str) -> Caller {
    if invoked == alias {
        Caller::drop_in(alias)
    } else {
        Caller::blkscope(command)
    }
}
