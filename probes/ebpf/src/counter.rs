//! Counters in per-CPU map slots that more than one program updates.

/// Adds one to a per-CPU counter. Per-CPU is not enough for a plain `+= 1`: BPF programs are
/// preemptible, and a program run by an interrupt can start in the middle of a task's, on the
/// same CPU, so two read-modify-writes of one slot can interleave and lose a count. The BPF
/// atomic add cannot. (core's `AtomicU64::fetch_add` is not offered for the BPF target, hence
/// the instruction itself.)
#[inline(always)]
pub(crate) fn increment(counter: *mut u64) {
    add(counter, 1);
}

/// Adds `value` to a counter that programs on other CPUs (or interrupting this one) update too.
#[inline(always)]
pub(crate) fn add(counter: *mut u64, value: u64) {
    // SAFETY: `counter` points into a map value, valid and 8-byte aligned, for this program's
    // run; the instruction writes those 8 bytes only.
    unsafe {
        core::arch::asm!(
            "lock *(u64 *)({counter} + 0) += {one}",
            counter = in(reg) counter,
            one = in(reg) value,
            options(nostack),
        );
    }
}
