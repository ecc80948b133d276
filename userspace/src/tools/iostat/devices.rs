//! The list of devices iostat reports on, kept as sysstat keeps it: command-line devices and
//! groups first (in their order, or alphabetical when no group or `-p ALL` is used), devices
//! found while reading added as they appear, entries never removed (a device that goes away
//! is marked as not existing and skipped, and comes back with its old counters).

use crate::host::{counters::IoCounters, stat_files::StatFiles};

/// sysstat's `dev_tp`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeviceKind {
    Partition,
    Disk,
    /// A disk named with `-p`: its partitions are read too.
    DiskAndPartitions,
    /// `-g NAME`; `members` counts the devices added into it (see `Report::write_stats`).
    Group {
        members: u32,
    },
}

/// One device or group and its counters at the previous and the current sample.
#[derive(Clone, Debug)]
pub struct DeviceEntry {
    pub name: String,
    pub kind: DeviceKind,
    pub exists: bool,
    pub major: u32,
    pub minor: u32,
    pub stats: [IoCounters; 2],
}

/// How a device is being added.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AddAs {
    Found,
    DiskAndPartitions,
    Group,
}

/// `-N`: the dm-N name behind a registered device-mapper name, if it is one.
pub type DevmapLookup<'a> = &'a dyn Fn(&str) -> Option<String>;

/// sysstat's MAX_NAME_LEN: longer names are not tracked.
const MAX_NAME_LEN: usize = 128;

#[derive(Debug, Default)]
pub struct DeviceList {
    pub entries: Vec<DeviceEntry>,
}

impl DeviceList {
    /// sysstat's `add_list_device`: finds NAME or inserts it (before the first greater name
    /// when `sorted`, else at the end). Returns its index.
    pub fn add(
        &mut self,
        name: &str,
        how: AddAs,
        numbers: Option<(u32, u32)>,
        sorted: bool,
        files: &StatFiles,
        devmap_name: Option<DevmapLookup>,
    ) -> Option<usize> {
        if name.len() >= MAX_NAME_LEN {
            return None;
        }
        let mut position = self.entries.len();
        for (index, entry) in self.entries.iter_mut().enumerate() {
            if entry.name == name {
                if how == AddAs::DiskAndPartitions && entry.kind == DeviceKind::Disk {
                    entry.kind = DeviceKind::DiskAndPartitions;
                }
                entry.exists = true;
                return Some(index);
            }
            if sorted && entry.name.as_str() > name {
                position = index;
                break;
            }
        }
        // -N: sysstat reads the stats of dm-0 for a registered name like vg-home.
        let stored = devmap_name
            .and_then(|lookup| lookup(name))
            .unwrap_or_else(|| name.to_owned());
        let kind = match how {
            AddAs::Group => DeviceKind::Group { members: 0 },
            _ if !files.is_whole_device(name) => DeviceKind::Partition,
            AddAs::DiskAndPartitions => DeviceKind::DiskAndPartitions,
            AddAs::Found => DeviceKind::Disk,
        };
        let (major, minor) = match (how, numbers) {
            (AddAs::Group, _) => (0, 0),
            (_, Some(numbers)) => numbers,
            (_, None) => files.device_numbers(&stored).unwrap_or((0, 0)),
        };
        self.entries.insert(
            position,
            DeviceEntry {
                name: stored,
                kind,
                exists: true,
                major,
                minor,
                stats: [IoCounters::default(); 2],
            },
        );
        Some(position)
    }

    pub fn mark_all_missing(&mut self) {
        for entry in &mut self.entries {
            entry.exists = false;
        }
    }

    /// Reads the current sample the way iostat does without `-p ALL`: each listed device from
    /// sysfs (partitions by number, `-p` disks with their partitions), then every whole device
    /// when all are wanted.
    pub fn read_sysfs(&mut self, slot: usize, files: &StatFiles, all_devices: bool, sorted: bool) {
        let mut index = 0;
        while index < self.entries.len() {
            let entry = &self.entries[index];
            index += 1;
            if entry.exists {
                continue;
            }
            let (name, kind, major, minor) =
                (entry.name.clone(), entry.kind, entry.major, entry.minor);
            match kind {
                DeviceKind::Partition => {
                    if let Some(stats) = files.by_numbers(major, minor) {
                        self.set(index - 1, slot, stats);
                    }
                }
                DeviceKind::Disk | DeviceKind::DiskAndPartitions => {
                    if let Some(stats) = files.whole_device(&name) {
                        self.set(index - 1, slot, stats);
                    }
                    if kind == DeviceKind::DiskAndPartitions {
                        for (part, stats) in files.partitions(&name) {
                            if let Some(at) =
                                self.add(&part, AddAs::Found, None, sorted, files, None)
                            {
                                self.entries[at].stats[slot] = stats;
                                // An insertion before the cursor shifts what is left to visit.
                                if at < index {
                                    index += 1;
                                }
                            }
                        }
                    }
                }
                DeviceKind::Group { .. } => {}
            }
        }
        if all_devices {
            for (name, stats) in files.whole_devices() {
                if let Some(at) = self.add(&name, AddAs::Found, None, sorted, files, None) {
                    self.entries[at].stats[slot] = stats;
                }
            }
        }
    }

    /// Reads the current sample from diskstats (`-p ALL`), every line in the file's order.
    pub fn read_diskstats(&mut self, slot: usize, files: &StatFiles, extended: bool, sorted: bool) {
        for line in files.diskstats() {
            if !line.extended && extended {
                continue;
            }
            if let Some(at) = self.add(
                &line.name,
                AddAs::Found,
                Some((line.major, line.minor)),
                sorted,
                files,
                None,
            ) {
                self.entries[at].stats[slot] = line.counters;
            }
        }
    }

    fn set(&mut self, index: usize, slot: usize, stats: IoCounters) {
        let entry = &mut self.entries[index];
        entry.stats[slot] = stats;
        entry.exists = true;
    }
}
