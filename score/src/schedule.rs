//! One scheduling decision: filter every node, score every feasible node,
//! normalize, weigh, select.
//!
//! The hot loop reads each node's [`NodeHot`](crate::cluster) record once and
//! looks its label and taint verdicts up per node *class* (computed at most once
//! per class per pod), so a pod's node affinity, tolerations and node-purpose
//! rule cost one table lookup per node. Only pods that name a node, use host
//! ports, have affinity on the hostname label, or have inter-pod affinity take
//! slower per-node paths. Every buffer lives in [`Scratch`], reused across
//! decisions: the loop allocates nothing per node.
//!
//! Every feasible node is scored. kube-scheduler's `percentageOfNodesToScore`
//! (which stops after a sample of feasible nodes on large clusters) is
//! deliberately not reproduced: packing must compare all nodes.

use crate::cluster::{Cluster, ImageColumn, NodeCold, NodeHot, PodRole, class_label};
use crate::message;
use crate::model::PodSpec;
use crate::plugins::image_locality::{self, normalized_image_name};
use crate::plugins::inter_pod_affinity::InterPodAffinityState;
use crate::plugins::node_affinity::{CompiledPreferred, CompiledRequired, NodeLabels};
use crate::plugins::node_ports;
use crate::plugins::node_purpose::PurposeLabel;
use crate::plugins::node_resources_fit::{self, FitRequest, ScoredResource};
use crate::plugins::node_unschedulable::tolerates_unschedulable;
use crate::plugins::normalize::{default_normalize, min_max_normalize};
use crate::plugins::real_user_colocation;
use crate::plugins::taint_toleration::{
    CompiledToleration, first_untolerated, intolerable_prefer_no_schedule,
};
use crate::pod::{PodRequests, pod_requests};
use crate::profile::{FilterPlugin, NodePurposeMode, Profile, ScorePlugin};
use crate::reason::Reason;
use crate::rng::SplitMix64;
use crate::symbols::Sym;

/// Label and taint verdicts of one node class for one pod.
#[derive(Clone, Copy, Debug, Default)]
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
}

/// Reusable buffers for decisions. One per scheduling thread.
#[derive(Debug, Default)]
pub struct Scratch {
    stamp: u32,
    class_stamp: Vec<u32>,
    class_verdict: Vec<ClassVerdict>,
    /// Node indices of the feasible nodes, in node order.
    feasible: Vec<u32>,
    /// Per enabled score plugin (profile order), per feasible node: the score.
    scores: Vec<Vec<i64>>,
    totals: Vec<i64>,
    histogram: Vec<(Reason, u32)>,
    /// (node, reason) of every rejection, kept only when explaining.
    log: Option<Vec<(u32, Reason)>>,
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
        match self.status.get(i).copied().unwrap_or(0) {
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
    Prepared {
        role: cluster.roles().classify(&pod.labels),
        fit,
        scored,
        most_cpu_mem,
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
    FitRequest {
        cpu: requests.cpu_milli,
        mem: requests.memory,
        eph: requests.ephemeral_storage,
        extended: requests
            .extended
            .iter()
            .filter(|(n, _)| !ignored(n))
            .map(|(n, v)| (cluster.symbols.lookup(n), *v))
            .collect(),
    }
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
    }
}

fn image_sum(p: &Prepared<'_>, cold: &NodeCold, index: usize, total_nodes: usize) -> i64 {
    let mut sum = 0;
    for &(sym, column) in &p.images {
        if column.bits[index / 64] & (1 << (index % 64)) == 0 {
            continue;
        }
        let size = column.uniform_size.unwrap_or_else(|| {
            cold.images
                .binary_search_by_key(&sym, |&(s, _)| s)
                .map_or(0, |i| cold.images[i].1)
        });
        sum += image_locality::scaled(size, column.nodes, total_nodes);
    }
    sum
}

/// Decides where `pod` goes. With `rng`, ties are broken at random (kube's
/// reservoir sampling); without, the first tied node in node order wins.
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
    rng: Option<&mut SplitMix64>,
) -> Decision {
    let p = prepare(cluster, profile, pod, requests);
    let mut held: Vec<Held> = Vec::new();
    for n in nominated {
        if n.uid == pod.uid || n.priority < pod.priority || n.node >= cluster.node_count() {
            continue;
        }
        match held.iter_mut().find(|h| h.node == n.node) {
            Some(h) => {
                for (a, b) in h.requests.iter_mut().zip(n.requests) {
                    *a += b;
                }
                h.pods += 1;
            }
            None => held.push(Held {
                node: n.node,
                requests: n.requests,
                pods: 1,
            }),
        }
    }
    run(cluster, profile, &p, &held, scratch);
    scratch.held = held;
    select(scratch, rng)
}

/// Counts a rejection (and logs it when explaining).
fn record(
    histogram: &mut Vec<(Reason, u32)>,
    log: &mut Option<Vec<(u32, Reason)>>,
    status: &mut [u8],
    node: usize,
    reason: Reason,
) {
    let code = if reason.unresolvable() {
        NodeStatus::Unresolvable
    } else if matches!(
        reason,
        Reason::PodAntiAffinity | Reason::ExistingPodsAntiAffinity
    ) {
        NodeStatus::Affinity
    } else {
        NodeStatus::Resolvable
    } as u8;
    status[node] = status[node].max(code);
    match histogram.iter_mut().find(|(r, _)| *r == reason) {
        Some((_, n)) => *n += 1,
        None => histogram.push((reason, 1)),
    }
    if let Some(log) = log {
        log.push((u32::try_from(node).unwrap_or(u32::MAX), reason));
    }
}

#[allow(clippy::too_many_lines)]
fn run(
    cluster: &Cluster,
    profile: &Profile,
    p: &Prepared<'_>,
    held: &[Held],
    scratch: &mut Scratch,
) {
    let nominated = held;
    scratch.stamp = scratch.stamp.wrapping_add(1);
    if scratch.stamp == 0 {
        scratch.class_stamp.fill(0);
        scratch.stamp = 1;
    }
    if scratch.class_stamp.len() < cluster.classes.len() {
        scratch.class_stamp.resize(cluster.classes.len(), 0);
        scratch
            .class_verdict
            .resize(cluster.classes.len(), ClassVerdict::default());
    }
    let Scratch {
        stamp,
        class_stamp,
        class_verdict,
        feasible,
        scores,
        totals,
        histogram,
        log,
        status,
        per_node_pref,
        held: _,
        prefilter,
    } = scratch;
    status.clear();
    status.resize(cluster.node_count(), 0);
    let stamp = *stamp;
    feasible.clear();
    histogram.clear();
    per_node_pref.clear();
    *prefilter = None;
    totals.clear();
    if let Some(log) = log {
        log.clear();
    }
    if let Some((message, resolvable)) = p.volumes.as_ref().and_then(|v| v.prefilter.as_ref()) {
        // Rejected before any node is looked at: every node fails alike.
        *prefilter = Some(message.clone());
        let code = if *resolvable {
            NodeStatus::Resolvable
        } else {
            NodeStatus::Unresolvable
        } as u8;
        status.fill(code);
        return;
    }
    let per_node = p.per_node_affinity || (p.filter_node_name && p.node_name.is_some());
    let check_ports = p.filter_ports && !p.ports.is_empty();
    let ipa_filter = p
        .ipa
        .as_ref()
        .filter(|s| s.filtering && profile.filter_enabled(FilterPlugin::InterPodAffinity));
    let symbols = &cluster.symbols;

    // Pass 1: filter every node; feasible ones are collected in node order.
    for (i, hot) in cluster.hot.iter().enumerate() {
        let class = hot.class as usize;
        if class_stamp[class] != stamp {
            class_verdict[class] = class_verdict_of(p, cluster, hot.class);
            class_stamp[class] = stamp;
        }
        let cv = &class_verdict[class];
        let mut preferred_affinity = 0;
        if per_node {
            // The full filter sequence in kube's order, with node-level checks.
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
        let cold = &cluster.cold[i];
        if check_ports
            && hot.port_pods > 0
            && node_ports::conflicts(&p.ports, &cold.ports, cluster.any_ip)
        {
            record(histogram, log, status, i, Reason::NodePorts);
            continue;
        }
        // Pods nominated to this node (by an earlier preemption) with a
        // priority at least ours hold their room against us (filters only;
        // scores see the node as it is, as kube's do).
        let held;
        let fit_hot = match nominated.iter().find(|n| n.node == i) {
            Some(n) => {
                held = NodeHot {
                    req_cpu: hot.req_cpu + n.requests[0],
                    req_mem: hot.req_mem + n.requests[1],
                    req_eph: hot.req_eph + n.requests[2],
                    pods: hot.pods + n.pods,
                    ..*hot
                };
                &held
            }
            None => hot,
        };
        // `fits` reports every insufficient resource, as kube does.
        if p.filter_fit
            && !node_resources_fit::fits(fit_hot, cold, &p.fit, |reason| {
                record(histogram, log, status, i, reason);
            })
        {
            continue;
        }
        if let Some(volumes) = &p.volumes
            && let Some(reason) = volumes.filter(cluster, i, &NodeView { cluster, index: i }, p.pod)
        {
            record(histogram, log, status, i, reason);
            continue;
        }
        if let Some(state) = ipa_filter
            && let Some(reason) = state.filter(cluster, i)
        {
            record(histogram, log, status, i, reason);
            continue;
        }
        feasible.push(u32::try_from(i).unwrap_or(u32::MAX));
        if p.per_node_affinity {
            per_node_pref.push(preferred_affinity);
        }
    }

    // Pass 2: score the feasible nodes, one plugin at a time.
    score_columns(
        cluster,
        profile,
        p,
        feasible,
        class_verdict,
        per_node_pref,
        scores,
        totals,
        log.is_some(),
    );
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

fn select(scratch: &Scratch, mut rng: Option<&mut SplitMix64>) -> Decision {
    let mut best: Option<(usize, i64)> = None;
    let mut tied = 0usize;
    for (k, &total) in scratch.totals.iter().enumerate() {
        match best {
            Some((_, b)) if total < b => {}
            Some((_, b)) if total == b => {
                tied += 1;
                if let Some(rng) = rng.as_deref_mut()
                    && rng.below(tied as u64) == 0
                {
                    best = Some((k, total));
                }
            }
            _ => {
                best = Some((k, total));
                tied = 1;
            }
        }
    }
    Decision {
        selected: best.map(|(k, _)| scratch.feasible[k] as usize),
        feasible: scratch.feasible.len(),
        tied,
        best_total: best.map_or(0, |(_, t)| t),
    }
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
    let mut histogram: Vec<(String, usize)> = Vec::new();
    for &(reason, count) in &scratch.histogram {
        let text = reason.render(&cluster.symbols, purpose);
        match histogram.iter_mut().find(|(t, _)| *t == text) {
            Some((_, c)) => *c += count as usize,
            None => histogram.push((text, count as usize)),
        }
    }
    message::failed_scheduling(cluster.node_count(), &histogram, postfilter)
}

/// What `explain` reports for one node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeExplanation {
    /// Node name.
    pub name: String,
    /// Whether it passed every filter.
    pub feasible: bool,
    /// kube's reason strings, in filter order.
    pub reasons: Vec<String>,
    /// Normalized score (before weight) of each enabled score plugin, feasible nodes only.
    pub scores: Vec<(&'static str, i64)>,
    /// Weighted sum, feasible nodes only.
    pub total: Option<i64>,
}

/// A full account of one decision.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Explanation {
    /// `namespace/name`.
    pub pod: String,
    /// Every node, in node order.
    pub nodes: Vec<NodeExplanation>,
    /// The chosen node (the first of the tied ones).
    pub selected: Option<String>,
    /// Every node with the best total.
    pub tied: Vec<String>,
    /// The FailedScheduling message when nothing is feasible.
    pub message: Option<String>,
    /// When nothing is feasible and evicting lower-priority pods would help:
    /// the node and the victims.
    pub preemption: Option<PreemptionExplanation>,
}

/// The preemption `explain` reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PreemptionExplanation {
    /// The node the pod would be nominated to.
    pub node: String,
    /// `namespace/name` of each victim.
    pub victims: Vec<String>,
}

/// Explains where `pod` would go and why; deterministic (ties go to the first
/// node in node order).
#[must_use]
pub fn explain(cluster: &Cluster, profile: &Profile, pod: &PodSpec) -> Explanation {
    explain_with(cluster, profile, pod, &[])
}

/// [`explain`], with the PodDisruptionBudgets preemption must respect.
#[must_use]
pub fn explain_with(
    cluster: &Cluster,
    profile: &Profile,
    pod: &PodSpec,
    pdbs: &[crate::preemption::Pdb],
) -> Explanation {
    let mut scratch = Scratch {
        log: Some(Vec::new()),
        ..Scratch::default()
    };
    let decision = schedule(cluster, profile, pod, &mut scratch, None);
    let purpose = (
        profile.node_purpose.key.as_str(),
        profile.node_purpose.value.as_str(),
    );
    let mut nodes: Vec<NodeExplanation> = (0..cluster.node_count())
        .map(|i| NodeExplanation {
            name: cluster.node_name(i).to_string(),
            feasible: false,
            reasons: Vec::new(),
            scores: Vec::new(),
            total: None,
        })
        .collect();
    for &(i, reason) in scratch.log.as_deref().unwrap_or_default() {
        nodes[i as usize]
            .reasons
            .push(reason.render(&cluster.symbols, purpose));
    }
    let best = decision.best_total;
    let mut tied = Vec::new();
    for (k, &i) in scratch.feasible.iter().enumerate() {
        let node = &mut nodes[i as usize];
        node.feasible = true;
        node.scores = profile
            .scores
            .iter()
            .enumerate()
            .map(|(p, &(plugin, _))| (plugin.name(), scratch.scores[p][k]))
            .collect();
        node.total = Some(scratch.totals[k]);
        if scratch.totals[k] == best {
            tied.push(node.name.clone());
        }
    }
    let (message, preemption) = if decision.selected.is_some() {
        (None, None)
    } else {
        let requests = pod_requests(pod);
        match crate::preemption::plan(cluster, profile, pod, &requests, &scratch, pdbs) {
            crate::preemption::Preemption::Plan(plan) => (
                Some(failure_message(cluster, profile, &scratch, None)),
                Some(PreemptionExplanation {
                    node: plan.node_name,
                    victims: plan
                        .victims
                        .iter()
                        .map(|v| format!("{}/{}", v.namespace, v.name))
                        .collect(),
                }),
            ),
            crate::preemption::Preemption::NotHelpful(post) => (
                Some(failure_message(cluster, profile, &scratch, Some(&post))),
                None,
            ),
        }
    };
    Explanation {
        pod: pod.key(),
        nodes,
        selected: decision.selected.map(|i| cluster.node_name(i).to_string()),
        tied,
        message,
        preemption,
    }
}
