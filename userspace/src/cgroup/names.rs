//! Containers by name: what each runtime calls a container, read from the state it keeps on
//! the host's disk. No daemon API and no network: a node where the daemon hangs, or a
//! recording's machine, still names its containers; a container that is gone keeps its name.
//!
//! | runtime | where its name is |
//! |---|---|
//! | docker | `/var/lib/docker/containers/ID/config.v2.json`: `Name`, `Config.Image` (dockershim: `Config.Labels`) |
//! | podman | `/var/lib/containers/storage/*-containers/containers.json` (rootless: the user's `~/.local/share/containers/storage`): `names`, `metadata.image-name` |
//! | containerd | the task's OCI bundle `/run/containerd/io.containerd.runtime.v2.task/NS/ID/config.json`: CRI annotations (`io.kubernetes.cri.*`), nerdctl's `nerdctl/name` |
//! | CRI-O | `/run/containers/storage/overlay-containers/ID/userdata/config.json` (or under `/var/lib`): `io.kubernetes.pod.*`, `io.kubernetes.container.name` |
//! | kubelet | `/var/log/pods/NAMESPACE_POD_UID/CONTAINER/`, `/var/log/containers/POD_NAMESPACE_CONTAINER-ID.log` (any CRI runtime) |
//! | systemd | the unit name (`nginx.service`) |

use std::{
    collections::{HashMap, VecDeque},
    path::{Path, PathBuf},
};

use serde::Serialize;
use serde_json::Value;

use crate::cgroup::container::{Container, Runtime};

/// What a runtime calls a container.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct ContainerName {
    /// The container's own name: docker's and podman's name, Kubernetes' container name (`POD`
    /// for a pod's sandbox), LXC's, a systemd unit's. `None` when only its pod is known.
    pub name: Option<String>,
    /// Kubernetes namespace and pod name.
    pub pod: Option<PodName>,
    /// The image it runs, when the runtime writes it down.
    pub image: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct PodName {
    pub namespace: String,
    pub name: String,
}

impl ContainerName {
    fn named(name: &str, image: Option<String>) -> Self {
        Self {
            name: Some(name.to_owned()),
            pod: None,
            image,
        }
    }

    /// What a view shows: `web` for docker and podman, `NAMESPACE/POD/CONTAINER` for
    /// Kubernetes (`NAMESPACE/POD` when the container is not known).
    pub fn display(&self) -> String {
        match (&self.pod, &self.name) {
            (Some(pod), Some(name)) => format!("{}/{}/{name}", pod.namespace, pod.name),
            (Some(pod), None) => format!("{}/{}", pod.namespace, pod.name),
            (None, Some(name)) => name.clone(),
            (None, None) => String::new(),
        }
    }

    /// The inverse of `display`, for names a recording wrote down: three parts are a
    /// Kubernetes container, two a pod, one a name.
    pub fn from_display(text: &str) -> Self {
        let parts: Vec<&str> = text.splitn(3, '/').collect();
        let pod = |namespace: &str, name: &str| {
            Some(PodName {
                namespace: namespace.to_owned(),
                name: name.to_owned(),
            })
        };
        match parts.as_slice() {
            [namespace, pod_name, name] => Self {
                name: Some((*name).to_owned()),
                pod: pod(namespace, pod_name),
                image: None,
            },
            [namespace, pod_name] => Self {
                name: None,
                pod: pod(namespace, pod_name),
                image: None,
            },
            _ => Self::named(text, None),
        }
    }
}

/// The environment variable naming where the host's root is mounted.
pub const HOST_ROOT_VARIABLE: &str = "BLKSCOPE_HOST_ROOT";

/// The host's file system as the runtimes see it: `/`, or where it is mounted when blkscope
/// runs in a container itself (`--host-root /host` in a Kubernetes DaemonSet).
#[derive(Clone, Debug)]
pub struct RuntimeState {
    root: PathBuf,
}

impl Default for RuntimeState {
    fn default() -> Self {
        Self::at(PathBuf::from("/"))
    }
}

impl RuntimeState {
    pub fn at(root: PathBuf) -> Self {
        Self { root }
    }

    /// `/`, or `$BLKSCOPE_HOST_ROOT` when set: where the host's root is mounted for a
    /// blkscope that runs in a container (as a Kubernetes DaemonSet mounts it at `/host`).
    pub fn from_env() -> Self {
        match std::env::var_os(HOST_ROOT_VARIABLE) {
            Some(root) if !root.is_empty() => Self::at(PathBuf::from(root)),
            _ => Self::default(),
        }
    }

    fn path(&self, absolute: &str) -> PathBuf {
        self.root.join(absolute.trim_start_matches('/'))
    }

    /// What `container`'s runtime calls it, `None` when its state says nothing (yet).
    pub fn name_of(&self, container: &Container) -> Option<ContainerName> {
        let id = container.id.as_str();
        let pod_uid = container.pod_uid.as_deref();
        let kubelet = || pod_uid.and_then(|uid| self.kubelet(uid, id));
        match container.runtime {
            Runtime::Docker => self.docker(id).or_else(kubelet),
            Runtime::Podman => self.podman(id),
            Runtime::Containerd => self.containerd(id).or_else(kubelet),
            Runtime::CriO => self.crio(id).or_else(kubelet),
            // cgroupfs-driver Kubernetes paths do not say which runtime made the container.
            Runtime::Kubernetes => self
                .containerd(id)
                .or_else(|| self.crio(id))
                .or_else(|| self.docker(id))
                .or_else(kubelet),
            Runtime::Lxc => Some(ContainerName::named(id, None)),
            Runtime::Service => Some(ContainerName::named(&format!("{id}.service"), None)),
            Runtime::Session => None,
        }
    }

    fn docker(&self, id: &str) -> Option<ContainerName> {
        let config =
            read_json(&self.path(&format!("/var/lib/docker/containers/{id}/config.v2.json")))?;
        let image = text(&config["Config"]["Image"]);
        // Kubernetes through dockershim labels its containers as CRI-O annotates them.
        if let Some(name) = kubernetes_name(&config["Config"]["Labels"], CRIO_KEYS, image.clone()) {
            return Some(name);
        }
        let name = text(&config["Name"])?;
        Some(ContainerName::named(name.trim_start_matches('/'), image))
    }

    fn podman(&self, id: &str) -> Option<ContainerName> {
        let mut stores = vec![self.path("/var/lib/containers/storage")];
        stores.push(self.path("/root/.local/share/containers/storage"));
        stores.extend(
            subdirectories(&self.path("/home"))
                .into_iter()
                .map(|home| home.join(".local/share/containers/storage")),
        );
        stores.push(self.path("/run/containers/storage"));
        stores.iter().find_map(|store| podman_in_store(store, id))
    }

    fn containerd(&self, id: &str) -> Option<ContainerName> {
        [
            "io.containerd.runtime.v2.task",
            "io.containerd.runtime.v1.linux",
        ]
        .iter()
        .flat_map(|kind| subdirectories(&self.path(&format!("/run/containerd/{kind}"))))
        .find_map(|namespace| {
            let config = read_json(&namespace.join(id).join("config.json"))?;
            let annotations = &config["annotations"];
            let image = text(&annotations["io.kubernetes.cri.image-name"]);
            kubernetes_name(annotations, CRI_KEYS, image).or_else(|| {
                let name = text(&annotations["nerdctl/name"])?;
                Some(ContainerName::named(&name, None))
            })
        })
    }

    fn crio(&self, id: &str) -> Option<ContainerName> {
        ["/run/containers/storage", "/var/lib/containers/storage"]
            .iter()
            .find_map(|store| {
                let config = read_json(
                    &self
                        .path(store)
                        .join(format!("overlay-containers/{id}/userdata/config.json")),
                )?;
                let annotations = &config["annotations"];
                let image = text(&annotations["io.kubernetes.cri-o.ImageName"]);
                kubernetes_name(annotations, CRIO_KEYS, image)
            })
    }

    /// The kubelet's log directories name every pod it runs, whatever the runtime:
    /// `/var/log/pods/NAMESPACE_POD_UID/CONTAINER/`; which container has id ID is told by
    /// `/var/log/containers/POD_NAMESPACE_CONTAINER-ID.log`, or by the pod having only one.
    fn kubelet(&self, pod_uid: &str, id: &str) -> Option<ContainerName> {
        let pods = self.path("/var/log/pods");
        let pod_dir = subdirectories(&pods).into_iter().find(|dir| {
            dir.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.ends_with(&format!("_{pod_uid}")))
        })?;
        let dir_name = pod_dir.file_name()?.to_str()?;
        let mut parts = dir_name.splitn(3, '_');
        let (namespace, pod) = (parts.next()?, parts.next()?);
        let name = self
            .kubelet_container_log(namespace, pod, id)
            .or_else(|| match subdirectories(&pod_dir).as_slice() {
                [only] => only.file_name()?.to_str().map(str::to_owned),
                _ => None,
            });
        Some(ContainerName {
            name,
            pod: Some(PodName {
                namespace: namespace.to_owned(),
                name: pod.to_owned(),
            }),
            image: None,
        })
    }

    fn kubelet_container_log(&self, namespace: &str, pod: &str, id: &str) -> Option<String> {
        let prefix = format!("{pod}_{namespace}_");
        let suffix = format!("-{id}.log");
        std::fs::read_dir(self.path("/var/log/containers"))
            .ok()?
            .flatten()
            .find_map(|entry| {
                let file = entry.file_name();
                let container = file
                    .to_str()?
                    .strip_prefix(&prefix)?
                    .strip_suffix(&suffix)?;
                Some(container.to_owned())
            })
    }
}

/// The annotation (label) keys one runtime names a Kubernetes container with: namespace,
/// pod, container, and whether it is the pod's sandbox.
struct KubernetesKeys {
    namespace: &'static str,
    pod: &'static str,
    container: &'static str,
    sandbox: Option<(&'static str, &'static str)>,
}

/// containerd's CRI plugin.
const CRI_KEYS: &KubernetesKeys = &KubernetesKeys {
    namespace: "io.kubernetes.cri.sandbox-namespace",
    pod: "io.kubernetes.cri.sandbox-name",
    container: "io.kubernetes.cri.container-name",
    sandbox: Some(("io.kubernetes.cri.container-type", "sandbox")),
};

/// CRI-O (and dockershim's docker labels); a sandbox is named `POD` there already.
const CRIO_KEYS: &KubernetesKeys = &KubernetesKeys {
    namespace: "io.kubernetes.pod.namespace",
    pod: "io.kubernetes.pod.name",
    container: "io.kubernetes.container.name",
    sandbox: None,
};

/// `POD`: what the kubelet has always called a pod's sandbox (pause) container.
const SANDBOX_NAME: &str = "POD";

fn kubernetes_name(
    annotations: &Value,
    keys: &KubernetesKeys,
    image: Option<String>,
) -> Option<ContainerName> {
    let namespace = text(&annotations[keys.namespace])?;
    let pod = text(&annotations[keys.pod])?;
    let is_sandbox = keys
        .sandbox
        .is_some_and(|(key, value)| annotations[key].as_str() == Some(value));
    let name = if is_sandbox {
        Some(SANDBOX_NAME.to_owned())
    } else {
        text(&annotations[keys.container])
    };
    Some(ContainerName {
        name,
        pod: Some(PodName {
            namespace,
            name: pod,
        }),
        image,
    })
}

/// A containers/storage store's container list (`overlay-containers/containers.json`, or
/// another graph driver's, and the volatile list of `--transient-store`).
fn podman_in_store(store: &Path, id: &str) -> Option<ContainerName> {
    subdirectories(store)
        .into_iter()
        .filter(|dir| {
            dir.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.ends_with("-containers"))
        })
        .flat_map(|dir| ["containers.json", "volatile-containers.json"].map(|list| dir.join(list)))
        .find_map(|list| {
            let containers = read_json(&list)?;
            let entry = containers
                .as_array()?
                .iter()
                .find(|c| c["id"].as_str() == Some(id))?;
            let name = text(&entry["names"][0])?;
            // `metadata` is JSON in a string: podman's own record of the container.
            let image = entry["metadata"]
                .as_str()
                .and_then(|m| serde_json::from_str::<Value>(m).ok())
                .and_then(|m| text(&m["image-name"]));
            Some(ContainerName::named(&name, image))
        })
}

fn read_json(path: &Path) -> Option<Value> {
    let bytes = std::fs::read(path).ok()?;
    serde_json::from_slice(&bytes).ok()
}

fn text(value: &Value) -> Option<String> {
    value.as_str().filter(|s| !s.is_empty()).map(str::to_owned)
}

fn subdirectories(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut dirs: Vec<PathBuf> = entries
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.path())
        .collect();
    dirs.sort();
    dirs
}

/// How many containers' names are kept: more than any node runs at once; the oldest go first.
const NAMES_KEPT: usize = 4096;

/// Names by container id, looked up once. A container not found (its runtime had not
/// written it down yet) is looked up again when new cgroups appear (`retry_unknown`).
#[derive(Debug)]
pub struct ContainerNames {
    state: RuntimeState,
    known: HashMap<String, Option<ContainerName>>,
    order: VecDeque<String>,
}

impl ContainerNames {
    pub fn new(state: RuntimeState) -> Self {
        Self {
            state,
            known: HashMap::new(),
            order: VecDeque::new(),
        }
    }

    pub fn name(&mut self, container: &Container) -> Option<&ContainerName> {
        let key = cache_key(container);
        if !self.known.contains_key(&key) {
            let name = self.state.name_of(container);
            self.keep(key.clone(), name);
        }
        self.known.get(&key).and_then(Option::as_ref)
    }

    /// Takes a name as known (from a recording's notes).
    pub fn remember(&mut self, container: &Container, name: ContainerName) {
        self.keep(cache_key(container), Some(name));
    }

    /// Forgets which containers had no name, so they are looked up again.
    pub fn retry_unknown(&mut self) {
        self.known.retain(|_, name| name.is_some());
        let known = &self.known;
        self.order.retain(|key| known.contains_key(key));
    }

    fn keep(&mut self, key: String, name: Option<ContainerName>) {
        if self.known.insert(key.clone(), name).is_none() {
            self.order.push_back(key);
        }
        while self.order.len() > NAMES_KEPT {
            if let Some(oldest) = self.order.pop_front() {
                self.known.remove(&oldest);
            }
        }
    }
}

fn cache_key(container: &Container) -> String {
    format!("{:?}/{}", container.runtime, container.id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_and_back() {
        let k8s = ContainerName::from_display("shop/cart-7d9f/redis");
        assert_eq!(k8s.name.as_deref(), Some("redis"));
        assert_eq!(
            k8s.pod,
            Some(PodName {
                namespace: "shop".into(),
                name: "cart-7d9f".into()
            })
        );
        assert_eq!(k8s.display(), "shop/cart-7d9f/redis");
        assert_eq!(
            ContainerName::from_display("shop/cart").display(),
            "shop/cart"
        );
        assert_eq!(ContainerName::from_display("web").display(), "web");
    }

    /// tests/fixtures/runtimes: each runtime's files as it writes them.
    fn fixtures() -> RuntimeState {
        RuntimeState::at(Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/runtimes"))
    }

    fn named(runtime: Runtime, id: &str, pod_uid: Option<&str>) -> Option<ContainerName> {
        fixtures().name_of(&Container {
            runtime,
            id: id.to_owned(),
            pod_uid: pod_uid.map(str::to_owned),
        })
    }

    #[test]
    fn every_runtimes_state_names_its_containers() {
        let docker = "d0c4e1d0c4e1d0c4e1d0c4e1d0c4e1d0c4e1d0c4e1d0c4e1d0c4e1d0c4e1d0c4";
        let web = named(Runtime::Docker, docker, None).unwrap();
        assert_eq!(
            (web.display(), web.image.as_deref()),
            ("web-1".into(), Some("nginx:1.25"))
        );
        let podman = "9d3a4b1c9d3a4b1c9d3a4b1c9d3a4b1c9d3a4b1c9d3a4b1c9d3a4b1c9d3a4b1c";
        let db = named(Runtime::Podman, podman, None).unwrap();
        assert_eq!(
            (db.display(), db.image.as_deref()),
            ("db".into(), Some("docker.io/library/postgres:16"))
        );
        let rootless = "a11ce0a11ce0a11ce0a11ce0a11ce0a11ce0a11ce0a11ce0a11ce0a11ce0a11c";
        assert_eq!(
            named(Runtime::Podman, rootless, None).unwrap().display(),
            "alice-cache"
        );
        let cri = "c0d7a1e5c0d7a1e5c0d7a1e5c0d7a1e5c0d7a1e5c0d7a1e5c0d7a1e5c0d7a1e5";
        let redis = named(
            Runtime::Containerd,
            cri,
            Some("4f6e2a10-8b7c-4d3e-9f21-0a1b2c3d4e5f"),
        );
        assert_eq!(redis.unwrap().display(), "shop/cart-7d9f8-x2x4z/redis");
        let crio = "c4105c4105c4105c4105c4105c4105c4105c4105c4105c4105c4105c4105c410";
        assert_eq!(
            named(Runtime::CriO, crio, None).unwrap().display(),
            "payments/api-5c6b-abcde/api"
        );
        // cgroupfs-driver Kubernetes: whatever the runtime, the kubelet's logs name it.
        let uid = "5e4d3c2b-1a09-4f8e-9d7c-6b5a49382716";
        let fluentd = "6b0e1e76b0e1e76b0e1e76b0e1e76b0e1e76b0e1e76b0e1e76b0e1e76b0e1e70";
        assert_eq!(
            named(Runtime::Kubernetes, fluentd, Some(uid))
                .unwrap()
                .display(),
            "logging/fluentd-abc12/fluentd"
        );
        // A container of the pod the logs do not link: the pod is still known.
        let other = "0".repeat(64);
        assert_eq!(
            named(Runtime::Kubernetes, &other, Some(uid))
                .unwrap()
                .display(),
            "logging/fluentd-abc12"
        );
        assert_eq!(named(Runtime::Docker, &other, None), None);
        assert_eq!(
            named(Runtime::Service, "nginx", None).unwrap().display(),
            "nginx.service"
        );
    }

    #[test]
    fn names_are_bounded_and_unknown_ones_retried() {
        let root = std::env::temp_dir().join(format!("blkscope-names-{}", std::process::id()));
        let mut names = ContainerNames::new(RuntimeState::at(root.clone()));
        let container = |id: &str| Container {
            runtime: Runtime::Docker,
            id: id.to_owned(),
            pod_uid: None,
        };
        assert_eq!(names.name(&container("a")), None);
        let dir = root.join("var/lib/docker/containers/a");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("config.v2.json"),
            r#"{"Name":"/web","Config":{"Image":"nginx"}}"#,
        )
        .unwrap();
        assert_eq!(names.name(&container("a")), None, "a miss is cached");
        names.retry_unknown();
        assert_eq!(
            names
                .name(&container("a"))
                .map(ContainerName::display)
                .as_deref(),
            Some("web")
        );
        std::fs::remove_dir_all(&root).unwrap();
        assert!(
            names.name(&container("a")).is_some(),
            "a gone container keeps its name"
        );
        for i in 0..NAMES_KEPT + 10 {
            names.remember(&container(&i.to_string()), ContainerName::named("x", None));
        }
        assert!(names.known.len() <= NAMES_KEPT);
        assert_eq!(names.known.len(), names.order.len());
    }
}
