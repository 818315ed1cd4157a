//! Preemption planning: which lower-priority pods to evict, and on which
//! node, so that a pod that fits nowhere can run (kube's DefaultPreemption
//! PostFilter, `framework/preemption/preemption.go` and
//! `plugins/defaultpreemption/default_preemption.go`).
//!
//! The rules, as kube applies them:
//! - a pod with `preemptionPolicy: Never` never preempts;
//! - only nodes that failed for a reason evicting pods can fix are candidates
//!   (resources, pod count, host ports — not taints, node affinity, a cordon,
//!   or a request larger than the node);
//! - victims are pods of strictly lower priority; removing all of them must
//!   make the pod fit, else the node is no candidate;
//! - the reprieve pass adds back as many as possible: PodDisruptionBudget-
//!   violating ones first, then the others, each in order of importance
//!   (higher priority, then earlier start), keeping each one the pod still
//!   fits beside;
//! - the node is chosen by fewest PDB violations, then the lowest priority of
//!   the most important victim, then the smallest sum of victim priorities,
//!   then the fewest victims;
//! - a pod nominated to a node where a lower-priority pod is still
//!   terminating because of a preemption does not preempt again
//!   ([`waits_for_victims`], kube's `PodEligibleToPreemptOthers`).
//!
//! **Pods already terminating are never victims** (kubernetes#134927): a
//! second preemptor must not evict, or count on evicting, what a first one
//! already evicted, or each victim is deleted and announced again for every
//! pod that comes while it terminates. kube may pick such a pod in its dry
//! run and then skips the API call; here it is never picked. Its room is
//! counted free in the simulation (it goes whatever happens, and the room of
//! the preemptor that evicted it is held on the node as that pod's
//! nomination), and a node where the pod fits once terminating pods are
//! gone is a candidate without victims: the pod is nominated and waits.
//!
//! Where we deliberately differ from kube:
//! - **Every node is considered**, not a random sample of 10 % / at least 100
//!   candidates: on a packing cluster the best victims may be anywhere.
//! - **Ties go to the node the normal scores rank highest, before the youngest
//!   victims.** kube's next tie-breaker evicts the placeholders with the latest
//!   start time — on a freshly autoscaled node still pulling the multi-GB user
//!   image, so the user waits for the pull (z2jh#1836). We first prefer the
//!   node the profile's scores put first (image present, real users there,
//!   fullest), and only then the youngest victims.
//! - **Inter-pod affinity is not a reason to preempt here.** kube re-runs every
//!   filter with the victims removed, so it may evict a pod to satisfy an
//!   anti-affinity rule; this engine only evicts for resources, pod count and
//!   host ports (what placeholders hold), and reports affinity-rejected nodes
//!   as not helped by preemption.

use crate::cluster::{Cluster, HostPortRec, NodeCold, NodeHot, PodRecord};
use crate::message;
use crate::model::{LabelSelector, PodSpec, Terminating};
use crate::plugins::node_ports;
use crate::plugins::node_resources_fit::{self, FitRequest};
use crate::pod::PodRequests;
use crate::profile::Profile;
use crate::schedule::{Held, NodeStatus, Scratch, fit_request, pod_ports, rank_nodes};
use crate::selector::CompiledSelector;
use crate::symbols::{Names, Sym};

/// A PodDisruptionBudget as preemption counts it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Pdb {
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// Which pods it covers; `None` or empty covers none (as kube counts it).
    pub selector: Option<LabelSelector>,
    /// `status.disruptionsAllowed`.
    pub disruptions_allowed: i32,
    /// `status.disruptedPods`: names already being disrupted (not counted again).
    pub disrupted_pods: Vec<String>,
}

/// A pod to evict.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Victim {
    /// UID.
    pub uid: String,
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// Priority.
    pub priority: i32,
}

/// The node to nominate and the pods to evict there.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PreemptionPlan {
    /// Node index.
    pub node: usize,
    /// Node name.
    pub node_name: String,
    /// Victims, most important first.
    pub victims: Vec<Victim>,
    /// How many victims violate a PodDisruptionBudget.
    pub pdb_violations: usize,
}

/// The outcome of planning.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Preemption {
    /// Evict these pods; the pod will fit on the node once they are gone.
    Plan(PreemptionPlan),
    /// Preemption cannot help; the text (starting `preemption: `) ends the
    /// FailedScheduling message.
    NotHelpful(String),
}

const NOT_HELPFUL: &str = "Preemption is not helpful for scheduling";
const NO_VICTIMS: &str = "No preemption victims found for incoming pod";

/// A node's state with some pods taken away: built from the pods that stay
/// (and the room nominated pods hold), then victims are added back one by
/// one and taken off again when the pod no longer fits beside them.
///
/// The sums are exact (`u128`: the requests of fewer than 2^32 pods of at
/// most `u64::MAX` each cannot wrap it) and reach the resource filter as
/// `min(sum, u64::MAX)`, as the cluster keeps its own. Nothing is ever taken
/// off the cluster's sums, which may have saturated (see
/// [`crate::cluster`]): a node whose pods ask for more than a `u64` holds
/// never looks as if evicting one of them freed room.
struct Simulation<'a> {
    /// cpu millicores, memory and ephemeral storage bytes.
    used: [u128; 3],
    /// Per extended resource the node offers: the amount used.
    extended: Vec<(Sym, u128)>,
    /// The filter's view of the node: allocatable as the cluster has it,
    /// the sums above saturated into it.
    hot: NodeHot,
    cold: NodeCold,
    ports: Vec<HostPortRec>,
    req: &'a FitRequest,
    wanted_ports: &'a [HostPortRec],
    any_ip: Sym,
}

impl<'a> Simulation<'a> {
    /// Node `i` with only the room `held` by nominated pods (cpu, memory,
    /// ephemeral storage; pods) used: the caller adds the pods that stay.
    fn empty(
        cluster: &Cluster,
        i: usize,
        held: Option<&Held>,
        req: &'a FitRequest,
        wanted_ports: &'a [HostPortRec],
    ) -> Simulation<'a> {
        let cold = &cluster.cold[i];
        let mut sim = Simulation {
            used: held.map_or([0; 3], |h| h.requests.map(u128::from)),
            extended: cold.extended_alloc.iter().map(|&(n, _)| (n, 0)).collect(),
            hot: NodeHot {
                pods: held.map_or(0, |h| h.pods),
                ..cluster.hot[i]
            },
            cold: NodeCold {
                alloc_eph: cold.alloc_eph,
                extended_alloc: cold.extended_alloc.clone(),
                ..NodeCold::default()
            },
            ports: Vec::new(),
            req,
            wanted_ports,
            any_ip: cluster.any_ip,
        };
        sim.project();
        sim
    }

    /// Adds (`add`) a pod to the node, or takes it off again.
    fn change(&mut self, pod: &PodRecord, add: bool) {
        // Taking off only ever undoes an add: nothing goes below zero.
        let apply = |total: &mut u128, v: u64| {
            *total = if add {
                total.saturating_add(u128::from(v))
            } else {
                total.saturating_sub(u128::from(v))
            };
        };
        for (total, &v) in self.used.iter_mut().zip(&pod.req) {
            apply(total, v);
        }
        for &(name, v) in &pod.extended {
            if let Some((_, total)) = self.extended.iter_mut().find(|(n, _)| *n == name) {
                apply(total, v);
            }
        }
        if add {
            self.hot.pods = self.hot.pods.saturating_add(1);
            self.ports.extend_from_slice(&pod.ports);
        } else {
            self.hot.pods = self.hot.pods.saturating_sub(1);
            for port in &pod.ports {
                if let Some(i) = self.ports.iter().position(|p| p == port) {
                    self.ports.swap_remove(i);
                }
            }
        }
        self.project();
    }

    /// Writes the exact sums into the filter's view, saturated.
    fn project(&mut self) {
        let sat = |v: u128| u64::try_from(v).unwrap_or(u64::MAX);
        self.hot.req_cpu = sat(self.used[0]);
        self.hot.req_mem = sat(self.used[1]);
        self.cold.req_eph = sat(self.used[2]);
        self.cold.extended_req.clear();
        self.cold
            .extended_req
            .extend(self.extended.iter().map(|&(n, v)| (n, sat(v))));
    }

    /// Whether the pod fits; the first reason when it does not.
    fn fits(&self) -> Result<(), crate::reason::Reason> {
        let mut first = None;
        if !node_resources_fit::fits(&self.hot, &self.cold, self.req, |r| {
            first.get_or_insert(r);
        }) {
            return Err(first.unwrap_or(crate::reason::Reason::TooManyPods));
        }
        if !self.wanted_ports.is_empty()
            && node_ports::conflicts(self.wanted_ports, &self.ports, self.any_ip)
        {
            return Err(crate::reason::Reason::NodePorts);
        }
        Ok(())
    }
}

struct Candidate<'c> {
    node: usize,
    victims: Vec<&'c PodRecord>,
    violations: usize,
}

impl Candidate<'_> {
    fn highest_priority(&self) -> i32 {
        self.victims.first().map_or(i32::MIN, |v| v.priority)
    }
    fn priority_sum(&self) -> i64 {
        self.victims
            .iter()
            .map(|v| i64::from(v.priority) + (1i64 << 31))
            .sum()
    }
    /// The earliest start among the highest-priority victims.
    fn earliest_start_of_highest(&self) -> i64 {
        let top = self.highest_priority();
        self.victims
            .iter()
            .filter(|v| v.priority == top)
            .map(|v| v.start_time)
            .min()
            .unwrap_or(i64::MAX)
    }
}

/// More important first: higher priority, then earlier start (kube's `MoreImportantPod`).
fn importance(a: &PodRecord, b: &PodRecord) -> std::cmp::Ordering {
    b.priority
        .cmp(&a.priority)
        .then(a.start_time.cmp(&b.start_time))
}

/// Plans a preemption for `pod` after a decision (in `scratch`) found no node.
#[must_use]
pub fn plan(
    cluster: &Cluster,
    profile: &Profile,
    pod: &PodSpec,
    requests: &PodRequests,
    scratch: &Scratch,
    pdbs: &[Pdb],
) -> Preemption {
    if pod.preemption_never {
        return Preemption::NotHelpful(
            "preemption: not eligible due to preemptionPolicy=Never.".into(),
        );
    }
    plan_among(
        cluster,
        profile,
        pod,
        requests,
        scratch,
        pdbs,
        |_| true,
        |_| true,
    )
}

/// Packing preemption (our extension, off by default): after a decision
/// chose `selected` for a real user, is there a node with *more* real users
/// where the user fits by evicting placeholders only? Then evicting them
/// packs users together, and the placeholders (recreated by their
/// StatefulSet) take the room the user would have started to fill
/// elsewhere. `None` when no such node exists, the pod is not a real user,
/// or it never preempts; plans that would violate a PodDisruptionBudget are
/// not taken.
#[must_use]
pub fn packing_plan(
    cluster: &Cluster,
    profile: &Profile,
    pod: &PodSpec,
    requests: &PodRequests,
    scratch: &Scratch,
    pdbs: &[Pdb],
    selected: usize,
) -> Option<PreemptionPlan> {
    if pod.preemption_never || cluster.roles().classify(&pod.labels) != crate::PodRole::RealUser {
        return None;
    }
    let users_there = cluster.cold[selected].real_users;
    let more_users = |i: usize| cluster.cold[i].real_users > users_there;
    let placeholders_only = |q: &PodRecord| q.role == crate::PodRole::Placeholder;
    match plan_among(
        cluster,
        profile,
        pod,
        requests,
        scratch,
        pdbs,
        more_users,
        placeholders_only,
    ) {
        // Packing evicts: it does not make a user wait for pods it did not
        // evict to finish terminating.
        Preemption::Plan(plan) if plan.pdb_violations == 0 && !plan.victims.is_empty() => {
            Some(plan)
        }
        _ => None,
    }
}

/// Whether `pod`, nominated to node `nominated` by an earlier preemption,
/// must wait instead of preempting again: a lower-priority pod there is
/// still terminating because a scheduler preempted it (kube's
/// `PodEligibleToPreemptOthers`: "not eligible due to a terminating pod on
/// the nominated node"). Not when the last decision found the node
/// unusable for a reason no eviction fixes: then preempting elsewhere is
/// the way on.
#[must_use]
pub fn waits_for_victims(
    cluster: &Cluster,
    pod: &PodSpec,
    nominated: usize,
    scratch: &Scratch,
) -> bool {
    nominated < cluster.node_count()
        && scratch.node_status(nominated) != NodeStatus::Unresolvable
        && cluster
            .pods_on(nominated)
            .any(|q| q.priority < pod.priority && q.terminating == Terminating::ByPreemption)
}

/// The planning itself: candidates are the nodes `accept` allows among those
/// rejected only for resources, pod count or ports; victims are the
/// lower-priority pods `victim` allows.
#[allow(clippy::too_many_lines, clippy::too_many_arguments)]
fn plan_among(
    cluster: &Cluster,
    profile: &Profile,
    pod: &PodSpec,
    requests: &PodRequests,
    scratch: &Scratch,
    pdbs: &[Pdb],
    accept: impl Fn(usize) -> bool,
    victim: impl Fn(&PodRecord) -> bool,
) -> Preemption {
    let req = fit_request(cluster, profile, requests);
    let wanted_ports = pod_ports(cluster, pod);
    let pdb_selectors: Vec<(&Pdb, Option<CompiledSelector>)> = pdbs
        .iter()
        .map(|p| {
            let sel = p
                .selector
                .as_ref()
                .filter(|s| !s.match_labels.is_empty() || !s.match_expressions.is_empty())
                .map(|s| CompiledSelector::compile(s, &cluster.symbols));
            (p, sel)
        })
        .collect();
    let purpose = (
        profile.node_purpose.key.as_str(),
        profile.node_purpose.value.as_str(),
    );
    let mut histogram: Vec<(String, usize)> = Vec::new();
    let mut note = |text: String| match histogram.iter_mut().find(|(t, _)| *t == text) {
        Some((_, n)) => *n += 1,
        None => histogram.push((text, 1)),
    };
    let mut candidates: Vec<Candidate<'_>> = Vec::new();
    let mut lower: Vec<&PodRecord> = Vec::new();
    for i in 0..cluster.node_count() {
        if scratch.node_status(i) != NodeStatus::Resolvable || !accept(i) {
            note(NOT_HELPFUL.into());
            continue;
        }
        // Lower-priority pods: those already terminating go anyway (module
        // docs), the others are potential victims.
        lower.clear();
        let mut going = 0_usize;
        for q in cluster
            .pods_on(i)
            .filter(|q| q.priority < pod.priority && victim(q))
        {
            if q.terminating == Terminating::No {
                lower.push(q);
            } else {
                going = going.saturating_add(1);
            }
        }
        if lower.is_empty() && going == 0 {
            note(NO_VICTIMS.into());
            continue;
        }
        // The node without them. Room held by pods nominated here (priority
        // at least ours) stays held, as kube runs these filters "with
        // nominated pods": two preemptors never count on the same victims.
        let mut sim = Simulation::empty(cluster, i, scratch.held_on(i), &req, &wanted_ports);
        for q in cluster
            .pods_on(i)
            .filter(|q| !(q.priority < pod.priority && victim(q)))
        {
            sim.change(q, true);
        }
        if let Err(reason) = sim.fits() {
            note(reason.render(&Names::new(&cluster.symbols, &req.local), purpose));
            continue;
        }
        lower.sort_by(|a, b| importance(a, b));
        // Split by PodDisruptionBudget violation, in importance order.
        let mut allowed: Vec<i32> = pdb_selectors
            .iter()
            .map(|(p, _)| p.disruptions_allowed)
            .collect();
        let namespace_of = |q: &PodRecord| cluster.symbols.resolve(q.namespace).to_string();
        let (mut violating, mut fine): (Vec<&PodRecord>, Vec<&PodRecord>) =
            (Vec::new(), Vec::new());
        for &q in &lower {
            let ns = namespace_of(q);
            let mut violates = false;
            for (k, (pdb, sel)) in pdb_selectors.iter().enumerate() {
                let Some(sel) = sel else { continue };
                if pdb.namespace != ns || !sel.matches(&q.labels) {
                    continue;
                }
                if pdb.disrupted_pods.iter().any(|n| *n == *q.name) {
                    continue;
                }
                allowed[k] -= 1;
                if allowed[k] < 0 {
                    violates = true;
                }
            }
            if violates {
                violating.push(q)
            } else {
                fine.push(q)
            }
        }
        // Reprieve: add back what still leaves room, violating pods first.
        let mut victims = Vec::new();
        let mut violations = 0;
        for (group, is_violating) in [(&violating, true), (&fine, false)] {
            for &q in group {
                sim.change(q, true);
                if sim.fits().is_err() {
                    sim.change(q, false);
                    victims.push(q);
                    if is_violating {
                        violations += 1;
                    }
                }
            }
        }
        if victims.is_empty() && going == 0 {
            // The pod fits beside every lower-priority pod: nothing to evict
            // here (the node was rejected for another reason).
            note(NO_VICTIMS.into());
            continue;
        }
        // Without victims, the pod fits once the terminating pods are gone.
        victims.sort_by(|a, b| importance(a, b));
        candidates.push(Candidate {
            node: i,
            victims,
            violations,
        });
    }
    if candidates.is_empty() {
        return Preemption::NotHelpful(format!(
            "preemption: {}",
            message::failed_scheduling(cluster.node_count(), &histogram, None)
        ));
    }
    // kube's tie-breakers, in order; each keeps only the best candidates.
    fn keep_min<'c, T: Ord + Copy>(c: &mut Vec<Candidate<'c>>, key: impl Fn(&Candidate<'c>) -> T) {
        if let Some(best) = c.iter().map(&key).min() {
            c.retain(|x| key(x) == best);
        }
    }
    keep_min(&mut candidates, |c| c.violations);
    keep_min(&mut candidates, Candidate::highest_priority);
    keep_min(&mut candidates, Candidate::priority_sum);
    keep_min(&mut candidates, |c| c.victims.len());
    if candidates.len() > 1 {
        // Ours: the node the normal scores rank highest.
        let nodes: Vec<usize> = candidates.iter().map(|c| c.node).collect();
        let totals = rank_nodes(cluster, profile, pod, requests, &nodes);
        let best = totals.iter().copied().max().unwrap_or(0);
        let mut k = 0;
        candidates.retain(|_| {
            let keep = totals[k] == best;
            k += 1;
            keep
        });
    }
    // kube: the youngest highest-priority victims (latest earliest start).
    keep_min(&mut candidates, |c| {
        std::cmp::Reverse(c.earliest_start_of_highest())
    });
    let chosen = candidates.swap_remove(0);
    Preemption::Plan(PreemptionPlan {
        node: chosen.node,
        node_name: cluster.node_name(chosen.node).to_string(),
        victims: chosen
            .victims
            .iter()
            .map(|v| Victim {
                uid: v.uid.to_string(),
                namespace: cluster.symbols.resolve(v.namespace).to_string(),
                name: v.name.to_string(),
                priority: v.priority,
            })
            .collect(),
        pdb_violations: chosen.violations,
    })
}
