//! One scheduling decision: filter every node, score every feasible node,
//! normalize, weigh, select.
//!
//! The hot loop reads each node's [`NodeHot`](crate::cluster) record once and
//! looks its label and taint verdicts up per node *class* (computed at most once
//! per class per pod), so a pod's node affinity, tolerations and node-purpose
//! rule cost one table lookup per node. Only pods that name a node, use host
//! ports, have affinity on the hostname label, have inter-pod affinity or
//! topology spread constraints take slower per-node paths. Every buffer lives in [`Scratch`], reused across
//! decisions: the loop allocates nothing per node (but for a node holding room
//! for pods nominated to it).
//!
//! A decision scores each node as soon as it passes the filters, summing the
//! weighted plugin scores in the same pass (plugins normalized over all nodes
//! are per class and added afterwards); `explain`, and the few pods whose
//! scores need per-node lookups, score plugin by plugin in a second pass
//! instead (`score_columns`). A property test holds the two to the same
//! totals.
//!
//! Every feasible node is scored. kube-scheduler's `percentageOfNodesToScore`
//! (which stops after a sample of feasible nodes on large clusters) is
//! deliberately not reproduced: packing must compare all nodes.

use crate::cluster::{Cluster, ImageColumn, NodeCold, NodeHot, PodRole, class_label};
use crate::message;
use crate::model::PodSpec;
use crate::plugins::balanced_allocation::{self, BalancedResource};
use crate::plugins::image_locality::{self, normalized_image_name};
use crate::plugins::inter_pod_affinity::InterPodAffinityState;
use crate::plugins::node_affinity::{CompiledPreferred, CompiledRequired, NodeLabels};
use crate::plugins::node_ports;
use crate::plugins::node_purpose::PurposeLabel;
use crate::plugins::node_resources_fit::{self, FitRequest, ScoredResource};
use crate::plugins::node_unschedulable::tolerates_unschedulable;
use crate::plugins::normalize::{default_normalize, default_normalized, min_max_normalize};
use crate::plugins::pod_topology_spread::SpreadState;
use crate::plugins::real_user_colocation;
use crate::plugins::taint_toleration::{
    CompiledToleration, first_untolerated, intolerable_prefer_no_schedule,
};
use crate::pod::{PodRequests, pod_requests};
use crate::profile::{FilterPlugin, NodePurposeMode, Profile, ScorePlugin};
use crate::reason::Reason;
use crate::rng::SplitMix64;
use crate::symbols::{Names, Sym};

mod cache;

pub use cache::DecisionCache;

/// Label and taint verdicts of one node class for one pod.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct ClassVerdict {
    purpose: Option<Reason>,
    unschedulable: Option<Reason>,
    taint: Option<Reason>,
    affinity: Option<Reason>,
    /// The first of the above, in kube's filter order.
    fail: Option<Reason>,
    preferred_affinity: i64,
    prefer_no_schedule: i64,
    purpose_score: i64,
    /// The weighted per-class scores a fused decision adds to every node of
    /// the class (see [`Fused::class_base`]).
    base: i64,
}

/// Reusable buffers for decisions. One per scheduling thread.
#[derive(Debug, Default)]
pub struct Scratch {
    stamp: u32,
    class_stamp: Vec<u32>,
    class_verdict: Vec<ClassVerdict>,
    /// Per class: the stamp of the last decision in which a node of the
    /// class was feasible.
    class_feasible: Vec<u32>,
    /// Per class: what the normalized plugins add (fused decisions).
    class_add: Vec<i64>,
    /// Node indices of the feasible nodes, in node order.
    pub(crate) feasible: Vec<u32>,
    /// Per enabled score plugin (profile order), per feasible node: the score.
    pub(crate) scores: Vec<Vec<i64>>,
    pub(crate) totals: Vec<i64>,
    histogram: Vec<(Reason, u32)>,
    /// (node, reason) of every rejection, kept only when explaining.
    pub(crate) log: Option<Vec<(u32, Reason)>>,
    /// Per node: how it was rejected ([`NodeStatus`] as a byte).
    status: Vec<u8>,
    /// Per feasible node: the preferred node affinity, when it could not be
    /// decided per node class.
    per_node_pref: Vec<i64>,
    /// The room nominated pods held against this pod, per node.
    held: Vec<Held>,
    /// A reason that rejected the pod before any node was looked at (kube's
    /// PreFilter), such as a missing claim.
    prefilter: Option<String>,
    /// The decision-local names its reasons may print (see
    /// [`crate::symbols::Names`]).
    pub(crate) local_names: Vec<Box<str>>,
    /// Per-node results of recent pod shapes, when enabled.
    cache: Option<Box<DecisionCache>>,
    /// The cache entry that decided the last decision, if one did.
    served: Option<usize>,
}

/// How a node fared in the last decision, as preemption needs to know.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u8)]
pub enum NodeStatus {
    /// Passed every filter.
    Feasible = 0,
    /// Rejected only for resources, pod count or host ports: evicting pods may help.
    Resolvable = 1,
    /// Rejected by inter-pod (anti-)affinity: this engine's preemption does not
    /// try to evict pods to satisfy affinity (kube re-runs the filter; see
    /// [`crate::preemption`]).
    Affinity = 2,
    /// Rejected for a reason no eviction fixes (taints, node affinity, cordon,
    /// a request larger than the node).
    Unresolvable = 3,
}

impl Scratch {
    /// A scratch that keeps what `explain` needs: every plugin's scores and a
    /// log of every rejection (decisions take the column-by-column path).
    #[must_use]
    pub fn explaining() -> Scratch {
        Scratch {
            log: Some(Vec::new()),
            ..Scratch::default()
        }
    }

    /// A scratch with a [`DecisionCache`]: a pod shaped like a recent one is
    /// decided from that pod's per-node results, redone only on the nodes
    /// that changed since. Decisions are the same as without it. After a
    /// decision the cache served, [`histogram`](Self::histogram) and
    /// [`feasible`](Self::feasible) are empty (they are filled by full
    /// passes, which every decision that finds no node takes);
    /// [`node_status`](Self::node_status) always answers.
    #[must_use]
    pub fn with_decision_cache() -> Scratch {
        Scratch {
            cache: Some(Box::default()),
            ..Scratch::default()
        }
    }

    /// When the decision cache decided the last decision: how many nodes it
    /// filtered and scored again for it (the others kept their results).
    /// `None` after a full pass, which looks at every node.
    #[must_use]
    pub fn served_from_cache(&self) -> Option<usize> {
        self.served
            .and(self.cache.as_ref())
            .map(|cache| cache.judged())
    }

    /// The weighted totals of the last decision, per feasible node.
    #[cfg(test)]
    pub(crate) fn totals(&self) -> &[i64] {
        &self.totals
    }

    /// The rejection reasons of the last decision, with the number of nodes each
    /// rejected.
    #[must_use]
    pub fn histogram(&self) -> &[(Reason, u32)] {
        &self.histogram
    }

    /// Node indices that passed every filter in the last decision.
    #[must_use]
    pub fn feasible(&self) -> &[u32] {
        &self.feasible
    }

    /// The room pods nominated to `node` hold against the last decision's pod.
    pub(crate) fn held_on(&self, node: usize) -> Option<&Held> {
        self.held.iter().find(|h| h.node == node)
    }

    /// How node `i` fared in the last decision.
    #[must_use]
    pub fn node_status(&self, i: usize) -> NodeStatus {
        let code = match (self.served, &self.cache) {
            (Some(entry), Some(cache)) => cache.status(entry, i),
            _ => self.status.get(i).copied().unwrap_or(0),
        };
        match code {
            0 => NodeStatus::Feasible,
            1 => NodeStatus::Resolvable,
            2 => NodeStatus::Affinity,
            _ => NodeStatus::Unresolvable,
        }
    }
}

/// The outcome of one decision.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decision {
    /// The chosen node's index, `None` when no node is feasible.
    pub selected: Option<usize>,
    /// How many nodes passed every filter.
    pub feasible: usize,
    /// How many feasible nodes share the best total.
    pub tied: usize,
    /// The best total, 0 when nothing is feasible.
    pub best_total: i64,
}

/// A pod compiled against the cluster's symbols, ready for the node loop.
struct Prepared<'a> {
    role: PodRole,
    fit: FitRequest,
    scored: Vec<(ScoredResource, i64)>,
    /// MostAllocated over exactly cpu and memory: (pod cpu, pod memory, weights).
    most_cpu_mem: Option<(u64, u64, (i64, i64))>,
    /// NodeResourcesBalancedAllocation's resources, `None` when the plugin
    /// is off or the pod requests none of them (kube skips it: 0 for all).
    balanced: Option<Vec<BalancedResource>>,
    /// The balanced resources when they are exactly cpu and memory: (pod
    /// cpu, pod memory), real requests.
    balanced_cpu_mem: Option<(u64, u64)>,
    tolerations: Vec<CompiledToleration>,
    tolerates_unschedulable: bool,
    required: CompiledRequired,
    enforced: CompiledRequired,
    preferred: CompiledPreferred,
    per_node_affinity: bool,
    node_name: Option<&'a str>,
    ports: Vec<crate::cluster::HostPortRec>,
    purpose: PurposeLabel,
    images: Vec<(Sym, &'a ImageColumn)>,
    containers: usize,
    ipa: Option<InterPodAffinityState>,
    /// PodTopologySpread's counts, when the pod has constraints (its own or
    /// defaults) the profile uses.
    spread: Option<SpreadState>,
    /// The pod's claims, when it mounts any (the volume filters).
    volumes: Option<crate::plugins::volumes::PodVolumes<'a>>,
    pod: &'a PodSpec,
    filter_purpose: bool,
    filter_unschedulable: bool,
    filter_node_name: bool,
    filter_taints: bool,
    filter_affinity: bool,
    filter_ports: bool,
    filter_fit: bool,
}

struct NodeView<'a> {
    cluster: &'a Cluster,
    index: usize,
}

impl NodeLabels for NodeView<'_> {
    fn label(&self, key: Sym) -> Option<Sym> {
        self.cluster.node_label(self.index, key)
    }
    fn name(&self) -> Option<&str> {
        Some(self.cluster.node_name(self.index))
    }
}

struct ClassView<'a> {
    class: &'a crate::cluster::ClassKey,
}

impl NodeLabels for ClassView<'_> {
    fn label(&self, key: Sym) -> Option<Sym> {
        class_label(self.class, key)
    }
    fn name(&self) -> Option<&str> {
        None
    }
}

fn prepare<'a>(
    cluster: &'a Cluster,
    profile: &Profile,
    pod: &'a PodSpec,
    requests: &PodRequests,
) -> Prepared<'a> {
    let symbols = &cluster.symbols;
    let fit_args = &profile.fit;
    let fit = fit_request(cluster, profile, requests);
    let scored: Vec<(ScoredResource, i64)> = fit_args
        .resources
        .iter()
        .filter_map(|r| {
            let resource = match r.name.as_str() {
                "cpu" => ScoredResource::Cpu {
                    pod: requests.nonzero_cpu_milli,
                },
                "memory" => ScoredResource::Memory {
                    pod: requests.nonzero_memory,
                },
                "ephemeral-storage" => ScoredResource::Ephemeral {
                    pod: requests.ephemeral_storage,
                },
                name => {
                    // An extended resource the pod does not request is skipped.
                    let pod = requests
                        .extended
                        .iter()
                        .find(|(n, _)| n == name)
                        .map_or(0, |(_, v)| *v);
                    if pod == 0 {
                        return None;
                    }
                    ScoredResource::Extended {
                        name: symbols.lookup(name),
                        pod,
                    }
                }
            };
            Some((resource, r.weight))
        })
        .collect();
    let tolerations: Vec<CompiledToleration> = pod
        .tolerations
        .iter()
        .map(|t| CompiledToleration::compile(t, symbols))
        .collect();
    let tolerates_unschedulable =
        tolerates_unschedulable(&tolerations, &cluster.unschedulable_taint, symbols);
    let required = CompiledRequired::compile(
        &pod.node_selector,
        pod.required_node_affinity.as_deref(),
        symbols,
    );
    let enforced = CompiledRequired::compile(
        std::iter::empty(),
        profile.added_affinity.required.as_deref(),
        symbols,
    );
    let preferred = CompiledPreferred::compile(
        pod.preferred_node_affinity
            .iter()
            .chain(&profile.added_affinity.preferred),
        symbols,
    );
    let per_node_affinity = required.per_node(cluster.hostname_key)
        || enforced.per_node(cluster.hostname_key)
        || preferred.per_node(cluster.hostname_key);
    let ports = pod_ports(cluster, pod);
    let images = pod
        .init_containers
        .iter()
        .chain(&pod.containers)
        .filter_map(|c| {
            let sym = symbols.lookup(&normalized_image_name(&c.image));
            cluster.images.get(&sym).map(|col| (sym, col))
        })
        .collect();
    let ipa = if profile.filter_enabled(FilterPlugin::InterPodAffinity)
        || profile
            .score_weight(ScorePlugin::InterPodAffinity)
            .is_some()
    {
        InterPodAffinityState::prepare(cluster, pod, profile.hard_pod_affinity_weight)
    } else {
        None
    };
    let spread_filter = profile.filter_enabled(FilterPlugin::PodTopologySpread);
    let spread_score = profile
        .score_weight(ScorePlugin::PodTopologySpread)
        .is_some();
    // Most pods have no constraint and no default selector: nothing to
    // prepare (and no allocation).
    let spread = if (spread_filter || spread_score)
        && (!pod.topology_spread.is_empty() || pod.default_spread_selector.is_some())
    {
        SpreadState::prepare(cluster, profile, pod, &required, &tolerations)
    } else {
        None
    };
    let purpose = PurposeLabel {
        key: symbols.lookup(&profile.node_purpose.key),
        value: symbols.lookup(&profile.node_purpose.value),
    };
    let most_cpu_mem = match (profile.fit.strategy, scored.as_slice()) {
        (
            crate::profile::ScoringStrategy::MostAllocated,
            &[
                (ScoredResource::Cpu { pod: c }, wc),
                (ScoredResource::Memory { pod: m }, wm),
            ],
        ) => Some((c, m, (wc, wm))),
        _ => None,
    };
    let balanced = balanced_resources(cluster, profile, requests);
    let balanced_cpu_mem = match balanced.as_deref() {
        Some(
            &[
                BalancedResource::Cpu { pod: c },
                BalancedResource::Memory { pod: m },
            ],
        )
        | Some(
            &[
                BalancedResource::Memory { pod: m },
                BalancedResource::Cpu { pod: c },
            ],
        ) => Some((c, m)),
        _ => None,
    };
    Prepared {
        role: cluster.roles().classify(&pod.labels),
        fit,
        scored,
        most_cpu_mem,
        balanced,
        balanced_cpu_mem,
        tolerations,
        tolerates_unschedulable,
        required,
        enforced,
        preferred,
        per_node_affinity,
        node_name: pod.node_name.as_deref(),
        ports,
        purpose,
        images,
        containers: pod.containers.len() + pod.init_containers.len(),
        ipa,
        spread,
        volumes: crate::plugins::volumes::PodVolumes::prepare(cluster, pod),
        pod,
        filter_purpose: profile.filter_enabled(FilterPlugin::NodePurpose)
            && profile.node_purpose.mode == NodePurposeMode::Require,
        filter_unschedulable: profile.filter_enabled(FilterPlugin::NodeUnschedulable),
        filter_node_name: profile.filter_enabled(FilterPlugin::NodeName),
        filter_taints: profile.filter_enabled(FilterPlugin::TaintToleration),
        filter_affinity: profile.filter_enabled(FilterPlugin::NodeAffinity),
        filter_ports: profile.filter_enabled(FilterPlugin::NodePorts),
        filter_fit: profile.filter_enabled(FilterPlugin::NodeResourcesFit),
    }
}

/// NodeResourcesBalancedAllocation's resources for a pod: real requests
/// (kube's `useRequested`), extended resources the pod does not request
/// left out; `None` when the plugin is off or the pod is best effort for
/// these resources (kube's PreScore skips it).
fn balanced_resources(
    cluster: &Cluster,
    profile: &Profile,
    requests: &PodRequests,
) -> Option<Vec<BalancedResource>> {
    profile.score_weight(ScorePlugin::NodeResourcesBalancedAllocation)?;
    let resources: Vec<BalancedResource> = profile
        .balanced
        .resources
        .iter()
        .filter_map(|r| {
            Some(match r.name.as_str() {
                "cpu" => BalancedResource::Cpu {
                    pod: requests.cpu_milli,
                },
                "memory" => BalancedResource::Memory {
                    pod: requests.memory,
                },
                "ephemeral-storage" => BalancedResource::Ephemeral {
                    pod: requests.ephemeral_storage,
                },
                name => {
                    let pod = requests
                        .extended
                        .iter()
                        .find(|(n, _)| n == name)
                        .map_or(0, |(_, v)| *v);
                    if pod == 0 {
                        return None;
                    }
                    BalancedResource::Extended {
                        name: cluster.symbols.lookup(name),
                        pod,
                    }
                }
            })
        })
        .collect();
    let best_effort = resources.iter().all(|r| {
        matches!(
            r,
            BalancedResource::Cpu { pod: 0 }
                | BalancedResource::Memory { pod: 0 }
                | BalancedResource::Ephemeral { pod: 0 }
        )
    });
    (!best_effort).then_some(resources)
}

/// What NodeResourcesFit checks for a pod (ignored extended resources removed).
pub(crate) fn fit_request(
    cluster: &Cluster,
    profile: &Profile,
    requests: &PodRequests,
) -> FitRequest {
    let fit_args = &profile.fit;
    let ignored = |name: &str| {
        fit_args.ignored_resources.iter().any(|r| r == name)
            || name.split_once('/').is_some_and(|(group, _)| {
                fit_args.ignored_resource_groups.iter().any(|g| g == group)
            })
    };
    let mut fit = FitRequest {
        cpu: requests.cpu_milli,
        mem: requests.memory,
        eph: requests.ephemeral_storage,
        ..FitRequest::default()
    };
    for (name, v) in requests.extended.iter().filter(|(n, _)| !ignored(n)) {
        // A resource no node offers (a GPU pool scaled to zero) is not
        // interned: it gets a decision-local symbol, so that "Insufficient
        // nvidia.com/gpu" keeps its name.
        let sym = match cluster.symbols.lookup(name) {
            Sym::UNKNOWN => {
                fit.local.push(name.as_str().into());
                Sym::local(fit.local.len() - 1)
            }
            sym => sym,
        };
        fit.extended.push((sym, *v));
    }
    fit
}

/// The host ports a pod asks for, interned.
pub(crate) fn pod_ports(cluster: &Cluster, pod: &PodSpec) -> Vec<crate::cluster::HostPortRec> {
    pod.containers
        .iter()
        .chain(&pod.init_containers)
        .flat_map(|c| &c.host_ports)
        .map(|p| crate::cluster::HostPortRec {
            ip: cluster.symbols.lookup(&p.ip),
            protocol: p.protocol,
            port: p.port,
        })
        .collect()
}

fn affinity_verdict(p: &Prepared<'_>, node: &impl NodeLabels, cluster: &Cluster) -> Option<Reason> {
    if !p.filter_affinity {
        return None;
    }
    if !p.required.matches(node, &cluster.symbols) {
        return Some(Reason::NodeAffinity);
    }
    if !p.enforced.matches(node, &cluster.symbols) {
        return Some(Reason::EnforcedNodeAffinity);
    }
    None
}

fn class_verdict_of(p: &Prepared<'_>, cluster: &Cluster, class: u32) -> ClassVerdict {
    let key = &cluster.classes[class as usize].key;
    let symbols = &cluster.symbols;
    let view = ClassView { class: key };
    let purpose_value = class_label(key, p.purpose.key);
    let purpose =
        (p.filter_purpose && !p.purpose.matches(purpose_value)).then_some(Reason::NodePurpose);
    let unschedulable = (p.filter_unschedulable && key.unschedulable && !p.tolerates_unschedulable)
        .then_some(Reason::Unschedulable);
    let taint = if p.filter_taints {
        first_untolerated(&key.taints, &p.tolerations, symbols).map(|t| Reason::UntoleratedTaint {
            key: t.key,
            value: t.value,
        })
    } else {
        None
    };
    let (affinity, preferred_affinity) = if p.per_node_affinity {
        (None, 0)
    } else {
        (
            affinity_verdict(p, &view, cluster),
            p.preferred.score(&view, symbols),
        )
    };
    ClassVerdict {
        purpose,
        unschedulable,
        taint,
        affinity,
        fail: purpose.or(unschedulable).or(taint).or(affinity),
        preferred_affinity,
        prefer_no_schedule: intolerable_prefer_no_schedule(&key.taints, &p.tolerations, symbols),
        purpose_score: p.purpose.score(purpose_value),
        base: 0,
    }
}

fn image_sum(p: &Prepared<'_>, cold: &NodeCold, index: usize, total_nodes: usize) -> i64 {
    image_locality::sum(
        p.images
            .iter()
            .filter(|(_, column)| column.bits[index / 64] & (1 << (index % 64)) != 0)
            .map(|&(sym, column)| {
                let size = column.uniform_size.unwrap_or_else(|| {
                    cold.images
                        .binary_search_by_key(&sym, |&(s, _)| s)
                        .map_or(0, |i| cold.images[i].1)
                });
                image_locality::scaled(size, column.nodes, total_nodes)
            }),
    )
}

/// Decides where `pod` goes. With `rng`, ties are broken uniformly at random
/// (as kube's reservoir sampling does); without, the first tied node in node
/// order wins.
pub fn schedule(
    cluster: &Cluster,
    profile: &Profile,
    pod: &PodSpec,
    scratch: &mut Scratch,
    rng: Option<&mut SplitMix64>,
) -> Decision {
    let requests = pod_requests(pod);
    schedule_with_requests(cluster, profile, pod, &requests, scratch, rng)
}

/// [`schedule`] with the pod's requests already computed.
pub fn schedule_with_requests(
    cluster: &Cluster,
    profile: &Profile,
    pod: &PodSpec,
    requests: &PodRequests,
    scratch: &mut Scratch,
    rng: Option<&mut SplitMix64>,
) -> Decision {
    schedule_with_nominated(cluster, profile, pod, requests, &[], scratch, rng)
}

/// Resources held on a node for a pod nominated there by preemption.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Nominated {
    /// The nominated pod's UID.
    pub uid: String,
    /// Its priority.
    pub priority: i32,
    /// The node index.
    pub node: usize,
    /// Its requests: cpu millicores, memory and ephemeral storage bytes.
    pub requests: [u64; 3],
}

/// Room held on one node for the decision at hand.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Held {
    pub node: usize,
    pub requests: [u64; 3],
    pub pods: u32,
}

/// [`schedule_with_requests`], with the room of pods nominated to nodes held
/// against this pod when their priority is at least its own (kube runs the
/// filters "with nominated pods").
pub fn schedule_with_nominated(
    cluster: &Cluster,
    profile: &Profile,
    pod: &PodSpec,
    requests: &PodRequests,
    nominated: &[Nominated],
    scratch: &mut Scratch,
    mut rng: Option<&mut SplitMix64>,
) -> Decision {
    let p = prepare(cluster, profile, pod, requests);
    let mut held: Vec<Held> = Vec::new();
    for n in nominated {
        if n.uid == pod.uid || n.priority < pod.priority || n.node >= cluster.node_count() {
            continue;
        }
        match held.iter_mut().find(|h| h.node == n.node) {
            Some(h) => {
                // Saturating, as the node sums are (see `cluster`): room
                // held beyond u64 holds the whole node.
                for (a, b) in h.requests.iter_mut().zip(n.requests) {
                    *a = a.saturating_add(b);
                }
                h.pods = h.pods.saturating_add(1);
            }
            None => held.push(Held {
                node: n.node,
                requests: n.requests,
                pods: 1,
            }),
        }
    }
    let explaining = scratch.log.is_some();
    // Scores are summed in the filter pass, node by node, unless `explain`
    // wants every plugin's scores or a plugin needs the per-node slow path.
    let fused = if explaining {
        None
    } else {
        Fused::new(cluster, profile, &p)
    };
    scratch.served = None;
    if held.is_empty()
        && !explaining
        && let Some(cache) = scratch.cache.as_mut()
    {
        let pass = Pass::new(cluster, profile, &p, &held, fused.as_ref(), false);
        if let Some((entry, decision)) = cache.decide(&pass, profile, rng.as_deref_mut()) {
            scratch.served = Some(entry);
            scratch.feasible.clear();
            scratch.totals.clear();
            scratch.histogram.clear();
            scratch.held.clear();
            scratch.prefilter = None;
            scratch.local_names.clear();
            return decision;
        }
    }
    run(cluster, profile, &p, &held, fused.as_ref(), scratch);
    scratch.held = held;
    scratch.local_names.clone_from(&p.fit.local);
    select(scratch, rng)
}

/// The [`NodeStatus`] (as a byte) of a node rejected for `reason`.
fn status_code(reason: Reason) -> u8 {
    if reason.unresolvable() {
        NodeStatus::Unresolvable as u8
    } else if matches!(
        reason,
        Reason::PodAntiAffinity | Reason::ExistingPodsAntiAffinity | Reason::SpreadConstraints
    ) {
        NodeStatus::Affinity as u8
    } else {
        NodeStatus::Resolvable as u8
    }
}

/// Counts a rejection (and logs it when explaining).
fn record(
    histogram: &mut Vec<(Reason, u32)>,
    log: &mut Option<Vec<(u32, Reason)>>,
    status: &mut [u8],
    node: usize,
    reason: Reason,
) {
    let code = status_code(reason);
    status[node] = status[node].max(code);
    match histogram.iter_mut().find(|(r, _)| *r == reason) {
        Some((_, n)) => *n += 1,
        None => histogram.push((reason, 1)),
    }
    if let Some(log) = log {
        log.push((u32::try_from(node).unwrap_or(u32::MAX), reason));
    }
}

/// The full pass: filters every node, scores the feasible ones (summed in
/// the filter pass with `fused`, else plugin by plugin), into `scratch`.
fn run<'a>(
    cluster: &'a Cluster,
    profile: &'a Profile,
    p: &'a Prepared<'a>,
    held: &'a [Held],
    fused: Option<&'a Fused<'a>>,
    scratch: &mut Scratch,
) {
    scratch.stamp = scratch.stamp.wrapping_add(1);
    if scratch.stamp == 0 {
        scratch.class_stamp.fill(0);
        scratch.class_feasible.fill(0);
        scratch.stamp = 1;
    }
    if scratch.class_stamp.len() < cluster.classes.len() {
        scratch.class_stamp.resize(cluster.classes.len(), 0);
        scratch.class_feasible.resize(cluster.classes.len(), 0);
        scratch
            .class_verdict
            .resize(cluster.classes.len(), ClassVerdict::default());
    }
    scratch.status.clear();
    scratch.status.resize(cluster.node_count(), 0);
    scratch.feasible.clear();
    scratch.histogram.clear();
    scratch.per_node_pref.clear();
    scratch.prefilter = None;
    scratch.totals.clear();
    if let Some(log) = &mut scratch.log {
        log.clear();
    }
    if let Some((message, resolvable)) = p.volumes.as_ref().and_then(|v| v.prefilter.as_ref()) {
        // Rejected before any node is looked at: every node fails alike.
        scratch.prefilter = Some(message.clone());
        let code = if *resolvable {
            NodeStatus::Resolvable
        } else {
            NodeStatus::Unresolvable
        } as u8;
        scratch.status.fill(code);
        return;
    }
    let explaining = scratch.log.is_some();
    let pass = Pass::new(cluster, profile, p, held, fused, explaining);
    if pass.simple() {
        pass.filter::<true>(scratch);
    } else {
        pass.filter::<false>(scratch);
    }

    let Scratch {
        stamp,
        class_verdict,
        class_feasible,
        class_add,
        feasible,
        scores,
        totals,
        per_node_pref,
        ..
    } = scratch;
    match fused {
        // Pass 2, fused: only the normalized plugins are left, and their raw
        // scores are per class.
        Some(f) => f.normalize(
            cluster,
            profile,
            feasible,
            class_verdict,
            class_feasible,
            *stamp,
            class_add,
            totals,
        ),
        // Pass 2: score the feasible nodes, one plugin at a time.
        None => score_columns(
            cluster,
            profile,
            p,
            feasible,
            class_verdict,
            per_node_pref,
            scores,
            totals,
            explaining,
        ),
    }
}

/// What the filter pass of one decision needs besides the scratch.
struct Pass<'a> {
    cluster: &'a Cluster,
    p: &'a Prepared<'a>,
    /// Room held by nominated pods.
    nominated: &'a [Held],
    /// Node-level filter checks (node name, per-node affinity).
    per_node: bool,
    check_ports: bool,
    ipa_filter: Option<&'a InterPodAffinityState>,
    spread_filter: Option<&'a SpreadState>,
    /// Resource rejections are counted per failure pattern (see
    /// [`FitPattern`]).
    fit_patterns: bool,
    fused: Option<&'a Fused<'a>>,
}

impl<'a> Pass<'a> {
    fn new(
        cluster: &'a Cluster,
        profile: &'a Profile,
        p: &'a Prepared<'a>,
        nominated: &'a [Held],
        fused: Option<&'a Fused<'a>>,
        explaining: bool,
    ) -> Pass<'a> {
        Pass {
            cluster,
            p,
            nominated,
            per_node: p.per_node_affinity || (p.filter_node_name && p.node_name.is_some()),
            check_ports: p.filter_ports && !p.ports.is_empty(),
            ipa_filter: p
                .ipa
                .as_ref()
                .filter(|s| s.filtering && profile.filter_enabled(FilterPlugin::InterPodAffinity)),
            spread_filter: p.spread.as_ref().filter(|s| s.filtering()),
            fit_patterns: p.filter_fit && p.fit.extended.is_empty() && !explaining,
            fused,
        }
    }

    /// Whether this is the common decision (no node name, host ports,
    /// nominated pods, extended resources, claims, inter-pod affinity,
    /// spread constraints or per-node affinity; fused scores), which takes a
    /// copy of the loop with
    /// those branches compiled out, and which the [`DecisionCache`] serves.
    fn simple(&self) -> bool {
        !self.per_node
            && !self.check_ports
            && self.nominated.is_empty()
            && self.fit_patterns
            && self.p.volumes.is_none()
            && self.ipa_filter.is_none()
            && self.spread_filter.is_none()
            && self.fused.is_some_and(Fused::simple)
    }

    /// Pass 1: filters every node; feasible ones are collected in node order
    /// (and scored, when fused). With `SIMPLE` the caller guarantees what
    /// `run` checks (so the branches below that test `!SIMPLE` first are
    /// compiled out of that copy; both copies are the same code).
    #[inline]
    fn filter<const SIMPLE: bool>(&self, scratch: &mut Scratch) {
        let Pass {
            cluster,
            p,
            nominated,
            per_node,
            check_ports,
            ipa_filter,
            spread_filter,
            fit_patterns,
            fused,
        } = *self;
        let Scratch {
            stamp,
            class_stamp,
            class_verdict,
            class_feasible,
            feasible,
            totals,
            histogram,
            log,
            status,
            per_node_pref,
            ..
        } = scratch;
        let stamp = *stamp;
        let symbols = &cluster.symbols;
        // Resource rejections are counted per failure pattern: the first
        // node with a pattern records its reasons in order, later ones only
        // bump the counts of those histogram entries (the reasons follow from
        // the pattern; see `node_resources_fit::fail_reasons`). With a log
        // (explain) every reason is recorded.
        let mut fit_seen = [FitPattern::default(); 128];
        let nodes = cluster.hot.iter().zip(&cluster.cold).enumerate();
        for (i, (hot, cold)) in nodes {
            let class = hot.class as usize;
            if class_stamp[class] != stamp {
                let mut verdict = class_verdict_of(p, cluster, hot.class);
                if let Some(f) = fused {
                    verdict.base = f.class_base(&verdict);
                }
                class_verdict[class] = verdict;
                class_stamp[class] = stamp;
            }
            let cv = &class_verdict[class];
            let mut preferred_affinity = 0;
            if !SIMPLE && per_node {
                // The full filter sequence in kube's order, with node-level
                // checks.
                let view = NodeView { cluster, index: i };
                let node_name = (p.filter_node_name
                    && p.node_name.is_some_and(|n| n != cluster.node_name(i)))
                .then_some(Reason::NodeName);
                let affinity = if p.per_node_affinity {
                    preferred_affinity = p.preferred.score(&view, symbols);
                    affinity_verdict(p, &view, cluster)
                } else {
                    cv.affinity
                };
                if let Some(reason) = cv
                    .purpose
                    .or(cv.unschedulable)
                    .or(node_name)
                    .or(cv.taint)
                    .or(affinity)
                {
                    record(histogram, log, status, i, reason);
                    continue;
                }
            } else if let Some(reason) = cv.fail {
                record(histogram, log, status, i, reason);
                continue;
            }
            if !SIMPLE
                && check_ports
                && hot.port_pods > 0
                && node_ports::conflicts(&p.ports, &cold.ports, cluster.any_ip)
            {
                record(histogram, log, status, i, Reason::NodePorts);
                continue;
            }
            // Pods nominated to this node (by an earlier preemption) with a
            // priority at least ours hold their room against us (filters
            // only; scores see the node as it is, as kube's do).
            let held;
            let nominated_here = if SIMPLE || nominated.is_empty() {
                None
            } else {
                nominated.iter().find(|n| n.node == i)
            };
            let (fit_hot, fit_cold) = match nominated_here {
                Some(n) => {
                    held = held_node(hot, cold, n);
                    (&held.0, &held.1)
                }
                None => (hot, cold),
            };
            if SIMPLE || fit_patterns {
                let failed = node_resources_fit::failures(fit_hot, fit_cold, &p.fit);
                if failed != 0 {
                    let seen = &mut fit_seen[usize::from(failed)];
                    if seen.len == 0 {
                        *seen = FitPattern::first(histogram, status, i, failed);
                    } else {
                        seen.count(histogram, status, i);
                    }
                    continue;
                }
            } else if p.filter_fit
                && !node_resources_fit::fits(fit_hot, fit_cold, &p.fit, |reason| {
                    record(histogram, log, status, i, reason);
                })
            {
                continue;
            }
            if !SIMPLE
                && let Some(volumes) = &p.volumes
                && let Some(reason) =
                    volumes.filter(cluster, i, &NodeView { cluster, index: i }, p.pod)
            {
                record(histogram, log, status, i, reason);
                continue;
            }
            // kube runs PodTopologySpread's filter before InterPodAffinity's.
            if !SIMPLE
                && let Some(state) = spread_filter
                && let Some(reason) = state.filter(cluster, i)
            {
                record(histogram, log, status, i, reason);
                continue;
            }
            if !SIMPLE
                && let Some(state) = ipa_filter
                && let Some(reason) = state.filter(cluster, i)
            {
                record(histogram, log, status, i, reason);
                continue;
            }
            feasible.push(u32::try_from(i).unwrap_or(u32::MAX));
            if let Some(f) = fused {
                totals.push(cv.base + f.node_score::<SIMPLE>(cluster, hot, i));
                class_feasible[class] = stamp;
            }
            if !SIMPLE && p.per_node_affinity {
                per_node_pref.push(preferred_affinity);
            }
        }
    }
}

/// A node as the resource filter sees it with room held for nominated pods.
#[cold]
fn held_node(hot: &NodeHot, cold: &NodeCold, n: &Held) -> (NodeHot, NodeCold) {
    (
        NodeHot {
            req_cpu: hot.req_cpu.saturating_add(n.requests[0]),
            req_mem: hot.req_mem.saturating_add(n.requests[1]),
            pods: hot.pods.saturating_add(n.pods),
            ..*hot
        },
        NodeCold {
            alloc_eph: cold.alloc_eph,
            req_eph: cold.req_eph.saturating_add(n.requests[2]),
            extended_alloc: cold.extended_alloc.clone(),
            extended_req: cold.extended_req.clone(),
            ..NodeCold::default()
        },
    )
}

/// The histogram entries and node status of one resource failure pattern.
#[derive(Clone, Copy, Debug, Default)]
struct FitPattern {
    /// Number of reasons (0: not seen yet in this decision).
    len: u8,
    code: u8,
    /// Their positions in the histogram.
    entries: [u32; 4],
}

impl FitPattern {
    /// Records the reasons of pattern `failed` for node `i` and remembers
    /// where they went.
    #[cold]
    fn first(
        histogram: &mut Vec<(Reason, u32)>,
        status: &mut [u8],
        i: usize,
        failed: u8,
    ) -> FitPattern {
        let mut pattern = FitPattern::default();
        for reason in node_resources_fit::fail_reasons(failed) {
            record(histogram, &mut None, status, i, reason);
            let at = histogram
                .iter()
                .position(|(r, _)| *r == reason)
                .expect("just recorded");
            pattern.entries[usize::from(pattern.len)] = u32::try_from(at).unwrap_or(u32::MAX);
            pattern.len += 1;
        }
        pattern.code = status[i];
        pattern
    }

    /// Counts node `i` as rejected for this pattern again: what `record`
    /// would do for each reason.
    #[inline]
    fn count(&self, histogram: &mut [(Reason, u32)], status: &mut [u8], i: usize) {
        for &at in &self.entries[..usize::from(self.len)] {
            histogram[at as usize].1 += 1;
        }
        status[i] = status[i].max(self.code);
    }
}

/// How a fused decision scores NodeResourcesFit.
enum FitScore {
    /// Not in the profile.
    Off,
    /// MostAllocated over cpu and memory: (pod cpu, pod memory, weights).
    MostCpuMem(u64, u64, (i64, i64)),
    /// Anything else, through the general score.
    General,
}

/// How a fused decision scores NodeResourcesBalancedAllocation.
enum BalancedScore {
    /// Not in the profile, or the pod is best effort.
    Off,
    /// Over cpu and memory: (pod cpu, pod memory).
    CpuMem(u64, u64),
    /// Anything else, through the general score.
    General,
}

/// How a fused decision scores ImageLocality.
enum ImageScore<'a> {
    /// Weighted score per combination of the pod's images present on a
    /// node (bit k: image k), from each image's bit column: every image has
    /// one size on all nodes, so the score depends only on which are there.
    Table {
        columns: Vec<&'a [u64]>,
        weighted: Vec<i64>,
    },
    /// Sizes differ between nodes: the image sum of each node.
    General,
}

/// The score plugins of a profile summed node by node during the filter
/// pass, for pods and profiles where every plugin is either per node and
/// cheap (RealUserColocation, NodeResourcesFit,
/// NodeResourcesBalancedAllocation, ImageLocality; PodTopologySpread when
/// the pod has no constraint it scores) or per node
/// class (NodePurpose; NodeAffinity and TaintToleration, which are
/// normalized after the pass, per class). Integer sums do not depend on the
/// order of their terms, so the totals equal [`score_columns`]'s.
struct Fused<'a> {
    p: &'a Prepared<'a>,
    strategy: crate::profile::ScoringStrategy,
    /// Summed weights of each plugin in the profile (0 when absent). The
    /// colocation weight is 0 for a pod that is not a real user, the purpose
    /// weight 0 unless the profile prefers purpose nodes.
    purpose: i64,
    colocation: i64,
    fit_weight: i64,
    fit: FitScore,
    balanced_weight: i64,
    balanced: BalancedScore,
    image_weight: i64,
    image: ImageScore<'a>,
    /// Any NodeAffinity or TaintToleration in the profile.
    normalized: bool,
    /// Added to every node: ImageLocality's weighted score when no node has
    /// any of the pod's images.
    constant: i64,
}

impl<'a> Fused<'a> {
    fn new(cluster: &Cluster, profile: &Profile, p: &'a Prepared<'a>) -> Option<Fused<'a>> {
        if p.per_node_affinity {
            return None;
        }
        let mut f = Fused {
            p,
            strategy: profile.fit.strategy,
            purpose: 0,
            colocation: 0,
            fit_weight: 0,
            fit: FitScore::Off,
            balanced_weight: 0,
            balanced: BalancedScore::Off,
            image_weight: 0,
            image: ImageScore::General,
            normalized: false,
            constant: 0,
        };
        for &(plugin, weight) in &profile.scores {
            match plugin {
                ScorePlugin::NodePurpose => {
                    if profile.node_purpose.mode == NodePurposeMode::Prefer {
                        f.purpose += weight;
                    }
                }
                ScorePlugin::RealUserColocation => {
                    if p.role == PodRole::RealUser {
                        f.colocation += weight;
                    }
                }
                ScorePlugin::NodeResourcesFit => f.fit_weight += weight,
                ScorePlugin::NodeResourcesBalancedAllocation => {
                    if p.balanced.is_some() {
                        f.balanced_weight += weight;
                    }
                }
                ScorePlugin::ImageLocality => f.image_weight += weight,
                ScorePlugin::PodTopologySpread => {
                    // Depends on which nodes are feasible: scored after the
                    // filter pass, column by column.
                    if p.spread.as_ref().is_some_and(SpreadState::scoring) {
                        return None;
                    }
                }
                ScorePlugin::NodeAffinity | ScorePlugin::TaintToleration => f.normalized = true,
                ScorePlugin::InterPodAffinity => {
                    // Without scoring terms every node scores 0.
                    if p.ipa.as_ref().is_some_and(|s| s.scoring) {
                        return None;
                    }
                }
            }
        }
        if f.fit_weight != 0 {
            f.fit = match p.most_cpu_mem {
                Some((c, m, w)) => FitScore::MostCpuMem(c, m, w),
                None => FitScore::General,
            };
        }
        if f.balanced_weight != 0 {
            f.balanced = match p.balanced_cpu_mem {
                Some((c, m)) => BalancedScore::CpuMem(c, m),
                None => BalancedScore::General,
            };
        }
        if p.images.is_empty() || f.image_weight == 0 {
            f.constant = f.image_weight * image_locality::score(0, p.containers);
            f.image = ImageScore::Table {
                columns: Vec::new(),
                weighted: vec![0],
            };
        } else if p.images.len() <= 4 {
            let total_nodes = cluster.node_count();
            let sizes: Option<Vec<i64>> = p
                .images
                .iter()
                .map(|&(_, column)| {
                    column
                        .uniform_size
                        .map(|size| image_locality::scaled(size, column.nodes, total_nodes))
                })
                .collect();
            if let Some(sizes) = sizes {
                f.image = ImageScore::Table {
                    columns: p.images.iter().map(|(_, c)| c.bits.as_slice()).collect(),
                    weighted: (0..1usize << sizes.len())
                        .map(|mask| {
                            let sum = image_locality::sum(
                                (0..sizes.len())
                                    .filter(|k| mask & (1 << k) != 0)
                                    .map(|k| sizes[k]),
                            );
                            f.image_weight * image_locality::score(sum, p.containers)
                        })
                        .collect(),
                };
            }
        }
        Some(f)
    }

    /// Whether [`node_score`](Self::node_score) may take its simple form:
    /// MostAllocated over cpu and memory (or no NodeResourcesFit),
    /// BalancedAllocation over cpu and memory (or none) and images scored
    /// from the table.
    fn simple(&self) -> bool {
        matches!(self.fit, FitScore::MostCpuMem(..) | FitScore::Off)
            && matches!(
                self.balanced,
                BalancedScore::CpuMem(..) | BalancedScore::Off
            )
            && matches!(self.image, ImageScore::Table { .. })
    }

    /// The weighted scores of the plugins decided per class and not
    /// normalized: NodePurpose, and ImageLocality when the pod names no image
    /// any node has.
    fn class_base(&self, verdict: &ClassVerdict) -> i64 {
        self.purpose * verdict.purpose_score + self.constant
    }

    /// The weighted scores of the per-node plugins for feasible node `i`.
    #[inline]
    fn node_score<const SIMPLE: bool>(&self, cluster: &Cluster, hot: &NodeHot, i: usize) -> i64 {
        let mut total = self.colocation * real_user_colocation::score(hot);
        total += match self.fit {
            FitScore::MostCpuMem(c, m, w) => {
                self.fit_weight * node_resources_fit::most_allocated_cpu_mem(hot, c, m, w)
            }
            FitScore::General if !SIMPLE => {
                self.fit_weight
                    * node_resources_fit::score(
                        self.strategy,
                        &self.p.scored,
                        hot,
                        &cluster.cold[i],
                    )
            }
            _ => 0,
        };
        total += match self.balanced {
            BalancedScore::Off => 0,
            BalancedScore::CpuMem(c, m) => {
                self.balanced_weight * balanced_allocation::score_cpu_mem(hot, c, m)
            }
            BalancedScore::General if !SIMPLE => {
                self.balanced_weight
                    * balanced_allocation::score(
                        self.p.balanced.as_deref().unwrap_or_default(),
                        hot,
                        &cluster.cold[i],
                    )
            }
            BalancedScore::General => 0,
        };
        total += match &self.image {
            ImageScore::Table { columns, weighted } => {
                let (word, bit) = (i / 64, i % 64);
                let mut mask = 0;
                for (k, column) in columns.iter().enumerate() {
                    mask |= usize::from(column[word] >> bit & 1 != 0) << k;
                }
                weighted[mask]
            }
            ImageScore::General if !SIMPLE => {
                self.image_weight
                    * image_locality::score(
                        image_sum(self.p, &cluster.cold[i], i, cluster.node_count()),
                        self.p.containers,
                    )
            }
            ImageScore::General => 0,
        };
        total
    }

    /// Adds the normalized plugins (NodeAffinity, TaintToleration) to
    /// `totals`. Their raw scores are per class, so each class present among
    /// the feasible nodes is normalized once, and when they all come out the
    /// same (the usual case) every total gets the same amount.
    #[allow(clippy::too_many_arguments)]
    fn normalize(
        &self,
        cluster: &Cluster,
        profile: &Profile,
        nodes: &[u32],
        verdicts: &[ClassVerdict],
        class_feasible: &[u32],
        stamp: u32,
        class_add: &mut Vec<i64>,
        totals: &mut [i64],
    ) {
        if !self.normalized || nodes.is_empty() {
            return;
        }
        let present = class_feasible
            .iter()
            .enumerate()
            .filter(move |&(_, &s)| s == stamp)
            .map(|(c, _)| c);
        match class_adds(profile, verdicts, present, class_add) {
            Some(add) => totals.iter_mut().for_each(|t| *t += add),
            None => {
                for (t, &i) in totals.iter_mut().zip(nodes) {
                    *t += class_add[cluster.hot[i as usize].class as usize];
                }
            }
        }
    }
}

/// What the normalized plugins (NodeAffinity, TaintToleration) add to the
/// nodes of each class in `present` (the classes with a feasible node):
/// their raw scores are per class, so they are normalized over those classes.
/// `Some(add)` when every present class gets the same amount (the usual
/// case); otherwise `class_add` holds the amount per class.
fn class_adds(
    profile: &Profile,
    verdicts: &[ClassVerdict],
    present: impl Iterator<Item = usize> + Clone,
    class_add: &mut Vec<i64>,
) -> Option<i64> {
    let max = |raw: fn(&ClassVerdict) -> i64| {
        present
            .clone()
            .map(|c| raw(&verdicts[c]))
            .max()
            .unwrap_or(0)
    };
    let max_affinity = max(|v| v.preferred_affinity);
    let max_taint = max(|v| v.prefer_no_schedule);
    class_add.clear();
    class_add.resize(verdicts.len(), 0);
    let mut common: Option<Option<i64>> = None;
    for c in present {
        let v = &verdicts[c];
        let mut add = 0;
        for &(plugin, weight) in &profile.scores {
            add += weight
                * match plugin {
                    ScorePlugin::NodeAffinity => {
                        default_normalized(v.preferred_affinity, max_affinity, false)
                    }
                    ScorePlugin::TaintToleration => {
                        default_normalized(v.prefer_no_schedule, max_taint, true)
                    }
                    _ => 0,
                };
        }
        class_add[c] = add;
        common = match common {
            None => Some(Some(add)),
            Some(Some(a)) if a == add => Some(Some(a)),
            _ => Some(None),
        };
    }
    common.unwrap_or(Some(0))
}

/// Scores `nodes` column by column: one tight loop per plugin (no dispatch
/// per node), normalizes the plugins that need it, and sums the weighted
/// scores into `totals`. `verdicts` holds the class verdicts (indexed by
/// class) of every node in `nodes`; `per_node_pref` the preferred node
/// affinity per node when it could not be decided per class. With
/// `keep_all`, every plugin's scores stay in `scores` (for `explain`);
/// otherwise only those that are normalized.
#[allow(clippy::too_many_arguments)]
fn score_columns(
    cluster: &Cluster,
    profile: &Profile,
    p: &Prepared<'_>,
    nodes: &[u32],
    verdicts: &[ClassVerdict],
    per_node_pref: &[i64],
    scores: &mut Vec<Vec<i64>>,
    totals: &mut Vec<i64>,
    keep_all: bool,
) {
    let plugins = &profile.scores;
    totals.clear();
    totals.resize(nodes.len(), 0);
    scores.resize_with(plugins.len(), Vec::new);
    let ipa_score = p.ipa.as_ref().filter(|s| s.scoring);
    let hot = |i: u32| &cluster.hot[i as usize];
    let verdict = |i: u32| &verdicts[cluster.hot[i as usize].class as usize];
    for (k, &(plugin, weight)) in plugins.iter().enumerate() {
        let column = &mut scores[k];
        column.clear();
        let keep = keep_all || needs_normalizing(plugin);
        let mut emit = |j: usize, raw: i64| {
            if keep {
                column.push(raw);
            } else {
                totals[j] += raw * weight;
            }
        };
        match plugin {
            ScorePlugin::NodePurpose => {
                let prefer = profile.node_purpose.mode == NodePurposeMode::Prefer;
                for (j, &i) in nodes.iter().enumerate() {
                    emit(j, if prefer { verdict(i).purpose_score } else { 0 });
                }
            }
            ScorePlugin::RealUserColocation => {
                let real_user = p.role == PodRole::RealUser;
                for (j, &i) in nodes.iter().enumerate() {
                    emit(
                        j,
                        if real_user {
                            real_user_colocation::score(hot(i))
                        } else {
                            0
                        },
                    );
                }
            }
            ScorePlugin::NodeResourcesFit => match p.most_cpu_mem {
                Some((c, m, w)) => {
                    for (j, &i) in nodes.iter().enumerate() {
                        emit(
                            j,
                            node_resources_fit::most_allocated_cpu_mem(hot(i), c, m, w),
                        );
                    }
                }
                None => {
                    for (j, &i) in nodes.iter().enumerate() {
                        let cold = &cluster.cold[i as usize];
                        emit(
                            j,
                            node_resources_fit::score(
                                profile.fit.strategy,
                                &p.scored,
                                hot(i),
                                cold,
                            ),
                        );
                    }
                }
            },
            ScorePlugin::NodeAffinity => {
                for (j, &i) in nodes.iter().enumerate() {
                    let raw = per_node_pref
                        .get(j)
                        .copied()
                        .unwrap_or_else(|| verdict(i).preferred_affinity);
                    emit(j, raw);
                }
            }
            ScorePlugin::TaintToleration => {
                for (j, &i) in nodes.iter().enumerate() {
                    emit(j, verdict(i).prefer_no_schedule);
                }
            }
            ScorePlugin::InterPodAffinity => {
                for (j, &i) in nodes.iter().enumerate() {
                    emit(j, ipa_score.map_or(0, |s| s.score(cluster, i as usize)));
                }
            }
            ScorePlugin::PodTopologySpread => {
                // Already normalized: the score depends on every feasible
                // node.
                let mut normalized = Vec::new();
                if let Some(state) = &p.spread {
                    state.scores(cluster, nodes, &mut normalized);
                }
                for j in 0..nodes.len() {
                    emit(j, normalized.get(j).copied().unwrap_or(0));
                }
            }
            ScorePlugin::NodeResourcesBalancedAllocation => {
                match (p.balanced.as_deref(), p.balanced_cpu_mem) {
                    (None, _) => {
                        for j in 0..nodes.len() {
                            emit(j, 0);
                        }
                    }
                    (Some(_), Some((c, m))) => {
                        for (j, &i) in nodes.iter().enumerate() {
                            emit(j, balanced_allocation::score_cpu_mem(hot(i), c, m));
                        }
                    }
                    (Some(resources), None) => {
                        for (j, &i) in nodes.iter().enumerate() {
                            let cold = &cluster.cold[i as usize];
                            emit(j, balanced_allocation::score(resources, hot(i), cold));
                        }
                    }
                }
            }
            ScorePlugin::ImageLocality => {
                // The score depends only on the image sum, which takes few
                // distinct values across nodes: remember the last one.
                let mut memo: (i64, i64) = (-1, 0);
                for (j, &i) in nodes.iter().enumerate() {
                    let sum = if p.images.is_empty() {
                        0
                    } else {
                        image_sum(
                            p,
                            &cluster.cold[i as usize],
                            i as usize,
                            cluster.node_count(),
                        )
                    };
                    if memo.0 != sum {
                        memo = (sum, image_locality::score(sum, p.containers));
                    }
                    emit(j, memo.1);
                }
            }
        }
        if keep {
            match plugin {
                ScorePlugin::NodeAffinity => default_normalize(column, false),
                ScorePlugin::TaintToleration => default_normalize(column, true),
                ScorePlugin::InterPodAffinity if ipa_score.is_some() => min_max_normalize(column),
                _ => {}
            }
            for (total, score) in totals.iter_mut().zip(column.iter()) {
                *total += score * weight;
            }
        }
    }
}

/// Whether a plugin's raw scores are normalized over the nodes (so they must
/// be kept until every node is scored).
fn needs_normalizing(plugin: ScorePlugin) -> bool {
    matches!(
        plugin,
        ScorePlugin::NodeAffinity | ScorePlugin::TaintToleration | ScorePlugin::InterPodAffinity
    )
}

/// The weighted totals the scores give `pod` on each of `nodes`, ignoring
/// filters: how preemption ranks its candidate nodes "as the normal scores
/// would".
#[must_use]
pub fn rank_nodes(
    cluster: &Cluster,
    profile: &Profile,
    pod: &PodSpec,
    requests: &PodRequests,
    nodes: &[usize],
) -> Vec<i64> {
    let p = prepare(cluster, profile, pod, requests);
    let mut verdicts = vec![ClassVerdict::default(); cluster.classes.len()];
    let mut known = vec![false; cluster.classes.len()];
    let mut per_node_pref = Vec::new();
    let mut list = Vec::with_capacity(nodes.len());
    for &i in nodes {
        let class = cluster.hot[i].class;
        if !known[class as usize] {
            verdicts[class as usize] = class_verdict_of(&p, cluster, class);
            known[class as usize] = true;
        }
        if p.per_node_affinity {
            per_node_pref.push(
                p.preferred
                    .score(&NodeView { cluster, index: i }, &cluster.symbols),
            );
        }
        list.push(u32::try_from(i).unwrap_or(u32::MAX));
    }
    let mut scores = Vec::new();
    let mut totals = Vec::new();
    score_columns(
        cluster,
        profile,
        &p,
        &list,
        &verdicts,
        &per_node_pref,
        &mut scores,
        &mut totals,
        false,
    );
    totals
}

fn select(scratch: &Scratch, rng: Option<&mut SplitMix64>) -> Decision {
    let Some(best) = scratch.totals.iter().copied().max() else {
        return Decision {
            selected: None,
            feasible: scratch.feasible.len(),
            tied: 0,
            best_total: 0,
        };
    };
    let tied = scratch.totals.iter().filter(|&&t| t == best).count();
    let k = nth_tied(scratch.totals.iter().copied(), best, pick(tied, rng));
    Decision {
        selected: Some(scratch.feasible[k] as usize),
        feasible: scratch.feasible.len(),
        tied,
        best_total: best,
    }
}

/// Which of `tied` equally good nodes wins: uniformly at random with `rng`
/// (kube samples a reservoir in one pass; counting first and drawing once
/// picks with the same uniform odds), else the first.
fn pick(tied: usize, rng: Option<&mut SplitMix64>) -> usize {
    match rng {
        Some(rng) if tied > 1 => usize::try_from(rng.below(tied as u64)).unwrap_or(0),
        _ => 0,
    }
}

/// The position of the `n`-th (from 0) total equal to `best`.
fn nth_tied(totals: impl Iterator<Item = i64>, best: i64, n: usize) -> usize {
    totals
        .enumerate()
        .filter(|&(_, t)| t == best)
        .nth(n)
        .map_or(0, |(k, _)| k)
}

/// The FailedScheduling message for the last decision (which found no node),
/// with an optional postfilter (preemption) sentence.
#[must_use]
pub fn failure_message(
    cluster: &Cluster,
    profile: &Profile,
    scratch: &Scratch,
    postfilter: Option<&str>,
) -> String {
    if let Some(pre) = &scratch.prefilter {
        // kube: "0/N nodes are available: <PreFilter message>."
        let mut message = format!("0/{} nodes are available: {pre}.", cluster.node_count());
        if let Some(post) = postfilter.filter(|p| !p.is_empty()) {
            message.push(' ');
            message.push_str(post);
        }
        return message;
    }
    let purpose = (
        profile.node_purpose.key.as_str(),
        profile.node_purpose.value.as_str(),
    );
    let names = Names::new(&cluster.symbols, &scratch.local_names);
    let mut histogram: Vec<(String, usize)> = Vec::new();
    for &(reason, count) in &scratch.histogram {
        let text = reason.render(&names, purpose);
        match histogram.iter_mut().find(|(t, _)| *t == text) {
            Some((_, c)) => *c += count as usize,
            None => histogram.push((text, count as usize)),
        }
    }
    message::failed_scheduling(cluster.node_count(), &histogram, postfilter)
}
