//! The host's identity as sysstat's banner shows it: uname(2) and the CPU count.

/// The machine line of the banner.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Host {
    pub sysname: String,
    pub release: String,
    pub nodename: String,
    pub machine: String,
    pub cpus: usize,
}

/// uname(2) and the number of CPUs (cpuN directories in sysfs, as sysstat counts them).
pub fn host(sys_dir: &std::path::Path) -> Host {
    let uts = nix::sys::utsname::uname().ok();
    let field = |f: fn(&nix::sys::utsname::UtsName) -> &std::ffi::OsStr| {
        uts.as_ref()
            .map(|u| f(u).to_string_lossy().into_owned())
            .unwrap_or_default()
    };
    Host {
        sysname: field(|u| u.sysname()),
        release: field(|u| u.release()),
        nodename: field(|u| u.nodename()),
        machine: field(|u| u.machine()),
        cpus: cpu_count(sys_dir),
    }
}

fn cpu_count(sys_dir: &std::path::Path) -> usize {
    let counted = std::fs::read_dir(sys_dir.join("devices/system/cpu"))
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter(|e| {
                    let name = e.file_name().to_string_lossy().into_owned();
                    name.strip_prefix("cpu")
                        .is_some_and(|n| n.starts_with(|c: char| c.is_ascii_digit()))
                        && e.path().is_dir()
                })
                .count()
        })
        .unwrap_or(0);
    if counted > 0 {
        counted
    } else {
        std::thread::available_parallelism().map_or(1, usize::from)
    }
}
