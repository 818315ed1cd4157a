//! The pure scheduling engine: no I/O, no async, no clock.
//!
//! # Layout
//! - [`model`]: plain descriptions of nodes and pods (what converters build).
//! - [`quantity`]: exact Kubernetes quantities.
//! - [`pod`]: a pod's effective requests, as kube computes them.
//! - [`cluster`]: the compact, incrementally updated node and pod tables.
//! - [`profile`]: which plugins run, with which weights and arguments.
//! - [`plugins`]: one module per filter/score plugin, with kube's arithmetic.
//! - [`schedule`](mod@schedule): filter, score, normalize, weigh, select.
//! - [`decide`](mod@decide): the one decision policy (schedule, nominated node, packing
//!   preemption, Reserve, preemption) the daemon, `explain` and the simulator call.
//! - [`explain`](mod@explain): a decision with every node's reasons and scores.
//! - [`reason`], [`message`]: kube's reason strings and the FailedScheduling message.
//!
//! # Decisions of note
//! "Does not fit" is a result ([`schedule::Decision`] with no node), never an
//! error. Every feasible node is scored (no `percentageOfNodesToScore`
//! sampling). Real users and placeholders are told apart by label selectors
//! ([`RoleSelectors`]) so packing can count real users only.

pub mod cluster;
pub mod decide;
pub mod explain;
pub mod message;
pub mod model;
pub mod plugins;
pub mod pod;
pub mod preemption;
pub mod profile;
pub mod quantity;
pub mod reason;
pub mod rng;
pub mod schedule;
mod selector;
pub mod symbols;
pub mod testing;
pub mod volumes;

#[cfg(test)]
mod decide_tests;

#[cfg(test)]
mod schedule_tests;

#[cfg(test)]
mod preemption_tests;

#[cfg(test)]
mod volume_tests;

pub use cluster::{Cluster, NodeSummary, PodRecord, PodRole, RoleSelectors};
pub use decide::{Inputs, Verdict, decide};
pub use explain::{Explanation, NodeExplanation, Outcome, explain, explain_with};
pub use preemption::{Pdb, Preemption, PreemptionPlan};
pub use profile::Profile;
pub use schedule::{Decision, Scratch, schedule};
