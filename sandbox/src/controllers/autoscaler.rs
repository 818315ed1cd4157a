//! The sandbox's node autoscaler: a controller that acts for the capacity crate's autoscaler
//! model ([`capacity::autoscaler`], where the rules live: the cluster autoscaler with its
//! default flags unless [`AutoscalerOptions::model`] says otherwise).
//!
//! Each step it builds the model's snapshot from the store (pool nodes by the
//! [`POOL_LABEL`] label, nodes tainted [`TO_BE_DELETED_TAINT`] as being deleted, requested
//! nodes not registered yet as provisioning, pods with their requests, priority, controller,
//! `safe-to-evict` annotation and PodScheduled condition), decides pool and node admission
//! with the pods' node selectors, required node affinity and tolerations (`fit`), and
//! performs the model's actions through the API: a scale-up names new nodes `<pool>-<n>` and
//! creates them after the pool's provisioning delay ([`NodePool::node`]); a removal taints
//! the node `ToBeDeletedByClusterAutoscaler`, evicts its pods through the eviction API (so
//! budgets apply) and deletes it; a node given up is forgotten.
//!
//! Every action is kept in an activity log ([`Autoscaler::activity`]) for the demo to print.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use capacity::autoscaler::{self as model, Action, Model, Place};
use serde_json::{Value, json};
use tokio::task::JoinHandle;

use super::fit::{self, labels_of, node_allocatable, pod_requests, taints_of};
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

/// Options of the autoscaler controller: the pools and the model that decides for them.
#[derive(Debug, Clone, Default)]
pub struct AutoscalerOptions {
    /// The autoscaled pools, in preference order. Nodes of other pools (no [`POOL_LABEL`]
    /// naming one) are left alone.
    pub pools: Vec<NodePool>,
    /// Which autoscaler decides, with its flags; the default is the cluster autoscaler with
    /// its default flags (see [`capacity::autoscaler`]).
    pub model: Model,
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
    /// A requested node did not register in time (`--max-node-provision-time`); it was
    /// forgotten and the pool backs off.
    GaveUp {
        /// The pool.
        pool: String,
        /// The node.
        node: String,
        /// How long it was waited for.
        waited: Duration,
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
    requested_at: SystemTime,
    ready_at: SystemTime,
}

#[derive(Debug)]
struct State {
    model: model::Autoscaler,
    activity: Vec<Activity>,
    upcoming: Vec<Upcoming>,
    status: AutoscalerStatus,
    next_index: BTreeMap<String, usize>,
}

/// A handle on the running autoscaler.
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

/// The model's time: since the Unix epoch.
fn model_time(t: SystemTime) -> Duration {
    t.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default()
}

fn sandbox_time(d: Duration) -> SystemTime {
    SystemTime::UNIX_EPOCH + d
}

pub(super) fn start(
    shared: Arc<Shared>,
    stop: tokio::sync::watch::Receiver<bool>,
    options: AutoscalerOptions,
) -> (Autoscaler, JoinHandle<()>) {
    let model = model::Autoscaler::new(options.model.clone(), model_time(shared.clock.now()));
    let handle = Autoscaler {
        state: Arc::new(Mutex::new(State {
            model,
            activity: Vec::new(),
            upcoming: Vec::new(),
            status: AutoscalerStatus::default(),
            next_index: BTreeMap::new(),
        })),
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
    loop {
        if super::stopped(&shared, &stop) {
            return;
        }
        let now = shared.clock.now();
        let wake = {
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
            if model_time(now) >= st.model.next_step() {
                scan(&shared, &mut st, &a.options, now);
            }
            st.upcoming
                .iter()
                .map(|u| u.ready_at)
                .fold(sandbox_time(st.model.next_step()), SystemTime::min)
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
        .filter(|n| labels_of(n).get(POOL_LABEL).map(String::as_str) == Some(pool))
        .collect()
}

fn next_node_name(st: &mut State, pool: &NodePool) -> (String, usize) {
    let n = st.next_index.entry(pool.name.clone()).or_insert(0);
    *n = n.saturating_add(1);
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

fn pod_key(p: &Value) -> String {
    format!("{}/{}", namespace(p), name(p))
}

fn annotation<'a>(p: &'a Value, key: &str) -> Option<&'a str> {
    str_at(
        p,
        &format!("/metadata/annotations/{}", key.replace('/', "~1")),
    )
}

/// A bound pod as the model sees it.
fn bound_pod(p: &Value) -> model::Pod {
    let owner = controller_ref(p);
    model::Pod {
        key: pod_key(p),
        requests: pod_requests(p),
        priority: priority(p),
        controller: owner.is_some(),
        daemon_set: owner.and_then(|r| str_at(r, "/kind")) == Some("DaemonSet"),
        mirror: annotation(p, "kubernetes.io/config.mirror").is_some(),
        safe_to_evict: match annotation(p, SAFE_TO_EVICT) {
            Some("true") => Some(true),
            Some("false") => Some(false),
            _ => None,
        },
        terminating: terminating(p),
    }
}

/// A pending pod as the model sees it.
fn pending_pod(p: &Value) -> model::PendingPod {
    model::PendingPod {
        key: pod_key(p),
        requests: pod_requests(p),
        priority: priority(p),
        unschedulable: p
            .pointer("/status/conditions")
            .and_then(Value::as_array)
            .is_some_and(|cs| {
                cs.iter().any(|c| {
                    c["type"] == "PodScheduled"
                        && c["status"] == "False"
                        && c["reason"] == "Unschedulable"
                })
            }),
        nominated_node: str_at(p, "/status/nominatedNodeName")
            .filter(|n| !n.is_empty())
            .map(str::to_string),
        terminating: terminating(p),
    }
}

/// Labels and taints of a node or a pool's template, for admission.
type Shape = (BTreeMap<String, String>, Vec<Value>);

fn shape(node: &Value) -> Shape {
    (labels_of(node), taints_of(node))
}

fn scan(shared: &Arc<Shared>, st: &mut State, opts: &AutoscalerOptions, now: SystemTime) {
    let nodes = shared.store.list("nodes", None).0;
    let pods: Vec<Arc<Value>> = shared
        .store
        .list("pods", None)
        .0
        .into_iter()
        .filter(|p| !finished(p))
        .collect();
    let mut snapshot = model::Snapshot {
        pools: opts
            .pools
            .iter()
            .map(|p| model::Pool {
                name: p.name.clone(),
                min_size: p.min_size,
                max_size: p.max_size,
                allocatable: node_allocatable(&p.node("template", 0)),
            })
            .collect(),
        nodes: Vec::new(),
        pending: Vec::new(),
    };
    let mut shapes: HashMap<String, Shape> = HashMap::new();
    let mut on_node: HashMap<&str, Vec<model::Pod>> = HashMap::new();
    for p in &pods {
        match node_name(p) {
            Some(n) => on_node.entry(n).or_default().push(bound_pod(p)),
            None => snapshot.pending.push(pending_pod(p)),
        }
    }
    for n in &nodes {
        let pool = labels_of(n)
            .get(POOL_LABEL)
            .filter(|l| opts.pools.iter().any(|p| &p.name == *l))
            .cloned();
        let deleting = taints_of(n)
            .iter()
            .any(|t| str_at(t, "/key") == Some(TO_BE_DELETED_TAINT));
        snapshot.nodes.push(model::Node {
            name: name(n).to_string(),
            pool,
            allocatable: node_allocatable(n),
            state: if deleting {
                model::NodeState::Deleting
            } else {
                model::NodeState::Ready
            },
            pods: on_node.remove(name(n)).unwrap_or_default(),
        });
        shapes.insert(name(n).to_string(), shape(n));
    }
    for u in &st.upcoming {
        let p = &opts.pools[u.pool];
        let template = p.node(&u.node, u.index);
        snapshot.nodes.push(model::Node {
            name: u.node.clone(),
            pool: Some(p.name.clone()),
            allocatable: node_allocatable(&template),
            state: model::NodeState::Provisioning {
                requested_at: model_time(u.requested_at),
            },
            pods: Vec::new(),
        });
        shapes.insert(u.node.clone(), shape(&template));
    }
    let pool_shapes: HashMap<&str, Shape> = opts
        .pools
        .iter()
        .map(|p| (p.name.as_str(), shape(&p.node("template", 0))))
        .collect();
    let by_key: HashMap<String, &Value> = pods.iter().map(|p| (pod_key(p), &**p)).collect();
    let admission = |pod: &str, place: Place<'_>| {
        let shape = match place {
            Place::Node(n) => shapes.get(n),
            Place::Pool(p) => pool_shapes.get(p),
        };
        match (by_key.get(pod), shape) {
            (Some(pod), Some((labels, taints))) => {
                fit::tolerates_taints(pod, taints) && fit::node_selector_matches(pod, labels)
            }
            _ => false,
        }
    };
    let Some(result) = st.model.step(model_time(now), &snapshot, &admission) else {
        return;
    };
    for action in result.actions {
        match action {
            Action::ScaleUp { pool, nodes, pods } => {
                let Some(i) = opts.pools.iter().position(|p| p.name == pool) else {
                    continue;
                };
                let p = &opts.pools[i];
                let mut new_nodes = Vec::new();
                for _ in 0..nodes {
                    let (node, index) = next_node_name(st, p);
                    st.upcoming.push(Upcoming {
                        pool: i,
                        node: node.clone(),
                        index,
                        requested_at: now,
                        ready_at: now + p.provisioning_delay,
                    });
                    new_nodes.push(node);
                }
                st.activity.push(Activity {
                    time: now,
                    kind: ActivityKind::ScaleUp {
                        pool,
                        nodes: new_nodes,
                        pods,
                    },
                });
                st.status.last_scale_up = Some(now);
            }
            Action::RemoveNode {
                pool,
                node,
                unneeded_for,
                evict,
            } => {
                let kind = match drain_and_delete(shared, &node, &evict) {
                    Ok(evicted) => ActivityKind::ScaleDown {
                        pool,
                        node,
                        unneeded_for,
                        evicted,
                    },
                    Err(reason) => {
                        st.model.removal_failed(&node, model_time(now));
                        ActivityKind::ScaleDownFailed { node, reason }
                    }
                };
                st.activity.push(Activity { time: now, kind });
            }
            Action::GiveUp { pool, node, waited } => {
                st.upcoming.retain(|u| u.node != node);
                st.activity.push(Activity {
                    time: now,
                    kind: ActivityKind::GaveUp { pool, node, waited },
                });
            }
        }
    }
    st.status.unschedulable = result.unschedulable;
    st.status.cannot_help = result.cannot_help;
    st.status.unneeded = result
        .unneeded
        .into_iter()
        .map(|(n, t)| (n, sandbox_time(t)))
        .collect();
    st.status.scans = st.status.scans.saturating_add(1);
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

/// Taints the node, evicts `evict` (`namespace/name`) and deletes the node; on a refused
/// eviction, removes the taint and keeps the node.
fn drain_and_delete(
    shared: &Arc<Shared>,
    node: &str,
    evict: &[String],
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
    for key in evict {
        let (ns, pod) = key.split_once('/').unwrap_or(("", key));
        let body = json!({"apiVersion": "policy/v1", "kind": "Eviction",
                          "metadata": {"name": pod, "namespace": ns}});
        if let Err(e) = api::evict(shared, ns, pod, body) {
            let _ = set_taints(shared, node, &original);
            return Err(format!("evicting {key}: {e}"));
        }
        evicted.push(key.clone());
    }
    api::delete(shared, def_of("nodes"), "", node, &DeleteOpts::default())
        .map_err(|e| e.to_string())?;
    Ok(evicted)
}
