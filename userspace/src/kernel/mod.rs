//! The kernel side of blkscope: checks that the kernel can run the probes, reads the kernel's
//! layout from BTF, loads and attaches the probes and reads their ring buffer.

pub mod biolatency;
pub mod biotop;
pub mod block;
pub mod btf_layout;
pub mod checks;
pub mod fsslower;
pub(crate) mod loader;
pub mod tracefs;

pub use block::{BlockTraceOptions, BlockTracer, CgroupFilter, DropCounts};
pub use checks::{KernelError, Preflight};
