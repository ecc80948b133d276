//! The entry points of the `block:` tracepoint programs, and how they read their arguments.
//!
//! Each program is defined twice by `block_tracepoint!`: as a BTF tracepoint (`tp_btf`, what the
//! views attach on a kernel with its own BTF) and as a raw tracepoint named `NAME_raw`, which
//! needs no BTF in the kernel (`--btf FILE` on kernels built without
//! /sys/kernel/btf/vmlinux). Both get the tracepoint's arguments as an array of 64-bit words.

use core::ffi::c_void;

use blkscope_common::TracepointArgs;

use aya_ebpf::Global;

/// Where each tracepoint's object is among its arguments, from the kernel's BTF prototypes.
#[unsafe(no_mangle)]
pub(crate) static TRACEPOINT_ARGS: Global<TracepointArgs> = Global::new(TracepointArgs::SINCE_5_11);

/// A tracepoint program's context: its arguments, one 64-bit word each.
pub(crate) struct Args(pub(crate) *mut c_void);

/// Defines a tracepoint program (the `block:` ones, and iomap's for `--file`) as
/// `tp_btf/TRACEPOINT` named `$name` and as `raw_tp/TRACEPOINT` named `$raw`, with one body
/// reading its arguments through `$ctx`.
macro_rules! block_tracepoint {
    ($tracepoint:tt, fn $name:ident / $raw:ident ($ctx:ident) $body:block) => {
        #[aya_ebpf::macros::btf_tracepoint(function = $tracepoint)]
        pub fn $name(ctx: aya_ebpf::programs::BtfTracePointContext) -> i32 {
            let $ctx = $crate::tracepoint::Args(aya_ebpf::EbpfContext::as_ptr(&ctx));
            $body
        }

        #[aya_ebpf::macros::raw_tracepoint(tracepoint = $tracepoint)]
        pub fn $raw(ctx: aya_ebpf::programs::RawTracePointContext) -> i32 {
            let $ctx = $crate::tracepoint::Args(aya_ebpf::EbpfContext::as_ptr(&ctx));
            $body
        }
    };
}

/// Argument `k` counted from the object the probe reads (`k` = 0: the request, bio or queue)
/// of tracepoint `tp`, as the raw 64-bit register value. Its position comes from the kernel's
/// prototype (`TRACEPOINT_ARGS`); each position is read at a constant offset (the verifier
/// allows no other context access) and the branches this kernel does not take are pruned by
/// the verifier, which knows the read-only global's value.
#[inline(always)]
pub(crate) fn arg_of(ctx: &Args, tp: usize, k: usize) -> u64 {
    let position = TRACEPOINT_ARGS.load().first[tp] as usize + k;
    match position {
        0 => ctx_word::<0>(ctx),
        1 => ctx_word::<8>(ctx),
        2 => ctx_word::<16>(ctx),
        3 => ctx_word::<24>(ctx),
        4 => ctx_word::<32>(ctx),
        _ => 0,
    }
}

/// The context's 64-bit word at byte `OFFSET`, read by one instruction with that constant
/// offset. Plain loads would let LLVM merge the branches of `arg_of` into one load through a
/// computed pointer, which the verifier refuses ("dereference of modified ctx ptr").
#[inline(always)]
pub(crate) fn ctx_word<const OFFSET: i16>(ctx: &Args) -> u64 {
    let base = ctx.0;
    let value: u64;
    // SAFETY: a read of the tracepoint's argument array at a constant offset; the verifier
    // checks that the offset is inside this tracepoint's arguments.
    unsafe {
        core::arch::asm!(
            "{value} = *(u64 *)({base} + {offset})",
            value = lateout(reg) value,
            base = in(reg) base,
            offset = const OFFSET,
            options(readonly, nostack, preserves_flags),
        );
    }
    value
}
