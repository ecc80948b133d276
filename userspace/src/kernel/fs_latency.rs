//! Loads the fs_latency probes (ext4slower, ext4dist, the exporter) on the syscall tracepoints and reads what
//! they produce: slow-operation events from a ring buffer, or per-operation histograms.

use std::collections::BTreeMap;

use aya::{
    Ebpf,
    maps::{MapData, PerCpuArray, PerCpuHashMap, RingBuf},
};
use blkscope_common::{
    fs_latency::{DIST_SLOTS, FsConfig, FsEvent, FsOp},
    names::fs_latency as names,
};
use tokio::io::unix::AsyncFd;

use crate::kernel::{
    btf_layout::KernelBtf,
    checks::{KernelError, Preflight},
    loader::{self, ProbeSet, ProbeSettings, map_error, take_map},
    requirements::ProbeKind,
    tracefs,
};
use crate::model::histogram::slot_differences;

/// What to trace.
#[derive(Clone, Debug)]
pub struct FsOptions {
    /// The file system's magic number (`s_magic`).
    pub magic: u64,
    /// Report operations slower than this (0: all).
    pub min_latency_ns: u64,
    /// Only the file system with this device (`--mount`), kernel `dev_t` encoding.
    pub dev: Option<u32>,
    pub pid: Option<u32>,
    /// (id, depth) of a cgroup: only tasks in it or below.
    pub cgroup: Option<(u64, u32)>,
    /// Histograms (ext4dist) in this unit (ns per unit) instead of events.
    pub histogram_unit_ns: Option<u32>,
}

/// Syscalls only some architectures have (x86_64 has them all).
const OPTIONAL: [&str; 2] = ["open", "creat"];

/// What `configure` found that `attach` needs.
pub struct FsSetup {
    /// The syscalls this kernel has tracepoints for.
    syscalls: Vec<&'static str>,
}

/// The attached probes.
pub struct FsProbe {
    /// Owns the programs and their links, unless a tool that loaded several probe sets
    /// together owns them (`attach`).
    _object: Option<Ebpf>,
    events: AsyncFd<RingBuf<MapData>>,
    histograms: PerCpuHashMap<MapData, u32, [u64; DIST_SLOTS]>,
    drops: PerCpuArray<MapData, u64>,
    previous: BTreeMap<u32, [u64; DIST_SLOTS]>,
}

impl ProbeSet for FsProbe {
    type Options = FsOptions;
    type Setup = FsSetup;

    /// Checks the kernel for these options and adds their settings to `settings`, for a
    /// tool that loads this probe set with others (`attach` it once the object is loaded).
    fn configure(
        options: &Self::Options,
        kernel_btf: &KernelBtf,
        settings: ProbeSettings,
    ) -> Result<(ProbeSettings, Self::Setup), KernelError> {
        Preflight::probe_set(kernel_btf, ProbeKind::FsLatency)?;
        let syscalls = available_syscalls()?;
        let fs = FsConfig {
            magic: options.magic,
            min_latency_ns: options.min_latency_ns,
            filter_dev: u32::from(options.dev.is_some()),
            dev: options.dev.unwrap_or(0),
            filter_pid: u32::from(options.pid.is_some()),
            tgid: options.pid.unwrap_or(0),
            filter_cgroup: u32::from(options.cgroup.is_some()),
            cgroup_level: options.cgroup.map_or(0, |(_, level)| level),
            cgroup_id: options.cgroup.map_or(0, |(id, _)| id),
            histograms: u32::from(options.histogram_unit_ns.is_some()),
            unit_ns: options.histogram_unit_ns.unwrap_or(1000),
        };
        Ok((
            settings.fs_latency(kernel_btf.fs_layout()?, fs),
            FsSetup { syscalls },
        ))
    }

    /// Attaches the programs to an object loaded with this set's settings, and takes its maps.
    /// Must be called inside a tokio runtime.
    fn attach(ebpf: &mut Ebpf, setup: Self::Setup) -> Result<Self, KernelError> {
        let syscalls = setup.syscalls;
        let ring = RingBuf::try_from(take_map(ebpf, names::EVENTS)?)
            .map_err(|e| map_error(names::EVENTS, e))?;
        let histograms = PerCpuHashMap::try_from(take_map(ebpf, names::DIST)?)
            .map_err(|e| map_error(names::DIST, e))?;
        let drops = PerCpuArray::try_from(take_map(ebpf, names::DROPS)?)
            .map_err(|e| map_error(names::DROPS, e))?;
        let mut programs = Vec::new();
        for (program, calls) in names::ENTRIES {
            for name in calls.iter().filter(|n| syscalls.contains(n)) {
                programs.push((program, "syscalls", format!("sys_enter_{name}")));
                programs.push((names::EXIT, "syscalls", format!("sys_exit_{name}")));
            }
        }
        let programs: Vec<(&str, &str, &str)> = programs
            .iter()
            .map(|(p, c, t)| (*p, *c, t.as_str()))
            .collect();
        loader::attach_tracepoints(ebpf, &programs)?;
        // SAFETY: the RingBuf owns its map fd, which stays open until the AsyncFd is dropped.
        let events =
            unsafe { AsyncFd::register_with_interest(ring, tokio::io::Interest::READABLE) }
                .map_err(|e| KernelError::Io(e.into()))?;
        Ok(Self {
            _object: None,
            events,
            histograms,
            drops,
            previous: BTreeMap::new(),
        })
    }

    fn own(&mut self, ebpf: Ebpf) {
        self._object = Some(ebpf);
    }
}

impl FsProbe {
    /// Checks the kernel, loads the probes with these options, and attaches them. Must be
    /// called inside a tokio runtime.
    pub fn start(options: &FsOptions) -> Result<Self, KernelError> {
        loader::start_alone(options)
    }

    /// Waits for slow operations and appends them to `out`.
    pub async fn next_events(&mut self, out: &mut Vec<FsEvent>) -> Result<(), KernelError> {
        let mut guard = self.events.readable_mut().await?;
        drain_into(guard.get_inner_mut(), out);
        guard.clear_ready();
        Ok(())
    }

    /// Appends what is buffered now, without waiting.
    pub fn drain(&mut self, out: &mut Vec<FsEvent>) {
        drain_into(self.events.get_mut(), out);
    }

    /// Counts per operation since the previous call (histogram mode).
    pub fn take_histograms(&mut self) -> Result<BTreeMap<FsOp, [u64; DIST_SLOTS]>, KernelError> {
        let mut totals = BTreeMap::new();
        for entry in self.histograms.iter() {
            let (op, per_cpu) = entry.map_err(|e| map_error(names::DIST, e))?;
            let mut sum = [0u64; DIST_SLOTS];
            for histogram in per_cpu.iter() {
                for (total, count) in sum.iter_mut().zip(histogram) {
                    *total += count;
                }
            }
            totals.insert(op, sum);
        }
        let mut interval = BTreeMap::new();
        for (op, slots) in &totals {
            let before = self.previous.get(op).copied().unwrap_or([0; DIST_SLOTS]);
            let diff = slot_differences(slots, &before);
            if let Some(op) = u8::try_from(*op).ok().and_then(FsOp::from_u8)
                && diff.iter().any(|&c| c > 0)
            {
                interval.insert(op, diff);
            }
        }
        self.previous = totals;
        Ok(interval)
    }

    /// Operations lost (ring buffer or entry table full).
    pub fn drops(&self) -> Result<u64, KernelError> {
        let values = self
            .drops
            .get(&0, 0)
            .map_err(|e| map_error(names::DROPS, e))?;
        Ok(values.iter().sum())
    }
}

fn drain_into(ring: &mut RingBuf<MapData>, out: &mut Vec<FsEvent>) {
    while let Some(item) = ring.next() {
        if item.len() == std::mem::size_of::<FsEvent>() {
            // SAFETY: the length matches and FsEvent is plain data valid for any bytes.
            out.push(unsafe { std::ptr::read_unaligned(item.as_ptr().cast::<FsEvent>()) });
        }
    }
}

/// The syscalls of `names::ENTRIES` this kernel has tracepoints for, after checking that their records
/// have the layout the probes read (`fd` or `pos`/`pos_l` where expected, `ret` at 16).
fn available_syscalls() -> Result<Vec<&'static str>, KernelError> {
    let root = tracefs::ensure_mounted().map_err(KernelError::Tracefs)?;
    let mut found = Vec::new();
    for (program, calls) in names::ENTRIES {
        for name in calls.iter().copied() {
            let enter = format!("sys_enter_{name}");
            if !tracefs::has_tracepoint(&root, "syscalls", &enter) {
                if OPTIONAL.contains(&name) {
                    continue;
                }
                return Err(KernelError::MissingTracepoint(format!("syscalls:{enter}")));
            }
            check_layout(&root, program, name)?;
            found.push(name);
        }
    }
    Ok(found)
}

fn check_layout(root: &std::path::Path, program: &str, name: &str) -> Result<(), KernelError> {
    let field =
        |tracepoint: &str, field: &str| tracefs::field_offset(root, "syscalls", tracepoint, field);
    let enter = format!("sys_enter_{name}");
    let exit = format!("sys_exit_{name}");
    let mut expected = vec![(exit.as_str(), "ret", 16)];
    if !program.ends_with("open_enter") {
        expected.push((enter.as_str(), "fd", 16));
    }
    if program.ends_with("pread_enter") || program.ends_with("pwrite_enter") {
        let pos = if name.ends_with("64") { "pos" } else { "pos_l" };
        expected.push((enter.as_str(), pos, 40));
    }
    for (tracepoint, name, offset) in expected {
        if field(tracepoint, name) != Some(offset) {
            return Err(KernelError::MissingTracepoint(format!(
                "syscalls:{tracepoint} with field {name} at offset {offset}"
            )));
        }
    }
    Ok(())
}
