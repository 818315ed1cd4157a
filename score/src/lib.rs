//! The pure scheduling engine.

pub mod cluster;
pub mod model;
pub mod pod;
pub mod profile;
pub mod quantity;
pub mod rng;
pub mod symbols;

pub use cluster::{Cluster, NodeSummary, PodRecord, PodRole, RoleSelectors};
pub use profile::Profile;
