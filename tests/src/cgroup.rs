//! A cgroup v2 directory for a test, on the unified hierarchy wherever this machine mounts it
//! (/sys/fs/cgroup on pure v2, /sys/fs/cgroup/unified on the hybrid layout).

use std::{os::unix::fs::MetadataExt, path::PathBuf};

pub struct Cgroup {
    dir: PathBuf,
    /// Directories made for it, outermost first (removed in reverse).
    made: Vec<PathBuf>,
}

impl Cgroup {
    pub fn new(name: &str) -> Self {
        Self::nested(&format!("blkscope-test-{name}-{}", std::process::id()))
    }

    /// A cgroup at `relative` below the unified root (e.g. a docker- or kubepods-like layout
    /// inside a test directory), making the directories on the way.
    pub fn nested(relative: &str) -> Self {
        let (dir, made) = make_dirs(unified_root(), relative);
        Self { dir, made }
    }

    pub fn path(&self) -> &std::path::Path {
        &self.dir
    }

    /// The cgroup id `bpf_get_current_cgroup_id()` returns: the directory's inode number.
    pub fn id(&self) -> u64 {
        std::fs::metadata(&self.dir).expect("cgroup dir").ino()
    }

    /// The `cgroup.procs` file: writing a pid there moves that process in.
    pub fn procs_path(&self) -> String {
        self.dir.join("cgroup.procs").display().to_string()
    }

    /// Runs a shell command inside this cgroup (the shell moves itself in, then execs it);
    /// panics when it fails.
    pub fn exec(&self, command: &str) {
        let script = format!("echo $$ > {} && exec {command}", self.procs_path());
        let status = std::process::Command::new("sh")
            .args(["-c", &script])
            .status()
            .expect("sh");
        assert!(status.success(), "in {}: {command}", self.dir.display());
    }

    pub fn add(&self, pid: u32) {
        std::fs::write(self.dir.join("cgroup.procs"), pid.to_string())
            .unwrap_or_else(|e| panic!("moving {pid} into {}: {e}", self.dir.display()));
    }
}

impl Drop for Cgroup {
    fn drop(&mut self) {
        // Move anything left back to the root, then remove the directory.
        if let Ok(procs) = std::fs::read_to_string(self.dir.join("cgroup.procs")) {
            let root = unified_root().join("cgroup.procs");
            for pid in procs.lines() {
                let _ = std::fs::write(&root, pid);
            }
        }
        for dir in self.made.iter().rev() {
            let _ = std::fs::remove_dir(dir);
        }
        remove_empty_test_parents(&self.dir, &unified_root());
    }
}

/// `root/relative`, made with the directories on the way: the cgroup and those it made,
/// outermost first.
fn make_dirs(root: PathBuf, relative: &str) -> (PathBuf, Vec<PathBuf>) {
    let mut dir = root;
    let mut made = Vec::new();
    for part in relative.split('/').filter(|p| !p.is_empty()) {
        dir.push(part);
        if !dir.exists() {
            std::fs::create_dir(&dir).unwrap_or_else(|e| panic!("creating {}: {e}", dir.display()));
            made.push(dir.clone());
        }
    }
    (dir, made)
}

/// Directories another guard made on the way (a test's base shared by its cgroups) go with
/// the last cgroup in them: removing a cgroup that still has children fails, and only
/// `blkscope-test-*` trees are touched.
fn remove_empty_test_parents(dir: &std::path::Path, root: &std::path::Path) {
    let mut parent = dir.parent();
    while let Some(dir) = parent.filter(|d| *d != root) {
        let ours = dir
            .strip_prefix(root)
            .ok()
            .and_then(|r| r.iter().next())
            .is_some_and(|top| top.to_string_lossy().starts_with("blkscope-test-"));
        let removed = std::fs::remove_dir(dir).or_else(|e| {
            (e.kind() == std::io::ErrorKind::NotFound)
                .then_some(())
                .ok_or(e)
        });
        if !ours || removed.is_err() {
            break;
        }
        parent = dir.parent();
    }
}

pub fn unified_root() -> PathBuf {
    for candidate in ["/sys/fs/cgroup/unified", "/sys/fs/cgroup"] {
        let dir = PathBuf::from(candidate);
        if dir.join("cgroup.procs").exists() && !dir.join("tasks").exists() {
            return dir;
        }
    }
    panic!("no cgroup v2 hierarchy mounted at /sys/fs/cgroup or /sys/fs/cgroup/unified");
}

/// A cgroup of the v1 blkio hierarchy (hybrid and v1-only hosts): where a runtime that does
/// not use the unified hierarchy puts a container. Removed on drop, with the directories it
/// made.
pub struct BlkioCgroup {
    dir: PathBuf,
    made: Vec<PathBuf>,
}

impl BlkioCgroup {
    /// `relative` below the blkio hierarchy's root. Fails (never skips) on a host whose block
    /// controller is on the unified hierarchy: this test needs a v1 blkio hierarchy.
    pub fn nested(relative: &str) -> Self {
        let root = blkscope::cgroup::resolver::blkio_v1_root().unwrap_or_else(|| {
            panic!("no cgroup v1 blkio hierarchy in /proc/self/mountinfo (this test needs a hybrid or v1 host)")
        });
        let (dir, made) = make_dirs(root, relative);
        Self { dir, made }
    }

    pub fn procs_path(&self) -> String {
        self.dir.join("cgroup.procs").display().to_string()
    }

    /// Writes one of the controller's files (`blkio.throttle.read_bps_device`).
    pub fn set(&self, file: &str, value: &str) {
        let path = self.dir.join(file);
        std::fs::write(&path, value).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    }
}

impl Drop for BlkioCgroup {
    fn drop(&mut self) {
        let root = blkscope::cgroup::resolver::blkio_v1_root();
        if let (Ok(procs), Some(root)) = (
            std::fs::read_to_string(self.dir.join("cgroup.procs")),
            &root,
        ) {
            for pid in procs.lines() {
                let _ = std::fs::write(root.join("cgroup.procs"), pid);
            }
        }
        for dir in self.made.iter().rev() {
            let _ = std::fs::remove_dir(dir);
        }
        if let Some(root) = root {
            remove_empty_test_parents(&self.dir, &root);
        }
    }
}
