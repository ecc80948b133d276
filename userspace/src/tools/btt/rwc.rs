//! The file triples of `-B` and `-s`: per device a file for reads (`_r`), one for writes
//! (`_w`) and one for both (`_c`), each line going to its direction's file and the combined.

use std::io::{self, Write};
use std::path::Path;

use super::data_file::{DataFile, device_file_name, finish_all};

pub struct RwcFiles {
    read: Option<DataFile>,
    write: Option<DataFile>,
    combined: Option<DataFile>,
}

impl RwcFiles {
    /// `NAME_DEVICE[_POST]_{r,w,c}.dat`.
    pub fn create(name: &Path, device: &str, post: Option<&str>) -> RwcFiles {
        let open = |rwc: &str| {
            let post = match post {
                Some(p) => format!("{p}_{rwc}"),
                None => rwc.to_string(),
            };
            DataFile::create(device_file_name(name, device, Some(&post)))
        };
        RwcFiles {
            read: open("r"),
            write: open("w"),
            combined: open("c"),
        }
    }

    /// Writes `line` to the direction's file and to the combined one.
    pub fn write_line(&mut self, read: bool, line: &str) -> io::Result<()> {
        let direction = if read {
            &mut self.read
        } else {
            &mut self.write
        };
        for out in [direction, &mut self.combined].into_iter().flatten() {
            out.write_all(line.as_bytes())?;
        }
        Ok(())
    }

    pub fn finish(self) -> io::Result<()> {
        finish_all([self.read, self.write, self.combined])
    }
}
