//! The kernel counters iostat works from, as sysstat keeps them (`struct io_stats` and the
//! "cpu" line of /proc/stat), and their parsing.
//!
//! Widths matter: sysstat keeps the tick counters in 32 bits and subtracts them in 32 bits, so
//! a wrapped `tot_ticks` gives the same %util as sysstat. Sector and I/O counts are 64 bits.

use std::io::Cursor;

use procfs_core::{DiskStat, FromBufReadSI as _, FromRead as _, KernelStats, SystemInfoInterface};

/// One device's counters (sysstat's `struct io_stats`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IoCounters {
    pub rd_sectors: u64,
    pub wr_sectors: u64,
    pub dc_sectors: u64,
    pub rd_ios: u64,
    pub rd_merges: u64,
    pub wr_ios: u64,
    pub wr_merges: u64,
    pub dc_ios: u64,
    pub dc_merges: u64,
    pub fl_ios: u64,
    pub rd_ticks: u32,
    pub wr_ticks: u32,
    pub dc_ticks: u32,
    pub fl_ticks: u32,
    pub ios_pgr: u32,
    pub tot_ticks: u32,
    pub rq_ticks: u32,
}

impl IoCounters {
    /// Reads, writes, discards and flushes completed: a device with none is "unused".
    pub fn has_io(&self) -> bool {
        self.rd_ios != 0 || self.wr_ios != 0 || self.dc_ios != 0 || self.fl_ios != 0
    }

    /// Adds another device's counters (a group's total), wrapping like sysstat.
    pub fn accumulate(&mut self, other: &IoCounters) {
        self.rd_ios = self.rd_ios.wrapping_add(other.rd_ios);
        self.rd_merges = self.rd_merges.wrapping_add(other.rd_merges);
        self.rd_sectors = self.rd_sectors.wrapping_add(other.rd_sectors);
        self.rd_ticks = self.rd_ticks.wrapping_add(other.rd_ticks);
        self.wr_ios = self.wr_ios.wrapping_add(other.wr_ios);
        self.wr_merges = self.wr_merges.wrapping_add(other.wr_merges);
        self.wr_sectors = self.wr_sectors.wrapping_add(other.wr_sectors);
        self.wr_ticks = self.wr_ticks.wrapping_add(other.wr_ticks);
        self.dc_ios = self.dc_ios.wrapping_add(other.dc_ios);
        self.dc_merges = self.dc_merges.wrapping_add(other.dc_merges);
        self.dc_sectors = self.dc_sectors.wrapping_add(other.dc_sectors);
        self.dc_ticks = self.dc_ticks.wrapping_add(other.dc_ticks);
        self.fl_ios = self.fl_ios.wrapping_add(other.fl_ios);
        self.fl_ticks = self.fl_ticks.wrapping_add(other.fl_ticks);
        self.ios_pgr = self.ios_pgr.wrapping_add(other.ios_pgr);
        self.tot_ticks = self.tot_ticks.wrapping_add(other.tot_ticks);
        self.rq_ticks = self.rq_ticks.wrapping_add(other.rq_ticks);
    }

    /// The counters of a full stat line (11, 15 or 17 numbers, the kernel's order).
    fn from_disk_stat(stat: &DiskStat) -> Self {
        // sysstat reads the tick fields with %u: a larger value keeps its low 32 bits.
        let ticks = |v: u64| v as u32;
        Self {
            rd_ios: stat.reads,
            rd_merges: stat.merged,
            rd_sectors: stat.sectors_read,
            rd_ticks: ticks(stat.time_reading),
            wr_ios: stat.writes,
            wr_merges: stat.writes_merged,
            wr_sectors: stat.sectors_written,
            wr_ticks: ticks(stat.time_writing),
            ios_pgr: ticks(stat.in_progress),
            tot_ticks: ticks(stat.time_in_progress),
            rq_ticks: ticks(stat.weighted_time_in_progress),
            // Discards (Linux 4.18) and flushes (5.5) come all or nothing.
            dc_ios: stat
                .discards
                .filter(|_| stat.time_discarding.is_some())
                .unwrap_or(0),
            dc_merges: stat
                .discards_merged
                .filter(|_| stat.time_discarding.is_some())
                .unwrap_or(0),
            dc_sectors: stat
                .sectors_discarded
                .filter(|_| stat.time_discarding.is_some())
                .unwrap_or(0),
            dc_ticks: stat.time_discarding.map_or(0, ticks),
            fl_ios: stat
                .flushes
                .filter(|_| stat.time_flushing.is_some())
                .unwrap_or(0),
            fl_ticks: stat.time_flushing.map_or(0, ticks),
        }
    }

    /// Partitions of kernels before 2.6.25 have four numbers: reads, sectors read, writes,
    /// sectors written.
    fn from_short_partition(numbers: &[u64]) -> Self {
        Self {
            rd_ios: numbers[0],
            rd_sectors: numbers[1],
            wr_ios: numbers[2],
            wr_sectors: numbers[3],
            ..Self::default()
        }
    }
}

/// One line of /proc/diskstats.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DiskstatsLine {
    pub major: u32,
    pub minor: u32,
    pub name: String,
    pub counters: IoCounters,
    /// False for the old four-number partition lines, which `-x` cannot use.
    pub extended: bool,
}

/// Parses a /proc/diskstats line; None for lines iostat ignores.
pub fn parse_diskstats_line(line: &str) -> Option<DiskstatsLine> {
    let fields: Vec<&str> = line.split_whitespace().collect();
    let major = fields.first()?.parse().ok()?;
    let minor = fields.get(1)?.parse().ok()?;
    let name = (*fields.get(2)?).to_owned();
    let (counters, extended) = parse_numbers(&fields[3..], line)?;
    Some(DiskstatsLine {
        major,
        minor,
        name,
        counters,
        extended,
    })
}

/// Parses a /sys/block/DEV/stat (or partition) file.
pub fn parse_sysfs_stat(text: &str) -> Option<IoCounters> {
    let fields: Vec<&str> = text.split_whitespace().collect();
    parse_numbers(&fields, &format!("0 0 dev {text}")).map(|(counters, _)| counters)
}

/// The numbers after the name: 11+ (full) or 4 (old partitions). `line` is the same
/// numbers in diskstats form, for procfs.
fn parse_numbers(fields: &[&str], line: &str) -> Option<(IoCounters, bool)> {
    if fields.len() >= 11 {
        let stat = DiskStat::from_line(line).ok()?;
        return Some((IoCounters::from_disk_stat(&stat), true));
    }
    if fields.len() == 4 {
        let numbers: Vec<u64> = fields
            .iter()
            .map(|f| f.parse().ok())
            .collect::<Option<_>>()?;
        return Some((IoCounters::from_short_partition(&numbers), false));
    }
    None
}

/// The "cpu" line of /proc/stat, in ticks (sysstat's `struct stats_cpu`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CpuCounters {
    pub user: u64,
    pub nice: u64,
    pub system: u64,
    pub idle: u64,
    pub iowait: u64,
    pub hardirq: u64,
    pub softirq: u64,
    pub steal: u64,
    pub guest: u64,
    pub guest_nice: u64,
}

impl CpuCounters {
    /// Every tick of every CPU. Guest time is already inside user and nice.
    pub fn total(&self) -> u64 {
        self.user
            + self.nice
            + self.system
            + self.idle
            + self.iowait
            + self.hardirq
            + self.steal
            + self.softirq
    }
}

/// procfs wants to know the machine to convert ticks; iostat uses raw ticks.
struct RawTicks;

impl SystemInfoInterface for RawTicks {
    fn boot_time_secs(&self) -> procfs_core::ProcResult<u64> {
        Ok(0)
    }
    fn ticks_per_second(&self) -> u64 {
        100
    }
    fn page_size(&self) -> u64 {
        4096
    }
    fn is_little_endian(&self) -> bool {
        cfg!(target_endian = "little")
    }
}

/// Parses /proc/stat's aggregate "cpu" line.
pub fn parse_proc_stat(text: &str) -> Option<CpuCounters> {
    let Ok(stats) = KernelStats::from_buf_read(Cursor::new(text), &RawTicks) else {
        return parse_cpu_line(text);
    };
    let t = stats.total;
    Some(CpuCounters {
        user: t.user,
        nice: t.nice,
        system: t.system,
        idle: t.idle,
        iowait: t.iowait.unwrap_or(0),
        hardirq: t.irq.unwrap_or(0),
        softirq: t.softirq.unwrap_or(0),
        steal: t.steal.unwrap_or(0),
        guest: t.guest.unwrap_or(0),
        guest_nice: t.guest_nice.unwrap_or(0),
    })
}

/// procfs wants the whole file (ctxt, btime, ...); iostat reads only the "cpu" line, so a
/// trimmed file (a container's lxcfs view, a test's) is still read like iostat reads it.
fn parse_cpu_line(text: &str) -> Option<CpuCounters> {
    let line = text.lines().find(|l| l.starts_with("cpu "))?;
    let mut numbers = line[4..].split_whitespace().map(|n| n.parse::<u64>().ok());
    let mut next = || numbers.next().flatten().unwrap_or(0);
    Some(CpuCounters {
        user: next(),
        nice: next(),
        system: next(),
        idle: next(),
        iowait: next(),
        hardirq: next(),
        softirq: next(),
        steal: next(),
        guest: next(),
        guest_nice: next(),
    })
}

/// Parses /proc/uptime into hundredths of a second, iostat's time base.
pub fn parse_uptime(text: &str) -> Option<u64> {
    let uptime = procfs_core::Uptime::from_read(Cursor::new(text)).ok()?;
    // The kernel prints two decimals: the product is a whole number up to float error.
    Some((uptime.uptime * 100.0).round() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diskstats_lines_of_every_kernel_age() {
        let full = parse_diskstats_line(
            " 254 0 vda 105018 22118 10793922 71694 36619 45628 17201208 39387 0 14652 113004 20001 37 5976712 1782 4152 139",
        )
        .unwrap();
        assert_eq!(
            (full.major, full.minor, full.name.as_str()),
            (254, 0, "vda")
        );
        assert_eq!(full.counters.rd_ios, 105018);
        assert_eq!(full.counters.dc_sectors, 5976712);
        assert_eq!((full.counters.fl_ios, full.counters.fl_ticks), (4152, 139));
        let no_flush = parse_diskstats_line("8 0 sda 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15").unwrap();
        assert_eq!(
            (no_flush.counters.dc_ticks, no_flush.counters.fl_ios),
            (15, 0)
        );
        let old = parse_diskstats_line("8 1 sda1 10 20 30 40").unwrap();
        assert!(!old.extended);
        assert_eq!((old.counters.rd_sectors, old.counters.wr_ios), (20, 30));
        assert_eq!(parse_diskstats_line("8 1 sda1 10 20"), None);
        assert_eq!(parse_diskstats_line("garbage"), None);
    }

    #[test]
    fn tick_counters_keep_their_low_32_bits() {
        let line = format!("8 0 sda 1 0 8 {} 0 0 0 0 0 0 0", (1u64 << 32) + 5);
        assert_eq!(parse_diskstats_line(&line).unwrap().counters.rd_ticks, 5);
    }

    #[test]
    fn cpu_and_uptime() {
        let full = "cpu  44869 0 25226 1984030 1551 0 2795 69 0 0\ncpu0 1 2 3 4 5 6 7 8 0 0\n\
            intr 1\nctxt 5\nbtime 1700000000\nprocesses 9\nprocs_running 1\nprocs_blocked 0\n";
        let cpu = parse_proc_stat(full).unwrap();
        let trimmed = parse_proc_stat("cpu  44869 0 25226 1984030 1551 0 2795 69 0 0\n");
        assert_eq!(trimmed, Some(cpu), "only the cpu line, as iostat reads it");
        assert_eq!(parse_proc_stat("nothing\n"), None);
        assert_eq!(
            (cpu.user, cpu.system, cpu.softirq, cpu.steal),
            (44869, 25226, 2795, 69)
        );
        assert_eq!(cpu.total(), 44869 + 25226 + 1984030 + 1551 + 2795 + 69);
        assert_eq!(parse_uptime("10314.98 19840.30\n"), Some(1031498));
    }
}
