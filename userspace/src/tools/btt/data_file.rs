//! The plot-data files btt writes while it reads (`-B -l -L -m -q -Q -s -z -Z`): named after
//! an option's value and a device, created when the device is first seen, and removed at the
//! end when nothing was written to them, as btt removes its empty files on exit.

use std::ffi::OsString;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

/// `NAME_DEVICE_POST.dat` (or `NAME_DEVICE.dat` without `post`), any bytes in NAME.
pub fn device_file_name(name: &Path, device: &str, post: Option<&str>) -> PathBuf {
    let mut path = OsString::from(name);
    path.push("_");
    path.push(device);
    if let Some(post) = post {
        path.push("_");
        path.push(post);
    }
    path.push(".dat");
    PathBuf::from(path)
}

/// One data file; written through a buffer, removed on `finish` when empty.
pub struct DataFile {
    path: PathBuf,
    out: BufWriter<File>,
    written: bool,
}

impl DataFile {
    /// Creates the file; one that cannot be created is reported and left out (btt goes on
    /// without it).
    pub fn create(path: PathBuf) -> Option<DataFile> {
        match File::create(&path) {
            Ok(f) => Some(DataFile {
                path,
                out: BufWriter::with_capacity(64 * 1024, f),
                written: false,
            }),
            Err(e) => {
                eprintln!("{}: {e}", path.display());
                None
            }
        }
    }

    /// Flushes the file, and removes it when nothing was written.
    pub fn finish(mut self) -> io::Result<()> {
        self.out.flush().map_err(|e| with_path(&self.path, e))?;
        if !self.written {
            std::fs::remove_file(&self.path).map_err(|e| with_path(&self.path, e))?;
        }
        Ok(())
    }
}

impl Write for DataFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.written |= !buf.is_empty();
        self.out.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

/// An I/O error that names the file it happened on.
pub fn with_path(path: &Path, e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("{}: {e}", path.display()))
}

/// Finishes every file given, stopping at the first error.
pub fn finish_all(files: impl IntoIterator<Item = Option<DataFile>>) -> io::Result<()> {
    for f in files.into_iter().flatten() {
        f.finish()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_btt() {
        let p = device_file_name(Path::new("seek"), "8,0", Some("d2d_r"));
        assert_eq!(p, PathBuf::from("seek_8,0_d2d_r.dat"));
        let p = device_file_name(Path::new("up"), "sda", None);
        assert_eq!(p, PathBuf::from("up_sda.dat"));
    }
}
