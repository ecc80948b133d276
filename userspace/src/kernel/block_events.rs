//! Loads the block_events probes (trace, record, biosnoop), attaches them to the `block:*` tracepoints, and reads their ring
//! buffer on tokio. Stopping detaches the probes first, then drains what is left, so that no
//! event already in the buffer is lost; drops (buffer full) are counted per CPU in the kernel.

use aya::{
    Ebpf,
    maps::{HashMap, MapData, PerCpuArray},
};
use blkscope_common::{
    BlockAction, ProbeConfig,
    block_events::{CPU_RINGS, DEFAULT_RING_BYTES, INLINE_DEVICES},
    names::block_events as names,
};
use tokio::io::unix::AsyncFd;

use crate::{
    cgroup::{CgroupError, CgroupResolver},
    kernel::{
        btf_layout::KernelBtf,
        checks::{KernelError, Preflight},
        loader::{self, ProbeSettings, map_error, take_map},
        requirements::ProbeKind,
        ring_reader::{RingReader, RingSet},
    },
    model::event::{BlockIoEvent, DecodeError, DeviceId, EventDecoder, ProbeRecord},
};

/// Each block tracepoint and the program (same name) attached to it.
pub const BLOCK_TRACEPOINTS: [&str; 15] = names::PROGRAMS;

/// What to trace.
#[derive(Clone, Debug)]
pub struct BlockTraceOptions {
    /// Whole disks to trace; empty traces every device.
    pub devices: Vec<DeviceId>,
    /// Actions to emit.
    pub actions: Vec<BlockAction>,
    /// Ring buffer size in bytes (rounded up to a power of two).
    pub ring_bytes: u32,
    /// Only I/O submitted by tasks in this cgroup or below it (bio events; see ProbeConfig).
    pub cgroup: Option<CgroupFilter>,
    /// Queue events name the file their bio carries (`BlockIoEvent::file`).
    pub files: bool,
    /// A ring buffer per CPU (up to `CPU_RINGS`, CPUs beyond share them), `ring_bytes`
    /// split between them: for a reader that needs each CPU's events in order and nothing
    /// across CPUs (`next_records`); the probes then share no lock and no cache line between
    /// CPUs. Otherwise one ring for all, in which all events are in order.
    pub per_cpu_rings: bool,
}

/// A cgroup of the unified hierarchy: its id and its depth below the root (root = 0).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CgroupFilter {
    pub id: u64,
    pub level: u32,
}

impl CgroupFilter {
    /// The filter for a cgroup directory (`-c PATH`, absolute or below the unified root).
    pub fn of_path(path: &std::path::Path) -> Result<CgroupFilter, CgroupError> {
        let (id, level) = CgroupResolver::new()?.locate(path)?;
        Ok(CgroupFilter { id, level })
    }

    /// `-c PATH` when given, as the task_io probes take it: (id, depth).
    pub fn id_and_level(path: Option<&std::path::Path>) -> Result<Option<(u64, u32)>, CgroupError> {
        Ok(path
            .map(CgroupFilter::of_path)
            .transpose()?
            .map(|f| (f.id, f.level)))
    }
}

impl Default for BlockTraceOptions {
    fn default() -> Self {
        Self {
            devices: Vec::new(),
            actions: BlockAction::ALL.to_vec(),
            ring_bytes: DEFAULT_RING_BYTES,
            cgroup: None,
            files: false,
            per_cpu_rings: false,
        }
    }
}

/// Events lost because the ring buffer was full, per CPU.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DropCounts {
    pub per_cpu: Vec<u64>,
    /// Records that came through but could not be decoded (a probe/userspace mismatch).
    pub undecodable: u64,
}

impl DropCounts {
    pub fn total(&self) -> u64 {
        self.per_cpu.iter().sum::<u64>() + self.undecodable
    }
}

/// A running block trace.
pub struct BlockTracer {
    /// Owns the loaded programs and their links; `None` once detached.
    ebpf: Option<Ebpf>,
    ring: AsyncFd<RingSet>,
    drops: PerCpuArray<MapData, u64>,
    decoder: EventDecoder,
    undecodable: u64,
}

/// How often the ring buffer is read when the probes did not wake the reader: the longest an
/// event waits before a view sees it.
const POLL_INTERVAL: std::time::Duration = std::time::Duration::from_millis(20);

/// The most events handed to a view at once. Small enough that a batch (some 150 bytes an
/// event once decoded) stays in the CPU's caches while the view goes through it: a whole
/// wakeup's worth (megabytes) made the collector wait on memory more than it computed.
const BATCH_EVENTS: usize = 2048;

impl BlockTracer {
    /// Checks the kernel, loads the probes with the running kernel's layout, and attaches them.
    /// Must be called inside a tokio runtime.
    pub fn start(options: &BlockTraceOptions) -> Result<Self, KernelError> {
        Preflight::check()?;
        let kernel_btf = KernelBtf::of_kernel()?;
        Preflight::probe_set(&kernel_btf, ProbeKind::BlockEvents)?;
        let decoder = EventDecoder::new(kernel_btf.request_flag_bits()?);
        let cpu_rings = if options.per_cpu_rings {
            cpu_rings()
        } else {
            0
        };
        let ring_bytes = loader::ring_bytes_each(options.ring_bytes, cpu_rings);
        let config = ProbeConfig {
            action_mask: options.actions.iter().fold(0, |m, a| m | a.mask_bit()),
            filter_devices: u32::from(!options.devices.is_empty()),
            filter_cgroup: u32::from(options.cgroup.is_some()),
            cgroup_id: options.cgroup.map_or(0, |c| c.id),
            cgroup_level: options.cgroup.map_or(0, |c| c.level),
            // An eighth of the buffer: the reader has seven eighths of room left to catch up.
            wakeup_bytes: ring_bytes / 8,
            cpu_rings,
            files: u32::from(options.files),
            ..inline_devices(&options.devices)
        };
        let mut settings = ProbeSettings::default().block_events(config, options.ring_bytes);
        if options.files {
            settings = settings.files(kernel_btf.file_layout()?);
        }
        let mut ebpf = settings.load(&kernel_btf)?;

        set_traced_devices(&mut ebpf, &options.devices)?;
        let ring_names = match cpu_rings {
            0 => &[names::RING][..],
            n => &names::CPU_RINGS[..n as usize],
        };
        let mut rings = Vec::new();
        for name in ring_names {
            rings.push(RingReader::new(take_map(&mut ebpf, name)?)?);
        }
        let ring = RingSet::new(rings)?;
        let drops = PerCpuArray::try_from(take_map(&mut ebpf, names::DROPS)?)
            .map_err(|e| map_error(names::DROPS, e))?;
        let mut programs: Vec<(&str, &str)> = BLOCK_TRACEPOINTS.iter().map(|t| (*t, *t)).collect();
        if options.files {
            programs.extend(loader::direct_io_programs(&kernel_btf));
        }
        loader::attach(&mut ebpf, &programs)?;
        // SAFETY: the reader owns its map fd, which stays open (and is the same fd) until the
        // AsyncFd that owns the reader is dropped.
        let ring = unsafe { AsyncFd::register_with_interest(ring, tokio::io::Interest::READABLE) }
            .map_err(|e| KernelError::Io(e.into()))?;
        Ok(Self {
            ebpf: Some(ebpf),
            ring,
            drops,
            decoder,
            undecodable: 0,
        })
    }

    /// Waits until the probes wake the reader (the buffer filled up to `wakeup_bytes`) or
    /// `POLL_INTERVAL` passed, then appends every event in the ring buffer to `out` (maybe
    /// none).
    pub async fn next_batch(&mut self, out: &mut Vec<BlockIoEvent>) -> Result<(), KernelError> {
        let (decoder, undecodable) = (&mut self.decoder, &mut self.undecodable);
        next_read(&mut self.ring, &mut |bytes| {
            decode_into(decoder, undecodable, bytes, out)
        })
        .await
    }

    /// Appends what is in the ring buffer now, without waiting.
    pub fn drain(&mut self, out: &mut Vec<BlockIoEvent>) {
        let (decoder, undecodable) = (&mut self.decoder, &mut self.undecodable);
        self.ring.get_mut().read(usize::MAX, &mut |bytes| {
            decode_into(decoder, undecodable, bytes, out)
        });
    }

    /// [`BlockTracer::next_batch`] without the decoding: each record as it came.
    pub async fn next_records(
        &mut self,
        each: &mut dyn FnMut(&ProbeRecord<'_>),
    ) -> Result<(), KernelError> {
        let (decoder, undecodable) = (&self.decoder, &mut self.undecodable);
        next_read(&mut self.ring, &mut |bytes| {
            check_record(decoder, undecodable, bytes, each)
        })
        .await
    }

    /// [`BlockTracer::drain`] without the decoding.
    pub fn drain_records(&mut self, each: &mut dyn FnMut(&ProbeRecord<'_>)) {
        let (decoder, undecodable) = (&self.decoder, &mut self.undecodable);
        self.ring.get_mut().read(usize::MAX, &mut |bytes| {
            check_record(decoder, undecodable, bytes, each)
        });
    }

    /// Detaches and unloads the probes: no event is produced after this returns, and what is
    /// already in the ring buffer stays there for [`BlockTracer::drain`].
    pub fn detach(&mut self) {
        self.ebpf = None;
    }

    /// Stops tracing and returns every event still buffered.
    pub fn stop(&mut self) -> Vec<BlockIoEvent> {
        self.detach();
        let mut rest = Vec::new();
        self.drain(&mut rest);
        rest
    }

    pub fn drops(&self) -> Result<DropCounts, KernelError> {
        let values = self
            .drops
            .get(&0, 0)
            .map_err(|e| map_error(names::DROPS, e))?;
        Ok(DropCounts {
            per_cpu: values.iter().copied().collect(),
            undecodable: self.undecodable,
        })
    }
}

/// Waits until the probes wake the reader or `POLL_INTERVAL` passed, then hands up to
/// `BATCH_EVENTS` records to `each`.
async fn next_read(
    ring: &mut AsyncFd<RingSet>,
    each: &mut dyn FnMut(&[u8]),
) -> Result<(), KernelError> {
    let Ok(guard) = tokio::time::timeout(POLL_INTERVAL, ring.readable_mut()).await else {
        ring.get_mut().read(BATCH_EVENTS, each);
        return Ok(());
    };
    let mut guard = guard?;
    if guard.get_inner_mut().read(BATCH_EVENTS, each) {
        // Emptied: wait for the next wakeup. Otherwise the next call reads on at once.
        guard.clear_ready();
    }
    Ok(())
}

fn decode_into(
    decoder: &mut EventDecoder,
    undecodable: &mut u64,
    bytes: &[u8],
    out: &mut Vec<BlockIoEvent>,
) {
    match decoder.decode_bytes(bytes) {
        Ok(event) => out.push(event),
        Err(err) => skip_record(undecodable, &err),
    }
}

fn check_record(
    decoder: &EventDecoder,
    undecodable: &mut u64,
    bytes: &[u8],
    each: &mut dyn FnMut(&ProbeRecord<'_>),
) {
    match decoder.probe_record(bytes) {
        Ok(record) => each(&record),
        Err(err) => skip_record(undecodable, &err),
    }
}

fn skip_record(undecodable: &mut u64, err: &DecodeError) {
    *undecodable += 1;
    log::warn!("skipping a ring buffer record: {err}");
}

/// How many per-CPU rings: one per possible CPU, up to `CPU_RINGS` (a power of two: the
/// probes pick theirs with a mask).
fn cpu_rings() -> u32 {
    let cpus = aya::util::nr_cpus().map_or(CPU_RINGS, |n| n.get() as usize);
    let rings = cpus.clamp(1, CPU_RINGS).next_power_of_two();
    rings.min(CPU_RINGS) as u32
}

/// The traced devices in the configuration itself, when they fit (the map holds them all
/// anyway).
fn inline_devices(devices: &[DeviceId]) -> ProbeConfig {
    let mut config = ProbeConfig::default();
    if devices.len() <= INLINE_DEVICES {
        config.inline_devices = devices.len() as u32;
        for (slot, device) in config.devices.iter_mut().zip(devices) {
            *slot = device.to_kernel();
        }
    }
    config
}

fn set_traced_devices(ebpf: &mut Ebpf, devices: &[DeviceId]) -> Result<(), KernelError> {
    const MAP: &str = names::DEVICES;
    let map = ebpf
        .map_mut(MAP)
        .ok_or_else(|| KernelError::MissingMap(MAP.to_owned()))?;
    let mut traced: HashMap<_, u32, u8> = HashMap::try_from(map).map_err(|e| map_error(MAP, e))?;
    for device in devices {
        traced
            .insert(&device.to_kernel(), &1, 0)
            .map_err(|e| map_error(MAP, e))?;
    }
    Ok(())
}
