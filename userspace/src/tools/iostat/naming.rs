//! The name a report prints for a device: its kernel name, its device-mapper name (`-N`) or a
//! persistent name from /dev/disk/by-TYPE (`-j TYPE`), as sysstat's get_device_name chooses.

use crate::host::bounded::{TEXT_FILE_LIMIT, read_text};
use std::{
    cell::OnceCell,
    path::{Path, PathBuf},
};

use super::{devices::DeviceEntry, options::IostatOptions};

#[derive(Debug)]
pub struct Naming {
    dev_dir: PathBuf,
    sys_dir: PathBuf,
    proc_dir: PathBuf,
    /// The device-mapper major number, read from /proc/devices when first needed.
    dm_major: OnceCell<Option<u32>>,
}

impl Default for Naming {
    fn default() -> Self {
        Self::new("/dev", "/sys", "/proc")
    }
}

impl Naming {
    pub fn new(
        dev_dir: impl Into<PathBuf>,
        sys_dir: impl Into<PathBuf>,
        proc_dir: impl Into<PathBuf>,
    ) -> Self {
        Self {
            dev_dir: dev_dir.into(),
            sys_dir: sys_dir.into(),
            proc_dir: proc_dir.into(),
            dm_major: OnceCell::new(),
        }
    }

    /// The name to print for an entry.
    pub fn display_name(&self, entry: &DeviceEntry, options: &IostatOptions) -> String {
        let persistent = options
            .persistent_type
            .as_deref()
            .filter(|_| options.persistent_names)
            .and_then(|kind| {
                let pretty = self.kernel_name(entry.major, entry.minor);
                self.persistent_name_of(kind, &pretty)
            });
        let devmap = || {
            (options.devmap_names && Some(entry.major) == self.dm_major())
                .then(|| self.mapper_name_of(entry.major, entry.minor))
                .flatten()
        };
        persistent
            .or_else(devmap)
            .unwrap_or_else(|| entry.name.clone())
            .replace('!', "/")
    }

    /// `-N vg-home` on the command line: the dm-N node /dev/mapper/vg-home points at.
    pub fn dm_name_of_registered(&self, registered: &str) -> Option<String> {
        let target = std::fs::read_link(self.dev_dir.join("mapper").join(registered)).ok()?;
        Some(target.file_name()?.to_string_lossy().into_owned())
    }

    /// `-j TYPE`: whether /dev/disk/by-TYPE exists.
    pub fn persistent_type_exists(&self, kind: &str) -> bool {
        self.persistent_dir(kind).is_dir()
    }

    /// A persistent name given on the command line: the device it points at.
    pub fn device_of_persistent(&self, kind: &str, persistent: &str) -> Option<String> {
        let target = std::fs::read_link(self.persistent_dir(kind).join(persistent)).ok()?;
        Some(target.file_name()?.to_string_lossy().into_owned())
    }

    fn persistent_dir(&self, kind: &str) -> PathBuf {
        self.dev_dir.join("disk").join(format!("by-{kind}"))
    }

    /// The first name (alphabetically) in /dev/disk/by-TYPE that links to PRETTY.
    fn persistent_name_of(&self, kind: &str, pretty: &str) -> Option<String> {
        let dir = self.persistent_dir(kind);
        let mut names: Vec<String> = std::fs::read_dir(&dir)
            .ok()?
            .filter_map(Result::ok)
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names.into_iter().find(|name| {
            std::fs::read_link(dir.join(name))
                .ok()
                .and_then(|t| t.file_name().map(|n| n.to_string_lossy() == pretty))
                .unwrap_or(false)
        })
    }

    /// sysfs's name for MAJOR:MINOR, or sysstat's `devM-m`.
    fn kernel_name(&self, major: u32, minor: u32) -> String {
        std::fs::read_link(self.sys_dir.join(format!("dev/block/{major}:{minor}")))
            .ok()
            .and_then(|t| t.file_name().map(|n| n.to_string_lossy().into_owned()))
            .unwrap_or_else(|| format!("dev{major}-{minor}"))
    }

    fn dm_major(&self) -> Option<u32> {
        *self
            .dm_major
            .get_or_init(|| dm_major_in(&self.proc_dir.join("devices")))
    }

    /// The /dev/mapper entry whose device numbers are MAJOR:MINOR.
    fn mapper_name_of(&self, major: u32, minor: u32) -> Option<String> {
        use std::os::unix::fs::MetadataExt as _;
        let dir = self.dev_dir.join("mapper");
        std::fs::read_dir(&dir)
            .ok()?
            .filter_map(Result::ok)
            .find_map(|entry| {
                let rdev = std::fs::metadata(entry.path()).ok()?.rdev();
                (libc::major(rdev) == major && libc::minor(rdev) == minor)
                    .then(|| entry.file_name().to_string_lossy().into_owned())
            })
    }
}

/// The major number on the "device-mapper" line of /proc/devices.
fn dm_major_in(devices: &Path) -> Option<u32> {
    read_text(devices, TEXT_FILE_LIMIT)
        .ok()?
        .lines()
        .filter(|l| l.contains("device-mapper"))
        .filter_map(|l| l.split_whitespace().next()?.parse().ok())
        .next_back()
}
