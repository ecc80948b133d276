//! What the probes need of a kernel, and whether a kernel has it, answered from its BTF: the
//! same answer for the running kernel and for another kernel's BTF file (`check --btf FILE`).
//! The live views refuse a kernel that lacks one (`Preflight::kernel`); `blkscope check`
//! reports them all.

use serde::Serialize;

use crate::kernel::{btf_layout::KernelBtf, tracepoint_args};

/// A kernel feature the probes use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Feature {
    /// BPF_MAP_TYPE_RINGBUF: every probe object holds ring buffers, so every live view.
    RingBuffer,
    /// BTF tracepoint programs (BPF_TRACE_RAW_TP): the block probes, unless `--btf FILE`
    /// attaches their raw tracepoint twins.
    BtfTracepoints,
    /// bpf_get_current_ancestor_cgroup_id: the cgroup filters and per-container rows.
    CgroupHelpers,
    /// Per-syscall tracepoints (CONFIG_FTRACE_SYSCALLS): the file-system views.
    SyscallTracepoints,
    /// Block cgroups (CONFIG_BLK_CGROUP, `bio.bi_blkg`): the writeback cgroup of a bio.
    /// Optional: without it an I/O is charged to the task that queued it.
    BlockCgroups,
}

impl Feature {
    pub const ALL: [Feature; 5] = [
        Feature::RingBuffer,
        Feature::BtfTracepoints,
        Feature::CgroupHelpers,
        Feature::SyscallTracepoints,
        Feature::BlockCgroups,
    ];

    /// What a user calls it.
    pub fn title(self) -> &'static str {
        match self {
            Feature::RingBuffer => "BPF ring buffer",
            Feature::BtfTracepoints => "BTF tracepoints (tp_btf)",
            Feature::CgroupHelpers => "cgroup id helpers",
            Feature::SyscallTracepoints => "syscall tracepoints",
            Feature::BlockCgroups => "block cgroups",
        }
    }

    /// The first Linux version with it (or the kernel option).
    pub fn since(self) -> &'static str {
        match self {
            Feature::RingBuffer => "Linux 5.8",
            Feature::BtfTracepoints => "Linux 5.5",
            Feature::CgroupHelpers => "Linux 5.7",
            Feature::SyscallTracepoints => "CONFIG_FTRACE_SYSCALLS",
            Feature::BlockCgroups => "CONFIG_BLK_CGROUP",
        }
    }

    /// Whether the kernel whose BTF this is has it. The BPF enums of the kernel's own headers
    /// are in its BTF, so what the kernel supports is read there, not guessed from a version.
    pub fn present(self, btf: &KernelBtf) -> bool {
        let has = |e: &str, v: &str| btf.enum_value(e, v).is_ok();
        match self {
            Feature::RingBuffer => has("bpf_map_type", "BPF_MAP_TYPE_RINGBUF"),
            Feature::BtfTracepoints => has("bpf_attach_type", "BPF_TRACE_RAW_TP"),
            Feature::CgroupHelpers => has("bpf_func_id", "BPF_FUNC_get_current_ancestor_cgroup_id"),
            Feature::SyscallTracepoints => btf.has_struct("syscall_metadata"),
            Feature::BlockCgroups => btf.offset_of("bio", "bi_blkg").is_ok(),
        }
    }
}

/// The probe sets, as the views use them (kernel/MODULE.rs each).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ProbeKind {
    BlockEvents,
    BlockLatency,
    TaskIo,
    FsLatency,
}

impl ProbeKind {
    pub fn name(self) -> &'static str {
        match self {
            ProbeKind::BlockEvents => "block_events",
            ProbeKind::BlockLatency => "block_latency",
            ProbeKind::TaskIo => "task_io",
            ProbeKind::FsLatency => "fs_latency",
        }
    }

    /// The `block:` tracepoints it attaches.
    pub fn tracepoints(self) -> &'static [&'static str] {
        match self {
            ProbeKind::BlockEvents => &blkscope_common::tracepoint_args::BLOCK_TRACEPOINTS,
            ProbeKind::BlockLatency => &[
                "block_bio_queue",
                "block_rq_insert",
                "block_rq_issue",
                "block_rq_complete",
            ],
            ProbeKind::TaskIo => &["block_bio_queue", "block_rq_issue", "block_rq_complete"],
            ProbeKind::FsLatency => &[],
        }
    }

    /// The features it cannot run without (`raw_tracepoints`: attached as raw tracepoints, with
    /// `--btf FILE`, which need no BTF tracepoint support).
    pub fn features(self, raw_tracepoints: bool) -> Vec<Feature> {
        let mut needs = vec![Feature::RingBuffer, Feature::CgroupHelpers];
        match self {
            ProbeKind::FsLatency => needs.push(Feature::SyscallTracepoints),
            _ if !raw_tracepoints => needs.push(Feature::BtfTracepoints),
            _ => {}
        }
        needs
    }

    /// Why this set cannot run on the kernel of `btf`, one reason each (none: it can).
    pub fn unmet(self, btf: &KernelBtf, raw_tracepoints: bool) -> Vec<String> {
        let mut reasons: Vec<String> = self
            .features(raw_tracepoints)
            .into_iter()
            .filter(|f| !f.present(btf))
            .map(|f| format!("no {} ({})", f.title(), f.since()))
            .collect();
        for tracepoint in self.tracepoints() {
            if let Err(e) = tracepoint_args::resolve(btf, tracepoint) {
                reasons.push(e.to_string());
            }
        }
        let layout = match self {
            ProbeKind::FsLatency => btf.fs_layout().map(|_| ()),
            _ => btf
                .block_layout()
                .and_then(|_| btf.request_flag_bits())
                .map(|_| ()),
        };
        if let Err(e) = layout {
            reasons.push(e.to_string());
        }
        reasons
    }
}

/// The struct members the file-system probes read (`KernelBtf::fs_layout`).
pub const FS_MEMBERS: [(&str, &str); 12] = [
    ("task_struct", "files"),
    ("files_struct", "fdt"),
    ("fdtable", "max_fds"),
    ("fdtable", "fd"),
    ("file", "f_inode"),
    ("file", "f_pos"),
    ("file", "f_path.dentry"),
    ("inode", "i_sb"),
    ("super_block", "s_magic"),
    ("super_block", "s_dev"),
    ("dentry", "d_parent"),
    ("dentry", "d_name.name"),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_running_kernel_meets_every_probe_set() {
        let btf = KernelBtf::from_sys_fs().expect("the running kernel's BTF");
        for feature in Feature::ALL {
            assert!(feature.present(&btf), "{feature:?}");
        }
        for set in [
            ProbeKind::BlockEvents,
            ProbeKind::BlockLatency,
            ProbeKind::TaskIo,
            ProbeKind::FsLatency,
        ] {
            assert_eq!(set.unmet(&btf, false), Vec::<String>::new(), "{set:?}");
        }
    }

    #[test]
    fn the_member_lists_are_what_the_layouts_read() {
        let btf = KernelBtf::from_sys_fs().expect("the running kernel's BTF");
        let block = btf.block_layout().expect("block layout");
        let offset = |s: &str, m: &str| btf.offset_of(s, m).expect("a member");
        let members = btf.block_members();
        assert!(members.contains(&("request", "__sector")));
        assert!(
            members.contains(&("request_queue", "disk")),
            "6.18 has q->disk"
        );
        assert!(
            !members.contains(&("bio", "bi_disk")),
            "6.18 has no bi_disk"
        );
        assert_eq!(offset("request", "__sector"), block.request_sector);
        assert_eq!(block.request_disk_direct, 0);
        assert_eq!(block.bio_disk_direct, 0);
        let fs = btf.fs_layout().expect("fs layout");
        assert_eq!(offset(FS_MEMBERS[6].0, FS_MEMBERS[6].1), fs.file_dentry);
        assert_eq!(offset(FS_MEMBERS[11].0, FS_MEMBERS[11].1), fs.dentry_name);
    }

    #[test]
    fn a_kernel_before_5_8_is_refused_for_want_of_a_ring_buffer() {
        use crate::kernel::btf_fixture::BtfBuilder;
        let btf = KernelBtf::from_bytes(&BtfBuilder::new().build()).unwrap();
        let unmet = ProbeKind::BlockLatency.unmet(&btf, false);
        assert_eq!(unmet[0], "no BPF ring buffer (Linux 5.8)");
        assert!(
            unmet
                .iter()
                .any(|r| r == "the kernel has no tracepoint block:block_rq_issue"),
            "{unmet:?}"
        );
    }
}
