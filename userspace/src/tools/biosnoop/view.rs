//! biosnoop's view of finished I/Os: which to show and how each prints (bcc's columns, JSON, the
//! CONTAINER column and the per-container summary).
//!
//! Read -> compute -> render: the event stream goes through `inflight::RequestTracker`, which
//! yields `CompletedIo`s; this module only filters and renders them.

use std::collections::HashMap;

use serde::Serialize;

use crate::{
    cgroup::{CgroupNameFilter, CgroupResolver, CgroupSubtree, ContainerName, ContainerSummary},
    host::{device, files::FileNames},
    model::event::{DeviceId, IoFile, Operation, rwbs},
    model::inflight::CompletedIo,
};

/// What to show.
#[derive(Clone, Debug, Default)]
pub struct BiosnoopOptions {
    /// `-Q`: add the time queued in the OS (queue to issue), QUE(ms).
    pub queued: bool,
    /// `-P`: the T column shows the request's operation and flags (rwbs), as libbpf-tools does.
    pub flags: bool,
    /// `-p PID`: only I/O issued by this process.
    pub pid: Option<u32>,
    /// `--json`: one object per I/O.
    pub json: bool,
    /// `-c`: only I/O whose issuer was seen (the kernel filtered the others' queueing).
    pub require_issuer: bool,
    /// `-i`: reading a recording, where a disk this machine does not have is named `MAJ,MIN`
    /// (as blkparse names it) rather than bcc's `<unknown>`.
    pub recorded: bool,
    /// `--stack`: an I/O a stacked device (dm, md) sent down is shown as `dm-0->sda`.
    pub stack: bool,
    /// `--file`: a FILE column (last), the file whose data the I/O carries.
    pub file: bool,
}

/// Renders finished I/Os; the first line's completion time is time zero, as in bcc.
#[derive(Debug, Default)]
pub struct BiosnoopView {
    options: BiosnoopOptions,
    first_completion_ns: Option<u64>,
    names: DeviceNames,
    /// Names cgroups, for the CONTAINER column and for `subtree`.
    cgroups: Option<CgroupResolver>,
    /// `--container`: a CONTAINER column.
    container_column: bool,
    /// `-c PATH` over a recording: only I/O whose issuer's cgroup is in this subtree.
    subtree: Option<CgroupSubtree>,
    /// `--pod`, `--container-name`: only I/O of the containers so named.
    name_filter: Option<CgroupNameFilter>,
    /// `--containers`: each container's I/Os in all, printed at the end.
    summary: Option<ContainerSummary>,
    /// `--file`: paths of inodes.
    files: FileNames,
}

impl BiosnoopView {
    pub fn new(options: BiosnoopOptions) -> Self {
        Self {
            options,
            ..Self::default()
        }
    }

    /// Adds the CONTAINER column (last, so the bcc columns keep their places).
    pub fn with_containers(mut self, resolver: CgroupResolver) -> Self {
        self.cgroups = Some(resolver);
        self.container_column = true;
        self
    }

    /// Only I/O issued from this cgroup subtree, told by the cgroups' paths (over a recording;
    /// live, the kernel filters).
    pub fn with_cgroup_subtree(mut self, subtree: CgroupSubtree, resolver: CgroupResolver) -> Self {
        self.cgroups.get_or_insert(resolver);
        self.subtree = Some(subtree);
        self
    }

    /// Only I/O of the containers `filter` keeps (by their names).
    pub fn with_name_filter(mut self, filter: CgroupNameFilter, resolver: CgroupResolver) -> Self {
        self.cgroups.get_or_insert(resolver);
        self.name_filter = Some(filter);
        self
    }

    /// A recording's name for a container.
    pub fn remember_container(&mut self, id: u64, name: &str) {
        if let Some(resolver) = self.cgroups.as_mut() {
            resolver.remember_name(id, ContainerName::from_display(name));
        }
    }

    /// A recording's path for a file (`record --files`).
    pub fn remember_file(&mut self, dev: DeviceId, ino: u64, path: &str) {
        self.files.remember(dev, ino, path);
    }

    /// A recording's name for a cgroup.
    pub fn remember_cgroup(&mut self, id: u64, path: &str) {
        if let Some(resolver) = self.cgroups.as_mut() {
            resolver.remember(id, path);
        }
    }

    /// Also keeps each container's totals, for `summary` (needs `with_containers`).
    pub fn with_container_summary(mut self) -> Self {
        self.summary = Some(ContainerSummary::default());
        self
    }

    /// With `with_container_summary`: each container's I/Os, bytes and latencies so far (text
    /// or JSON lines, as the I/Os are printed).
    pub fn summary(&self) -> Option<String> {
        let summary = self.summary.as_ref()?;
        Some(summary.render(self.options.json, "I/Os"))
    }

    /// The column header (`None` in JSON mode).
    pub fn header(&self) -> Option<String> {
        if self.options.json {
            return None;
        }
        let mut line = format!(
            "{:<11} {:<14} {:<7} {:<9} {:<width$} {:<10} {:<7} ",
            "TIME(s)",
            "COMM",
            "PID",
            "DISK",
            "T",
            "SECTOR",
            "BYTES",
            width = self.type_width()
        );
        if self.options.queued {
            line.push_str(&format!("{:>7} ", "QUE(ms)"));
        }
        line.push_str(&format!("{:>7}", "LAT(ms)"));
        if self.container_column {
            line.push_str(" CONTAINER");
        }
        if self.options.file {
            line.push_str(" FILE");
        }
        Some(line)
    }

    /// The line for one finished I/O, or `None` when it is filtered out or its issue was not
    /// seen (it started before the trace: bcc skips those too).
    pub fn line(&mut self, io: &CompletedIo) -> Option<String> {
        let issued_ns = io.started_ns()?;
        if let Some(pid) = self.options.pid
            && io.issuer.as_ref().map(|i| i.tgid) != Some(pid)
        {
            return None;
        }
        if self.options.require_issuer && io.issuer.is_none() {
            return None;
        }
        if let Some(subtree) = &self.subtree {
            let path = io
                .issuer
                .as_ref()
                .and_then(|i| self.cgroups.as_mut()?.path(i.cgroup_id));
            if !path.is_some_and(|p| subtree.contains(&p)) {
                return None;
            }
        }
        if let (Some(filter), Some(resolver)) = (&mut self.name_filter, &mut self.cgroups) {
            let kept = io
                .issuer
                .as_ref()
                .is_some_and(|i| filter.keeps(i.cgroup_id, resolver));
            if !kept {
                return None;
            }
        }
        let first = *self.first_completion_ns.get_or_insert(io.completed_ns);
        let recorded = self.options.recorded;
        let mut disk = self
            .names
            .name(io.partition.unwrap_or(io.device), recorded)
            .to_owned();
        if self.options.stack
            && let Some(upper) = io.stacked_on
        {
            disk = format!("{}->{disk}", self.names.name(upper, recorded));
        }
        let mut row = Row::new(io, issued_ns, first, &disk);
        if self.container_column
            && let Some(resolver) = self.cgroups.as_mut()
        {
            let container = io
                .issuer
                .as_ref()
                .map_or_else(|| "?".to_owned(), |i| resolver.label(i.cgroup_id));
            if let Some(summary) = self.summary.as_mut() {
                let latency_ns = io.completed_ns.saturating_sub(issued_ns);
                summary.add(&container, u64::from(io.bytes), latency_ns);
            }
            row.container = Some(container);
            if self.options.json {
                row.container_id = io.issuer.as_ref().map(|i| resolver.id_label(i.cgroup_id));
            }
        }
        if self.options.file {
            row.file = Some(self.file_label(io));
        }
        if self.options.json {
            return serde_json::to_string(&row).ok();
        }
        Some(self.text(&row))
    }

    fn text(&self, row: &Row<'_>) -> String {
        let kind = if self.options.flags {
            row.rwbs.as_str()
        } else {
            row.direction
        };
        let mut line = format!(
            "{:<11.6} {:<14.14} {:<7} {:<9} {:<width$} {:<10} {:<7} ",
            row.time_s,
            row.comm,
            row.pid,
            row.disk,
            kind,
            row.sector,
            row.bytes,
            width = self.type_width()
        );
        if self.options.queued {
            line.push_str(&format!("{:>7.2} ", row.queue_ms.unwrap_or(0.0)));
        }
        line.push_str(&format!("{:>7.2}", row.latency_ms));
        if let Some(container) = &row.container {
            line.push(' ');
            line.push_str(container);
        }
        if let Some(file) = &row.file {
            line.push(' ');
            line.push_str(file.as_deref().unwrap_or("-"));
        }
        line
    }

    /// What the FILE column says: the file's path; `[journal]` or `[metadata]` for the
    /// device's own pages (ext4's journal is written by its jbd2 thread); none otherwise
    /// (a raw device read, swap, a direct I/O where the kernel has no iomap tracepoints).
    fn file_label(&mut self, io: &CompletedIo) -> Option<String> {
        match io.file? {
            IoFile::Inode { dev, ino } => Some(self.files.path(dev, ino)),
            IoFile::DevicePages => {
                let journal = io
                    .issuer
                    .as_ref()
                    .is_some_and(|i| i.comm.starts_with("jbd2/"));
                Some(if journal { "[journal]" } else { "[metadata]" }.to_owned())
            }
        }
    }

    fn type_width(&self) -> usize {
        if self.options.flags { 4 } else { 1 }
    }
}

/// One finished I/O as biosnoop shows it (also its JSON form).
#[derive(Debug, Serialize)]
struct Row<'a> {
    time_s: f64,
    comm: &'a str,
    pid: u32,
    disk: &'a str,
    direction: &'static str,
    rwbs: String,
    sector: u64,
    bytes: u32,
    queue_ms: Option<f64>,
    latency_ms: f64,
    cgroup_id: Option<u64>,
    bio_cgroup_id: u64,
    status: u8,
    #[serde(skip_serializing_if = "Option::is_none")]
    container: Option<String>,
    /// The container's runtime and short id, beside its name.
    #[serde(skip_serializing_if = "Option::is_none")]
    container_id: Option<String>,
    /// `--file`: `Some(None)` is `"file": null`, an I/O that carries no file.
    #[serde(skip_serializing_if = "Option::is_none")]
    file: Option<Option<String>>,
}

impl<'a> Row<'a> {
    fn new(io: &'a CompletedIo, issued_ns: u64, first_ns: u64, disk: &'a str) -> Self {
        let ms = |ns: u64| ns as f64 / 1e6;
        Row {
            // bcc keeps microseconds and prints seconds.
            time_s: ((io.completed_ns / 1000).saturating_sub(first_ns / 1000)) as f64 / 1e6,
            comm: io.issuer.as_ref().map_or("?", |i| i.comm.as_str()),
            pid: io.issuer.as_ref().map_or(0, |i| i.tgid),
            disk,
            direction: if io.op == Operation::Write { "W" } else { "R" },
            rwbs: rwbs(io.op, io.flags),
            sector: io.sector,
            bytes: io.bytes,
            queue_ms: io.queued_ns.map(|q| ms(issued_ns.saturating_sub(q))),
            latency_ms: ms(io.completed_ns.saturating_sub(issued_ns)),
            cgroup_id: io.issuer.as_ref().map(|i| i.cgroup_id),
            bio_cgroup_id: io.bio_cgroup_id,
            status: io.status,
            container: None,
            container_id: None,
            file: None,
        }
    }
}

/// Device names from sysfs, looked up once per device.
#[derive(Debug, Default)]
struct DeviceNames {
    cache: HashMap<DeviceId, String>,
}

impl DeviceNames {
    fn name(&mut self, device: DeviceId, recorded: bool) -> &str {
        self.cache.entry(device).or_insert_with(|| {
            device::name(device).unwrap_or_else(|| {
                if recorded {
                    device.to_string()
                } else {
                    "<unknown>".to_owned()
                }
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{model::event::OpFlags, model::inflight::Issuer};

    fn io(completed_ns: u64, write: bool) -> CompletedIo {
        CompletedIo {
            device: DeviceId::new(0, 0),
            sector: 2048,
            bytes: 4096,
            op: if write {
                Operation::Write
            } else {
                Operation::Read
            },
            flags: OpFlags {
                sync: true,
                ..OpFlags::default()
            },
            status: 0,
            issuer: Some(Issuer {
                pid: 4243,
                tgid: 4242,
                comm: "a-very-long-command-name".into(),
                cgroup_id: 7,
            }),
            bio_cgroup_id: 1,
            partition: None,
            stacked_on: None,
            file: None,
            queued_ns: Some(1_000_000),
            got_ns: None,
            inserted_ns: None,
            issued_ns: Some(1_500_000),
            completed_ns,
            bio_based: false,
        }
    }

    #[test]
    fn header_matches_bcc() {
        let view = BiosnoopView::new(BiosnoopOptions::default());
        assert_eq!(
            view.header().unwrap(),
            "TIME(s)     COMM           PID     DISK      T SECTOR     BYTES   LAT(ms)"
        );
        let view = BiosnoopView::new(BiosnoopOptions {
            queued: true,
            ..Default::default()
        });
        assert_eq!(
            view.header().unwrap(),
            "TIME(s)     COMM           PID     DISK      T SECTOR     BYTES   QUE(ms) LAT(ms)"
        );
    }

    #[test]
    fn lines_match_bcc_layout() {
        let mut view = BiosnoopView::new(BiosnoopOptions {
            queued: true,
            ..Default::default()
        });
        let first = view.line(&io(3_750_000, false)).unwrap();
        assert_eq!(
            first,
            "0.000000    a-very-long-co 4242    <unknown> R 2048       4096       0.50    2.25"
        );
        let second = view.line(&io(1_003_750_000, true)).unwrap();
        assert!(
            second.starts_with("1.000000    a-very-long-co 4242    <unknown> W "),
            "{second}"
        );
    }

    #[test]
    fn flags_pid_filter_and_unseen_issues() {
        let mut view = BiosnoopView::new(BiosnoopOptions {
            flags: true,
            pid: Some(4242),
            ..Default::default()
        });
        assert!(
            view.line(&io(2_000_000, true))
                .unwrap()
                .contains(" WS   2048 ")
        );
        let mut other = io(2_000_000, true);
        other.issuer.as_mut().unwrap().tgid = 1;
        assert_eq!(view.line(&other), None);
        let mut unseen = io(2_000_000, true);
        unseen.issued_ns = None;
        assert_eq!(view.line(&unseen), None);
    }

    #[test]
    fn json_rows_have_the_fields() {
        let mut view = BiosnoopView::new(BiosnoopOptions {
            json: true,
            ..Default::default()
        });
        assert_eq!(view.header(), None);
        let v: serde_json::Value =
            serde_json::from_str(&view.line(&io(2_000_000, true)).unwrap()).unwrap();
        assert_eq!(v["pid"], 4242);
        assert_eq!(v["rwbs"], "WS");
        assert_eq!(v["latency_ms"], 0.5);
        assert_eq!(v["cgroup_id"], 7);
    }
}
