//! Least privilege: a live tool needs CAP_BPF and CAP_PERFMON (or root) only to load and attach
//! its probes. Once they are attached, it reads their maps and ring buffers through the file
//! descriptors it holds, which needs no capability on Linux 5.19 and later (and on older
//! kernels that allow unprivileged bpf), so it gives every capability up there, and keeps
//! CAP_BPF alone elsewhere.
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
    let mut wanted = [CapData::default(); 2];
    for &cap in keep {
        let (word, bit) = ((cap / 32) as usize, 1u32 << (cap % 32));
        if let (Some(w), Some(c)) = (wanted.get_mut(word), current.get(word)) {
            // Effective again if permitted (`lower_effective` may have lowered it).
            w.permitted |= c.permitted & bit;
            w.effective |= c.permitted & bit;
        }
    }
    set_this_thread(&wanted)
}

/// CAP_BPF (Linux 5.8).
const CAP_BPF: u32 = 39;
/// CAP_SYS_ADMIN: what grants BPF where CAP_BPF is not held.
const CAP_SYS_ADMIN: u32 = 21;

/// Drops this thread's capabilities (but `keep`) once its probes are attached; a failure is
/// logged, not fatal (the tool still works, with more privilege than it needs).
///
/// Kernels before 5.19 with `kernel.unprivileged_bpf_disabled` set (Debian's default) refuse
/// every bpf() command, map reads included, to a task without CAP_BPF: there CAP_BPF (or the
/// CAP_SYS_ADMIN that granted it) is kept too. Which kind of kernel this is, is asked of the
/// kernel itself with the effective set already empty (see `bpf_refused_without_capability`).
pub fn attached(keep: &[u32]) {
    let result = lower_effective(keep).and_then(|()| {
        let mut kept = keep.to_vec();
        if bpf_refused_without_capability() {
            kept.extend([CAP_BPF, CAP_SYS_ADMIN]);
            log::debug!("this kernel refuses bpf() without CAP_BPF: keeping it");
        }
        drop_capabilities(&kept)
    });
    if let Err(err) = result {
        log::warn!("could not drop capabilities after attaching the probes: {err}");
    }
}

/// Empties the effective set but `keep`, leaving the permitted set (so it can be raised again).
fn lower_effective(keep: &[u32]) -> std::io::Result<()> {
    let mut data = this_thread()?;
    for (word, d) in data.iter_mut().enumerate() {
        let kept: u32 = keep
            .iter()
            .filter(|cap| (**cap / 32) as usize == word)
            .fold(0, |mask, cap| mask | 1 << (cap % 32));
        d.effective &= kept;
    }
    set_this_thread(&data)
}

/// Whether bpf() refuses this thread now (its effective set lowered): a map read of no map
/// (`fd -1`) is EBADF where the kernel checks each command, EPERM where it refuses any command
/// to a task without CAP_BPF.
fn bpf_refused_without_capability() -> bool {
    const BPF_MAP_LOOKUP_ELEM: libc::c_long = 1;
    // map_fd, key, value, flags: the attributes of a map lookup.
    let mut attr = [0u64; 4];
    attr[0] = u64::from(u32::MAX);
    // SAFETY: bpf(2) reads `attr`, 32 valid bytes; with no valid map it touches nothing.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            BPF_MAP_LOOKUP_ELEM,
            attr.as_mut_ptr(),
            std::mem::size_of_val(&attr),
        )
    };
    ret != 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

fn set_this_thread(data: &[CapData; 2]) -> std::io::Result<()> {
    let header = CapHeader {
        version: CAPABILITY_VERSION_3,
        pid: 0,
    };
    // SAFETY: capset reads the header and two CapData words; the sets only shrink.
    let set = unsafe { libc::syscall(libc::SYS_capset, &header, data.as_ptr()) };
    if set != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
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
    fn this_kernel_lets_a_task_without_cap_bpf_read_its_maps() {
        // 6.18 checks bpf() per command: an uncapable thread gets EBADF for a map it lacks.
        std::thread::spawn(|| {
            lower_effective(&[]).expect("capset");
            assert!(!bpf_refused_without_capability());
        })
        .join()
        .expect("the thread");
    }

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
