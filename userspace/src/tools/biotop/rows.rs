//! biotop's rows: what the kernel counted, named, grouped and sorted. Pure functions, shared
//! by the batch output and the TUI.

use std::collections::BTreeMap;

use blkscope_common::task_io::{FILE_DEVICE_PAGES, FILE_INODE, TaskIoCounts, TaskIoKey};
use serde::Serialize;

use crate::model::event::DeviceId;

/// What a row stands for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Grouping {
    /// bcc's rows: one per process, direction and disk.
    #[default]
    Process,
    /// One per container (cgroup), direction and disk.
    Container,
    /// One per disk and direction.
    Disk,
    /// One per file (`--files`), direction and disk.
    File,
    /// One per container and file (`--files --containers`): a container's heaviest files.
    ContainerFile,
}

impl Grouping {
    pub fn next(self) -> Self {
        match self {
            Grouping::Process => Grouping::Container,
            Grouping::Container => Grouping::Disk,
            Grouping::Disk => Grouping::File,
            Grouping::File => Grouping::ContainerFile,
            Grouping::ContainerFile => Grouping::Process,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Grouping::Process => "process",
            Grouping::Container => "container",
            Grouping::Disk => "disk",
            Grouping::File => "file",
            Grouping::ContainerFile => "container and file",
        }
    }
}

/// The column rows are ordered by (largest first unless reversed).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SortKey {
    #[default]
    Kbytes,
    Io,
    AvgMs,
    Pid,
    Comm,
}

impl SortKey {
    pub fn next(self) -> Self {
        match self {
            SortKey::Kbytes => SortKey::Io,
            SortKey::Io => SortKey::AvgMs,
            SortKey::AvgMs => SortKey::Pid,
            SortKey::Pid => SortKey::Comm,
            SortKey::Comm => SortKey::Kbytes,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            SortKey::Kbytes => "Kbytes",
            SortKey::Io => "I/O",
            SortKey::AvgMs => "AVGms",
            SortKey::Pid => "PID",
            SortKey::Comm => "COMM",
        }
    }

    /// `-s` values: bcc's column names, lower case.
    pub fn parse(text: &str) -> Option<Self> {
        match text.to_ascii_lowercase().as_str() {
            "kbytes" | "bytes" => Some(SortKey::Kbytes),
            "io" | "i/o" => Some(SortKey::Io),
            "avgms" | "time" => Some(SortKey::AvgMs),
            "pid" => Some(SortKey::Pid),
            "comm" => Some(SortKey::Comm),
            _ => None,
        }
    }
}

/// One line of the table.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TopRow {
    pub pid: u32,
    pub comm: String,
    pub container: String,
    /// With `--files`: the file the I/O carried (path, `[metadata]`, `[journal]`, or `-`).
    pub file: String,
    pub write: bool,
    pub device: DeviceId,
    pub disk: String,
    pub ios: u64,
    pub bytes: u64,
    pub latency_ns: u64,
}

impl TopRow {
    pub fn avg_ms(&self) -> f64 {
        if self.ios == 0 {
            0.0
        } else {
            self.latency_ns as f64 / 1e6 / self.ios as f64
        }
    }
}

/// How to name disks, cgroups and files.
pub struct RowNames<'a> {
    pub disk: &'a mut dyn FnMut(DeviceId) -> String,
    pub container: &'a mut dyn FnMut(u64) -> String,
    /// A file by (file system device, inode number).
    pub file: &'a mut dyn FnMut(DeviceId, u64) -> String,
}

/// The FILE column of a row: its file's path, the device's own pages as `[journal]` (ext4's
/// jbd2 thread writes the journal) or `[metadata]`, or `-`.
fn file_label(key: &TaskIoKey, comm: &str, names: &mut RowNames<'_>) -> String {
    match key.file_kind {
        FILE_INODE => (names.file)(DeviceId::from_kernel(key.file_dev), key.file_ino),
        FILE_DEVICE_PAGES if comm.starts_with("jbd2/") => "[journal]".to_owned(),
        FILE_DEVICE_PAGES => "[metadata]".to_owned(),
        _ => "-".to_owned(),
    }
}

/// The kernel's rows for one interval, named.
pub fn rows_from(interval: &[(TaskIoKey, TaskIoCounts)], names: &mut RowNames<'_>) -> Vec<TopRow> {
    interval
        .iter()
        .map(|(key, counts)| {
            let device = DeviceId::from_kernel(key.dev);
            let comm_len = key
                .comm
                .iter()
                .position(|&b| b == 0)
                .unwrap_or(key.comm.len());
            let comm = String::from_utf8_lossy(&key.comm[..comm_len]).into_owned();
            TopRow {
                pid: key.tgid,
                file: file_label(key, &comm, names),
                comm,
                container: (names.container)(key.cgroup_id),
                write: key.write != 0,
                device,
                disk: (names.disk)(device),
                ios: counts.ios,
                bytes: counts.bytes,
                latency_ns: counts.latency_ns,
            }
        })
        .collect()
}

/// Merges rows that are the same under `grouping` (a process seen in two cgroups is one
/// process row; a container's processes are one container row).
pub fn group(rows: &[TopRow], grouping: Grouping) -> Vec<TopRow> {
    type Key = (String, String, u32, String, bool, DeviceId);
    let mut merged: BTreeMap<Key, TopRow> = BTreeMap::new();
    for row in rows {
        let (write, device) = (row.write, row.device);
        let key: Key = match grouping {
            Grouping::Process => (
                String::new(),
                String::new(),
                row.pid,
                row.comm.clone(),
                write,
                device,
            ),
            Grouping::Container => (
                row.container.clone(),
                String::new(),
                0,
                String::new(),
                write,
                device,
            ),
            Grouping::Disk => (
                String::new(),
                String::new(),
                0,
                String::new(),
                write,
                device,
            ),
            Grouping::File => (
                String::new(),
                row.file.clone(),
                0,
                String::new(),
                write,
                device,
            ),
            Grouping::ContainerFile => (
                row.container.clone(),
                row.file.clone(),
                0,
                String::new(),
                write,
                device,
            ),
        };
        let entry = merged.entry(key).or_insert_with(|| {
            let mut first = row.clone();
            first.ios = 0;
            first.bytes = 0;
            first.latency_ns = 0;
            if grouping != Grouping::Process {
                first.pid = 0;
                first.comm = String::new();
            }
            if matches!(grouping, Grouping::Disk | Grouping::File) {
                first.container = String::new();
            }
            if !matches!(grouping, Grouping::File | Grouping::ContainerFile) {
                first.file = String::new();
            }
            first
        });
        entry.ios += row.ios;
        entry.bytes += row.bytes;
        entry.latency_ns += row.latency_ns;
    }
    merged.into_values().collect()
}

/// Orders rows by `key`, largest first (text columns: alphabetical), or the other way round.
pub fn sort(rows: &mut [TopRow], key: SortKey, reverse: bool) {
    rows.sort_by(|a, b| {
        let order = match key {
            SortKey::Kbytes => b.bytes.cmp(&a.bytes),
            SortKey::Io => b.ios.cmp(&a.ios),
            SortKey::AvgMs => b.avg_ms().total_cmp(&a.avg_ms()),
            SortKey::Pid => b.pid.cmp(&a.pid),
            SortKey::Comm => a.comm.cmp(&b.comm).then(a.container.cmp(&b.container)),
        };
        if reverse { order.reverse() } else { order }
    });
}

/// Keeps rows whose command, container or disk contains `text`.
pub fn filter(rows: Vec<TopRow>, text: &str) -> Vec<TopRow> {
    if text.is_empty() {
        return rows;
    }
    rows.into_iter()
        .filter(|r| {
            r.comm.contains(text)
                || r.container.contains(text)
                || r.disk.contains(text)
                || r.file.contains(text)
        })
        .collect()
}

/// The totals of an interval, for the TUI's header.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Totals {
    pub ios: u64,
    pub read_bytes: u64,
    pub write_bytes: u64,
    pub latency_ns: u64,
}

impl Totals {
    pub fn of(rows: &[TopRow]) -> Self {
        let mut totals = Totals::default();
        for row in rows {
            totals.ios += row.ios;
            totals.latency_ns += row.latency_ns;
            if row.write {
                totals.write_bytes += row.bytes;
            } else {
                totals.read_bytes += row.bytes;
            }
        }
        totals
    }

    pub fn avg_ms(&self) -> f64 {
        if self.ios == 0 {
            0.0
        } else {
            self.latency_ns as f64 / 1e6 / self.ios as f64
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(pid: u32, comm: &str, container: &str, write: bool, ios: u64, bytes: u64) -> TopRow {
        TopRow {
            pid,
            comm: comm.into(),
            container: container.into(),
            file: String::new(),
            write,
            device: DeviceId::new(7, 0),
            disk: "loop0".into(),
            ios,
            bytes,
            latency_ns: ios * 2_000_000,
        }
    }

    #[test]
    fn groups_by_container_and_disk() {
        let rows = vec![
            row(1, "dd", "docker:a", false, 2, 8192),
            row(2, "fio", "docker:a", false, 3, 4096),
            row(3, "cp", "docker:b", false, 1, 4096),
            row(3, "cp", "docker:b", true, 1, 4096),
        ];
        let by_container = group(&rows, Grouping::Container);
        assert_eq!(by_container.len(), 3);
        let a = by_container
            .iter()
            .find(|r| r.container == "docker:a")
            .unwrap();
        assert_eq!((a.ios, a.bytes, a.pid), (5, 12288, 0));
        let by_disk = group(&rows, Grouping::Disk);
        assert_eq!(by_disk.len(), 2, "reads and writes of loop0");
        assert_eq!(group(&rows, Grouping::Process).len(), 4);
    }

    #[test]
    fn sorts_and_filters() {
        let mut rows = vec![
            row(1, "a", "", false, 1, 100),
            row(2, "b", "", false, 5, 50),
        ];
        sort(&mut rows, SortKey::Kbytes, false);
        assert_eq!(rows[0].pid, 1);
        sort(&mut rows, SortKey::Io, false);
        assert_eq!(rows[0].pid, 2);
        sort(&mut rows, SortKey::Io, true);
        assert_eq!(rows[0].pid, 1);
        assert_eq!(filter(rows.clone(), "b").len(), 1);
        assert_eq!(filter(rows, "loop").len(), 2);
        assert_eq!(SortKey::parse("io"), Some(SortKey::Io));
        assert_eq!(SortKey::parse("nope"), None);
    }

    #[test]
    fn totals_split_reads_and_writes() {
        let rows = vec![
            row(1, "a", "", false, 2, 100),
            row(2, "b", "", true, 2, 300),
        ];
        let t = Totals::of(&rows);
        assert_eq!((t.ios, t.read_bytes, t.write_bytes), (4, 100, 300));
        assert!((t.avg_ms() - 2.0).abs() < 1e-9);
    }
}
