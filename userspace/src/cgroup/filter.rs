//! `--pod NAMESPACE/POD` and `--container-name GLOB`: which containers a view keeps, by the
//! names their runtimes gave them. Names are not in the kernel, so these filter in userspace,
//! once per cgroup (the answer is cached by cgroup id).

use std::collections::HashMap;

use crate::cgroup::{
    names::{ContainerName, PodName},
    resolver::CgroupResolver,
};

#[derive(Debug, thiserror::Error)]
pub enum NameFilterError {
    #[error("--pod {0:?}: expected NAMESPACE/POD (both non-empty)")]
    Pod(String),
    #[error("--container-name {pattern:?}: {reason}")]
    Glob { pattern: String, reason: String },
}

/// The containers to keep; an I/O whose container has no name (or is no container) is not
/// kept.
#[derive(Clone, Debug)]
pub struct NameFilter {
    pod: Option<PodName>,
    name: Option<glob::Pattern>,
}

impl NameFilter {
    /// `None` when neither is given (every container is kept).
    pub fn new(pod: Option<&str>, name: Option<&str>) -> Result<Option<Self>, NameFilterError> {
        if pod.is_none() && name.is_none() {
            return Ok(None);
        }
        let pod = pod.map(parse_pod).transpose()?;
        let name = name
            .map(|pattern| {
                glob::Pattern::new(pattern).map_err(|e| NameFilterError::Glob {
                    pattern: pattern.to_owned(),
                    reason: e.to_string(),
                })
            })
            .transpose()?;
        Ok(Some(Self { pod, name }))
    }

    /// Whether a container of this name is kept: in the pod, and its own name (docker's,
    /// podman's, the Kubernetes container's, the unit's) matching the glob.
    pub fn matches(&self, container: Option<&ContainerName>) -> bool {
        let Some(container) = container else {
            return false;
        };
        let in_pod = self
            .pod
            .as_ref()
            .is_none_or(|pod| container.pod.as_ref() == Some(pod));
        let named = self.name.as_ref().is_none_or(|glob| {
            container
                .name
                .as_deref()
                .is_some_and(|name| glob.matches(name))
        });
        in_pod && named
    }
}

fn parse_pod(text: &str) -> Result<PodName, NameFilterError> {
    match text.split_once('/') {
        Some((namespace, name))
            if !namespace.is_empty() && !name.is_empty() && !name.contains('/') =>
        {
            Ok(PodName {
                namespace: namespace.to_owned(),
                name: name.to_owned(),
            })
        }
        _ => Err(NameFilterError::Pod(text.to_owned())),
    }
}

/// A `NameFilter`'s answers by cgroup id: a cgroup's container does not change.
#[derive(Debug)]
pub struct CgroupNameFilter {
    filter: NameFilter,
    answers: HashMap<u64, bool>,
}

/// Answers kept before they are all forgotten (cgroups come and go for days).
const ANSWERS_KEPT: usize = 65_536;

impl CgroupNameFilter {
    pub fn new(filter: NameFilter) -> Self {
        Self {
            filter,
            answers: HashMap::new(),
        }
    }

    /// Whether cgroup `id`'s I/O is kept. A cgroup without a name yet is asked again next
    /// time (its runtime may write its state down after its first I/O).
    pub fn keeps(&mut self, id: u64, resolver: &mut CgroupResolver) -> bool {
        if let Some(answer) = self.answers.get(&id) {
            return *answer;
        }
        let name = resolver.container_name(id);
        let answer = self.filter.matches(name.as_ref());
        if name.is_some() {
            if self.answers.len() >= ANSWERS_KEPT {
                self.answers.clear();
            }
            self.answers.insert(id, answer);
        }
        answer
    }
}

/// What a view needs of cgroups: their labels, and whether `--pod`/`--container-name` keep
/// them. Without a cgroup hierarchy, ids are their own labels and every cgroup is kept (a
/// name filter refuses to start without one: `NamedCgroups::new`).
#[derive(Debug)]
pub struct NamedCgroups {
    resolver: Option<CgroupResolver>,
    filter: Option<CgroupNameFilter>,
}

impl NamedCgroups {
    /// On this machine's hierarchy; `filter` needs one, and says which option did.
    pub fn new(
        resolver: Result<CgroupResolver, crate::cgroup::CgroupError>,
        filter: Option<NameFilter>,
    ) -> Result<Self, crate::cgroup::CgroupError> {
        let resolver = match (resolver, &filter) {
            (Ok(resolver), _) => Some(resolver),
            (Err(e), Some(_)) => return Err(e),
            (Err(_), None) => None,
        };
        Ok(Self {
            resolver,
            filter: filter.map(CgroupNameFilter::new),
        })
    }

    pub fn label(&mut self, id: u64) -> String {
        self.resolver
            .as_mut()
            .map_or_else(|| id.to_string(), |r| r.label(id))
    }

    pub fn id_label(&mut self, id: u64) -> String {
        self.resolver
            .as_mut()
            .map_or_else(|| id.to_string(), |r| r.id_label(id))
    }

    /// Whether the name filter (if any) keeps cgroup `id`'s I/O.
    pub fn keeps(&mut self, id: u64) -> bool {
        match (&mut self.filter, &mut self.resolver) {
            (Some(filter), Some(resolver)) => filter.keeps(id, resolver),
            _ => true,
        }
    }

    pub fn filters(&self) -> bool {
        self.filter.is_some()
    }

    pub fn resolver(&mut self) -> Option<&mut CgroupResolver> {
        self.resolver.as_mut()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pods_and_globs() {
        let filter = NameFilter::new(Some("shop/cart"), Some("re*"))
            .unwrap()
            .unwrap();
        assert!(filter.matches(Some(&ContainerName::from_display("shop/cart/redis"))));
        assert!(!filter.matches(Some(&ContainerName::from_display("shop/cart/web"))));
        assert!(!filter.matches(Some(&ContainerName::from_display("other/cart/redis"))));
        assert!(!filter.matches(Some(&ContainerName::from_display("redis"))));
        assert!(!filter.matches(None));
        let by_name = NameFilter::new(None, Some("web-[0-9]")).unwrap().unwrap();
        assert!(by_name.matches(Some(&ContainerName::from_display("web-1"))));
        assert!(by_name.matches(Some(&ContainerName::from_display("ns/pod/web-2"))));
        assert!(NameFilter::new(None, None).unwrap().is_none());
    }

    #[test]
    fn bad_filters_are_named() {
        for pod in ["shop", "/cart", "shop/", "a/b/c"] {
            let err = NameFilter::new(Some(pod), None).unwrap_err().to_string();
            assert!(err.starts_with("--pod"), "{err}");
        }
        let err = NameFilter::new(None, Some("[a")).unwrap_err().to_string();
        assert!(err.starts_with("--container-name \"[a\""), "{err}");
    }
}
