//! PodTopologySpread (kube `plugins/podtopologyspread`: `common.go`,
//! `filtering.go`, `scoring.go`, `plugin.go`).
//!
//! Constraints: a pod's own `topologySpreadConstraints`, or, when it has
//! none, the profile's default constraints (`defaultingType: System`:
//! hostname maxSkew 3 and zone maxSkew 5, both ScheduleAnyway) with the
//! pod's default selector — kube builds it from the Services,
//! ReplicationControllers, ReplicaSets and StatefulSets that select the pod
//! ([`PodSpec::default_spread_selector`]); without one no default applies.
//! A constraint's selector gets the pod's values of its `matchLabelKeys`
//! ANDed in; `minDomains` defaults to 1, `nodeAffinityPolicy` to Honor (only
//! nodes the pod's nodeSelector and required node affinity admit are
//! counted), `nodeTaintsPolicy` to Ignore (Honor: only nodes whose
//! NoSchedule/NoExecute taints the pod tolerates). Pods are counted in the
//! pod's namespace, terminating pods excluded; a selector without
//! requirements counts no pod.
//!
//! Filter (DoNotSchedule constraints), over every node carrying all the
//! constraints' topology keys: per constraint and domain, the matching
//! pods. A node without a key fails with "node(s) didn't match pod topology
//! spread constraints (missing required label)" (unresolvable); a node where
//! `count(domain) + (1 if the pod matches its own selector) − min > maxSkew`
//! fails with "node(s) didn't match pod topology spread constraints".
//! `min` is the smallest domain count, 0 when fewer domains than
//! `minDomains` exist.
//!
//! Score (ScheduleAnyway constraints): over the feasible nodes, those
//! lacking a key are *ignored* (score 0) — unless the constraints are the
//! system defaults, so that nodes without a zone label still spread by
//! hostname. A constraint's weight is `ln(domains + 2)`, domains counted
//! among the feasible nodes (hostname: the feasible, not ignored nodes).
//! Raw score `round(Σ count × weight + (maxSkew − 1))` where count is the
//! matching pods in the node's domain (counted over every node whose domain
//! some feasible node has) or, for the hostname key, on the node itself.
//! Normalized so that fewer matching pods score higher: `100 × (max + min −
//! s) / max` over the not ignored nodes (every one 100 when max is 0).

use std::collections::HashMap;

use crate::cluster::Cluster;
use crate::model::{
    LabelSelector, LabelSelectorOperator, LabelSelectorRequirement, NodeInclusionPolicy, PodSpec,
    Terminating, TopologySpreadConstraint, WhenUnsatisfiable,
};
use crate::plugins::node_affinity::{CompiledRequired, NodeLabels};
use crate::plugins::taint_toleration::{CompiledToleration, first_untolerated};
use crate::profile::{FilterPlugin, Profile, ScorePlugin};
use crate::reason::Reason;
use crate::selector::CompiledSelector;
use crate::symbols::Sym;

use super::MAX_NODE_SCORE;

/// kube's `v1.LabelHostname`.
const HOSTNAME: &str = "kubernetes.io/hostname";

/// PodTopologySpreadArgs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpreadArgs {
    /// `defaultingType: System` (the default): kube's system default
    /// constraints; otherwise (`List`) `default_constraints`.
    pub system_defaulting: bool,
    /// `defaultConstraints` (only with `defaultingType: List`).
    pub default_constraints: Vec<TopologySpreadConstraint>,
}

impl Default for SpreadArgs {
    fn default() -> Self {
        SpreadArgs {
            system_defaulting: true,
            default_constraints: Vec::new(),
        }
    }
}

impl SpreadArgs {
    /// The default constraints in effect: kube's `systemDefaultConstraints`
    /// (hostname maxSkew 3, zone maxSkew 5, both ScheduleAnyway) or the
    /// listed ones.
    #[must_use]
    pub fn defaults(&self) -> Vec<TopologySpreadConstraint> {
        if !self.system_defaulting {
            return self.default_constraints.clone();
        }
        [(HOSTNAME, 3), ("topology.kubernetes.io/zone", 5)]
            .into_iter()
            .map(|(key, skew)| TopologySpreadConstraint {
                max_skew: skew,
                topology_key: key.into(),
                when_unsatisfiable: WhenUnsatisfiable::ScheduleAnyway,
                label_selector: None,
                min_domains: None,
                node_affinity_policy: None,
                node_taints_policy: None,
                match_label_keys: Vec::new(),
            })
            .collect()
    }
}

/// A constraint compiled against the cluster's symbols.
#[derive(Clone, Debug)]
struct Constraint {
    max_skew: i64,
    key: Sym,
    hostname: bool,
    /// `None`: matches no pod (no selector, or one without requirements,
    /// which kube's `countPodsMatchSelector` counts as nothing).
    selector: Option<CompiledSelector>,
    /// Whether the incoming pod matches the selector (kube's `selfMatchNum`).
    self_match: bool,
    min_domains: i64,
    honor_affinity: bool,
    honor_taints: bool,
}

/// The constraints of a pod for one `whenUnsatisfiable` (kube's
/// `getConstraints` / `initPreScoreState`): its own, or the defaults with
/// its default selector.
fn constraints_of(
    pod: &PodSpec,
    defaults: &[TopologySpreadConstraint],
    action: WhenUnsatisfiable,
    cluster: &Cluster,
) -> Vec<Constraint> {
    let own = !pod.topology_spread.is_empty();
    let list: &[TopologySpreadConstraint] = if own {
        &pod.topology_spread
    } else {
        match &pod.default_spread_selector {
            Some(s) if !s.match_labels.is_empty() || !s.match_expressions.is_empty() => defaults,
            _ => &[],
        }
    };
    list.iter()
        .filter(|c| c.when_unsatisfiable == action)
        .map(|c| {
            let mut selector = if own {
                c.label_selector.clone()
            } else {
                pod.default_spread_selector.clone()
            };
            // kube merges into the parsed selector; a missing one parses to
            // "nothing", which merging keeps as nothing.
            if let Some(s) = &mut selector {
                merge_match_label_keys(s, &c.match_label_keys, pod);
            }
            let empty = selector
                .as_ref()
                .is_none_or(|s| s.match_labels.is_empty() && s.match_expressions.is_empty());
            let compiled = selector
                .as_ref()
                .filter(|_| !empty)
                .map(|s| CompiledSelector::compile(s, &cluster.symbols));
            let self_match = match &selector {
                None => false,
                // An empty selector is kube's `Everything`: it matches the
                // pod itself (while counting no other pod).
                Some(_) if empty => true,
                Some(s) => s.matches(&pod.labels),
            };
            Constraint {
                max_skew: i64::from(c.max_skew),
                key: cluster.symbols.lookup(&c.topology_key),
                hostname: c.topology_key == HOSTNAME,
                selector: compiled,
                self_match,
                min_domains: i64::from(c.min_domains.unwrap_or(1)),
                honor_affinity: c.node_affinity_policy != Some(NodeInclusionPolicy::Ignore),
                honor_taints: c.node_taints_policy == Some(NodeInclusionPolicy::Honor),
            }
        })
        .collect()
}

/// kube's `matchLabelKeys`: the pod's value of each key it has becomes a
/// `key In (value)` requirement of the selector.
fn merge_match_label_keys(selector: &mut LabelSelector, keys: &[String], pod: &PodSpec) {
    for key in keys {
        if let Some(value) = pod.labels.get(key) {
            selector.match_expressions.push(LabelSelectorRequirement {
                key: key.clone(),
                operator: LabelSelectorOperator::In,
                values: vec![value.clone()],
            });
        }
    }
}

/// A node of the cluster as node affinity reads it.
struct At<'a> {
    cluster: &'a Cluster,
    i: usize,
}

impl NodeLabels for At<'_> {
    fn label(&self, key: Sym) -> Option<Sym> {
        self.cluster.node_label(self.i, key)
    }
    fn name(&self) -> Option<&str> {
        Some(self.cluster.node_name(self.i))
    }
}

/// What the filter and the score of one pod need, computed once per
/// decision (kube's PreFilter and the pod counts of PreScore).
#[derive(Debug)]
pub(crate) struct SpreadState {
    filter: Vec<Constraint>,
    /// Per filter constraint: matching pods per domain.
    filter_counts: Vec<HashMap<Sym, i64>>,
    /// Per filter constraint: the global minimum (kube's `minMatchNum`).
    filter_min: Vec<i64>,
    score: Vec<Constraint>,
    /// Whether scored nodes must carry every key (not for system defaults).
    require_all: bool,
    /// Per score constraint, per node: matching pods on the node.
    node_counts: Vec<Vec<u32>>,
    /// Per score constraint, per node: whether the node's pods count
    /// (inclusion policies, and every key when `require_all`).
    counted: Vec<Vec<bool>>,
    /// The empty label value (a missing label reads as "" in kube).
    empty: Sym,
}

impl SpreadState {
    /// Prepares the state; `None` when the pod has no constraint either
    /// plugin point would use (the common JupyterHub pod).
    pub fn prepare(
        cluster: &Cluster,
        profile: &Profile,
        pod: &PodSpec,
        required: &CompiledRequired,
        tolerations: &[CompiledToleration],
    ) -> Option<SpreadState> {
        if pod.topology_spread.is_empty() && pod.default_spread_selector.is_none() {
            return None;
        }
        let defaults = if pod.topology_spread.is_empty() {
            profile.spread.defaults()
        } else {
            Vec::new()
        };
        let filter = if profile.filter_enabled(FilterPlugin::PodTopologySpread) {
            constraints_of(pod, &defaults, WhenUnsatisfiable::DoNotSchedule, cluster)
        } else {
            Vec::new()
        };
        let score = if profile
            .score_weight(ScorePlugin::PodTopologySpread)
            .is_some()
        {
            constraints_of(pod, &defaults, WhenUnsatisfiable::ScheduleAnyway, cluster)
        } else {
            Vec::new()
        };
        let system_defaulting = profile.spread.system_defaulting;
        if filter.is_empty() && score.is_empty() {
            return None;
        }
        let symbols = &cluster.symbols;
        let nodes = cluster.node_count();
        let included = |c: &Constraint, i: usize| {
            (!c.honor_affinity || required.matches(&At { cluster, i }, symbols))
                && (!c.honor_taints
                    || first_untolerated(
                        &cluster.classes[cluster.hot[i].class as usize].key.taints,
                        tolerations,
                        symbols,
                    )
                    .is_none())
        };
        let has_all =
            |cs: &[Constraint], i: usize| cs.iter().all(|c| cluster.node_label(i, c.key).is_some());
        // Matching pods per node, per constraint of both lists.
        let namespace = symbols.lookup(&pod.namespace);
        let all: Vec<&Constraint> = filter.iter().chain(&score).collect();
        let mut per_node = vec![vec![0u32; nodes]; all.len()];
        for slot in cluster.pods.iter().flatten() {
            if slot.node as usize >= nodes
                || slot.namespace != namespace
                || slot.terminating != Terminating::No
            {
                continue;
            }
            for (k, c) in all.iter().enumerate() {
                if c.selector.as_ref().is_some_and(|s| s.matches(&slot.labels)) {
                    let n = &mut per_node[k][slot.node as usize];
                    *n = n.saturating_add(1);
                }
            }
        }
        let mut state = SpreadState {
            filter: Vec::new(),
            filter_counts: Vec::new(),
            filter_min: Vec::new(),
            score: Vec::new(),
            require_all: !pod.topology_spread.is_empty() || !system_defaulting,
            node_counts: Vec::new(),
            counted: Vec::new(),
            empty: symbols.lookup(""),
        };
        for (k, c) in filter.iter().enumerate() {
            let mut counts: HashMap<Sym, i64> = HashMap::new();
            for (i, &n) in per_node[k].iter().enumerate() {
                if !has_all(&filter, i) || !included(c, i) {
                    continue;
                }
                let value = cluster.node_label(i, c.key).unwrap_or(state.empty);
                let sum = counts.entry(value).or_default();
                *sum = sum.saturating_add(i64::from(n));
            }
            // kube's critical paths start at MaxInt32: no domain, no minimum.
            let min = counts
                .values()
                .copied()
                .min()
                .unwrap_or(i64::from(i32::MAX));
            let domains = i64::try_from(counts.len()).unwrap_or(i64::MAX);
            state
                .filter_min
                .push(if domains < c.min_domains { 0 } else { min });
            state.filter_counts.push(counts);
        }
        for (k, c) in score.iter().enumerate() {
            let k = filter.len() + k;
            state.counted.push(
                (0..nodes)
                    .map(|i| (!state.require_all || has_all(&score, i)) && included(c, i))
                    .collect(),
            );
            state.node_counts.push(std::mem::take(&mut per_node[k]));
        }
        state.filter = filter;
        state.score = score;
        Some(state)
    }

    /// Whether the filter has constraints to check.
    pub fn filtering(&self) -> bool {
        !self.filter.is_empty()
    }

    /// Whether the score has constraints (kube's PreScore `Skip` otherwise:
    /// every node 0).
    pub fn scoring(&self) -> bool {
        !self.score.is_empty()
    }

    /// The filter for node `i`.
    pub fn filter(&self, cluster: &Cluster, i: usize) -> Option<Reason> {
        for (k, c) in self.filter.iter().enumerate() {
            let Some(value) = cluster.node_label(i, c.key) else {
                return Some(Reason::SpreadMissingLabel);
            };
            let count = self.filter_counts[k].get(&value).copied().unwrap_or(0);
            let skew = count + i64::from(c.self_match) - self.filter_min[k];
            if skew > c.max_skew {
                return Some(Reason::SpreadConstraints);
            }
        }
        None
    }

    /// The normalized scores of `nodes` (the feasible nodes), into `out`.
    pub fn scores(&self, cluster: &Cluster, nodes: &[u32], out: &mut Vec<i64>) {
        out.clear();
        if self.score.is_empty() {
            out.resize(nodes.len(), 0);
            return;
        }
        let ignored = |i: usize| {
            self.require_all
                && self
                    .score
                    .iter()
                    .any(|c| cluster.node_label(i, c.key).is_none())
        };
        // Domains of the feasible, not ignored nodes (kube's
        // `TopologyValueToPodCounts` keys) and the normalizing weights.
        let mut domains: Vec<HashMap<Sym, i64>> = vec![HashMap::new(); self.score.len()];
        let mut scored = 0usize;
        for &i in nodes {
            let i = i as usize;
            if ignored(i) {
                continue;
            }
            scored += 1;
            for (k, c) in self.score.iter().enumerate() {
                if !c.hostname {
                    let value = cluster.node_label(i, c.key).unwrap_or(self.empty);
                    domains[k].entry(value).or_insert(0);
                }
            }
        }
        let weights: Vec<f64> = self
            .score
            .iter()
            .enumerate()
            .map(|(k, c)| {
                let size = if c.hostname { scored } else { domains[k].len() };
                topology_normalizing_weight(size)
            })
            .collect();
        // Pods per domain, over every counted node.
        for (k, c) in self.score.iter().enumerate() {
            if c.hostname {
                continue;
            }
            for i in 0..cluster.node_count() {
                if !self.counted[k][i] {
                    continue;
                }
                let value = cluster.node_label(i, c.key).unwrap_or(self.empty);
                if let Some(n) = domains[k].get_mut(&value) {
                    *n = n.saturating_add(i64::from(self.node_counts[k][i]));
                }
            }
        }
        for &i in nodes {
            let i = i as usize;
            if ignored(i) {
                out.push(-1);
                continue;
            }
            let mut score = 0.0;
            for (k, c) in self.score.iter().enumerate() {
                let Some(value) = cluster.node_label(i, c.key) else {
                    continue;
                };
                let count = if c.hostname {
                    i64::from(self.node_counts[k][i])
                } else {
                    domains[k].get(&value).copied().unwrap_or(0)
                };
                score += score_for_count(count, c.max_skew, weights[k]);
            }
            #[allow(clippy::cast_possible_truncation)]
            out.push(score.round() as i64);
        }
        normalize(out);
    }
}

/// kube's `topologyNormalizingWeight`: `ln(size + 2)`.
#[must_use]
pub fn topology_normalizing_weight(size: usize) -> f64 {
    #[allow(clippy::cast_precision_loss)]
    (size as f64 + 2.0).ln()
}

/// kube's `scoreForCount`: `count × weight + (maxSkew − 1)`.
#[must_use]
pub fn score_for_count(count: i64, max_skew: i64, weight: f64) -> f64 {
    #[allow(clippy::cast_precision_loss)]
    let v = count as f64 * weight + (max_skew - 1) as f64;
    v
}

/// kube's `NormalizeScore`: raw scores with −1 for ignored nodes (which get
/// 0); the others `100 × (max + min − s) / max`, or 100 when max is 0.
pub fn normalize(scores: &mut [i64]) {
    let mut min = i64::MAX;
    let mut max = 0;
    for &s in scores.iter().filter(|&&s| s != -1) {
        min = min.min(s);
        max = max.max(s);
    }
    for s in scores {
        *s = if *s == -1 {
            0
        } else if max == 0 {
            MAX_NODE_SCORE
        } else {
            MAX_NODE_SCORE * (max + min - *s) / max
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::explain::explain;
    use crate::model::{NodeSpec, TaintEffect, WhenUnsatisfiable::*};
    use crate::profile::{Profile, ScorePlugin};
    use crate::testing::{PodBuilder, node, pod};

    /// A profile scoring with PodTopologySpread alone.
    fn spread_only() -> Profile {
        let mut p = Profile::kube_default("x");
        p.scores = vec![(ScorePlugin::PodTopologySpread, 1)];
        p
    }

    /// `(node, zone, pods with label foo, pods with label bar, pods with
    /// both, feasible)`: kube's test clusters. An infeasible node (kube's
    /// `failedNodes`) is tainted: still counted, not scored.
    type Row<'a> = (&'a str, Option<&'a str>, usize, usize, usize, bool);

    fn cluster_of(rows: &[Row<'_>]) -> Cluster {
        let mut c = Cluster::default();
        for &(name, zone, foo, bar, both, feasible) in rows {
            let mut b = node(name).capacity(64_000, 1 << 40);
            if let Some(z) = zone {
                b = b.label("zone", z);
            }
            if !feasible {
                b = b.taint("failed", "yes", TaintEffect::NoSchedule);
            }
            c.upsert_node(&b.build());
            let labels: [&[&str]; 3] = [&["foo"], &["bar"], &["foo", "bar"]];
            for (k, n) in [foo, bar, both].into_iter().enumerate() {
                for j in 0..n {
                    let mut p = pod(&format!("{name}-{k}-{j}"));
                    for l in labels[k] {
                        p = p.label(l, "");
                    }
                    c.add_pod(&p.build(), name);
                }
            }
        }
        c
    }

    /// Normalized PodTopologySpread score per feasible node, in node order.
    fn scores(c: &Cluster, p: &PodBuilder) -> Vec<(String, i64)> {
        explain(c, &spread_only(), &p.clone().build())
            .nodes
            .into_iter()
            .filter(|n| n.feasible)
            .map(|n| (n.name, n.scores[0].1))
            .collect()
    }

    fn want(pairs: &[(&str, i64)]) -> Vec<(String, i64)> {
        pairs.iter().map(|(n, s)| ((*n).to_string(), *s)).collect()
    }

    fn host(p: PodBuilder, skew: i32, when: WhenUnsatisfiable) -> PodBuilder {
        p.spread(skew, "kubernetes.io/hostname", when, "foo")
    }

    fn foo() -> PodBuilder {
        pod("p").label("foo", "").label("bar", "")
    }

    #[test]
    fn weights_and_counts() {
        // ln(size + 2): 4 nodes → ln 6 = 1.7917…
        assert!((topology_normalizing_weight(4) - 6f64.ln()).abs() < 1e-12);
        // 2 pods × ln 6 + (2 − 1) = 4.58…
        assert!((score_for_count(2, 2, 6f64.ln()) - 4.583_518_938_456_11).abs() < 1e-9);
        // Ignored (−1) → 0; max 6, min 1: 100 × (7 − s) / 6.
        let mut s = vec![5, 3, 1, 6, -1];
        normalize(&mut s);
        assert_eq!(s, [33, 66, 100, 16, 0]);
        // All zero: 100 each.
        let mut s = vec![0, 0];
        normalize(&mut s);
        assert_eq!(s, [100, 100]);
    }

    /// kube's `TestPodTopologySpreadScore` cases.
    #[test]
    fn kube_score_table() {
        let four = |a, b, c, d| -> Vec<Row<'static>> {
            vec![
                ("node-a", None, a, 0, 0, true),
                ("node-b", None, b, 0, 0, true),
                ("node-c", None, c, 0, 0, true),
                ("node-d", None, d, 0, 0, true),
            ]
        };
        // "all 4 nodes are candidates", pods 2/1/0/3, maxSkew 1: weight
        // ln 6 = 1.79; raw round(2×1.79) = 4, 2, 0, round(5.38) = 5; max 5,
        // min 0: 100×(5−s)/5 = 20, 60, 100, 0.
        let c = cluster_of(&four(2, 1, 0, 3));
        assert_eq!(
            scores(&c, &host(foo(), 1, ScheduleAnyway)),
            want(&[
                ("node-a", 20),
                ("node-b", 60),
                ("node-c", 100),
                ("node-d", 0)
            ])
        );
        // maxSkew 2 adds 1: raw 5, 3, 1, 6; max 6, min 1: 100×(7−s)/6 = 33,
        // 66, 100, 16.
        assert_eq!(
            scores(&c, &host(foo(), 2, ScheduleAnyway)),
            want(&[
                ("node-a", 33),
                ("node-b", 66),
                ("node-c", 100),
                ("node-d", 16)
            ])
        );
        // maxSkew 3, pods 4/3/2/1: raw round(4×1.79+2) = 9, 7, 6, 4; max 9,
        // min 4: 100×(13−s)/9 = 44, 66, 77, 100.
        let c = cluster_of(&four(4, 3, 2, 1));
        assert_eq!(
            scores(&c, &host(foo(), 3, ScheduleAnyway)),
            want(&[
                ("node-a", 44),
                ("node-b", 66),
                ("node-c", 77),
                ("node-d", 100)
            ])
        );
        // "system defaulting, nodes don't have zone, pods match service":
        // the hostname default (maxSkew 3) alone scores, the zone default
        // has no label to read; nodes without a zone are not ignored.
        assert_eq!(
            scores(&c, &foo().default_spread("foo")),
            want(&[
                ("node-a", 44),
                ("node-b", 66),
                ("node-c", 77),
                ("node-d", 100)
            ])
        );
        // Without a default selector (kube: no Service or owner selects
        // the pod) nothing is scored: every node 0.
        assert_eq!(
            scores(&c, &foo()),
            want(&[("node-a", 0), ("node-b", 0), ("node-c", 0), ("node-d", 0)])
        );
        // "3 out of 4 nodes are candidates", 4/2/1/~3~: weight ln 5 = 1.61;
        // raw round(6.44) = 6, round(3.22) = 3, round(1.61) = 2; max 6, min
        // 2: 100×(8−s)/6 = 33, 83, 100.
        let c = cluster_of(&[
            ("node-a", None, 4, 0, 0, true),
            ("node-b", None, 2, 0, 0, true),
            ("node-x", None, 1, 0, 0, true),
            ("node-y", None, 3, 0, 0, false),
        ]);
        assert_eq!(
            scores(&c, &host(foo(), 1, ScheduleAnyway)),
            want(&[("node-a", 33), ("node-b", 83), ("node-x", 100)])
        );
        // "one node doesn't match topology key": node-b lacks the hostname
        // label, so it is ignored (0) and not counted in the size: weight
        // ln 4 = 1.39; raw round(5.55) = 6 and round(1.39) = 1; 100×(7−s)/6
        // = 16 and 100.
        let mut c = cluster_of(&[
            ("node-a", None, 4, 0, 0, true),
            ("node-b", None, 2, 0, 0, true),
            ("node-x", None, 1, 0, 0, true),
            ("node-y", None, 3, 0, 0, false),
        ]);
        let mut b: NodeSpec = node("node-b").capacity(64_000, 1 << 40).build();
        b.labels.clear();
        b.labels.insert("n".into(), "node-b".into());
        c.upsert_node(&b);
        assert_eq!(
            scores(&c, &host(foo(), 1, ScheduleAnyway)),
            want(&[("node-a", 16), ("node-b", 0), ("node-x", 100)])
        );
        // "one constraint on zone", 4/2/1/~3~ with zone1 = {a, b}, zone2 =
        // {x, y}: 2 zones, weight ln 4 = 1.39; zone1 has 6 pods, zone2 4
        // (the infeasible node-y counts); raw round(8.32) = 8 and
        // round(5.55) = 6; 100×(14−s)/8 = 75, 75, 100.
        let c = cluster_of(&[
            ("node-a", Some("zone1"), 4, 0, 0, true),
            ("node-b", Some("zone1"), 2, 0, 0, true),
            ("node-x", Some("zone2"), 1, 0, 0, true),
            ("node-y", Some("zone2"), 3, 0, 0, false),
        ]);
        let zone = |p: PodBuilder| p.spread(1, "zone", ScheduleAnyway, "foo");
        assert_eq!(
            scores(&c, &zone(foo())),
            want(&[("node-a", 75), ("node-b", 75), ("node-x", 100)])
        );
        // "two Constraints on zone and node, 2 out of 4 nodes are
        // candidates", 2/~1~/2/~4~: zone1 3 pods, zone2 6; both weights ln 4
        // = 1.39 (2 zones, 2 feasible nodes); a: (3+2)×1.39 = 6.93 → 7, x:
        // (6+2)×1.39 = 11.09 → 11; 100×(18−s)/11 = 100 and 63.
        let c = cluster_of(&[
            ("node-a", Some("zone1"), 2, 0, 0, true),
            ("node-b", Some("zone1"), 1, 0, 0, false),
            ("node-x", Some("zone2"), 2, 0, 0, true),
            ("node-y", Some("zone2"), 4, 0, 0, false),
        ]);
        assert_eq!(
            scores(&c, &host(zone(foo()), 1, ScheduleAnyway)),
            want(&[("node-a", 100), ("node-x", 63)])
        );
        // "with different labelSelectors": zone over foo (zone1 2, zone2
        // 1; weight ln 4), hostname over bar (0/1/0/1; weight ln 6): a
        // 2×1.39 = 2.77 → 3, b 2.77+1.79 = 4.56 → 5, x 1.39 → 1, y
        // 1.39+1.79 = 3.18 → 3; 100×(6−s)/5 = 60, 20, 100, 60.
        let c = cluster_of(&[
            ("node-a", Some("zone1"), 1, 0, 0, true),
            ("node-b", Some("zone1"), 0, 0, 1, true),
            ("node-x", Some("zone2"), 0, 0, 0, true),
            ("node-y", Some("zone2"), 1, 1, 0, true),
        ]);
        let p = zone(foo()).spread(1, "kubernetes.io/hostname", ScheduleAnyway, "bar");
        assert_eq!(
            scores(&c, &p),
            want(&[
                ("node-a", 60),
                ("node-b", 20),
                ("node-x", 100),
                ("node-y", 60)
            ])
        );
        // DoNotSchedule constraints do not score (kube's PreScore skips):
        // every node 0.
        let s = scores(&c, &host(foo(), 1, DoNotSchedule));
        assert!(!s.is_empty() && s.iter().all(|(_, s)| *s == 0), "{s:?}");
    }

    /// The reasons of the infeasible nodes, by name.
    fn rejected(c: &Cluster, p: &PodBuilder) -> Vec<(String, Vec<String>)> {
        explain(c, &spread_only(), &p.clone().build())
            .nodes
            .into_iter()
            .filter(|n| !n.feasible)
            .map(|n| (n.name, n.reasons))
            .collect()
    }

    const SKEW: &str = "node(s) didn't match pod topology spread constraints";
    const LABEL: &str =
        "node(s) didn't match pod topology spread constraints (missing required label)";

    /// kube's `TestSingleConstraint` / `TestMultipleConstraints` rules.
    #[test]
    fn kube_filter_table() {
        // zone1 {a: 2, b: 1} = 3 matching pods, zone2 {x: 1, y: 0} = 1;
        // the pod matches its own selector. maxSkew 1: zone1 3 + 1 − min 1
        // = 3 > 1 fails; zone2 1 + 1 − 1 = 1 passes.
        let rows = [
            ("node-a", Some("zone1"), 2, 0, 0, true),
            ("node-b", Some("zone1"), 1, 0, 0, true),
            ("node-x", Some("zone2"), 1, 0, 0, true),
            ("node-y", Some("zone2"), 0, 0, 0, true),
        ];
        let c = cluster_of(&rows);
        let zone = |skew| foo().spread(skew, "zone", DoNotSchedule, "foo");
        let skew = |names: &[&str], reason: &str| -> Vec<(String, Vec<String>)> {
            names
                .iter()
                .map(|n| ((*n).to_string(), vec![reason.to_string()]))
                .collect()
        };
        assert_eq!(rejected(&c, &zone(1)), skew(&["node-a", "node-b"], SKEW));
        // maxSkew 3: 3 ≤ 3 everywhere.
        assert_eq!(rejected(&c, &zone(3)), skew(&[], SKEW));
        // A pod its selector does not match adds nothing: zone1 3 − 1 = 2 >
        // 1 still fails, maxSkew 2 passes.
        let other = |skew| pod("p").spread(skew, "zone", DoNotSchedule, "foo");
        assert_eq!(rejected(&c, &other(1)), skew(&["node-a", "node-b"], SKEW));
        assert_eq!(rejected(&c, &other(2)), skew(&[], SKEW));
        // Hostname, maxSkew 1: min is node-y's 0; a 2 + 1 = 3 and b, x 1 +
        // 1 = 2 fail; y 0 + 1 = 1 passes.
        let host = foo().spread(1, "kubernetes.io/hostname", DoNotSchedule, "foo");
        assert_eq!(
            rejected(&c, &host),
            skew(&["node-a", "node-b", "node-x"], SKEW)
        );
        // minDomains 3 with 2 zones: the global minimum is 0, so zone2 1 +
        // 1 − 0 = 2 > 1 fails too.
        let mut p = zone(1);
        p.0.topology_spread[0].min_domains = Some(3);
        assert_eq!(
            rejected(&c, &p),
            skew(&["node-a", "node-b", "node-x", "node-y"], SKEW)
        );
        // nodeAffinityPolicy Honor (the default): a nodeSelector for zone1
        // counts only zone1, so its minimum is 3 and 3 + 1 − 3 = 1 passes
        // (zone2 nodes fail node affinity first).
        let p = zone(1).node_selector("zone", "zone1");
        let affinity = "node(s) didn't match Pod's node affinity/selector";
        assert_eq!(rejected(&c, &p), skew(&["node-x", "node-y"], affinity));
        // nodeAffinityPolicy Ignore: every zone counts, zone1 fails again.
        let mut p = zone(1).node_selector("zone", "zone1");
        p.0.topology_spread[0].node_affinity_policy = Some(NodeInclusionPolicy::Ignore);
        assert_eq!(
            rejected(&c, &p),
            [
                skew(&["node-a", "node-b"], SKEW),
                skew(&["node-x", "node-y"], affinity)
            ]
            .concat()
        );
        // A node without the zone label: unresolvable, missing label.
        let mut rows = rows.to_vec();
        rows.push(("node-z", None, 0, 0, 0, true));
        let c = cluster_of(&rows);
        assert_eq!(
            rejected(&c, &zone(3)),
            vec![("node-z".to_string(), vec![LABEL.to_string()])]
        );
        // matchLabelKeys: the pod's value of `foo` joins the selector; the
        // pod has foo="" and so do the counted pods: unchanged.
        let mut p = zone(1);
        p.0.topology_spread[0].match_label_keys = vec!["foo".into(), "absent".into()];
        assert_eq!(
            rejected(&cluster_of(&rows[..4]), &p),
            skew(&["node-a", "node-b"], SKEW)
        );
        // Defaults are ScheduleAnyway: the filter ignores them.
        assert_eq!(
            rejected(&cluster_of(&rows[..4]), &foo().default_spread("foo")),
            skew(&[], SKEW)
        );
    }

    #[test]
    fn the_failure_message_and_statuses() {
        let c = cluster_of(&[
            ("node-a", Some("zone1"), 2, 0, 0, true),
            ("node-b", None, 0, 0, 0, true),
            ("node-x", Some("zone2"), 0, 0, 0, true),
        ]);
        // maxSkew 1: a 2 + 1 − 0 = 3 fails, b has no zone, x passes; with x
        // cordoned nothing is feasible. Preemption does not try to lower a
        // skew (as for inter-pod anti-affinity; kube would look for
        // lower-priority victims on node-a and report "1 No preemption
        // victims found for incoming pod" here): every node is "not
        // helpful".
        let mut c2 = c;
        let x = node("node-x")
            .capacity(64_000, 1 << 40)
            .label("zone", "zone2")
            .cordoned()
            .build();
        c2.upsert_node(&x);
        let p = foo().spread(1, "zone", DoNotSchedule, "foo").build();
        let e = explain(&c2, &spread_only(), &p);
        assert_eq!(
            e.message.as_deref(),
            Some(
                "0/3 nodes are available: 1 node(s) didn't match pod topology spread constraints, 1 node(s) didn't match pod topology spread constraints (missing required label), 1 node(s) were unschedulable. preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling."
            ),
            "{e:?}"
        );
    }
}
