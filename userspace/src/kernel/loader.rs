//! Loading the probe object with the running kernel's layout and a view's settings, and
//! attaching the programs a view needs. One object holds every view's programs; each view
//! attaches only its own, so nothing unused runs.

use aya::{
    Btf, Ebpf, EbpfLoader,
    programs::{BtfTracePoint, TracePoint},
};
use blkscope_common::{
    KernelLayout, ProbeConfig,
    block_latency::{LatencyConfig, MAX_HISTOGRAMS},
    fs_latency::{FsConfig, FsLayout},
    task_io::TopConfig,
};

use crate::kernel::checks::KernelError;

/// The compiled probes (built by build.rs with the probes' own toolchain).
static PROBES: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/blkscope-probes"));

/// The read-only globals of the probe object.
pub(crate) struct ProbeGlobals {
    pub layout: KernelLayout,
    pub block: ProbeConfig,
    pub latency: LatencyConfig,
    pub top: TopConfig,
    pub fs_layout: FsLayout,
    pub fs: FsConfig,
    /// Size of the block event ring buffer (a power of two, at least a page).
    pub ring_bytes: u32,
    /// Room in the biolatency histogram table (per-CPU values: memory is this times CPUs).
    pub latency_histograms: u32,
}

pub(crate) fn load(globals: &ProbeGlobals) -> Result<Ebpf, KernelError> {
    EbpfLoader::new()
        .override_global("BLOCK_LAYOUT", &globals.layout, true)
        .override_global("BLOCK_CONFIG", &globals.block, true)
        .override_global("LATENCY_CONFIG", &globals.latency, true)
        .override_global("TOP_CONFIG", &globals.top, true)
        .override_global("FS_LAYOUT", &globals.fs_layout, true)
        .override_global("FS_CONFIG", &globals.fs, true)
        .map_max_entries("BLOCK_EVENTS", ring_size(globals.ring_bytes))
        .map_max_entries("LATENCY_HISTOGRAMS", globals.latency_histograms.max(1))
        // 4 KiB per entry per CPU: room only when --percentiles asks for these histograms.
        .map_max_entries(
            "LATENCY_FINE",
            if globals.latency.fine != 0 {
                MAX_HISTOGRAMS
            } else {
                1
            },
        )
        .load(PROBES)
        .map_err(|e| KernelError::Load(Box::new(e)))
}

/// Loads and attaches each `(program, tracepoint)` as a BTF tracepoint program.
pub(crate) fn attach(ebpf: &mut Ebpf, programs: &[(&str, &str)]) -> Result<(), KernelError> {
    let btf = Btf::from_sys_fs().map_err(|e| KernelError::Load(Box::new(e.into())))?;
    for (name, tracepoint) in programs {
        let program_error = |source| KernelError::Program {
            name: (*name).to_owned(),
            source: Box::new(source),
        };
        let program: &mut BtfTracePoint = ebpf
            .program_mut(name)
            .ok_or_else(|| KernelError::MissingProgram((*name).to_owned()))?
            .try_into()
            .map_err(program_error)?;
        program.load(tracepoint, &btf).map_err(program_error)?;
        program.attach().map_err(program_error)?;
    }
    Ok(())
}

/// Loads each classic tracepoint program once and attaches it to each `category:name` given.
pub(crate) fn attach_tracepoints(
    ebpf: &mut Ebpf,
    programs: &[(&str, &str, &str)],
) -> Result<(), KernelError> {
    let mut loaded: Vec<&str> = Vec::new();
    for (name, category, tracepoint) in programs {
        let program_error = |source| KernelError::Program {
            name: format!("{name} ({category}:{tracepoint})"),
            source: Box::new(source),
        };
        let program: &mut TracePoint = ebpf
            .program_mut(name)
            .ok_or_else(|| KernelError::MissingProgram((*name).to_owned()))?
            .try_into()
            .map_err(program_error)?;
        if !loaded.contains(name) {
            program.load().map_err(program_error)?;
            loaded.push(name);
        }
        program
            .attach(category, tracepoint)
            .map_err(program_error)?;
    }
    Ok(())
}

pub(crate) fn take_map(ebpf: &mut Ebpf, name: &str) -> Result<aya::maps::Map, KernelError> {
    ebpf.take_map(name)
        .ok_or_else(|| KernelError::MissingMap(name.to_owned()))
}

pub(crate) fn map_error(name: &str, source: aya::maps::MapError) -> KernelError {
    KernelError::Map {
        name: name.to_owned(),
        source: Box::new(source),
    }
}

/// The ring buffer's size for a requested one: a power of two, at least a page.
pub fn ring_size(ring_bytes: u32) -> u32 {
    ring_bytes.max(4096).next_power_of_two()
}
