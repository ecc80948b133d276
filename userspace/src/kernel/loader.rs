//! Loading the probe object with the running kernel's layout and one tool's settings, and
//! attaching the programs it needs. One object holds every probe set's programs; a tool sets
//! only the settings of the sets it uses (`ProbeSettings`) and attaches only their programs, so
//! nothing unused runs. A set left out keeps the object's own defaults (off), and its tables
//! get the least room, decided here once rather than by every tool.

use aya::{
    Btf, Ebpf, EbpfLoader,
    programs::{BtfTracePoint, RawTracePoint, TracePoint},
};
use blkscope_common::{
    FileLayout, KernelLayout, ProbeConfig, TracepointArgs,
    block_latency::{LatencyConfig, MAX_HISTOGRAMS},
    fs_latency::{FsConfig, FsLayout},
    names,
    task_io::TaskIoConfig,
};

use crate::model::event::DeviceId;

use crate::kernel::{
    btf_layout::{self, KernelBtf},
    checks::{KernelError, Preflight},
    tracepoint_args,
};

/// The compiled probes (built by build.rs with the probes' own toolchain).
pub(crate) static PROBES: &[u8] =
    aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/blkscope-probes"));

/// The ring buffer of a set left out: one page, the least a ring buffer can have.
const UNUSED_RING_BYTES: u32 = 4096;

/// What one tool asks of the probe object: the settings of the probe sets it uses.
#[derive(Clone, Debug, Default)]
pub struct ProbeSettings {
    /// `block_events`: its settings and ring buffer size.
    block_events: Option<(ProbeConfig, u32)>,
    /// `block_latency`: its settings and the room of its histogram table (per-CPU values:
    /// memory is this times CPUs).
    block_latency: Option<(LatencyConfig, u32)>,
    task_io: Option<TaskIoConfig>,
    /// `fs_latency`: the kernel's file-system layout and its settings.
    fs_latency: Option<(FsLayout, FsConfig)>,
    /// `block_events` with `--file`: where the file of a bio is found.
    files: Option<FileLayout>,
}

impl ProbeSettings {
    pub fn block_events(mut self, config: ProbeConfig, ring_bytes: u32) -> Self {
        self.block_events = Some((config, ring_bytes));
        self
    }

    pub fn block_latency(mut self, config: LatencyConfig, histograms: u32) -> Self {
        self.block_latency = Some((config, histograms));
        self
    }

    pub fn files(mut self, layout: FileLayout) -> Self {
        self.files = Some(layout);
        self
    }

    pub fn task_io(mut self, config: TaskIoConfig) -> Self {
        self.task_io = Some(config);
        self
    }

    pub fn fs_latency(mut self, layout: FsLayout, config: FsConfig) -> Self {
        self.fs_latency = Some((layout, config));
        self
    }

    /// Loads the object with the kernel's layout and tracepoint argument positions (from its
    /// BTF) and these settings (nothing attached yet).
    pub fn load(&self, kernel_btf: &KernelBtf) -> Result<Ebpf, KernelError> {
        let mut layout: KernelLayout = kernel_btf.block_layout()?;
        // The block controller on a v1 hierarchy (hybrid and v1-only hosts): tasks the
        // unified hierarchy does not separate are told apart by their blkio cgroups.
        layout.blkio_v1 =
            u32::from(layout.css_set_io != 0 && crate::cgroup::resolver::blkio_v1_root().is_some());
        let args: TracepointArgs = tracepoint_args::tracepoint_args(kernel_btf);
        let mut loader = EbpfLoader::new();
        loader.override_global(names::KERNEL_LAYOUT, &layout, true);
        loader.override_global(names::TRACEPOINT_ARGS, &args, true);
        let (ring_bytes, cpu_rings) = match &self.block_events {
            Some((config, ring_bytes)) => {
                loader.override_global(names::block_events::CONFIG, config, true);
                (*ring_bytes, config.cpu_rings)
            }
            None => (UNUSED_RING_BYTES, 0),
        };
        for (name, bytes) in block_event_rings(ring_bytes, cpu_rings) {
            loader.map_max_entries(name, bytes);
        }
        let (histograms, fine) = match &self.block_latency {
            Some((config, histograms)) => {
                loader.override_global(names::block_latency::CONFIG, config, true);
                (*histograms, config.fine != 0)
            }
            None => (1, false),
        };
        loader.map_max_entries(names::block_latency::HISTOGRAMS, histograms.max(1));
        // 4 KiB per entry per CPU: room only when --percentiles asks for these histograms.
        loader.map_max_entries(
            names::block_latency::FINE,
            if fine { MAX_HISTOGRAMS } else { 1 },
        );
        if let Some(layout) = &self.files {
            loader.override_global(names::block_events::FILE_LAYOUT, layout, true);
        }
        if let Some(config) = &self.task_io {
            loader.override_global(names::task_io::CONFIG, config, true);
        }
        if let Some((fs_layout, config)) = &self.fs_latency {
            loader.override_global(names::fs_latency::LAYOUT, fs_layout, true);
            loader.override_global(names::fs_latency::CONFIG, config, true);
        }
        loader
            .load(PROBES)
            .map_err(|e| KernelError::Load(Box::new(e)))
    }
}

/// A probe set that a tool loads alone (`start_alone`) or, as the exporter does, with others
/// into one object: `configure` each, load the settings once, `attach` each.
pub trait ProbeSet: Sized {
    type Options;
    /// What `configure` found that `attach` needs.
    type Setup;

    /// Checks the kernel for these options and adds their settings to `settings`.
    fn configure(
        options: &Self::Options,
        kernel_btf: &KernelBtf,
        settings: ProbeSettings,
    ) -> Result<(ProbeSettings, Self::Setup), KernelError>;

    /// Attaches the programs to an object loaded with this set's settings, and takes its maps.
    fn attach(ebpf: &mut Ebpf, setup: Self::Setup) -> Result<Self, KernelError>;

    /// Keeps the object (its programs and links) for as long as the set lives.
    fn own(&mut self, ebpf: Ebpf);
}

/// Checks the kernel, loads the object with this one set's settings, and attaches it.
pub fn start_alone<P: ProbeSet>(options: &P::Options) -> Result<P, KernelError> {
    Preflight::check()?;
    let kernel_btf = KernelBtf::of_kernel()?;
    let (settings, setup) = P::configure(options, &kernel_btf, ProbeSettings::default())?;
    let mut ebpf = settings.load(&kernel_btf)?;
    let mut probe = P::attach(&mut ebpf, setup)?;
    probe.own(ebpf);
    Ok(probe)
}

/// Loads and attaches each `(program, tracepoint)`: as a BTF tracepoint program, or with
/// `--btf FILE` (a kernel that may lack its own BTF) as its raw tracepoint twin `NAME_raw`.
pub(crate) fn attach(ebpf: &mut Ebpf, programs: &[(&str, &str)]) -> Result<(), KernelError> {
    if btf_layout::btf_file().is_some() {
        return attach_raw(ebpf, programs);
    }
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

/// The raw tracepoint twins of `programs` (no BTF needed to load or attach them).
fn attach_raw(ebpf: &mut Ebpf, programs: &[(&str, &str)]) -> Result<(), KernelError> {
    for (name, tracepoint) in programs {
        let raw_name = format!("{name}{}", names::RAW_SUFFIX);
        let program_error = |source| KernelError::Program {
            name: raw_name.clone(),
            source: Box::new(source),
        };
        let program: &mut RawTracePoint = ebpf
            .program_mut(&raw_name)
            .ok_or_else(|| KernelError::MissingProgram(raw_name.clone()))?
            .try_into()
            .map_err(program_error)?;
        program.load().map_err(program_error)?;
        program.attach(tracepoint).map_err(program_error)?;
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

/// With `--file(s)`: the programs that name the file of a direct I/O (iomap's tracepoints),
/// where the kernel has them (Linux 6.x; elsewhere a direct I/O names no file).
pub(crate) fn direct_io_programs(kernel_btf: &KernelBtf) -> Vec<(&'static str, &'static str)> {
    [
        names::block_events::DIO_BEGIN,
        names::block_events::DIO_QUEUED,
        names::block_events::DIO_COMPLETE,
    ]
    .into_iter()
    .filter(|(_, tracepoint)| kernel_btf.has_raw_tracepoint(tracepoint))
    .collect()
}

/// The bio-based disks to time bios on: all of them, or the one a view is limited to.
pub(crate) fn bio_disks_to_trace(device: Option<DeviceId>) -> Vec<DeviceId> {
    crate::host::device::bio_based_disks()
        .into_iter()
        .filter(|d| device.is_none_or(|wanted| wanted == *d))
        .collect()
}

/// Fills the shared `BIO_DISKS` map, before the programs that read it are attached.
pub(crate) fn set_bio_disks(ebpf: &mut Ebpf, disks: &[DeviceId]) -> Result<(), KernelError> {
    let map = ebpf
        .map_mut(names::BIO_DISKS)
        .ok_or_else(|| KernelError::MissingMap(names::BIO_DISKS.to_owned()))?;
    let mut table: aya::maps::HashMap<_, u32, u8> =
        aya::maps::HashMap::try_from(map).map_err(|e| map_error(names::BIO_DISKS, e))?;
    for disk in disks {
        table
            .insert(&disk.to_kernel(), &1, 0)
            .map_err(|e| map_error(names::BIO_DISKS, e))?;
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

/// Each block_events ring buffer and its size: `ring_bytes` in the shared one, or split
/// between the first `cpu_rings` per-CPU ones; a page in each of the others.
pub fn block_event_rings(ring_bytes: u32, cpu_rings: u32) -> Vec<(&'static str, u32)> {
    let each = ring_bytes_each(ring_bytes, cpu_rings);
    let (shared, per_cpu) = if cpu_rings == 0 {
        (each, UNUSED_RING_BYTES)
    } else {
        (UNUSED_RING_BYTES, each)
    };
    let mut rings = vec![(names::block_events::RING, shared)];
    for (n, name) in (0u32..).zip(names::block_events::CPU_RINGS) {
        rings.push((
            name,
            if n < cpu_rings {
                per_cpu
            } else {
                UNUSED_RING_BYTES
            },
        ));
    }
    rings
}

/// The size of each block_events ring in use: all of `ring_bytes` in the shared one, or an
/// equal share in each of `cpu_rings` per-CPU ones.
pub fn ring_bytes_each(ring_bytes: u32, cpu_rings: u32) -> u32 {
    ring_size(ring_bytes / cpu_rings.max(1))
}

/// The ring buffer's size for a requested one: a power of two, at least a page.
pub fn ring_size(ring_bytes: u32) -> u32 {
    ring_bytes.max(4096).next_power_of_two()
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use object::{Object as _, ObjectSymbol as _};

    use super::*;

    /// The eBPF side names programs, maps and globals by its identifiers: a renamed one there
    /// must fail here, not at load time on a user's machine.
    #[test]
    fn every_shared_name_is_in_the_built_object() {
        let file = object::File::parse(PROBES).expect("the probe object is an ELF file");
        let symbols: HashSet<&str> = file.symbols().filter_map(|s| s.name().ok()).collect();
        let missing: Vec<&str> = names::all().filter(|n| !symbols.contains(n)).collect();
        assert!(missing.is_empty(), "not in the probe object: {missing:?}");
        let twins: Vec<String> = names::block_tracepoint_programs()
            .map(|n| format!("{n}{}", names::RAW_SUFFIX))
            .filter(|n| !symbols.contains(n.as_str()))
            .collect();
        assert!(twins.is_empty(), "raw tracepoint twins missing: {twins:?}");
        assert!(names::all().count() > 40);
    }

    #[test]
    fn per_cpu_rings_split_the_buffer_and_leave_the_rest_a_page() {
        let shared = block_event_rings(16 << 20, 0);
        assert_eq!(shared[0], (names::block_events::RING, 16 << 20));
        assert!(shared[1..].iter().all(|(_, bytes)| *bytes == 4096));
        let split = block_event_rings(16 << 20, 2);
        assert_eq!(split.len(), 1 + names::block_events::CPU_RINGS.len());
        assert_eq!(split[0].1, 4096, "the shared ring is left out");
        assert_eq!(split[1], (names::block_events::CPU_RINGS[0], 8 << 20));
        assert_eq!(split[2], (names::block_events::CPU_RINGS[1], 8 << 20));
        assert!(split[3..].iter().all(|(_, bytes)| *bytes == 4096));
    }

    #[test]
    fn ring_buffers_are_a_power_of_two_of_at_least_a_page() {
        assert_eq!(ring_size(0), 4096);
        assert_eq!(ring_size(5000), 8192);
        assert_eq!(ring_size(16 << 20), 16 << 20);
    }
}
