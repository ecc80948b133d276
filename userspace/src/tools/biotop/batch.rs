//! bcc biotop's text output, for scripts and pipes: a clear (or blank line), the time and load
//! average, the header and at most MAXROWS rows.

use super::rows::{Grouping, TopRow};

/// What `clear` writes on xterm-like terminals (bcc runs `clear` between intervals).
pub const CLEAR_SCREEN: &str = "\x1b[H\x1b[2J\x1b[3J";

/// Batch options.
#[derive(Clone, Debug)]
pub struct BatchLayout {
    /// `-C`: a blank line instead of clearing the screen.
    pub no_clear: bool,
    /// `-r`: at most this many rows.
    pub max_rows: usize,
    pub grouping: Grouping,
    /// `--container`: a CONTAINER column after bcc's.
    pub container_column: bool,
}

/// One interval's output. `loadavg` is /proc/loadavg as read (its newline included: bcc
/// prints it as is, which leaves a blank line under it).
pub fn render(rows: &[TopRow], layout: &BatchLayout, time: &str, loadavg: &str) -> String {
    let mut out = String::new();
    out.push_str(if layout.no_clear { "\n" } else { CLEAR_SCREEN });
    out.push_str(&format!("{time:<8} loadavg: {loadavg}\n"));
    out.push_str(&header(layout));
    for row in rows.iter().take(layout.max_rows) {
        out.push_str(&line(row, layout));
    }
    out
}

fn header(layout: &BatchLayout) -> String {
    let mut text = match layout.grouping {
        Grouping::Process => format!(
            "{:<7} {:<16} {:1} {:<3} {:<3} {:<8} {:>5} {:>7} {:>6}",
            "PID", "COMM", "D", "MAJ", "MIN", "DISK", "I/O", "Kbytes", "AVGms"
        ),
        Grouping::Container => format!(
            "{:<40} {:1} {:<3} {:<3} {:<8} {:>5} {:>7} {:>6}",
            "CONTAINER", "D", "MAJ", "MIN", "DISK", "I/O", "Kbytes", "AVGms"
        ),
        Grouping::Disk => format!(
            "{:1} {:<3} {:<3} {:<8} {:>5} {:>7} {:>6}",
            "D", "MAJ", "MIN", "DISK", "I/O", "Kbytes", "AVGms"
        ),
        // The path last: it is as long as it is.
        Grouping::File => format!(
            "{:1} {:<3} {:<3} {:<8} {:>5} {:>7} {:>6} {}",
            "D", "MAJ", "MIN", "DISK", "I/O", "Kbytes", "AVGms", "FILE"
        ),
        Grouping::ContainerFile => format!(
            "{:<40} {:1} {:<3} {:<3} {:<8} {:>5} {:>7} {:>6} {}",
            "CONTAINER", "D", "MAJ", "MIN", "DISK", "I/O", "Kbytes", "AVGms", "FILE"
        ),
    };
    if layout.container_column && layout.grouping == Grouping::Process {
        text.push_str(" CONTAINER");
    }
    text.push('\n');
    text
}

fn line(row: &TopRow, layout: &BatchLayout) -> String {
    let direction = if row.write { "W" } else { "R" };
    let tail = format!(
        "{:1} {:<3} {:<3} {:<8} {:>5} {:>7} {:>6.2}",
        direction,
        row.device.major,
        row.device.minor,
        row.disk,
        row.ios,
        python_float(row.bytes as f64 / 1024.0),
        row.avg_ms()
    );
    let mut text = match layout.grouping {
        Grouping::Process => format!("{:<7} {:<16} {tail}", row.pid, row.comm),
        Grouping::Container => format!("{:<40} {tail}", row.container),
        Grouping::Disk => tail,
        Grouping::File => format!("{tail} {}", row.file),
        Grouping::ContainerFile => format!("{:<40} {tail} {}", row.container, row.file),
    };
    if layout.container_column && layout.grouping == Grouping::Process {
        text.push(' ');
        text.push_str(&row.container);
    }
    text.push('\n');
    text
}

/// How Python's `str()` shows a float, as bcc prints `bytes / 1024` with `%s`: `4.0`, `12.5`.
fn python_float(value: f64) -> String {
    if value.fract() == 0.0 && value.abs() < 1e16 {
        format!("{value:.1}")
    } else {
        format!("{value}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::event::DeviceId;

    fn row() -> TopRow {
        TopRow {
            pid: 4242,
            comm: "dd".into(),
            container: "docker:0123456789ab".into(),
            file: "/srv/data".into(),
            write: false,
            device: DeviceId::new(7, 0),
            disk: "loop0".into(),
            ios: 3,
            bytes: 12800,
            latency_ns: 3_000_000,
        }
    }

    #[test]
    fn matches_bcc_biotop_lines() {
        let layout = BatchLayout {
            no_clear: true,
            max_rows: 20,
            grouping: Grouping::Process,
            container_column: false,
        };
        let text = render(&[row()], &layout, "10:11:12", "0.08 0.03 0.01 1/123 4567\n");
        let expected = "\n10:11:12 loadavg: 0.08 0.03 0.01 1/123 4567\n\n\
PID     COMM             D MAJ MIN DISK       I/O  Kbytes  AVGms\n\
4242    dd               R 7   0   loop0        3    12.5   1.00\n";
        assert_eq!(text, expected);
    }

    #[test]
    fn clears_limits_rows_and_adds_container() {
        let layout = BatchLayout {
            no_clear: false,
            max_rows: 1,
            grouping: Grouping::Process,
            container_column: true,
        };
        let text = render(&[row(), row()], &layout, "10:11:12", "0 0 0 1/1 1\n");
        assert!(text.starts_with(CLEAR_SCREEN));
        assert_eq!(text.lines().filter(|l| l.starts_with("4242")).count(), 1);
        assert!(text.contains("AVGms CONTAINER\n"));
        assert!(text.ends_with("   1.00 docker:0123456789ab\n"));
        assert_eq!(python_float(8.0), "8.0");
        assert_eq!(python_float(0.5), "0.5");
    }
}
