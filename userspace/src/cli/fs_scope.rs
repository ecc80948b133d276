//! What the file-system tools (ext4slower, ext4dist) share on their command lines: which file
//! system, which files, whose; and the probe settings that follow from it.

use anyhow::Context as _;
use clap::Args;

use crate::{
    host::mounts::MountTable,
    kernel::{CgroupFilter, fs_latency::FsOptions},
    model::fs_op::FileSystem,
};

/// What ext4slower and ext4dist share: which files, whose.
#[derive(Args, Debug)]
pub struct FsScope {
    /// Trace this PID only
    #[arg(short = 'p', long = "pid", value_name = "PID")]
    pub pid: Option<u32>,
    /// The file system type: ext4, xfs or btrfs
    #[arg(long = "fs", default_value = "ext4", value_name = "FS")]
    pub fs: String,
    /// Only files on the file system mounted at (or containing) this path
    #[arg(long = "mount", value_name = "PATH")]
    pub mount: Option<std::path::PathBuf>,
    /// Only tasks in this cgroup (v2 path) or below
    #[arg(short = 'c', long = "cgroup", value_name = "PATH")]
    pub cgroup: Option<std::path::PathBuf>,
}

impl FsScope {
    /// The file system and the probe settings these arguments ask for; the tool adds its own
    /// (threshold, histogram unit).
    pub fn probe_options(&self) -> anyhow::Result<(FileSystem, FsOptions)> {
        let fs = FileSystem::parse(&self.fs)
            .with_context(|| format!("--fs {}: expected ext4, xfs or btrfs", self.fs))?;
        let dev = match &self.mount {
            Some(path) => {
                let canonical = std::fs::canonicalize(path)
                    .with_context(|| format!("--mount {}", path.display()))?;
                let device = MountTable::read()
                    .device_of(&canonical)
                    .with_context(|| format!("--mount {}: no mount holds it", path.display()))?;
                Some(device.to_kernel())
            }
            None => None,
        };
        let cgroup = self
            .cgroup
            .as_deref()
            .map(CgroupFilter::of_path)
            .transpose()
            .context("-c")?;
        Ok((
            fs,
            FsOptions {
                magic: fs.magic(),
                min_latency_ns: 0,
                dev,
                pid: self.pid,
                cgroup: cgroup.map(|f| (f.id, f.level)),
                histogram_unit_ns: None,
            },
        ))
    }
}
