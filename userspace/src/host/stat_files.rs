//! Where iostat's counters come from: /proc (uptime, stat, diskstats) and /sys/block, or the
//! same files under other roots (`-f DIR`, and the captured samples the tests replay).

use std::path::{Path, PathBuf};

use super::counters::{
    CpuCounters, DiskstatsLine, IoCounters, parse_diskstats_line, parse_proc_stat,
    parse_sysfs_stat, parse_uptime,
};

/// Errors that stop a report: iostat cannot go on without uptime and CPU counters.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("Cannot read {}", .0.display())]
    Unreadable(PathBuf),
}

/// The directories iostat reads.
#[derive(Clone, Debug)]
pub struct StatFiles {
    /// Holds `uptime`, `stat` and `diskstats` (normally /proc).
    pub proc_dir: PathBuf,
    /// Holds `block/` and `dev/block/` (normally /sys).
    pub sys_dir: PathBuf,
    /// Holds the device nodes, for major and minor numbers (normally /dev).
    pub dev_dir: PathBuf,
    /// `-f DIR` / `+f DIR`: another `diskstats` and `block/` tree, instead of (or with, `+f`)
    /// the system's.
    pub alternate: Option<(PathBuf, bool)>,
}

impl Default for StatFiles {
    fn default() -> Self {
        Self {
            proc_dir: "/proc".into(),
            sys_dir: "/sys".into(),
            dev_dir: "/dev".into(),
            alternate: None,
        }
    }
}

impl StatFiles {
    pub fn uptime_cs(&self) -> Result<u64, SourceError> {
        let path = self.proc_dir.join("uptime");
        read(&path)
            .and_then(|t| parse_uptime(&t))
            .ok_or(SourceError::Unreadable(path))
    }

    pub fn cpu(&self) -> Result<CpuCounters, SourceError> {
        let path = self.proc_dir.join("stat");
        read(&path)
            .and_then(|t| parse_proc_stat(&t))
            .ok_or(SourceError::Unreadable(path))
    }

    /// Every usable line of diskstats, in the file's order (from the system's file and/or the
    /// alternate one, like sysstat).
    pub fn diskstats(&self) -> Vec<DiskstatsLine> {
        self.block_roots(self.proc_dir.join("diskstats"), |alt| alt.join("diskstats"))
            .iter()
            .filter_map(|path| read(path))
            .flat_map(|text| {
                text.lines()
                    .filter_map(parse_diskstats_line)
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    /// Every whole device under block/, in directory order, with its counters.
    pub fn whole_devices(&self) -> Vec<(String, IoCounters)> {
        let mut devices = Vec::new();
        for block in self.block_roots(self.sys_dir.join("block"), |alt| alt.join("block")) {
            for name in dir_names(&block) {
                if let Some(stats) =
                    read(&block.join(&name).join("stat")).and_then(|t| parse_sysfs_stat(&t))
                {
                    devices.push((name, stats));
                }
            }
        }
        devices
    }

    /// One whole device's counters (block/DEV/stat).
    pub fn whole_device(&self, name: &str) -> Option<IoCounters> {
        self.first_found(|block| read(&block.join(name).join("stat")))
            .and_then(|t| parse_sysfs_stat(&t))
    }

    /// The partitions of a whole device: every entry of block/DEV/ with a stat file.
    pub fn partitions(&self, disk: &str) -> Vec<(String, IoCounters)> {
        let Some(dir) = self.first_found(|block| {
            let dir = block.join(disk);
            dir.is_dir().then_some(dir)
        }) else {
            return Vec::new();
        };
        dir_names(&dir)
            .into_iter()
            .filter_map(|name| {
                let stats =
                    read(&dir.join(&name).join("stat")).and_then(|t| parse_sysfs_stat(&t))?;
                Some((name, stats))
            })
            .collect()
    }

    /// A partition's counters through dev/block/MAJOR:MINOR/stat.
    pub fn by_numbers(&self, major: u32, minor: u32) -> Option<IoCounters> {
        let numbers = format!("{major}:{minor}");
        let mut roots = vec![self.sys_dir.join("dev/block")];
        if let Some((alt, _)) = &self.alternate {
            roots.push(alt.join("dev/block"));
        }
        roots
            .iter()
            .find_map(|root| read(&root.join(&numbers).join("stat")))
            .and_then(|t| parse_sysfs_stat(&t))
    }

    /// Whether NAME is a whole device (block/NAME exists), not a partition.
    pub fn is_whole_device(&self, name: &str) -> bool {
        self.first_found(|block| block.join(name).exists().then_some(()))
            .is_some()
    }

    /// The major and minor numbers of /dev/NAME (`cciss!c0d0` is /dev/cciss/c0d0).
    pub fn device_numbers(&self, name: &str) -> Option<(u32, u32)> {
        use std::os::unix::fs::MetadataExt as _;
        let name = name.replace('!', "/");
        let path = if name.starts_with('/') {
            PathBuf::from(name)
        } else {
            self.dev_dir.join(name)
        };
        let rdev = std::fs::metadata(path).ok()?.rdev();
        Some((libc::major(rdev), libc::minor(rdev)))
    }

    /// sysfs's name of a device (`/sys/dev/block/M:m` -> `../../block/sda`), for -j.
    pub fn kernel_name(&self, major: u32, minor: u32) -> Option<String> {
        let link =
            std::fs::read_link(self.sys_dir.join(format!("dev/block/{major}:{minor}"))).ok()?;
        Some(link.file_name()?.to_string_lossy().into_owned())
    }

    /// The block/ directories to look in: the system's, the alternate one, or both (+f).
    fn block_roots(&self, system: PathBuf, alternate: impl Fn(&Path) -> PathBuf) -> Vec<PathBuf> {
        match &self.alternate {
            None => vec![system],
            Some((alt, false)) => vec![alternate(alt)],
            Some((alt, true)) => vec![system, alternate(alt)],
        }
    }

    fn first_found<T>(&self, find: impl Fn(&Path) -> Option<T>) -> Option<T> {
        self.block_roots(self.sys_dir.join("block"), |alt| alt.join("block"))
            .iter()
            .find_map(|block| find(block))
    }
}

/// A /proc or /sys file's text. These files are small and their size is not known ahead
/// (stat says 4096 or 0), so they are read straight into a buffer: one read for most, instead
/// of `read_to_string`'s stat and extra read per file (iostat reads one per device per
/// report; with hundreds of devices that is most of its cost).
fn read(path: &Path) -> Option<String> {
    use std::io::Read as _;
    let mut file = std::fs::File::open(path).ok()?;
    let mut buffer = vec![0u8; 4096];
    let mut len = 0;
    loop {
        let n = file.read(&mut buffer[len..]).ok()?;
        len += n;
        // A short read of a small file is the whole of it (sysfs and procfs fill what they
        // can in one call); a full buffer may have more.
        if n == 0 || len < buffer.len() {
            break;
        }
        // A file that keeps giving (`-f DIR` with a link to /dev/zero) is no counter file.
        if buffer.len() as u64 >= super::bounded::TEXT_FILE_LIMIT {
            return None;
        }
        buffer.resize(buffer.len() * 2, 0);
    }
    buffer.truncate(len);
    String::from_utf8(buffer).ok()
}

fn dir_names(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}
