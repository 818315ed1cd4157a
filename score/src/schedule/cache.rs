//! The decision cache: every node's filter verdict and weighted score for a
//! few recent pod *shapes*, redone only on the nodes that changed since.
//!
//! JupyterHub starts users from a handful of profiles, so consecutive pending
//! pods usually look alike to the filters and scores: the same requests,
//! tolerations, node affinity and images; only names differ. For such a pod
//! each node's verdict and total is what the previous pod of that shape got,
//! except on the nodes whose records changed since (the previous pod was
//! assumed on one, a pod left another, a node was updated). The cache keeps
//! those per-node results as columns, replays the cluster's log of changed
//! nodes ([`Changes`](crate::cluster::Changes)), normalizes per class, and
//! selects by scanning one column of totals instead of filtering and scoring
//! every node again.
//!
//! kube-scheduler once had an "equivalence cache" (predicate results per
//! class of equivalent pods, 1.10 to 1.12), removed because its invalidation
//! was spread over many event handlers and went stale. Here invalidation has
//! one source: the cluster functions that change a node record write the log,
//! and anything that renumbers nodes or classes voids every entry.
//!
//! A shape is recognized by what the per-node work reads rather than by the
//! pod spec: the resource request, the parameters of the fused scores, and
//! the verdict of every node class (which folds in tolerations, node affinity,
//! the node-purpose rule and the profile). Only decisions the simple loop
//! takes are cached (see [`Pass::simple`]); when the cached columns show no
//! feasible node, the full pass runs anyway for the rejection reasons. The
//! property test `cached_decisions_equal_full_passes` holds the two paths to
//! the same decisions.

use super::{
    BalancedScore, ClassVerdict, Decision, FitScore, Fused, ImageScore, Pass, class_adds,
    class_verdict_of, nth_tied, pick, status_code,
};
use crate::plugins::node_resources_fit;
use crate::profile::Profile;
use crate::rng::SplitMix64;
use crate::symbols::Sym;

/// Pod shapes kept at once: users and placeholders of several profiles
/// (each costs 13 bytes per node).
const SHAPES: usize = 16;

/// The total of an infeasible node, below any real total.
const INFEASIBLE: i64 = i64::MIN;

/// Nodes per block of the totals column: selection looks into a block only
/// when its maximum is the best total. Tests use small blocks so that their
/// small clusters span several.
const BLOCK: usize = if cfg!(test) { 3 } else { 64 };

/// Per-node results of recent pod shapes. Lives in a
/// [`Scratch`](super::Scratch) made with
/// [`Scratch::with_decision_cache`](super::Scratch::with_decision_cache).
#[derive(Debug, Default)]
pub struct DecisionCache {
    entries: Vec<Entry>,
    /// The shape of the pod being decided (reused between decisions).
    probe: ShapeKey,
    /// Decisions served, for least-recently-used eviction.
    uses: u64,
    class_add: Vec<i64>,
    /// Nodes filtered and scored by the last decision.
    judged: usize,
}

/// What the per-node work of a decision reads besides the node records.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct ShapeKey {
    /// The resource request: cpu, memory, ephemeral storage.
    fit: [u64; 3],
    /// Fused weights: NodePurpose, RealUserColocation, NodeResourcesFit,
    /// and the constant ImageLocality term.
    weights: [i64; 4],
    /// MostAllocated over cpu and memory: pod cpu, pod memory, weights.
    most: Option<(u64, u64, (i64, i64))>,
    /// BalancedAllocation over cpu and memory: weight, pod cpu, pod memory.
    balanced: Option<(i64, u64, u64)>,
    normalized: bool,
    /// The pod's images that some node has, and ImageLocality's weighted
    /// score per combination of them.
    images: Vec<Sym>,
    weighted: Vec<i64>,
    /// Per node class (by id): its verdict, with the per-class scores.
    verdicts: Vec<ClassVerdict>,
}

/// One shape's columns, valid for one epoch of one cluster up to position
/// `seen` of its change log.
#[derive(Debug, Default)]
struct Entry {
    key: ShapeKey,
    cluster: u64,
    epoch: u64,
    seen: usize,
    /// Per node: the weighted total before normalization, or [`INFEASIBLE`].
    total: Vec<i64>,
    /// Per block of [`BLOCK`] nodes: the largest total.
    block_max: Vec<i64>,
    /// Per node: its [`NodeStatus`](super::NodeStatus) as a byte.
    status: Vec<u8>,
    /// Per node: its class when last judged.
    class: Vec<u32>,
    /// Per class: how many of its nodes are feasible.
    class_feasible: Vec<u32>,
    feasible: usize,
    used: u64,
}

impl DecisionCache {
    /// How many nodes the last decision filtered and scored.
    pub(super) fn judged(&self) -> usize {
        self.judged
    }

    /// Node `i`'s status byte in entry `entry`.
    pub(super) fn status(&self, entry: usize, i: usize) -> u8 {
        self.entries
            .get(entry)
            .and_then(|e| e.status.get(i).copied())
            .unwrap_or(0)
    }

    /// Decides a pod the simple loop would take, from the entry of its
    /// shape (brought up to date first). `None` when the pass is not simple
    /// or no node is feasible: the caller runs the full pass.
    pub(super) fn decide(
        &mut self,
        pass: &Pass<'_>,
        profile: &Profile,
        rng: Option<&mut SplitMix64>,
    ) -> Option<(usize, Decision)> {
        if !pass.simple() {
            return None;
        }
        let fused = pass.fused?;
        self.probe_shape(pass, fused);
        self.uses += 1;
        let at = self.entry_for_probe();
        let entry = &mut self.entries[at];
        entry.used = self.uses;
        self.judged = entry.refresh(pass, fused);
        if entry.feasible == 0 {
            return None;
        }
        let present = entry
            .class_feasible
            .iter()
            .enumerate()
            .filter(|&(_, &n)| n > 0)
            .map(|(c, _)| c);
        let common = if fused.normalized {
            class_adds(profile, &entry.key.verdicts, present, &mut self.class_add)
        } else {
            Some(0)
        };
        let decision = match common {
            Some(add) => entry.select(rng, add),
            None => entry.select_per_class(rng, &self.class_add),
        };
        Some((at, decision))
    }

    /// Writes the shape of the pod of `pass` into `self.probe`.
    fn probe_shape(&mut self, pass: &Pass<'_>, fused: &Fused<'_>) {
        let (cluster, p) = (pass.cluster, pass.p);
        let key = &mut self.probe;
        key.fit = [p.fit.cpu, p.fit.mem, p.fit.eph];
        key.weights = [
            fused.purpose,
            fused.colocation,
            fused.fit_weight,
            fused.constant,
        ];
        key.most = match fused.fit {
            FitScore::MostCpuMem(c, m, w) => Some((c, m, w)),
            FitScore::Off | FitScore::General => None,
        };
        key.balanced = match fused.balanced {
            BalancedScore::CpuMem(c, m) => Some((fused.balanced_weight, c, m)),
            BalancedScore::Off | BalancedScore::General => None,
        };
        key.normalized = fused.normalized;
        key.images.clear();
        key.images.extend(p.images.iter().map(|&(sym, _)| sym));
        key.weighted.clear();
        if let ImageScore::Table { weighted, .. } = &fused.image {
            key.weighted.extend_from_slice(weighted);
        }
        key.verdicts.clear();
        key.verdicts.extend((0..cluster.classes.len()).map(|c| {
            let mut verdict = class_verdict_of(p, cluster, u32::try_from(c).unwrap_or(u32::MAX));
            verdict.base = fused.class_base(&verdict);
            verdict
        }));
    }

    /// The entry whose shape is `self.probe`: an existing one, a new one, or
    /// the least recently used one, emptied.
    fn entry_for_probe(&mut self) -> usize {
        if let Some(at) = self.entries.iter().position(|e| e.key == self.probe) {
            return at;
        }
        let at = if self.entries.len() < SHAPES {
            self.entries.push(Entry::default());
            self.entries.len() - 1
        } else {
            self.entries
                .iter()
                .enumerate()
                .min_by_key(|(_, e)| e.used)
                .map_or(0, |(at, _)| at)
        };
        let entry = &mut self.entries[at];
        entry.key.clone_from(&self.probe);
        // Void: the next refresh recomputes every node.
        entry.cluster = u64::MAX;
        at
    }
}

impl Entry {
    /// Brings the columns up to date with the cluster: the nodes changed
    /// since the last refresh, or all of them in a new epoch (or when more
    /// than half changed). Returns how many nodes it judged.
    fn refresh(&mut self, pass: &Pass<'_>, fused: &Fused<'_>) -> usize {
        let cluster = pass.cluster;
        let changes = &cluster.changes;
        let nodes = cluster.node_count();
        let replay = self.cluster == changes.cluster
            && self.epoch == changes.epoch
            && self.total.len() == nodes
            && self.seen <= changes.touched.len()
            && changes.touched.len() - self.seen <= nodes / 2;
        let judged = if replay {
            let touched = &changes.touched[self.seen..];
            for &i in touched {
                let i = i as usize;
                if self.status[i] == 0 {
                    self.feasible -= 1;
                    self.class_feasible[self.class[i] as usize] -= 1;
                }
                self.judge(pass, fused, i);
                let block = i / BLOCK;
                self.block_max[block] = block_max(&self.total, block);
            }
            touched.len()
        } else {
            self.total.clear();
            self.total.resize(nodes, INFEASIBLE);
            self.status.clear();
            self.status.resize(nodes, 0);
            self.class.clear();
            self.class.resize(nodes, 0);
            self.class_feasible.clear();
            self.class_feasible.resize(cluster.classes.len(), 0);
            self.feasible = 0;
            for i in 0..nodes {
                self.judge(pass, fused, i);
            }
            self.block_max.clear();
            self.block_max
                .extend((0..nodes.div_ceil(BLOCK)).map(|b| block_max(&self.total, b)));
            self.cluster = changes.cluster;
            self.epoch = changes.epoch;
            nodes
        };
        self.seen = changes.touched.len();
        judged
    }

    /// Filters and scores node `i` as the simple loop does, and counts it.
    #[inline]
    fn judge(&mut self, pass: &Pass<'_>, fused: &Fused<'_>, i: usize) {
        let cluster = pass.cluster;
        let hot = &cluster.hot[i];
        let class = hot.class as usize;
        let cv = self.key.verdicts[class];
        self.class[i] = hot.class;
        let (status, total) = if let Some(reason) = cv.fail {
            (status_code(reason), INFEASIBLE)
        } else {
            let failed = node_resources_fit::failures(hot, &cluster.cold[i], &pass.p.fit);
            if failed == 0 {
                (0, cv.base + fused.node_score::<true>(cluster, hot, i))
            } else {
                let code = node_resources_fit::fail_reasons(failed)
                    .map(status_code)
                    .max()
                    .unwrap_or(0);
                (code, INFEASIBLE)
            }
        };
        self.status[i] = status;
        self.total[i] = total;
        if status == 0 {
            self.feasible += 1;
            self.class_feasible[class] += 1;
        }
    }

    /// Selects among the feasible nodes when every one gets the same `add`
    /// from the normalized plugins: the best block maximum, then the nodes
    /// of the blocks that reach it.
    fn select(&self, rng: Option<&mut SplitMix64>, add: i64) -> Decision {
        let best = self.block_max.iter().copied().max().unwrap_or(INFEASIBLE);
        let best_blocks = || {
            self.block_max
                .iter()
                .enumerate()
                .filter(move |&(_, &m)| m == best)
                .map(|(b, _)| {
                    (
                        b * BLOCK,
                        &self.total[b * BLOCK..self.total.len().min((b + 1) * BLOCK)],
                    )
                })
        };
        let tied = best_blocks()
            .map(|(_, totals)| totals.iter().filter(|&&t| t == best).count())
            .sum();
        let mut n = pick(tied, rng);
        let mut at = 0;
        for (start, totals) in best_blocks() {
            let here = totals.iter().filter(|&&t| t == best).count();
            if n < here {
                at = start + nth_tied(totals.iter().copied(), best, n);
                break;
            }
            n -= here;
        }
        Decision {
            selected: Some(at),
            feasible: self.feasible,
            tied,
            best_total: best + add,
        }
    }

    /// [`select`](Self::select) when classes get different amounts.
    fn select_per_class(&self, rng: Option<&mut SplitMix64>, class_add: &[i64]) -> Decision {
        let totals = || {
            self.total.iter().zip(&self.class).map(|(&t, &class)| {
                if t == INFEASIBLE {
                    INFEASIBLE
                } else {
                    t + class_add[class as usize]
                }
            })
        };
        let best = totals().max().unwrap_or(INFEASIBLE);
        let tied = totals().filter(|&t| t == best).count();
        let at = nth_tied(totals(), best, pick(tied, rng));
        Decision {
            selected: Some(at),
            feasible: self.feasible,
            tied,
            best_total: best,
        }
    }
}

/// The largest total in block `block`.
fn block_max(total: &[i64], block: usize) -> i64 {
    let end = total.len().min((block + 1) * BLOCK);
    total[block * BLOCK..end]
        .iter()
        .copied()
        .max()
        .unwrap_or(INFEASIBLE)
}
