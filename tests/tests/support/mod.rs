//! Shared helpers of the end-to-end tests: a sandbox API server, the daemon
//! running in-process against it, and polling with deadlines.

#![allow(dead_code)]

use std::future::Future;
use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::api::PostParams;
use sandbox::{Sandbox, SandboxOptions};
use serde_json::{Value, json};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use user_scheduler::config::SchedulerConfig;
use user_scheduler::daemon::{self, DaemonError, DaemonOptions};

/// The scheduler name of the default profile.
pub const SCHEDULER: &str = "user-scheduler";
/// Namespace of the test pods.
pub const NS: &str = "jhub";

/// A daemon running in-process.
pub struct Daemon {
    pub stop: CancellationToken,
    pub task: JoinHandle<Result<(), DaemonError>>,
}

impl Daemon {
    /// Stops the daemon and waits for it.
    pub async fn stop(self) -> Result<(), DaemonError> {
        self.stop.cancel();
        tokio::time::timeout(Duration::from_secs(60), self.task)
            .await
            .expect("the daemon stops within a minute")
            .expect("the daemon task does not panic")
    }
}

/// Starts a sandbox with the `jhub` namespace.
pub async fn sandbox() -> Sandbox {
    let mut opts = SandboxOptions::default();
    opts.namespaces.push(NS.into());
    Sandbox::start(opts).await.expect("the sandbox starts")
}

/// Starts the daemon without leader election.
pub fn start_daemon(sandbox: &Sandbox) -> Daemon {
    start_daemon_with(sandbox, |o| o)
}

/// Starts the daemon with adjusted options.
pub fn start_daemon_with(
    sandbox: &Sandbox,
    adjust: impl FnOnce(DaemonOptions) -> DaemonOptions,
) -> Daemon {
    let mut opts = DaemonOptions::new(SchedulerConfig::default());
    opts.leader_elect = false;
    opts.seed = 42;
    let opts = adjust(opts);
    let stop = CancellationToken::new();
    let task = tokio::spawn(daemon::run(sandbox.client(), opts, stop.clone()));
    Daemon { stop, task }
}

/// A user node: 4 CPUs, 16 GiB, the z2jh user label and taint.
pub fn user_node(name: &str, cpu: &str, memory: &str) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name, "labels": {
            "kubernetes.io/hostname": name,
            "hub.jupyter.org/node-purpose": "user"}},
        "spec": {"taints": [{"key": "hub.jupyter.org/dedicated", "value": "user", "effect": "NoSchedule"}]},
        "status": {"allocatable": {"cpu": cpu, "memory": memory, "pods": "110"}}
    })
}

/// A core node tainted for core pods.
pub fn core_node(name: &str) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name, "labels": {
            "kubernetes.io/hostname": name,
            "hub.jupyter.org/node-purpose": "core"}},
        "spec": {"taints": [{"key": "hub.jupyter.org/dedicated", "value": "core", "effect": "NoSchedule"}]},
        "status": {"allocatable": {"cpu": "4", "memory": "16Gi", "pods": "110"}}
    })
}

/// A pending pod for our scheduler. `component` is `singleuser-server` or
/// `user-placeholder`; `memory` its memory request.
pub fn pending_pod(name: &str, component: &str, memory: &str) -> Value {
    let priority = if component == "user-placeholder" {
        -10
    } else {
        0
    };
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": NS, "labels": {"component": component}},
        "spec": {
            "schedulerName": SCHEDULER,
            "priority": priority,
            "tolerations": [
                {"key": "hub.jupyter.org/dedicated", "operator": "Equal", "value": "user", "effect": "NoSchedule"},
                {"key": "hub.jupyter.org_dedicated", "operator": "Equal", "value": "user", "effect": "NoSchedule"}],
            "containers": [{"name": "c", "image": "pause", "resources": {"requests": {"memory": memory}}}]
        }
    })
}

/// A pod already bound to `node`.
pub fn bound_pod(name: &str, component: &str, memory: &str, node: &str) -> Value {
    let mut pod = pending_pod(name, component, memory);
    pod["spec"]["nodeName"] = json!(node);
    pod["status"] = json!({"phase": "Running"});
    pod
}

/// Creates a pod through the API.
pub async fn create_pod(sandbox: &Sandbox, pod: &Value) {
    let api: Api<Pod> = Api::namespaced(sandbox.client(), NS);
    let pod: Pod = serde_json::from_value(pod.clone()).expect("a valid pod");
    api.create(&PostParams::default(), &pod)
        .await
        .expect("the pod is created");
}

/// The node a pod is bound to, from the sandbox's store.
pub fn node_of(sandbox: &Sandbox, name: &str) -> Option<String> {
    sandbox
        .get("pods", NS, name)
        .and_then(|p| p["spec"]["nodeName"].as_str().map(String::from))
}

/// Polls `check` every 20 ms until it returns `Some`, or panics after `limit`.
pub async fn eventually<T, F, Fut>(limit: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The PodScheduled condition of a pod in the store.
pub fn pod_scheduled_condition(sandbox: &Sandbox, name: &str) -> Option<Value> {
    sandbox.get("pods", NS, name).and_then(|p| {
        p["status"]["conditions"]
            .as_array()
            .and_then(|c| c.iter().find(|c| c["type"] == "PodScheduled").cloned())
    })
}

/// Events (events.k8s.io/v1) about a pod, as (reason, note).
pub fn events_of(sandbox: &Sandbox, name: &str) -> Vec<(String, String)> {
    sandbox
        .list("events")
        .into_iter()
        .filter(|e| e["regarding"]["name"] == name || e["involvedObject"]["name"] == name)
        .map(|e| {
            let reason = e["reason"].as_str().unwrap_or_default().to_string();
            let note = e["note"]
                .as_str()
                .or(e["message"].as_str())
                .unwrap_or_default()
                .to_string();
            (reason, note)
        })
        .collect()
}
