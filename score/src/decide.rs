//! The one decision policy: what the scheduler does with one pending pod.
//!
//! [`decide`] is the whole scheduling cycle as a pure function. The daemon
//! calls it under its cache lock and carries the verdict out; `explain`
//! calls it and prints the verdict; the capacity simulator calls it for every
//! spawn. None of them decides anything on its own, so `explain` tells what
//! the daemon does and the simulator replays what the daemon would do.
//!
//! The steps, in order (kube's cycle plus our packing extension):
//! 1. **Filter and score** every node, with the room of pods nominated to
//!    nodes held against pods of lower or equal priority
//!    ([`schedule_with_nominated`]).
//! 2. **A nominated pod goes to its nominated node** when that node passes the
//!    filters, even when another scores higher: preemption made the room there
//!    (kube tries the nominated node first).
//! 3. **Packing preemption** (opt-in, `packingPreemption`): a real user who
//!    found a node, and is not nominated anywhere, is instead nominated to a
//!    node with *more* real users where evicting placeholders makes room
//!    ([`crate::preemption::packing_plan`]).
//! 4. **Reserve**: the pod's unbound WaitForFirstConsumer claims are matched
//!    to the chosen node ([`crate::volumes::claim_bindings`]); a node that no
//!    longer passes the volume filters is an error, as kube's Reserve failure.
//! 5. **PostFilter** when no node passes: a pod nominated to a node where
//!    lower-priority pods are still terminating because of a preemption waits
//!    (no second round of evictions); otherwise preemption is planned
//!    ([`crate::preemption::plan`]), or the FailedScheduling message says why
//!    it cannot help, and the nomination is dropped (as kube clears it).
//!
//! Victims still terminating are part of the cluster
//! ([`crate::model::Terminating::ByPreemption`]): the caller marks them when it
//! carries out a [`Verdict::Preempt`].

use crate::cluster::Cluster;
use crate::model::PodSpec;
use crate::pod::PodRequests;
use crate::preemption::{self, Pdb, Preemption, PreemptionPlan};
use crate::profile::Profile;
use crate::rng::SplitMix64;
use crate::schedule::{NodeStatus, Nominated, Scratch, failure_message, schedule_with_nominated};
use crate::volumes::ClaimBinding;

/// Everything one decision reads besides the scratch space.
#[derive(Clone, Copy, Debug)]
pub struct Inputs<'a> {
    /// Nodes and the pods on them (assumed ones included; victims still
    /// terminating marked as such).
    pub cluster: &'a Cluster,
    /// The pod's profile.
    pub profile: &'a Profile,
    /// The pending pod.
    pub pod: &'a PodSpec,
    /// Its effective requests ([`crate::pod::pod_requests`]).
    pub requests: &'a PodRequests,
    /// Every pod nominated to a node, this one's own nomination included
    /// (found by UID).
    pub nominated: &'a [Nominated],
    /// The PodDisruptionBudgets preemption respects.
    pub pdbs: &'a [Pdb],
}

/// Why a preemption is planned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PreemptionKind {
    /// The pod fits nowhere; evicting lower-priority pods makes room
    /// (kube's DefaultPreemption). No victims: pods already terminating
    /// there make the room, and the pod waits for them.
    Fit,
    /// The pod fits, but evicting placeholders puts it next to more real
    /// users (our `packingPreemption` extension).
    Packing,
}

/// What happens to a pod's nomination when it stays pending.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NominationChange {
    /// It stays (the pod waits for its victims, or had none).
    Keep,
    /// It is dropped: preemption cannot help on that node any more.
    Clear,
}

/// What the scheduler does with the pod.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Assume the pod on `node` and bind it there (after binding `claims`,
    /// PreBind); its nomination, if any, is done with.
    Assume {
        /// Node index.
        node: usize,
        /// The node's weighted total; `None` when the pod went to its
        /// nominated node rather than to the best-scored one.
        score: Option<i64>,
        /// The unbound claims to bind first, and how (Reserve).
        claims: Vec<ClaimBinding>,
    },
    /// Evict `plan.victims` and nominate the pod to `plan.node`; it stays
    /// pending until the room is free.
    Preempt {
        /// The node and the victims.
        plan: PreemptionPlan,
        /// Why.
        kind: PreemptionKind,
        /// What the pod is told (the FailedScheduling message for
        /// [`PreemptionKind::Fit`]; what packing does for
        /// [`PreemptionKind::Packing`]).
        message: String,
    },
    /// The pod stays pending: PodScheduled=False, reason Unschedulable.
    Unschedulable {
        /// kube's FailedScheduling message, preemption's sentence included.
        message: String,
        /// Whether preemption was tried (kube's `preemption_attempts_total`).
        preemption_attempted: bool,
        /// What becomes of its nomination.
        nomination: NominationChange,
    },
    /// The pod cannot be placed for a reason that is not about fit (kube's
    /// SchedulerError: Reserve failed on the chosen node).
    Error(String),
}

/// Decides what to do with `inputs.pod`. With `rng`, score ties are broken
/// uniformly at random (as kube does); without, the first tied node in node
/// order wins (what `explain` shows). `scratch` keeps the decision's details
/// (feasible set, per-plugin scores when it logs, the failure histogram).
#[must_use]
pub fn decide(inputs: &Inputs<'_>, scratch: &mut Scratch, rng: Option<&mut SplitMix64>) -> Verdict {
    let Inputs {
        cluster,
        profile,
        pod,
        requests,
        nominated,
        pdbs,
    } = *inputs;
    let decision =
        schedule_with_nominated(cluster, profile, pod, requests, nominated, scratch, rng);
    let own = nominated
        .iter()
        .find(|n| n.uid == pod.uid && n.node < cluster.node_count())
        .map(|n| n.node);
    let Some(best) = decision.selected else {
        return post_filter(inputs, own, scratch);
    };
    // 2. The nominated node first, when it fits.
    let (node, score) = match own {
        Some(i) if i != best && scratch.node_status(i) == NodeStatus::Feasible => (i, None),
        _ => (best, Some(decision.best_total)),
    };
    // 3. Packing preemption, for pods not already waiting on a nomination.
    if profile.packing_preemption
        && own.is_none()
        && let Some(plan) =
            preemption::packing_plan(cluster, profile, pod, requests, scratch, pdbs, node)
    {
        let message = format!(
            "packing: evicting {} placeholder(s) on node {} to place this user next to real users",
            plan.victims.len(),
            plan.node_name
        );
        return Verdict::Preempt {
            plan,
            kind: PreemptionKind::Packing,
            message,
        };
    }
    // 4. Reserve.
    match crate::volumes::claim_bindings(cluster, pod, node) {
        Ok(claims) => Verdict::Assume {
            node,
            score,
            claims,
        },
        Err(why) => Verdict::Error(format!(
            "running Reserve plugin \"VolumeBinding\": node {:?}: {why}",
            cluster.node_name(node)
        )),
    }
}

/// 5. No node passes the filters: wait for victims, preempt, or say why not.
fn post_filter(inputs: &Inputs<'_>, own: Option<usize>, scratch: &Scratch) -> Verdict {
    let Inputs {
        cluster,
        profile,
        pod,
        requests,
        pdbs,
        ..
    } = *inputs;
    // kube: no second round of evictions while the first victims are still
    // terminating on the nominated node.
    if let Some(i) = own
        && preemption::waits_for_victims(cluster, pod, i, scratch)
    {
        let post = "preemption: not eligible due to a terminating pod on the nominated node.";
        return Verdict::Unschedulable {
            message: failure_message(cluster, profile, scratch, Some(post)),
            preemption_attempted: false,
            nomination: NominationChange::Keep,
        };
    }
    match preemption::plan(cluster, profile, pod, requests, scratch, pdbs) {
        Preemption::Plan(plan) => Verdict::Preempt {
            plan,
            kind: PreemptionKind::Fit,
            message: failure_message(cluster, profile, scratch, None),
        },
        Preemption::NotHelpful(post) => Verdict::Unschedulable {
            message: failure_message(cluster, profile, scratch, Some(&post)),
            preemption_attempted: !pod.preemption_never,
            // kube clears the nomination when preemption does not help.
            nomination: NominationChange::Clear,
        },
    }
}
