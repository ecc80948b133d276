//! biostacks' two layouts: libbpf-tools' (a `COMM PID DISK` line, the stack innermost frame
//! first, a latency histogram, a blank line) and folded stacks for flame graphs.

use crate::model::histogram::{Slots, render_log2};

/// One process's I/O through one kernel stack on one disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StackRow {
    pub comm: String,
    pub pid: u32,
    pub disk: String,
    /// With `--containers`: the queueing task's container.
    pub container: Option<String>,
    /// Function names, innermost first.
    pub frames: Vec<String>,
    pub latencies: Slots,
}

impl StackRow {
    pub fn ios(&self) -> u64 {
        self.latencies.iter().sum()
    }
}

/// Frames of the probe machinery itself (the tracepoint's BPF glue), not of the I/O's path.
pub fn is_probe_frame(name: &str) -> bool {
    ["bpf_", "__bpf_", "__traceiter_"]
        .iter()
        .any(|prefix| name.starts_with(prefix))
}

/// libbpf-tools' layout.
pub fn render_text(rows: &[StackRow], unit: &str) -> String {
    let mut out = String::new();
    for row in rows {
        let comm: String = row.comm.chars().take(14).collect();
        out.push_str(&format!("{comm:<14} {:<6} {:<7}", row.pid, row.disk));
        if let Some(container) = &row.container {
            out.push_str(&format!(" {container}"));
        }
        out.push('\n');
        for frame in &row.frames {
            out.push_str(frame);
            out.push('\n');
        }
        out.push_str(&render_log2(&row.latencies, unit));
        out.push('\n');
    }
    out
}

/// Folded stacks: `comm;outermost;...;innermost COUNT`, the I/Os of each.
pub fn render_folded(rows: &[StackRow]) -> String {
    let mut out = String::new();
    for row in rows {
        if let Some(container) = &row.container {
            out.push_str(&container.replace(';', "_"));
            out.push(';');
        }
        out.push_str(&row.comm.replace(';', "_"));
        for frame in row.frames.iter().rev() {
            out.push(';');
            out.push_str(frame);
        }
        out.push_str(&format!(" {}\n", row.ios()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row() -> StackRow {
        let mut latencies = [0; 32];
        latencies[3] = 5;
        StackRow {
            comm: "dd".into(),
            pid: 42,
            disk: "loop0".into(),
            container: None,
            frames: vec!["submit_bio".into(), "blkdev_read_iter".into()],
            latencies,
        }
    }

    #[test]
    fn libbpf_tools_layout_and_folded_stacks() {
        let text = render_text(&[row()], "usecs");
        assert!(
            text.starts_with(
                "dd             42     loop0  \nsubmit_bio\nblkdev_read_iter\n     usecs "
            ),
            "{text}"
        );
        assert!(text.ends_with("|\n\n"), "{text}");
        assert_eq!(
            render_folded(&[row()]),
            "dd;blkdev_read_iter;submit_bio 5\n"
        );
        let contained = StackRow {
            container: Some("docker:web".into()),
            ..row()
        };
        assert!(
            render_text(std::slice::from_ref(&contained), "usecs")
                .starts_with("dd             42     loop0   docker:web\n")
        );
        assert!(render_folded(&[contained]).starts_with("docker:web;dd;"));
        assert!(is_probe_frame("bpf_trace_run2") && is_probe_frame("__traceiter_block_bio_queue"));
        assert!(!is_probe_frame("submit_bio"));
    }
}
