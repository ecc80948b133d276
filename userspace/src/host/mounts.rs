//! Mount points by device, from /proc/self/mountinfo: which file system holds a path
//! (`--mount`), and where a device is mounted (to make an operation's full path).

use std::collections::HashMap;

use crate::model::event::DeviceId;

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

#[cfg(test)]
mod tests {
    use super::*;

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
}
