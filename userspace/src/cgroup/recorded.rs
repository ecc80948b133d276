//! The cgroups of a recording, for the views that count its I/Os: its own names (its notes)
//! first, this machine's second, and the `-c`, `--pod` and `--container-name` filters applied
//! by path and name (a recording has no kernel to filter by cgroup id).

use super::{
    CgroupNameFilter, CgroupResolver, CgroupSubtree, ContainerLabel, ContainerName, NameFilter,
};

pub struct RecordedCgroups {
    resolver: CgroupResolver,
    /// `-c PATH`: only cgroups in this subtree.
    subtree: Option<CgroupSubtree>,
    /// `--pod`, `--container-name`: only the containers so named.
    names: Option<CgroupNameFilter>,
    /// `--containers`: labels are container names instead of cgroup ids.
    per_container: bool,
}

impl RecordedCgroups {
    /// The recording's cgroups labelled as `label` says; `cgroup`: `-c PATH`, relative to the
    /// recording's cgroup root; `names`: `--pod`, `--container-name`.
    pub fn new(
        label: ContainerLabel,
        cgroup: Option<&std::path::Path>,
        names: Option<NameFilter>,
        per_container: bool,
    ) -> RecordedCgroups {
        let resolver = CgroupResolver::for_recording().labelling(label);
        let subtree = cgroup.map(|p| CgroupSubtree::new(p, Some(resolver.root())));
        RecordedCgroups {
            resolver,
            subtree,
            names: names.map(CgroupNameFilter::new),
            per_container,
        }
    }

    /// The cgroup's label: its container's name with `--containers`, its id otherwise.
    pub fn label(&mut self, id: u64) -> String {
        if self.per_container {
            self.resolver.label(id)
        } else {
            id.to_string()
        }
    }

    /// Whether the filters keep the I/O of cgroup `id`.
    pub fn keeps(&mut self, id: u64) -> bool {
        let in_subtree = match &self.subtree {
            None => true,
            Some(subtree) => self
                .resolver
                .path(id)
                .is_some_and(|path| subtree.contains(&path)),
        };
        in_subtree
            && self
                .names
                .as_mut()
                .is_none_or(|names| names.keeps(id, &mut self.resolver))
    }

    /// A note of the recording named cgroup `id`.
    pub fn remember(&mut self, id: u64, path: &str) {
        self.resolver.remember(id, path);
    }

    /// A note of the recording named the container of cgroup `id`.
    pub fn remember_name(&mut self, id: u64, name: &str) {
        self.resolver
            .remember_name(id, ContainerName::from_display(name));
    }
}
