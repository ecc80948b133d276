//! `blkscope ext4slower` and `ext4dist`: file-system operations (reads, writes, opens, syncs)
//! slower than a threshold, or their latency histograms, in bcc's formats. The probes time
//! syscalls (kernel::fsslower); this module names files and renders.

use std::collections::{BTreeMap, HashMap};

use blkscope_common::fsslower::{
    BTRFS_SUPER_MAGIC, DIST_SLOTS, EXT4_SUPER_MAGIC, FsEvent, FsOp, XFS_SUPER_MAGIC,
};
use serde::Serialize;

use crate::event::DeviceId;

/// The file systems the same mechanism serves (`--fs`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileSystem {
    Ext4,
    Xfs,
    Btrfs,
}

impl FileSystem {
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "ext4" | "ext3" | "ext2" => Some(FileSystem::Ext4),
            "xfs" => Some(FileSystem::Xfs),
            "btrfs" => Some(FileSystem::Btrfs),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            FileSystem::Ext4 => "ext4",
            FileSystem::Xfs => "xfs",
            FileSystem::Btrfs => "btrfs",
        }
    }

    pub fn magic(self) -> u64 {
        match self {
            FileSystem::Ext4 => EXT4_SUPER_MAGIC,
            FileSystem::Xfs => XFS_SUPER_MAGIC,
            FileSystem::Btrfs => BTRFS_SUPER_MAGIC,
        }
    }
}

/// bcc's letter for an operation.
pub fn op_letter(op: FsOp) -> char {
    match op {
        FsOp::Read => 'R',
        FsOp::Write => 'W',
        FsOp::Open => 'O',
        FsOp::Fsync => 'S',
    }
}

/// The operation's name as ext4dist prints it (`operation = read`).
pub fn op_name(op: FsOp) -> &'static str {
    match op {
        FsOp::Read => "read",
        FsOp::Write => "write",
        FsOp::Open => "open",
        FsOp::Fsync => "fsync",
    }
}

/// One slow operation, decoded.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SlowOp {
    pub timestamp_ns: u64,
    pub comm: String,
    pub pid: u32,
    pub tid: u32,
    pub op: char,
    /// What bcc shows as BYTES: bytes read or written; 0 for opens and syncs.
    pub bytes: u64,
    pub offset: u64,
    pub latency_us: u64,
    /// The file's own name (what bcc shows).
    pub file: String,
    /// The whole path, when the walk reached the root and the mount point is known.
    pub path: Option<String>,
    pub device: DeviceId,
    pub cgroup_id: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
}

/// Mount points by device, from /proc/self/mountinfo.
#[derive(Debug, Default)]
pub struct MountTable {
    by_device: HashMap<DeviceId, String>,
    /// Every mount in mountinfo order (later mounts hide earlier ones on the same point).
    mounts: Vec<(String, DeviceId)>,
}

impl MountTable {
    pub fn read() -> Self {
        Self::parse(&std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default())
    }

    /// `36 25 7:3 / /mnt/data rw,relatime shared:1 - ext4 /dev/loop3 rw`: a device's first
    /// mount of its root directory.
    pub fn parse(mountinfo: &str) -> Self {
        let mut by_device = HashMap::new();
        let mut mounts = Vec::new();
        for line in mountinfo.lines() {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let (Some(dev), Some(root), Some(mount)) =
                (fields.get(2), fields.get(3), fields.get(4))
            else {
                continue;
            };
            let Some((major, minor)) = dev.split_once(':') else {
                continue;
            };
            let (Ok(major), Ok(minor)) = (major.parse(), minor.parse()) else {
                continue;
            };
            let device = DeviceId::new(major, minor);
            mounts.push((unescape(mount), device));
            if *root == "/" {
                by_device.entry(device).or_insert_with(|| unescape(mount));
            }
        }
        Self { by_device, mounts }
    }

    /// The super block device of the file system that holds `path` (absolute, no symlinks).
    /// This, not stat's st_dev, is what the kernel's `sb->s_dev` holds: btrfs reports a
    /// subvolume's own anonymous device in stat.
    pub fn device_of(&self, path: &std::path::Path) -> Option<DeviceId> {
        self.mounts
            .iter()
            .rev()
            .filter(|(mount, _)| path.starts_with(mount))
            .max_by_key(|(mount, _)| mount.len())
            .map(|(_, device)| *device)
    }

    pub fn mount_point(&self, device: DeviceId) -> Option<&str> {
        self.by_device.get(&device).map(String::as_str)
    }
}

/// mountinfo escapes spaces and the like as octal (`\040`).
fn unescape(text: &str) -> String {
    let mut out = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\\' {
            let digits: String = chars.clone().take(3).collect();
            if let Ok(value) = u8::from_str_radix(&digits, 8) {
                out.push(char::from(value));
                for _ in 0..3 {
                    chars.next();
                }
                continue;
            }
        }
        out.push(c);
    }
    out
}

/// Decodes a probe event into what the views show.
pub fn decode(event: &FsEvent, mounts: &MountTable) -> Option<SlowOp> {
    let op = FsOp::from_u8(event.op)?;
    let depth = usize::from(event.depth).min(event.names.len());
    let names: Vec<String> = event.names[..depth].iter().map(|n| c_string(n)).collect();
    let device = DeviceId::from_kernel(event.dev);
    let file = names.first().cloned().unwrap_or_default();
    Some(SlowOp {
        timestamp_ns: event.timestamp_ns,
        comm: c_string(&event.comm),
        pid: event.tgid,
        tid: event.tid,
        op: op_letter(op),
        bytes: match op {
            FsOp::Read | FsOp::Write => u64::try_from(event.ret).unwrap_or(0),
            FsOp::Open | FsOp::Fsync => 0,
        },
        offset: event.offset,
        latency_us: event.latency_ns / 1000,
        path: full_path(&names, event.complete != 0, mounts.mount_point(device)),
        file,
        device,
        cgroup_id: event.cgroup_id,
        container: None,
    })
}

/// The names innermost first; the last is the file system's root (`/`) when complete.
fn full_path(names: &[String], complete: bool, mount_point: Option<&str>) -> Option<String> {
    if !complete {
        return None;
    }
    let mount_point = mount_point?;
    let inner: Vec<&str> = names.iter().rev().skip(1).map(String::as_str).collect();
    let base = mount_point.trim_end_matches('/');
    Some(format!("{base}/{}", inner.join("/")))
}

fn c_string(bytes: &[u8]) -> String {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    String::from_utf8_lossy(&bytes[..end]).into_owned()
}

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

/// The lines printed before the first event.
pub fn slower_header(fs: FileSystem, min_ms: u64, layout: &SlowerLayout) -> Option<String> {
    if layout.json {
        return None;
    }
    if layout.csv {
        return Some("ENDTIME_us,TASK,PID,TYPE,BYTES,OFFSET_b,LATENCY_us,FILE".to_owned());
    }
    let first = if min_ms == 0 {
        format!("Tracing {} operations", fs.name())
    } else {
        format!("Tracing {} operations slower than {min_ms} ms", fs.name())
    };
    let mut columns = format!(
        "{:<8} {:<14} {:<6} {:1} {:<7} {:<8} {:>7} {}",
        "TIME", "COMM", "PID", "T", "BYTES", "OFF_KB", "LAT(ms)", "FILENAME"
    );
    if layout.container {
        columns.push_str(" CONTAINER");
    }
    Some(format!("{first}\n{columns}"))
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

/// ext4dist: one histogram per operation, bcc's order and layout.
pub fn render_dist(histograms: &BTreeMap<FsOp, [u64; DIST_SLOTS]>, milliseconds: bool) -> String {
    let unit = if milliseconds { "msecs" } else { "usecs" };
    let mut out = String::new();
    for (op, slots) in histograms {
        out.push_str(&format!("\noperation = {}\n", op_name(*op)));
        let mut padded = [0u64; blkscope_common::biolatency::LATENCY_SLOTS];
        for (p, s) in padded.iter_mut().zip(slots) {
            *p = *s;
        }
        out.push_str(&crate::biolatency::render_log2(&padded, unit));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use blkscope_common::fsslower::{NAME_LEN, PATH_DEPTH};

    fn event(op: FsOp, names: &[&str], complete: bool) -> FsEvent {
        let mut e = FsEvent {
            timestamp_ns: 5_000_000_000,
            latency_ns: 12_345_678,
            offset: 8192,
            ret: 4096,
            cgroup_id: 1,
            dev: (7 << 20) | 3,
            tgid: 4242,
            tid: 4243,
            op: op as u8,
            depth: names.len() as u8,
            complete: u8::from(complete),
            _pad: 0,
            comm: [0; 16],
            names: [[0; NAME_LEN]; PATH_DEPTH],
        };
        e.comm[..2].copy_from_slice(b"dd");
        for (slot, name) in names.iter().enumerate() {
            e.names[slot][..name.len()].copy_from_slice(name.as_bytes());
        }
        e
    }

    #[test]
    fn a_path_belongs_to_the_innermost_mount() {
        let mounts = MountTable::parse(
            "1 0 254:1 / / rw - ext4 /dev/vda1 rw\n36 1 0:39 / /mnt rw - btrfs /dev/loop0 rw\n37 36 7:3 / /mnt/inner rw - ext4 /dev/loop3 rw\n",
        );
        let of = |p: &str| mounts.device_of(std::path::Path::new(p));
        assert_eq!(of("/mnt/inner/a"), Some(DeviceId::new(7, 3)));
        assert_eq!(
            of("/mnt/innerx"),
            Some(DeviceId::new(0, 39)),
            "whole components only"
        );
        assert_eq!(of("/etc"), Some(DeviceId::new(254, 1)));
    }

    #[test]
    fn decodes_paths_against_the_mount_table() {
        let mounts = MountTable::parse(
            "36 25 7:3 / /mnt/my\\040data rw - ext4 /dev/loop3 rw\n37 25 7:3 /sub /other rw - ext4 /dev/loop3 rw\n",
        );
        let op = decode(&event(FsOp::Read, &["f.txt", "dir", "/"], true), &mounts).unwrap();
        assert_eq!(op.file, "f.txt");
        assert_eq!(op.path.as_deref(), Some("/mnt/my data/dir/f.txt"));
        assert_eq!((op.op, op.bytes, op.latency_us), ('R', 4096, 12_345));
        let truncated = decode(&event(FsOp::Open, &["f.txt", "dir"], false), &mounts).unwrap();
        assert_eq!(truncated.path, None);
        assert_eq!(truncated.bytes, 0, "bcc shows 0 bytes for opens");
    }

    #[test]
    fn lines_match_bcc_ext4slower() {
        let op = decode(
            &event(FsOp::Write, &["log", "/"], true),
            &MountTable::default(),
        )
        .unwrap();
        let layout = SlowerLayout::default();
        assert_eq!(
            slower_header(FileSystem::Ext4, 10, &layout).unwrap(),
            "Tracing ext4 operations slower than 10 ms\nTIME     COMM           PID    T BYTES   OFF_KB   LAT(ms) FILENAME"
        );
        assert_eq!(
            slower_header(FileSystem::Ext4, 0, &layout)
                .unwrap()
                .lines()
                .next(),
            Some("Tracing ext4 operations")
        );
        assert_eq!(
            slower_line(&op, &layout, "06:35:01"),
            "06:35:01 dd             4242   W 4096    8          12.35 log"
        );
        let csv = SlowerLayout {
            csv: true,
            ..Default::default()
        };
        assert_eq!(
            slower_header(FileSystem::Ext4, 10, &csv).unwrap(),
            "ENDTIME_us,TASK,PID,TYPE,BYTES,OFFSET_b,LATENCY_us,FILE"
        );
        assert_eq!(
            slower_line(&op, &csv, ""),
            "5000000,dd,4242,W,4096,8192,12345,log"
        );
    }

    #[test]
    fn dist_sections_per_operation() {
        let mut h = BTreeMap::new();
        let mut slots = [0u64; DIST_SLOTS];
        slots[2] = 4;
        h.insert(FsOp::Read, slots);
        let text = render_dist(&h, false);
        assert!(
            text.starts_with(
                "\noperation = read\n     usecs               : count     distribution\n"
            ),
            "{text}"
        );
    }
}
