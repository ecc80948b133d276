//! The kernel side of blkscope: checks that the kernel can run the probes, reads the kernel's
//! layout from BTF, loads the probe object with each tool's settings and attaches its programs.
//!
//! One module per probe set, named like its eBPF module (probes/ebpf/src) and its shared types
//! (probes/common/src), after what it measures:
//! - `block_events`: every block-layer event, streamed through a ring buffer (trace, record,
//!   biosnoop).
//! - `block_latency`: block I/O latency histograms counted in the kernel (biolatency, the
//!   exporter).
//! - `task_io`: I/Os, bytes and time per task, disk and cgroup (biotop, iostat --cgroups), and
//!   on request their sizes (bitesize) and how sequential they are (biopattern).
//! - `fs_latency`: timed file-system operations: slow ones streamed, all in histograms
//!   (ext4slower, ext4dist, the exporter).

pub mod block_events;
pub mod block_latency;
#[cfg(test)]
pub(crate) mod btf_fixture;
pub mod btf_layout;
pub mod checks;
pub mod fs_latency;
pub mod loader;
pub mod privileges;
pub mod requirements;
pub mod ring_reader;
pub mod task_io;
pub mod tracefs;
pub mod tracepoint_args;

pub use block_events::{BlockTraceOptions, BlockTracer, CgroupFilter, DropCounts};
pub use checks::{KernelError, Preflight};
