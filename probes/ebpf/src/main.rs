//! blkscope's eBPF programs. Each view has one module here, named like its userspace module
//! and its shared types in `blkscope-common`. The programs only copy fields and timestamps;
//! naming, matching and formatting happen in userspace.
#![no_std]
#![no_main]
// Inline assembly for the BPF atomic add (counter.rs).
#![feature(asm_experimental_arch)]

mod biolatency;
mod biotop;
mod block;
mod counter;
mod fsslower;

/// GPL-compatible, as `bpf_probe_read_kernel` requires.
#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 13] = *b"Dual MIT/GPL\0";

#[cfg(not(test))]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    loop {}
}
