//! `cargo xtask`: the project's chores in one place. `./x` at the repository root runs
//! scripts/setup.sh first (it installs the pinned toolchains cargo needs before it can run this).

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{Context as _, bail};

mod bench;
mod bench_parse;
mod bench_record;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "cargo xtask", about = "blkscope's development tasks")]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Subcommand)]
enum Task {
    /// Install every prerequisite (Debian packages, pinned toolchains, bpf-linker)
    Setup,
    /// Build blkscope (the probes included)
    Build {
        #[arg(long)]
        release: bool,
    },
    /// Build and run blkscope as root: `cargo xtask run -- iostat -x 2`
    Run {
        #[arg(long)]
        release: bool,
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Run every test: unit tests and the integration tests against the real kernel (root)
    Test {
        /// Extra arguments for `cargo test` (e.g. a test name filter)
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// What CI runs: the tests, clippy with warnings denied, and rustfmt's check
    Ci,
    /// Tracing overhead next to the tools users would pick instead; writes docs/PERFORMANCE.md
    Bench {
        /// A few seconds per case (what CI runs); prints the table, writes nothing
        #[arg(long)]
        quick: bool,
        /// Only the parse and btt cases; with a full run, replaces their sections of
        /// docs/PERFORMANCE.md
        #[arg(long)]
        parse_only: bool,
        /// Only the recorder's cases; with a full run, replaces its section of
        /// docs/PERFORMANCE.md
        #[arg(long, conflicts_with = "parse_only")]
        record_only: bool,
    },
}

fn main() -> anyhow::Result<()> {
    let root = workspace_root()?;
    match Cli::parse().task {
        Task::Setup => run(Command::new("bash").arg(root.join("scripts/setup.sh"))),
        Task::Build { release } => build(&root, release),
        Task::Run { release, args } => {
            build(&root, release)?;
            let profile = if release { "release" } else { "debug" };
            let binary = root.join("target").join(profile).join("blkscope");
            run(&mut as_root(&binary, &args))
        }
        Task::Test { args } => test(&root, &args),
        Task::Bench {
            quick,
            parse_only,
            record_only,
        } => {
            if !is_root() {
                bail!("the bench needs root (loop devices, eBPF, ftrace)");
            }
            run(cargo(&root).args(["build", "--release", "--package", "blkscope"]))?;
            let plan = if quick {
                bench::BenchPlan::quick()
            } else {
                bench::BenchPlan::full()
            };
            let path = root.join("docs/PERFORMANCE.md");
            let old = std::fs::read_to_string(&path).unwrap_or_default();
            let (tracing, recording, parsing) = sections(&old);
            let tracing = if parse_only || record_only {
                tracing.to_string()
            } else {
                bench::run(&root, &plan)?
            };
            let recording = if parse_only {
                recording.to_string()
            } else {
                bench_record::run(&root, &plan)?
            };
            let parsing = if record_only {
                parsing.to_string()
            } else {
                let (ios, rounds) = if quick { (20_000, 1) } else { (400_000, 3) };
                bench_parse::run(&root, ios, rounds)?
            };
            let report = format!(
                "{}\n{}\n{}",
                tracing.trim_end(),
                recording.trim_end(),
                parsing.trim_end()
            ) + "\n";
            println!("{report}");
            if !quick {
                std::fs::write(&path, report).with_context(|| path.display().to_string())?;
                eprintln!("written to {}", path.display());
            }
            Ok(())
        }
        Task::Ci => {
            test(&root, &[])?;
            run(cargo(&root).args(["clippy", "--all-targets", "--", "-D", "warnings"]))?;
            run(cargo(&root).args(["fmt", "--all", "--check"]))
        }
    }
}

/// Where the parse bench's part of docs/PERFORMANCE.md starts.
const PARSE_SECTION: &str = "\n## Parsing a recorded trace";

/// docs/PERFORMANCE.md cut into the tracing, recording and parsing sections (each empty when
/// missing), so that one can be measured again and the others kept.
fn sections(text: &str) -> (&str, &str, &str) {
    let parse_at = text.find(PARSE_SECTION).unwrap_or(text.len());
    let record_at = text
        .find(bench_record::RECORD_SECTION)
        .filter(|&at| at < parse_at)
        .unwrap_or(parse_at);
    (
        &text[..record_at],
        &text[record_at..parse_at],
        &text[parse_at..],
    )
}

fn build(root: &Path, release: bool) -> anyhow::Result<()> {
    let mut cmd = cargo(root);
    cmd.args(["build", "--package", "blkscope"]);
    if release {
        cmd.arg("--release");
    }
    run(&mut cmd)
}

/// Unit tests and integration tests in one `cargo test`. The integration tests load eBPF and
/// make loop devices, so they need root: say so up front instead of failing in each test.
fn test(root: &Path, args: &[String]) -> anyhow::Result<()> {
    if !is_root() {
        bail!("the integration tests need root (loop devices, eBPF): run `sudo ./x test`");
    }
    // The CLI tests run the blkscope binary: build it first, whatever the filter.
    run(cargo(root).args(["build", "--package", "blkscope"]))?;
    run(cargo(root)
        .args([
            "test",
            "--workspace",
            "--exclude",
            "blkscope-probes",
            "--no-fail-fast",
        ])
        .args(args))
}

fn cargo(root: &Path) -> Command {
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.current_dir(root);
    cmd
}

/// Runs `binary args` directly when root, through sudo otherwise.
fn as_root(binary: &Path, args: &[String]) -> Command {
    if is_root() {
        let mut cmd = Command::new(binary);
        cmd.args(args);
        cmd
    } else {
        let mut cmd = Command::new("sudo");
        cmd.arg(binary).args(args);
        cmd
    }
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

fn run(cmd: &mut Command) -> anyhow::Result<()> {
    let status = cmd
        .status()
        .with_context(|| format!("starting {:?}", cmd.get_program()))?;
    if !status.success() {
        bail!("{:?} failed ({status})", cmd.get_program());
    }
    Ok(())
}

fn workspace_root() -> anyhow::Result<PathBuf> {
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest_dir
        .parent()
        .map(Path::to_owned)
        .context("xtask has no parent directory")
}
