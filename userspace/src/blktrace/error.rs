//! Errors met while reading a trace: each names the file and the byte offset of the record.

use std::path::PathBuf;

/// What is wrong with the bytes at an offset.
#[derive(Debug, thiserror::Error)]
pub enum CorruptKind {
    #[error("truncated record: {needed} bytes needed, the file ends after {found}")]
    Truncated { needed: usize, found: usize },
    #[error("bad magic 0x{0:08x} (not a blktrace record; garbage or a misaligned file)")]
    BadMagic(u32),
    #[error("unsupported trace version 0x{0:02x} (only 0x07 exists)")]
    BadVersion(u32),
    #[error("CPU number {0} out of range (a trace has at most {max} CPUs)", max = super::format::MAX_CPUS)]
    BadCpu(u32),
    #[error("record of CPU {record} in the file of CPU {file}")]
    WrongCpu { file: u32, record: u32 },
    #[error("time goes backwards: {now} ns after {before} ns in the same CPU's file")]
    TimeBackwards { before: u64, now: u64 },
    #[error("read failed: {0}")]
    Io(#[from] std::io::Error),
}

/// A problem in one input, at one byte offset.
#[derive(Debug, thiserror::Error)]
#[error("{}: offset {offset}: {kind}", path.display())]
pub struct TraceError {
    pub path: PathBuf,
    pub offset: u64,
    pub kind: CorruptKind,
}

impl TraceError {
    /// Whether reading the file had to stop here (all but ordering and CPU warnings).
    pub fn is_fatal(&self) -> bool {
        !matches!(
            self.kind,
            CorruptKind::WrongCpu { .. }
                | CorruptKind::TimeBackwards { .. }
                | CorruptKind::BadCpu(_)
        )
    }
}

/// Prints the problems met in the input (after everything valid was output), one line each
/// as `PROGRAM: FILE: offset N: ...`; returns the exit status: 1 when there were any.
pub fn report_input_errors(program: &str, errors: &[TraceError]) -> u8 {
    for e in errors {
        eprintln!("{program}: {e}");
    }
    u8::from(!errors.is_empty())
}
