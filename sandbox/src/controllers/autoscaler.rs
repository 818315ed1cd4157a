//! A model of the Kubernetes cluster autoscaler with its default rules
//! (kubernetes/autoscaler `cluster-autoscaler/FAQ.md` and flag defaults):
//!
//! - **Scan** every 10 s of sandbox time (`--scan-interval`).
//! - **Scale-up**: a pod counts when it is unbound, not terminating, its PodScheduled condition is
//!   False with reason `Unschedulable` (the scheduler's verdict), its priority is at least the
//!   expendable cutoff (−10, `--expendable-pods-priority-cutoff`), and it is not waiting for a
//!   preemption (`status.nominatedNodeName` empty). Pods that fit the free room of existing or
//!   still-provisioning nodes are left to the scheduler ("filter out schedulable"); pods
//!   nominated to a node hold their room there. The rest are bin-packed (first fit, largest
//!   first) onto new nodes of each pool whose machine shape, labels and taints admit them, up
//!   to the pool's max size; the pool helping the most pods wins, then the one needing the
//!   fewest nodes, then the first by name (the real default expander is `random`; this one is
//!   deterministic). New nodes register after the pool's provisioning delay.
//! - **Scale-down**: a pool node is unneeded when the requests of its pods (expendable pods
//!   excluded) are below 50 % of allocatable, the larger of the cpu and memory ratios
//!   (`--scale-down-utilization-threshold`), and every pod on it can move: no pod without a
//!   controller (bare pods such as KubeSpawner's users block it unless annotated
//!   `cluster-autoscaler.kubernetes.io/safe-to-evict: "true"`), none annotated
//!   `safe-to-evict: "false"`, and each fits on another node that is not itself being removed.
//!   Empty nodes are considered first. A node unneeded for 10 minutes
//!   (`--scale-down-unneeded-time`) is removed, but never within 10 minutes of a scale-up
//!   (`--scale-down-delay-after-add`) and never below the pool's min size; empty nodes go in bulk
//!   (up to 10, `--max-empty-bulk-delete`), non-empty ones one per scan. Removal taints the node
//!   `ToBeDeletedByClusterAutoscaler`, evicts its pods through the eviction API (so budgets
//!   apply) and deletes the node.
//!
//! Every decision is kept in an activity log ([`Autoscaler::activity`]) for the demo to print.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use serde_json::{Value, json};
use tokio::task::JoinHandle;

use super::fit::{self, Resources, labels_of, node_allocatable, pod_requests, taints_of};
use super::{
    controller_ref, def_of, finished, name, namespace, node_name, priority, str_at, terminating,
};
use crate::api::{self, DeleteOpts, Part, PatchType, Shared};

/// The label naming a node's pool (GKE's, as in the seed's cluster).
pub const POOL_LABEL: &str = "cloud.google.com/gke-nodepool";
/// The taint the autoscaler puts on a node it is removing.
pub const TO_BE_DELETED_TAINT: &str = "ToBeDeletedByClusterAutoscaler";
const SAFE_TO_EVICT: &str = "cluster-autoscaler.kubernetes.io/safe-to-evict";

/// An autoscaled node pool: its size limits and machine shape.
#[derive(Debug, Clone)]
pub struct NodePool {
    /// Pool name; nodes are `<name>-<n>` and carry the label [`POOL_LABEL`]`=<name>`.
    pub name: String,
    /// Nodes that exist from the start and that scale-down keeps.
    pub min_size: usize,
    /// Most nodes the pool may have.
    pub max_size: usize,
    /// Each node's capacity and allocatable (`cpu`, `memory`, `pods`, ...).
    pub allocatable: BTreeMap<String, String>,
    /// Labels of each node (besides hostname and pool).
    pub labels: BTreeMap<String, String>,
    /// Taints of each node (`{"key", "value", "effect"}`).
    pub taints: Vec<Value>,
    /// Sandbox time from the scale-up decision to the node registering.
    pub provisioning_delay: Duration,
}

impl NodePool {
    /// The Node object of this pool named `node`.
    pub fn node(&self, node: &str, index: usize) -> Value {
        let mut labels: BTreeMap<String, String> = self.labels.clone();
        labels.insert("kubernetes.io/hostname".into(), node.into());
        labels.insert(POOL_LABEL.into(), self.name.clone());
        json!({
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {"name": node, "labels": labels},
            "spec": {"taints": self.taints},
            "status": {
                "capacity": self.allocatable,
                "allocatable": self.allocatable,
                "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady",
                                "message": "kubelet is posting ready status"}],
                "addresses": [
                    {"type": "InternalIP", "address": format!("10.{}.{}.{}", 128 + index / 65536 % 64, index / 256 % 256, index % 256)},
                    {"type": "Hostname", "address": node}],
                "nodeInfo": {"kubeletVersion": "v1.33.0", "architecture": "amd64", "operatingSystem": "linux"},
            },
        })
    }
}

/// Options of the autoscaler model; the defaults are the cluster autoscaler's.
#[derive(Debug, Clone)]
pub struct AutoscalerOptions {
    /// The autoscaled pools. Nodes of other pools (no [`POOL_LABEL`] naming one) are left alone.
    pub pools: Vec<NodePool>,
    /// `--scan-interval`, default 10 s.
    pub scan_interval: Duration,
    /// `--scale-down-unneeded-time`, default 10 min.
    pub scale_down_unneeded_time: Duration,
    /// `--scale-down-delay-after-add`, default 10 min.
    pub scale_down_delay_after_add: Duration,
    /// `--scale-down-utilization-threshold`, default 0.5.
    pub scale_down_utilization_threshold: f64,
    /// `--expendable-pods-priority-cutoff`, default −10.
    pub expendable_pods_priority_cutoff: i64,
    /// `--max-empty-bulk-delete`, default 10.
    pub max_empty_bulk_delete: usize,
}

impl Default for AutoscalerOptions {
    fn default() -> Self {
        Self {
            pools: Vec::new(),
            scan_interval: Duration::from_secs(10),
            scale_down_unneeded_time: Duration::from_secs(600),
            scale_down_delay_after_add: Duration::from_secs(600),
            scale_down_utilization_threshold: 0.5,
            expendable_pods_priority_cutoff: -10,
            max_empty_bulk_delete: 10,
        }
    }
}

/// One thing the autoscaler did.
#[derive(Debug, Clone, PartialEq)]
pub struct Activity {
    /// Sandbox time.
    pub time: SystemTime,
    /// What.
    pub kind: ActivityKind,
}

/// What the autoscaler did.
#[derive(Debug, Clone, PartialEq)]
pub enum ActivityKind {
    /// Nodes were requested from a pool for these pods (`namespace/name`).
    ScaleUp {
        /// The pool.
        pool: String,
        /// Names of the new nodes.
        nodes: Vec<String>,
        /// The pods that triggered it.
        pods: Vec<String>,
    },
    /// A requested node registered.
    NodeReady {
        /// The pool.
        pool: String,
        /// The node.
        node: String,
    },
    /// A node was drained and deleted.
    ScaleDown {
        /// The pool.
        pool: String,
        /// The node.
        node: String,
        /// How long it had been unneeded.
        unneeded_for: Duration,
        /// The pods evicted from it (`namespace/name`).
        evicted: Vec<String>,
    },
    /// Removing a node failed (an eviction was refused); the node stays.
    ScaleDownFailed {
        /// The node.
        node: String,
        /// Why.
        reason: String,
    },
}

/// A snapshot of the autoscaler's state.
#[derive(Debug, Clone, Default)]
pub struct AutoscalerStatus {
    /// Scans completed.
    pub scans: u64,
    /// Sandbox time of the last completed scan.
    pub last_scan: Option<SystemTime>,
    /// Nodes requested but not registered yet.
    pub upcoming: Vec<String>,
    /// Nodes found unneeded and removable by the last scan, with when they became so.
    pub unneeded: Vec<(String, SystemTime)>,
    /// Pods the last scan counted as unschedulable (before filtering those that fit).
    pub unschedulable: Vec<String>,
    /// Pods the last scan could not help: no room anywhere and no pool that can hold them.
    pub cannot_help: Vec<String>,
    /// Sandbox time of the last scale-up.
    pub last_scale_up: Option<SystemTime>,
}

#[derive(Debug)]
struct Upcoming {
    pool: usize,
    node: String,
    index: usize,
    ready_at: SystemTime,
}

#[derive(Debug, Default)]
struct State {
    activity: Vec<Activity>,
    upcoming: Vec<Upcoming>,
    unneeded: BTreeMap<String, SystemTime>,
    status: AutoscalerStatus,
    next_index: BTreeMap<String, usize>,
}

/// A handle on the running autoscaler model.
#[derive(Debug, Clone)]
pub struct Autoscaler {
    state: Arc<Mutex<State>>,
    options: Arc<AutoscalerOptions>,
}

impl Autoscaler {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Everything it did so far, oldest first.
    pub fn activity(&self) -> Vec<Activity> {
        self.lock().activity.clone()
    }

    /// Its state after the last scan.
    pub fn status(&self) -> AutoscalerStatus {
        let st = self.lock();
        let mut s = st.status.clone();
        s.upcoming = st.upcoming.iter().map(|u| u.node.clone()).collect();
        s
    }

    /// The options it runs with.
    pub fn options(&self) -> &AutoscalerOptions {
        &self.options
    }
}

pub(super) fn start(
    shared: Arc<Shared>,
    stop: tokio::sync::watch::Receiver<bool>,
    options: AutoscalerOptions,
) -> (Autoscaler, JoinHandle<()>) {
    let handle = Autoscaler {
        state: Arc::new(Mutex::new(State::default())),
        options: Arc::new(options),
    };
    // The pools' initial nodes exist before anything else runs, as a cloud's node pool would.
    {
        let mut st = handle.lock();
        for (i, pool) in handle.options.pools.iter().enumerate() {
            let existing = pool_nodes(&shared, &pool.name).len();
            for _ in existing..pool.min_size {
                let (node, index) = next_node_name(&mut st, pool);
                register(&shared, &mut st, &handle.options, i, &node, index);
            }
        }
    }
    let task = tokio::spawn(run(shared, stop, handle.clone()));
    (handle, task)
}

async fn run(shared: Arc<Shared>, mut stop: tokio::sync::watch::Receiver<bool>, a: Autoscaler) {
    let mut shutdown = shared.shutdown.subscribe();
    let mut next_scan = shared.clock.now() + a.options.scan_interval;
    loop {
        if super::stopped(&shared, &stop) {
            return;
        }
        let now = shared.clock.now();
        {
            let mut st = a.lock();
            // Nodes whose provisioning delay has passed register first, so a scan at the same
            // instant sees them.
            let due: Vec<Upcoming> = {
                let (due, rest) = std::mem::take(&mut st.upcoming)
                    .into_iter()
                    .partition(|u| u.ready_at <= now);
                st.upcoming = rest;
                due
            };
            for u in due {
                register(&shared, &mut st, &a.options, u.pool, &u.node, u.index);
            }
            if now >= next_scan {
                scan(&shared, &mut st, &a.options, now);
                next_scan = now + a.options.scan_interval;
            }
        }
        let wake = {
            let st = a.lock();
            st.upcoming
                .iter()
                .map(|u| u.ready_at)
                .fold(next_scan, SystemTime::min)
        };
        let d = wake
            .duration_since(shared.clock.now())
            .unwrap_or(Duration::ZERO);
        tokio::select! {
            _ = shared.clock.sleep(d) => {}
            _ = stop.wait_for(|s| *s) => return,
            _ = shutdown.wait_for(|s| *s) => return,
        }
    }
}

fn pool_nodes(shared: &Shared, pool: &str) -> Vec<Arc<Value>> {
    shared
        .store
        .list("nodes", None)
        .0
        .into_iter()
        .filter(|n| {
            str_at(
                n,
                &format!("/metadata/labels/{}", POOL_LABEL.replace('/', "~1")),
            ) == Some(pool)
        })
        .collect()
}

fn next_node_name(st: &mut State, pool: &NodePool) -> (String, usize) {
    let n = st.next_index.entry(pool.name.clone()).or_insert(0);
    *n += 1;
    (format!("{}-{}", pool.name, *n), *n)
}

fn register(
    shared: &Arc<Shared>,
    st: &mut State,
    opts: &AutoscalerOptions,
    pool: usize,
    node: &str,
    index: usize,
) {
    let p = &opts.pools[pool];
    match api::create(shared, def_of("nodes"), "", p.node(node, index), false) {
        Ok(_) => st.activity.push(Activity {
            time: shared.clock.now(),
            kind: ActivityKind::NodeReady {
                pool: p.name.clone(),
                node: node.to_string(),
            },
        }),
        Err(e) => tracing::warn!(node, error = %e, "autoscaler: creating the node failed"),
    }
}

/// A node as the simulation sees it.
#[derive(Debug, Clone)]
struct SimNode {
    name: String,
    pool: Option<usize>,
    labels: BTreeMap<String, String>,
    taints: Vec<Value>,
    allocatable: Resources,
    /// Requests of bound pods (terminating ones too: they hold their room until gone) and of
    /// pods nominated to it.
    used: Resources,
    /// Requests of the pods that count for utilization (non-expendable, not terminating).
    counted: Resources,
    nominated: usize,
}

impl SimNode {
    fn admits(&self, pod: &Value, req: Resources) -> bool {
        self.used.fits(req, self.allocatable)
            && fit::tolerates_taints(pod, &self.taints)
            && fit::node_selector_matches(pod, &self.labels)
    }
}

fn pod_key(p: &Value) -> String {
    format!("{}/{}", namespace(p), name(p))
}

fn unschedulable(pod: &Value) -> bool {
    node_name(pod).is_none()
        && !terminating(pod)
        && !finished(pod)
        && pod
            .pointer("/status/conditions")
            .and_then(Value::as_array)
            .is_some_and(|cs| {
                cs.iter().any(|c| {
                    c["type"] == "PodScheduled"
                        && c["status"] == "False"
                        && c["reason"] == "Unschedulable"
                })
            })
}

fn nominated_node(pod: &Value) -> Option<&str> {
    str_at(pod, "/status/nominatedNodeName").filter(|n| !n.is_empty())
}

fn scan(shared: &Arc<Shared>, st: &mut State, opts: &AutoscalerOptions, now: SystemTime) {
    let nodes = shared.store.list("nodes", None).0;
    let pods = shared.store.list("pods", None).0;
    let pool_index = |n: &Value| {
        let label = labels_of(n).get(POOL_LABEL).cloned()?;
        opts.pools.iter().position(|p| p.name == label)
    };
    let mut sim: Vec<SimNode> = nodes
        .iter()
        .filter(|n| {
            !taints_of(n)
                .iter()
                .any(|t| str_at(t, "/key") == Some(TO_BE_DELETED_TAINT))
        })
        .map(|n| SimNode {
            name: name(n).to_string(),
            pool: pool_index(n),
            labels: labels_of(n),
            taints: taints_of(n),
            allocatable: node_allocatable(n),
            used: Resources::default(),
            counted: Resources::default(),
            nominated: 0,
        })
        .collect();
    let index_of = |sim: &[SimNode], n: &str| sim.iter().position(|s| s.name == n);
    for p in &pods {
        if finished(p) {
            continue;
        }
        let req = pod_requests(p);
        if let Some(n) = node_name(p) {
            if let Some(i) = index_of(&sim, n) {
                sim[i].used.add(req);
                if !terminating(p) && priority(p) >= opts.expendable_pods_priority_cutoff {
                    sim[i].counted.add(req);
                }
            }
        } else if let Some(n) = nominated_node(p)
            && !terminating(p)
            && let Some(i) = index_of(&sim, n)
        {
            sim[i].used.add(req);
            sim[i].nominated += 1;
        }
    }
    let real_nodes = sim.len();
    for u in &st.upcoming {
        let p = &opts.pools[u.pool];
        let template = p.node(&u.node, u.index);
        sim.push(SimNode {
            name: u.node.clone(),
            pool: Some(u.pool),
            labels: labels_of(&template),
            taints: taints_of(&template),
            allocatable: node_allocatable(&template),
            used: Resources::default(),
            counted: Resources::default(),
            nominated: 0,
        });
    }

    // Scale-up.
    let mut waiting: Vec<&Arc<Value>> = pods
        .iter()
        .filter(|p| unschedulable(p))
        .filter(|p| priority(p) >= opts.expendable_pods_priority_cutoff)
        .filter(|p| nominated_node(p).is_none())
        .collect();
    waiting.sort_by_key(|p| (std::cmp::Reverse(priority(p)), pod_key(p)));
    st.status.unschedulable = waiting.iter().map(|p| pod_key(p)).collect();
    let mut leftovers = Vec::new();
    for p in waiting {
        let req = pod_requests(p);
        match sim.iter_mut().find(|n| n.admits(p, req)) {
            Some(n) => n.used.add(req),
            None => leftovers.push(p),
        }
    }
    st.status.cannot_help.clear();
    if !leftovers.is_empty() {
        // Largest first, as the binpacking estimator sorts.
        leftovers.sort_by_key(|p| {
            let r = pod_requests(p);
            (std::cmp::Reverse((r.memory, r.cpu_milli)), pod_key(p))
        });
        let mut best: Option<(usize, Vec<Resources>, Vec<String>)> = None;
        for (i, pool) in opts.pools.iter().enumerate() {
            let size = sim.iter().filter(|n| n.pool == Some(i)).count();
            let room = pool.max_size.saturating_sub(size);
            let template = pool.node("template", 0);
            let empty = SimNode {
                name: String::new(),
                pool: Some(i),
                labels: labels_of(&template),
                taints: taints_of(&template),
                allocatable: node_allocatable(&template),
                used: Resources::default(),
                counted: Resources::default(),
                nominated: 0,
            };
            let mut bins: Vec<Resources> = Vec::new();
            let mut helped = Vec::new();
            for p in &leftovers {
                let req = pod_requests(p);
                if !empty.admits(p, req) {
                    continue;
                }
                if let Some(b) = bins.iter_mut().find(|b| b.fits(req, empty.allocatable)) {
                    b.add(req);
                } else if bins.len() < room {
                    bins.push(req);
                } else {
                    continue;
                }
                helped.push(pod_key(p));
            }
            if bins.is_empty() {
                continue;
            }
            let better = best.as_ref().is_none_or(|(_, b, h)| {
                helped.len() > h.len() || (helped.len() == h.len() && bins.len() < b.len())
            });
            if better {
                best = Some((i, bins, helped));
            }
        }
        let helped: BTreeSet<String> = best
            .as_ref()
            .map(|b| b.2.iter().cloned().collect())
            .unwrap_or_default();
        st.status.cannot_help = leftovers
            .iter()
            .map(|p| pod_key(p))
            .filter(|k| !helped.contains(k))
            .collect();
        if let Some((i, bins, helped)) = best {
            let pool = &opts.pools[i];
            let mut new_nodes = Vec::new();
            for _ in 0..bins.len() {
                let (node, index) = next_node_name(st, pool);
                st.upcoming.push(Upcoming {
                    pool: i,
                    node: node.clone(),
                    index,
                    ready_at: now + pool.provisioning_delay,
                });
                new_nodes.push(node);
            }
            st.activity.push(Activity {
                time: now,
                kind: ActivityKind::ScaleUp {
                    pool: pool.name.clone(),
                    nodes: new_nodes,
                    pods: helped,
                },
            });
            st.status.last_scale_up = Some(now);
        }
    }

    // Scale-down: which pool nodes are unneeded and removable now.
    sim.truncate(real_nodes);
    // Recompute the room without the scale-up simulation's placements.
    for n in &mut sim {
        n.used = Resources::default();
    }
    for p in &pods {
        if finished(p) {
            continue;
        }
        let target = node_name(p).or_else(|| nominated_node(p).filter(|_| !terminating(p)));
        if let Some(i) = target.and_then(|t| index_of(&sim, t)) {
            sim[i].used.add(pod_requests(p));
        }
    }
    let utilization = |n: &SimNode| {
        let ratio = |used: u64, total: u64| {
            if total == 0 {
                0.0
            } else {
                used as f64 / total as f64
            }
        };
        ratio(n.counted.cpu_milli, n.allocatable.cpu_milli)
            .max(ratio(n.counted.memory, n.allocatable.memory))
    };
    let mut order: Vec<usize> = (0..sim.len()).filter(|&i| sim[i].pool.is_some()).collect();
    order.sort_by(|&a, &b| {
        let (na, nb) = (&sim[a], &sim[b]);
        (na.used.pods > 0)
            .cmp(&(nb.used.pods > 0))
            .then(utilization(na).total_cmp(&utilization(nb)))
            .then(na.name.cmp(&nb.name))
    });
    let mut removed: BTreeSet<usize> = BTreeSet::new();
    let mut destinations: BTreeSet<usize> = BTreeSet::new();
    let mut pool_size: BTreeMap<usize, usize> = BTreeMap::new();
    for n in &sim {
        if let Some(p) = n.pool {
            *pool_size.entry(p).or_default() += 1;
        }
    }
    for i in order {
        let Some(pool) = sim[i].pool else { continue };
        if destinations.contains(&i)
            || sim[i].nominated > 0
            || utilization(&sim[i]) >= opts.scale_down_utilization_threshold
            || pool_size[&pool] <= opts.pools[pool].min_size
        {
            continue;
        }
        let on_node: Vec<&Arc<Value>> = pods
            .iter()
            .filter(|p| {
                node_name(p) == Some(sim[i].name.as_str()) && !terminating(p) && !finished(p)
            })
            .collect();
        let mut moves: Vec<(usize, Resources)> = Vec::new();
        let mut trial = sim.clone();
        let mut removable = true;
        for p in on_node {
            let annotation = str_at(
                p,
                &format!("/metadata/annotations/{}", SAFE_TO_EVICT.replace('/', "~1")),
            );
            if priority(p) < opts.expendable_pods_priority_cutoff && annotation != Some("false") {
                continue; // expendable: killed with the node, never moved
            }
            let owner_kind = controller_ref(p).and_then(|r| str_at(r, "/kind"));
            if owner_kind == Some("DaemonSet")
                || p.pointer("/metadata/annotations/kubernetes.io~1config.mirror")
                    .is_some()
            {
                continue; // runs on every node; nothing to move
            }
            let replicated = owner_kind.is_some() || annotation == Some("true");
            if annotation == Some("false") || !replicated {
                removable = false;
                break;
            }
            let req = pod_requests(p);
            let dest = (0..trial.len())
                .find(|&j| j != i && !removed.contains(&j) && trial[j].admits(p, req));
            match dest {
                Some(j) => {
                    trial[j].used.add(req);
                    moves.push((j, req));
                }
                None => {
                    removable = false;
                    break;
                }
            }
        }
        if removable {
            for (j, req) in moves {
                sim[j].used.add(req);
                destinations.insert(j);
            }
            removed.insert(i);
            *pool_size.entry(pool).or_default() -= 1;
        }
    }
    let unneeded: BTreeMap<String, SystemTime> = removed
        .iter()
        .map(|&i| {
            let n = sim[i].name.clone();
            let since = st.unneeded.get(&n).copied().unwrap_or(now);
            (n, since)
        })
        .collect();
    st.unneeded = unneeded;

    let cooling = st.status.last_scale_up.is_some_and(|t| {
        now.duration_since(t).unwrap_or_default() < opts.scale_down_delay_after_add
    });
    if !cooling {
        let ripe: Vec<(String, Duration, bool)> = st
            .unneeded
            .iter()
            .filter_map(|(n, since)| {
                let d = now.duration_since(*since).unwrap_or_default();
                let i = index_of(&sim, n)?;
                (d >= opts.scale_down_unneeded_time).then(|| (n.clone(), d, sim[i].used.pods == 0))
            })
            .collect();
        let empty = ripe.iter().filter(|r| r.2).take(opts.max_empty_bulk_delete);
        let non_empty = ripe.iter().filter(|r| !r.2).take(1);
        for (node, unneeded_for, _) in empty.chain(non_empty) {
            let pool = index_of(&sim, node)
                .and_then(|i| sim[i].pool)
                .map(|p| opts.pools[p].name.clone())
                .unwrap_or_default();
            match drain_and_delete(shared, node, &pods) {
                Ok(evicted) => st.activity.push(Activity {
                    time: now,
                    kind: ActivityKind::ScaleDown {
                        pool,
                        node: node.clone(),
                        unneeded_for: *unneeded_for,
                        evicted,
                    },
                }),
                Err(reason) => st.activity.push(Activity {
                    time: now,
                    kind: ActivityKind::ScaleDownFailed {
                        node: node.clone(),
                        reason,
                    },
                }),
            }
            st.unneeded.remove(node);
        }
    }
    st.status.unneeded = st.unneeded.iter().map(|(n, t)| (n.clone(), *t)).collect();
    st.status.scans += 1;
    st.status.last_scan = Some(now);
}

fn set_taints(shared: &Arc<Shared>, node: &str, taints: &[Value]) -> Result<(), String> {
    let body = json!({"spec": {"taints": taints}}).to_string();
    api::patch(
        shared,
        def_of("nodes"),
        "",
        node,
        PatchType::Merge,
        body.as_bytes(),
        Part::Main,
        false,
    )
    .map(drop)
    .map_err(|e| e.to_string())
}

/// Taints the node, evicts its pods and deletes it; on a refused eviction, removes the taint and
/// keeps the node.
fn drain_and_delete(
    shared: &Arc<Shared>,
    node: &str,
    pods: &[Arc<Value>],
) -> Result<Vec<String>, String> {
    let Some(current) = shared.store.get("nodes", "", node) else {
        return Err("the node is gone".into());
    };
    let original = taints_of(&current);
    let mut tainted = original.clone();
    tainted.push(
        json!({"key": TO_BE_DELETED_TAINT, "value": "cluster-autoscaler", "effect": "NoSchedule"}),
    );
    set_taints(shared, node, &tainted)?;
    let mut evicted = Vec::new();
    for p in pods
        .iter()
        .filter(|p| node_name(p) == Some(node) && !terminating(p) && !finished(p))
    {
        let body = json!({"apiVersion": "policy/v1", "kind": "Eviction",
                          "metadata": {"name": name(p), "namespace": namespace(p)}});
        if let Err(e) = api::evict(shared, namespace(p), name(p), body) {
            let _ = set_taints(shared, node, &original);
            return Err(format!("evicting {}: {e}", pod_key(p)));
        }
        evicted.push(pod_key(p));
    }
    api::delete(shared, def_of("nodes"), "", node, &DeleteOpts::default())
        .map_err(|e| e.to_string())?;
    Ok(evicted)
}
