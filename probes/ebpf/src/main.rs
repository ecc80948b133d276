//! blkscope's eBPF programs. Each probe set has one module here, named after what it measures,
//! like its userspace module (`userspace/src/kernel/`) and its shared types in `blkscope-common`. The programs only copy fields and timestamps;
//! naming, matching and formatting happen in userspace.
#![no_std]
#![no_main]
// Inline assembly for the BPF atomic add (counter.rs).
#![feature(asm_experimental_arch)]

// Before the probe sets: they define their programs with its macro.
#[macro_use]
mod tracepoint;

mod block_events;
mod block_latency;
mod counter;
mod fs_latency;
mod task_io;

/// GPL-compatible, as `bpf_probe_read_kernel` requires.
#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 13] = *b"Dual MIT/GPL\0";

#[cfg(not(test))]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    loop {}
}
