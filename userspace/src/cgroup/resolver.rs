//! cgroup id -> path -> container. The id the kernel reports (`bpf_get_current_cgroup_id`, a
//! blkcg's cgroup) is the inode number of the cgroup's directory in the unified (v2)
//! hierarchy, so the resolver walks that hierarchy and remembers what it saw.

use std::{
    collections::HashMap,
    os::unix::fs::MetadataExt,
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use blkscope_common::layout::BLKIO_CGROUP_TAG;

use crate::cgroup::{
    births::CgroupBirths,
    container::{Container, container_label, container_of},
    names::{ContainerName, ContainerNames, RuntimeState},
};

#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    #[error("no cgroup v2 (unified) hierarchy is mounted (looked in /proc/self/mountinfo)")]
    NoUnifiedHierarchy,
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}: not a cgroup directory of the unified hierarchy mounted at {1}")]
    NotInHierarchy(PathBuf, PathBuf),
}

/// How long an id that could not be found is not looked for again (a walk of the hierarchy
/// per unknown event would cost more than the event).
const MISS_TTL: Duration = Duration::from_secs(1);

/// How many removed cgroups keep their paths (and so their containers' names).
const DEPARTED_KEPT: usize = 4096;

/// What the CONTAINER column and the labels say.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ContainerLabel {
    /// The runtime's name (`web`, `NAMESPACE/POD/CONTAINER`), else the id.
    #[default]
    Name,
    /// `--container-id`: the runtime and short id (`docker:0123456789ab`).
    Id,
}

impl ContainerLabel {
    /// `Id` when `--container-id` was given.
    pub fn ids_if(container_id: bool) -> Self {
        if container_id {
            ContainerLabel::Id
        } else {
            ContainerLabel::Name
        }
    }
}

/// Resolves cgroup ids, caching what it finds.
#[derive(Debug)]
pub struct CgroupResolver {
    root: PathBuf,
    /// The v1 blkio hierarchy (hybrid and v1-only hosts), whose ids the probes tag with
    /// `BLKIO_CGROUP_TAG` (docs/containers.md, "cgroup v1").
    blkio_root: Option<PathBuf>,
    by_id: HashMap<u64, String>,
    misses: HashMap<u64, Instant>,
    /// Paths a recording named its cgroups with: the truth when and where it was made, so
    /// they win over this machine's hierarchy (whose ids may be other cgroups).
    recorded: HashMap<u64, String>,
    /// Containers' names a recording wrote down, by cgroup id.
    recorded_names: HashMap<u64, ContainerName>,
    /// Cgroups removed while traced, oldest first: their I/O still in flight, or read late
    /// from the ring, is named as they were (unless a live cgroup took the id since).
    departed: HashMap<u64, String>,
    departed_order: std::collections::VecDeque<u64>,
    names: ContainerNames,
    label: ContainerLabel,
    /// Cgroups seen being made (live views): those gone before their I/O was read.
    births: Option<CgroupBirths>,
}

impl CgroupResolver {
    /// On the unified hierarchy wherever this machine mounts it (/sys/fs/cgroup on pure v2,
    /// /sys/fs/cgroup/unified on the hybrid layout), watching it for cgroups being made.
    pub fn new() -> Result<Self, CgroupError> {
        // A v1-only host has no unified hierarchy: its blkio hierarchy names the cgroups.
        let blkio = blkio_v1_root();
        let root = match (unified_root(), &blkio) {
            (Ok(root), _) => root,
            (Err(_), Some(_)) => PathBuf::new(),
            (Err(e), None) => return Err(e),
        };
        let resolver = Self::with_root(root).with_blkio_root(blkio);
        let births = CgroupBirths::watch(&resolver.hierarchies(), RuntimeState::from_env());
        Ok(Self { births, ..resolver })
    }

    /// Also resolves the v1 blkio hierarchy at `root` (tagged ids).
    pub fn with_blkio_root(mut self, root: Option<PathBuf>) -> Self {
        self.blkio_root = root;
        self
    }

    /// Each hierarchy walked, with the tag its ids carry.
    fn hierarchies(&self) -> Vec<(PathBuf, u64)> {
        let mut all = vec![(self.root.clone(), 0)];
        all.extend(self.blkio_root.clone().map(|r| (r, BLKIO_CGROUP_TAG)));
        all.retain(|(root, _)| !root.as_os_str().is_empty());
        all
    }

    /// Names a recording's cgroups: by its notes (`remember`), and this machine's hierarchy
    /// where there is one (a recording is read fine on a machine without cgroup v2).
    pub fn for_recording() -> Self {
        unified_root()
            .map_or_else(|_| Self::with_root(PathBuf::new()), Self::with_root)
            .with_blkio_root(blkio_v1_root())
    }

    pub fn with_root(root: PathBuf) -> Self {
        Self {
            root,
            blkio_root: None,
            by_id: HashMap::new(),
            misses: HashMap::new(),
            recorded: HashMap::new(),
            recorded_names: HashMap::new(),
            departed: HashMap::new(),
            departed_order: std::collections::VecDeque::new(),
            names: ContainerNames::new(RuntimeState::from_env()),
            label: ContainerLabel::Name,
            births: None,
        }
    }

    /// What `label` shows (`--container-id`: ids rather than names).
    pub fn labelling(mut self, label: ContainerLabel) -> Self {
        self.label = label;
        self
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The path of cgroup `id` relative to the root (`/docker/0123...`), `None` when no cgroup
    /// has that id (any more).
    pub fn path(&mut self, id: u64) -> Option<String> {
        if let Some(path) = self.recorded.get(&id) {
            return Some(path.clone());
        }
        if let Some(path) = self.by_id.get(&id)
            && self.still_there(path, id)
        {
            return Some(path.clone());
        }
        if self.misses.get(&id).is_some_and(|t| t.elapsed() < MISS_TTL) {
            return self.gone(id);
        }
        self.rescan();
        match self.by_id.get(&id) {
            Some(path) => Some(path.clone()),
            None => {
                self.misses.insert(id, Instant::now());
                self.gone(id)
            }
        }
    }

    /// The path of a cgroup no longer there: seen by a walk, or being made.
    fn gone(&self, id: u64) -> Option<String> {
        self.departed
            .get(&id)
            .cloned()
            .or_else(|| self.births.as_ref()?.get(id).map(|b| b.path))
    }

    /// The ids of every cgroup that exists now (one walk of the hierarchy).
    pub fn live_ids(&mut self) -> std::collections::HashSet<u64> {
        self.rescan();
        self.by_id.keys().copied().collect()
    }

    /// Takes a recording's word for what cgroup `id` was (its `cgroup ID PATH` note).
    pub fn remember(&mut self, id: u64, path: &str) {
        self.recorded.insert(id, path.to_owned());
    }

    /// Takes a recording's word for what its container was called (`container ID NAME`).
    pub fn remember_name(&mut self, id: u64, name: ContainerName) {
        self.recorded_names.insert(id, name);
    }

    /// The container cgroup `id` belongs to, if its path names one.
    pub fn container(&mut self, id: u64) -> Option<Container> {
        self.path(id).and_then(|p| container_of(&p))
    }

    /// What the container's runtime calls the container of cgroup `id`.
    pub fn container_name(&mut self, id: u64) -> Option<ContainerName> {
        if let Some(name) = self.recorded_names.get(&id) {
            return Some(name.clone());
        }
        let container = self.container(id)?;
        if let Some(name) = self.names.name(&container) {
            return Some(name.clone());
        }
        // Named when it was made: a short-lived container's runtime state may be gone now.
        // Asked last, so the usual lookup (a live container) takes no lock.
        self.births.as_ref()?.get(id)?.name
    }

    /// What a view shows for a cgroup: the container's name (`--container-id`: its runtime
    /// and short id), else the cgroup path, else the raw id.
    pub fn label(&mut self, id: u64) -> String {
        if self.label == ContainerLabel::Name
            && let Some(name) = self.container_name(id)
        {
            return name.display();
        }
        self.id_label(id)
    }

    /// The container's runtime and short id (`docker:0123456789ab`), else the cgroup path,
    /// else the raw id: what JSON carries as `container_id`.
    pub fn id_label(&mut self, id: u64) -> String {
        match self.path(id) {
            Some(path) => container_label(&path),
            None => id.to_string(),
        }
    }

    /// The id of a cgroup directory given by the user (`-c PATH`), which must be in the
    /// unified hierarchy: its absolute path, or a path relative to the root.
    pub fn id_of(&self, path: &Path) -> Result<u64, CgroupError> {
        let full = if path.is_absolute() {
            path.to_owned()
        } else {
            self.root.join(path)
        };
        let meta = std::fs::metadata(&full).map_err(|source| CgroupError::Io {
            path: full.clone(),
            source,
        })?;
        if !meta.is_dir() || !full.starts_with(&self.root) {
            return Err(CgroupError::NotInHierarchy(full, self.root.clone()));
        }
        Ok(meta.ino())
    }

    /// The id and depth below the root (root = 0) of a cgroup the user named: what the
    /// in-kernel filters need to recognise it and its descendants.
    pub fn locate(&self, path: &Path) -> Result<(u64, u32), CgroupError> {
        let id = self.id_of(path)?;
        let full = if path.is_absolute() {
            path.to_owned()
        } else {
            self.root.join(path)
        };
        let depth = full
            .strip_prefix(&self.root)
            .map(|relative| relative.components().count())
            .unwrap_or(0);
        Ok((id, u32::try_from(depth).unwrap_or(u32::MAX)))
    }

    /// A cached path is only trusted while its directory exists with the same inode: cgroups
    /// are removed and inode numbers reused.
    fn still_there(&self, path: &str, id: u64) -> bool {
        let (root, ino) = match (&self.blkio_root, id & BLKIO_CGROUP_TAG) {
            (Some(blkio), BLKIO_CGROUP_TAG) => (blkio, id & !BLKIO_CGROUP_TAG),
            _ => (&self.root, id),
        };
        std::fs::metadata(root.join(path.trim_start_matches('/'))).is_ok_and(|m| m.ino() == ino)
    }

    fn rescan(&mut self) {
        let before = std::mem::take(&mut self.by_id);
        // Ids looked for in vain long ago may exist by now; forgetting them also keeps the
        // table bounded when cgroups come and go for days.
        self.misses.retain(|_, when| when.elapsed() < MISS_TTL);
        let mut pending: Vec<(PathBuf, String, u64)> = self
            .hierarchies()
            .into_iter()
            .map(|(root, tag)| (root, String::from("/"), tag))
            .collect();
        while let Some((dir, relative, tag)) = pending.pop() {
            if let Ok(meta) = std::fs::metadata(&dir) {
                self.by_id.insert(meta.ino() | tag, relative.clone());
            }
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries.flatten() {
                if entry.file_type().is_ok_and(|t| t.is_dir()) {
                    let name = entry.file_name().to_string_lossy().into_owned();
                    let child = format!("{}/{name}", relative.trim_end_matches('/'));
                    pending.push((entry.path(), child, tag));
                }
            }
        }
        self.note_changes(before);
    }

    /// After a walk: cgroups gone since the last keep their paths (bounded), ids live again
    /// are no longer departed, and containers new since are looked up again by name.
    fn note_changes(&mut self, before: HashMap<u64, String>) {
        let appeared = self.by_id.keys().any(|id| !before.contains_key(id));
        for (id, path) in before {
            if !self.by_id.contains_key(&id) && self.departed.insert(id, path).is_none() {
                self.departed_order.push_back(id);
            }
        }
        let live = &self.by_id;
        self.departed.retain(|id, _| !live.contains_key(id));
        let departed = &self.departed;
        self.departed_order.retain(|id| departed.contains_key(id));
        while self.departed_order.len() > DEPARTED_KEPT {
            if let Some(oldest) = self.departed_order.pop_front() {
                self.departed.remove(&oldest);
            }
        }
        if appeared {
            self.names.retry_unknown();
        }
    }
}

/// `-c PATH` over a recording, where the kernel cannot filter: the cgroups at PATH or below
/// it, told by their paths (the recording's names, or this machine's).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CgroupSubtree {
    /// Relative to the cgroup root, with a leading `/` and none trailing (`/` for the root).
    prefix: String,
}

impl CgroupSubtree {
    /// PATH as given: a directory of this machine's unified hierarchy (`root`), or a path
    /// below the cgroup root as the recording names it (`/system.slice/docker-ID.scope`).
    pub fn new(path: &Path, root: Option<&Path>) -> CgroupSubtree {
        let relative = root
            .and_then(|r| path.strip_prefix(r).ok())
            .unwrap_or(path)
            .to_string_lossy()
            .trim_matches('/')
            .to_owned();
        CgroupSubtree {
            prefix: format!("/{relative}"),
        }
    }

    /// Whether the cgroup at `path` (relative to the root) is this one or below it.
    pub fn contains(&self, path: &str) -> bool {
        self.prefix == "/"
            || path
                .strip_prefix(&self.prefix)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    }
}

/// The mount point of the cgroup2 file system.
pub fn unified_root() -> Result<PathBuf, CgroupError> {
    let mountinfo =
        std::fs::read_to_string("/proc/self/mountinfo").map_err(|source| CgroupError::Io {
            path: PathBuf::from("/proc/self/mountinfo"),
            source,
        })?;
    cgroup2_mount_point(&mountinfo).ok_or(CgroupError::NoUnifiedHierarchy)
}

/// The mount point of the cgroup v1 hierarchy the block controller (blkio) is bound to, on
/// hybrid and v1-only hosts; `None` where it is on the unified hierarchy.
pub fn blkio_v1_root() -> Option<PathBuf> {
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    blkio_mount_point(&mountinfo)
}

/// `37 25 0:32 / /sys/fs/cgroup/blkio rw shared:10 - cgroup cgroup rw,blkio`
fn blkio_mount_point(mountinfo: &str) -> Option<PathBuf> {
    mountinfo.lines().find_map(|line| {
        let (mount, fs) = line.split_once(" - ")?;
        let mut fs = fs.split_whitespace();
        let is_blkio = fs.next() == Some("cgroup")
            && fs
                .nth(1)
                .is_some_and(|opts| opts.split(',').any(|o| o == "blkio"));
        // The hierarchy's root, not a bind mount of a cgroup inside it.
        let root_mounted = mount.split_whitespace().nth(3) == Some("/");
        (is_blkio && root_mounted)
            .then(|| mount.split_whitespace().nth(4).map(PathBuf::from))
            .flatten()
    })
}

/// `36 25 0:31 / /sys/fs/cgroup/unified rw,... shared:9 - cgroup2 cgroup2 rw,...`
fn cgroup2_mount_point(mountinfo: &str) -> Option<PathBuf> {
    mountinfo.lines().find_map(|line| {
        let (mount, fs) = line.split_once(" - ")?;
        (fs.split_whitespace().next() == Some("cgroup2"))
            .then(|| mount.split_whitespace().nth(4).map(PathBuf::from))
            .flatten()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_cgroup2_mount_in_mountinfo() {
        let info = "24 30 0:22 / /sys rw shared:7 - sysfs sysfs rw\n\
                    36 25 0:31 / /sys/fs/cgroup/unified rw,nosuid shared:9 - cgroup2 cgroup2 rw,nsdelegate\n\
                    37 25 0:32 / /sys/fs/cgroup/blkio rw shared:10 - cgroup cgroup rw,blkio\n";
        assert_eq!(
            cgroup2_mount_point(info),
            Some(PathBuf::from("/sys/fs/cgroup/unified"))
        );
        assert_eq!(
            cgroup2_mount_point("24 30 0:22 / /sys rw - sysfs sysfs rw\n"),
            None
        );
        assert_eq!(
            blkio_mount_point(info),
            Some(PathBuf::from("/sys/fs/cgroup/blkio"))
        );
        let pure_v2 = "36 25 0:31 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n";
        assert_eq!(blkio_mount_point(pure_v2), None);
    }

    #[test]
    fn a_subtree_holds_its_cgroup_and_those_below() {
        let root = Path::new("/sys/fs/cgroup/unified");
        let pod = CgroupSubtree::new(
            Path::new("/sys/fs/cgroup/unified/kubepods.slice/pod1.slice/"),
            Some(root),
        );
        assert_eq!(
            pod,
            CgroupSubtree::new(Path::new("kubepods.slice/pod1.slice"), None)
        );
        assert!(pod.contains("/kubepods.slice/pod1.slice"));
        assert!(pod.contains("/kubepods.slice/pod1.slice/crio-1.scope"));
        assert!(!pod.contains("/kubepods.slice/pod1.slice2"));
        assert!(!pod.contains("/kubepods.slice"));
        assert!(CgroupSubtree::new(root, Some(root)).contains("/anything"));
    }

    #[test]
    fn resolves_a_directory_tree_and_notices_removal() {
        // Any directory tree works the same way as the cgroup file system.
        let root = std::env::temp_dir().join(format!("blkscope-cg-{}", std::process::id()));
        let id = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
        let container_dir = root.join("system.slice").join(format!("docker-{id}.scope"));
        std::fs::create_dir_all(&container_dir).unwrap();
        let ino = std::fs::metadata(&container_dir).unwrap().ino();
        let mut resolver = CgroupResolver::with_root(root.clone());
        assert_eq!(
            resolver.path(ino).as_deref(),
            Some(format!("/system.slice/docker-{id}.scope").as_str())
        );
        assert_eq!(
            resolver.label(ino),
            "docker:0123456789ab",
            "no runtime state: the id"
        );
        assert_eq!(resolver.id_of(&container_dir).unwrap(), ino);
        std::fs::remove_dir(&container_dir).unwrap();
        // Gone, it keeps the path it had (its I/O may still be completing, or be read late).
        assert_eq!(
            resolver.path(ino).as_deref(),
            Some(format!("/system.slice/docker-{id}.scope").as_str())
        );
        // Unless a live cgroup has its inode number now.
        let reused = root.join("reused");
        std::fs::create_dir_all(&reused).unwrap();
        let reused_ino = std::fs::metadata(&reused).unwrap().ino();
        resolver.departed.insert(reused_ino, "/old".into());
        resolver.misses.clear();
        assert_eq!(resolver.path(reused_ino).as_deref(), Some("/reused"));
        assert!(!resolver.departed.contains_key(&reused_ino));
        // A recording's names win: they were true where and when it was made.
        resolver.remember(ino, &format!("/machine.slice/libpod-{id}.scope"));
        assert_eq!(resolver.label(ino), "podman:0123456789ab");
        std::fs::remove_dir_all(&root).unwrap();
    }
}
