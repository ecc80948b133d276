//! The kernel's own blktrace engine, through ftrace's `blk` tracer: the ground truth for which
//! actions blktrace records for a workload (ENVIRONMENT.md).

use std::path::Path;

const TRACEFS: &str = "/sys/kernel/tracing";

/// One record of the blk tracer's text output.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KernelRecord {
    pub action: String,
    pub rwbs: String,
    pub sector: u64,
    pub sectors: u64,
    /// The task running when the record was made (from ftrace's own column).
    pub pid: u32,
}

/// The `blk` tracer enabled on one whole disk; switched off on drop.
pub struct KernelBlkTracer {
    enable: std::path::PathBuf,
}

impl KernelBlkTracer {
    pub fn start(disk_name: &str) -> Self {
        let root = Path::new(TRACEFS);
        if !root.join("events").is_dir() {
            crate::sh("mount", &["-t", "tracefs", "nodev", TRACEFS]);
        }
        write(&root.join("current_tracer"), "nop");
        write(&root.join("trace"), "");
        let enable = Path::new("/sys/block").join(disk_name).join("trace/enable");
        write(&enable, "1");
        write(&root.join("current_tracer"), "blk");
        Self { enable }
    }

    /// Stops tracing and returns every I/O record (those with `sector + sectors`).
    pub fn stop(self) -> Vec<KernelRecord> {
        self.stop_raw().lines().filter_map(parse_line).collect()
    }

    /// Stops tracing and counts every record, plug and unplug included.
    pub fn stop_counting(self) -> usize {
        self.stop_raw()
            .lines()
            .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
            .count()
    }

    /// Stops tracing and returns the tracer's text as it is.
    pub fn stop_text(self) -> String {
        self.stop_raw()
    }

    fn stop_raw(self) -> String {
        let trace = Path::new(TRACEFS).join("trace");
        let text = std::fs::read_to_string(trace).expect("reading trace");
        drop(self);
        text
    }
}

impl Drop for KernelBlkTracer {
    fn drop(&mut self) {
        let _ = std::fs::write(Path::new(TRACEFS).join("current_tracer"), "nop");
        let _ = std::fs::write(&self.enable, "0");
    }
}

fn write(path: &Path, value: &str) {
    std::fs::write(path, value)
        .unwrap_or_else(|e| panic!("writing {value:?} to {}: {e}", path.display()));
}

/// `  dd-8560  [001] d..1.  8131.146779:   7,0    Q  RS 16 + 8 [dd]`
fn parse_line(line: &str) -> Option<KernelRecord> {
    if line.starts_with('#') {
        return None;
    }
    let (task, rest) = line.split_once(" [")?;
    let pid = task.trim().rsplit('-').next()?.parse().ok()?;
    let (_, record) = rest.split_once(": ")?;
    let fields: Vec<&str> = record.split_whitespace().collect();
    // dev action rwbs sector + sectors [...]
    if fields.len() < 6 || fields[4] != "+" {
        return None;
    }
    Some(KernelRecord {
        action: fields[1].to_owned(),
        rwbs: fields[2].to_owned(),
        sector: fields[3].parse().ok()?,
        sectors: fields[5].parse().ok()?,
        pid,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_blk_tracer_lines() {
        let r = parse_line(
            "              dd-8560    [001] d..1.  8131.146779:   7,0    Q  RS 16 + 8 [dd]",
        )
        .unwrap();
        assert_eq!(
            (
                r.action.as_str(),
                r.rwbs.as_str(),
                r.sector,
                r.sectors,
                r.pid
            ),
            ("Q", "RS", 16, 8, 8560)
        );
        let c = parse_line(
            "     ksoftirqd/0-14      [000] d.s1.  8131.150329:   7,0    C  WS 128 + 16 [0]",
        )
        .unwrap();
        assert_eq!((c.action.as_str(), c.pid), ("C", 14));
        assert!(
            parse_line("              dd-8560    [001] d..1.  8131.148216:   7,0    P   N [dd]")
                .is_none()
        );
        assert!(parse_line("# tracer: blk").is_none());
    }
}
