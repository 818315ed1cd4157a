//! A dynamic-provisioner stand-in (an external CSI provisioner) together with the binding half
//! of the kube PersistentVolume controller.
//!
//! - **Provisioning.** A claim with no `spec.volumeName` whose StorageClass names a handled
//!   provisioner gets a PersistentVolume `pvc-<claim uid>`: for `WaitForFirstConsumer` classes
//!   once the claim carries `volume.kubernetes.io/selected-node` and the configured delay has
//!   passed on the sandbox clock (the PV's node affinity is the selected node's zone, or its
//!   hostname when it has no zone label); for `Immediate` classes at once, on no particular
//!   node. A failed attempt (the [`ProvisionerOptions::fail`] predicate) removes the
//!   selected-node annotation, as a real external-provisioner does to ask for rescheduling.
//! - **Binding.** A PersistentVolume whose `spec.claimRef` names a claim without
//!   `spec.volumeName` (a provisioned one, or one pre-bound by a scheduler) is bound: the PV's
//!   phase becomes `Bound`, the claim gets `spec.volumeName`, the `bind-completed` and
//!   `bound-by-controller` annotations, phase `Bound`, the PV's capacity and access modes.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde_json::{Map, Value, json};

use super::{def_of, name, namespace, str_at, terminating, uid, wait_for_work};
use crate::api::{self, Part, PatchType, Shared};
use crate::status::ApiError;

/// The annotation a scheduler sets on a WaitForFirstConsumer claim to pick the node.
pub const SELECTED_NODE: &str = "volume.kubernetes.io/selected-node";
/// The annotation the PV controller sets on a claim whose binding is complete.
pub const BIND_COMPLETED: &str = "pv.kubernetes.io/bind-completed";
/// The annotation the PV controller sets on a claim it bound.
pub const BOUND_BY_CONTROLLER: &str = "pv.kubernetes.io/bound-by-controller";
/// The zone label of nodes and provisioned PVs.
pub const ZONE_LABEL: &str = "topology.kubernetes.io/zone";
/// The hostname label of nodes, used for node affinity when a node has no zone.
pub const HOSTNAME_LABEL: &str = "kubernetes.io/hostname";

/// Decides whether provisioning a claim (the stored object) for a selected node fails.
#[derive(Clone)]
pub struct FailPredicate(Arc<FailFn>);

type FailFn = dyn Fn(&Value, &str) -> bool + Send + Sync;

impl FailPredicate {
    /// A predicate from a function of the claim and the selected node's name. It is called once
    /// per provisioning attempt (a claim and a selected node, after the delay), so it may keep
    /// state, for example to fail only the first attempt.
    pub fn new(f: impl Fn(&Value, &str) -> bool + Send + Sync + 'static) -> Self {
        Self(Arc::new(f))
    }

    /// Fails every attempt for claims whose name starts with `prefix`.
    pub fn claim_name_prefix(prefix: impl Into<String>) -> Self {
        let prefix = prefix.into();
        Self::new(move |claim, _| name(claim).starts_with(&prefix))
    }

    /// Whether the attempt for `claim` on `node` fails.
    pub fn fails(&self, claim: &Value, node: &str) -> bool {
        (self.0)(claim, node)
    }
}

impl fmt::Debug for FailPredicate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("FailPredicate(..)")
    }
}

/// Options of the provisioner stand-in.
#[derive(Debug, Clone)]
pub struct ProvisionerOptions {
    /// The StorageClass `provisioner` values handled. Default `pd.csi.storage.gke.io`.
    pub provisioners: Vec<String>,
    /// Sandbox time from a claim getting its selected node to its PV being created
    /// (WaitForFirstConsumer classes). Default 5 s.
    pub delay: Duration,
    /// When set and true for a WaitForFirstConsumer claim and its selected node, the attempt
    /// fails: the selected-node annotation is removed and nothing is created. Immediate claims
    /// are not asked.
    pub fail: Option<FailPredicate>,
}

impl Default for ProvisionerOptions {
    fn default() -> Self {
        Self {
            provisioners: vec!["pd.csi.storage.gke.io".into()],
            delay: Duration::from_secs(5),
            fail: None,
        }
    }
}

pub(super) async fn run(
    shared: Arc<Shared>,
    mut stop: tokio::sync::watch::Receiver<bool>,
    opts: ProvisionerOptions,
) {
    let mut changes = shared.store.subscribe();
    // (claim uid, selected node) → when the attempt completes.
    let mut pending: HashMap<(String, String), SystemTime> = HashMap::new();
    loop {
        if super::stopped(&shared, &stop) {
            return;
        }
        let next = reconcile(&shared, &opts, &mut pending);
        if !wait_for_work(&shared, &mut changes, &mut stop, next).await {
            return;
        }
    }
}

fn reconcile(
    shared: &Arc<Shared>,
    opts: &ProvisionerOptions,
    pending: &mut HashMap<(String, String), SystemTime>,
) -> Option<SystemTime> {
    let pvcs = def_of("persistentvolumeclaims");
    let pvs = shared.store.list(def_of("persistentvolumes").store, None).0;
    // Claims some PV already points at: they are bound (or being bound), not provisioned.
    let mut claimed: HashSet<(String, String)> = HashSet::new();
    for pv in &pvs {
        let Some(cref) = pv.pointer("/spec/claimRef") else {
            continue;
        };
        let (ns, n) = (
            str_at(cref, "/namespace").unwrap_or(""),
            str_at(cref, "/name").unwrap_or(""),
        );
        let Some(claim) = shared.store.get(pvcs.store, ns, n) else {
            continue;
        };
        if str_at(cref, "/uid").is_some_and(|u| !u.is_empty() && u != uid(&claim)) {
            continue;
        }
        claimed.insert((ns.to_string(), n.to_string()));
        if let Err(e) = bind(shared, pv, &claim) {
            tracing::debug!(pv = name(pv), error = %e, "provisioner: binding failed");
        }
    }

    let now = shared.clock.now();
    let classes: HashMap<String, Arc<Value>> = shared
        .store
        .list(def_of("storageclasses").store, None)
        .0
        .into_iter()
        .map(|c| (name(&c).to_string(), c))
        .collect();
    let mut next: Option<SystemTime> = None;
    let mut seen = HashSet::new();
    for claim in shared.store.list(pvcs.store, None).0 {
        let key = (namespace(&claim).to_string(), name(&claim).to_string());
        if terminating(&claim)
            || claimed.contains(&key)
            || str_at(&claim, "/spec/volumeName").is_some_and(|v| !v.is_empty())
        {
            continue;
        }
        let Some(class) = str_at(&claim, "/spec/storageClassName").and_then(|c| classes.get(c))
        else {
            continue;
        };
        let provisioner = str_at(class, "/provisioner").unwrap_or("");
        if !opts.provisioners.iter().any(|p| p == provisioner) {
            continue;
        }
        let wait = str_at(class, "/volumeBindingMode") == Some("WaitForFirstConsumer");
        if !wait {
            provision(shared, &claim, class, None);
            continue;
        }
        let annotation = format!("/metadata/annotations/{}", SELECTED_NODE.replace('/', "~1"));
        let Some(node) = str_at(&claim, &annotation).filter(|n| !n.is_empty()) else {
            continue;
        };
        let attempt = (uid(&claim).to_string(), node.to_string());
        let due = *pending.entry(attempt.clone()).or_insert(now + opts.delay);
        seen.insert(attempt.clone());
        if due > now {
            next = Some(next.map_or(due, |n: SystemTime| n.min(due)));
            continue;
        }
        pending.remove(&attempt);
        let node_obj = shared.store.get(def_of("nodes").store, "", node);
        let failed = opts.fail.as_ref().is_some_and(|f| f.fails(&claim, node));
        match node_obj {
            Some(n) if !failed => provision(shared, &claim, class, Some(&n)),
            // A failed attempt, or a selected node that does not exist: ask for rescheduling.
            _ => reschedule(shared, &claim, &annotation, node),
        }
    }
    pending.retain(|k, _| seen.contains(k));
    next
}

/// Removes the selected-node annotation (if it still names `node`), nothing else.
fn reschedule(shared: &Arc<Shared>, claim: &Value, annotation: &str, node: &str) {
    let patch = json!([
        {"op": "test", "path": "/metadata/uid", "value": uid(claim)},
        {"op": "test", "path": annotation, "value": node},
        {"op": "remove", "path": annotation},
    ]);
    if let Err(e) = write(
        shared,
        claim,
        "persistentvolumeclaims",
        PatchType::Json,
        &patch,
        Part::Main,
    ) {
        tracing::debug!(claim = name(claim), error = %e, "provisioner: reschedule failed");
    }
}

/// Creates the claim's PV (bound to it through claimRef; [`bind`] completes the binding).
fn provision(shared: &Arc<Shared>, claim: &Value, class: &Value, node: Option<&Value>) {
    let Some(storage) = claim.pointer("/spec/resources/requests/storage").cloned() else {
        tracing::debug!(
            claim = name(claim),
            "provisioner: claim requests no storage"
        );
        return;
    };
    let driver = str_at(class, "/provisioner").unwrap_or("");
    let pv_name = format!("pvc-{}", uid(claim));
    let mut labels = Map::new();
    let mut pv = json!({
        "apiVersion": "v1",
        "kind": "PersistentVolume",
        "metadata": {
            "name": pv_name,
            "annotations": {"pv.kubernetes.io/provisioned-by": driver},
        },
        "spec": {
            "storageClassName": str_at(claim, "/spec/storageClassName"),
            "capacity": {"storage": storage},
            "accessModes": claim.pointer("/spec/accessModes").cloned().unwrap_or(json!([])),
            "volumeMode": str_at(claim, "/spec/volumeMode").unwrap_or("Filesystem"),
            "persistentVolumeReclaimPolicy": str_at(class, "/reclaimPolicy").unwrap_or("Delete"),
            "csi": {"driver": driver, "volumeHandle": format!("sandbox/{driver}/{pv_name}")},
            "claimRef": {
                "kind": "PersistentVolumeClaim",
                "apiVersion": "v1",
                "namespace": namespace(claim),
                "name": name(claim),
                "uid": uid(claim),
            },
        },
    });
    if let Some(node) = node {
        let zone = str_at(
            node,
            &format!("/metadata/labels/{}", ZONE_LABEL.replace('/', "~1")),
        );
        let (key, value) = match zone {
            Some(z) => {
                labels.insert(ZONE_LABEL.into(), json!(z));
                (ZONE_LABEL, z)
            }
            None => (
                HOSTNAME_LABEL,
                str_at(
                    node,
                    &format!("/metadata/labels/{}", HOSTNAME_LABEL.replace('/', "~1")),
                )
                .unwrap_or_else(|| name(node)),
            ),
        };
        pv["spec"]["nodeAffinity"] = json!({"required": {"nodeSelectorTerms": [
            {"matchExpressions": [{"key": key, "operator": "In", "values": [value]}]}
        ]}});
    }
    if !labels.is_empty() {
        pv["metadata"]["labels"] = Value::Object(labels);
    }
    match api::create(shared, def_of("persistentvolumes"), "", pv, false) {
        Ok(_) | Err(ApiError::AlreadyExists { .. }) => {}
        Err(e) => tracing::debug!(claim = name(claim), error = %e, "provisioner: PV create failed"),
    }
}

/// Completes the binding of `pv` (whose claimRef names `claim`), as the PV controller does; each
/// step is written only when missing.
fn bind(shared: &Arc<Shared>, pv: &Value, claim: &Value) -> Result<(), ApiError> {
    let pv_name = name(pv);
    match str_at(claim, "/spec/volumeName").filter(|v| !v.is_empty()) {
        Some(v) if v != pv_name => return Ok(()),
        Some(_) => {}
        None => {
            if terminating(claim)
                || str_at(claim, "/spec/storageClassName").unwrap_or("")
                    != str_at(pv, "/spec/storageClassName").unwrap_or("")
            {
                return Ok(());
            }
            let patch = json!({
                "metadata": {
                    "resourceVersion": str_at(claim, "/metadata/resourceVersion"),
                    "annotations": {BIND_COMPLETED: "yes", BOUND_BY_CONTROLLER: "yes"},
                },
                "spec": {"volumeName": pv_name},
            });
            write(
                shared,
                claim,
                "persistentvolumeclaims",
                PatchType::Merge,
                &patch,
                Part::Main,
            )?;
        }
    }
    if str_at(pv, "/spec/claimRef/uid").is_none_or(str::is_empty) {
        let patch = json!({"spec": {"claimRef": {"uid": uid(claim)}},
                           "metadata": {"resourceVersion": str_at(pv, "/metadata/resourceVersion")}});
        write(
            shared,
            pv,
            "persistentvolumes",
            PatchType::Merge,
            &patch,
            Part::Main,
        )?;
    }
    if str_at(pv, "/status/phase") != Some("Bound") {
        let patch = json!({"status": {"phase": "Bound"}});
        write(
            shared,
            pv,
            "persistentvolumes",
            PatchType::Merge,
            &patch,
            Part::Status,
        )?;
    }
    if str_at(claim, "/status/phase") != Some("Bound") {
        let patch = json!({"status": {
            "phase": "Bound",
            "capacity": pv.pointer("/spec/capacity").cloned().unwrap_or(json!({})),
            "accessModes": pv.pointer("/spec/accessModes").cloned().unwrap_or(json!([])),
        }});
        write(
            shared,
            claim,
            "persistentvolumeclaims",
            PatchType::Merge,
            &patch,
            Part::Status,
        )?;
    }
    Ok(())
}

fn write(
    shared: &Arc<Shared>,
    obj: &Value,
    plural: &str,
    ptype: PatchType,
    patch: &Value,
    part: Part,
) -> Result<Value, ApiError> {
    api::patch(
        shared,
        def_of(plural),
        namespace(obj),
        name(obj),
        ptype,
        patch.to_string().as_bytes(),
        part,
        false,
    )
}
