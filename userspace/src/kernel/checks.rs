//! Up-front checks, one clear line each, before anything is loaded: privileges, BTF,
//! tracefs, the tracepoints the probes attach to.

use std::path::Path;

use crate::kernel::{
    btf_layout::{self, KernelBtf},
    requirements::ProbeKind,
};

/// Linux capability numbers (linux/capability.h).
const CAP_DAC_OVERRIDE: u32 = 1;
const CAP_SYS_ADMIN: u32 = 21;
const CAP_SYS_RESOURCE: u32 = 24;
const CAP_PERFMON: u32 = 38;
const CAP_BPF: u32 = 39;

#[derive(Debug, thiserror::Error)]
pub enum KernelError {
    #[error(
        "blkscope needs root to load its eBPF probes (missing {missing}); run it with sudo or grant CAP_BPF and CAP_PERFMON"
    )]
    NotPrivileged { missing: String },
    #[error(
        "the kernel has no BTF at {path} (it needs CONFIG_DEBUG_INFO_BTF=y, or --btf FILE with \
         this kernel's BTF, e.g. from BTFHub)"
    )]
    NoBtf { path: String },
    #[error(
        "tracefs is not available: {0} (the syscall tracepoints of the file-system views are \
         attached through tracefs: run as root, or mount tracefs where this user can read it)"
    )]
    Tracefs(std::io::Error),
    #[error("the kernel has no tracepoint {0}")]
    MissingTracepoint(String),
    #[error("this kernel cannot run the {set} probes: {reasons} (`blkscope check` tells more)")]
    Unsupported { set: &'static str, reasons: String },
    #[error(transparent)]
    Layout(#[from] btf_layout::LayoutError),
    #[error("loading the eBPF probes: {0}")]
    Load(#[source] Box<aya::EbpfError>),
    #[error("eBPF program {name}: {source}")]
    Program {
        name: String,
        #[source]
        source: Box<aya::programs::ProgramError>,
    },
    #[error("eBPF map {name}: {source}")]
    Map {
        name: String,
        #[source]
        source: Box<aya::maps::MapError>,
    },
    #[error("eBPF map {0} is missing from the probe object")]
    MissingMap(String),
    #[error("eBPF program {0} is missing from the probe object")]
    MissingProgram(String),
    #[error("reading the ring buffer: {0}")]
    Io(#[from] std::io::Error),
    #[error("eBPF ring buffer: {0}")]
    Ring(#[from] super::ring_reader::RingError),
}

/// The checks every live view runs before loading probes.
pub struct Preflight;

impl Preflight {
    /// Privileges and BTF, before anything is read or loaded.
    pub fn check() -> Result<(), KernelError> {
        check_privileges()?;
        check_btf()?;
        raise_memlock_limit();
        Ok(())
    }

    /// What a probe set needs of the kernel, from its BTF: the kernel features (the ring
    /// buffer of Linux 5.8 first), each `block:` tracepoint with a prototype whose arguments
    /// the probes know how to read (a BTF tracepoint needs nothing else: no tracefs, so no
    /// privilege to mount or read it), and the struct layout.
    pub fn probe_set(btf: &KernelBtf, set: ProbeKind) -> Result<(), KernelError> {
        let reasons = set.unmet(btf, btf_layout::btf_file().is_some());
        if reasons.is_empty() {
            return Ok(());
        }
        Err(KernelError::Unsupported {
            set: set.name(),
            reasons: reasons.join("; "),
        })
    }
}

/// Root, or CAP_BPF + CAP_PERFMON, or CAP_SYS_ADMIN (older kernels).
pub fn check_privileges() -> Result<(), KernelError> {
    let effective = effective_capabilities().unwrap_or(0);
    let has = |cap: u32| effective & (1u64 << cap) != 0;
    if has(CAP_SYS_ADMIN) || (has(CAP_BPF) && has(CAP_PERFMON)) {
        return Ok(());
    }
    let missing: Vec<&str> = [(CAP_BPF, "CAP_BPF"), (CAP_PERFMON, "CAP_PERFMON")]
        .into_iter()
        .filter(|(cap, _)| !has(*cap))
        .map(|(_, name)| name)
        .collect();
    Err(KernelError::NotPrivileged {
        missing: missing.join(" and "),
    })
}

/// The capabilities blkscope's live views use that this process holds, by name.
pub fn held_capabilities() -> Vec<&'static str> {
    const NAMED: [(u32, &str); 5] = [
        (CAP_DAC_OVERRIDE, "CAP_DAC_OVERRIDE"),
        (CAP_SYS_ADMIN, "CAP_SYS_ADMIN"),
        (CAP_SYS_RESOURCE, "CAP_SYS_RESOURCE"),
        (CAP_PERFMON, "CAP_PERFMON"),
        (CAP_BPF, "CAP_BPF"),
    ];
    let effective = effective_capabilities().unwrap_or(0);
    NAMED
        .into_iter()
        .filter(|(cap, _)| effective & (1u64 << cap) != 0)
        .map(|(_, name)| name)
        .collect()
}

/// The `CapEff` mask of this process.
fn effective_capabilities() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    parse_cap_eff(&status)
}

fn parse_cap_eff(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("CapEff:"))?;
    u64::from_str_radix(line.trim_start_matches("CapEff:").trim(), 16).ok()
}

fn check_btf() -> Result<(), KernelError> {
    // With --btf FILE the file is read instead (a clear error of its own when it is not BTF).
    if btf_layout::btf_file().is_some() || Path::new(btf_layout::VMLINUX_BTF).is_file() {
        Ok(())
    } else {
        Err(KernelError::NoBtf {
            path: btf_layout::VMLINUX_BTF.to_owned(),
        })
    }
}

/// Kernels before 5.11 charge BPF maps to RLIMIT_MEMLOCK; newer ones ignore it. Best effort.
fn raise_memlock_limit() {
    let unlimited = libc::rlimit {
        rlim_cur: libc::RLIM_INFINITY,
        rlim_max: libc::RLIM_INFINITY,
    };
    // SAFETY: setrlimit with a valid pointer to an initialised struct.
    let ret = unsafe { libc::setrlimit(libc::RLIMIT_MEMLOCK, &unlimited) };
    if ret != 0 {
        log::debug!(
            "could not raise RLIMIT_MEMLOCK: {}",
            std::io::Error::last_os_error()
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_effective_capabilities() {
        let status = "Name:\tx\nCapInh:\t0000000000000000\nCapEff:\t000001ffffffffff\n";
        assert_eq!(parse_cap_eff(status), Some(0x1ff_ffff_ffff));
        assert_eq!(parse_cap_eff("Name: x\n"), None);
    }

    #[test]
    fn missing_privileges_name_the_capabilities() {
        let err = KernelError::NotPrivileged {
            missing: "CAP_BPF and CAP_PERFMON".into(),
        };
        let line = err.to_string();
        assert!(line.contains("needs root") && line.contains("CAP_BPF and CAP_PERFMON"));
        assert!(!line.contains('\n'));
    }
}
