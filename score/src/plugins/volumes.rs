//! The volume filters (see [`crate::volumes`] for the rules and their kube
//! sources): VolumeRestrictions and the claim checks run once per pod (kube's
//! PreFilter), NodeVolumeLimits, VolumeBinding and VolumeZone once per node.
//! Only pods that mount claims take this path.

use std::collections::HashSet;

use super::node_affinity::{CompiledTerm, NodeLabels};
use crate::cluster::Cluster;
use crate::model::PodSpec;
use crate::reason::Reason;
use crate::selector::CompiledSelector;
use crate::symbols::Names;
use crate::volumes::{AccessMode, BindingMode, Claim, ClaimBinding, StorageClass, Volume};

/// The labels VolumeZone compares.
const ZONE_LABELS: [&str; 4] = [
    "topology.kubernetes.io/zone",
    "topology.kubernetes.io/region",
    "failure-domain.beta.kubernetes.io/zone",
    "failure-domain.beta.kubernetes.io/region",
];

/// The provisioner of classes that only bind pre-created volumes.
const NO_PROVISIONER: &str = "kubernetes.io/no-provisioner";

enum ClaimUse<'a> {
    Bound {
        volume: &'a Volume,
        affinity: Option<Vec<CompiledTerm>>,
    },
    Delayed {
        claim: &'a Claim,
        class: &'a StorageClass,
        allowed: Vec<CompiledTerm>,
    },
}

/// A static volume a delayed claim could bind, with its compiled node affinity.
type StaticCandidate<'a> = (&'a Volume, Option<Vec<CompiledTerm>>);

/// A pod's claims, resolved once per decision.
pub(crate) struct PodVolumes<'a> {
    uses: Vec<ClaimUse<'a>>,
    /// Candidate static volumes per delayed claim, smallest first, with
    /// their compiled node affinity.
    candidates: Vec<Vec<StaticCandidate<'a>>>,
    /// A reason that rejects every node, with its message (kube's PreFilter).
    pub prefilter: Option<(String, bool)>,
}

fn compile(terms: &[crate::model::NodeSelectorTerm], cluster: &Cluster) -> Vec<CompiledTerm> {
    terms
        .iter()
        .map(|t| CompiledTerm::compile(t, &cluster.symbols))
        .collect()
}

fn any_matches(terms: &[CompiledTerm], node: &impl NodeLabels, cluster: &Cluster) -> bool {
    terms.iter().any(|t| t.matches(node, &cluster.symbols))
}

impl<'a> PodVolumes<'a> {
    /// Resolves the pod's claims; `None` when it mounts none.
    pub fn prepare(cluster: &'a Cluster, pod: &PodSpec) -> Option<Self> {
        if pod.claims.is_empty() || !cluster.storage.is_tracked() {
            return None;
        }
        let storage = &cluster.storage;
        let mut out = PodVolumes {
            uses: Vec::new(),
            candidates: Vec::new(),
            prefilter: None,
        };
        for name in &pod.claims {
            let Some(claim) = storage.claim(&pod.namespace, name) else {
                out.prefilter =
                    Some((format!("persistentvolumeclaim \"{name}\" not found"), false));
                return Some(out);
            };
            if claim.access_modes.contains(&AccessMode::ReadWriteOncePod)
                && claim_used_by_another_pod(cluster, pod, name)
            {
                out.prefilter = Some((
                    "node has pod using PersistentVolumeClaim with the same name and ReadWriteOncePod access mode"
                        .into(),
                    true,
                ));
                return Some(out);
            }
            if let Some(volume_name) = claim
                .volume_name
                .as_deref()
                .filter(|_| claim.bind_completed)
            {
                match storage.volume(volume_name) {
                    Some(volume) => out.uses.push(ClaimUse::Bound {
                        volume,
                        affinity: volume.node_affinity.as_deref().map(|t| compile(t, cluster)),
                    }),
                    None => {
                        out.prefilter = Some((
                            "node(s) unavailable due to one or more pvc(s) bound to non-existent pv(s)".into(),
                            false,
                        ));
                        return Some(out);
                    }
                }
                continue;
            }
            let class = claim
                .storage_class
                .as_deref()
                .and_then(|c| storage.class(c))
                .filter(|c| {
                    c.binding_mode == BindingMode::WaitForFirstConsumer
                        && claim.volume_name.is_none()
                });
            let Some(class) = class else {
                out.prefilter = Some((
                    "pod has unbound immediate PersistentVolumeClaims".into(),
                    false,
                ));
                return Some(out);
            };
            let mut candidates: Vec<StaticCandidate<'_>> = storage
                .volumes()
                .filter(|v| {
                    v.available
                        && v.storage_class == class.name
                        && v.capacity_bytes >= claim.request_bytes
                        && claim
                            .access_modes
                            .iter()
                            .all(|m| v.access_modes.contains(m))
                        && v.claim_ref
                            .as_ref()
                            .is_none_or(|(ns, n)| *ns == claim.namespace && *n == claim.name)
                })
                .map(|v| (v, v.node_affinity.as_deref().map(|t| compile(t, cluster))))
                .collect();
            candidates.sort_by_key(|(v, _)| (v.capacity_bytes, v.name.clone()));
            out.candidates.push(candidates);
            out.uses.push(ClaimUse::Delayed {
                claim,
                class,
                allowed: compile(&class.allowed_topologies, cluster),
            });
        }
        Some(out)
    }

    /// The per-node volume filters, in kube's order: NodeVolumeLimits,
    /// VolumeBinding, VolumeZone.
    pub fn filter(
        &self,
        cluster: &Cluster,
        i: usize,
        node: &impl NodeLabels,
        pod: &PodSpec,
    ) -> Option<Reason> {
        self.check(cluster, i, node, pod, None)
    }

    /// The filters of [`filter`](Self::filter), also saying how each unbound
    /// delayed claim is to be bound on the node (kube's FindPodVolumes
    /// result, what Reserve assumes and PreBind writes).
    pub fn decide(
        &self,
        cluster: &Cluster,
        i: usize,
        node: &impl NodeLabels,
        pod: &PodSpec,
    ) -> Result<Vec<ClaimBinding>, Reason> {
        let mut chosen = Vec::new();
        match self.check(cluster, i, node, pod, Some(&mut chosen)) {
            Some(reason) => Err(reason),
            None => Ok(chosen),
        }
    }

    fn check(
        &self,
        cluster: &Cluster,
        i: usize,
        node: &impl NodeLabels,
        pod: &PodSpec,
        mut chosen: Option<&mut Vec<ClaimBinding>>,
    ) -> Option<Reason> {
        if let Some(reason) = self.volume_limits(cluster, i, pod) {
            return Some(reason);
        }
        let node_name = cluster.node_name(i);
        let mut delayed = 0;
        let mut taken: HashSet<&str> = HashSet::new();
        for use_ in &self.uses {
            match use_ {
                ClaimUse::Bound { affinity, .. } => {
                    if affinity
                        .as_ref()
                        .is_some_and(|t| !any_matches(t, node, cluster))
                    {
                        return Some(Reason::VolumeNodeAffinityConflict);
                    }
                }
                ClaimUse::Delayed {
                    claim,
                    class,
                    allowed,
                } => {
                    let candidates = &self.candidates[delayed];
                    delayed += 1;
                    if claim
                        .selected_node
                        .as_deref()
                        .is_some_and(|n| n != node_name)
                    {
                        return Some(Reason::NoVolumeToBind);
                    }
                    let fitting = candidates.iter().find(|(v, affinity)| {
                        !taken.contains(v.name.as_str())
                            && affinity
                                .as_ref()
                                .is_none_or(|t| any_matches(t, node, cluster))
                    });
                    if let Some((v, _)) = fitting {
                        taken.insert(&v.name);
                        if let Some(out) = chosen.as_deref_mut() {
                            out.push(ClaimBinding {
                                namespace: claim.namespace.clone(),
                                claim: claim.name.clone(),
                                volume: Some(v.name.clone()),
                            });
                        }
                        continue;
                    }
                    if class.provisioner.is_empty() || class.provisioner == NO_PROVISIONER {
                        return Some(Reason::NoVolumeToBind);
                    }
                    if !allowed.is_empty() && !any_matches(allowed, node, cluster) {
                        return Some(Reason::NoVolumeToBind);
                    }
                    if cluster.storage.driver_reports_capacity(&class.provisioner)
                        && !enough_capacity(cluster, i, class, claim.request_bytes)
                    {
                        return Some(Reason::NotEnoughStorage);
                    }
                    if let Some(out) = chosen.as_deref_mut() {
                        out.push(ClaimBinding {
                            namespace: claim.namespace.clone(),
                            claim: claim.name.clone(),
                            volume: None,
                        });
                    }
                }
            }
        }
        for use_ in &self.uses {
            if let ClaimUse::Bound { volume, .. } = use_
                && !zones_match(cluster, i, volume)
            {
                return Some(Reason::NoVolumeZone);
            }
        }
        None
    }

    fn volume_limits(&self, cluster: &Cluster, i: usize, pod: &PodSpec) -> Option<Reason> {
        // (driver, handle) of the pod's new volumes; a dynamically provisioned
        // claim counts as one new volume of the class's provisioner.
        let mut new: Vec<(String, String)> = Vec::new();
        for use_ in &self.uses {
            match use_ {
                ClaimUse::Bound { volume, .. } => {
                    if let (Some(d), Some(h)) = (&volume.csi_driver, &volume.handle) {
                        new.push((d.clone(), h.clone()));
                    }
                }
                ClaimUse::Delayed { claim, class, .. } => {
                    new.push((
                        class.provisioner.clone(),
                        format!("{}/{}", claim.namespace, claim.name),
                    ));
                }
            }
        }
        if new.is_empty() {
            return None;
        }
        let node_name = cluster.node_name(i);
        let mut drivers: Vec<&str> = new.iter().map(|(d, _)| d.as_str()).collect();
        drivers.sort_unstable();
        drivers.dedup();
        for driver in drivers {
            let Some(limit) = cluster.storage.csi_limit(node_name, driver) else {
                continue;
            };
            let mut handles: HashSet<String> = HashSet::new();
            for other in cluster.pods_on(i) {
                if other.uid() == pod.uid {
                    continue;
                }
                let ns = cluster.symbols.resolve(other.namespace);
                for claim in &other.claims {
                    let volume = cluster
                        .storage
                        .claim(ns, claim)
                        .and_then(|c| c.volume_name.as_deref())
                        .and_then(|v| cluster.storage.volume(v));
                    if let Some(v) = volume
                        && v.csi_driver.as_deref() == Some(driver)
                        && let Some(h) = &v.handle
                    {
                        handles.insert(h.clone());
                    }
                }
            }
            for (d, h) in &new {
                if d == driver {
                    handles.insert(h.clone());
                }
            }
            if handles.len() as u64 > limit {
                return Some(Reason::TooManyVolumes);
            }
        }
        None
    }
}

fn claim_used_by_another_pod(cluster: &Cluster, pod: &PodSpec, claim: &str) -> bool {
    cluster.pods.iter().flatten().any(|other| {
        *other.uid != *pod.uid
            && cluster.symbols.resolve(other.namespace) == pod.namespace
            && other.claims.iter().any(|c| &**c == claim)
    })
}

fn enough_capacity(cluster: &Cluster, i: usize, class: &StorageClass, request: u64) -> bool {
    let labels: Vec<(crate::symbols::Sym, crate::symbols::Sym)> = {
        let mut l: Vec<_> = cluster
            .node_labels(i)
            .iter()
            .map(|(k, v)| (cluster.symbols.lookup(k), cluster.symbols.lookup(v)))
            .collect();
        l.sort_unstable();
        l
    };
    cluster.storage.capacities().any(|c| {
        c.storage_class == class.name
            && c.node_topology.as_ref().is_some_and(|sel| {
                CompiledSelector::compile(sel, &cluster.symbols).matches(&labels)
            })
            && c.maximum_volume_size
                .or(c.capacity)
                .is_some_and(|size| size >= request)
    })
}

/// VolumeZone: every zone/region label of the volume must be matched by the
/// node's (a volume value may list several zones separated by `__`).
fn zones_match(cluster: &Cluster, i: usize, volume: &Volume) -> bool {
    let node = cluster.node_labels(i);
    ZONE_LABELS.iter().all(|key| match volume.labels.get(*key) {
        None => true,
        Some(values) => node
            .get(*key)
            .is_some_and(|v| values.split("__").any(|z| z == v)),
    })
}

/// A node of the cluster, as node affinity reads it.
struct ClusterNode<'a> {
    cluster: &'a Cluster,
    index: usize,
}

impl NodeLabels for ClusterNode<'_> {
    fn label(&self, key: crate::symbols::Sym) -> Option<crate::symbols::Sym> {
        self.cluster.node_label(self.index, key)
    }
    fn name(&self) -> Option<&str> {
        Some(self.cluster.node_name(self.index))
    }
}

/// How the pod's unbound WaitForFirstConsumer claims are to be bound on
/// node `i` (kube's FindPodVolumes for the chosen node): empty when every
/// claim is bound already or storage is not tracked.
///
/// # Errors
/// The reason the node no longer passes the volume filters (the cache moved
/// between the decision and this call), or the PreFilter message.
pub fn claim_bindings(
    cluster: &Cluster,
    pod: &PodSpec,
    i: usize,
) -> Result<Vec<ClaimBinding>, String> {
    let Some(volumes) = PodVolumes::prepare(cluster, pod) else {
        return Ok(Vec::new());
    };
    if let Some((message, _)) = &volumes.prefilter {
        return Err(message.clone());
    }
    volumes
        .decide(cluster, i, &ClusterNode { cluster, index: i }, pod)
        .map_err(|r| r.render(&Names::interned(&cluster.symbols), ("", "")))
}

/// Whether a volume's node affinity admits node `i` (true when it has none):
/// PreBind's last check of a freshly bound claim.
#[must_use]
pub fn volume_admits_node(cluster: &Cluster, volume: &Volume, i: usize) -> bool {
    volume.node_affinity.as_deref().is_none_or(|terms| {
        any_matches(
            &compile(terms, cluster),
            &ClusterNode { cluster, index: i },
            cluster,
        )
    })
}
