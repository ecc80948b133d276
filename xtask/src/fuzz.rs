//! `cargo xtask fuzz`: every cargo-fuzz target in fuzz/ for a bounded time each, from its seeds
//! in fuzz/seeds/TARGET and the corpus earlier runs grew (target/fuzz-corpus/TARGET, kept
//! between runs). A crash, a leak, a timeout or memory over the limit fails the run and names
//! the input libFuzzer saved.

use std::{
    path::{Path, PathBuf},
    process::{Command, Stdio},
};

use anyhow::{Context as _, bail};

/// The fuzz targets (fuzz/fuzz_targets/NAME.rs).
pub const TARGETS: [&str; 3] = ["reader", "getopt", "exporter_http"];

/// cargo-fuzz, pinned like the other tools setup installs.
const CARGO_FUZZ_VERSION: &str = "0.13.2";

pub fn fuzz(root: &Path, seconds: u64, only: Option<&str>) -> anyhow::Result<()> {
    let targets: Vec<&str> = match only {
        None => TARGETS.to_vec(),
        Some(name) if TARGETS.contains(&name) => vec![name],
        Some(name) => bail!(
            "no fuzz target {name:?}; the targets: {}",
            TARGETS.join(", ")
        ),
    };
    // Sanitizers need nightly: the one the probes are built with.
    let nightly = channel_of(&root.join("probes/ebpf/rust-toolchain.toml"))?;
    install_cargo_fuzz(&channel_of(&root.join("rust-toolchain.toml"))?)?;
    for target in targets {
        let corpus = root.join("target/fuzz-corpus").join(target);
        std::fs::create_dir_all(&corpus).with_context(|| corpus.display().to_string())?;
        eprintln!("fuzz: {target} for {seconds} s");
        let status = rustup_cargo(&nightly)
            .current_dir(root.join("fuzz"))
            // The sanitizer build of blkscope leaves the eBPF probes out: nothing here loads them.
            .env("BLKSCOPE_NO_PROBES", "1")
            .args(["fuzz", "run", target])
            .arg(&corpus)
            .arg(root.join("fuzz/seeds").join(target))
            .args([
                "--",
                &format!("-max_total_time={seconds}"),
                "-timeout=20",
                "-rss_limit_mb=2048",
                "-print_final_stats=1",
            ])
            // No target reads stdin; a parser that tried must not wait on a terminal.
            .stdin(Stdio::null())
            .status()
            .context("starting cargo fuzz")?;
        if !status.success() {
            bail!(
                "fuzz target {target} failed ({status}); the input is in {}",
                root.join("fuzz/artifacts").join(target).display()
            );
        }
    }
    Ok(())
}

/// The toolchain a rust-toolchain.toml pins.
fn channel_of(path: &Path) -> anyhow::Result<String> {
    let text = std::fs::read_to_string(path).with_context(|| path.display().to_string())?;
    text.lines()
        .filter_map(|l| l.trim().strip_prefix("channel"))
        .filter_map(|rest| rest.trim().strip_prefix('='))
        .map(|v| v.trim().trim_matches('"').to_owned())
        .next()
        .with_context(|| format!("no channel in {}", path.display()))
}

fn install_cargo_fuzz(toolchain: &str) -> anyhow::Result<()> {
    let installed = Command::new("cargo-fuzz")
        .arg("--version")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains(CARGO_FUZZ_VERSION));
    if installed {
        return Ok(());
    }
    eprintln!("fuzz: installing cargo-fuzz {CARGO_FUZZ_VERSION}");
    let status = rustup_cargo(toolchain)
        .args([
            "install",
            "cargo-fuzz",
            "--locked",
            "--version",
            CARGO_FUZZ_VERSION,
        ])
        .status()
        .context("starting cargo install")?;
    if !status.success() {
        bail!("installing cargo-fuzz {CARGO_FUZZ_VERSION} failed ({status})");
    }
    Ok(())
}

/// rustup's `cargo +TOOLCHAIN`, without the toolchain of the cargo that runs xtask leaking in.
fn rustup_cargo(toolchain: &str) -> Command {
    let mut cmd = Command::new(cargo_proxy());
    cmd.arg(format!("+{toolchain}"));
    for var in [
        "RUSTUP_TOOLCHAIN",
        "CARGO",
        "RUSTC",
        "RUSTDOC",
        "CARGO_TARGET_DIR",
    ] {
        cmd.env_remove(var);
    }
    cmd
}

/// rustup's cargo proxy (which understands `+toolchain`), not the toolchain's own cargo.
fn cargo_proxy() -> PathBuf {
    let home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")));
    match home.map(|h| h.join("bin/cargo")) {
        Some(proxy) if proxy.exists() => proxy,
        _ => PathBuf::from("cargo"),
    }
}
