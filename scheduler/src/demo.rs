//! `user-scheduler demo`: the seed's autoscaling demonstration, replayed on the sandbox.
//!
//! The cluster: one core node (tainted for core pods, holding the hub and the proxy) and an
//! autoscaled user pool that starts empty, whose machine holds 8 pods of the placeholder and
//! user-dummy request (the seed's "max 8 pods per node"). The objects are deploy/'s own
//! PriorityClasses, `user-placeholder` StatefulSet (with its budget), `user-dummy` Deployment
//! and scheduler configuration, compiled in. The sandbox runs its controllers (workload,
//! kubelet, cluster autoscaler) on an accelerated clock and the scheduler daemon runs
//! in-process; each step patches a replica count through the API, as the seed's `kubectl patch`
//! did, and waits until the cluster settles.
//!
//! "Settled" means: every workload has its replicas, every pod of the hub's namespace is bound
//! and Running, no node is being provisioned, and the autoscaler has completed two scans since
//! (so a scale-up it would make has been made). Steps that wait for a scale-down also require
//! the autoscaler's last scan to find no removable node. See docs/demo.md for why step 6 first
//! waits for the empty node to go.
//!
//! [`Demo`] is the library the command and `tests/tests/e2e/demo.rs` share.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::{Duration, SystemTime};

use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use kube::Api;
use kube::api::{Patch, PatchParams};
use sandbox::controllers::{
    ActivityKind, Autoscaler, AutoscalerOptions, ControllerOptions, Controllers, KubeletOptions,
    NodePool, pod_requests,
};
use sandbox::{Sandbox, SandboxOptions};
use serde_json::{Value, json};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::daemon::{self, DaemonError, DaemonOptions};

/// The hub's namespace (deploy/kustomization.yaml's).
pub const NAMESPACE: &str = "jhub";
/// The autoscaled user pool.
pub const USER_POOL: &str = "user-pool";
/// The static core node.
pub const CORE_NODE: &str = "core-pool-1";

const PRIORITY_CLASSES: &str = include_str!("../../deploy/priorityclasses.yaml");
const USER_PLACEHOLDER: &str = include_str!("../../deploy/user-placeholder.yaml");
const USER_DUMMY: &str = include_str!("../../deploy/user-dummy.yaml");
const SCHEDULER_CONFIG: &str = include_str!("../../deploy/config.yaml");

/// What a step changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// `kubectl patch statefulset user-placeholder --patch '{"spec": {"replicas": N}}'`.
    Placeholders(u32),
    /// `kubectl patch deployment user-dummy --patch '{"spec": {"replicas": N}}'`.
    Users(u32),
}

impl Action {
    /// The kubectl command doing the same.
    pub fn kubectl(self) -> String {
        let (kind, name, n) = match self {
            Action::Placeholders(n) => ("statefulset", "user-placeholder", n),
            Action::Users(n) => ("deployment", "user-dummy", n),
        };
        format!("kubectl patch {kind} {name} --patch '{{\"spec\": {{\"replicas\": {n}}}}}'")
    }
}

/// One step of the seed's demonstration.
#[derive(Debug, Clone, Copy)]
pub struct Step {
    /// 1-based.
    pub number: usize,
    /// Wait, before acting, until the autoscaler has removed every node it can.
    pub scale_down_before: bool,
    /// The change.
    pub action: Action,
    /// Wait, after acting, until the autoscaler has removed every node it can.
    pub scale_down_after: bool,
    /// The seed's words for the step and what it observed.
    pub seed: &'static str,
}

/// The seed's eight steps (`../shared/seed/`, "Demonstration").
pub const STEPS: [Step; 8] = [
    Step {
        number: 1,
        scale_down_before: false,
        action: Action::Placeholders(4),
        scale_down_after: false,
        seed: "Adding 4 placeholder pods  --- CA scale up",
    },
    Step {
        number: 2,
        scale_down_before: false,
        action: Action::Users(4),
        scale_down_after: false,
        seed: "Adding 4 dummy-user pods   --- 1 node full (max 8 pods)",
    },
    Step {
        number: 3,
        scale_down_before: false,
        action: Action::Users(8),
        scale_down_after: false,
        seed: "Adding 4 dummy-user pods   --- Placeholders evicted > CA scale up > Placeholders reschedule",
    },
    Step {
        number: 4,
        scale_down_before: false,
        action: Action::Users(0),
        scale_down_after: false,
        seed: "Removing 8 dummy-user pods --- 1 node at 4/8 and 1 node at 0/8",
    },
    Step {
        number: 5,
        scale_down_before: false,
        action: Action::Users(4),
        scale_down_after: false,
        seed: "Adding 4 dummy-user pods   --- Users packed instead of spread",
    },
    Step {
        number: 6,
        scale_down_before: true,
        action: Action::Users(8),
        scale_down_after: false,
        seed: "Adding 4 dummy-user pods   --- Placeholders evicted > Users packs with Users",
    },
    Step {
        number: 7,
        scale_down_before: false,
        action: Action::Users(28),
        scale_down_after: false,
        seed: "Adding 20 dummy-user pods  --- CA adds two more nodes",
    },
    Step {
        number: 8,
        scale_down_before: false,
        action: Action::Users(0),
        scale_down_after: true,
        seed: "Removing all dummy-users   --- CA scale down (~10 min delay)",
    },
];

/// Options of the demonstration.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// How many times faster than real time the sandbox clock runs.
    pub speed: f64,
    /// Seed of the random parts (pod name suffixes, the scheduler's tie-break).
    pub seed: u64,
    /// Sandbox time from a scale-up decision to the node registering.
    pub provisioning_delay: Duration,
    /// Sandbox time a step may take to settle before it is reported as unsettled.
    pub settle_limit: Duration,
    /// Run the scheduler with packing preemption on (RealUserColocation's
    /// `packingPreemption`), to compare node counts with and without it.
    pub packing_preemption: bool,
}

impl Default for DemoOptions {
    fn default() -> Self {
        Self {
            speed: 60.0,
            seed: 1,
            provisioning_delay: Duration::from_secs(60),
            settle_limit: Duration::from_secs(40 * 60),
            packing_preemption: false,
        }
    }
}

/// Why the demonstration could not run.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// The sandbox did not start.
    #[error("sandbox: {0}")]
    Sandbox(#[from] sandbox::Error),
    /// A compiled-in manifest or the configuration did not parse.
    #[error("{0}")]
    Manifest(String),
    /// An API call failed.
    #[error("API: {0}")]
    Api(#[from] kube::Error),
    /// The scheduler stopped.
    #[error("the scheduler stopped: {0}")]
    Daemon(String),
}

/// One user node as the seed's `kubectl describe node` watch showed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeRow {
    /// Node name.
    pub name: String,
    /// Real users (user-dummy pods) on it.
    pub users: Vec<String>,
    /// Placeholders on it.
    pub placeholders: Vec<String>,
    /// Other pods on it.
    pub others: Vec<String>,
    /// How many placeholder-sized pods the node holds.
    pub slots: usize,
}

/// The cluster after a step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// User nodes, by name.
    pub nodes: Vec<NodeRow>,
    /// User and placeholder pods not bound to a node.
    pub pending: Vec<String>,
    /// User and placeholder pods on nodes that are not user nodes.
    pub elsewhere: Vec<String>,
}

impl Snapshot {
    /// Users per node, in node-name order.
    pub fn users_per_node(&self) -> Vec<usize> {
        self.nodes.iter().map(|n| n.users.len()).collect()
    }

    /// Placeholders per node, in node-name order.
    pub fn placeholders_per_node(&self) -> Vec<usize> {
        self.nodes.iter().map(|n| n.placeholders.len()).collect()
    }
}

/// What happened in one step.
#[derive(Debug, Clone)]
pub struct StepReport {
    /// The step.
    pub step: Step,
    /// The cluster once settled.
    pub snapshot: Snapshot,
    /// Autoscaler lines (time since the demo started, text).
    pub autoscaler: Vec<(Duration, String)>,
    /// Scheduler preemptions during the step: (victim, node).
    pub preempted: Vec<(String, String)>,
    /// Sandbox time the step took.
    pub took: Duration,
    /// Whether it settled within the limit.
    pub settled: bool,
}

/// The running demonstration: sandbox, controllers and the scheduler.
pub struct Demo {
    sandbox: Sandbox,
    controllers: Option<Controllers>,
    stop: CancellationToken,
    daemon: Option<JoinHandle<Result<(), DaemonError>>>,
    options: DemoOptions,
    started: SystemTime,
    activity_seen: usize,
    events_seen: std::collections::BTreeSet<String>,
    slots: usize,
}

/// The user pool's machine: 4 CPUs and 8.5 GB, so that 8 pods requesting deploy/'s 1G fit and
/// a 9th does not (the seed's "max 8 pods per node"). 4 pods are 47 % of it, under the
/// autoscaler's 50 % threshold, as 4 placeholders on the seed's nodes were.
pub fn user_pool(provisioning_delay: Duration) -> NodePool {
    NodePool {
        name: USER_POOL.into(),
        min_size: 0,
        max_size: 10,
        allocatable: [("cpu", "4"), ("memory", "8500M"), ("pods", "110")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        labels: [(
            "hub.jupyter.org/node-purpose".to_string(),
            "user".to_string(),
        )]
        .into(),
        // The seed's GKE pool: GKE forbids '/' in taint keys, hence z2jh's underscore spelling.
        taints: vec![
            json!({"key": "hub.jupyter.org_dedicated", "value": "user", "effect": "NoSchedule"}),
        ],
        provisioning_delay,
    }
}

/// The core node (tainted for core pods, as z2jh's core pods tolerate) with the hub and proxy.
fn core_objects() -> Vec<Value> {
    let core_pod = |name: &str, component: &str| {
        json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": NAMESPACE,
                         "labels": {"app": "jupyterhub", "component": component}},
            "spec": {
                "nodeName": CORE_NODE,
                "tolerations": [{"key": "hub.jupyter.org/dedicated", "operator": "Equal",
                                 "value": "core", "effect": "NoSchedule"}],
                "containers": [{"name": component, "image": "quay.io/jupyterhub/k8s-hub:4.2.0",
                                "resources": {"requests": {"cpu": "200m", "memory": "512Mi"}}}]
            },
            "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}
        })
    };
    vec![
        json!({
            "apiVersion": "v1", "kind": "Node",
            "metadata": {"name": CORE_NODE, "labels": {
                "kubernetes.io/hostname": CORE_NODE,
                "cloud.google.com/gke-nodepool": "core-pool",
                "hub.jupyter.org/node-purpose": "core"}},
            "spec": {"taints": [{"key": "hub.jupyter.org/dedicated", "value": "core", "effect": "NoSchedule"}]},
            "status": {
                "capacity": {"cpu": "2", "memory": "7.5G", "pods": "110"},
                "allocatable": {"cpu": "1930m", "memory": "5.7G", "pods": "110"},
                "conditions": [{"type": "Ready", "status": "True"}]
            }
        }),
        core_pod("hub-5d8f7c9b4-x2k9p", "hub"),
        core_pod("proxy-7c6b5d8f9-q8m4n", "proxy"),
    ]
}

fn manifests() -> Result<Vec<Value>, DemoError> {
    let mut out = Vec::new();
    for (file, text) in [
        ("deploy/priorityclasses.yaml", PRIORITY_CLASSES),
        ("deploy/user-placeholder.yaml", USER_PLACEHOLDER),
        ("deploy/user-dummy.yaml", USER_DUMMY),
    ] {
        for doc in serde_yaml_ng::Deserializer::from_str(text) {
            let mut v: Value = serde::Deserialize::deserialize(doc)
                .map_err(|e| DemoError::Manifest(format!("{file}: {e}")))?;
            if v.is_null() {
                continue;
            }
            if v["kind"] != "PriorityClass" {
                v["metadata"]["namespace"] = json!(NAMESPACE);
            }
            out.push(v);
        }
    }
    Ok(out)
}

fn label<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get("metadata")?.get("labels")?.get(key)?.as_str()
}

fn fmt_duration(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 60 {
        format!("{}m{:02}s", s / 60, s % 60)
    } else {
        format!("{s}s")
    }
}

impl Demo {
    /// Starts the sandbox, its controllers and the scheduler, and creates the cluster.
    pub async fn start(options: DemoOptions) -> Result<Demo, DemoError> {
        let mut sb_opts = SandboxOptions {
            time_scale: options.speed,
            ..SandboxOptions::default()
        };
        sb_opts.namespaces.push(NAMESPACE.into());
        let sandbox = Sandbox::start(sb_opts).await?;
        sandbox.seed_objects(core_objects())?;
        let objects = manifests()?;
        let slots = objects
            .iter()
            .find(|o| o["kind"] == "StatefulSet")
            .map(|sts| {
                let req = pod_requests(&sts["spec"]["template"]);
                let pool = user_pool(options.provisioning_delay);
                let alloc = pool.allocatable.get("memory").map_or(0, |m| {
                    score::quantity::parse(m)
                        .ok()
                        .and_then(|q| q.to_int_ceil().ok())
                        .unwrap_or(0)
                });
                alloc.checked_div(req.memory).map_or(0, |n| n as usize)
            })
            .unwrap_or(0);
        sandbox.seed_objects(objects)?;

        // Controllers the demo does not name (such as a volume provisioner)
        // keep their defaults.
        #[allow(clippy::needless_update)]
        let controllers = sandbox.start_controllers(ControllerOptions {
            workload: true,
            kubelet: Some(KubeletOptions::default()),
            autoscaler: Some(AutoscalerOptions {
                pools: vec![user_pool(options.provisioning_delay)],
                ..AutoscalerOptions::default()
            }),
            seed: options.seed,
            ..ControllerOptions::default()
        });

        let mut config = crate::config::parse(SCHEDULER_CONFIG, "deploy/config.yaml")
            .map_err(|e| DemoError::Manifest(e.to_string()))?;
        // The scheduler's retry backoffs run on the sandbox clock too: at 60x a real 10 s
        // backoff would be 10 simulated minutes, long enough for the autoscaler to remove the
        // node the pod is waiting for.
        config.pod_initial_backoff = Duration::from_secs(1).div_f64(options.speed.max(1.0));
        config.pod_max_backoff = Duration::from_secs(10).div_f64(options.speed.max(1.0));
        for profile in &mut config.profiles {
            profile.packing_preemption |= options.packing_preemption;
        }
        let mut opts = DaemonOptions::new(config);
        opts.leader_elect = false;
        opts.seed = options.seed;
        let stop = CancellationToken::new();
        let daemon = tokio::spawn(daemon::run(sandbox.client(), opts, stop.clone()));
        let started = sandbox.clock().now();
        Ok(Demo {
            sandbox,
            controllers: Some(controllers),
            stop,
            daemon: Some(daemon),
            options,
            started,
            activity_seen: 0,
            events_seen: Default::default(),
            slots,
        })
    }

    /// The sandbox (for kubectl-like inspection in tests).
    pub fn sandbox(&self) -> &Sandbox {
        &self.sandbox
    }

    /// The autoscaler model.
    pub fn autoscaler(&self) -> &Autoscaler {
        // Started in `start` and only taken in `stop`, which consumes the demo.
        self.controllers
            .as_ref()
            .and_then(Controllers::autoscaler)
            .unwrap_or_else(|| unreachable!("the demo always runs the autoscaler"))
    }

    /// Runs one step: the optional scale-down wait, the patch, the settle wait.
    pub async fn run_step(&mut self, step: Step) -> Result<StepReport, DemoError> {
        let begin = self.sandbox.clock().now();
        let mut settled = true;
        if step.scale_down_before {
            settled &= self.settle(true).await?;
        }
        self.apply(step.action).await?;
        settled &= self.settle(step.scale_down_after).await?;
        let took = self
            .sandbox
            .clock()
            .now()
            .duration_since(begin)
            .unwrap_or_default();
        Ok(StepReport {
            step,
            snapshot: self.snapshot(),
            autoscaler: self.new_activity(),
            preempted: self.new_preemptions(),
            took,
            settled,
        })
    }

    async fn apply(&self, action: Action) -> Result<(), DemoError> {
        let client = self.sandbox.client();
        let params = PatchParams::default();
        match action {
            Action::Placeholders(n) => {
                Api::<StatefulSet>::namespaced(client, NAMESPACE)
                    .patch(
                        "user-placeholder",
                        &params,
                        &Patch::Merge(json!({"spec": {"replicas": n}})),
                    )
                    .await?;
            }
            Action::Users(n) => {
                Api::<Deployment>::namespaced(client, NAMESPACE)
                    .patch(
                        "user-dummy",
                        &params,
                        &Patch::Merge(json!({"spec": {"replicas": n}})),
                    )
                    .await?;
            }
        }
        Ok(())
    }

    /// Whether every workload has its pods, all bound and Running, and nothing is provisioning.
    fn quiet(&self) -> bool {
        let pods: Vec<Value> = self
            .sandbox
            .list("pods")
            .into_iter()
            .filter(|p| p["metadata"]["namespace"] == NAMESPACE)
            .collect();
        let owned_by = |owner: &Value| {
            pods.iter()
                .filter(|p| {
                    p["metadata"]["ownerReferences"]
                        .as_array()
                        .is_some_and(|rs| rs.iter().any(|r| r["uid"] == owner["metadata"]["uid"]))
                })
                .count()
        };
        let workloads_ok = ["deployments", "statefulsets"].iter().all(|r| {
            self.sandbox
                .list(r)
                .iter()
                .all(|w| owned_by(w) as u64 == w["spec"]["replicas"].as_u64().unwrap_or(1))
        });
        let pods_ok = pods.iter().all(|p| {
            p["metadata"]["deletionTimestamp"].is_null()
                && p["spec"]["nodeName"]
                    .as_str()
                    .is_some_and(|n| !n.is_empty())
                && p["status"]["phase"] == "Running"
        });
        workloads_ok && pods_ok && self.autoscaler().status().upcoming.is_empty()
    }

    /// Waits until the cluster is quiet and two autoscaler scans have seen it so (and, with
    /// `scale_down`, found nothing to remove). Returns false if the limit passed first.
    pub async fn settle(&self, scale_down: bool) -> Result<bool, DemoError> {
        let clock = self.sandbox.clock();
        let deadline = clock.now() + self.options.settle_limit;
        let mut quiet_since_scan: Option<u64> = None;
        loop {
            if let Some(d) = &self.daemon
                && d.is_finished()
            {
                return Err(DemoError::Daemon("exited".into()));
            }
            let status = self.autoscaler().status();
            let quiet = self.quiet() && (!scale_down || status.unneeded.is_empty());
            match (quiet, quiet_since_scan) {
                (false, _) => quiet_since_scan = None,
                (true, None) => quiet_since_scan = Some(status.scans),
                (true, Some(s)) if status.scans >= s + 2 => return Ok(true),
                (true, Some(_)) => {}
            }
            if clock.now() > deadline {
                return Ok(false);
            }
            // Polling at a tenth of the scan interval keeps the wait short without spinning.
            clock.sleep(Duration::from_secs(1)).await;
        }
    }

    /// The user nodes and where the users and placeholders are.
    pub fn snapshot(&self) -> Snapshot {
        let nodes = self.sandbox.list("nodes");
        let user_nodes: BTreeMap<String, Value> = nodes
            .into_iter()
            .filter(|n| label(n, "hub.jupyter.org/node-purpose") == Some("user"))
            .map(|n| (n["metadata"]["name"].as_str().unwrap_or("").to_string(), n))
            .collect();
        let mut rows: BTreeMap<String, NodeRow> = user_nodes
            .keys()
            .map(|n| {
                (
                    n.clone(),
                    NodeRow {
                        name: n.clone(),
                        users: Vec::new(),
                        placeholders: Vec::new(),
                        others: Vec::new(),
                        slots: self.slots,
                    },
                )
            })
            .collect();
        let mut pending = Vec::new();
        let mut elsewhere = Vec::new();
        for p in self.sandbox.list("pods") {
            if !p["metadata"]["deletionTimestamp"].is_null() {
                continue;
            }
            let name = p["metadata"]["name"].as_str().unwrap_or("").to_string();
            let component = label(&p, "component");
            let role = match component {
                Some("singleuser-server") => Some(true),
                Some("user-placeholder") => Some(false),
                _ => None,
            };
            match (
                p["spec"]["nodeName"].as_str(),
                rows.get_mut(p["spec"]["nodeName"].as_str().unwrap_or("")),
            ) {
                (_, Some(row)) => match role {
                    Some(true) => row.users.push(name),
                    Some(false) => row.placeholders.push(name),
                    None => row.others.push(name),
                },
                (None | Some(""), None) if role.is_some() => pending.push(name),
                (Some(_), None) if role.is_some() => elsewhere.push(name),
                _ => {}
            }
        }
        let mut nodes: Vec<NodeRow> = rows.into_values().collect();
        // Node names number the pool's nodes in creation order; sort numerically.
        nodes.sort_by_key(|n| {
            let num = n
                .name
                .rsplit('-')
                .next()
                .and_then(|s| s.parse::<u64>().ok());
            (num.is_none(), num, n.name.clone())
        });
        Snapshot {
            nodes,
            pending,
            elsewhere,
        }
    }

    fn new_activity(&mut self) -> Vec<(Duration, String)> {
        let all = self.autoscaler().activity();
        let out = all[self.activity_seen.min(all.len())..]
            .iter()
            .map(|a| {
                let at = a.time.duration_since(self.started).unwrap_or_default();
                let text = match &a.kind {
                    ActivityKind::ScaleUp { pool, nodes, pods } => format!(
                        "scale-up: {pool} +{} node{} ({}) for {} unschedulable pod{}",
                        nodes.len(),
                        if nodes.len() == 1 { "" } else { "s" },
                        nodes.join(", "),
                        pods.len(),
                        if pods.len() == 1 { "" } else { "s" },
                    ),
                    ActivityKind::NodeReady { node, .. } => format!("node {node} is ready"),
                    ActivityKind::ScaleDown {
                        node,
                        unneeded_for,
                        evicted,
                        ..
                    } => format!(
                        "scale-down: removed {node} (unneeded for {}{})",
                        fmt_duration(*unneeded_for),
                        if evicted.is_empty() {
                            ", empty".to_string()
                        } else {
                            format!(", evicted {}", evicted.len())
                        }
                    ),
                    ActivityKind::ScaleDownFailed { node, reason } => {
                        format!("scale-down of {node} failed: {reason}")
                    }
                    ActivityKind::GaveUp { node, waited, .. } => format!(
                        "gave up on {node}: not registered after {}",
                        fmt_duration(*waited)
                    ),
                };
                (at, text)
            })
            .collect();
        self.activity_seen = all.len();
        out
    }

    fn new_preemptions(&mut self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for e in self.sandbox.list("events") {
            if e["reason"] != "Preempted" {
                continue;
            }
            let uid = e["metadata"]["uid"].as_str().unwrap_or("").to_string();
            if !self.events_seen.insert(uid) {
                continue;
            }
            let victim = e["involvedObject"]["name"]
                .as_str()
                .unwrap_or("")
                .to_string();
            let message = e["message"].as_str().unwrap_or("");
            let node = message
                .rsplit("on node ")
                .next()
                .filter(|_| message.contains("on node "))
                .unwrap_or("?")
                .trim()
                .to_string();
            out.push((victim, node));
        }
        out.sort();
        out
    }

    /// Stops the scheduler, the controllers and the sandbox.
    pub async fn stop(mut self) -> Result<(), DemoError> {
        self.stop.cancel();
        let result = match self.daemon.take() {
            Some(d) => match tokio::time::timeout(Duration::from_secs(30), d).await {
                Ok(Ok(Ok(()))) => Ok(()),
                Ok(Ok(Err(e))) => Err(DemoError::Daemon(e.to_string())),
                Ok(Err(e)) => Err(DemoError::Daemon(e.to_string())),
                Err(_) => Err(DemoError::Daemon("did not stop within 30 s".into())),
            },
            None => Ok(()),
        };
        if let Some(c) = self.controllers.take() {
            c.stop().await;
        }
        self.sandbox.shutdown().await;
        result
    }
}

/// The step's report as the demo prints it.
pub fn render(r: &StepReport) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "── Step {} of {} ── {}",
        r.step.number,
        STEPS.len(),
        r.step.action.kubectl()
    );
    // The step's name and outcome in the original demonstration's words.
    let _ = writeln!(s, "   {}", r.step.seed);
    if r.step.scale_down_before {
        let _ = writeln!(
            s,
            "   (first waiting until the autoscaler has removed the nodes it can)"
        );
    }
    for (victim, node) in &r.preempted {
        let _ = writeln!(s, "   scheduler:  preempted {victim} on {node}");
    }
    for (at, line) in &r.autoscaler {
        let _ = writeln!(s, "   autoscaler: [t+{}] {line}", fmt_duration(*at));
    }
    let _ = writeln!(
        s,
        "   {} after {} (simulated)",
        if r.settled { "settled" } else { "NOT settled" },
        fmt_duration(r.took)
    );
    let _ = writeln!(s);
    if r.snapshot.nodes.is_empty() {
        let _ = writeln!(s, "   (no user nodes)");
    } else {
        let _ = writeln!(
            s,
            "   {:<14}{:>6}{:>14}   pods (U user, P placeholder)",
            "USER NODE", "USERS", "PLACEHOLDERS"
        );
        for n in &r.snapshot.nodes {
            let used = n.users.len() + n.placeholders.len() + n.others.len();
            let bar: String = std::iter::repeat_n('U', n.users.len())
                .chain(std::iter::repeat_n('P', n.placeholders.len()))
                .chain(std::iter::repeat_n('o', n.others.len()))
                .chain(std::iter::repeat_n('.', n.slots.saturating_sub(used)))
                .collect();
            let _ = writeln!(
                s,
                "   {:<14}{:>6}{:>14}   [{bar}] {used}/{}",
                n.name,
                n.users.len(),
                n.placeholders.len(),
                n.slots
            );
        }
    }
    if !r.snapshot.pending.is_empty() {
        let _ = writeln!(s, "   pending: {}", r.snapshot.pending.join(", "));
    }
    if !r.snapshot.elsewhere.is_empty() {
        let _ = writeln!(
            s,
            "   on non-user nodes: {}",
            r.snapshot.elsewhere.join(", ")
        );
    }
    s
}

/// Runs the whole demonstration, printing each step as it settles.
pub async fn run(
    options: DemoOptions,
    out: &mut (dyn std::io::Write + Send),
) -> Result<Vec<StepReport>, DemoError> {
    let speed = options.speed;
    let mut demo = Demo::start(options).await?;
    let _ = writeln!(
        out,
        "z2jh's autoscaling demonstration on the sandbox, clock at {speed}x.\n\
         Cluster: core node {CORE_NODE} (hub, proxy; tainted for core pods) and the autoscaled\n\
         pool {USER_POOL} (0..10 nodes, 8 user-sized pods each, 60 s to provision). Objects from\n\
         deploy/: PriorityClasses, the user-placeholder StatefulSet, the user-dummy Deployment,\n\
         the scheduler's config.yaml.\n"
    );
    let mut reports = Vec::new();
    for step in STEPS {
        let report = match demo.run_step(step).await {
            Ok(r) => r,
            Err(e) => {
                let _ = demo.stop().await;
                return Err(e);
            }
        };
        let _ = writeln!(out, "{}", render(&report));
        let _ = out.flush();
        reports.push(report);
    }
    demo.stop().await?;
    let _ = writeln!(out, "{}", summary(&reports));
    Ok(reports)
}

/// One line to compare runs (for example with and without packing
/// preemption): user nodes after each step, and what it took.
#[must_use]
pub fn summary(reports: &[StepReport]) -> String {
    let nodes: Vec<String> = reports
        .iter()
        .map(|r| r.snapshot.nodes.len().to_string())
        .collect();
    let preempted: usize = reports.iter().map(|r| r.preempted.len()).sum();
    let scale_ups: usize = reports
        .iter()
        .flat_map(|r| &r.autoscaler)
        .filter(|(_, line)| line.contains("scale-up"))
        .count();
    format!(
        "summary: user nodes after each step {}; {} node-steps; {preempted} placeholders preempted; {scale_ups} scale-ups",
        nodes.join(" "),
        reports
            .iter()
            .map(|r| r.snapshot.nodes.len())
            .sum::<usize>()
    )
}
