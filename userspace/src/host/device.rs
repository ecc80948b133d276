//! Block device names and numbers, through sysfs (`/sys/dev/block/MAJ:MIN`).

use std::{os::unix::fs::FileTypeExt, path::Path};

use crate::model::event::DeviceId;

#[derive(Debug, thiserror::Error)]
pub enum DeviceError {
    #[error("{0}: no such block device")]
    NotFound(String),
    #[error("{0}: not a block device")]
    NotBlock(String),
    #[error("{name}: {source}")]
    Io {
        name: String,
        #[source]
        source: std::io::Error,
    },
}

/// Resolves what a user typed (`/dev/loop0`, `loop0`, `7:0`, or `7,0` as blkparse and the
/// views print it) to a device number. Numbers need no such device here (a recording's disks).
pub fn resolve(arg: &str) -> Result<DeviceId, DeviceError> {
    if let Some((major, minor)) = arg.split_once([':', ','])
        && let (Ok(major), Ok(minor)) = (major.parse(), minor.parse())
    {
        return Ok(DeviceId::new(major, minor));
    }
    let path = if arg.contains('/') {
        Path::new(arg).to_owned()
    } else {
        Path::new("/dev").join(arg)
    };
    let meta = std::fs::metadata(&path).map_err(|source| match source.kind() {
        std::io::ErrorKind::NotFound => DeviceError::NotFound(arg.to_owned()),
        _ => DeviceError::Io {
            name: arg.to_owned(),
            source,
        },
    })?;
    if !meta.file_type().is_block_device() {
        return Err(DeviceError::NotBlock(arg.to_owned()));
    }
    use std::os::unix::fs::MetadataExt;
    Ok(DeviceId::from_rdev(meta.rdev()))
}

/// Resolves `-d` arguments to the whole disks the probes filter on.
pub fn whole_disks(args: &[String]) -> Result<Vec<DeviceId>, DeviceError> {
    args.iter().map(|d| resolve(d).map(whole_disk)).collect()
}

/// `-d DISK` of the views that count per whole disk: the disk a name, path or number is on.
pub fn whole_disk_of(arg: Option<&str>) -> Result<Option<DeviceId>, DeviceError> {
    arg.map(resolve).transpose().map(|d| d.map(whole_disk))
}

/// The whole disk a device belongs to: itself for a disk, the parent for a partition. The
/// probes see every I/O against the whole disk, as blktrace does.
pub fn whole_disk(device: DeviceId) -> DeviceId {
    let sys = sys_dir(device);
    if !sys.join("partition").exists() {
        return device;
    }
    std::fs::read_to_string(sys.join("../dev"))
        .ok()
        .and_then(|text| parse_dev(text.trim()))
        .unwrap_or(device)
}

/// The kernel's name of a device (`loop0`, `vda1`, `dm-0`), from its uevent file.
pub fn name(device: DeviceId) -> Option<String> {
    let uevent = std::fs::read_to_string(sys_dir(device).join("uevent")).ok()?;
    uevent
        .lines()
        .find_map(|l| l.strip_prefix("DEVNAME="))
        .map(str::to_owned)
}

/// A disk as the pictures name it: `loop0 (7,0)`, or its numbers alone when this machine has
/// no such disk (a recording made elsewhere).
pub fn label(device: DeviceId) -> String {
    match name(device) {
        Some(name) => format!("{name} ({device})"),
        None => device.to_string(),
    }
}

fn sys_dir(device: DeviceId) -> std::path::PathBuf {
    Path::new("/sys/dev/block").join(format!("{}:{}", device.major, device.minor))
}

/// The bio-based disks of this machine that hold data: whole disks whose driver takes bios
/// rather than requests (zram, brd, pmem, device-mapper, md: no `mq` directory in sysfs,
/// which every blk-mq disk has) and whose size is not zero (an unconfigured zram is left out).
pub fn bio_based_disks() -> Vec<DeviceId> {
    let Ok(entries) = std::fs::read_dir("/sys/block") else {
        return Vec::new();
    };
    let mut disks: Vec<DeviceId> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|dir| !dir.join("mq").exists())
        .filter(|dir| {
            std::fs::read_to_string(dir.join("size"))
                .is_ok_and(|size| size.trim().parse::<u64>().is_ok_and(|s| s > 0))
        })
        .filter_map(|dir| parse_dev(std::fs::read_to_string(dir.join("dev")).ok()?.trim()))
        .collect();
    disks.sort_by_key(|d| (d.major, d.minor));
    disks
}

fn parse_dev(text: &str) -> Option<DeviceId> {
    let (major, minor) = text.split_once(':')?;
    Some(DeviceId::new(major.parse().ok()?, minor.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_resolve_without_sysfs() {
        assert_eq!(resolve("7:3").unwrap(), DeviceId::new(7, 3));
        assert_eq!(resolve("259,1").unwrap(), DeviceId::new(259, 1));
    }

    #[test]
    fn bad_names_say_what_is_wrong() {
        let err = resolve("no-such-disk-xyz").unwrap_err();
        assert_eq!(err.to_string(), "no-such-disk-xyz: no such block device");
        let err = resolve("/dev/null").unwrap_err();
        assert_eq!(err.to_string(), "/dev/null: not a block device");
    }

    #[test]
    fn parses_sysfs_dev_files() {
        assert_eq!(parse_dev("259:1"), Some(DeviceId::new(259, 1)));
        assert_eq!(parse_dev("junk"), None);
    }
}
