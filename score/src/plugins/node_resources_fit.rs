//! NodeResourcesFit (kube `plugins/noderesources/fit.go`, `most_allocated.go`,
//! `least_allocated.go`, `resource_allocation.go`).
//!
//! Filter: one pod more than `allocatable.pods` → "Too many pods"; then, only
//! when the pod requests anything, each of cpu, memory, ephemeral-storage and
//! every extended resource with a non-zero request fails when
//! `request > allocatable − requested` (exact fit allowed) → "Insufficient
//! <name>". A request larger than the whole allocatable cannot be helped by
//! preemption.
//!
//! Score: for each configured resource with non-zero allocatable,
//! `requested = node non-zero requested + pod non-zero request` (cpu and memory;
//! real requests for the others; an extended resource the pod does not request
//! is skipped), then MostAllocated `min(requested, allocatable) × 100 /
//! allocatable` or LeastAllocated `(allocatable − requested) × 100 /
//! allocatable` (0 when requested > allocatable), and the weighted integer mean.

use super::MAX_NODE_SCORE;
use crate::cluster::{NodeCold, NodeHot};
use crate::profile::ScoringStrategy;
use crate::reason::{Reason, ResourceName};
use crate::symbols::Sym;

/// What the filter checks, for one pod.
#[derive(Clone, Debug, Default)]
pub(crate) struct FitRequest {
    pub cpu: u64,
    pub mem: u64,
    pub eph: u64,
    /// Extended resources the filter checks (ignored ones removed).
    pub extended: Vec<(Sym, u64)>,
}

impl FitRequest {
    fn is_empty(&self) -> bool {
        self.cpu == 0 && self.mem == 0 && self.eph == 0 && self.extended.is_empty()
    }
}

fn check(request: u64, allocatable: u64, requested: u64, resource: ResourceName) -> Option<Reason> {
    (request > 0 && request > allocatable.saturating_sub(requested)).then_some(
        Reason::Insufficient {
            resource,
            exceeds_allocatable: request > allocatable,
        },
    )
}

/// Calls `reject` with every reason the node cannot take the pod; returns
/// whether it fits.
#[inline]
pub(crate) fn fits(
    hot: &NodeHot,
    cold: &NodeCold,
    req: &FitRequest,
    reject: impl FnMut(Reason),
) -> bool {
    // The common case first, without building reasons: the pod fits.
    let roomy = |want: u64, alloc: u64, used: u64| want <= alloc.saturating_sub(used);
    if hot.pods < hot.alloc_pods
        && req.extended.is_empty()
        && roomy(req.cpu, hot.alloc_cpu, hot.req_cpu)
        && roomy(req.mem, hot.alloc_mem, hot.req_mem)
        && roomy(req.eph, hot.alloc_eph, hot.req_eph)
    {
        return true;
    }
    reasons(hot, cold, req, reject)
}

/// The full check, reporting every reason.
#[inline(never)]
fn reasons(
    hot: &NodeHot,
    cold: &NodeCold,
    req: &FitRequest,
    mut reject: impl FnMut(Reason),
) -> bool {
    let mut fits = true;
    if hot.pods + 1 > hot.alloc_pods {
        reject(Reason::TooManyPods);
        fits = false;
    }
    if req.is_empty() {
        return fits;
    }
    let checks = [
        check(req.cpu, hot.alloc_cpu, hot.req_cpu, ResourceName::Cpu),
        check(req.mem, hot.alloc_mem, hot.req_mem, ResourceName::Memory),
        check(
            req.eph,
            hot.alloc_eph,
            hot.req_eph,
            ResourceName::EphemeralStorage,
        ),
    ];
    for reason in checks.into_iter().flatten() {
        reject(reason);
        fits = false;
    }
    for &(name, amount) in &req.extended {
        let allocatable = lookup(&cold.extended_alloc, name);
        let requested = lookup(&cold.extended_req, name);
        if let Some(reason) = check(amount, allocatable, requested, ResourceName::Extended(name)) {
            reject(reason);
            fits = false;
        }
    }
    fits
}

pub(crate) fn lookup(list: &[(Sym, u64)], name: Sym) -> u64 {
    list.iter().find(|(n, _)| *n == name).map_or(0, |(_, v)| *v)
}

/// `100 / total` as the node table stores it (0 for a zero total).
#[must_use]
#[allow(clippy::cast_precision_loss)]
pub fn percent_factor(total: u64) -> f64 {
    if total == 0 {
        0.0
    } else {
        MAX_NODE_SCORE as f64 / total as f64
    }
}

/// `value × 100 / total` (`value ≤ total`), exactly as integer division
/// truncates it, given `factor = percent_factor(total)`. A 64-bit integer
/// division costs tens of cycles on common x86 servers and this runs for every
/// resource of every node, so the quotient comes from a multiplication and is
/// then corrected to the exact integer.
#[allow(
    clippy::cast_precision_loss,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss
)]
pub(crate) fn percent_with(value: u64, total: u64, factor: f64) -> i64 {
    const EXACT: u64 = 1 << 53;
    match value.checked_mul(MAX_NODE_SCORE as u64) {
        Some(num) if num < EXACT && total < EXACT => {
            // Both operands are exact in f64; the estimate may be off by one
            // after rounding, so fix it up against the integer bounds.
            let mut q = (value as f64 * factor) as u64;
            if q * total > num {
                q -= 1;
            } else if (q + 1) * total <= num {
                q += 1;
            }
            q as i64
        }
        Some(num) => i64::try_from(num / total).unwrap_or(i64::MAX),
        None => i64::try_from(u128::from(value) * MAX_NODE_SCORE as u128 / u128::from(total))
            .unwrap_or(i64::MAX),
    }
}

fn percent(value: u64, total: u64) -> i64 {
    percent_with(value, total, percent_factor(total))
}

/// MostAllocated for a node whose `percent_factor` is known.
pub(crate) fn most_allocated_with(requested: u64, allocatable: u64, factor: f64) -> i64 {
    if allocatable == 0 {
        return 0;
    }
    percent_with(requested.min(allocatable), allocatable, factor)
}

/// kube's `mostRequestedScore`.
#[must_use]
pub fn most_allocated(requested: u64, allocatable: u64) -> i64 {
    if allocatable == 0 {
        return 0;
    }
    percent(requested.min(allocatable), allocatable)
}

/// kube's `leastRequestedScore`.
#[must_use]
pub fn least_allocated(requested: u64, allocatable: u64) -> i64 {
    if allocatable == 0 || requested > allocatable {
        return 0;
    }
    percent(allocatable - requested, allocatable)
}

/// One scored resource, resolved for a pod: where to read the node's numbers
/// and how much the pod adds.
#[derive(Clone, Copy, Debug)]
pub(crate) enum ScoredResource {
    Cpu { pod: u64 },
    Memory { pod: u64 },
    Ephemeral { pod: u64 },
    Extended { name: Sym, pod: u64 },
}

/// MostAllocated over cpu and memory with weights `(w_cpu, w_mem)`: what
/// every JupyterHub profile scores, without the general loop.
pub(crate) fn most_allocated_cpu_mem(
    hot: &NodeHot,
    pod_cpu: u64,
    pod_mem: u64,
    w: (i64, i64),
) -> i64 {
    let mut total = 0;
    let mut weights = 0;
    if hot.alloc_cpu > 0 {
        total += most_allocated_with(hot.nz_cpu + pod_cpu, hot.alloc_cpu, hot.pct_cpu) * w.0;
        weights += w.0;
    }
    if hot.alloc_mem > 0 {
        total += most_allocated_with(hot.nz_mem + pod_mem, hot.alloc_mem, hot.pct_mem) * w.1;
        weights += w.1;
    }
    weighted_mean(total, weights)
}

/// The weighted score of one node.
pub(crate) fn score(
    strategy: ScoringStrategy,
    resources: &[(ScoredResource, i64)],
    hot: &NodeHot,
    cold: &NodeCold,
) -> i64 {
    let mut total = 0i64;
    let mut weights = 0i64;
    for &(resource, weight) in resources {
        let (allocatable, requested) = match resource {
            ScoredResource::Cpu { pod } => (hot.alloc_cpu, hot.nz_cpu + pod),
            ScoredResource::Memory { pod } => (hot.alloc_mem, hot.nz_mem + pod),
            ScoredResource::Ephemeral { pod } => (hot.alloc_eph, hot.req_eph + pod),
            ScoredResource::Extended { name, pod } => (
                lookup(&cold.extended_alloc, name),
                lookup(&cold.extended_req, name) + pod,
            ),
        };
        if allocatable == 0 {
            continue;
        }
        let s = match strategy {
            ScoringStrategy::MostAllocated => most_allocated(requested, allocatable),
            ScoringStrategy::LeastAllocated => least_allocated(requested, allocatable),
        };
        total += s * weight;
        weights += weight;
    }
    weighted_mean(total, weights)
}

/// `total / weights`, 0 without weights. Two resources of weight 1 (every
/// JupyterHub profile) take a shift, as the sum of non-negative scores is
/// non-negative (written as `/ 2` the compiler folds it back into the
/// general division).
fn weighted_mean(total: i64, weights: i64) -> i64 {
    match weights {
        0 => 0,
        2 => total >> 1,
        w => total / w,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GI: u64 = 1 << 30;

    fn node(cpu: u64, mem: u64, req_cpu: u64, req_mem: u64) -> NodeHot {
        NodeHot {
            alloc_cpu: cpu,
            alloc_mem: mem,
            alloc_eph: 100 * GI,
            req_cpu,
            req_mem,
            nz_cpu: req_cpu,
            nz_mem: req_mem,
            alloc_pods: 110,
            pct_cpu: percent_factor(cpu),
            pct_mem: percent_factor(mem),
            ..NodeHot::default()
        }
    }

    #[test]
    fn kube_worked_example_most_allocated_is_28() {
        // allocatable 4000m / 16 GiB; node non-zero requested 1000m / 4 GiB;
        // pod: no cpu request (counts 100m) and 1e9 bytes of memory.
        // cpu: (1000 + 100) × 100 / 4000 = 27 (27.5 truncated)
        // memory: (4294967296 + 1e9) × 100 / 17179869184 = 30 (30.8 truncated)
        // score: (27×1 + 30×1) / 2 = 28
        let hot = node(4000, 16 * GI, 1000, 4 * GI);
        let resources = [
            (ScoredResource::Cpu { pod: 100 }, 1),
            (ScoredResource::Memory { pod: 1_000_000_000 }, 1),
        ];
        let cold = NodeCold::default();
        assert_eq!(
            score(ScoringStrategy::MostAllocated, &resources, &hot, &cold),
            28
        );
        // LeastAllocated: cpu (4000−1100)×100/4000 = 72; memory
        // (17179869184−5294967296)×100/17179869184 = 69; (72+69)/2 = 70.
        assert_eq!(
            score(ScoringStrategy::LeastAllocated, &resources, &hot, &cold),
            70
        );
    }

    #[test]
    fn score_table() {
        let cold = NodeCold::default();
        // (name, node, pod cpu, pod mem, cpu weight, mem weight, most, least)
        let cases = [
            // empty node, 1000m of 4000m = 25; 4Gi of 16Gi = 25 → 25 / 75.
            (
                "quarter",
                node(4000, 16 * GI, 0, 0),
                1000,
                4 * GI,
                1,
                1,
                25,
                75,
            ),
            // over-committed: most caps at 100, least gives 0.
            (
                "over",
                node(4000, 16 * GI, 4000, 16 * GI),
                1000,
                GI,
                1,
                1,
                100,
                0,
            ),
            // weights 3:1 → (50×3 + 0×1)/4 = 37 (37.5 truncated); least (50×3+100)/4 = 62.
            (
                "weighted",
                node(4000, 16 * GI, 1000, 0),
                1000,
                0,
                3,
                1,
                37,
                62,
            ),
            // zero allocatable memory is skipped: only cpu counts (50 / 50).
            ("no memory", node(4000, 0, 1000, 0), 1000, 0, 1, 1, 50, 50),
            // nothing allocatable at all: 0.
            ("empty node object", node(0, 0, 0, 0), 1, 1, 1, 1, 0, 0),
        ];
        for (name, hot, pod_cpu, pod_mem, wc, wm, most, least) in cases {
            let resources = [
                (ScoredResource::Cpu { pod: pod_cpu }, wc),
                (ScoredResource::Memory { pod: pod_mem }, wm),
            ];
            assert_eq!(
                score(ScoringStrategy::MostAllocated, &resources, &hot, &cold),
                most,
                "{name}: most"
            );
            assert_eq!(
                score(ScoringStrategy::LeastAllocated, &resources, &hot, &cold),
                least,
                "{name}: least"
            );
        }
    }

    #[test]
    fn filter_table() {
        let gpu = Sym(7);
        let cold = NodeCold {
            extended_alloc: vec![(gpu, 2)],
            extended_req: vec![(gpu, 1)],
            ..NodeCold::default()
        };
        let req = |cpu, mem, gpus| FitRequest {
            cpu,
            mem,
            eph: 0,
            extended: if gpus > 0 { vec![(gpu, gpus)] } else { vec![] },
        };
        // node: 4000m/16Gi with 3000m/8Gi requested, 1 of 2 GPUs used.
        let hot = node(4000, 16 * GI, 3000, 8 * GI);
        let cases: [(&str, FitRequest, Vec<Reason>); 6] = [
            (
                "exact fit is allowed (1000m free)",
                req(1000, 8 * GI, 1),
                vec![],
            ),
            (
                "1001m does not fit",
                req(1001, 0, 0),
                vec![Reason::Insufficient {
                    resource: ResourceName::Cpu,
                    exceeds_allocatable: false,
                }],
            ),
            (
                "both cpu and memory short: both reasons",
                req(2000, 9 * GI, 0),
                vec![
                    Reason::Insufficient {
                        resource: ResourceName::Cpu,
                        exceeds_allocatable: false,
                    },
                    Reason::Insufficient {
                        resource: ResourceName::Memory,
                        exceeds_allocatable: false,
                    },
                ],
            ),
            (
                "larger than the node: unresolvable",
                req(5000, 0, 0),
                vec![Reason::Insufficient {
                    resource: ResourceName::Cpu,
                    exceeds_allocatable: true,
                }],
            ),
            (
                "second GPU taken",
                req(0, 0, 2),
                vec![Reason::Insufficient {
                    resource: ResourceName::Extended(gpu),
                    exceeds_allocatable: false,
                }],
            ),
            ("no requests always fit", req(0, 0, 0), vec![]),
        ];
        for (name, r, want) in cases {
            let mut got = Vec::new();
            let ok = fits(&hot, &cold, &r, |reason| got.push(reason));
            assert_eq!(got, want, "{name}");
            assert_eq!(ok, want.is_empty(), "{name}");
        }
        let full = NodeHot { pods: 110, ..hot };
        let mut got = Vec::new();
        assert!(!fits(&full, &cold, &req(0, 0, 0), |r| got.push(r)));
        assert_eq!(got, vec![Reason::TooManyPods]);
    }
}

#[cfg(test)]
mod overflow {
    use super::*;

    #[test]
    fn huge_quantities_do_not_overflow() {
        // 12Ei of memory: 13835058055282163712 × 100 overflows u64; u128 path.
        let ei12: u64 = 12 << 60;
        assert_eq!(most_allocated(ei12 / 2, ei12), 50);
        assert_eq!(least_allocated(ei12 / 4, ei12), 75);
        assert_eq!(most_allocated(u64::MAX, u64::MAX), 100);
    }

    #[test]
    fn the_cpu_memory_fast_path_equals_the_general_score() {
        let mut rng = crate::rng::SplitMix64::new(11);
        for _ in 0..20_000 {
            let cpu = rng.below(64_000);
            let mem = rng.below(256 << 30);
            let hot = NodeHot {
                alloc_cpu: cpu,
                alloc_mem: mem,
                nz_cpu: rng.below(cpu + 1),
                nz_mem: rng.below(mem + 1),
                pct_cpu: percent_factor(cpu),
                pct_mem: percent_factor(mem),
                ..NodeHot::default()
            };
            let (pc, pm) = (rng.below(8000), rng.below(32 << 30));
            let w = (
                1 + i64::try_from(rng.below(3)).unwrap(),
                1 + i64::try_from(rng.below(3)).unwrap(),
            );
            let general = score(
                ScoringStrategy::MostAllocated,
                &[
                    (ScoredResource::Cpu { pod: pc }, w.0),
                    (ScoredResource::Memory { pod: pm }, w.1),
                ],
                &hot,
                &NodeCold::default(),
            );
            assert_eq!(
                most_allocated_cpu_mem(&hot, pc, pm, w),
                general,
                "{hot:?} {pc} {pm} {w:?}"
            );
        }
    }

    #[test]
    fn percent_equals_integer_division() {
        // Boundary cases where an f64 quotient rounds across an integer.
        let mut rng = crate::rng::SplitMix64::new(3);
        for total in [1u64, 3, 7, 4000, 3920, 17_179_869_184, (1 << 46) - 1] {
            for value in [0, 1, total / 3, total / 2, total - 1, total] {
                let want = i64::try_from(u128::from(value) * 100 / u128::from(total)).unwrap();
                assert_eq!(percent(value, total), want, "{value}/{total}");
            }
        }
        for _ in 0..100_000 {
            let total = 1 + rng.below(1 << 45);
            let value = rng.below(total + 1);
            let want = i64::try_from(u128::from(value) * 100 / u128::from(total)).unwrap();
            assert_eq!(percent(value, total), want, "{value}/{total}");
        }
    }
}
