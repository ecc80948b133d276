//! Builds the eBPF probes (probes/ebpf) with their own pinned nightly toolchain, so that a plain
//! `cargo build` of blkscope builds everything. The object lands in OUT_DIR/blkscope-probes and
//! is embedded in the binary by `kernel::loader`.
use anyhow::{Context as _, anyhow};

const PROBE_PACKAGE: &str = "blkscope-probes";

fn main() -> anyhow::Result<()> {
    // Fuzzing builds (sanitizer flags, which the BPF target cannot take) only need the trace
    // parser: with BLKSCOPE_NO_PROBES set, the probes are left out and loading them fails.
    println!("cargo:rerun-if-env-changed=BLKSCOPE_NO_PROBES");
    if std::env::var_os("BLKSCOPE_NO_PROBES").is_some() {
        let out = std::env::var("OUT_DIR").context("OUT_DIR")?;
        std::fs::write(std::path::Path::new(&out).join("blkscope-probes"), [])
            .context("writing the empty probe object")?;
        return Ok(());
    }
    let metadata = cargo_metadata::MetadataCommand::new()
        .no_deps()
        .exec()
        .context("reading the workspace metadata")?;
    let probes = metadata
        .packages
        .iter()
        .find(|p| p.name.as_str() == PROBE_PACKAGE)
        .ok_or_else(|| anyhow!("package {PROBE_PACKAGE} not found in the workspace"))?;
    let root_dir = probes
        .manifest_path
        .parent()
        .ok_or_else(|| anyhow!("no directory for {}", probes.manifest_path))?;
    let toolchain = probe_toolchain(root_dir.as_std_path())?;
    let package = aya_build::Package {
        name: PROBE_PACKAGE,
        root_dir: root_dir.as_str(),
        ..Default::default()
    };
    aya_build::build_ebpf([package], aya_build::Toolchain::Custom(&toolchain))
}

/// The channel pinned in probes/ebpf/rust-toolchain.toml: one place says which nightly builds
/// the probes (its LLVM must match bpf-linker's).
fn probe_toolchain(probe_dir: &std::path::Path) -> anyhow::Result<String> {
    let path = probe_dir.join("rust-toolchain.toml");
    println!("cargo:rerun-if-changed={}", path.display());
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    text.lines()
        .filter_map(|line| line.trim().strip_prefix("channel"))
        .filter_map(|rest| rest.split('"').nth(1))
        .map(str::to_owned)
        .next()
        .ok_or_else(|| anyhow!("no channel = \"...\" in {}", path.display()))
}
