//! The node autoscalers as pure decision models: the Kubernetes cluster autoscaler
//! ([`ClusterAutoscaler`]) and Karpenter with `consolidationPolicy: WhenEmpty` ([`Karpenter`]),
//! chosen per run by [`Model`] and driven through one entry point, [`Autoscaler::step`].
//!
//! The caller owns the cluster and the clock. Each step it builds a compact [`Snapshot`]
//! (pools, nodes with the pods bound to them, pending pods), says which pods a node or a pool
//! admits (labels, taints: [`Admission`]), and performs the [`Action`]s the step returns
//! (create nodes, give up a node that never registered, drain and delete a node). Time is a
//! [`Duration`] since an epoch the caller chooses; nothing here reads a clock.
//!
//! Node shape (labels, taints, the Node object) stays with the caller: the model knows a pool
//! only by its name, size limits and allocatable resources.

mod cluster_autoscaler;
mod karpenter;

use std::fmt;
use std::time::Duration;

pub use cluster_autoscaler::{ClusterAutoscaler, ClusterAutoscalerOptions};
pub use karpenter::{Karpenter, KarpenterOptions};

/// An amount of cpu (millicores), memory (bytes) and pod slots. Sums saturate: cluster data
/// never wraps.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Resources {
    /// CPU in millicores.
    pub cpu_milli: u64,
    /// Memory in bytes.
    pub memory: u64,
    /// Pod slots.
    pub pods: u64,
}

impl Resources {
    /// Adds `other` to `self`, saturating.
    pub fn add(&mut self, other: Resources) {
        self.cpu_milli = self.cpu_milli.saturating_add(other.cpu_milli);
        self.memory = self.memory.saturating_add(other.memory);
        self.pods = self.pods.saturating_add(other.pods);
    }

    /// Whether `self + extra` stays within `limit` on every resource (a sum past `u64::MAX`
    /// does not fit).
    pub fn fits(&self, extra: Resources, limit: Resources) -> bool {
        let within = |a: u64, b: u64, l: u64| a.checked_add(b).is_some_and(|s| s <= l);
        within(self.cpu_milli, extra.cpu_milli, limit.cpu_milli)
            && within(self.memory, extra.memory, limit.memory)
            && within(self.pods, extra.pods, limit.pods)
    }

    /// The larger of the cpu and memory ratios of `self` to `allocatable` (a resource with
    /// nothing allocatable counts 0), as the cluster autoscaler's utilization.
    pub fn utilization(&self, allocatable: Resources) -> f64 {
        let ratio = |used: u64, total: u64| {
            if total == 0 {
                0.0
            } else {
                used as f64 / total as f64
            }
        };
        ratio(self.cpu_milli, allocatable.cpu_milli).max(ratio(self.memory, allocatable.memory))
    }
}

/// An autoscaled node pool (a cluster-autoscaler node group, a Karpenter NodePool with one
/// machine shape).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pool {
    /// Its name; nodes name it in [`Node::pool`].
    pub name: String,
    /// Nodes scale-down keeps (the cluster autoscaler's node-group minimum; Karpenter has none
    /// and ignores it).
    pub min_size: usize,
    /// Most nodes the pool may have, provisioning ones included.
    pub max_size: usize,
    /// Each node's allocatable resources.
    pub allocatable: Resources,
}

/// Where a node is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NodeState {
    /// Registered and usable.
    Ready,
    /// Requested from the pool at `requested_at` and not registered yet.
    Provisioning {
        /// When the scale-up that asked for it was decided.
        requested_at: Duration,
    },
    /// Being removed (tainted `ToBeDeletedByClusterAutoscaler` or `karpenter.sh/disrupted`):
    /// neither a place for pods nor a candidate.
    Deleting,
}

/// A pod bound to a node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pod {
    /// Its key (`namespace/name`), unique in the snapshot.
    pub key: String,
    /// Its requests (one pod slot included).
    pub requests: Resources,
    /// `spec.priority`.
    pub priority: i64,
    /// Whether an ownerReference marks a controller (Deployment, StatefulSet, Job, ...).
    pub controller: bool,
    /// Whether that controller is a DaemonSet.
    pub daemon_set: bool,
    /// Whether it is a mirror (static) pod.
    pub mirror: bool,
    /// The `cluster-autoscaler.kubernetes.io/safe-to-evict` annotation: `Some(true)`,
    /// `Some(false)`, or absent (anything else).
    pub safe_to_evict: Option<bool>,
    /// Whether it is terminating (a deletion timestamp): it holds its room until gone but is
    /// not evicted again.
    pub terminating: bool,
}

impl Pod {
    /// DaemonSet and mirror pods run on every node: nothing to move.
    fn per_node(&self) -> bool {
        self.daemon_set || self.mirror
    }
}

/// A node and the pods bound to it (finished pods left out).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Node {
    /// Its name.
    pub name: String,
    /// The autoscaled pool it belongs to; `None` for nodes no autoscaler manages (they still
    /// hold pods and room).
    pub pool: Option<String>,
    /// Its allocatable resources.
    pub allocatable: Resources,
    /// Where it is in its life.
    pub state: NodeState,
    /// The pods bound to it.
    pub pods: Vec<Pod>,
}

/// A pod not bound to any node (finished pods left out).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PendingPod {
    /// Its key (`namespace/name`), unique in the snapshot.
    pub key: String,
    /// Its requests (one pod slot included).
    pub requests: Resources,
    /// `spec.priority`.
    pub priority: i64,
    /// Whether the scheduler marked it `PodScheduled=False` with reason `Unschedulable`.
    pub unschedulable: bool,
    /// `status.nominatedNodeName`: a preemption is making room for it there.
    pub nominated_node: Option<String>,
    /// Whether it is terminating.
    pub terminating: bool,
}

/// What the autoscaler sees of the cluster at one step.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// The autoscaled pools, in preference order (ties go to the first).
    pub pools: Vec<Pool>,
    /// Every node, provisioning ones included (the caller names them when it acts on a
    /// [`Action::ScaleUp`]). Order is the order placement simulations try nodes in.
    pub nodes: Vec<Node>,
    /// Pods not bound to a node.
    pub pending: Vec<PendingPod>,
}

/// A place a pod may go: an existing node or a new node of a pool.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Place<'a> {
    /// The node of this name (from [`Snapshot::nodes`]).
    Node(&'a str),
    /// A new node of the pool of this name.
    Pool(&'a str),
}

/// Whether a pod may go to a place apart from resources: the node's or the pool template's
/// labels and taints against the pod's node selector, required node affinity and
/// tolerations. The caller decides; a closure `Fn(&str, Place) -> bool` over pod keys works.
pub trait Admission {
    /// Whether the pod of key `pod` may run at `place`.
    fn admits(&self, pod: &str, place: Place<'_>) -> bool;
}

impl<F: Fn(&str, Place<'_>) -> bool> Admission for F {
    fn admits(&self, pod: &str, place: Place<'_>) -> bool {
        self(pod, place)
    }
}

/// Something the caller is to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Request `nodes` new nodes of `pool` (the caller names them and registers them after the
    /// pool's provisioning delay, as [`NodeState::Provisioning`] until then).
    ScaleUp {
        /// The pool.
        pool: String,
        /// How many nodes.
        nodes: usize,
        /// The pods they are for.
        pods: Vec<String>,
    },
    /// Drain and delete a node: taint it, evict `evict` through the eviction API (so budgets
    /// apply), delete it. If an eviction is refused the caller keeps the node and reports it
    /// with [`Autoscaler::removal_failed`].
    RemoveNode {
        /// Its pool.
        pool: String,
        /// The node.
        node: String,
        /// How long it had been unneeded (cluster autoscaler) or empty (Karpenter).
        unneeded_for: Duration,
        /// The pods to evict (every pod on it that is not terminating).
        evict: Vec<String>,
    },
    /// Stop waiting for a node that did not register in time; forget it.
    GiveUp {
        /// Its pool.
        pool: String,
        /// The node.
        node: String,
        /// How long it was waited for.
        waited: Duration,
    },
}

fn fmt_secs(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 60 {
        format!("{}m{}s", s / 60, s % 60)
    } else {
        format!("{s}s")
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Action::ScaleUp { pool, nodes, pods } => write!(
                f,
                "scale-up: {pool} +{nodes} node{} for {} pod{}",
                if *nodes == 1 { "" } else { "s" },
                pods.len(),
                if pods.len() == 1 { "" } else { "s" }
            ),
            Action::RemoveNode {
                node,
                unneeded_for,
                evict,
                ..
            } => write!(
                f,
                "scale-down: remove {node} (unneeded for {}, {} pod{} to evict)",
                fmt_secs(*unneeded_for),
                evict.len(),
                if evict.len() == 1 { "" } else { "s" }
            ),
            Action::GiveUp { node, waited, .. } => write!(
                f,
                "gave up on {node}: not registered after {}",
                fmt_secs(*waited)
            ),
        }
    }
}

/// What one step decided and saw.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Scan {
    /// When (the `now` of the step).
    pub time: Duration,
    /// What to do, in order (the activity log: each prints with `Display`).
    pub actions: Vec<Action>,
    /// Pods that asked for capacity (cluster autoscaler: unschedulable, not expendable, not
    /// nominated; Karpenter: the closed batch), before removing those that fit somewhere.
    pub unschedulable: Vec<String>,
    /// Pods neither the cluster's free room nor any pool could hold.
    pub cannot_help: Vec<String>,
    /// Nodes found unneeded (cluster autoscaler) or empty (Karpenter) and not removed yet,
    /// with since when.
    pub unneeded: Vec<(String, Duration)>,
}

/// Which autoscaler to run, with its options.
#[derive(Clone, Debug, PartialEq)]
pub enum Model {
    /// The Kubernetes cluster autoscaler.
    ClusterAutoscaler(ClusterAutoscalerOptions),
    /// Karpenter, `consolidationPolicy: WhenEmpty`.
    Karpenter(KarpenterOptions),
}

impl Default for Model {
    /// The cluster autoscaler with its default flags.
    fn default() -> Self {
        Model::ClusterAutoscaler(ClusterAutoscalerOptions::default())
    }
}

/// A running autoscaler model.
#[derive(Clone, Debug)]
pub enum Autoscaler {
    /// The Kubernetes cluster autoscaler.
    ClusterAutoscaler(ClusterAutoscaler),
    /// Karpenter, `consolidationPolicy: WhenEmpty`.
    Karpenter(Karpenter),
}

impl Autoscaler {
    /// A model started at `now`.
    pub fn new(model: Model, now: Duration) -> Self {
        match model {
            Model::ClusterAutoscaler(o) => {
                Autoscaler::ClusterAutoscaler(ClusterAutoscaler::new(o, now))
            }
            Model::Karpenter(o) => Autoscaler::Karpenter(Karpenter::new(o, now)),
        }
    }

    /// When the model next wants a step. Stepping earlier is allowed and harmless.
    pub fn next_step(&self) -> Duration {
        match self {
            Autoscaler::ClusterAutoscaler(a) => a.next_step(),
            Autoscaler::Karpenter(k) => k.next_step(),
        }
    }

    /// Runs the model at `now` on `cluster`. `None` when nothing was due (no scan); otherwise
    /// what it decided.
    pub fn step(
        &mut self,
        now: Duration,
        cluster: &Snapshot,
        admission: &dyn Admission,
    ) -> Option<Scan> {
        match self {
            Autoscaler::ClusterAutoscaler(a) => a.step(now, cluster, admission),
            Autoscaler::Karpenter(k) => k.step(now, cluster, admission),
        }
    }

    /// Reports that removing `node` failed at `now` (an eviction was refused; the node stays).
    pub fn removal_failed(&mut self, node: &str, now: Duration) {
        match self {
            Autoscaler::ClusterAutoscaler(a) => a.removal_failed(node, now),
            Autoscaler::Karpenter(k) => k.removal_failed(node),
        }
    }
}

/// A node of the placement simulation.
#[derive(Clone, Debug)]
struct SimNode<'a> {
    node: &'a Node,
    /// Requests of bound pods (terminating ones too: they hold their room until gone) and of
    /// pods nominated to it.
    used: Resources,
    /// Pods nominated to it.
    nominated: usize,
}

impl SimNode<'_> {
    fn admits(&self, key: &str, req: Resources, admission: &dyn Admission) -> bool {
        self.used.fits(req, self.node.allocatable)
            && admission.admits(key, Place::Node(&self.node.name))
    }
}

/// The simulation's nodes: every node `keep` accepts, with its bound and nominated pods
/// counted.
fn sim_nodes<'a>(cluster: &'a Snapshot, keep: impl Fn(&Node) -> bool) -> Vec<SimNode<'a>> {
    let mut sim: Vec<SimNode<'a>> = cluster
        .nodes
        .iter()
        .filter(|n| keep(n))
        .map(|node| {
            let mut used = Resources::default();
            for p in &node.pods {
                used.add(p.requests);
            }
            SimNode {
                node,
                used,
                nominated: 0,
            }
        })
        .collect();
    for p in cluster.pending.iter().filter(|p| !p.terminating) {
        if let Some(n) = &p.nominated_node
            && let Some(s) = sim.iter_mut().find(|s| &s.node.name == n)
        {
            s.used.add(p.requests);
            s.nominated = s.nominated.saturating_add(1);
        }
    }
    sim
}

/// Largest first, as the cluster autoscaler's binpacking estimator and Karpenter's scheduler
/// sort: memory, then cpu, then key.
fn largest_first(pods: &mut [&PendingPod]) {
    pods.sort_by(|a, b| {
        (b.requests.memory, b.requests.cpu_milli)
            .cmp(&(a.requests.memory, a.requests.cpu_milli))
            .then_with(|| a.key.cmp(&b.key))
    });
}

/// Whether a new node of `pool` could hold `pod` at all.
fn pool_admits(pool: &Pool, pod: &PendingPod, admission: &dyn Admission) -> bool {
    Resources::default().fits(pod.requests, pool.allocatable)
        && admission.admits(&pod.key, Place::Pool(&pool.name))
}

/// How many nodes of `pool` the simulation has.
fn pool_size(sim: &[SimNode<'_>], pool: &str) -> usize {
    sim.iter()
        .filter(|s| s.node.pool.as_deref() == Some(pool))
        .count()
}

/// The pods of `node` to evict on removal: all that are not terminating.
fn to_evict(node: &Node) -> Vec<String> {
    node.pods
        .iter()
        .filter(|p| !p.terminating)
        .map(|p| p.key.clone())
        .collect()
}

/// Provisioning nodes waited for `limit` or longer, as [`Action::GiveUp`]s.
fn overdue(cluster: &Snapshot, now: Duration, limit: Duration) -> Vec<Action> {
    cluster
        .nodes
        .iter()
        .filter_map(|n| match n.state {
            NodeState::Provisioning { requested_at } => {
                let waited = now.saturating_sub(requested_at);
                (waited >= limit).then(|| Action::GiveUp {
                    pool: n.pool.clone().unwrap_or_default(),
                    node: n.name.clone(),
                    waited,
                })
            }
            _ => None,
        })
        .collect()
}

#[cfg(test)]
pub(crate) mod testing;
