//! The container options every clap view shares: name filters and the id/name choice.

use clap::Args;

use crate::cgroup::{ContainerLabel, NameFilter, NameFilterError};

#[derive(Args, Clone, Debug, Default)]
pub struct ContainerNameArgs {
    /// Only I/O of this Kubernetes pod's containers (names from the runtimes' state on this host)
    #[arg(long, value_name = "NAMESPACE/POD")]
    pub pod: Option<String>,
    /// Only I/O of containers whose name (docker's, podman's, the Kubernetes container's, a
    /// systemd unit's) matches GLOB
    #[arg(long = "container-name", value_name = "GLOB")]
    pub container_name: Option<String>,
    /// Show containers by runtime and short id (docker:0123456789ab) rather than by name
    #[arg(long = "container-id")]
    pub container_id: bool,
}

impl ContainerNameArgs {
    /// The filter `--pod` and `--container-name` ask for, if any.
    pub fn filter(&self) -> Result<Option<NameFilter>, NameFilterError> {
        NameFilter::new(self.pod.as_deref(), self.container_name.as_deref())
    }

    pub fn label(&self) -> ContainerLabel {
        ContainerLabel::ids_if(self.container_id)
    }
}
