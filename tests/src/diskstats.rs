//! The kernel's own I/O counters for one device, from /proc/diskstats.

/// Completed I/Os of one device (fields 4, 8, 15 and 19 of /proc/diskstats), and the sectors
/// read and written (fields 6 and 10).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DiskCounters {
    pub reads: u64,
    pub writes: u64,
    pub discards: u64,
    pub flushes: u64,
    pub read_sectors: u64,
    pub written_sectors: u64,
}

impl DiskCounters {
    pub fn read(name: &str) -> Self {
        let text = std::fs::read_to_string("/proc/diskstats").expect("/proc/diskstats");
        let fields: Vec<u64> = text
            .lines()
            .map(|l| l.split_whitespace().collect::<Vec<_>>())
            .find(|f| f.get(2) == Some(&name))
            .unwrap_or_else(|| panic!("{name} is not in /proc/diskstats"))
            .iter()
            .skip(3)
            .map(|v| v.parse().unwrap_or(0))
            .collect();
        let at = |i: usize| fields.get(i).copied().unwrap_or(0);
        Self {
            reads: at(0),
            writes: at(4),
            discards: at(11),
            flushes: at(15),
            read_sectors: at(2),
            written_sectors: at(6),
        }
    }

    pub fn completions(&self) -> u64 {
        self.reads + self.writes + self.discards + self.flushes
    }
}
