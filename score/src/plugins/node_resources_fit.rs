//! NodeResourcesFit (kube `plugins/noderesources/fit.go`, `most_allocated.go`,
//! `least_allocated.go`, `resource_allocation.go`).
//!
//! Filter: one pod more than `allocatable.pods` → "Too many pods"; then, only
//! when the pod requests anything, each of cpu, memory, ephemeral-storage and
//! every extended resource with a non-zero request fails when
//! `request > allocatable − requested` (exact fit allowed) → "Insufficient
//! \<name\>". A request larger than the whole allocatable cannot be helped by
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
    /// The names of those extended resources no node or pod of the
    /// cluster has (so none is interned): `local[k]` is [`Sym::local`]`(k)`
    /// in `extended`, and "Insufficient" reasons print it.
    pub local: Vec<Box<str>>,
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
    if req.extended.is_empty() {
        let failed = failures(hot, cold, req);
        if failed == 0 {
            return true;
        }
    }
    reasons(hot, cold, req, reject)
}

/// The reasons [`failures`] sets, one bit each: too many pods, then per
/// resource "insufficient" and "the request exceeds the allocatable".
pub(crate) mod fail {
    pub const PODS: u8 = 1;
    pub const CPU: u8 = 1 << 1;
    pub const CPU_EXCEEDS: u8 = 1 << 2;
    pub const MEMORY: u8 = 1 << 3;
    pub const MEMORY_EXCEEDS: u8 = 1 << 4;
    pub const EPHEMERAL: u8 = 1 << 5;
    pub const EPHEMERAL_EXCEEDS: u8 = 1 << 6;
}

/// Why the node cannot take the pod, as [`fail`] bits (0: it fits), for a
/// request without extended resources (the caller checks
/// `req.extended.is_empty()`). The bits determine the reasons exactly (see
/// [`fail_reasons`]), so a decision can count rejections per bit pattern.
/// The common pod requests no ephemeral storage, so the node's ephemeral
/// figures (in the cold record) are read only when it does.
#[inline]
pub(crate) fn failures(hot: &NodeHot, cold: &NodeCold, req: &FitRequest) -> u8 {
    let roomy = |want: u64, alloc: u64, used: u64| want <= alloc.saturating_sub(used);
    // The common case first, without working out which check failed.
    if hot.pods < hot.alloc_pods
        && roomy(req.cpu, hot.alloc_cpu, hot.req_cpu)
        && roomy(req.mem, hot.alloc_mem, hot.req_mem)
        && (req.eph == 0 || roomy(req.eph, cold.alloc_eph, cold.req_eph))
    {
        return 0;
    }
    failure_bits(hot, cold, req)
}

#[inline(never)]
fn failure_bits(hot: &NodeHot, cold: &NodeCold, req: &FitRequest) -> u8 {
    // `check` below, as bits: a zero request never fails.
    let bits = |want: u64, alloc: u64, used: u64, short: u8, exceeds: u8| {
        if want > 0 && want > alloc.saturating_sub(used) {
            short | if want > alloc { exceeds } else { 0 }
        } else {
            0
        }
    };
    let mut failed = 0;
    if hot.pods >= hot.alloc_pods {
        failed |= fail::PODS;
    }
    failed |= bits(
        req.cpu,
        hot.alloc_cpu,
        hot.req_cpu,
        fail::CPU,
        fail::CPU_EXCEEDS,
    );
    failed |= bits(
        req.mem,
        hot.alloc_mem,
        hot.req_mem,
        fail::MEMORY,
        fail::MEMORY_EXCEEDS,
    );
    failed |= bits(
        req.eph,
        cold.alloc_eph,
        cold.req_eph,
        fail::EPHEMERAL,
        fail::EPHEMERAL_EXCEEDS,
    );
    failed
}

/// The reasons of a [`failures`] bit pattern, in the order [`reasons`]
/// reports them.
pub(crate) fn fail_reasons(failed: u8) -> impl Iterator<Item = Reason> {
    let resource = |short: u8, exceeds: u8, resource: ResourceName| {
        (failed & short != 0).then_some(Reason::Insufficient {
            resource,
            exceeds_allocatable: failed & exceeds != 0,
        })
    };
    [
        (failed & fail::PODS != 0).then_some(Reason::TooManyPods),
        resource(fail::CPU, fail::CPU_EXCEEDS, ResourceName::Cpu),
        resource(fail::MEMORY, fail::MEMORY_EXCEEDS, ResourceName::Memory),
        resource(
            fail::EPHEMERAL,
            fail::EPHEMERAL_EXCEEDS,
            ResourceName::EphemeralStorage,
        ),
    ]
    .into_iter()
    .flatten()
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
    if hot.pods.saturating_add(1) > hot.alloc_pods {
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
            cold.alloc_eph,
            cold.req_eph,
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

/// A fixed-point reciprocal of a node's allocatable, so that the hot loop
/// computes `value × 100 / total` (truncated, as kube's integer division does)
/// with one multiplication instead of a 64-bit division, which costs tens of
/// cycles on common x86 servers and would run for every resource of every
/// node.
///
/// With `L` the bit length of `total` (`2^(L−1) ≤ total < 2^L`) and
/// `F = L + 56`, `magic = ⌊100 · 2^F / total⌋ + 1` and the quotient is
/// `⌊value · magic / 2^F⌋`: the high word of a 64×64-bit product shifted right
/// by `F − 64 = L − 8`. Why this is exact for `value ≤ total`: write
/// `100 · value = q · total + r` with `0 ≤ r < total`, and
/// `magic = 100 · 2^F / total + e` with `0 < e ≤ 1`. Then
/// `value · magic / 2^F = q + r / total + value · e / 2^F`, which is at least
/// `q` and, because `value · total < 2^(2L) ≤ 2^F` (this needs `L ≤ 56`),
/// below `q + (total − 1) / total + 1 / total = q + 1`; its floor is `q`.
/// `magic < 100 · 2^57 + 1 < 2^64` since `total ≥ 2^(L−1)`, and the shift is
/// non-negative when `L ≥ 8`. Outside `128 ≤ total < 2^56` (`magic == 0`) the
/// quotient is computed by division.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Reciprocal {
    pub magic: u64,
    pub shift: u8,
}

impl Reciprocal {
    const MIN_TOTAL: u64 = 1 << 7;
    const MAX_BITS: u32 = 56;

    pub(crate) fn of(total: u64) -> Reciprocal {
        let bits = u64::BITS - total.leading_zeros();
        if total < Self::MIN_TOTAL || bits > Self::MAX_BITS {
            return Reciprocal::default();
        }
        let f = bits + 56;
        let magic = (MAX_NODE_SCORE_U128 << f) / u128::from(total) + 1;
        Reciprocal {
            magic: u64::try_from(magic).expect("magic < 2^64 (see above)"),
            shift: u8::try_from(bits - 8).expect("bits ≤ 56"),
        }
    }
}

const MAX_NODE_SCORE_U128: u128 = MAX_NODE_SCORE as u128;

/// `value × 100 / total` (`value ≤ total`), truncated, given
/// `rcp = Reciprocal::of(total)`.
#[inline]
#[allow(clippy::cast_possible_truncation, clippy::cast_possible_wrap)]
pub(crate) fn percent_with(value: u64, total: u64, rcp: Reciprocal) -> i64 {
    if rcp.magic != 0 {
        // ≤ 100: the casts keep every bit.
        ((((u128::from(value) * u128::from(rcp.magic)) >> 64) as u64) >> rcp.shift) as i64
    } else {
        i64::try_from(u128::from(value) * MAX_NODE_SCORE_U128 / u128::from(total))
            .unwrap_or(i64::MAX)
    }
}

/// `value × 100 / total` by integer division (the reference the reciprocal
/// must equal).
fn percent(value: u64, total: u64) -> i64 {
    i64::try_from(u128::from(value) * MAX_NODE_SCORE_U128 / u128::from(total)).unwrap_or(i64::MAX)
}

/// MostAllocated for a node whose reciprocal is known.
#[inline]
pub(crate) fn most_allocated_with(requested: u64, allocatable: u64, rcp: Reciprocal) -> i64 {
    if allocatable == 0 {
        return 0;
    }
    percent_with(requested.min(allocatable), allocatable, rcp)
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
#[inline]
pub(crate) fn most_allocated_cpu_mem(
    hot: &NodeHot,
    pod_cpu: u64,
    pod_mem: u64,
    w: (i64, i64),
) -> i64 {
    // Both reciprocals known implies both allocatables non-zero: the usual
    // node, scored from two multiplications.
    if hot.magic_cpu != 0 && hot.magic_mem != 0 {
        let cpu = percent_with(
            hot.nz_cpu.saturating_add(pod_cpu).min(hot.alloc_cpu),
            hot.alloc_cpu,
            hot.rcp_cpu(),
        );
        let mem = percent_with(
            hot.nz_mem.saturating_add(pod_mem).min(hot.alloc_mem),
            hot.alloc_mem,
            hot.rcp_mem(),
        );
        return weighted_mean(cpu * w.0 + mem * w.1, w.0 + w.1);
    }
    most_allocated_cpu_mem_slow(hot, pod_cpu, pod_mem, w)
}

#[inline(never)]
fn most_allocated_cpu_mem_slow(hot: &NodeHot, pod_cpu: u64, pod_mem: u64, w: (i64, i64)) -> i64 {
    let mut total = 0;
    let mut weights = 0;
    if hot.alloc_cpu > 0 {
        total += most_allocated_with(
            hot.nz_cpu.saturating_add(pod_cpu),
            hot.alloc_cpu,
            hot.rcp_cpu(),
        ) * w.0;
        weights += w.0;
    }
    if hot.alloc_mem > 0 {
        total += most_allocated_with(
            hot.nz_mem.saturating_add(pod_mem),
            hot.alloc_mem,
            hot.rcp_mem(),
        ) * w.1;
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
            // Saturating, as the node's sums are (see `cluster`): a sum
            // beyond u64 is a full node.
            ScoredResource::Cpu { pod } => (hot.alloc_cpu, hot.nz_cpu.saturating_add(pod)),
            ScoredResource::Memory { pod } => (hot.alloc_mem, hot.nz_mem.saturating_add(pod)),
            ScoredResource::Ephemeral { pod } => (cold.alloc_eph, cold.req_eph.saturating_add(pod)),
            ScoredResource::Extended { name, pod } => (
                lookup(&cold.extended_alloc, name),
                lookup(&cold.extended_req, name).saturating_add(pod),
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
#[inline]
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
        let mut hot = NodeHot {
            req_cpu,
            req_mem,
            nz_cpu: req_cpu,
            nz_mem: req_mem,
            alloc_pods: 110,
            ..NodeHot::default()
        };
        hot.set_allocatable(cpu, mem);
        hot
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
            local: vec![],
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
            let mut hot = NodeHot {
                nz_cpu: rng.below(cpu + 1),
                nz_mem: rng.below(mem + 1),
                ..NodeHot::default()
            };
            hot.set_allocatable(cpu, mem);
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

    /// The reference: `value × 100 / total` by 128-bit integer division.
    fn exact(value: u64, total: u64) -> i64 {
        i64::try_from(u128::from(value) * 100 / u128::from(total)).unwrap()
    }

    fn reciprocal_percent(value: u64, total: u64) -> i64 {
        percent_with(value, total, Reciprocal::of(total))
    }

    /// The value ≤ `total` whose `100 × value` leaves the largest remainder,
    /// `total − 1` (when 100 is invertible modulo `total`): where a quotient
    /// computed from a reciprocal is most likely to round up into the next
    /// integer.
    fn largest_remainder(total: u64) -> Option<u64> {
        // Extended Euclid for 100⁻¹ mod total.
        let (mut a, mut b) = (i128::from(100 % total), i128::from(total));
        let (mut x, mut y) = (1i128, 0i128);
        while b != 0 {
            let q = a / b;
            (a, b) = (b, a - q * b);
            (x, y) = (y, x - q * y);
        }
        if a != 1 {
            return None;
        }
        let inverse = u128::try_from(x.rem_euclid(i128::from(total))).unwrap();
        let value = (u128::from(total - 1) * inverse) % u128::from(total);
        Some(u64::try_from(value).unwrap())
    }

    #[test]
    fn reciprocal_percent_equals_integer_division_for_every_small_total() {
        for total in 1..=2_000u64 {
            for value in 0..=total {
                assert_eq!(
                    reciprocal_percent(value, total),
                    exact(value, total),
                    "{value}/{total}"
                );
            }
        }
    }

    #[test]
    fn reciprocal_percent_equals_integer_division_at_the_boundaries() {
        let mut totals = vec![127, 128, 129, 3920, 4000, 17_179_869_184, u64::MAX];
        for bits in 7..64 {
            let p = 1u64 << bits;
            totals.extend([p - 1, p, p + 1, p + p / 3]);
        }
        let mut rng = crate::rng::SplitMix64::new(3);
        for _ in 0..2_000 {
            // Every bit length, including those past the reciprocal's range.
            let bits = 1 + rng.below(64);
            totals.push(
                1 + rng.below(
                    1u64.checked_shl(u32::try_from(bits).unwrap())
                        .map_or(u64::MAX, |b| b - 1),
                ),
            );
        }
        for total in totals {
            let mut values = vec![0, 1, total / 3, total / 2, total - 1, total];
            values.extend(largest_remainder(total));
            for _ in 0..50 {
                values.push(rng.below(total) + 1);
            }
            for value in values {
                assert_eq!(
                    reciprocal_percent(value, total),
                    exact(value, total),
                    "{value}/{total}"
                );
            }
        }
    }

    #[test]
    fn largest_remainder_is_what_it_says() {
        for total in [101u64, 3921, 4001, 17_179_869_183] {
            let value = largest_remainder(total).unwrap();
            assert_eq!(
                u128::from(value) * 100 % u128::from(total),
                u128::from(total - 1)
            );
        }
        assert_eq!(largest_remainder(4000), None);
    }

    #[test]
    fn failure_bits_give_the_reasons_of_the_full_check() {
        let mut rng = crate::rng::SplitMix64::new(5);
        let small = |rng: &mut crate::rng::SplitMix64| match rng.below(4) {
            0 => 0,
            1 => rng.below(8),
            _ => rng.below(1 << 40),
        };
        for _ in 0..50_000 {
            let mut hot = NodeHot {
                req_cpu: small(&mut rng),
                req_mem: small(&mut rng),
                pods: u32::try_from(rng.below(12)).unwrap(),
                alloc_pods: u32::try_from(rng.below(12)).unwrap(),
                ..NodeHot::default()
            };
            hot.set_allocatable(small(&mut rng), small(&mut rng));
            let cold = NodeCold {
                alloc_eph: small(&mut rng),
                req_eph: small(&mut rng),
                ..NodeCold::default()
            };
            let req = FitRequest {
                cpu: small(&mut rng),
                mem: small(&mut rng),
                eph: small(&mut rng),
                extended: Vec::new(),
                local: Vec::new(),
            };
            let mut want = Vec::new();
            let fits_all = reasons(&hot, &cold, &req, |r| want.push(r));
            let failed = failures(&hot, &cold, &req);
            assert_eq!(failed == 0, fits_all, "{hot:?} {cold:?} {req:?}");
            assert_eq!(
                fail_reasons(failed).collect::<Vec<_>>(),
                want,
                "{hot:?} {cold:?} {req:?}"
            );
        }
    }
}
