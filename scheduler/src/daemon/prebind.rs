//! kube's VolumeBinding Reserve and PreBind, for pods whose home-directory
//! claims are not bound yet (WaitForFirstConsumer classes, z2jh#1300).
//!
//! - **Reserve**, in the scheduling cycle under the cache lock: the engine
//!   says how each unbound claim binds on the chosen node
//!   ([`score::volumes::claim_bindings`]); the cache shows a chosen static
//!   volume as claimed (`claimRef`) and a claim to provision as annotated
//!   `volume.kubernetes.io/selected-node: <node>` ([`AssumedStorage`]), so the
//!   next decisions neither hand the same volume to another claim nor put
//!   another pod of the same claim on another node.
//! - **PreBind**, in the pod's own task: the API writes (each static
//!   volume's `claimRef`, then each claim's annotation), then a wait until
//!   every claim is bound, woken by the storage watches rather than polling,
//!   holding no binding slot and not blocking the scheduling loop. The pod is
//!   bound only then.
//! - The wait fails, like kube's `checkBindings`, when the provisioner removes
//!   or changes the annotation (its way of asking for another node), a
//!   volume's `claimRef` is reset, a claim is bound to a volume whose node
//!   affinity excludes the node, or the timeout (VolumeBinding
//!   `bindTimeoutSeconds`, 600 s by default) passes. The cycle then undoes
//!   the assumptions and backs the pod off with a FailedScheduling event.
//!
//! Watch events that predate our writes must not undo what the cache
//! assumed: an event whose resourceVersion is older than our write's keeps the
//! assumption; one at or after it is the truth (kube's assume cache compares
//! resourceVersions the same way).

use std::collections::HashMap;
use std::time::Duration;

use k8s_openapi::api::core::v1::{ObjectReference, PersistentVolume, PersistentVolumeClaim};
use kube::api::{Api, Patch, PatchParams, PostParams};
use score::Cluster;
use score::volumes::{Claim, ClaimBinding, Volume, volume_admits_node};
use tokio::time::Instant;

use super::cycle::Context;

/// The annotation that tells the provisioner which node a claim is for.
pub const SELECTED_NODE: &str = "volume.kubernetes.io/selected-node";

/// A claim's `(namespace, name)`; a volume's `("", name)`.
type Key = (String, String);

/// A record Reserve can show assumed in the cache.
trait Assumable: Clone {
    /// What is assumed: a claim's selected node, a volume's claim.
    type Mark: std::fmt::Debug;
    /// The record as Reserve shows it.
    fn marked(self, mark: &Self::Mark) -> Self;
}

impl Assumable for Claim {
    type Mark = String;
    fn marked(self, node: &String) -> Claim {
        Claim {
            selected_node: Some(node.clone()),
            ..self
        }
    }
}

impl Assumable for Volume {
    type Mark = Key;
    fn marked(self, claim: &Key) -> Volume {
        Volume {
            claim_ref: Some(claim.clone()),
            ..self
        }
    }
}

/// One assumed claim or volume.
#[derive(Debug)]
struct Assumed<R: Assumable> {
    /// The pods in PreBind that rely on it (pods sharing a claim share its node).
    pods: Vec<Box<str>>,
    mark: R::Mark,
    /// resourceVersion of our latest write, once it is done.
    written: Option<u64>,
    /// What the API last said of the record (restored when the last pod lets
    /// go), and at which resourceVersion.
    api: Option<R>,
    api_rv: Option<u64>,
}

/// The assumed records of one kind.
#[derive(Debug)]
struct Table<R: Assumable>(HashMap<Key, Assumed<R>>);

impl<R: Assumable> Default for Table<R> {
    fn default() -> Self {
        Table(HashMap::new())
    }
}

impl<R: Assumable> Table<R> {
    /// Reserve for `pod`; the record to show in the cache, unless another
    /// pod assumed it already (or the cache does not hold it).
    fn reserve(&mut self, key: Key, pod: &str, mark: R::Mark, current: Option<&R>) -> Option<R> {
        if let Some(a) = self.0.get_mut(&key) {
            a.pods.push(pod.into());
            return None;
        }
        let api = current.cloned();
        let shown = api.clone().map(|r| r.marked(&mark));
        self.0.insert(
            key,
            Assumed {
                pods: vec![pod.into()],
                mark,
                written: None,
                api,
                api_rv: None,
            },
        );
        shown
    }

    /// Our write landed at `rv`. The watch may have shown that write, or a
    /// later change, before we knew its version: then that API record is
    /// what the cache holds from now on (returned).
    fn written(&mut self, key: &Key, rv: Option<u64>) -> Option<R> {
        let a = self.0.get_mut(key)?;
        a.written = a.written.max(rv);
        a.api.clone().filter(|_| reflects(a.api_rv, a.written))
    }

    /// A record from the watch at `rv`: what the cache holds.
    fn seen(&mut self, key: &Key, record: R, rv: Option<u64>) -> R {
        let Some(a) = self.0.get_mut(key) else {
            return record;
        };
        a.api = Some(record.clone());
        a.api_rv = rv;
        if predates(rv, a.written) {
            record.marked(&a.mark)
        } else {
            record
        }
    }

    /// The record was deleted in the API.
    fn deleted(&mut self, key: &Key) {
        if let Some(a) = self.0.get_mut(key) {
            a.api = None;
        }
    }

    /// The records `pod` relies on.
    fn of<'a>(&'a self, pod: &'a str) -> impl Iterator<Item = (&'a Key, &'a Assumed<R>)> {
        self.0
            .iter()
            .filter(move |(_, a)| a.pods.iter().any(|p| &**p == pod))
    }

    /// `pod` lets go: the records no pod relies on any more, with what the
    /// API last said of them.
    fn release(&mut self, pod: &str) -> Vec<(Key, Option<R>)> {
        let mut freed = Vec::new();
        self.0.retain(|key, a| {
            a.pods.retain(|p| &**p != pod);
            if a.pods.is_empty() {
                freed.push((key.clone(), a.api.take()));
                return false;
            }
            true
        });
        freed
    }
}

fn volume_key(name: &str) -> Key {
    (String::new(), name.to_string())
}

/// How a pod's PreBind stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Progress {
    /// Every claim is bound to a volume that admits the node: bind the pod.
    Bound,
    /// Still waiting for the provisioner or the volume controller.
    Waiting,
    /// It cannot succeed on this node; why, in kube's words where kube has them.
    Failed(String),
    /// The pod let go of its assumptions (deleted, or bound by someone else).
    Gone,
}

/// The claims and volumes assumed for pods in PreBind (kube's assume cache).
#[derive(Debug, Default)]
pub struct AssumedStorage {
    claims: Table<Claim>,
    volumes: Table<Volume>,
}

/// A resourceVersion as a number (kube's versioner compares them so).
#[must_use]
pub fn resource_version(rv: Option<&str>) -> Option<u64> {
    rv.and_then(|v| v.parse().ok())
}

/// Whether an object at `rv` predates our write at `written` (no write yet:
/// everything does; an unreadable version: nothing does).
fn predates(rv: Option<u64>, written: Option<u64>) -> bool {
    match (rv, written) {
        (_, None) => true,
        (Some(rv), Some(w)) => rv < w,
        (None, Some(_)) => false,
    }
}

/// Whether a record the watch showed at `rv` is known to include our write
/// at `written` (the record kept from before Reserve has no known version).
fn reflects(rv: Option<u64>, written: Option<u64>) -> bool {
    matches!((rv, written), (Some(rv), Some(w)) if rv >= w)
}

impl AssumedStorage {
    /// Reserve: `cluster.storage` shows `bindings` made for `pod` on `node`
    /// (pods sharing a claim share its assumption).
    pub fn reserve(
        &mut self,
        cluster: &mut Cluster,
        pod: &str,
        node: &str,
        bindings: &[ClaimBinding],
    ) {
        let storage = &mut cluster.storage;
        for b in bindings {
            let claim = (b.namespace.clone(), b.claim.clone());
            match &b.volume {
                Some(volume) => {
                    let current = storage.volume(volume);
                    if let Some(shown) =
                        self.volumes
                            .reserve(volume_key(volume), pod, claim, current)
                    {
                        storage.upsert_volume(shown);
                    }
                }
                None => {
                    let current = storage.claim(&b.namespace, &b.claim);
                    if let Some(shown) = self.claims.reserve(claim, pod, node.to_string(), current)
                    {
                        storage.upsert_claim(shown);
                    }
                }
            }
        }
    }

    /// Our write of a claim's annotation landed at `rv`.
    pub fn claim_written(
        &mut self,
        cluster: &mut Cluster,
        namespace: &str,
        name: &str,
        rv: Option<u64>,
    ) {
        let key = (namespace.to_string(), name.to_string());
        if let Some(api) = self.claims.written(&key, rv) {
            cluster.storage.upsert_claim(api);
        }
    }

    /// Our write of a volume's claimRef landed at `rv`.
    pub fn volume_written(&mut self, cluster: &mut Cluster, name: &str, rv: Option<u64>) {
        if let Some(api) = self.volumes.written(&volume_key(name), rv) {
            cluster.storage.upsert_volume(api);
        }
    }

    /// A claim from the watch (at resourceVersion `rv`): what the cache holds.
    pub fn claim_from_api(&mut self, claim: Claim, rv: Option<u64>) -> Claim {
        let key = (claim.namespace.clone(), claim.name.clone());
        self.claims.seen(&key, claim, rv)
    }

    /// A volume from the watch (at resourceVersion `rv`): what the cache holds.
    pub fn volume_from_api(&mut self, volume: Volume, rv: Option<u64>) -> Volume {
        let key = volume_key(&volume.name);
        self.volumes.seen(&key, volume, rv)
    }

    /// A claim was deleted in the API.
    pub fn claim_deleted(&mut self, namespace: &str, name: &str) {
        self.claims
            .deleted(&(namespace.to_string(), name.to_string()));
    }

    /// A volume was deleted in the API.
    pub fn volume_deleted(&mut self, name: &str) {
        self.volumes.deleted(&volume_key(name));
    }

    /// Whether `pod` holds assumptions.
    #[must_use]
    pub fn holds(&self, pod: &str) -> bool {
        self.claims.of(pod).next().is_some() || self.volumes.of(pod).next().is_some()
    }

    /// Unreserve (and the end of a PreBind that succeeded): once no pod in
    /// PreBind relies on them, the cache holds what the API last said of the
    /// pod's claims and volumes again.
    pub fn release(&mut self, cluster: &mut Cluster, pod: &str) {
        let storage = &mut cluster.storage;
        for ((ns, name), api) in self.claims.release(pod) {
            match api {
                Some(c) => storage.upsert_claim(c),
                None => storage.remove_claim(&ns, &name),
            }
        }
        for ((_, name), api) in self.volumes.release(pod) {
            match api {
                Some(v) => storage.upsert_volume(v),
                None => storage.remove_volume(&name),
            }
        }
    }

    /// How `pod`'s PreBind on node `node` stands (kube's `checkBindings`).
    #[must_use]
    pub fn progress(&self, cluster: &Cluster, pod: &str, node: usize) -> Progress {
        if !self.holds(pod) {
            return Progress::Gone;
        }
        let storage = &cluster.storage;
        let node_name = cluster.node_name(node);
        let mut waiting = false;
        // A claim bound to a volume: is it complete, and may the node use it?
        let bound_to = |claim: &Claim| -> Result<bool, String> {
            let Some(volume) = claim
                .volume_name
                .as_deref()
                .filter(|_| claim.bind_completed)
            else {
                return Ok(false);
            };
            match storage.volume(volume) {
                // Not seen yet: the volume watch lags the claim watch.
                None => Ok(false),
                Some(v) if volume_admits_node(cluster, v, node) => Ok(true),
                Some(_) => Err(format!(
                    "pv {volume:?} node affinity doesn't match node {node_name:?}"
                )),
            }
        };
        for ((ns, name), a) in self.claims.of(pod) {
            let Some(claim) = storage.claim(ns, name) else {
                return Progress::Failed(format!("PersistentVolumeClaim {ns}/{name} was deleted"));
            };
            if claim.selected_node.as_deref() != Some(a.mark.as_str()) {
                // The provisioner gave up on the node and asks for another.
                return Progress::Failed(format!("provisioning failed for PVC {name:?}"));
            }
            match bound_to(claim) {
                Ok(true) => {}
                Ok(false) => waiting = true,
                Err(e) => return Progress::Failed(e),
            }
        }
        for ((_, name), a) in self.volumes.of(pod) {
            let Some(volume) = storage.volume(name) else {
                return Progress::Failed(format!("pv {name:?} was deleted"));
            };
            if volume.claim_ref.as_ref() != Some(&a.mark) {
                return Progress::Failed(format!("ClaimRef got reset for pv {name:?}"));
            }
            let (ns, claim) = &a.mark;
            let Some(claim) = storage.claim(ns, claim) else {
                return Progress::Failed(format!("PersistentVolumeClaim {ns}/{claim} was deleted"));
            };
            match bound_to(claim) {
                Ok(true) if claim.volume_name.as_deref() == Some(name.as_str()) => {}
                Ok(true) => {
                    return Progress::Failed(format!(
                        "PersistentVolumeClaim {ns}/{} was bound to another volume",
                        claim.name
                    ));
                }
                Ok(false) => waiting = true,
                Err(e) => return Progress::Failed(e),
            }
        }
        if waiting {
            Progress::Waiting
        } else {
            Progress::Bound
        }
    }
}

/// Why a PreBind write failed.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// The API refused or could not be reached.
    #[error("{what}: {source}")]
    Api {
        /// What was being written.
        what: String,
        /// The error.
        source: kube::Error,
    },
    /// The static volume was claimed by another claim meanwhile.
    #[error("pv {0:?} is already claimed by another PersistentVolumeClaim")]
    Claimed(String),
}

/// A written object's resourceVersion.
type Written = (ClaimBinding, Option<u64>);

/// PreBind's API writes, in kube's order: each chosen static volume's
/// `claimRef` (an update carrying the volume's resourceVersion, so a
/// concurrent claim by the volume controller makes it fail), then each claim
/// to provision's selected-node annotation (a merge patch). Returns the
/// resourceVersion of every write.
///
/// # Errors
/// The first write that failed.
pub async fn write(
    client: &kube::Client,
    node: &str,
    bindings: &[ClaimBinding],
) -> Result<Vec<Written>, WriteError> {
    let mut written = Vec::with_capacity(bindings.len());
    let pvs: Api<PersistentVolume> = Api::all(client.clone());
    for b in bindings {
        let Some(volume) = &b.volume else { continue };
        let api_err = |what: &str, source| WriteError::Api {
            what: format!(
                "{what} {volume:?} for PersistentVolumeClaim {}/{}",
                b.namespace, b.claim
            ),
            source,
        };
        let claims: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), &b.namespace);
        let claim = claims
            .get(&b.claim)
            .await
            .map_err(|e| api_err("reading the claim to bind to pv", e))?;
        let mut pv = pvs
            .get(volume)
            .await
            .map_err(|e| api_err("reading pv", e))?;
        let spec = pv.spec.get_or_insert_with(Default::default);
        if let Some(r) = &spec.claim_ref
            && (r.namespace.as_deref() != Some(b.namespace.as_str())
                || r.name.as_deref() != Some(b.claim.as_str()))
        {
            return Err(WriteError::Claimed(volume.clone()));
        }
        spec.claim_ref = Some(ObjectReference {
            api_version: Some("v1".into()),
            kind: Some("PersistentVolumeClaim".into()),
            namespace: Some(b.namespace.clone()),
            name: Some(b.claim.clone()),
            uid: claim.metadata.uid.clone(),
            resource_version: claim.metadata.resource_version.clone(),
            ..ObjectReference::default()
        });
        let pv = pvs
            .replace(volume, &PostParams::default(), &pv)
            .await
            .map_err(|e| api_err("setting claimRef of pv", e))?;
        written.push((
            b.clone(),
            resource_version(pv.metadata.resource_version.as_deref()),
        ));
    }
    for b in bindings.iter().filter(|b| b.volume.is_none()) {
        let claims: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), &b.namespace);
        let patch = serde_json::json!({
            "metadata": { "annotations": { SELECTED_NODE: node } }
        });
        let claim = claims
            .patch(&b.claim, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .map_err(|source| WriteError::Api {
                what: format!(
                    "annotating PersistentVolumeClaim {}/{} for node {node:?}",
                    b.namespace, b.claim
                ),
                source,
            })?;
        written.push((
            b.clone(),
            resource_version(claim.metadata.resource_version.as_deref()),
        ));
    }
    Ok(written)
}

/// How a PreBind ended without the claims bound.
#[derive(Debug, PartialEq, Eq)]
pub enum Ended {
    /// It cannot succeed on this node: why (the pod backs off and is told).
    Failed(String),
    /// The pod let go of its assumptions: deleted, or bound by someone else.
    Gone,
    /// The scheduler is stopping or lost the lease; the next leader decides again.
    Stopped,
}

/// PreBind for a pod assumed on `node` with `bindings` reserved: writes them,
/// then waits until every claim is bound, at most `timeout` from now.
///
/// # Errors
/// See [`Ended`].
pub async fn run(
    ctx: &Context,
    uid: &str,
    node: &str,
    bindings: &[ClaimBinding],
    timeout: Duration,
) -> Result<(), Ended> {
    let deadline = Instant::now() + timeout;
    let written = tokio::select! {
        w = write(&ctx.client, node, bindings) => w.map_err(|e| Ended::Failed(e.to_string()))?,
        () = ctx.stop.cancelled() => return Err(Ended::Stopped),
    };
    let changed = {
        let mut st = ctx.lock();
        st.volumes_written(&written);
        st.storage_changed()
    };
    loop {
        // Registered before the check, so a change between the check and
        // the wait still wakes us.
        let notified = changed.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        match ctx.lock().volume_progress(uid, node) {
            Progress::Bound => return Ok(()),
            Progress::Failed(why) => return Err(Ended::Failed(why)),
            Progress::Gone => return Err(Ended::Gone),
            Progress::Waiting => {}
        }
        tokio::select! {
            () = &mut notified => {}
            () = tokio::time::sleep_until(deadline) => {
                let claims: Vec<String> = bindings
                    .iter()
                    .map(|b| format!("{}/{}", b.namespace, b.claim))
                    .collect();
                // kube says only "context deadline exceeded"; a user reading
                // the event deserves to know what was waited for.
                return Err(Ended::Failed(format!(
                    "timed out after {}s waiting for PersistentVolumeClaim(s) {} to be bound",
                    timeout.as_secs(),
                    claims.join(", ")
                )));
            }
            () = ctx.stop.cancelled() => return Err(Ended::Stopped),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use score::testing::{GI, node};
    use score::volumes::{AccessMode, BindingMode, StorageClass};

    fn cluster() -> Cluster {
        let mut c = Cluster::default();
        c.storage.set_tracked(true);
        c.upsert_node(&node("a").capacity(4000, 16 * GI).build());
        c.upsert_node(&node("b").capacity(4000, 16 * GI).build());
        c.storage.upsert_class(StorageClass {
            name: "standard-rwo".into(),
            provisioner: "pd.csi.storage.gke.io".into(),
            binding_mode: BindingMode::WaitForFirstConsumer,
            allowed_topologies: vec![],
        });
        c.storage.upsert_claim(claim());
        c
    }

    fn claim() -> Claim {
        Claim {
            namespace: "jhub".into(),
            name: "claim-alice".into(),
            storage_class: Some("standard-rwo".into()),
            request_bytes: 10 * GI,
            access_modes: vec![AccessMode::ReadWriteOnce],
            ..Claim::default()
        }
    }

    fn provision() -> ClaimBinding {
        ClaimBinding {
            namespace: "jhub".into(),
            claim: "claim-alice".into(),
            volume: None,
        }
    }

    /// [`cluster`] with the pod `uid-alice` reserved on node `a`, to
    /// provision `claim-alice` there; and node `a`'s index.
    fn alice_reserved_on_a() -> (Cluster, AssumedStorage, usize) {
        let mut c = cluster();
        let mut assumed = AssumedStorage::default();
        let a = c.node_index("a").unwrap();
        assumed.reserve(&mut c, "uid-alice", "a", &[provision()]);
        (c, assumed, a)
    }

    /// The node named by `claim-alice`'s selected-node annotation in the cache.
    fn selected_node(c: &Cluster) -> Option<String> {
        c.storage
            .claim("jhub", "claim-alice")
            .unwrap()
            .selected_node
            .clone()
    }

    fn bound_volume() -> Volume {
        Volume {
            name: "pvc-1".into(),
            storage_class: "standard-rwo".into(),
            capacity_bytes: 10 * GI,
            claim_ref: Some(("jhub".into(), "claim-alice".into())),
            ..Volume::default()
        }
    }

    #[test]
    fn reserve_shows_the_annotation_until_the_watch_shows_our_write_or_later() {
        let (mut c, mut assumed, a) = alice_reserved_on_a();
        assert_eq!(selected_node(&c).as_deref(), Some("a"));
        assert_eq!(assumed.progress(&c, "uid-alice", a), Progress::Waiting);
        // An event from before our write (no write yet): the assumption stays.
        let stale = assumed.claim_from_api(claim(), Some(7));
        assert_eq!(stale.selected_node.as_deref(), Some("a"));
        assumed.claim_written(&mut c, "jhub", "claim-alice", Some(10));
        // rv 9 < 10: still older than our write.
        let stale = assumed.claim_from_api(claim(), Some(9));
        assert_eq!(stale.selected_node.as_deref(), Some("a"));
        // rv 12 without the annotation: the provisioner removed it.
        let truth = assumed.claim_from_api(claim(), Some(12));
        assert_eq!(truth.selected_node, None);
        c.storage.upsert_claim(truth);
        assert_eq!(
            assumed.progress(&c, "uid-alice", a),
            Progress::Failed("provisioning failed for PVC \"claim-alice\"".into())
        );
        // Unreserve restores what the API said last.
        assumed.release(&mut c, "uid-alice");
        assert_eq!(selected_node(&c), None);
        assert_eq!(assumed.progress(&c, "uid-alice", a), Progress::Gone);
    }

    #[test]
    fn a_claim_bound_to_a_volume_that_admits_the_node_completes_prebind() {
        let (mut c, mut assumed, a) = alice_reserved_on_a();
        assumed.claim_written(&mut c, "jhub", "claim-alice", Some(10));
        let bound = Claim {
            selected_node: Some("a".into()),
            volume_name: Some("pvc-1".into()),
            bind_completed: true,
            ..claim()
        };
        let cached = assumed.claim_from_api(bound.clone(), Some(11));
        c.storage.upsert_claim(cached);
        // The volume has not arrived on its watch yet.
        assert_eq!(assumed.progress(&c, "uid-alice", a), Progress::Waiting);
        c.storage.upsert_volume(bound_volume());
        assert_eq!(assumed.progress(&c, "uid-alice", a), Progress::Bound);
        // A volume pinned to node b cannot serve a pod on a.
        let mut elsewhere = bound_volume();
        elsewhere.node_affinity = Some(vec![score::model::NodeSelectorTerm {
            match_expressions: vec![],
            match_fields: vec![score::model::NodeSelectorRequirement {
                key: "metadata.name".into(),
                operator: score::model::NodeSelectorOperator::In,
                values: vec!["b".into()],
            }],
        }]);
        c.storage.upsert_volume(elsewhere);
        assert_eq!(
            assumed.progress(&c, "uid-alice", a),
            Progress::Failed("pv \"pvc-1\" node affinity doesn't match node \"a\"".into())
        );
        // After success the cache keeps the bound claim.
        assumed.release(&mut c, "uid-alice");
        assert_eq!(c.storage.claim("jhub", "claim-alice"), Some(&bound));
    }

    #[test]
    fn a_static_volume_is_claimed_in_the_cache_until_its_claimref_is_reset() {
        let mut c = cluster();
        let static_pv = Volume {
            name: "pv-local".into(),
            storage_class: "standard-rwo".into(),
            capacity_bytes: 10 * GI,
            available: true,
            ..Volume::default()
        };
        c.storage.upsert_volume(static_pv.clone());
        let mut assumed = AssumedStorage::default();
        let a = c.node_index("a").unwrap();
        let binding = ClaimBinding {
            volume: Some("pv-local".into()),
            ..provision()
        };
        assumed.reserve(&mut c, "uid-alice", "a", &[binding]);
        let claim_ref = |c: &Cluster| c.storage.volume("pv-local").unwrap().claim_ref.clone();
        assert_eq!(claim_ref(&c), Some(("jhub".into(), "claim-alice".into())));
        assert_eq!(assumed.progress(&c, "uid-alice", a), Progress::Waiting);
        assumed.volume_written(&mut c, "pv-local", Some(20));
        // Someone reset the claimRef after our write.
        let reset = assumed.volume_from_api(static_pv.clone(), Some(21));
        c.storage.upsert_volume(reset);
        assert_eq!(
            assumed.progress(&c, "uid-alice", a),
            Progress::Failed("ClaimRef got reset for pv \"pv-local\"".into())
        );
        assumed.release(&mut c, "uid-alice");
        assert_eq!(claim_ref(&c), None);
    }

    #[test]
    fn a_change_seen_before_our_write_returned_counts_once_we_know_its_version() {
        let (mut c, mut assumed, a) = alice_reserved_on_a();
        // The watch shows rv 11, the provisioner's removal of our annotation,
        // before our write (rv 10) has returned: the assumption stays for now.
        let cached = assumed.claim_from_api(claim(), Some(11));
        c.storage.upsert_claim(cached);
        assert_eq!(assumed.progress(&c, "uid-alice", a), Progress::Waiting);
        assumed.claim_written(&mut c, "jhub", "claim-alice", Some(10));
        assert_eq!(
            assumed.progress(&c, "uid-alice", a),
            Progress::Failed("provisioning failed for PVC \"claim-alice\"".into())
        );
    }

    #[test]
    fn the_record_from_before_reserve_never_replaces_the_assumption() {
        let (mut c, mut assumed, a) = alice_reserved_on_a();
        // Our write returns before the watch shows it: the claim kept from
        // before Reserve (no annotation, version unknown) is not the truth.
        assumed.claim_written(&mut c, "jhub", "claim-alice", Some(10));
        assert_eq!(assumed.progress(&c, "uid-alice", a), Progress::Waiting);
    }

    #[test]
    fn pods_sharing_a_claim_hold_it_until_the_last_lets_go() {
        let mut c = cluster();
        let mut assumed = AssumedStorage::default();
        let a = c.node_index("a").unwrap();
        assumed.reserve(&mut c, "uid-server", "a", &[provision()]);
        assumed.reserve(&mut c, "uid-job", "a", &[provision()]);
        assumed.release(&mut c, "uid-server");
        assert_eq!(assumed.progress(&c, "uid-server", a), Progress::Gone);
        assert_eq!(assumed.progress(&c, "uid-job", a), Progress::Waiting);
        assert_eq!(selected_node(&c).as_deref(), Some("a"));
        assumed.release(&mut c, "uid-job");
        assert_eq!(selected_node(&c), None);
    }

    #[test]
    fn assumptions_of_other_pods_are_left_alone() {
        let (mut c, mut assumed, _) = alice_reserved_on_a();
        assert!(assumed.holds("uid-alice"));
        assert!(!assumed.holds("uid-bob"));
        assumed.release(&mut c, "uid-bob");
        assert!(assumed.holds("uid-alice"));
        let b = c.node_index("b").unwrap();
        assert_eq!(assumed.progress(&c, "uid-bob", b), Progress::Gone);
    }
}
