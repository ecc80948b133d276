//! Least privilege: a live tool needs CAP_BPF and CAP_PERFMON (or root) only to load and attach
//! its probes. Once they are attached, it reads their maps and ring buffers through the file
//! descriptors it holds, which needs no capability, so it gives every capability up.
//!
//! Capabilities belong to a thread: the thread that attached drops them, and threads it starts
//! later inherit the empty sets. (The signal thread, started before, holds no data and runs no
//! code but signal delivery.)

/// `_LINUX_CAPABILITY_VERSION_3`: two 32-bit words per set.
const CAPABILITY_VERSION_3: u32 = 0x2008_0522;

/// CAP_DAC_OVERRIDE: what `record` keeps, to write its per-CPU files where root may write.
pub const CAP_DAC_OVERRIDE: u32 = 1;

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: i32,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

/// Drops every capability of this thread but `keep` (from the effective and permitted sets:
/// it cannot take them back). Keeping one this thread does not have keeps nothing.
pub fn drop_capabilities(keep: &[u32]) -> std::io::Result<()> {
    let current = this_thread()?;
    let header = CapHeader {
        version: CAPABILITY_VERSION_3,
        pid: 0,
    };
    let mut wanted = [CapData::default(); 2];
    for &cap in keep {
        let (word, bit) = ((cap / 32) as usize, 1u32 << (cap % 32));
        if let (Some(w), Some(c)) = (wanted.get_mut(word), current.get(word)) {
            w.permitted |= c.permitted & bit;
            w.effective |= c.effective & bit;
        }
    }
    // SAFETY: capset reads the header and two CapData words; only lowers this thread's sets.
    let set = unsafe { libc::syscall(libc::SYS_capset, &header, wanted.as_ptr()) };
    if set != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// Drops this thread's capabilities (but `keep`) once its probes are attached; a failure is
/// logged, not fatal (the tool still works, with more privilege than it needs).
pub fn attached(keep: &[u32]) {
    if let Err(err) = drop_capabilities(keep) {
        log::warn!("could not drop capabilities after attaching the probes: {err}");
    }
}

/// This thread's effective capability mask (for tests).
pub fn effective() -> std::io::Result<u64> {
    let data = this_thread()?;
    Ok(u64::from(data[0].effective) | (u64::from(data[1].effective) << 32))
}

/// This thread's capability sets, as capget(2) gives them.
fn this_thread() -> std::io::Result<[CapData; 2]> {
    let mut header = CapHeader {
        version: CAPABILITY_VERSION_3,
        pid: 0,
    };
    let mut data = [CapData::default(); 2];
    // SAFETY: capget fills the two CapData words the version-3 header asks for.
    let got = unsafe { libc::syscall(libc::SYS_capget, &mut header, data.as_mut_ptr()) };
    if got != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_thread_gives_its_capabilities_up_and_keeps_what_it_asks() {
        // In a thread of its own: the test runner's other threads keep theirs.
        std::thread::spawn(|| {
            drop_capabilities(&[CAP_DAC_OVERRIDE]).expect("capset");
            let left = effective().expect("capget");
            assert_eq!(left & !(1 << CAP_DAC_OVERRIDE), 0, "{left:#x}");
            drop_capabilities(&[]).expect("capset");
            assert_eq!(effective().expect("capget"), 0);
        })
        .join()
        .expect("the thread");
    }
}
