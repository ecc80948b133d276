//! Known workloads: single direct I/Os of a given size at a given offset, each in its own `dd`
//! process so that the issuing pid and comm are known.

use std::process::Command;

/// One I/O of the workload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DirectIo {
    pub write: bool,
    /// Byte offset on the device (a multiple of 512).
    pub offset: u64,
    /// Bytes (a multiple of 512).
    pub bytes: u64,
}

impl DirectIo {
    pub const fn read(offset: u64, bytes: u64) -> Self {
        Self {
            write: false,
            offset,
            bytes,
        }
    }

    pub const fn write(offset: u64, bytes: u64) -> Self {
        Self {
            write: true,
            offset,
            bytes,
        }
    }

    pub fn sector(&self) -> u64 {
        self.offset / 512
    }

    /// Runs the I/O with `dd` (O_DIRECT, one block); returns dd's pid.
    pub fn run(&self, device: &str) -> u32 {
        let bs = format!("bs={}", self.bytes);
        let mut cmd = Command::new("dd");
        if self.write {
            cmd.args([
                "if=/dev/zero".to_owned(),
                format!("of={device}"),
                bs,
                "count=1".into(),
                format!("seek={}", self.offset),
                "oflag=direct,seek_bytes".into(),
                "conv=notrunc".into(),
            ]);
        } else {
            cmd.args([
                format!("if={device}"),
                "of=/dev/null".to_owned(),
                bs,
                "count=1".into(),
                format!("skip={}", self.offset),
                "iflag=direct,skip_bytes".into(),
            ]);
        }
        let child = cmd
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("starting dd");
        let pid = child.id();
        let output = child.wait_with_output().expect("waiting for dd");
        assert!(output.status.success(), "dd {self:?} failed");
        pid
    }
}
