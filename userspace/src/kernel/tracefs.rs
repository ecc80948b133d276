//! tracefs: where the kernel lists its tracepoints. It is not mounted at boot on every
//! machine (ours included), so blkscope mounts it when it is missing.

use std::path::{Path, PathBuf};

/// The standard mount point.
pub const TRACEFS: &str = "/sys/kernel/tracing";

/// Makes sure tracefs is mounted at [`TRACEFS`]; returns its path.
pub fn ensure_mounted() -> std::io::Result<PathBuf> {
    let root = Path::new(TRACEFS);
    if root.join("events").is_dir() {
        return Ok(root.to_owned());
    }
    nix::mount::mount(
        Some("nodev"),
        root,
        Some("tracefs"),
        nix::mount::MsFlags::empty(),
        None::<&str>,
    )
    .map_err(|errno| std::io::Error::other(format!("mounting tracefs on {TRACEFS}: {errno}")))?;
    Ok(root.to_owned())
}

/// Whether the kernel has the tracepoint `category:name`.
pub fn has_tracepoint(root: &Path, category: &str, name: &str) -> bool {
    root.join("events").join(category).join(name).is_dir()
}
