//! A discrete-event simulation of a hub: users spawn and stop servers from a
//! [`Trace`](crate::trace::Trace), placeholders hold room, an autoscaler
//! ([`crate::autoscaler`]) adds and removes nodes, and **every placement is
//! the daemon's own decision** ([`score::decide()`]): nominations, preemption
//! and packing preemption included. Nothing here reads a clock; a run is a
//! pure function of its inputs and seed.
//!
//! What is modelled, and how (each a deliberate simplification):
//! - **Pods**: users are bare pods (priority 0, no controller: they pin their
//!   node against the cluster autoscaler's scale-down, as KubeSpawner's do);
//!   placeholders are a StatefulSet's (priority −10; an evicted one comes back
//!   pending at once, under a new uid). Both tolerate the user pools' taints
//!   and carry the z2jh labels `component=singleuser-server` /
//!   `component=user-placeholder`. A placeholder's PodTopologySpread default
//!   selector is its StatefulSet's (`component=user-placeholder`).
//! - **The queue**: pending pods in kube's order (priority, then creation). A
//!   new pod is tried at once; pods that found no room are tried again when
//!   the cluster changes in a way that can help (a node registered, a pod
//!   left, a nomination dropped), as the daemon's queue does on those events.
//! - **Nodes**: a scale-up creates nodes that register after a start time
//!   drawn uniformly from the pool's range; they are billed from the
//!   request. A user on a node without the user image waits for the pull
//!   (the image puller, when on, starts pulling when the node registers).
//! - **Preemption**: victims terminate after `victim_grace`; the preemptor is
//!   nominated to the node meanwhile and its room is held there.
//! - **kube profiles**: kube scores every feasible node when a cluster has
//!   fewer than 100 (`numFeasibleNodesToFind`), so its adaptive sampling is
//!   exact here below 100 nodes; above, every node is still scored (stated in
//!   the report). Score ties are broken at random with the run's seed, as
//!   kube and the daemon do.

mod plot;
mod report;
mod run;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::time::Duration;

use score::model::Taint;

use crate::autoscaler::Model;

pub use plot::svg;
pub use report::{Compared, RunStats, Summary, compare};
pub use run::{Policy, run};

/// The label saying which pool a node belongs to (GKE's, as the sandbox's).
pub const POOL_LABEL: &str = "cloud.google.com/gke-nodepool";

/// A node pool: machine shape, labels, taints, size limits and price.
#[derive(Clone, Debug, PartialEq)]
pub struct PoolSpec {
    /// Its name.
    pub name: String,
    /// Each node's allocatable cpu, in millicores.
    pub cpu_milli: u64,
    /// Each node's allocatable memory, in bytes.
    pub memory: u64,
    /// Each node's pod slots.
    pub pods: u64,
    /// Labels of each node (besides hostname and [`POOL_LABEL`]).
    pub labels: BTreeMap<String, String>,
    /// Taints of each node.
    pub taints: Vec<Taint>,
    /// Nodes that exist from the start and that scale-down keeps.
    pub min_size: usize,
    /// Most nodes the pool may have.
    pub max_size: usize,
    /// Price of one node for an hour.
    pub price_per_hour: f64,
    /// Seconds from a scale-up to the node registering: drawn uniformly in
    /// this range (inclusive).
    pub start_seconds: (u32, u32),
    /// Whether users and placeholders run here (the autoscaler's admission:
    /// a user pool); other pools only count in node-hours.
    pub users: bool,
}

/// Everything about a run besides the trace, the policy and the seed.
#[derive(Clone, Debug, PartialEq)]
pub struct SimOptions {
    /// The node pools.
    pub pools: Vec<PoolSpec>,
    /// The autoscaler and its flags.
    pub autoscaler: Model,
    /// How many placeholders the hub runs.
    pub placeholders: u32,
    /// A placeholder's requests: cpu millicores and memory bytes (z2jh
    /// gives them the default user's requests).
    pub placeholder_requests: (Option<u64>, Option<u64>),
    /// The user image.
    pub image: String,
    /// Its size in bytes (ImageLocality scores it).
    pub image_size: u64,
    /// Seconds to pull the user image on a node that has not got it:
    /// drawn uniformly in this range.
    pub image_pull_seconds: (u32, u32),
    /// Whether the continuous image puller runs (it pulls the image as
    /// soon as a node registers; z2jh's default).
    pub image_puller: bool,
    /// How long an evicted placeholder takes to go.
    pub victim_grace: Duration,
    /// How often the timeline is sampled (for the picture).
    pub sample_every: Duration,
}

impl SimOptions {
    /// A z2jh-like hub on GKE: one core node (n2-standard-2, not for users)
    /// and one autoscaled user pool of n1-highmem-4 nodes (4 cpu, 26 GB, 0 to
    /// 100 nodes, us-central1 on-demand prices of 2026), labelled and tainted
    /// as z2jh's docs say; the cluster autoscaler with its defaults; 4
    /// placeholders of z2jh's default user (1G memory); nodes start in 3–5
    /// minutes and pull the user image in 5–10 (capacity research: cluster
    /// autoscaler FAQ, z2jh optimization.md).
    #[must_use]
    pub fn z2jh_default() -> SimOptions {
        let gib = 1u64 << 30;
        let core = PoolSpec {
            name: "core".into(),
            cpu_milli: 1930,
            memory: 6 * gib,
            pods: 110,
            labels: BTreeMap::from([("hub.jupyter.org/node-purpose".into(), "core".into())]),
            taints: Vec::new(),
            min_size: 1,
            max_size: 1,
            price_per_hour: 0.0971,
            start_seconds: (180, 300),
            users: false,
        };
        let user = PoolSpec {
            name: "user".into(),
            cpu_milli: 3920,
            memory: 22 * gib,
            pods: 110,
            labels: BTreeMap::from([("hub.jupyter.org/node-purpose".into(), "user".into())]),
            taints: vec![Taint {
                key: "hub.jupyter.org/dedicated".into(),
                value: "user".into(),
                effect: score::model::TaintEffect::NoSchedule,
            }],
            min_size: 0,
            max_size: 100,
            price_per_hour: 0.2366,
            start_seconds: (180, 300),
            users: true,
        };
        SimOptions {
            pools: vec![core, user],
            autoscaler: Model::default(),
            placeholders: 4,
            placeholder_requests: (None, Some(1_000_000_000)),
            image: "quay.io/jupyter/scipy-notebook:2026-11-30".into(),
            image_size: 2_500_000_000,
            image_pull_seconds: (300, 600),
            image_puller: true,
            victim_grace: Duration::from_secs(1),
            sample_every: Duration::from_secs(300),
        }
    }
}
