//! Test harness for integration tests against the real kernel. Every piece of kernel state a
//! test makes (loop device, mount, cgroup, ftrace setting) is a guard that undoes it on drop,
//! also when the test panics. Tests that touch kernel state hold [`serial`] so they never
//! overlap, within one test binary or across several.

pub mod cgroup;
pub mod diskstats;
pub mod docker;
pub mod ftrace;
pub mod loopdev;
pub mod running;
pub mod scratch;
pub mod workload;
pub mod zram;

use std::{fs::File, os::fd::AsRawFd, sync::Mutex};

pub use cgroup::{BlkioCgroup, Cgroup};
pub use diskstats::DiskCounters;
pub use ftrace::KernelBlkTracer;
pub use loopdev::{Ext4Mount, LoopDevice};
pub use scratch::Scratch;
pub use zram::ZramDisk;

/// Held for the whole of a test that uses kernel state.
pub struct SerialGuard {
    _thread: std::sync::MutexGuard<'static, ()>,
    _file: File,
}

static IN_PROCESS: Mutex<()> = Mutex::new(());
const LOCK_FILE: &str = "/tmp/blkscope-tests.lock";

/// Serializes kernel-state tests: a mutex for threads of this process, `flock` for other test
/// processes. Also checks for root, failing the test with a clear message without it.
pub fn serial() -> SerialGuard {
    require_root();
    let thread = IN_PROCESS
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let file = File::create(LOCK_FILE).unwrap_or_else(|e| panic!("creating {LOCK_FILE}: {e}"));
    // SAFETY: flock on a descriptor we own; blocks until the other process releases it.
    let ret = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) };
    assert_eq!(
        ret,
        0,
        "flock {LOCK_FILE}: {}",
        std::io::Error::last_os_error()
    );
    SerialGuard {
        _thread: thread,
        _file: file,
    }
}

/// Privileged tests fail (never skip) without root.
pub fn require_root() {
    // SAFETY: geteuid has no preconditions.
    let euid = unsafe { libc::geteuid() };
    assert_eq!(
        euid, 0,
        "this integration test needs root (loop devices, eBPF, ftrace): run it with `sudo ./x test`"
    );
}

/// Runs a command to completion; panics with its output when it fails.
pub fn sh(program: &str, args: &[&str]) -> String {
    let output = std::process::Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("starting {program}: {e}"));
    assert!(
        output.status.success(),
        "{program} {args:?} failed: {}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Path of the blkscope binary cargo built for these tests.
pub fn blkscope_binary() -> std::path::PathBuf {
    // tests/ is a workspace member: the binary is in the shared target directory.
    let exe = std::env::current_exe().expect("test executable path");
    let deps = exe.parent().expect("deps dir");
    let profile = deps.parent().expect("profile dir");
    let binary = profile.join("blkscope");
    assert!(
        binary.is_file(),
        "{} is missing: build it first (`cargo build -p blkscope`; `./x test` does)",
        binary.display()
    );
    binary
}

/// A number no other call in this process returns: for unique names of test objects.
pub fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// ../shared/fixtures/blktrace: real kernel-made traces with stock blkparse and btt output.
pub fn blktrace_fixtures() -> std::path::PathBuf {
    let dir =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures/blktrace");
    assert!(
        dir.join("ext4mixed.blktrace.0").is_file(),
        "missing {}: the shared fixtures sit beside this repository",
        dir.display()
    );
    dir
}

/// Copies the kernel-made `ext4mixed` fixture into `dir` as trace `t`, with garbage in the
/// middle of CPU 1's file (its first half, then 64 bytes of 0x5a): a damaged recording whose
/// error must name `t.blktrace.1` and an offset, after its valid part.
pub fn damaged_ext4mixed(dir: &std::path::Path) {
    let fixtures = blktrace_fixtures();
    for cpu in 0..2 {
        let from = fixtures.join(format!("ext4mixed.blktrace.{cpu}"));
        let mut bytes = std::fs::read(&from).expect("the fixture");
        if cpu == 1 {
            bytes.truncate(bytes.len() / 2);
            bytes.extend([0x5a; 64]);
        }
        std::fs::write(dir.join(format!("t.blktrace.{cpu}")), bytes).expect("the copy");
    }
}

/// Asserts that a tool fed `damaged_ext4mixed` failed (exit 1) naming the damaged file and an
/// offset in it.
pub fn assert_names_the_damage(out: &std::process::Output) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("t.blktrace.1") && stderr.contains("offset"),
        "{stderr}"
    );
}
