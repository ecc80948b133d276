//! `cargo xtask`: the project's chores in one place. `./x` at the repository root runs
//! scripts/setup.sh first (it installs the pinned toolchains cargo needs before it can run this).

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{Context as _, bail};

mod bench;
mod bench_exporter;
mod bench_iostat;
mod bench_parse;
mod bench_rates;
mod bench_record;
mod fuzz;
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
    /// Build blkscope (release) and install it: PREFIX/bin/blkscope, the drop-in names in
    /// PREFIX/lib/blkscope/bin, man pages, bash/zsh/fish completions, the exporter's unit
    Install {
        /// Where to install
        #[arg(long, default_value = "/usr/local")]
        prefix: PathBuf,
    },
    /// Build the Debian package (target/debian/blkscope_VERSION_ARCH.deb)
    Package,
    /// Every fuzz target (fuzz/: the trace reader, the getopt parsers, the exporter's HTTP
    /// front) for a bounded time each; installs cargo-fuzz when missing
    Fuzz {
        /// Seconds per target
        #[arg(long, default_value_t = 60)]
        seconds: u64,
        /// Only this target
        #[arg(long)]
        target: Option<String>,
    },
    /// Tracing overhead next to the tools users would pick instead; writes docs/performance/bench-log.md
    Bench {
        /// A few seconds per case (what CI runs); prints the table, writes nothing
        #[arg(long)]
        quick: bool,
        /// Only one section (tracing, record, iostat or parse); with a full run, replaces that
        /// section of docs/performance/bench-log.md and keeps the others
        #[arg(long, value_enum)]
        only: Option<Section>,
        /// Only the tracing rows whose tracer's name contains NAME (repeatable; e.g. `--tracer
        /// record --tracer ftrace`); prints the table, writes nothing
        #[arg(long = "tracer", value_name = "NAME")]
        tracers: Vec<String>,
        /// Only the tracing workloads whose name contains NAME (`io_uring`, `psync`, `ext4`;
        /// repeatable); prints the table, writes nothing
        #[arg(long = "workload", value_name = "NAME")]
        workloads: Vec<String>,
    },
}

/// The sections of docs/performance/bench-log.md, in order.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Section {
    /// fio's IOPS with each tracer attached
    Tracing,
    /// record next to the ftrace blk tracer; event rates without drops; the collector's CPU
    Record,
    /// CPU per report of blkscope iostat and sysstat's
    Iostat,
    /// the exporter's IOPS cost and scrape time with 1,000 cgroups
    Exporter,
    /// parse and btt next to blkparse and btt
    Parse,
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
        Task::Install { prefix } => {
            build(&root, true)?;
            run(Command::new("bash")
                .arg(root.join("scripts/install.sh"))
                .arg(root.join("target/release/blkscope"))
                .arg(&prefix))
        }
        Task::Package => {
            build(&root, true)?;
            let out = root.join("target/debian");
            std::fs::create_dir_all(&out)?;
            run(Command::new("bash")
                .arg(root.join("scripts/package.sh"))
                .arg(root.join("target/release/blkscope"))
                .arg(&out))
        }
        Task::Fuzz { seconds, target } => fuzz::fuzz(&root, seconds, target.as_deref()),
        Task::Bench {
            quick,
            only,
            tracers,
            workloads,
        } => {
            if !is_root() {
                bail!("the bench needs root (loop devices, eBPF, ftrace)");
            }
            run(cargo(&root).args(["build", "--release", "--package", "blkscope"]))?;
            let partial = !tracers.is_empty() || !workloads.is_empty();
            let plan = bench::BenchPlan {
                tracers,
                workloads,
                ..if quick {
                    bench::BenchPlan::quick()
                } else {
                    bench::BenchPlan::full()
                }
            };
            let path = root.join("docs/performance/bench-log.md");
            let old = std::fs::read_to_string(&path).unwrap_or_default();
            let kept = sections(&old);
            // `--tracer` picks rows of the tracing table.
            let only = if partial {
                Some(Section::Tracing)
            } else {
                only
            };
            let wanted = |section| only.is_none_or(|o| o == section);
            let mut report = String::new();
            for (section, kept) in SECTIONS.iter().zip(kept) {
                let text = if wanted(*section) {
                    measure_section(&root, &plan, *section)?
                } else {
                    kept.to_string()
                };
                if !text.trim().is_empty() {
                    report.push_str(text.trim_end());
                    report.push('\n');
                }
            }
            println!("{report}");
            if !quick && !partial {
                std::fs::write(&path, &report).with_context(|| path.display().to_string())?;
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

/// Where the parse bench's part of docs/performance/bench-log.md starts.
const PARSE_SECTION: &str = "\n## Parsing a recorded trace";

const SECTIONS: [Section; 5] = [
    Section::Tracing,
    Section::Record,
    Section::Iostat,
    Section::Exporter,
    Section::Parse,
];

fn measure_section(
    root: &Path,
    plan: &bench::BenchPlan,
    section: Section,
) -> anyhow::Result<String> {
    match section {
        Section::Tracing => bench::run(root, plan),
        Section::Record => bench_record::run(root, plan),
        Section::Iostat => {
            let (devices, reports, rounds) = if plan.quick { (8, 2, 1) } else { (200, 10, 3) };
            bench_iostat::run(root, devices, reports, rounds)
        }
        Section::Exporter => {
            let (cgroups, scrapes) = if plan.quick { (100, 5) } else { (1000, 50) };
            bench_exporter::run(root, plan, cgroups, scrapes)
        }
        Section::Parse => {
            let (ios, rounds) = if plan.quick {
                (20_000, 1)
            } else {
                (400_000, 3)
            };
            bench_parse::run(root, ios, rounds)
        }
    }
}

/// docs/performance/bench-log.md cut into its sections (in `SECTIONS` order, each empty when missing),
/// so that one can be measured again and the others kept.
fn sections(text: &str) -> [&str; 5] {
    // Each section ends where the next present one starts.
    let starts = [
        bench_record::RECORD_SECTION,
        bench_iostat::IOSTAT_SECTION,
        bench_exporter::EXPORTER_SECTION,
        PARSE_SECTION,
    ]
    .map(|heading| text.find(heading).unwrap_or(usize::MAX));
    let mut cuts = [0usize; 6];
    cuts[5] = text.len();
    for i in (1..5).rev() {
        cuts[i] = starts[i - 1].min(cuts[i + 1]);
    }
    std::array::from_fn(|i| &text[cuts[i]..cuts[i + 1]])
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_are_cut_at_their_headings_even_when_some_are_missing() {
        let text =
            "# t\nrows\n\n## Recording (blkscope record)\nr\n\n## Parsing a recorded trace\np\n";
        let [tracing, record, iostat, exporter, parse] = sections(text);
        assert_eq!(tracing, "# t\nrows\n");
        assert!(record.starts_with("\n## Recording") && record.ends_with("r\n"));
        assert_eq!((iostat, exporter), ("", ""));
        assert!(parse.starts_with("\n## Parsing"));
        assert_eq!(sections("# only\n"), ["# only\n", "", "", "", ""]);
    }
}
