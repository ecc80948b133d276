//! A cgroup v2 directory for a test, on the unified hierarchy wherever this machine mounts it
//! (/sys/fs/cgroup on pure v2, /sys/fs/cgroup/unified on the hybrid layout).

use std::{os::unix::fs::MetadataExt, path::PathBuf};

pub struct Cgroup {
    dir: PathBuf,
}

impl Cgroup {
    pub fn new(name: &str) -> Self {
        let root = unified_root();
        let dir = root.join(format!("blkscope-test-{name}-{}", std::process::id()));
        std::fs::create_dir(&dir).unwrap_or_else(|e| panic!("creating {}: {e}", dir.display()));
        Self { dir }
    }

    /// The cgroup id `bpf_get_current_cgroup_id()` returns: the directory's inode number.
    pub fn id(&self) -> u64 {
        std::fs::metadata(&self.dir).expect("cgroup dir").ino()
    }

    /// The `cgroup.procs` file: writing a pid there moves that process in.
    pub fn procs_path(&self) -> String {
        self.dir.join("cgroup.procs").display().to_string()
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
        let _ = std::fs::remove_dir(&self.dir);
    }
}

fn unified_root() -> PathBuf {
    for candidate in ["/sys/fs/cgroup/unified", "/sys/fs/cgroup"] {
        let dir = PathBuf::from(candidate);
        if dir.join("cgroup.procs").exists() && !dir.join("tasks").exists() {
            return dir;
        }
    }
    panic!("no cgroup v2 hierarchy mounted at /sys/fs/cgroup or /sys/fs/cgroup/unified");
}
