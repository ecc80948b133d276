//! The live machine: its banner facts (uname, CPU count), local time as strftime prints it,
//! and waiting for the next interval.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use super::{report::Host, run::ReportClock, source::StatFiles};

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

/// Whether S_TIME_FORMAT asks for ISO 8601 dates.
pub fn iso_dates() -> bool {
    std::env::var("S_TIME_FORMAT").is_ok_and(|v| v == "ISO")
}

/// Now, formatted by strftime(3) in the user's LC_TIME (sysstat prints `%x` dates).
pub fn strftime_now(format: &str) -> String {
    // SAFETY: setlocale with an empty string reads the environment; called before any thread
    // that formats times is started.
    unsafe {
        libc::setlocale(libc::LC_TIME, c"".as_ptr());
    }
    let mut now: libc::time_t = 0;
    // SAFETY: time(2) and localtime_r(3) write into the locals passed by pointer.
    let tm = unsafe {
        libc::time(&mut now);
        let mut tm: libc::tm = std::mem::zeroed();
        libc::localtime_r(&now, &mut tm);
        tm
    };
    let Ok(format) = std::ffi::CString::new(format) else {
        return String::new();
    };
    let mut buffer = [0u8; 128];
    // SAFETY: strftime writes at most buffer.len() bytes and returns how many it wrote.
    let written = unsafe {
        libc::strftime(
            buffer.as_mut_ptr().cast(),
            buffer.len(),
            format.as_ptr(),
            &tm,
        )
    };
    String::from_utf8_lossy(&buffer[..written]).into_owned()
}

/// Real time: samples from the system, a wait of one interval between them, aligned on the
/// start (like iostat's alarm), cut short by SIGINT or SIGTERM.
pub struct LiveClock {
    files: StatFiles,
    interval: Duration,
    next: Instant,
    iso: bool,
    stop: Arc<AtomicBool>,
}

impl LiveClock {
    pub fn new(files: StatFiles, interval: Duration, stop: Arc<AtomicBool>) -> Self {
        Self {
            files,
            interval,
            next: Instant::now() + interval,
            iso: iso_dates(),
            stop,
        }
    }
}

impl ReportClock for LiveClock {
    fn files(&self) -> &StatFiles {
        &self.files
    }

    fn timestamp(&self) -> String {
        strftime_now(if self.iso { "%FT%T%z" } else { "%x %X" })
    }

    fn wait(&mut self) -> bool {
        while Instant::now() < self.next {
            if self.stop.load(Ordering::Relaxed) {
                return true;
            }
            std::thread::sleep((self.next - Instant::now()).min(Duration::from_millis(50)));
        }
        self.next += self.interval;
        self.stop.load(Ordering::Relaxed)
    }
}
