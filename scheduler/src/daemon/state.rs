//! The daemon's cache: the engine's [`Cluster`] (nodes and assigned pods, our
//! assumed pods included), and what the watches need to keep it right.
//!
//! Watch events become compact engine records here and nowhere else; pending
//! pods that name one of our profiles go to the scheduling queue. The cache
//! holds no API objects.

use std::collections::{HashMap, HashSet};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Node, Pod};
use score::model::{NodeSpec, PodSpec, Terminating};
use score::pod::{PodRequests, pod_requests};
use score::volumes::ClaimBinding;
use score::{Cluster, Profile};
use tokio::sync::{Notify, mpsc};
use tracing::{debug, warn};

use super::prebind::{AssumedStorage, Progress, resource_version};
use super::queue::{ClusterEvent, PendingPod, SharedQueue};
use crate::convert;

/// A pending pod as the queue carries it: the engine's view plus its
/// requests and profile, computed once. Holds no status, so a status-only
/// update compares equal and does not count as a change.
#[derive(Debug, PartialEq, Eq)]
pub struct Pending {
    /// The pod.
    pub spec: PodSpec,
    /// Its requests.
    pub requests: PodRequests,
    /// Index of its profile in the configuration.
    pub profile: usize,
}

/// The queue's payload.
pub type Payload = Arc<Pending>;

/// What to do with a pod's `status.nominatedNodeName` when reporting it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NominationUpdate {
    /// Leave it as it is.
    Keep,
    /// Set it: preemption made room on this node.
    Set(String),
    /// Clear it: the nomination no longer holds.
    Clear,
}

/// A pod nominated to a node by preemption: its room there is held against
/// pods of lower or equal priority until it binds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Nomination {
    /// The node.
    pub node: String,
    /// The pod's priority.
    pub priority: i32,
    /// cpu millicores, memory and ephemeral storage bytes.
    pub requests: [u64; 3],
}

impl Nomination {
    /// The nomination of a pod (`spec`, with its `requests`) to `node`.
    fn of(
        node: String,
        spec: &score::model::PodSpec,
        requests: &score::pod::PodRequests,
    ) -> Nomination {
        Nomination {
            node,
            priority: spec.priority,
            requests: [
                requests.cpu_milli,
                requests.memory,
                requests.ephemeral_storage,
            ],
        }
    }
}

/// Something to tell the API server about a pod that cannot be scheduled.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnschedulableReport {
    /// UID.
    pub uid: Box<str>,
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// The profile's scheduler name (the events' reporting controller).
    pub scheduler: String,
    /// `Unschedulable` (no node fits) or `SchedulerError` (the pod cannot be read).
    pub reason: &'static str,
    /// The FailedScheduling message.
    pub message: String,
    /// The nomination to write with it.
    pub nomination: NominationUpdate,
}

/// The cache.
#[derive(Debug)]
pub struct State {
    /// Nodes and assigned pods (bound or assumed).
    pub cluster: Cluster,
    /// Profiles, by index.
    pub profiles: Vec<Profile>,
    queue: SharedQueue<Payload>,
    reports: mpsc::UnboundedSender<UnschedulableReport>,
    /// Pods we assumed onto a node and whose binding the watch has not shown yet.
    assumed: HashMap<Box<str>, Box<str>>,
    /// Pending pods we put in the queue.
    pending: HashSet<Box<str>>,
    /// The PodScheduled=False message each pending pod carries (from the watch,
    /// or what we last wrote), to skip patches that change nothing.
    conditions: HashMap<Box<str>, String>,
    /// Fingerprints of what scheduling reads of each node.
    nodes: HashMap<String, NodePrints>,
    /// PodDisruptionBudgets, by namespace/name.
    pdbs: HashMap<(String, String), score::Pdb>,
    /// Pods nominated to nodes by preemption.
    nominations: HashMap<Box<str>, Nomination>,
    /// Victims we chose (and are deleting) that have not disappeared yet:
    /// they count as terminating by preemption before the watch shows it,
    /// so no later preemptor picks them again.
    victims: HashSet<Box<str>>,
    /// UIDs seen since a relist started (pods), names (nodes).
    relist_pods: Option<HashSet<Box<str>>>,
    relist_nodes: Option<HashSet<String>>,
    /// Claims and volumes assumed for pods in PreBind.
    assumed_storage: AssumedStorage,
    /// Woken on every claim, volume and pod-removal change: PreBind waits on it.
    storage_changed: Arc<Notify>,
}

/// The UID of a pod (`namespace/name` when it has none).
fn uid_of(pod: &Pod) -> Box<str> {
    match &pod.metadata.uid {
        Some(uid) if !uid.is_empty() => uid.as_str().into(),
        _ => format!(
            "{}/{}",
            pod.metadata.namespace.as_deref().unwrap_or("default"),
            pod.metadata.name.as_deref().unwrap_or_default()
        )
        .into(),
    }
}

fn pod_name(pod: &Pod) -> (String, String) {
    (
        pod.metadata
            .namespace
            .clone()
            .unwrap_or_else(|| "default".into()),
        pod.metadata.name.clone().unwrap_or_default(),
    )
}

/// Fingerprints of what scheduling reads of a node, one per aspect a
/// cluster event names, so a change requeues only the pods it may help.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct NodePrints {
    labels: u64,
    taints: u64,
    unschedulable: bool,
    allocatable: u64,
    /// Images only matter to scoring: a change updates the cache, no event.
    images: u64,
}

fn hash_of(value: &impl Hash) -> u64 {
    let mut h = DefaultHasher::new();
    value.hash(&mut h);
    h.finish()
}

impl NodePrints {
    fn of(spec: &NodeSpec) -> Self {
        let a = &spec.allocatable;
        NodePrints {
            labels: hash_of(&spec.labels),
            taints: hash_of(&spec.taints),
            unschedulable: spec.unschedulable,
            allocatable: hash_of(&(
                a.cpu_milli,
                a.memory,
                a.ephemeral_storage,
                a.pods,
                &a.extended,
            )),
            images: hash_of(
                &spec
                    .images
                    .iter()
                    .map(|i| (&i.names, i.size_bytes))
                    .collect::<Vec<_>>(),
            ),
        }
    }

    /// The events a change from `self` to `new` raises.
    fn changes(self, new: NodePrints) -> impl Iterator<Item = ClusterEvent> {
        [
            (self.labels != new.labels, ClusterEvent::NodeLabelsChanged),
            (self.taints != new.taints, ClusterEvent::NodeTaintsChanged),
            (
                self.unschedulable != new.unschedulable,
                ClusterEvent::NodeSchedulableChanged,
            ),
            (
                self.allocatable != new.allocatable,
                ClusterEvent::NodeAllocatableChanged,
            ),
        ]
        .into_iter()
        .filter_map(|(changed, event)| changed.then_some(event))
    }
}

impl State {
    /// A cache for `profiles`, feeding `queue` and `reports`.
    #[must_use]
    pub fn new(
        profiles: Vec<Profile>,
        queue: SharedQueue<Payload>,
        reports: mpsc::UnboundedSender<UnschedulableReport>,
    ) -> Self {
        let roles = crate::config::roles_of(&profiles);
        State {
            cluster: Cluster::new(roles),
            profiles,
            queue,
            reports,
            assumed: HashMap::new(),
            pending: HashSet::new(),
            conditions: HashMap::new(),
            nodes: HashMap::new(),
            pdbs: HashMap::new(),
            nominations: HashMap::new(),
            victims: HashSet::new(),
            relist_pods: None,
            relist_nodes: None,
            assumed_storage: AssumedStorage::default(),
            storage_changed: Arc::new(Notify::new()),
        }
    }

    fn profile_of(&self, pod: &Pod) -> Option<usize> {
        let name = pod
            .spec
            .as_ref()
            .and_then(|s| s.scheduler_name.as_deref())
            .unwrap_or("default-scheduler");
        self.profiles.iter().position(|p| p.scheduler_name == name)
    }

    // === nodes ===

    /// A node was added or changed.
    pub fn apply_node(&mut self, node: &Node) {
        let name = node.metadata.name.clone().unwrap_or_default();
        if let Some(seen) = &mut self.relist_nodes {
            seen.insert(name.clone());
        }
        let spec = match convert::node_spec(node) {
            Ok((spec, warnings)) => {
                for w in warnings {
                    debug!(node = %name, "{w}");
                }
                spec
            }
            Err(e) => {
                warn!("skipping node: {e}");
                return;
            }
        };
        let prints = NodePrints::of(&spec);
        let old = self.nodes.insert(name, prints);
        if old == Some(prints) {
            return;
        }
        self.cluster.upsert_node(&spec);
        match old {
            None => {
                self.queue.event(ClusterEvent::NodeAdded);
            }
            Some(old) => {
                for event in old.changes(prints) {
                    self.queue.event(event);
                }
            }
        }
    }

    /// A node was deleted (nominations to it no longer hold).
    pub fn delete_node(&mut self, name: &str) {
        self.nodes.remove(name);
        self.cluster.remove_node(name);
        self.nominations.retain(|_, n| n.node != name);
    }

    /// A node relist starts.
    pub fn nodes_relist_start(&mut self) {
        self.relist_nodes = Some(HashSet::new());
    }

    /// A node relist ended: nodes it did not list are gone.
    pub fn nodes_relist_done(&mut self) {
        let Some(seen) = self.relist_nodes.take() else {
            return;
        };
        let gone: Vec<String> = self
            .nodes
            .keys()
            .filter(|n| !seen.contains(*n))
            .cloned()
            .collect();
        for name in gone {
            self.delete_node(&name);
        }
    }

    // === pods ===

    /// A pod was added or changed.
    pub fn apply_pod(&mut self, pod: &Pod) {
        let uid = uid_of(pod);
        if let Some(seen) = &mut self.relist_pods {
            seen.insert(uid.clone());
        }
        if convert::is_terminal(pod) {
            self.forget_pod(&uid);
            return;
        }
        let node = pod
            .spec
            .as_ref()
            .and_then(|s| s.node_name.clone())
            .filter(|n| !n.is_empty());
        if let Some(node) = node {
            self.apply_assigned(pod, &uid, &node);
        } else {
            self.apply_unassigned(pod, uid);
        }
    }

    fn apply_assigned(&mut self, pod: &Pod, uid: &str, node: &str) {
        self.assumed.remove(uid);
        self.release_volumes(uid);
        self.nominations.remove(uid);
        if self.pending.remove(uid) {
            self.queue.delete(uid);
        }
        self.conditions.remove(uid);
        // Checked before converting: the usual case is the watch confirming
        // our own binding of a pod the cache already holds there (assumed),
        // and that needs no conversion; only its deletion may have changed.
        if self.cluster.pod(uid).is_some_and(|p| p.node_name() == node) {
            let terminating = self.terminating(pod, uid);
            self.cluster.set_terminating(uid, terminating);
            return;
        }
        match convert::assigned_pod_spec(pod) {
            Ok((mut spec, warnings)) => {
                for w in warnings {
                    warn!("{w}");
                }
                spec.terminating = self.terminating(pod, uid);
                self.cluster.add_pod(&spec, node);
            }
            Err(e) => warn!("not counting a pod on node {node}: {e}"),
        }
    }

    /// Whether an assigned pod is being deleted: as the API says, or by
    /// our preemption when it is one of our victims (the watch may not show
    /// its deletion yet).
    fn terminating(&self, pod: &Pod, uid: &str) -> Terminating {
        if self.victims.contains(uid) {
            Terminating::ByPreemption
        } else {
            convert::terminating(pod)
        }
    }

    fn apply_unassigned(&mut self, pod: &Pod, uid: Box<str>) {
        if self.assumed.contains_key(&uid) {
            // Our binding is in flight; the watch has not caught up yet.
            return;
        }
        let Some(profile) = self.profile_of(pod) else {
            self.apply_foreign_nomination(pod, &uid);
            return;
        };
        if pod.metadata.deletion_timestamp.is_some() {
            self.forget_pod(&uid);
            return;
        }
        let (namespace, name) = pod_name(pod);
        if let Some(message) = pod
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .and_then(|c| {
                c.iter()
                    .find(|c| c.type_ == "PodScheduled" && c.status == "False")
            })
            .and_then(|c| c.message.clone())
        {
            self.conditions.insert(uid.clone(), message);
        }
        let nominated_node = pod
            .status
            .as_ref()
            .and_then(|s| s.nominated_node_name.clone())
            .filter(|n| !n.is_empty());
        let spec = convert::check_schedulable(pod).and_then(|()| convert::pod_spec(pod));
        match spec {
            Ok(spec) => {
                let requests = pod_requests(&spec);
                // A nomination written earlier (by us before a restart, or by
                // the previous leader) still holds its room.
                if let Some(node) = nominated_node
                    && !self.nominations.contains_key(&uid)
                {
                    self.nominations
                        .insert(uid.clone(), Nomination::of(node, &spec, &requests));
                }
                let entry = PendingPod {
                    uid: uid.clone(),
                    key: format!("{namespace}/{name}").into(),
                    priority: spec.priority,
                    gated: convert::scheduling_gated(pod),
                    payload: Arc::new(Pending {
                        spec,
                        requests,
                        profile,
                    }),
                };
                self.pending.insert(uid);
                self.queue.upsert(entry);
            }
            Err(e) => {
                // A pod we cannot read is reported, never silently dropped.
                if self.pending.remove(&uid) {
                    self.queue.delete(&uid);
                }
                let report = UnschedulableReport {
                    uid,
                    namespace,
                    name,
                    scheduler: self.profiles[profile].scheduler_name.clone(),
                    reason: "SchedulerError",
                    message: e.to_string(),
                    nomination: NominationUpdate::Keep,
                };
                let _ = self.reports.send(report);
            }
        }
    }

    /// A pending pod of another scheduler. When that scheduler's preemption
    /// nominated it to a node, its room there is held against our pods of
    /// lower or equal priority, as for our own nominations: otherwise the
    /// placeholders it evicted come back into the room it freed, and it
    /// preempts them again, forever (z2jh#1592, kubernetes#130429; an image
    /// puller at priority -5 against placeholders at -10 is the z2jh case).
    fn apply_foreign_nomination(&mut self, pod: &Pod, uid: &str) {
        let node = pod
            .status
            .as_ref()
            .and_then(|s| s.nominated_node_name.clone())
            .filter(|n| !n.is_empty() && pod.metadata.deletion_timestamp.is_none());
        let Some(node) = node else {
            if self.nominations.remove(uid).is_some() {
                self.queue.event(ClusterEvent::AssignedPodRemoved);
            }
            return;
        };
        match convert::pod_spec(pod) {
            Ok(spec) => {
                let requests = pod_requests(&spec);
                self.nominations
                    .insert(uid.into(), Nomination::of(node, &spec, &requests));
            }
            Err(e) => {
                let (namespace, name) = pod_name(pod);
                debug!("not holding room on {node} for {namespace}/{name}: {e}");
            }
        }
    }

    /// A pod was deleted (or finished).
    pub fn delete_pod(&mut self, pod: &Pod) {
        let uid = uid_of(pod);
        self.forget_pod(&uid);
    }

    fn forget_pod(&mut self, uid: &str) {
        self.assumed.remove(uid);
        self.release_volumes(uid);
        if self.nominations.remove(uid).is_some() {
            // The room it held is free.
            self.queue.event(ClusterEvent::AssignedPodRemoved);
        }
        self.victims.remove(uid);
        self.conditions.remove(uid);
        if self.pending.remove(uid) {
            self.queue.delete(uid);
        }
        if self.cluster.remove_pod(uid) {
            self.queue.event(ClusterEvent::AssignedPodRemoved);
        }
    }

    /// A pod relist starts.
    pub fn pods_relist_start(&mut self) {
        self.relist_pods = Some(HashSet::new());
    }

    /// A pod relist ended: pods it did not list are gone (our assumed pods stay).
    pub fn pods_relist_done(&mut self) {
        let Some(seen) = self.relist_pods.take() else {
            return;
        };
        let gone: Vec<Box<str>> = self
            .cluster
            .pod_uids()
            .chain(self.pending.iter().map(|u| &**u))
            .filter(|u| !seen.contains(*u) && !self.assumed.contains_key(*u))
            .map(Into::into)
            .collect();
        for uid in gone {
            self.forget_pod(&uid);
        }
    }

    // === the scheduling cycle's side ===

    /// Records a decision: the pod is on `node` from now on.
    pub fn assume(&mut self, pending: &Pending, node: &str) {
        self.cluster
            .add_pod_with_requests(&pending.spec, &pending.requests, node);
        self.assumed
            .insert(pending.spec.uid.as_str().into(), node.into());
    }

    /// Undoes [`assume`](Self::assume) after a failed binding (unless the watch
    /// has meanwhile shown the pod bound).
    pub fn forget_assumed(&mut self, uid: &str) {
        self.release_volumes(uid);
        if self.assumed.remove(uid).is_some() {
            self.cluster.remove_pod(uid);
        }
    }

    /// Whether a pod is assumed and not yet confirmed by the watch.
    #[must_use]
    pub fn is_assumed(&self, uid: &str) -> bool {
        self.assumed.contains_key(uid)
    }

    /// Number of assumed pods.
    #[must_use]
    pub fn assumed_count(&self) -> usize {
        self.assumed.len()
    }

    /// Whether `message` differs from the PodScheduled=False message the pod
    /// carries; records it as carried.
    pub fn condition_changed(&mut self, uid: &str, message: &str) -> bool {
        if self.conditions.get(uid).is_some_and(|m| m == message) {
            return false;
        }
        self.conditions.insert(uid.into(), message.to_string());
        true
    }

    /// Forgets a recorded condition (so a failed patch is retried next time).
    pub fn clear_condition(&mut self, uid: &str) {
        self.conditions.remove(uid);
    }

    /// Whether a pod is still waiting for us (pending and not deleted).
    #[must_use]
    pub fn is_pending(&self, uid: &str) -> bool {
        self.pending.contains(uid)
    }

    /// Sends a report to the reporter task.
    pub fn report(&self, report: UnschedulableReport) {
        let _ = self.reports.send(report);
    }

    // === storage ===

    /// Claims, volumes, classes and CSI limits are watched: the volume
    /// filters run from now on.
    pub fn track_storage(&mut self) {
        self.cluster.storage.set_tracked(true);
    }

    /// A PersistentVolumeClaim was added or changed.
    pub fn apply_claim(&mut self, pvc: &k8s_openapi::api::core::v1::PersistentVolumeClaim) {
        match convert::claim(pvc) {
            Ok(c) => {
                let rv = resource_version(pvc.metadata.resource_version.as_deref());
                let c = self.assumed_storage.claim_from_api(c, rv);
                self.cluster.storage.upsert_claim(c);
                self.storage_changed.notify_waiters();
                self.queue.event(ClusterEvent::StorageChanged);
            }
            Err(e) => warn!("skipping a PersistentVolumeClaim: {e}"),
        }
    }

    /// A PersistentVolumeClaim was deleted.
    pub fn delete_claim(&mut self, namespace: &str, name: &str) {
        self.assumed_storage.claim_deleted(namespace, name);
        self.cluster.storage.remove_claim(namespace, name);
        self.storage_changed.notify_waiters();
    }

    /// A PersistentVolume was added or changed.
    pub fn apply_volume(&mut self, pv: &k8s_openapi::api::core::v1::PersistentVolume) {
        match convert::volume(pv) {
            Ok(v) => {
                let rv = resource_version(pv.metadata.resource_version.as_deref());
                let v = self.assumed_storage.volume_from_api(v, rv);
                self.cluster.storage.upsert_volume(v);
                self.storage_changed.notify_waiters();
                self.queue.event(ClusterEvent::StorageChanged);
            }
            Err(e) => warn!("skipping a PersistentVolume: {e}"),
        }
    }

    /// A PersistentVolume was deleted.
    pub fn delete_volume(&mut self, name: &str) {
        self.assumed_storage.volume_deleted(name);
        self.cluster.storage.remove_volume(name);
        self.storage_changed.notify_waiters();
    }

    /// A StorageClass was added or changed.
    pub fn apply_class(&mut self, sc: &k8s_openapi::api::storage::v1::StorageClass) {
        self.cluster
            .storage
            .upsert_class(convert::storage_class(sc));
        self.queue.event(ClusterEvent::StorageChanged);
    }

    /// A StorageClass was deleted.
    pub fn delete_class(&mut self, name: &str) {
        self.cluster.storage.remove_class(name);
    }

    /// A CSINode was added or changed.
    pub fn apply_csi_node(&mut self, node: &k8s_openapi::api::storage::v1::CSINode) {
        let (name, limits) = convert::csi_limits(node);
        self.cluster.storage.set_csi_limits(&name, limits);
        self.queue.event(ClusterEvent::StorageChanged);
    }

    /// A CSINode was deleted.
    pub fn delete_csi_node(&mut self, name: &str) {
        self.cluster.storage.remove_csi_limits(name);
    }

    /// A CSIDriver was added or changed (whether it publishes capacity).
    pub fn apply_csi_driver(&mut self, driver: &k8s_openapi::api::storage::v1::CSIDriver) {
        let (name, reports) = convert::csi_driver(driver);
        self.cluster.storage.set_driver_capacity(&name, reports);
        self.queue.event(ClusterEvent::StorageChanged);
    }

    /// A CSIDriver was deleted.
    pub fn delete_csi_driver(&mut self, name: &str) {
        self.cluster.storage.set_driver_capacity(name, false);
        self.queue.event(ClusterEvent::StorageChanged);
    }

    /// A CSIStorageCapacity was added or changed.
    pub fn apply_storage_capacity(
        &mut self,
        capacity: &k8s_openapi::api::storage::v1::CSIStorageCapacity,
    ) {
        match convert::storage_capacity(capacity) {
            Ok(c) => {
                let (ns, name) = (
                    capacity.metadata.namespace.as_deref().unwrap_or_default(),
                    capacity.metadata.name.as_deref().unwrap_or_default(),
                );
                self.cluster.storage.upsert_capacity(ns, name, c);
                self.queue.event(ClusterEvent::StorageChanged);
            }
            Err(e) => warn!("skipping a CSIStorageCapacity: {e}"),
        }
    }

    /// A CSIStorageCapacity was deleted.
    pub fn delete_storage_capacity(&mut self, namespace: &str, name: &str) {
        self.cluster.storage.remove_capacity(namespace, name);
    }

    // === volume binding (Reserve and PreBind, see `prebind`) ===

    /// Reserve: the cache shows `bindings` made for the pod on `node`.
    pub fn reserve_volumes(&mut self, uid: &str, node: &str, bindings: &[ClaimBinding]) {
        self.assumed_storage
            .reserve(&mut self.cluster, uid, node, bindings);
    }

    /// PreBind's writes landed at these resourceVersions.
    pub fn volumes_written(&mut self, written: &[(ClaimBinding, Option<u64>)]) {
        for (b, rv) in written {
            match &b.volume {
                Some(v) => self
                    .assumed_storage
                    .volume_written(&mut self.cluster, v, *rv),
                None => {
                    self.assumed_storage.claim_written(
                        &mut self.cluster,
                        &b.namespace,
                        &b.claim,
                        *rv,
                    );
                }
            }
        }
    }

    /// How the pod's PreBind on `node` stands.
    #[must_use]
    pub fn volume_progress(&self, uid: &str, node: &str) -> Progress {
        match self.cluster.node_index(node) {
            // Assumed yet holding nothing would be our bug: requeue the pod
            // rather than lose it.
            Some(i) if self.is_assumed(uid) => {
                match self.assumed_storage.progress(&self.cluster, uid, i) {
                    Progress::Gone => Progress::Failed("its volume assumptions were lost".into()),
                    p => p,
                }
            }
            Some(_) => Progress::Gone,
            None => Progress::Failed(format!("node {node:?} was deleted")),
        }
    }

    /// Unreserve, or the end of a PreBind: the cache holds what the API says
    /// of the pod's claims and volumes again.
    pub fn release_volumes(&mut self, uid: &str) {
        if self.assumed_storage.holds(uid) {
            self.assumed_storage.release(&mut self.cluster, uid);
            self.storage_changed.notify_waiters();
        }
    }

    /// What PreBind waits on: woken by every claim and volume change and by
    /// a pod letting go of its assumptions.
    #[must_use]
    pub fn storage_changed(&self) -> Arc<Notify> {
        self.storage_changed.clone()
    }

    // === preemption ===

    /// A PodDisruptionBudget was added or changed.
    pub fn apply_pdb(&mut self, pdb: &k8s_openapi::api::policy::v1::PodDisruptionBudget) {
        match convert::pdb(pdb) {
            Ok(p) => {
                self.pdbs.insert((p.namespace.clone(), p.name.clone()), p);
                self.queue.event(ClusterEvent::PdbChanged);
            }
            Err(e) => warn!("skipping a PodDisruptionBudget: {e}"),
        }
    }

    /// A PodDisruptionBudget was deleted.
    pub fn delete_pdb(&mut self, namespace: &str, name: &str) {
        if self
            .pdbs
            .remove(&(namespace.to_string(), name.to_string()))
            .is_some()
        {
            self.queue.event(ClusterEvent::PdbChanged);
        }
    }

    /// The PodDisruptionBudgets preemption must respect.
    #[must_use]
    pub fn pdbs(&self) -> Vec<score::Pdb> {
        self.pdbs.values().cloned().collect()
    }

    /// The node a pod is nominated to.
    #[must_use]
    pub fn nomination(&self, uid: &str) -> Option<&Nomination> {
        self.nominations.get(uid)
    }

    /// Nominates a pod to a node; lower-priority pods nominated there lose
    /// their nomination (as kube clears them).
    pub fn nominate(&mut self, uid: &str, nomination: Nomination) {
        self.nominations
            .retain(|_, n| !(n.node == nomination.node && n.priority < nomination.priority));
        self.nominations.insert(uid.into(), nomination);
    }

    /// Drops a pod's nomination.
    pub fn clear_nomination(&mut self, uid: &str) -> bool {
        self.nominations.remove(uid).is_some()
    }

    /// Every nomination as the engine holds it in its filters.
    #[must_use]
    pub fn nominated(&self) -> Vec<score::schedule::Nominated> {
        self.nominations
            .iter()
            .filter_map(|(uid, n)| {
                Some(score::schedule::Nominated {
                    uid: uid.to_string(),
                    priority: n.priority,
                    node: self.cluster.node_index(&n.node)?,
                    requests: n.requests,
                })
            })
            .collect()
    }

    /// Records the victims of a preemption, before they are deleted: from
    /// now on they are terminating by preemption in the cache, so no other
    /// preemptor picks them (each is deleted and announced once), and their
    /// preemptor waits for them instead of preempting again.
    pub fn add_victims<'a>(&mut self, uids: impl IntoIterator<Item = &'a str>) {
        for uid in uids {
            self.victims.insert(uid.into());
            self.cluster.set_terminating(uid, Terminating::ByPreemption);
        }
    }

    /// A victim whose deletion failed: it is not terminating after all (or
    /// is already gone, which the watch will show).
    pub fn drop_victim(&mut self, uid: &str) {
        if self.victims.remove(uid) {
            self.cluster.set_terminating(uid, Terminating::No);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use score::testing::{GI, node};

    #[test]
    fn a_node_change_raises_the_events_of_what_changed() {
        let base = node("n").capacity(4000, 16 * GI).label("zone", "a").build();
        let prints = NodePrints::of(&base);
        let events =
            |changed: &NodeSpec| prints.changes(NodePrints::of(changed)).collect::<Vec<_>>();
        assert_eq!(events(&base), vec![]);
        let relabelled = node("n").capacity(4000, 16 * GI).label("zone", "b").build();
        assert_eq!(events(&relabelled), vec![ClusterEvent::NodeLabelsChanged]);
        let mut cordoned = base.clone();
        cordoned.unschedulable = true;
        assert_eq!(
            events(&cordoned),
            vec![ClusterEvent::NodeSchedulableChanged]
        );
        let mut grown = node("n").capacity(8000, 32 * GI).label("zone", "a").build();
        assert_eq!(events(&grown), vec![ClusterEvent::NodeAllocatableChanged]);
        grown.taints = relabelled.taints.clone();
        grown.taints.push(score::model::Taint {
            key: "maintenance".into(),
            value: String::new(),
            effect: score::model::TaintEffect::NoSchedule,
        });
        assert_eq!(
            events(&grown),
            vec![
                ClusterEvent::NodeTaintsChanged,
                ClusterEvent::NodeAllocatableChanged
            ]
        );
        // Images matter to scoring only: no event.
        let mut pulled = base.clone();
        pulled.images.push(score::model::NodeImage {
            names: vec!["jupyter/base".into()],
            size_bytes: 1 << 30,
        });
        assert_ne!(NodePrints::of(&pulled), prints);
        assert_eq!(events(&pulled), vec![]);
    }
}
