//! ext4slower's output: bcc's header and lines, its CSV (`-j`), or JSON.

use crate::model::fs_op::{FileSystem, SlowOp};

/// How ext4slower prints.
#[derive(Clone, Debug, Default)]
pub struct SlowerLayout {
    /// `-j`: bcc's CSV.
    pub csv: bool,
    pub json: bool,
    /// `-P`: the full path (where known) in FILENAME instead of the file's name.
    pub full_path: bool,
    /// `--container`: a CONTAINER column before FILENAME... after it, to keep bcc's columns.
    pub container: bool,
}

/// The banner (for stderr) once the probes are attached; none for JSON and CSV, as in bcc.
pub fn slower_banner(fs: FileSystem, min_ms: u64, layout: &SlowerLayout) -> Option<String> {
    if layout.json || layout.csv {
        return None;
    }
    Some(if min_ms == 0 {
        format!("Tracing {} operations... Hit Ctrl-C to end.", fs.name())
    } else {
        format!(
            "Tracing {} operations slower than {min_ms} ms... Hit Ctrl-C to end.",
            fs.name()
        )
    })
}

/// The column header printed before the first event.
pub fn slower_header(layout: &SlowerLayout) -> Option<String> {
    if layout.json {
        return None;
    }
    if layout.csv {
        return Some("ENDTIME_us,TASK,PID,TYPE,BYTES,OFFSET_b,LATENCY_us,FILE".to_owned());
    }
    let mut columns = format!(
        "{:<8} {:<14} {:<6} {:1} {:<7} {:<8} {:>7} {}",
        "TIME", "COMM", "PID", "T", "BYTES", "OFF_KB", "LAT(ms)", "FILENAME"
    );
    if layout.container {
        columns.push_str(" CONTAINER");
    }
    Some(columns)
}

/// One event's line (`time` is the wall clock, HH:MM:SS, as bcc prints it).
pub fn slower_line(op: &SlowOp, layout: &SlowerLayout, time: &str) -> String {
    let name = if layout.full_path {
        op.path.as_deref().unwrap_or(&op.file)
    } else {
        &op.file
    };
    if layout.json {
        return serde_json::to_string(op).unwrap_or_default();
    }
    if layout.csv {
        return format!(
            "{},{},{},{},{},{},{},{}",
            op.timestamp_ns / 1000,
            op.comm,
            op.pid,
            op.op,
            op.bytes,
            op.offset,
            op.latency_us,
            name
        );
    }
    let comm: String = op.comm.chars().take(14).collect();
    let mut line = format!(
        "{:<8} {:<14} {:<6} {:1} {:<7} {:<8} {:>7.2} {}",
        time,
        comm,
        op.pid,
        op.op,
        op.bytes,
        op.offset / 1024,
        op.latency_us as f64 / 1000.0,
        name
    );
    if layout.container {
        line.push(' ');
        line.push_str(op.container.as_deref().unwrap_or("?"));
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        host::mounts::MountTable,
        model::fs_op::{decode, test_event},
    };
    use blkscope_common::fs_latency::FsOp;

    #[test]
    fn lines_match_bcc_ext4slower() {
        let op = decode(
            &test_event(FsOp::Write, &["log", "/"], true),
            &MountTable::default(),
        )
        .unwrap();
        let layout = SlowerLayout::default();
        assert_eq!(
            slower_banner(FileSystem::Ext4, 10, &layout).unwrap(),
            "Tracing ext4 operations slower than 10 ms... Hit Ctrl-C to end."
        );
        assert_eq!(
            slower_header(&layout).unwrap(),
            "TIME     COMM           PID    T BYTES   OFF_KB   LAT(ms) FILENAME"
        );
        assert_eq!(
            slower_banner(FileSystem::Ext4, 0, &layout).unwrap(),
            "Tracing ext4 operations... Hit Ctrl-C to end."
        );
        assert_eq!(
            slower_line(&op, &layout, "06:35:01"),
            "06:35:01 dd             4242   W 4096    8          12.35 log"
        );
        let csv = SlowerLayout {
            csv: true,
            ..Default::default()
        };
        assert_eq!(slower_banner(FileSystem::Ext4, 10, &csv), None);
        assert_eq!(
            slower_header(&csv).unwrap(),
            "ENDTIME_us,TASK,PID,TYPE,BYTES,OFFSET_b,LATENCY_us,FILE"
        );
        assert_eq!(
            slower_line(&op, &csv, ""),
            "5000000,dd,4242,W,4096,8192,12345,log"
        );
    }
}
