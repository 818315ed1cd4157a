//! A kubelet stand-in for every node at once: a pod bound to a node becomes Running and Ready
//! after a start delay on the sandbox clock, and a pod bound to a node that no longer exists is
//! deleted at once (the pod garbage collector's job for orphaned pods).
//!
//! Graceful deletion itself is the store's: a deleted pod with a grace period gets its
//! deletionTimestamp and is removed when the period ends (`api.rs`), so nothing here repeats it.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde_json::{Value, json};

use super::{def_of, finished, name, namespace, node_name, terminating, uid, wait_for_work};
use crate::api::{self, DeleteOpts, Part, PatchType, Shared};
use crate::clock::rfc3339;

/// Options of the kubelet stand-in.
#[derive(Debug, Clone)]
pub struct KubeletOptions {
    /// Sandbox time from seeing a pod bound to it turning Running (image pull and container
    /// start). Default 5 s.
    pub start_delay: Duration,
}

impl Default for KubeletOptions {
    fn default() -> Self {
        Self {
            start_delay: Duration::from_secs(5),
        }
    }
}

pub(super) async fn run(
    shared: Arc<Shared>,
    mut stop: tokio::sync::watch::Receiver<bool>,
    opts: KubeletOptions,
) {
    let mut changes = shared.store.subscribe();
    // uid → when the pod starts; the first sighting of a bound pod starts its timer.
    let mut starting: HashMap<String, SystemTime> = HashMap::new();
    loop {
        if super::stopped(&shared, &stop) {
            return;
        }
        let next = reconcile(&shared, &opts, &mut starting);
        if !wait_for_work(&shared, &mut changes, &mut stop, next).await {
            return;
        }
    }
}

fn reconcile(
    shared: &Arc<Shared>,
    opts: &KubeletOptions,
    starting: &mut HashMap<String, SystemTime>,
) -> Option<SystemTime> {
    let now = shared.clock.now();
    let nodes: HashMap<String, Arc<Value>> = shared
        .store
        .list("nodes", None)
        .0
        .into_iter()
        .map(|n| (name(&n).to_string(), n))
        .collect();
    let pods = shared.store.list("pods", None).0;
    let mut next: Option<SystemTime> = None;
    let mut seen = Vec::new();
    for pod in &pods {
        let Some(node) = node_name(pod) else { continue };
        if !nodes.contains_key(node) {
            let opts = DeleteOpts {
                grace_period: Some(0),
                uid: Some(uid(pod).to_string()),
                ..DeleteOpts::default()
            };
            if let Err(e) = api::delete(shared, def_of("pods"), namespace(pod), name(pod), &opts) {
                tracing::debug!(pod = name(pod), error = %e, "kubelet: orphan delete failed");
            }
            continue;
        }
        let phase = pod.pointer("/status/phase").and_then(Value::as_str);
        if phase == Some("Running") || finished(pod) || terminating(pod) {
            continue;
        }
        seen.push(uid(pod).to_string());
        let due = *starting
            .entry(uid(pod).to_string())
            .or_insert(now + opts.start_delay);
        if due <= now {
            start(shared, pod, now);
            starting.remove(uid(pod));
        } else {
            next = Some(next.map_or(due, |n: SystemTime| n.min(due)));
        }
    }
    starting.retain(|u, _| seen.contains(u));
    next
}

fn start(shared: &Arc<Shared>, pod: &Value, now: SystemTime) {
    let ts = rfc3339(now, false);
    let cond = |t: &str| json!({"type": t, "status": "True", "lastTransitionTime": ts});
    let containers: Vec<Value> = pod
        .pointer("/spec/containers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|c| {
            json!({
                "name": c.get("name").cloned().unwrap_or(json!("")),
                "image": c.get("image").cloned().unwrap_or(json!("")),
                "imageID": "",
                "ready": true,
                "started": true,
                "restartCount": 0,
                "state": {"running": {"startedAt": ts}},
            })
        })
        .collect();
    let mut status = pod.get("status").cloned().unwrap_or(json!({}));
    if !status.is_object() {
        status = json!({});
    }
    let mut conditions: Vec<Value> = status
        .get("conditions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for t in ["Initialized", "ContainersReady", "Ready"] {
        conditions.retain(|c| c.get("type").and_then(Value::as_str) != Some(t));
        conditions.push(cond(t));
    }
    status["phase"] = json!("Running");
    status["startTime"] = json!(ts);
    status["conditions"] = json!(conditions);
    status["containerStatuses"] = json!(containers);
    // A JSON patch whose first operation tests the uid: the pod may have been deleted and
    // recreated under the same name (a StatefulSet ordinal) since it was read, and the new,
    // unbound pod must not start.
    let patch = json!([
        {"op": "test", "path": "/metadata/uid", "value": uid(pod)},
        {"op": "add", "path": "/status", "value": status},
    ])
    .to_string();
    if let Err(e) = api::patch(
        shared,
        def_of("pods"),
        namespace(pod),
        name(pod),
        PatchType::Json,
        patch.as_bytes(),
        Part::Status,
        false,
    ) {
        tracing::debug!(pod = name(pod), error = %e, "kubelet: status update failed");
    }
}
