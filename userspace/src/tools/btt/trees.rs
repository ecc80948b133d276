//! `-P` (`--per-io-trees`): per device a file `DEVICE_pit.dat` (the device's `-M` name, else
//! `MAJ,MIN`) with a line per completion: the queue time of each I/O it completes, then
//! `| ISSUE | COMPLETE`. btt takes a name with the option but never uses it; so do we.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufWriter, Write};

/// btt's "no time" (`(__u64)-1`), printed as is when none of the completed I/Os was issued.
const NO_TIME: u64 = u64::MAX;

/// The open `_pit.dat` files, by dev_t.
#[derive(Default)]
pub struct IoTrees {
    files: HashMap<u32, Option<BufWriter<File>>>,
}

impl IoTrees {
    /// Creates a device's file when the device is first seen, as btt does (a file that cannot
    /// be created is reported and left out).
    pub fn add_device(&mut self, dev: u32, name: &str) {
        let path = format!("{name}_pit.dat");
        let file = match File::create(&path) {
            Ok(f) => Some(BufWriter::new(f)),
            Err(e) => {
                eprintln!("{path}: {e}");
                None
            }
        };
        self.files.insert(dev, file);
    }

    /// One completion of `dev`: the queue times of the I/Os it completes, and the issue time
    /// of the last of them that was issued.
    pub fn completion(
        &mut self,
        dev: u32,
        queued: &[u64],
        issued: Option<u64>,
        completed: u64,
    ) -> io::Result<()> {
        let Some(Some(out)) = self.files.get_mut(&dev) else {
            return Ok(());
        };
        for &q in queued {
            write!(out, "{} ", stamp(q))?;
        }
        writeln!(
            out,
            "| {} | {}",
            stamp(issued.unwrap_or(NO_TIME)),
            stamp(completed)
        )
    }

    pub fn flush(&mut self) -> io::Result<()> {
        for out in self.files.values_mut().flatten() {
            out.flush()?;
        }
        Ok(())
    }
}

/// btt's `%d.%09lu` of `(int)SECONDS(t)` and `NANO_SECONDS(t)`.
fn stamp(t: u64) -> String {
    format!("{}.{:09}", (t / 1_000_000_000) as i32, t % 1_000_000_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_print_as_btt_prints_them() {
        assert_eq!(stamp(3_000_000_042), "3.000000042");
        // (int) of 18446744073 seconds, as btt prints an I/O never issued.
        assert_eq!(stamp(NO_TIME), "1266874889.709551615");
    }
}
