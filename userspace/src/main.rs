//! The `blkscope` command: maps the name it was invoked under and its arguments to one tool,
//! and the tool's result to an exit code. Nothing else lives here: each tool's arguments,
//! wiring and output are in `blkscope::tools::NAME` (docs/ARCHITECTURE.md).

use std::{ffi::OsString, process::ExitCode};

use blkscope::run::output::claim_stdout;
use blkscope::tools::{
    biolatency, biopattern, biosnoop, biostacks, biotop, bitesize, btt, check, exporter, ext4dist,
    ext4slower, iostat, parse, record, report, trace,
};
use clap::{CommandFactory, Parser};

mod commands;
mod install_files;
mod multi_call;

use commands::{Cli, Command};

use blkscope::cli::caller::Caller;
use multi_call::{caller, invoked_name, multi_call_args};

/// A tool that parses its own command line (iostat's, blktrace's, blkparse's, btt's grammar,
/// where `-h` is not help): its `main` gets the name it was started under (the stock tool's
/// link or `blkscope COMMAND`, which decides its conventions) and the arguments after it, and
/// returns the exit code.
type OwnMain = fn(&Caller, &[OsString]) -> u8;

/// `(command, multi-call name, main)` of the tools with a grammar of their own.
pub(crate) const GETOPT_TOOLS: [(&str, &str, OwnMain); 4] = [
    ("iostat", "iostat", iostat::cli::main),
    ("record", "blktrace", record::cli::main),
    ("parse", "blkparse", parse::cli::main),
    ("btt", "btt", btt::cli::main),
];

/// Multi-call names of the clap tools: a symlink `biosnoop -> blkscope` runs `blkscope biosnoop`.
pub(crate) const CLAP_TOOLS: [&str; 8] = [
    "biosnoop",
    "biotop",
    "biolatency",
    "bitesize",
    "biopattern",
    "biostacks",
    "ext4slower",
    "ext4dist",
];

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    let raw: Vec<OsString> = std::env::args_os().collect();
    let invoked = invoked_name(&raw).unwrap_or("blkscope").to_owned();
    let args = multi_call_args(raw);
    // Every tool but the exporter prints its results on stdout (the exporter serves them, and
    // a scraper hanging up must not end it).
    if args.get(1).is_none_or(|a| a != "exporter")
        && let Err(err) = claim_stdout()
    {
        eprintln!("blkscope: {err}");
        return ExitCode::FAILURE;
    }
    if let Some(command) = args.get(1).and_then(|a| a.to_str())
        && let Some((_, alias, main)) = GETOPT_TOOLS.iter().find(|(c, ..)| *c == command)
    {
        return ExitCode::from(main(&caller(&invoked, alias, command), &args[2..]));
    }
    // `blkscope help iostat`: the tool's own help, which clap does not know.
    if args.get(1).is_some_and(|a| a == "help")
        && let Some(command) = args.get(2).and_then(|a| a.to_str())
        && let Some((.., main)) = GETOPT_TOOLS.iter().find(|(c, ..)| *c == command)
    {
        return ExitCode::from(main(&Caller::blkscope(command), &["--help".into()]));
    }
    let cli = Cli::parse_from(args);
    if let Some(path) = &cli.btf {
        blkscope::kernel::btf_layout::use_btf_file(path);
    }
    let result = match cli.command {
        Command::Trace(args) => trace::run(args),
        Command::Biosnoop(args) => biosnoop::run(args),
        Command::Biolatency(args) => biolatency::run(args),
        Command::Biotop(args) => biotop::run(args),
        Command::Bitesize(args) => bitesize::run(args),
        Command::Biopattern(args) => biopattern::run(args),
        Command::Biostacks(args) => biostacks::run(args),
        Command::Ext4slower(args) => ext4slower::run(args),
        Command::Ext4dist(args) => ext4dist::run(args),
        Command::Exporter(args) => exporter::run(&args),
        Command::Report(args) => report::run(args),
        Command::InstallFiles(args) => install_files::run(&args, Cli::command()),
        Command::Check(args) => match check::run(&args) {
            Ok(true) => Ok(()),
            Ok(false) => return ExitCode::FAILURE,
            Err(err) => Err(err),
        },
        // Dispatched above, before clap would misread their grammar.
        Command::Iostat(_) | Command::Record(_) | Command::Parse(_) | Command::Btt(_) => {
            Err(anyhow::anyhow!("expected to be dispatched before clap"))
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("blkscope: {err:#}");
            ExitCode::FAILURE
        }
    }
}
