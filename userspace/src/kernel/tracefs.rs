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

/// Byte offset of `field` in the records of tracepoint `category:name`, from its format file
/// (`field:unsigned long fd;\toffset:16;\tsize:8;\tsigned:0;`).
pub fn field_offset(root: &Path, category: &str, name: &str, field: &str) -> Option<usize> {
    let format =
        std::fs::read_to_string(root.join("events").join(category).join(name).join("format"))
            .ok()?;
    parse_field_offset(&format, field)
}

fn parse_field_offset(format: &str, field: &str) -> Option<usize> {
    format.lines().find_map(|line| {
        let declaration = line.trim().strip_prefix("field:")?.split(';').next()?;
        let name = declaration.rsplit([' ', '*']).next()?;
        if name != field {
            return None;
        }
        let offset = line.split("offset:").nth(1)?.split(';').next()?;
        offset.trim().parse().ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_field_offsets_from_format_files() {
        let format = "name: sys_enter_pread64\nformat:\n\tfield:int __syscall_nr;\toffset:8;\tsize:4;\tsigned:1;\n\
                      \tfield:unsigned int fd;\toffset:16;\tsize:8;\tsigned:0;\n\
                      \tfield:char * buf;\toffset:24;\tsize:8;\tsigned:0;\n\
                      \tfield:loff_t pos;\toffset:40;\tsize:8;\tsigned:1;\n";
        assert_eq!(parse_field_offset(format, "fd"), Some(16));
        assert_eq!(parse_field_offset(format, "buf"), Some(24));
        assert_eq!(parse_field_offset(format, "pos"), Some(40));
        assert_eq!(parse_field_offset(format, "nope"), None);
    }
}
