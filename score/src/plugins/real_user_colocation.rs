//! RealUserColocation: our packing score. A node scores the share of its
//! allocatable cpu and memory held by *real user* pods (non-zero requests, as
//! MostAllocated counts them), averaged over the two, 0..=100:
//!
//! `(real_cpu × 100 / alloc_cpu + real_mem × 100 / alloc_mem) / 2`
//!
//! Placeholders are not counted: they only hold headroom and leave when a user
//! needs the room, so a node with two users beats a node with two placeholders
//! even when both are equally full. A node can only be removed by the cluster
//! autoscaler once no real user is on it (user pods have no controller), so
//! packing users with users is what empties nodes.
//!
//! Only real-user pods are scored this way; for other pods the plugin gives
//! every node 0 (it does not influence them).

use super::node_resources_fit::most_allocated_with;
use crate::cluster::NodeHot;

/// The score of a node for a real-user pod.
pub(crate) fn score(hot: &NodeHot) -> i64 {
    if hot.real_cpu == 0 && hot.real_mem == 0 {
        return 0;
    }
    let mut total = 0;
    let mut count = 0;
    for (real, alloc, factor) in [
        (hot.real_cpu, hot.alloc_cpu, hot.pct_cpu),
        (hot.real_mem, hot.alloc_mem, hot.pct_mem),
    ] {
        if alloc > 0 {
            total += most_allocated_with(real, alloc, factor);
            count += 1;
        }
    }
    match count {
        0 => 0,
        // Non-negative: a shift is the division by two.
        2 => total >> 1,
        _ => total,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GI: u64 = 1 << 30;

    #[test]
    fn score_table() {
        let node = |real_cpu, real_mem| NodeHot {
            alloc_cpu: 4000,
            alloc_mem: 16 * GI,
            real_cpu,
            real_mem,
            // placeholders would add to nz_* but never to real_*.
            nz_cpu: 4000,
            nz_mem: 16 * GI,
            pct_cpu: crate::plugins::node_resources_fit::percent_factor(4000),
            pct_mem: crate::plugins::node_resources_fit::percent_factor(16 * GI),
            ..NodeHot::default()
        };
        let cases = [
            // two users of 1000m / 4Gi each: cpu 2000×100/4000 = 50, mem 8/16 = 50 → 50.
            ("two users", node(2000, 8 * GI), 50),
            // only placeholders: nothing real → 0.
            ("two placeholders", node(0, 0), 0),
            // cpu 100m (the non-zero default) → 2 (2.5 truncated); mem 1Gi → 6 (6.25); (2+6)/2 = 4.
            ("one small user", node(100, GI), 4),
        ];
        for (name, hot, want) in cases {
            assert_eq!(score(&hot), want, "{name}");
        }
        let empty = NodeHot::default();
        assert_eq!(score(&empty), 0);
    }
}
