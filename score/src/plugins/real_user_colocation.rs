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

use super::node_resources_fit::{Reciprocal, most_allocated_with};
use crate::cluster::NodeHot;

/// The score of a node for a real-user pod: kept up to date on the node
/// record by the cluster (see [`score_with`]), so a decision only reads it.
pub(crate) fn score(hot: &NodeHot) -> i64 {
    i64::from(hot.colocation)
}

/// The score of a node with `real_cpu` and `real_mem` held by real users, by
/// division: the reference the tests hold [`score_with`] to.
#[cfg(test)]
pub(crate) fn score_of(real_cpu: u64, real_mem: u64, alloc_cpu: u64, alloc_mem: u64) -> i64 {
    let by_division = Reciprocal::default();
    score_with(
        (real_cpu, alloc_cpu, by_division),
        (real_mem, alloc_mem, by_division),
    )
}

/// The score of a node from (real-user non-zero requests, allocatable,
/// reciprocal of allocatable) of cpu and memory. The cluster updates the
/// score on every real-user pod added or removed; the node's reciprocals
/// spare it two 128-bit divisions (exactly: see [`Reciprocal`]).
pub(crate) fn score_with(cpu: (u64, u64, Reciprocal), mem: (u64, u64, Reciprocal)) -> i64 {
    if cpu.0 == 0 && mem.0 == 0 {
        return 0;
    }
    let mut total = 0;
    let mut count = 0;
    for (real, alloc, rcp) in [cpu, mem] {
        if alloc > 0 {
            total += most_allocated_with(real, alloc, rcp);
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
        // Placeholders would add to the node's non-zero requests but never
        // to the real-user totals.
        let node = |real_cpu, real_mem| (real_cpu, real_mem, 4000, 16 * GI);
        let cases = [
            // two users of 1000m / 4Gi each: cpu 2000×100/4000 = 50, mem 8/16 = 50 → 50.
            ("two users", node(2000, 8 * GI), 50),
            // only placeholders: nothing real → 0.
            ("two placeholders", node(0, 0), 0),
            // cpu 100m (the non-zero default) → 2 (2.5 truncated); mem 1Gi → 6 (6.25); (2+6)/2 = 4.
            ("one small user", node(100, GI), 4),
        ];
        for (name, (rc, rm, ac, am), want) in cases {
            assert_eq!(score_of(rc, rm, ac, am), want, "{name}");
            let with_reciprocals =
                score_with((rc, ac, Reciprocal::of(ac)), (rm, am, Reciprocal::of(am)));
            assert_eq!(with_reciprocals, want, "{name}");
        }
        assert_eq!(score_of(0, 0, 0, 0), 0);
        assert_eq!(score(&NodeHot::default()), 0);
    }
}
