//! One timed file-system operation (a read, write, open or sync), as the fs_latency probes
//! report it and ext4slower, ext4dist and the exporter use it: which file systems, what an
//! operation is called, and how a probe event becomes a `SlowOp` with its file's path.

use blkscope_common::fs_latency::{
    BTRFS_SUPER_MAGIC, EXT4_SUPER_MAGIC, FsEvent, FsOp, XFS_SUPER_MAGIC,
};
use serde::Serialize;

use crate::{host::mounts::MountTable, model::event::DeviceId};

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
    /// The container's runtime and short id, beside its name (JSON).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container_id: Option<String>,
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
        container_id: None,
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

/// A probe event as the fs_latency probes write one: `dd` by pid 4242, the path `names`
/// from the file up (for tests of what is made of it).
#[cfg(test)]
pub(crate) fn test_event(op: FsOp, names: &[&str], complete: bool) -> FsEvent {
    use blkscope_common::fs_latency::{NAME_LEN, PATH_DEPTH};
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_paths_against_the_mount_table() {
        let mounts = MountTable::parse(
            "36 25 7:3 / /mnt/my\\040data rw - ext4 /dev/loop3 rw\n37 25 7:3 /sub /other rw - ext4 /dev/loop3 rw\n",
        );
        let op = decode(
            &test_event(FsOp::Read, &["f.txt", "dir", "/"], true),
            &mounts,
        )
        .unwrap();
        assert_eq!(op.file, "f.txt");
        assert_eq!(op.path.as_deref(), Some("/mnt/my data/dir/f.txt"));
        assert_eq!((op.op, op.bytes, op.latency_us), ('R', 4096, 12_345));
        let truncated = decode(&test_event(FsOp::Open, &["f.txt", "dir"], false), &mounts).unwrap();
        assert_eq!(truncated.path, None);
        assert_eq!(truncated.bytes, 0, "bcc shows 0 bytes for opens");
    }
}
