//! Per-container attribution: cgroup ids (what the kernel gives) to cgroup paths and to the
//! containers, pods, services and sessions those paths name.

pub mod births;
pub mod container;
pub mod filter;
pub mod names;
pub mod recorded;
pub mod resolver;
pub mod summary;

pub use container::{Container, Runtime, container_label, container_of};
pub use filter::{CgroupNameFilter, NameFilter, NameFilterError, NamedCgroups};
pub use names::{ContainerName, PodName, RuntimeState};
pub use recorded::RecordedCgroups;
pub use resolver::{CgroupError, CgroupResolver, CgroupSubtree, ContainerLabel};
pub use summary::{ContainerSummary, ContainerTotals};
