//! fs_latency (ext4slower, ext4dist, the exporter): file-system operations timed from syscall entry to exit,
//! on syscall tracepoints, for files on one kind of file system.

/// What an operation was (bcc ext4slower's T column: R, W, O, S).
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FsOp {
    Read = 0,
    Write = 1,
    Open = 2,
    Fsync = 3,
}

impl FsOp {
    pub const ALL: [FsOp; 4] = [FsOp::Read, FsOp::Write, FsOp::Open, FsOp::Fsync];

    pub fn from_u8(value: u8) -> Option<FsOp> {
        FsOp::ALL.into_iter().find(|op| *op as u8 == value)
    }
}

/// Path components kept per event: the file's name and its parents, innermost first.
pub const PATH_DEPTH: usize = 8;
/// Bytes per component (the kernel's `DNAME_INLINE_LEN`, what bcc prints).
pub const NAME_LEN: usize = 32;

/// One operation slower than the threshold.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FsEvent {
    /// `bpf_ktime_get_ns()` at syscall exit.
    pub timestamp_ns: u64,
    pub latency_ns: u64,
    /// File offset at entry (reads, writes); 0 for opens and syncs.
    pub offset: u64,
    /// The syscall's return value (bytes for reads and writes).
    pub ret: i64,
    pub cgroup_id: u64,
    /// The file system's device (`s_dev`, kernel encoding).
    pub dev: u32,
    pub tgid: u32,
    pub tid: u32,
    pub op: u8,
    /// How many of `names` are filled.
    pub depth: u8,
    /// Non-zero when the walk reached the file system's root (the path is whole).
    pub complete: u8,
    pub _pad: u8,
    pub comm: [u8; 16],
    /// The file's name, then its parent directories' (innermost first), NUL-padded.
    pub names: [[u8; NAME_LEN]; PATH_DEPTH],
}

/// A syscall between entry and exit, by thread id.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FsEntry {
    pub start_ns: u64,
    /// The `struct file` (reads, writes, syncs), 0 for opens (resolved from the fd at exit).
    pub file: u64,
    pub offset: u64,
    pub op: u8,
    pub _pad: [u8; 7],
}

/// Byte offsets of the kernel members the fs_latency probes read (from BTF).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FsLayout {
    pub task_files: u32,
    pub files_fdt: u32,
    pub fdtable_max_fds: u32,
    pub fdtable_fd: u32,
    pub file_inode: u32,
    pub file_pos: u32,
    pub file_dentry: u32,
    pub inode_sb: u32,
    pub sb_magic: u32,
    pub sb_dev: u32,
    pub dentry_parent: u32,
    pub dentry_name: u32,
}

impl FsLayout {
    pub const EMPTY: FsLayout = FsLayout {
        task_files: 0,
        files_fdt: 0,
        fdtable_max_fds: 0,
        fdtable_fd: 0,
        file_inode: 0,
        file_pos: 0,
        file_dentry: 0,
        inode_sb: 0,
        sb_magic: 0,
        sb_dev: 0,
        dentry_parent: 0,
        dentry_name: 0,
    };
}

/// Settings (a read-only global).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FsConfig {
    /// The file system's magic (`s_magic`): 0xEF53 for ext2/3/4.
    pub magic: u64,
    /// Operations at or below this many nanoseconds are not reported (0: all).
    pub min_latency_ns: u64,
    /// Non-zero: only files on the file system with this `s_dev` (`--mount`).
    pub filter_dev: u32,
    pub dev: u32,
    /// Non-zero: only process `tgid`.
    pub filter_pid: u32,
    pub tgid: u32,
    /// Non-zero: only tasks in cgroup `cgroup_id` (depth `cgroup_level`) or below.
    pub filter_cgroup: u32,
    pub cgroup_level: u32,
    pub cgroup_id: u64,
    /// Non-zero: count in the histograms (ext4dist) instead of sending events.
    pub histograms: u32,
    /// Histogram unit in nanoseconds (1000: usecs, 1000000: msecs).
    pub unit_ns: u32,
}

impl FsConfig {
    pub const DEFAULT: FsConfig = FsConfig {
        magic: EXT4_SUPER_MAGIC,
        min_latency_ns: 10_000_000,
        filter_dev: 0,
        dev: 0,
        filter_pid: 0,
        tgid: 0,
        filter_cgroup: 0,
        cgroup_level: 0,
        cgroup_id: 0,
        histograms: 0,
        unit_ns: 1000,
    };
}

pub const EXT4_SUPER_MAGIC: u64 = 0xEF53;
pub const XFS_SUPER_MAGIC: u64 = 0x5846_5342;
pub const BTRFS_SUPER_MAGIC: u64 = 0x9123_683E;

/// Log2 slots of the ext4dist histograms.
pub const DIST_SLOTS: usize = 32;

#[cfg(feature = "user")]
mod pod {
    // SAFETY: plain `#[repr(C)]` data without padding holes.
    unsafe impl aya::Pod for super::FsEvent {}
    // SAFETY: as above.
    unsafe impl aya::Pod for super::FsLayout {}
    // SAFETY: as above.
    unsafe impl aya::Pod for super::FsConfig {}
    // SAFETY: as above.
    unsafe impl aya::Pod for super::FsEntry {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_layout_has_no_holes() {
        assert_eq!(
            core::mem::size_of::<FsEvent>(),
            5 * 8 + 3 * 4 + 4 + 16 + PATH_DEPTH * NAME_LEN
        );
        assert_eq!(core::mem::size_of::<FsEvent>() % 8, 0);
        assert_eq!(FsOp::from_u8(3), Some(FsOp::Fsync));
        assert_eq!(FsOp::from_u8(4), None);
    }
}
