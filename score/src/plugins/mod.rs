//! One module per filter or score plugin, each with the exact arithmetic of its
//! kube-scheduler counterpart (or, for our own plugins, the rule they apply)
//! and table-driven tests whose comments show the numbers.
//!
//! The modules hold the pure rules; [`crate::schedule`](mod@crate::schedule) runs them over the
//! cluster's node table.

pub mod balanced_allocation;
pub mod image_locality;
pub mod inter_pod_affinity;
pub mod node_affinity;
pub mod node_ports;
pub mod node_purpose;
pub mod node_resources_fit;
pub mod node_unschedulable;
pub mod normalize;
pub mod pod_topology_spread;
pub mod real_user_colocation;
pub mod taint_toleration;
pub mod volumes;

/// kube's `MaxNodeScore`: every normalized score is in `0..=MAX_NODE_SCORE`.
pub const MAX_NODE_SCORE: i64 = 100;
