//! Loop devices backed by files in /dev/shm, and ext4 file systems on them.

use std::path::{Path, PathBuf};

use blkscope::model::event::DeviceId;

use crate::sh;

/// A loop device on a fresh sparse file in /dev/shm (or on a file the test made); detached on
/// drop, and its own backing file deleted.
pub struct LoopDevice {
    path: PathBuf,
    /// The file to delete on drop (`None`: a file the test owns).
    backing: Option<PathBuf>,
}

impl LoopDevice {
    pub fn new(size_mib: u64) -> Self {
        let backing = PathBuf::from(format!(
            "/dev/shm/blkscope-test-{}-{}.img",
            std::process::id(),
            crate::unique()
        ));
        let file = std::fs::File::create(&backing)
            .unwrap_or_else(|e| panic!("creating {}: {e}", backing.display()));
        file.set_len(size_mib << 20)
            .expect("sizing the backing file");
        drop(file);
        let backing_str = backing.to_str().expect("utf-8 path");
        let path = sh("losetup", &["--show", "-f", backing_str])
            .trim()
            .to_owned();
        assert!(path.starts_with("/dev/loop"), "losetup printed {path:?}");
        Self {
            path: PathBuf::from(path),
            backing: Some(backing),
        }
    }

    /// A loop device over `file` (which the caller keeps), with direct I/O to it: its I/O
    /// reaches the device below the file, in the cgroup of the task that issued it.
    pub fn over_file_direct(file: &Path) -> Self {
        let file = file.to_str().expect("utf-8 path");
        let path = sh("losetup", &["--show", "-f", "--direct-io=on", file])
            .trim()
            .to_owned();
        assert!(path.starts_with("/dev/loop"), "losetup printed {path:?}");
        Self {
            path: PathBuf::from(path),
            backing: None,
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn path_str(&self) -> &str {
        self.path.to_str().expect("utf-8 device path")
    }

    /// `loop3` for /dev/loop3.
    pub fn name(&self) -> &str {
        self.path_str().trim_start_matches("/dev/")
    }

    /// Numbers of the partitions the kernel knows on this device (`loop3p1` -> 1).
    pub fn partitions(&self) -> Vec<u32> {
        let sys = Path::new("/sys/block").join(self.name());
        let prefix = format!("{}p", self.name());
        std::fs::read_dir(sys)
            .map(|entries| {
                entries
                    .filter_map(|e| e.ok()?.file_name().into_string().ok())
                    .filter_map(|n| n.strip_prefix(&prefix)?.parse().ok())
                    .collect()
            })
            .unwrap_or_default()
    }

    pub fn device_id(&self) -> DeviceId {
        blkscope::host::device::resolve(self.path_str()).expect("loop device number")
    }
}

impl Drop for LoopDevice {
    fn drop(&mut self) {
        // Partitions made with addpart outlive the binding: drop them first, or the next
        // user of this loop device finds them (and addpart fails with EBUSY).
        for number in self.partitions() {
            let _ = std::process::Command::new("delpart")
                .arg(&self.path)
                .arg(number.to_string())
                .status();
        }
        let _ = std::process::Command::new("losetup")
            .arg("-d")
            .arg(&self.path)
            .status();
        if let Some(backing) = &self.backing {
            let _ = std::fs::remove_file(backing);
        }
    }
}

/// An ext4 file system made on a loop device and mounted on a fresh directory; unmounted on
/// drop (lazily if something still holds it).
pub struct Ext4Mount {
    dir: PathBuf,
}

impl Ext4Mount {
    pub fn new(device: &LoopDevice) -> Self {
        Self::with_type(device, "ext4")
    }

    /// A file system of another type (`xfs`, `btrfs`) made with its own mkfs.
    pub fn with_type(device: &LoopDevice, fs_type: &str) -> Self {
        Self::on(device.path_str(), fs_type)
    }

    /// A file system made on any block device this test made (a zram disk, say).
    pub fn on(device: &str, fs_type: &str) -> Self {
        Self::made_with(device, fs_type, &[])
    }

    /// With more mkfs options.
    pub fn made_with(device: &str, fs_type: &str, mkfs_options: &[&str]) -> Self {
        let force = match fs_type {
            "ext4" => "-F",
            _ => "-f",
        };
        let mut args = vec!["-q", force];
        args.extend_from_slice(mkfs_options);
        args.push(device);
        sh(&format!("mkfs.{fs_type}"), &args);
        let dir = std::env::temp_dir().join(format!(
            "blkscope-mnt-{}-{}",
            std::process::id(),
            crate::unique()
        ));
        std::fs::create_dir_all(&dir).expect("mount point");
        sh("mount", &[device, dir.to_str().expect("utf-8")]);
        Self { dir }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl Drop for Ext4Mount {
    fn drop(&mut self) {
        let ok = std::process::Command::new("umount")
            .arg(&self.dir)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            let _ = std::process::Command::new("umount")
                .arg("-l")
                .arg(&self.dir)
                .status();
        }
        let _ = std::fs::remove_dir(&self.dir);
    }
}
