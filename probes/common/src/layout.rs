//! Where the probes find kernel struct fields. Rust eBPF gets no CO-RE relocations, so
//! userspace reads these offsets from the running kernel's BTF at start-up and hands them to
//! the probes as a read-only global (the way bpftrace resolves fields at run time).

/// Byte offsets of the kernel struct members the block probes read. Each name is
/// `<struct>_<member>`; nested members (`bio.bi_iter.bi_sector`) are summed into one offset.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct KernelLayout {
    /// `struct request`: `q`, `cmd_flags`, `__data_len`, `__sector`, `bio`.
    pub request_q: u32,
    pub request_cmd_flags: u32,
    pub request_data_len: u32,
    pub request_sector: u32,
    pub request_bio: u32,
    /// `struct request_queue`: `disk`.
    pub request_queue_disk: u32,
    /// `struct gendisk`: `major`, `first_minor`.
    pub gendisk_major: u32,
    pub gendisk_first_minor: u32,
    /// `struct block_device`: `bd_disk`.
    pub block_device_disk: u32,
    /// `struct bio`: `bi_bdev`, `bi_opf`, `bi_iter.bi_sector`, `bi_iter.bi_size`, `bi_blkg`.
    pub bio_bdev: u32,
    pub bio_opf: u32,
    pub bio_sector: u32,
    pub bio_size: u32,
    pub bio_blkg: u32,
    /// `struct blkcg_gq`: `blkcg`.
    pub blkg_blkcg: u32,
    /// `struct blkcg`: `css.cgroup`.
    pub blkcg_css_cgroup: u32,
    /// `struct cgroup`: `kn`.
    pub cgroup_kn: u32,
    /// `struct kernfs_node`: `id`.
    pub kernfs_node_id: u32,
    /// Non-zero when the kernel has block cgroups (`bio.bi_blkg` exists).
    pub has_blkcg: u32,
    /// How a request, a bio and a queue lead to their disk, by kernel era (0: the newest way):
    /// - `request_disk_direct`: `request.rq_disk` (before 6.0, and the only way before 5.15)
    ///   instead of `request.q->disk`;
    /// - `bio_disk_direct`: `bio.bi_disk` (before 5.12) instead of `bio.bi_bdev->bd_disk`;
    /// - `queue_via_bdi`: no `request_queue.disk` (before 5.15): the disk's `dev_t` is
    ///   `request_queue.backing_dev_info->owner->devt` (the bdi's owner is the disk's device).
    pub request_disk_direct: u32,
    pub request_rq_disk: u32,
    pub bio_disk_direct: u32,
    pub bio_disk: u32,
    pub queue_via_bdi: u32,
    pub request_queue_bdi: u32,
    pub bdi_owner: u32,
    pub device_devt: u32,
    /// Non-zero on hosts whose block controller is on a cgroup v1 (blkio) hierarchy: a task
    /// in the v2 root is charged to its blkio cgroup (tagged with `BLKIO_CGROUP_TAG`).
    /// Set by userspace from the host's mounts, not from BTF.
    pub blkio_v1: u32,
    /// The task's blkio cgroup: `task_struct.cgroups` (a `css_set`), that set's
    /// `subsys[io_cgrp_id]` (a `cgroup_subsys_state`), the state's `cgroup`.
    pub task_cgroups: u32,
    pub css_set_io: u32,
    pub css_cgroup: u32,
    /// `cgroup_subsys_state.parent`: NULL for the root's, which ends the walk early.
    pub css_parent: u32,
}

/// Marks a cgroup id as one of the v1 blkio hierarchy's (ids are per hierarchy, so one
/// hierarchy's ids must not be read as another's). Inode numbers never reach bit 63.
pub const BLKIO_CGROUP_TAG: u64 = 1 << 63;

/// The id (inode number) of every cgroup hierarchy's root.
pub const ROOT_CGROUP_ID: u64 = 1;

impl KernelLayout {
    /// All offsets zero: the probes' placeholder until userspace overrides it at load time.
    pub const EMPTY: KernelLayout = KernelLayout {
        request_q: 0,
        request_cmd_flags: 0,
        request_data_len: 0,
        request_sector: 0,
        request_bio: 0,
        request_queue_disk: 0,
        gendisk_major: 0,
        gendisk_first_minor: 0,
        block_device_disk: 0,
        bio_bdev: 0,
        bio_opf: 0,
        bio_sector: 0,
        bio_size: 0,
        bio_blkg: 0,
        blkg_blkcg: 0,
        blkcg_css_cgroup: 0,
        cgroup_kn: 0,
        kernfs_node_id: 0,
        has_blkcg: 0,
        request_disk_direct: 0,
        request_rq_disk: 0,
        bio_disk_direct: 0,
        bio_disk: 0,
        queue_via_bdi: 0,
        request_queue_bdi: 0,
        bdi_owner: 0,
        device_devt: 0,
        blkio_v1: 0,
        task_cgroups: 0,
        css_set_io: 0,
        css_cgroup: 0,
        css_parent: 0,
    };
}

/// Where the probes find the file a bio carries (`biosnoop --file`): the first page of the
/// bio (`bio.bi_io_vec[0].bv_page`), its `mapping` (the page cache it belongs to, unless the low
/// bits mark it anonymous), the mapping's `host` inode, and for direct I/O the file of the
/// `kiocb` iomap starts with.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct FileLayout {
    pub bio_io_vec: u32,
    pub bio_vec_page: u32,
    pub page_mapping: u32,
    pub mapping_host: u32,
    pub inode_ino: u32,
    pub inode_sb: u32,
    pub sb_dev: u32,
    pub sb_magic: u32,
    pub kiocb_filp: u32,
    pub file_inode: u32,
}

impl FileLayout {
    pub const EMPTY: FileLayout = FileLayout {
        bio_io_vec: 0,
        bio_vec_page: 0,
        page_mapping: 0,
        mapping_host: 0,
        inode_ino: 0,
        inode_sb: 0,
        sb_dev: 0,
        sb_magic: 0,
        kiocb_filp: 0,
        file_inode: 0,
    };
}

/// `s_magic` of the block devices' own pseudo file system (BDEVFS_MAGIC).
pub const BDEVFS_MAGIC: u64 = 0x6264_6576;

#[cfg(feature = "user")]
// SAFETY: plain `#[repr(C)]` data of u32 fields.
unsafe impl aya::Pod for KernelLayout {}

#[cfg(feature = "user")]
// SAFETY: as above.
unsafe impl aya::Pod for FileLayout {}
