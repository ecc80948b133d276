//! Which container (or service, or session) a cgroup path belongs to, from the way container
//! runtimes and systemd name their cgroups today.

use serde::Serialize;

/// What runs in a cgroup.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Runtime {
    Docker,
    Containerd,
    CriO,
    Podman,
    Lxc,
    /// Kubernetes with the cgroupfs driver: the path names the pod and container, not the runtime.
    Kubernetes,
    /// A systemd service (`system.slice/NAME.service`).
    Service,
    /// A login session (`user.slice/user-UID.slice/session-N.scope`) or a user's own services.
    Session,
}

/// A container, or the systemd unit standing in for one.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct Container {
    pub runtime: Runtime,
    /// Full container id (64 hex digits for OCI runtimes), or the unit/container name.
    pub id: String,
    /// Kubernetes pod uid, with dashes, when the path names one.
    pub pod_uid: Option<String>,
}

impl Container {
    /// The id as `docker ps` shows it: the first 12 hex digits; names stay whole.
    pub fn short_id(&self) -> &str {
        if is_hex_id(&self.id) {
            &self.id[..12]
        } else {
            &self.id
        }
    }

    /// What a view's CONTAINER column shows: `docker:0123456789ab`, `pod:UID/containerd:0123...`,
    /// `service:nginx`, `session:user-1000/session-3`.
    pub fn display_name(&self) -> String {
        let runtime = match self.runtime {
            Runtime::Docker => "docker",
            Runtime::Containerd => "containerd",
            Runtime::CriO => "crio",
            Runtime::Podman => "podman",
            Runtime::Lxc => "lxc",
            Runtime::Kubernetes => "k8s",
            Runtime::Service => "service",
            Runtime::Session => "session",
        };
        match &self.pod_uid {
            Some(pod) => format!("pod:{pod}/{runtime}:{}", self.short_id()),
            None => format!("{runtime}:{}", self.short_id()),
        }
    }
}

/// The container a cgroup path (relative to the cgroup root, `/`-separated) belongs to: the
/// innermost component that names a container; failing that, the innermost systemd service
/// or session. A container's own cgroups (systemd inside a container makes
/// `docker-ID.scope/system.slice/app.service`) belong to the container. `None` for the root
/// and plain slices.
pub fn container_of(path: &str) -> Option<Container> {
    let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    let parent_of = |index: usize| index.checked_sub(1).map(|i| parts[i]);
    let pod_uid = parts.iter().find_map(|p| pod_uid(p));
    let oci = parts.iter().enumerate().rev().find_map(|(index, part)| {
        let parent = parent_of(index);
        let (runtime, id) = oci_container(part, parent)?;
        let runtime = if pod_uid.is_some()
            && runtime == Runtime::Docker
            && parent.is_some_and(|p| p.starts_with("pod"))
        {
            Runtime::Kubernetes
        } else {
            runtime
        };
        Some(Container {
            runtime,
            id,
            pod_uid: pod_uid.clone(),
        })
    });
    oci.or_else(|| {
        parts
            .iter()
            .enumerate()
            .rev()
            .find_map(|(index, part)| systemd_unit(part, parent_of(index)))
    })
}

/// What a view shows for the cgroup at `path`: its container's name, else the path itself.
pub fn container_label(path: &str) -> String {
    container_of(path).map_or_else(|| path.to_owned(), |c| c.display_name())
}

/// OCI runtimes: `docker-ID.scope`, `docker/ID`, `cri-containerd-ID.scope`, `crio-ID.scope`,
/// `libpod-ID.scope`, `libpod_parent/libpod-ID`, kubepods `pod<uid>/ID`, LXC.
fn oci_container(part: &str, parent: Option<&str>) -> Option<(Runtime, String)> {
    let scoped = part.strip_suffix(".scope").unwrap_or(part);
    for (prefix, runtime) in [
        ("docker-", Runtime::Docker),
        ("cri-containerd-", Runtime::Containerd),
        ("crio-", Runtime::CriO),
        ("libpod-", Runtime::Podman),
    ] {
        if let Some(id) = scoped.strip_prefix(prefix)
            && is_hex_id(id)
        {
            return Some((runtime, id.to_owned()));
        }
    }
    if is_hex_id(part) {
        return match parent {
            Some("docker") => Some((Runtime::Docker, part.to_owned())),
            Some(p) if p.starts_with("pod") => Some((Runtime::Docker, part.to_owned())),
            _ => None,
        };
    }
    if let Some(name) = part.strip_prefix("lxc.payload.") {
        return Some((Runtime::Lxc, name.to_owned()));
    }
    if parent == Some("lxc") {
        return Some((Runtime::Lxc, part.to_owned()));
    }
    None
}

fn systemd_unit(part: &str, parent: Option<&str>) -> Option<Container> {
    let unit = |runtime, id: &str| {
        Some(Container {
            runtime,
            id: id.to_owned(),
            pod_uid: None,
        })
    };
    if let Some(session) = part
        .strip_suffix(".scope")
        .filter(|s| s.starts_with("session-"))
    {
        let user = parent
            .and_then(|p| p.strip_suffix(".slice"))
            .unwrap_or("user");
        return unit(Runtime::Session, &format!("{user}/{session}"));
    }
    if let Some(user) = part
        .strip_prefix("user@")
        .and_then(|p| p.strip_suffix(".service"))
    {
        return unit(Runtime::Session, &format!("user-{user}"));
    }
    if let Some(service) = part.strip_suffix(".service") {
        return unit(Runtime::Service, service);
    }
    None
}

/// `kubepods-burstable-pod1a2b_3c4d.slice` or `pod1a2b-3c4d` -> `1a2b-3c4d`.
fn pod_uid(part: &str) -> Option<String> {
    let name = part.strip_suffix(".slice").unwrap_or(part);
    let start = name.rfind("pod")?;
    let uid = &name[start + 3..];
    let looks_like_uid = uid.len() >= 32
        && uid
            .chars()
            .all(|c| c.is_ascii_hexdigit() || c == '_' || c == '-');
    looks_like_uid.then(|| uid.replace('_', "-"))
}

fn is_hex_id(s: &str) -> bool {
    s.len() == 64 && s.chars().all(|c| c.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    const POD: &str = "1a2b3c4d-5e6f-7a8b-9c0d-1e2f3a4b5c6d";

    fn parsed(path: &str) -> (Runtime, String, Option<String>) {
        let c = container_of(path).unwrap_or_else(|| panic!("no container in {path}"));
        (c.runtime, c.id, c.pod_uid)
    }

    #[test]
    fn docker_with_both_drivers() {
        assert_eq!(
            parsed(&format!("/system.slice/docker-{ID}.scope")),
            (Runtime::Docker, ID.into(), None)
        );
        assert_eq!(
            parsed(&format!("/docker/{ID}")),
            (Runtime::Docker, ID.into(), None)
        );
        assert_eq!(
            container_of(&format!("/docker/{ID}")).unwrap().short_id(),
            "0123456789ab"
        );
    }

    #[test]
    fn kubernetes_with_containerd_crio_and_cgroupfs() {
        let pod_slice = format!("kubepods-burstable-pod{}.slice", POD.replace('-', "_"));
        let path = format!(
            "/kubepods.slice/kubepods-burstable.slice/{pod_slice}/cri-containerd-{ID}.scope"
        );
        assert_eq!(
            parsed(&path),
            (Runtime::Containerd, ID.into(), Some(POD.into()))
        );
        let path = format!(
            "/kubepods.slice/kubepods-pod{}.slice/crio-{ID}.scope",
            POD.replace('-', "_")
        );
        assert_eq!(parsed(&path), (Runtime::CriO, ID.into(), Some(POD.into())));
        let path = format!("/kubepods/besteffort/pod{POD}/{ID}");
        assert_eq!(
            parsed(&path),
            (Runtime::Kubernetes, ID.into(), Some(POD.into()))
        );
        assert_eq!(
            container_of(&path).unwrap().display_name(),
            format!("pod:{POD}/k8s:0123456789ab")
        );
    }

    #[test]
    fn podman_lxc_and_systemd_units() {
        assert_eq!(
            parsed(&format!("/machine.slice/libpod-{ID}.scope")).0,
            Runtime::Podman
        );
        assert_eq!(
            parsed(&format!("/machine.slice/libpod-{ID}.scope/container")).0,
            Runtime::Podman
        );
        assert_eq!(
            parsed(&format!("/libpod_parent/libpod-{ID}")).0,
            Runtime::Podman
        );
        assert_eq!(
            parsed("/lxc.payload.web1"),
            (Runtime::Lxc, "web1".into(), None)
        );
        assert_eq!(parsed("/lxc/web2"), (Runtime::Lxc, "web2".into(), None));
        assert_eq!(
            parsed("/system.slice/nginx.service"),
            (Runtime::Service, "nginx".into(), None)
        );
        assert_eq!(
            parsed("/user.slice/user-1000.slice/session-3.scope"),
            (Runtime::Session, "user-1000/session-3".into(), None)
        );
        assert_eq!(
            container_of("/user.slice/user-1000.slice/session-3.scope")
                .unwrap()
                .display_name(),
            "session:user-1000/session-3"
        );
    }

    #[test]
    fn cgroups_inside_a_container_belong_to_the_container() {
        // systemd running in a container makes services and sessions of its own.
        assert_eq!(
            parsed(&format!(
                "/system.slice/docker-{ID}.scope/system.slice/nginx.service"
            )),
            (Runtime::Docker, ID.into(), None)
        );
        assert_eq!(
            parsed("/lxc.payload.web1/user.slice/user-0.slice/session-1.scope"),
            (Runtime::Lxc, "web1".into(), None)
        );
        assert_eq!(
            parsed(&format!("/machine.slice/libpod-{ID}.scope/init.scope")).0,
            Runtime::Podman
        );
    }

    #[test]
    fn plain_slices_and_the_root_are_no_container() {
        assert_eq!(container_of("/"), None);
        assert_eq!(container_of("/system.slice"), None);
        assert_eq!(
            container_of("/kubepods.slice/kubepods-burstable.slice"),
            None
        );
        assert_eq!(container_of("/docker/not-an-id"), None);
    }
}
