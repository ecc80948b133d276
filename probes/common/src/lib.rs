//! Types shared by the eBPF probes and userspace. Everything here is `#[repr(C)]` plain data:
//! the probes write it into maps and the ring buffer, userspace reads the same bytes back.
//!
//! One module per probe set, named after what it measures, the same in the three places
//! (`block_latency` here, `probes/ebpf/src/block_latency.rs`,
//! `userspace/src/kernel/block_latency.rs`), so one grep finds all of it. The names of the
//! programs, maps and globals both sides use are constants in `names`, next to the types.
#![no_std]

pub mod block_events;
pub mod block_latency;
pub mod fs_latency;
pub mod layout;
pub mod names;
pub mod task_io;
pub mod tracepoint_args;

pub use block_events::{BlockAction, BlockEvent, BlockEventExtra, BlockEventFull, ProbeConfig};
pub use layout::{FileLayout, KernelLayout};
pub use tracepoint_args::TracepointArgs;
