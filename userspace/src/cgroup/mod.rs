//! Per-container attribution: cgroup ids (what the kernel gives) to cgroup paths and to the
//! containers, pods, services and sessions those paths name.

pub mod container;
pub mod resolver;
pub mod summary;

pub use container::{Container, Runtime, container_label, container_of};
pub use resolver::{CgroupError, CgroupResolver, CgroupSubtree};
pub use summary::{ContainerSummary, ContainerTotals};
