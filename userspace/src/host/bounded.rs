//! Reading a whole file that a user names (or that the system should keep small) with a bound,
//! so that a path to /dev/zero, /dev/urandom or a runaway file is an error, not unbounded
//! memory.

use std::{
    io::{self, Read as _},
    path::Path,
};

/// The most any configuration or /proc, /sys file is allowed to hold: far above the largest
/// real one (/proc/diskstats with thousands of devices is a few hundred KiB).
pub const TEXT_FILE_LIMIT: u64 = 16 << 20;

/// The text of `path`, at most `limit` bytes; an error names what was wrong with it.
pub fn read_text(path: &Path, limit: u64) -> io::Result<String> {
    let file = std::fs::File::open(path)?;
    let mut bytes = Vec::new();
    file.take(limit.saturating_add(1)).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("larger than {limit} bytes: not a file of this kind"),
        ));
    }
    String::from_utf8(bytes)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "not text (invalid UTF-8)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_endless_file_is_an_error_not_a_hang() {
        let err = read_text(Path::new("/dev/zero"), 1 << 16).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert!(err.to_string().contains("larger than 65536 bytes"), "{err}");
    }

    #[test]
    fn a_small_file_is_read_whole() {
        let text = read_text(Path::new("/proc/self/stat"), TEXT_FILE_LIMIT).unwrap();
        assert!(!text.is_empty());
    }
}
