//! zram0 as a bio-based disk for tests: the zram driver takes bios and never makes requests,
//! like device-mapper, md, brd and pmem disks. The guard sizes it and resets it on drop (which
//! frees its memory), also when the test panics.

use std::path::Path;

const ZRAM: &str = "/sys/block/zram0";

/// zram0, sized; reset on drop.
pub struct ZramDisk;

impl ZramDisk {
    /// Sizes zram0 (loading the zram module if needed). Fails the test when zram0 is already
    /// in use: it is not this test's to reset.
    pub fn new(size_mib: u64) -> Self {
        if !Path::new(ZRAM).exists() {
            crate::sh("modprobe", &["zram"]);
        }
        let size = std::fs::read_to_string(format!("{ZRAM}/disksize"))
            .unwrap_or_else(|e| panic!("{ZRAM}/disksize: {e} (no zram0 on this machine)"));
        assert_eq!(
            size.trim(),
            "0",
            "zram0 is in use (disksize {}): not resetting another's disk",
            size.trim()
        );
        std::fs::write(format!("{ZRAM}/disksize"), format!("{size_mib}M"))
            .unwrap_or_else(|e| panic!("sizing zram0: {e}"));
        Self
    }

    pub fn path_str(&self) -> &'static str {
        "/dev/zram0"
    }

    pub fn name(&self) -> &'static str {
        "zram0"
    }
}

impl Drop for ZramDisk {
    fn drop(&mut self) {
        let _ = std::fs::write(format!("{ZRAM}/reset"), "1");
    }
}
