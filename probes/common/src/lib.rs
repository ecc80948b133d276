//! Types shared by the eBPF probes and userspace. Everything here is `#[repr(C)]` plain data:
//! the probes write it into maps and the ring buffer, userspace reads the same bytes back.
//!
//! One module per view, named like the view's probe and userspace modules (`block` here,
//! `probes/ebpf/src/block.rs`, `userspace/src/kernel/block.rs`), so one grep finds all of it.
#![no_std]

pub mod biolatency;
pub mod biotop;
pub mod block;
pub mod fsslower;
pub mod layout;

pub use block::{BlockAction, BlockEvent, ProbeConfig};
pub use layout::KernelLayout;
