//! Cgroups as they are made: a container that lives less than a ring-buffer read (a `docker
//! run --rm` job, a Kubernetes init container) is gone, with its runtime's state, before its
//! I/O is named. A thread watches the unified hierarchy (inotify on every cgroup directory)
//! and writes down each new cgroup's id, path and container name the moment it appears, while
//! the runtime's state is there to read.

use std::{
    collections::{HashMap, VecDeque},
    ffi::OsStr,
    os::unix::fs::MetadataExt,
    path::{Path, PathBuf},
    sync::{Arc, Mutex, MutexGuard},
};

use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify, WatchDescriptor};

use crate::cgroup::{
    container::container_of,
    names::{ContainerName, RuntimeState},
};

/// How many births are kept: more cgroups than a busy node makes between two lookups.
const BIRTHS_KEPT: usize = 65_536;

/// What was seen of a cgroup when it was made.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Birth {
    /// Relative to the cgroup root, with a leading `/`.
    pub path: String,
    /// Its container's name, read from the runtime's state right then.
    pub name: Option<ContainerName>,
}

/// Births by cgroup id, shared between the watching thread and the resolver.
#[derive(Clone, Debug, Default)]
pub struct CgroupBirths {
    inner: Arc<Mutex<Births>>,
}

#[derive(Debug, Default)]
struct Births {
    by_id: HashMap<u64, Birth>,
    order: VecDeque<u64>,
}

impl CgroupBirths {
    /// Starts watching `hierarchies` (each root with the tag its ids carry: `BLKIO_CGROUP_TAG`
    /// for v1 blkio), in a thread of its own, for the life of the process. `None` when inotify
    /// is refused: cgroups are then only found by walking.
    pub fn watch(hierarchies: &[(PathBuf, u64)], state: RuntimeState) -> Option<CgroupBirths> {
        let inotify = Inotify::init(InitFlags::IN_CLOEXEC).ok()?;
        let births = CgroupBirths::default();
        let mut watcher = Watcher {
            inotify,
            roots: hierarchies.to_vec(),
            dirs: HashMap::new(),
            state,
            births: births.clone(),
        };
        for (root, _) in hierarchies {
            watcher.watch_tree(root);
        }
        std::thread::Builder::new()
            .name("cgroup-births".into())
            .spawn(move || watcher.run())
            .ok()?;
        Some(births)
    }

    pub fn get(&self, id: u64) -> Option<Birth> {
        self.lock().by_id.get(&id).cloned()
    }

    fn record(&self, id: u64, birth: Birth) {
        let mut births = self.lock();
        if births.by_id.insert(id, birth).is_none() {
            births.order.push_back(id);
        }
        while births.order.len() > BIRTHS_KEPT {
            if let Some(oldest) = births.order.pop_front() {
                births.by_id.remove(&oldest);
            }
        }
    }

    fn lock(&self) -> MutexGuard<'_, Births> {
        // A panic elsewhere cannot leave the map half-written: every change is one insert.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The watching thread's side.
struct Watcher {
    inotify: Inotify,
    roots: Vec<(PathBuf, u64)>,
    /// Watched directories by watch descriptor.
    dirs: HashMap<WatchDescriptor, PathBuf>,
    state: RuntimeState,
    births: CgroupBirths,
}

impl Watcher {
    fn run(mut self) {
        while let Ok(events) = self.inotify.read_events() {
            for event in events {
                let is_new_dir = event.mask.contains(AddWatchFlags::IN_CREATE)
                    && event.mask.contains(AddWatchFlags::IN_ISDIR);
                if event.mask.contains(AddWatchFlags::IN_IGNORED) {
                    self.dirs.remove(&event.wd);
                } else if is_new_dir
                    && let (Some(parent), Some(name)) = (self.dirs.get(&event.wd), &event.name)
                {
                    // Records it, and the cgroups made inside it before its watch was added.
                    let dir = parent.join(name);
                    self.watch_tree(&dir);
                }
            }
        }
    }

    /// Watches `top` and every directory below it, recording each as born.
    fn watch_tree(&mut self, top: &Path) {
        let mut pending = vec![top.to_owned()];
        while let Some(dir) = pending.pop() {
            if !self.roots.iter().any(|(root, _)| *root == dir) {
                self.born(&dir);
            }
            let flags = AddWatchFlags::IN_CREATE | AddWatchFlags::IN_ONLYDIR;
            // Out of watches (fs.inotify.max_user_watches): the resolver walks for the rest.
            let Ok(wd) = self.inotify.add_watch(&dir, flags) else {
                continue;
            };
            self.dirs.insert(wd, dir.clone());
            if let Ok(entries) = std::fs::read_dir(&dir) {
                pending.extend(
                    entries
                        .flatten()
                        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                        .map(|e| e.path()),
                );
            }
        }
    }

    fn born(&self, dir: &Path) {
        let Ok(meta) = std::fs::metadata(dir) else {
            return; // gone already
        };
        let Some((path, tag)) = self
            .roots
            .iter()
            .find_map(|(root, tag)| Some((relative(root, dir)?, *tag)))
        else {
            return;
        };
        let name = container_of(&path).and_then(|c| self.state.name_of(&c));
        self.births.record(meta.ino() | tag, Birth { path, name });
    }
}

/// `/docker/ID` for `ROOT/docker/ID`.
fn relative(root: &Path, dir: &Path) -> Option<String> {
    let rest = dir.strip_prefix(root).ok()?;
    let parts: Vec<&OsStr> = rest.iter().collect();
    let mut path = String::new();
    for part in parts {
        path.push('/');
        path.push_str(&part.to_string_lossy());
    }
    Some(if path.is_empty() {
        "/".to_owned()
    } else {
        path
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_short_lived_cgroup_is_seen_with_its_name() {
        // Any directory tree behaves as the cgroup file system does for inotify.
        let base = std::env::temp_dir().join(format!("blkscope-births-{}", std::process::id()));
        let root = base.join("cgroup");
        let state = base.join("host");
        let id = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
        std::fs::create_dir_all(root.join("system.slice")).unwrap();
        let config = state.join(format!("var/lib/docker/containers/{id}"));
        std::fs::create_dir_all(&config).unwrap();
        std::fs::write(config.join("config.v2.json"), r#"{"Name":"/job"}"#).unwrap();
        let births =
            CgroupBirths::watch(&[(root.clone(), 0)], RuntimeState::at(state)).expect("inotify");
        let dir = root.join(format!("system.slice/docker-{id}.scope"));
        std::fs::create_dir_all(dir.join("inner")).unwrap();
        let ino = std::fs::metadata(&dir).unwrap().ino();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while births.get(ino).is_none() && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        std::fs::remove_dir_all(&base).unwrap();
        let birth = births.get(ino).expect("seen being made");
        assert_eq!(birth.path, format!("/system.slice/docker-{id}.scope"));
        assert_eq!(birth.name.map(|n| n.display()).as_deref(), Some("job"));
        assert_eq!(
            relative(Path::new("/r"), Path::new("/r")).as_deref(),
            Some("/")
        );
    }
}
