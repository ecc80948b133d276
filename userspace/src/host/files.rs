//! Files by inode: the path of `(file system device, inode number)` as this process's mount
//! namespace sees it, for the views that name the file behind an I/O (`biosnoop --file`). No
//! path is copied in the kernel: the probes give the inode, and the file system is walked here
//! lazily into a bounded cache (again when a file is missed: at once on a small file system,
//! every ten seconds at most on a large one); a file not found (deleted since, or beyond the bound)
//! is shown as `(deleted) MAJ:MIN:INO`.

use std::{
    collections::HashMap,
    os::unix::fs::MetadataExt,
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use crate::{host::mounts::MountTable, model::event::DeviceId};

/// The most entries one file system's walk keeps (and reads).
const MAX_ENTRIES: usize = 1_000_000;
/// A large file system is walked again at most this often (a miss after a walk: a new file,
/// or one deleted since): a walk of a large root file system takes a while.
const REWALK_AFTER: Duration = Duration::from_secs(10);
/// A file system with fewer entries than this is walked again on the first miss of each
/// inode (a file made since the last walk is named at once; a deleted one costs one walk).
const SMALL_WALK: usize = 10_000;

/// Paths by inode, per file system, walked on first need.
#[derive(Debug, Default)]
pub struct FileNames {
    mounts: Option<MountTable>,
    file_systems: HashMap<DeviceId, FsIndex>,
    /// Paths a recording named (`record --files`): they are another machine's, not walked.
    recorded: HashMap<(DeviceId, u64), String>,
}

#[derive(Debug, Default)]
struct FsIndex {
    paths: HashMap<u64, PathBuf>,
    walked: Option<Instant>,
    /// Inodes not found since the last walk.
    missed: std::collections::HashSet<u64>,
}

impl FsIndex {
    /// Whether a miss of `ino` is worth a walk: never walked, or the last walk is old, or the
    /// file system is small and `ino` was not missed since that walk.
    fn walk_for(&self, ino: u64) -> bool {
        match self.walked {
            None => true,
            Some(at) => {
                at.elapsed() > REWALK_AFTER
                    || (self.paths.len() < SMALL_WALK && !self.missed.contains(&ino))
            }
        }
    }
}

impl FileNames {
    pub fn new() -> FileNames {
        FileNames::default()
    }

    /// A path a recording gives for an inode.
    pub fn remember(&mut self, dev: DeviceId, ino: u64, path: &str) {
        self.recorded.insert((dev, ino), path.to_owned());
    }

    /// The path of inode `ino` of the file system on `dev`, if it can be found: a path a
    /// recording named, else a walk of where `dev` is mounted.
    pub fn find(&mut self, dev: DeviceId, ino: u64) -> Option<String> {
        let found = self.path(dev, ino);
        (!found.starts_with("(deleted) ")).then_some(found)
    }

    /// The path of inode `ino` of the file system on `dev`.
    pub fn path(&mut self, dev: DeviceId, ino: u64) -> String {
        if let Some(path) = self.recorded.get(&(dev, ino)) {
            return path.clone();
        }
        let mounts = self.mounts.get_or_insert_with(MountTable::read);
        let Some(root) = mounts.mount_point(dev).map(PathBuf::from) else {
            return unknown(dev, ino);
        };
        let index = self.file_systems.entry(dev).or_default();
        if !index.paths.contains_key(&ino) && index.walk_for(ino) {
            index.paths = walk(&root);
            index.walked = Some(Instant::now());
            index.missed.clear();
        }
        match index.paths.get(&ino) {
            Some(path) => path.display().to_string(),
            None => {
                index.missed.insert(ino);
                unknown(dev, ino)
            }
        }
    }
}

fn unknown(dev: DeviceId, ino: u64) -> String {
    format!("(deleted) {}:{}:{ino}", dev.major, dev.minor)
}

/// Every file and directory below `root` on its file system (other mounts are not entered),
/// by inode number, up to `MAX_ENTRIES`.
fn walk(root: &Path) -> HashMap<u64, PathBuf> {
    let mut paths = HashMap::new();
    let Ok(top) = std::fs::symlink_metadata(root) else {
        return paths;
    };
    let device = top.dev();
    paths.insert(top.ino(), root.to_path_buf());
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            if paths.len() >= MAX_ENTRIES {
                return paths;
            }
            let Ok(meta) = entry.metadata() else {
                continue;
            };
            if meta.dev() != device {
                continue;
            }
            let path = entry.path();
            if meta.is_dir() {
                pending.push(path.clone());
            }
            paths.entry(meta.ino()).or_insert(path);
        }
    }
    paths
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_walk_finds_files_by_inode_and_stays_on_its_file_system() {
        let dir = std::env::temp_dir().join(format!("blkscope-files-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("sub")).unwrap();
        std::fs::write(dir.join("sub/a"), b"x").unwrap();
        let ino = std::fs::metadata(dir.join("sub/a")).unwrap().ino();
        let paths = walk(&dir);
        assert_eq!(paths.get(&ino), Some(&dir.join("sub/a")));
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(unknown(DeviceId::new(7, 1), 12), "(deleted) 7:1:12");
    }

    #[test]
    fn a_small_file_system_is_walked_again_for_each_new_miss() {
        let mut index = FsIndex {
            walked: Some(Instant::now()),
            ..FsIndex::default()
        };
        assert!(index.walk_for(5), "a file made since the walk");
        index.missed.insert(5);
        assert!(!index.walk_for(5), "one walk per missed inode");
        index.paths = (0..SMALL_WALK as u64)
            .map(|i| (i, PathBuf::new()))
            .collect();
        assert!(!index.walk_for(6), "a large one waits for REWALK_AFTER");
    }
}
