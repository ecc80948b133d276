//! `-u` (`--unplug-hist`): per device `NAME_DEVICE.dat`, how many unplugs (by I/O count, not
//! by timer) released 0-4, 5-9, ... 95-99 and 100 or more I/Os: 21 lines `BUCKET COUNT`,
//! written at the end.

use std::io::{self, Write};
use std::path::Path;

use super::data_file::{DataFile, device_file_name};

const BUCKET_WIDTH: i32 = 5;
const EXCESS: usize = 20;

pub struct UnplugHistogram {
    name: std::path::PathBuf,
    counts: [i32; EXCESS + 1],
}

impl UnplugHistogram {
    pub fn new(name: &Path, device: &str) -> UnplugHistogram {
        UnplugHistogram {
            name: device_file_name(name, device, None),
            counts: [0; EXCESS + 1],
        }
    }

    /// An unplug that released `ios` I/Os (the record's 64-bit count, which btt takes as an
    /// `int`). A count that becomes negative there is out of btt's range (it writes outside
    /// its table); it is left out.
    pub fn unplug(&mut self, ios: u64) {
        let ios = ios as i32;
        if let Ok(bucket) = usize::try_from(ios / BUCKET_WIDTH) {
            let c = &mut self.counts[bucket.min(EXCESS)];
            *c = c.wrapping_add(1);
        }
    }

    /// Writes the file (btt writes it even when every count is zero).
    pub fn finish(self) -> io::Result<()> {
        let Some(mut out) = DataFile::create(self.name) else {
            return Ok(());
        };
        for (i, n) in self.counts.iter().enumerate() {
            writeln!(out, "{i} {n}")?;
        }
        out.finish()
    }
}
