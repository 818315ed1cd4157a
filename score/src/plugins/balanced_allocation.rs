//! NodeResourcesBalancedAllocation (kube `plugins/noderesources`:
//! `balanced_allocation.go`, `resource_allocation.go`).
//!
//! For each configured resource (default cpu and memory) the node's fraction
//! `(requested on the node + requested by the pod) / allocatable`, capped at
//! 1, is taken; resources the node has no allocatable of are skipped, and an
//! extended resource the pod does not request is skipped. The score is
//! `int((1 − std) × 100)` where `std` is the standard deviation of the
//! fractions: `|f₀ − f₁| / 2` for two, the population standard deviation for
//! more, 0 for fewer. Unlike NodeResourcesFit it counts **real** requests on
//! both sides (kube's `useRequested: true`): a container without a cpu
//! request adds no cpu, not 100m. A pod that requests none of the resources
//! (best effort) is not scored (kube's PreScore `Skip`): every node gets 0.
//! No normalization; the weights of the `resources` argument are ignored, as
//! kube ignores them.

use crate::cluster::{NodeCold, NodeHot};

use super::MAX_NODE_SCORE;

/// One resource, resolved for a pod: where to read the node's numbers and
/// how much the pod adds (real requests).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum BalancedResource {
    Cpu { pod: u64 },
    Memory { pod: u64 },
    Ephemeral { pod: u64 },
    Extended { name: crate::symbols::Sym, pod: u64 },
}

/// kube's `balancedResourceScorer` over `(requested, allocatable)` pairs;
/// pairs with allocatable 0 are skipped.
#[must_use]
pub fn balanced_score(pairs: impl IntoIterator<Item = (u64, u64)>) -> i64 {
    // At most a handful of resources: a fixed buffer, no allocation.
    let mut fractions = [0f64; 8];
    let mut n = 0;
    let mut total = 0.0;
    for (requested, allocatable) in pairs {
        if allocatable == 0 || n == fractions.len() {
            continue;
        }
        #[allow(clippy::cast_precision_loss)]
        let fraction = (requested as f64 / allocatable as f64).min(1.0);
        total += fraction;
        fractions[n] = fraction;
        n += 1;
    }
    let std = match n {
        2 => ((fractions[0] - fractions[1]) / 2.0).abs(),
        0 | 1 => 0.0,
        _ => {
            #[allow(clippy::cast_precision_loss)]
            let len = n as f64;
            let mean = total / len;
            let sum: f64 = fractions[..n].iter().map(|f| (f - mean) * (f - mean)).sum();
            (sum / len).sqrt()
        }
    };
    #[allow(clippy::cast_precision_loss, clippy::cast_possible_truncation)]
    let score = ((1.0 - std) * MAX_NODE_SCORE as f64) as i64;
    score
}

/// The score of a node for a pod over `resources`.
pub(crate) fn score(resources: &[BalancedResource], hot: &NodeHot, cold: &NodeCold) -> i64 {
    balanced_score(resources.iter().map(|r| match *r {
        // Saturating, as the node's sums are (see `cluster`).
        BalancedResource::Cpu { pod } => (hot.req_cpu.saturating_add(pod), hot.alloc_cpu),
        BalancedResource::Memory { pod } => (hot.req_mem.saturating_add(pod), hot.alloc_mem),
        BalancedResource::Ephemeral { pod } => (cold.req_eph.saturating_add(pod), cold.alloc_eph),
        BalancedResource::Extended { name, pod } => (
            super::node_resources_fit::lookup(&cold.extended_req, name).saturating_add(pod),
            super::node_resources_fit::lookup(&cold.extended_alloc, name),
        ),
    }))
}

/// The score over exactly cpu and memory: what the default arguments score,
/// from the hot record alone.
#[inline]
pub(crate) fn score_cpu_mem(hot: &NodeHot, pod_cpu: u64, pod_mem: u64) -> i64 {
    balanced_score([
        (hot.req_cpu.saturating_add(pod_cpu), hot.alloc_cpu),
        (hot.req_mem.saturating_add(pod_mem), hot.alloc_mem),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// kube's `TestNodeResourcesBalancedAllocation` cases, as
    /// (requested, allocatable) per resource after adding the pod.
    /// (name, (requested, allocatable) per resource, score).
    type Case = (&'static str, &'static [(u64, u64)], i64);

    #[test]
    fn kube_table() {
        let cases: &[Case] = &[
            // "nothing scheduled, resources requested, differently sized
            // nodes", node1: cpu 3000/4000 = 0.75, memory 5000/10000 = 0.5,
            // std (0.75 − 0.5)/2 = 0.125, (1 − 0.125)×100 = 87.5 → 87.
            ("node1 87", &[(3000, 4000), (5000, 10000)], 87),
            // node2: 3000/6000 = 0.5, 5000/10000 = 0.5, std 0 → 100.
            ("node2 100", &[(3000, 6000), (5000, 10000)], 100),
            // "pods scheduled with resources", node1: cpu 6000/10000 = 0.6,
            // memory 5000/20000 = 0.25, std 0.175, 82.5 → 82.
            ("scheduled 82", &[(6000, 10000), (5000, 20000)], 82),
            // node2: 0.6 and 10000/20000 = 0.5, std 0.05 → 95.
            ("scheduled 95", &[(6000, 10000), (10000, 20000)], 95),
            // differently sized: 0.6 and 10000/50000 = 0.2, std 0.2 → 80.
            ("sized 80", &[(6000, 10000), (10000, 50000)], 80),
            // "requested resources at node capacity" (real requests: the
            // cpu-only pods add no memory): 6000/6000 = 1 and 0/10000 = 0,
            // std 0.5 → 50; 1 and 5000/10000, std 0.25 → 75.
            ("capacity 50", &[(6000, 6000), (0, 10000)], 50),
            ("capacity 75", &[(6000, 6000), (5000, 10000)], 75),
            // "node without the scalar resource should skip the scalar
            // resource": 3000/3500 = 0.857142…, 5000/40000 = 0.125, the gpu
            // (allocatable 0) skipped; std 0.366071…, 63.39 → 63.
            ("skip 63", &[(3000, 3500), (5000, 40000), (0, 0)], 63),
            // Fractions above 1 are capped: 8000/4000 → 1, 1000/4000 = 0.25,
            // std 0.375 → 62.5 → 62.
            ("capped 62", &[(8000, 4000), (1000, 4000)], 62),
            // Three resources: 0.857142…, 0 and 1/8 = 0.125 (kube's DRA
            // case), mean 0.327380…, std √((0.2797… + 0.1071… + 0.0409…)/3)
            // = 0.378… → (1 − 0.378)×100 = 62.1 → 62.
            ("three 62", &[(3000, 3500), (0, 40000), (1, 8)], 62),
            // One resource (or none): std 0 → 100.
            ("single 100", &[(3000, 3500), (0, 0)], 100),
        ];
        for (name, pairs, want) in cases {
            assert_eq!(balanced_score(pairs.iter().copied()), *want, "{name}");
        }
    }

    #[test]
    fn kube_default_profile_scores_it() {
        use crate::Cluster;
        use crate::explain::explain;
        use crate::profile::Profile;
        use crate::testing::{node, pod};
        let mut c = Cluster::default();
        c.upsert_node(&node("node1").capacity(4000, 10000).build());
        c.upsert_node(&node("node2").capacity(6000, 10000).build());
        let column = |p: &crate::model::PodSpec| -> Vec<i64> {
            explain(&c, &Profile::kube_default("x"), p)
                .nodes
                .iter()
                .map(|n| {
                    n.scores
                        .iter()
                        .find(|(name, _)| *name == "NodeResourcesBalancedAllocation")
                        .map_or(-1, |(_, s)| *s)
                })
                .collect()
        };
        // kube's "differently sized nodes": 87 and 100.
        assert_eq!(column(&pod("p").req(3000, 5000).build()), [87, 100]);
        // Best effort: skipped, 0 everywhere.
        assert_eq!(column(&pod("p").build()), [0, 0]);
    }

    #[test]
    fn node_records() {
        let mut hot = NodeHot {
            req_cpu: 3000,
            req_mem: 5000,
            // Non-zero sums are not read.
            nz_cpu: 9000,
            nz_mem: 9000,
            ..NodeHot::default()
        };
        hot.set_allocatable(10000, 20000);
        // 6000/10000 and 10000/20000: 95, as kube's "scheduled 95".
        assert_eq!(score_cpu_mem(&hot, 3000, 5000), 95);
        let general = [
            BalancedResource::Cpu { pod: 3000 },
            BalancedResource::Memory { pod: 5000 },
            BalancedResource::Ephemeral { pod: 0 },
        ];
        // No ephemeral allocatable: skipped, same score.
        assert_eq!(score(&general, &hot, &NodeCold::default()), 95);
    }
}
