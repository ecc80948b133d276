//! `iostat --cgroups`: iostat's `-x` columns per cgroup (container) and disk, from the biotop
//! probes' in-kernel per-CPU sums (I/Os, bytes and issue-to-completion time per cgroup, disk
//! and direction), read once per interval.
//!
//! Definitions, where iostat has none for a share of a disk:
//! - r/s, w/s, rkB/s, wkB/s, r_await, w_await: as iostat's, over the cgroup's own requests.
//! - aqu-sz: the cgroup's requests in flight on average (their summed time in flight over the
//!   interval: Little's law, the same quantity as the disk's aqu-sz restricted to the cgroup).
//! - %util: the disk's %util (from /proc/diskstats) times the cgroup's share of the disk's
//!   time in flight, so the rows of one disk add up to the disk's %util.

use std::{collections::BTreeMap, fmt::Write as _};

use blkscope_common::task_io::{TaskIoCounts, TaskIoKey};

use super::format::{Printer, Unit};
use crate::model::event::DeviceId;

/// How the rows are named and grouped.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum CgroupRows {
    /// `--cgroups`: a row per cgroup, named by its path.
    #[default]
    PerCgroup,
    /// `--container`: a row per cgroup, its path and its container.
    PerCgroupWithContainer,
    /// `--containers`: a row per container, the I/O of its cgroups added up.
    PerContainer,
}

impl CgroupRows {
    /// The label columns' headers.
    pub fn headers(self) -> &'static [&'static str] {
        match self {
            CgroupRows::PerCgroup => &["Cgroup"],
            CgroupRows::PerCgroupWithContainer => &["Cgroup", "Container"],
            CgroupRows::PerContainer => &["Container"],
        }
    }
}

/// What a cgroup is called: its path (or raw id when it has none any more) and the label of
/// its container (the path again when it is in none).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CgroupName {
    pub path: String,
    pub container: String,
}

/// One cgroup's requests on one disk during an interval.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CgroupIo {
    pub reads: u64,
    pub read_bytes: u64,
    pub read_ns: u64,
    pub writes: u64,
    pub write_bytes: u64,
    pub write_ns: u64,
}

/// Sums the probes' rows (per process) into rows per (cgroup, disk).
pub fn per_cgroup(rows: &[(TaskIoKey, TaskIoCounts)]) -> BTreeMap<(u64, DeviceId), CgroupIo> {
    let mut sums: BTreeMap<(u64, DeviceId), CgroupIo> = BTreeMap::new();
    for (key, counts) in rows {
        let io = sums
            .entry((key.cgroup_id, DeviceId::from_kernel(key.dev)))
            .or_default();
        if key.write != 0 {
            io.writes += counts.ios;
            io.write_bytes += counts.bytes;
            io.write_ns += counts.latency_ns;
        } else {
            io.reads += counts.ios;
            io.read_bytes += counts.bytes;
            io.read_ns += counts.latency_ns;
        }
    }
    sums
}

impl std::ops::AddAssign for CgroupIo {
    fn add_assign(&mut self, other: CgroupIo) {
        self.reads += other.reads;
        self.read_bytes += other.read_bytes;
        self.read_ns += other.read_ns;
        self.writes += other.writes;
        self.write_bytes += other.write_bytes;
        self.write_ns += other.write_ns;
    }
}

/// The per-cgroup sums under the labels `layout` prints: one entry per cgroup, or per
/// container with its cgroups added up.
pub fn labelled(
    sums: &BTreeMap<(u64, DeviceId), CgroupIo>,
    layout: CgroupRows,
    name: &mut dyn FnMut(u64) -> CgroupName,
) -> BTreeMap<(Vec<String>, DeviceId), CgroupIo> {
    let mut rows: BTreeMap<(Vec<String>, DeviceId), CgroupIo> = BTreeMap::new();
    for ((cgroup_id, disk), io) in sums {
        let CgroupName { path, container } = name(*cgroup_id);
        let labels = match layout {
            CgroupRows::PerCgroup => vec![path],
            CgroupRows::PerCgroupWithContainer => vec![path, container],
            CgroupRows::PerContainer => vec![container],
        };
        *rows.entry((labels, *disk)).or_default() += *io;
    }
    rows
}

/// The printed values of one row.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct CgroupStats {
    pub r_s: f64,
    pub rkb_s: f64,
    pub r_await: f64,
    pub w_s: f64,
    pub wkb_s: f64,
    pub w_await: f64,
    pub aqu_sz: f64,
    pub util: f64,
}

/// Rates over `seconds`; `disk_util` is the disk's %util and `disk_busy_ns` the summed time in
/// flight of every cgroup's requests on that disk in the interval.
pub fn stats(io: &CgroupIo, seconds: f64, disk_util: f64, disk_busy_ns: u64) -> CgroupStats {
    let per_second = |n: u64| n as f64 / seconds;
    let await_ms = |ns: u64, ios: u64| {
        if ios == 0 {
            0.0
        } else {
            ns as f64 / ios as f64 / 1e6
        }
    };
    let busy = io.read_ns + io.write_ns;
    CgroupStats {
        r_s: per_second(io.reads),
        rkb_s: per_second(io.read_bytes) / 1024.0,
        r_await: await_ms(io.read_ns, io.reads),
        w_s: per_second(io.writes),
        wkb_s: per_second(io.write_bytes) / 1024.0,
        w_await: await_ms(io.write_ns, io.writes),
        aqu_sz: busy as f64 / (seconds * 1e9),
        util: if disk_busy_ns == 0 {
            0.0
        } else {
            disk_util * busy as f64 / disk_busy_ns as f64
        },
    }
}

/// A row ready to print.
pub struct CgroupRow {
    /// One per label column (`CgroupRows::headers`).
    pub labels: Vec<String>,
    pub device: String,
    pub stats: CgroupStats,
}

/// One report: a header and a line per (labels, disk), in iostat's widths.
pub fn render(headers: &[&str], rows: &[CgroupRow], printer: &Printer, human: bool) -> String {
    let widths: Vec<usize> = headers
        .iter()
        .enumerate()
        .map(|(column, header)| {
            rows.iter()
                .map(|r| r.labels.get(column).map_or(0, String::len))
                .max()
                .unwrap_or(0)
                .max(header.len())
        })
        .collect();
    let padded = |labels: &mut dyn Iterator<Item = &str>| -> String {
        labels
            .zip(&widths)
            .map(|(label, width)| format!("{label:<width$} "))
            .collect()
    };
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{}Device            r/s     rkB/s r_await     w/s     wkB/s w_await  aqu-sz  %util",
        padded(&mut headers.iter().copied())
    );
    for row in rows {
        printer.item(
            &mut out,
            &format!(
                "{}{:<13}",
                padded(&mut row.labels.iter().map(String::as_str)),
                row.device
            ),
        );
        let s = &row.stats;
        printer.float(&mut out, Unit::None, 7, 2, s.r_s);
        printer.float(&mut out, Unit::None, 9, 2, s.rkb_s);
        printer.float(&mut out, Unit::None, 7, 2, s.r_await);
        printer.float(&mut out, Unit::None, 7, 2, s.w_s);
        printer.float(&mut out, Unit::None, 9, 2, s.wkb_s);
        printer.float(&mut out, Unit::None, 7, 2, s.w_await);
        printer.float(&mut out, Unit::None, 7, 2, s.aqu_sz);
        printer.percent(&mut out, human, 6, 2, s.util);
        out.push('\n');
    }
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(cgroup_id: u64, tgid: u32, write: u32) -> TaskIoKey {
        TaskIoKey {
            tgid,
            dev: DeviceId::new(7, 0).to_kernel(),
            write,
            cgroup_id,
            ..TaskIoKey::default()
        }
    }

    #[test]
    fn processes_add_up_per_cgroup_and_direction() {
        let counts = |ios, bytes, latency_ns| TaskIoCounts {
            ios,
            bytes,
            latency_ns,
        };
        let rows = [
            (key(10, 1, 0), counts(100, 409_600, 50_000_000)),
            (key(10, 2, 0), counts(100, 409_600, 50_000_000)),
            (key(10, 2, 1), counts(50, 409_600, 100_000_000)),
            (key(20, 3, 1), counts(10, 40_960, 50_000_000)),
        ];
        let sums = per_cgroup(&rows);
        let ours = sums[&(10, DeviceId::new(7, 0))];
        assert_eq!(
            (ours.reads, ours.read_bytes, ours.writes),
            (200, 819_200, 50)
        );
        // The disk was 40% busy; cgroup 10 had 200 of the 250 ms in flight.
        let s = stats(&ours, 2.0, 40.0, 250_000_000);
        assert_eq!(
            (s.r_s, s.rkb_s, s.w_s, s.wkb_s),
            (100.0, 400.0, 25.0, 200.0)
        );
        assert_eq!((s.r_await, s.w_await), (0.5, 2.0));
        assert!((s.aqu_sz - 0.1).abs() < 1e-12);
        assert!((s.util - 32.0).abs() < 1e-9);
        let text = render(
            CgroupRows::PerContainer.headers(),
            &[CgroupRow {
                labels: vec!["docker:0123456789ab".into()],
                device: "loop0".into(),
                stats: s,
            }],
            &Printer::default(),
            false,
        );
        assert_eq!(
            text,
            "Container           Device            r/s     rkB/s r_await     w/s     wkB/s w_await  aqu-sz  %util\n\
             docker:0123456789ab loop0          100.00    400.00    0.50   25.00    200.00    2.00    0.10  32.00\n\n"
        );
    }

    #[test]
    fn containers_add_up_their_cgroups_and_cgroups_keep_their_paths() {
        let disk = DeviceId::new(7, 0);
        let io = |reads| CgroupIo {
            reads,
            ..CgroupIo::default()
        };
        let sums = BTreeMap::from([((1, disk), io(3)), ((2, disk), io(4)), ((3, disk), io(5))]);
        let mut name = |id: u64| CgroupName {
            path: format!("/docker-x.scope/child{id}"),
            container: if id == 3 {
                "/other".into()
            } else {
                "docker:x".into()
            },
        };
        let per_container = labelled(&sums, CgroupRows::PerContainer, &mut name);
        assert_eq!(
            per_container
                .iter()
                .map(|((labels, _), io)| (labels.join(" "), io.reads))
                .collect::<Vec<_>>(),
            [("/other".to_owned(), 5), ("docker:x".to_owned(), 7)]
        );
        let per_cgroup = labelled(&sums, CgroupRows::PerCgroupWithContainer, &mut name);
        assert_eq!(per_cgroup.len(), 3);
        assert!(per_cgroup.contains_key(&(
            vec!["/docker-x.scope/child2".to_owned(), "docker:x".to_owned()],
            disk
        )));
        let text = render(
            CgroupRows::PerCgroupWithContainer.headers(),
            &[CgroupRow {
                labels: vec!["/a".into(), "docker:x".into()],
                device: "loop0".into(),
                stats: CgroupStats::default(),
            }],
            &Printer::default(),
            false,
        );
        assert!(
            text.starts_with("Cgroup Container Device            r/s"),
            "{text}"
        );
        assert!(text.contains("\n/a     docker:x  loop0 "), "{text}");
    }
}
