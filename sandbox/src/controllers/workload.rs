//! The workload controller: every Deployment and StatefulSet keeps `spec.replicas` pods made
//! from its `spec.template`, recreating pods that were deleted, evicted or preempted.
//!
//! Simplifications, each harmless for the scheduler and the autoscaler, which look only at pods:
//! - A Deployment owns its pods directly (no ReplicaSet in between); pods are named
//!   `<deployment>-<5 random characters>` and carry a controller ownerReference to the
//!   Deployment, which is what the autoscaler's "is this pod replicated" check reads.
//! - StatefulSets act as `podManagementPolicy: Parallel` whatever they say: every missing
//!   ordinal below `replicas` is created at once, lowest first, and every ordinal at or above it
//!   is deleted at once. A name still held by a terminating pod is recreated once that pod is gone,
//!   as the real controller does.
//! - No rollouts: a changed template applies to pods created afterwards.
//!
//! Pods are admitted as the API server's Priority admission plugin would: `priorityClassName`
//! becomes `spec.priority` and `spec.preemptionPolicy` from the stored PriorityClass (the
//! sandbox itself does no admission), or the global default class applies.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::{Value, json};

use super::{
    controller_ref, def_of, finished, name, namespace, node_name, store_of, str_at, terminating,
    uid, wait_for_work,
};
use crate::api::{self, DeleteOpts, Part, PatchType, Shared};

pub(super) async fn run(
    shared: Arc<Shared>,
    mut stop: tokio::sync::watch::Receiver<bool>,
    seed: u64,
) {
    let mut changes = shared.store.subscribe();
    let mut rng = Rng(seed);
    loop {
        if super::stopped(&shared, &stop) {
            return;
        }
        reconcile(&shared, &mut rng);
        if !wait_for_work(&shared, &mut changes, &mut stop, None).await {
            return;
        }
    }
}

/// splitmix64: deterministic name suffixes for a given seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Five characters from the alphabet kube uses for generated names.
    fn suffix(&mut self) -> String {
        const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
        let mut r = self.next();
        (0..5)
            .map(|_| {
                let c = ALPHABET[(r % ALPHABET.len() as u64) as usize] as char;
                r /= ALPHABET.len() as u64;
                c
            })
            .collect()
    }
}

fn reconcile(shared: &Arc<Shared>, rng: &mut Rng) {
    let pods = shared.store.list("pods", None).0;
    let classes = shared.store.list(store_of("priorityclasses"), None).0;
    let mut owned: HashMap<&str, Vec<&Value>> = HashMap::new();
    for p in &pods {
        if let Some(r) = controller_ref(p)
            .and_then(|r| r.get("uid"))
            .and_then(Value::as_str)
        {
            owned.entry(r).or_default().push(p);
        }
    }
    for sts in shared.store.list(store_of("statefulsets"), None).0 {
        let mine = owned.get(uid(&sts)).map(Vec::as_slice).unwrap_or(&[]);
        statefulset(shared, &sts, mine, &classes);
    }
    for deploy in shared.store.list(store_of("deployments"), None).0 {
        let mine = owned.get(uid(&deploy)).map(Vec::as_slice).unwrap_or(&[]);
        deployment(shared, &deploy, mine, &classes, rng);
    }
}

fn replicas(owner: &Value) -> usize {
    owner
        .pointer("/spec/replicas")
        .and_then(Value::as_u64)
        .map_or(1, |n| n as usize)
}

fn statefulset(shared: &Arc<Shared>, sts: &Value, pods: &[&Value], classes: &[Arc<Value>]) {
    let (ns, sts_name) = (namespace(sts), name(sts));
    let want = replicas(sts);
    let ordinal = |p: &Value| -> Option<usize> {
        name(p)
            .strip_prefix(sts_name)?
            .strip_prefix('-')?
            .parse()
            .ok()
    };
    for p in pods {
        let Some(i) = ordinal(p) else { continue };
        // Scale-down removes the ordinals at or above replicas; failed or succeeded pods are
        // deleted so that the ordinal is recreated (a StatefulSet keeps its pods running).
        if !terminating(p) && (i >= want || finished(p)) {
            delete_pod(shared, p);
        }
    }
    for i in 0..want {
        let pod_name = format!("{sts_name}-{i}");
        // The name is taken while any pod holds it, a terminating one included.
        if shared.store.get("pods", ns, &pod_name).is_some() {
            continue;
        }
        match pod_from_template(sts, "StatefulSet", &pod_name, classes) {
            Ok(mut pod) => {
                let labels = &mut pod["metadata"]["labels"];
                labels["statefulset.kubernetes.io/pod-name"] = json!(pod_name);
                labels["apps.kubernetes.io/pod-index"] = json!(i.to_string());
                pod["spec"]["hostname"] = json!(pod_name);
                if let Some(svc) = str_at(sts, "/spec/serviceName") {
                    pod["spec"]["subdomain"] = json!(svc);
                }
                create_pod(shared, ns, pod);
            }
            Err(e) => tracing::debug!(statefulset = sts_name, error = %e, "cannot create pod"),
        }
    }
    let live: Vec<&&Value> = pods
        .iter()
        .filter(|p| !terminating(p) && ordinal(p).is_some_and(|i| i < want))
        .collect();
    update_status(shared, "statefulsets", sts, &live);
}

fn deployment(
    shared: &Arc<Shared>,
    deploy: &Value,
    pods: &[&Value],
    classes: &[Arc<Value>],
    rng: &mut Rng,
) {
    let (ns, d_name) = (namespace(deploy), name(deploy));
    let want = replicas(deploy);
    let mut active: Vec<&Value> = pods
        .iter()
        .copied()
        .filter(|p| !terminating(p) && !finished(p))
        .collect();
    if active.len() < want {
        for _ in active.len()..want {
            let pod_name = loop {
                let n = format!("{d_name}-{}", rng.suffix());
                if shared.store.get("pods", ns, &n).is_none() {
                    break n;
                }
            };
            match pod_from_template(deploy, "Deployment", &pod_name, classes) {
                Ok(pod) => create_pod(shared, ns, pod),
                Err(e) => {
                    tracing::debug!(deployment = d_name, error = %e, "cannot create pod");
                    break;
                }
            }
        }
    } else if active.len() > want {
        // The ReplicaSet controller's order (ActivePodsWithRanks): unscheduled before
        // scheduled, pending before running, not ready before ready, pods on nodes holding more
        // of this workload's pods first, then the youngest.
        let mut per_node: HashMap<&str, usize> = HashMap::new();
        for p in &active {
            if let Some(n) = node_name(p) {
                *per_node.entry(n).or_default() += 1;
            }
        }
        active.sort_by_key(|p| {
            let running = str_at(p, "/status/phase") == Some("Running");
            (
                node_name(p).is_some(),
                running,
                ready(p),
                std::cmp::Reverse(node_name(p).map_or(0, |n| per_node[n])),
                std::cmp::Reverse(
                    str_at(p, "/metadata/creationTimestamp")
                        .unwrap_or("")
                        .to_string(),
                ),
                name(p).to_string(),
            )
        });
        for p in active.drain(..active.len() - want) {
            delete_pod(shared, p);
        }
    }
    let live: Vec<&&Value> = pods
        .iter()
        .filter(|p| !terminating(p) && !finished(p))
        .collect();
    update_status(shared, "deployments", deploy, &live);
}

fn ready(p: &Value) -> bool {
    p.pointer("/status/conditions")
        .and_then(Value::as_array)
        .is_some_and(|cs| {
            cs.iter()
                .any(|c| c["type"] == "Ready" && c["status"] == "True")
        })
}

/// A pod from the owner's template, admitted (priority resolved, defaults filled).
fn pod_from_template(
    owner: &Value,
    kind: &str,
    pod_name: &str,
    classes: &[Arc<Value>],
) -> Result<Value, String> {
    let template = owner
        .pointer("/spec/template")
        .cloned()
        .unwrap_or(json!({}));
    let mut meta = template.get("metadata").cloned().unwrap_or(json!({}));
    if !meta.is_object() {
        meta = json!({});
    }
    meta["name"] = json!(pod_name);
    meta["namespace"] = json!(namespace(owner));
    meta.as_object_mut().map(|m| m.remove("generateName"));
    if !meta["labels"].is_object() {
        meta["labels"] = json!({});
    }
    meta["ownerReferences"] = json!([{
        "apiVersion": "apps/v1",
        "kind": kind,
        "name": name(owner),
        "uid": uid(owner),
        "controller": true,
        "blockOwnerDeletion": true,
    }]);
    let mut spec = template.get("spec").cloned().unwrap_or(json!({}));
    if !spec.is_object() {
        spec = json!({});
    }
    // Defaults the API server fills in on create.
    for (field, default) in [
        ("schedulerName", json!("default-scheduler")),
        ("restartPolicy", json!("Always")),
        ("terminationGracePeriodSeconds", json!(30)),
        ("dnsPolicy", json!("ClusterFirst")),
    ] {
        if spec.get(field).is_none_or(Value::is_null) {
            spec[field] = default;
        }
    }
    admit_priority(&mut spec, classes)?;
    Ok(json!({"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec}))
}

/// The Priority admission plugin: resolve `priorityClassName` (or the global default class).
fn admit_priority(spec: &mut Value, classes: &[Arc<Value>]) -> Result<(), String> {
    let class = match str_at(spec, "/priorityClassName").filter(|n| !n.is_empty()) {
        Some(want) => Some(
            classes
                .iter()
                .find(|c| name(c) == want)
                .ok_or_else(|| format!("no PriorityClass with name {want} was found"))?,
        ),
        None => classes
            .iter()
            .filter(|c| c.get("globalDefault").and_then(Value::as_bool) == Some(true))
            .min_by_key(|c| c.get("value").and_then(Value::as_i64).unwrap_or(0)),
    };
    let (priority, policy) = match class {
        Some(c) => {
            spec["priorityClassName"] = json!(name(c));
            (
                c.get("value").and_then(Value::as_i64).unwrap_or(0),
                str_at(c, "/preemptionPolicy").unwrap_or("PreemptLowerPriority"),
            )
        }
        None => (0, "PreemptLowerPriority"),
    };
    spec["priority"] = json!(priority);
    if spec.get("preemptionPolicy").is_none_or(Value::is_null) {
        spec["preemptionPolicy"] = json!(policy);
    }
    Ok(())
}

fn create_pod(shared: &Arc<Shared>, ns: &str, pod: Value) {
    if let Err(e) = api::create(shared, def_of("pods"), ns, pod, false) {
        tracing::debug!(error = %e, "workload controller: create failed");
    }
}

fn delete_pod(shared: &Arc<Shared>, pod: &Value) {
    let opts = DeleteOpts {
        uid: Some(uid(pod).to_string()),
        ..DeleteOpts::default()
    };
    if let Err(e) = api::delete(shared, def_of("pods"), namespace(pod), name(pod), &opts) {
        tracing::debug!(pod = name(pod), error = %e, "workload controller: delete failed");
    }
}

/// Writes replicas, readyReplicas and availableReplicas when they changed (only then, so that
/// the controller's own writes settle).
fn update_status(shared: &Arc<Shared>, plural: &str, owner: &Value, live: &[&&Value]) {
    let ready_count = live.iter().filter(|p| ready(p)).count();
    let mut status = json!({
        "replicas": live.len(),
        "readyReplicas": ready_count,
        "availableReplicas": ready_count,
    });
    if let Some(g) = owner.pointer("/metadata/generation") {
        status["observedGeneration"] = g.clone();
    }
    if plural == "statefulsets" {
        status["currentReplicas"] = json!(live.len());
    }
    let current = owner.get("status").cloned().unwrap_or(json!({}));
    let changed = status
        .as_object()
        .is_some_and(|m| m.iter().any(|(k, v)| current.get(k) != Some(v)));
    if !changed {
        return;
    }
    let body = json!({"status": status}).to_string();
    if let Err(e) = api::patch(
        shared,
        def_of(plural),
        namespace(owner),
        name(owner),
        PatchType::Merge,
        body.as_bytes(),
        Part::Status,
        false,
    ) {
        tracing::debug!(error = %e, "workload controller: status update failed");
    }
}
