//! InterPodAffinity (kube `plugins/interpodaffinity`: `filtering.go`,
//! `scoring.go`; `framework/types.go` `AffinityTerm.Matches`).
//!
//! A term matches a pod when the pod's namespace is in the term's namespaces
//! (empty, with no namespace selector: the term owner's namespace) or its
//! namespace labels match the namespace selector (`{}`: every namespace), and
//! its labels match the label selector (none: no pod).
//!
//! Filter, in kube's order: the pod's required affinity needs, for every term,
//! a matching pod in the node's topology domain (the node must carry every
//! topology key; a pod whose terms match itself may start a series when no pod
//! anywhere matches); its required anti-affinity forbids domains holding a
//! matching pod; and existing pods' required anti-affinity forbids the domains
//! they are in to pods they match.
//!
//! Score: per topology (key, value), `+w` for each incoming preferred affinity
//! term matched by an existing pod there, `−w` for anti-affinity, `+hard
//! weight` for each existing pod's required affinity term the incoming pod
//! matches, `±w` for existing pods' preferred terms the incoming pod matches; a
//! node scores the sum over its topology values; min-max normalized.
//!
//! This runs only when the pod has affinity terms or some assigned pod does
//! (JupyterHub user pods usually have none), so it walks pods directly.

use std::collections::HashMap;

use crate::cluster::{Cluster, PodRecord};
use crate::model::{LabelSelector, PodAffinityTerm, PodSpec};
use crate::reason::Reason;
use crate::selector::CompiledSelector;
use crate::symbols::{Sym, Symbols};

/// An incoming pod's term, compiled against the cluster's symbols.
#[derive(Clone, Debug)]
struct IncomingTerm {
    selector: Option<CompiledSelector>,
    namespaces: Vec<String>,
    namespace_selector: Option<LabelSelector>,
    topology_key: Sym,
    weight: i64,
}

impl IncomingTerm {
    fn compile(term: &PodAffinityTerm, weight: i64, owner_ns: &str, symbols: &Symbols) -> Self {
        let namespaces = if term.namespaces.is_empty() && term.namespace_selector.is_none() {
            vec![owner_ns.to_string()]
        } else {
            term.namespaces.clone()
        };
        IncomingTerm {
            selector: term
                .label_selector
                .as_ref()
                .map(|s| CompiledSelector::compile(s, symbols)),
            namespaces,
            namespace_selector: term.namespace_selector.clone(),
            topology_key: symbols.lookup(&term.topology_key),
            weight,
        }
    }

    fn matches(&self, pod: &PodRecord, cluster: &Cluster) -> bool {
        let Some(selector) = &self.selector else {
            return false;
        };
        let ns = cluster.symbols.resolve(pod.namespace);
        let ns_ok = self.namespaces.iter().any(|n| n == ns)
            || self
                .namespace_selector
                .as_ref()
                .is_some_and(|s| s.matches(&cluster.namespace_labels(ns)));
        ns_ok && selector.matches(&pod.labels)
    }
}

/// Whether an existing pod's term (owned by a pod in `owner_ns`) matches the incoming pod.
fn existing_term_matches(
    term: &PodAffinityTerm,
    owner_ns: &str,
    pod: &PodSpec,
    cluster: &Cluster,
) -> bool {
    let Some(selector) = &term.label_selector else {
        return false;
    };
    let ns_ok = if term.namespaces.is_empty() && term.namespace_selector.is_none() {
        pod.namespace == owner_ns
    } else {
        term.namespaces.contains(&pod.namespace)
            || term
                .namespace_selector
                .as_ref()
                .is_some_and(|s| s.matches(&cluster.namespace_labels(&pod.namespace)))
    };
    ns_ok && selector.matches(&pod.labels)
}

/// Everything the filter and the score need, computed once per pod.
#[derive(Debug, Default)]
pub(crate) struct InterPodAffinityState {
    required_affinity: Vec<IncomingTerm>,
    required_anti: Vec<IncomingTerm>,
    affinity_counts: HashMap<(Sym, Sym), i64>,
    anti_counts: HashMap<(Sym, Sym), i64>,
    existing_anti_counts: HashMap<(Sym, Sym), i64>,
    matches_own_affinity: bool,
    topology_score: HashMap<(Sym, Sym), i64>,
    /// Whether the score has anything to say (kube's PreScore Skip otherwise).
    pub scoring: bool,
    /// Whether the filter has anything to check.
    pub filtering: bool,
}

impl InterPodAffinityState {
    /// Prepares the state; `None` when neither the pod nor any assigned pod has terms.
    pub fn prepare(cluster: &Cluster, pod: &PodSpec, hard_weight: i64) -> Option<Self> {
        let has_terms = !pod.pod_affinity.is_empty() || !pod.pod_anti_affinity.is_empty();
        if !has_terms && cluster.affinity_pods == 0 {
            return None;
        }
        let symbols = &cluster.symbols;
        let compile_required = |terms: &[PodAffinityTerm]| -> Vec<IncomingTerm> {
            terms
                .iter()
                .map(|t| IncomingTerm::compile(t, 0, &pod.namespace, symbols))
                .collect()
        };
        let compile_preferred =
            |terms: &[crate::model::WeightedPodAffinityTerm], sign: i64| -> Vec<IncomingTerm> {
                terms
                    .iter()
                    .map(|t| {
                        IncomingTerm::compile(
                            &t.term,
                            sign * i64::from(t.weight),
                            &pod.namespace,
                            symbols,
                        )
                    })
                    .collect()
            };
        let required_affinity = compile_required(&pod.pod_affinity.required);
        let required_anti = compile_required(&pod.pod_anti_affinity.required);
        let mut preferred = compile_preferred(&pod.pod_affinity.preferred, 1);
        preferred.extend(compile_preferred(&pod.pod_anti_affinity.preferred, -1));

        let mut state = InterPodAffinityState {
            matches_own_affinity: own_terms_match(pod, &pod.pod_affinity.required, cluster),
            ..InterPodAffinityState::default()
        };
        for slot in cluster.pods.iter().flatten() {
            if slot.node == u32::MAX {
                continue;
            }
            let node = slot.node as usize;
            let label = |key: Sym| cluster.node_label(node, key).map(|v| (key, v));
            if !required_affinity.is_empty()
                && required_affinity.iter().all(|t| t.matches(slot, cluster))
            {
                for t in &required_affinity {
                    if let Some(pair) = label(t.topology_key) {
                        *state.affinity_counts.entry(pair).or_default() += 1;
                    }
                }
            }
            for t in &required_anti {
                if t.matches(slot, cluster)
                    && let Some(pair) = label(t.topology_key)
                {
                    *state.anti_counts.entry(pair).or_default() += 1;
                }
            }
            for t in &preferred {
                if t.matches(slot, cluster)
                    && let Some(pair) = label(t.topology_key)
                {
                    *state.topology_score.entry(pair).or_default() += t.weight;
                }
            }
            let Some(rules) = &slot.affinity else {
                continue;
            };
            let (affinity, anti) = &**rules;
            let owner_ns = cluster.symbols.resolve(slot.namespace);
            let topology = |term: &PodAffinityTerm| label(symbols.lookup(&term.topology_key));
            for term in &anti.required {
                if existing_term_matches(term, owner_ns, pod, cluster)
                    && let Some(pair) = topology(term)
                {
                    *state.existing_anti_counts.entry(pair).or_default() += 1;
                }
            }
            if hard_weight > 0 {
                for term in &affinity.required {
                    if existing_term_matches(term, owner_ns, pod, cluster)
                        && let Some(pair) = topology(term)
                    {
                        *state.topology_score.entry(pair).or_default() += hard_weight;
                    }
                }
            }
            for (terms, sign) in [(&affinity.preferred, 1), (&anti.preferred, -1)] {
                for w in terms {
                    if existing_term_matches(&w.term, owner_ns, pod, cluster)
                        && let Some(pair) = topology(&w.term)
                    {
                        *state.topology_score.entry(pair).or_default() +=
                            sign * i64::from(w.weight);
                    }
                }
            }
        }
        state.topology_score.retain(|_, v| *v != 0);
        state.scoring = !state.topology_score.is_empty();
        state.filtering = !required_affinity.is_empty()
            || !required_anti.is_empty()
            || !state.existing_anti_counts.is_empty();
        state.required_affinity = required_affinity;
        state.required_anti = required_anti;
        Some(state)
    }

    /// The filter for node `i`.
    pub fn filter(&self, cluster: &Cluster, i: usize) -> Option<Reason> {
        if !self.required_affinity.is_empty() {
            let mut pods_exist = true;
            for t in &self.required_affinity {
                let Some(value) = cluster.node_label(i, t.topology_key) else {
                    return Some(Reason::PodAffinity);
                };
                if self
                    .affinity_counts
                    .get(&(t.topology_key, value))
                    .copied()
                    .unwrap_or(0)
                    <= 0
                {
                    pods_exist = false;
                }
            }
            let starts_series = self.affinity_counts.is_empty() && self.matches_own_affinity;
            if !pods_exist && !starts_series {
                return Some(Reason::PodAffinity);
            }
        }
        for t in &self.required_anti {
            if let Some(value) = cluster.node_label(i, t.topology_key)
                && self
                    .anti_counts
                    .get(&(t.topology_key, value))
                    .copied()
                    .unwrap_or(0)
                    > 0
            {
                return Some(Reason::PodAntiAffinity);
            }
        }
        if !self.existing_anti_counts.is_empty() {
            for (&(key, value), &count) in &self.existing_anti_counts {
                if count > 0 && cluster.node_label(i, key) == Some(value) {
                    return Some(Reason::ExistingPodsAntiAffinity);
                }
            }
        }
        None
    }

    /// The raw score of node `i`.
    pub fn score(&self, cluster: &Cluster, i: usize) -> i64 {
        self.topology_score
            .iter()
            .filter(|((key, value), _)| cluster.node_label(i, *key) == Some(*value))
            .map(|(_, s)| *s)
            .sum()
    }
}

fn own_terms_match(pod: &PodSpec, terms: &[PodAffinityTerm], cluster: &Cluster) -> bool {
    !terms.is_empty()
        && terms
            .iter()
            .all(|t| existing_term_matches(t, &pod.namespace, pod, cluster))
}
