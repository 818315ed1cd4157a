//! `explain`: the [`decide()`](crate::decide::decide) verdict with every node's
//! reasons and scores, for people.
//!
//! It runs the daemon's own decision ([`crate::decide::decide`]) with
//! per-node logging on, so what it reports — the node, a preemption, packing
//! preemption, a nominated node taken first, the FailedScheduling message —
//! is what the daemon does with the same cluster. Deterministic: ties go to
//! the first node in node order.

use crate::cluster::Cluster;
use crate::decide::{self, Inputs, PreemptionKind, Verdict};
use crate::model::PodSpec;
use crate::pod::pod_requests;
use crate::preemption::Pdb;
use crate::profile::Profile;
use crate::schedule::{Nominated, Scratch};
use crate::symbols::Names;

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

/// What the scheduler does with the pod, in one word.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// It binds the pod to [`Explanation::selected`].
    Bind,
    /// It evicts [`Explanation::preemption`]'s victims and nominates the pod
    /// there (no victims: it waits for pods already terminating).
    Preempt,
    /// The pod fits, but it evicts placeholders to put it next to more real
    /// users (`packingPreemption`).
    PackingPreempt,
    /// It leaves the pod pending with [`Explanation::message`].
    Unschedulable,
    /// It reports an error (Reserve failed) with [`Explanation::message`].
    Error,
}

impl Outcome {
    /// The word in `explain`'s JSON.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Bind => "bind",
            Outcome::Preempt => "preempt",
            Outcome::PackingPreempt => "packing-preempt",
            Outcome::Unschedulable => "unschedulable",
            Outcome::Error => "error",
        }
    }
}

/// A full account of one decision.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Explanation {
    /// `namespace/name`.
    pub pod: String,
    /// Every node, in node order.
    pub nodes: Vec<NodeExplanation>,
    /// What the scheduler does.
    pub outcome: Outcome,
    /// The node the pod is bound to ([`Outcome::Bind`] only).
    pub selected: Option<String>,
    /// Every node with the best total.
    pub tied: Vec<String>,
    /// The node the pod was nominated to by an earlier preemption, if any
    /// (as it was when the decision ran).
    pub nominated: Option<String>,
    /// The FailedScheduling message, what packing does, or the error.
    pub message: Option<String>,
    /// The node and the victims when the scheduler preempts.
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

/// Explains where `pod` would go and why, with no nominations and no
/// PodDisruptionBudgets.
#[must_use]
pub fn explain(cluster: &Cluster, profile: &Profile, pod: &PodSpec) -> Explanation {
    explain_with(cluster, profile, pod, &[], &[])
}

/// [`explain`], with the pods nominated to nodes (`pod`'s own nomination
/// found among them by UID) and the PodDisruptionBudgets preemption respects.
#[must_use]
pub fn explain_with(
    cluster: &Cluster,
    profile: &Profile,
    pod: &PodSpec,
    nominated: &[Nominated],
    pdbs: &[Pdb],
) -> Explanation {
    let mut scratch = Scratch::explaining();
    let requests = pod_requests(pod);
    let verdict = decide::decide(
        &Inputs {
            cluster,
            profile,
            pod,
            requests: &requests,
            nominated,
            pdbs,
        },
        &mut scratch,
        None,
    );
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
    let names = Names::new(&cluster.symbols, &scratch.local_names);
    for &(i, reason) in scratch.log.as_deref().unwrap_or_default() {
        nodes[i as usize]
            .reasons
            .push(reason.render(&names, purpose));
    }
    let best = scratch.totals.iter().copied().max();
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
        if Some(scratch.totals[k]) == best {
            tied.push(node.name.clone());
        }
    }
    let own_nomination = nominated
        .iter()
        .find(|n| n.uid == pod.uid && n.node < cluster.node_count())
        .map(|n| cluster.node_name(n.node).to_string());
    let victims = |plan: &crate::PreemptionPlan| PreemptionExplanation {
        node: plan.node_name.clone(),
        victims: plan
            .victims
            .iter()
            .map(|v| format!("{}/{}", v.namespace, v.name))
            .collect(),
    };
    let (outcome, selected, message, preemption) = match verdict {
        Verdict::Assume { node, .. } => (
            Outcome::Bind,
            Some(cluster.node_name(node).to_string()),
            None,
            None,
        ),
        Verdict::Preempt {
            plan,
            kind,
            message,
        } => (
            match kind {
                PreemptionKind::Fit => Outcome::Preempt,
                PreemptionKind::Packing => Outcome::PackingPreempt,
            },
            None,
            Some(message),
            Some(victims(&plan)),
        ),
        Verdict::Unschedulable { message, .. } => {
            (Outcome::Unschedulable, None, Some(message), None)
        }
        Verdict::Error(message) => (Outcome::Error, None, Some(message), None),
    };
    Explanation {
        pod: pod.key(),
        nodes,
        outcome,
        selected,
        tied,
        nominated: own_nomination,
        message,
        preemption,
    }
}
