//! Karpenter (kubernetes-sigs/karpenter, v1 API) with `consolidationPolicy: WhenEmpty`, the
//! policy hubs use so that users' servers are never consolidated away:
//!
//! - **Provisioning**: pods that are pending, not terminating, marked `PodScheduled=False`
//!   `Unschedulable` and not nominated to a node are batched: a batch opens with the first new
//!   such pod and closes once no new one arrived for 1 s (`BATCH_IDLE_DURATION`) or 10 s after
//!   it opened (`BATCH_MAX_DURATION`; both karpenter.sh "Settings"). At the close the pods that
//!   fit the free room of ready or launching nodes are left to the scheduler; the rest are
//!   bin-packed first fit, largest first, onto new nodes, each new node taking the first pool
//!   (in the snapshot's order, as NodePool weight orders them) that admits its first pod, up to
//!   the pool's max size (Karpenter's `limits`). Karpenter reacts to pod events; this model
//!   looks for new pods at each step and asks for a step every `batch_idle_duration`.
//! - **Disruption** (polled every 10 s, the disruption controller's period): a ready pool node
//!   with no pods but DaemonSet, mirror and terminating pods, and none nominated to it, is
//!   empty; empty for `consolidateAfter` (NodePool `spec.disruption.consolidateAfter`, default
//!   `0s`: kubernetes-sigs/karpenter `pkg/apis/v1/nodepool.go`; `None` is `Never`) it is
//!   removed, at most the disruption budget at a time (default `nodes: "10%"` of the pool's
//!   nodes, rounded up, minus nodes already being deleted). Pool min sizes do not apply.
//! - **Registration**: a node not registered 15 minutes after launch (the NodeClaim
//!   registration TTL) is given up.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use super::{
    Action, Admission, NodeState, PendingPod, Resources, Scan, Snapshot, largest_first, overdue,
    pool_admits, pool_size, sim_nodes, to_evict,
};

/// Karpenter's settings and NodePool disruption fields the model follows; [`Default`] gives
/// the real defaults.
#[derive(Clone, Debug, PartialEq)]
pub struct KarpenterOptions {
    /// NodePool `spec.disruption.consolidateAfter`, default 0 s; `None` is `Never`.
    pub consolidate_after: Option<Duration>,
    /// `BATCH_IDLE_DURATION`, default 1 s.
    pub batch_idle_duration: Duration,
    /// `BATCH_MAX_DURATION`, default 10 s.
    pub batch_max_duration: Duration,
    /// NodePool `spec.disruption.budgets[].nodes` as a percentage, default 10 (rounded up).
    pub budget_nodes_percent: u32,
    /// How often disruption looks for empty nodes, default 10 s.
    pub disruption_poll_interval: Duration,
    /// How long a launched node may take to register, default 15 min.
    pub registration_ttl: Duration,
}

impl Default for KarpenterOptions {
    fn default() -> Self {
        Self {
            consolidate_after: Some(Duration::ZERO),
            batch_idle_duration: Duration::from_secs(1),
            batch_max_duration: Duration::from_secs(10),
            budget_nodes_percent: 10,
            disruption_poll_interval: Duration::from_secs(10),
            registration_ttl: Duration::from_secs(900),
        }
    }
}

#[derive(Clone, Copy, Debug)]
struct Batch {
    opened: Duration,
    last_new: Duration,
}

/// Karpenter's state between steps.
#[derive(Clone, Debug)]
pub struct Karpenter {
    options: KarpenterOptions,
    batch: Option<Batch>,
    /// Provisionable pods seen at the last step.
    seen: BTreeSet<String>,
    empty_since: BTreeMap<String, Duration>,
    next_poll: Duration,
    last_step: Duration,
}

impl Karpenter {
    /// Started at `now`: the first disruption poll is one period later.
    pub fn new(options: KarpenterOptions, now: Duration) -> Self {
        Self {
            next_poll: now.saturating_add(options.disruption_poll_interval),
            options,
            batch: None,
            seen: BTreeSet::new(),
            empty_since: BTreeMap::new(),
            last_step: now,
        }
    }

    /// Its options.
    pub fn options(&self) -> &KarpenterOptions {
        &self.options
    }

    fn batch_closes(&self) -> Option<Duration> {
        self.batch.map(|b| {
            b.last_new
                .saturating_add(self.options.batch_idle_duration)
                .min(b.opened.saturating_add(self.options.batch_max_duration))
        })
    }

    /// The next batch close, disruption poll, or look for new pods.
    pub fn next_step(&self) -> Duration {
        let look = self
            .last_step
            .saturating_add(self.options.batch_idle_duration);
        self.batch_closes()
            .into_iter()
            .fold(self.next_poll.min(look), Duration::min)
    }

    /// Reports a failed removal: the node's emptiness timer starts again.
    pub fn removal_failed(&mut self, node: &str) {
        self.empty_since.remove(node);
    }

    /// Batches new pods, launches nodes when a batch closes, removes empty nodes when the
    /// disruption poll is due. `None` when none of these happened.
    pub fn step(
        &mut self,
        now: Duration,
        cluster: &Snapshot,
        admission: &dyn Admission,
    ) -> Option<Scan> {
        self.last_step = now;
        let mut scan = Scan {
            time: now,
            ..Scan::default()
        };
        let given_up = overdue(cluster, now, self.options.registration_ttl);
        let gone: BTreeSet<String> = given_up
            .iter()
            .filter_map(|a| match a {
                Action::GiveUp { node, .. } => Some(node.clone()),
                _ => None,
            })
            .collect();
        let mut acted = !given_up.is_empty();
        scan.actions.extend(given_up);

        let provisionable: Vec<&PendingPod> = cluster
            .pending
            .iter()
            .filter(|p| p.unschedulable && !p.terminating && p.nominated_node.is_none())
            .collect();
        let keys: BTreeSet<String> = provisionable.iter().map(|p| p.key.clone()).collect();
        if keys.iter().any(|k| !self.seen.contains(k)) {
            let opened = self.batch.map_or(now, |b| b.opened);
            self.batch = Some(Batch {
                opened,
                last_new: now,
            });
        }
        self.seen = keys;
        if self.batch_closes().is_some_and(|t| now >= t) {
            self.batch = None;
            acted = true;
            self.provision(cluster, provisionable, &gone, admission, &mut scan);
        }
        if now >= self.next_poll {
            self.next_poll = now.saturating_add(self.options.disruption_poll_interval);
            acted = true;
            self.disrupt(now, cluster, &mut scan);
        }
        acted.then_some(scan)
    }

    fn provision(
        &mut self,
        cluster: &Snapshot,
        mut pods: Vec<&PendingPod>,
        gone: &BTreeSet<String>,
        admission: &dyn Admission,
        scan: &mut Scan,
    ) {
        pods.sort_by(|a, b| b.priority.cmp(&a.priority).then_with(|| a.key.cmp(&b.key)));
        scan.unschedulable = pods.iter().map(|p| p.key.clone()).collect();
        let mut sim = sim_nodes(cluster, |n| {
            n.state != NodeState::Deleting && !gone.contains(&n.name)
        });
        let mut leftovers = Vec::new();
        for p in pods {
            match sim
                .iter_mut()
                .find(|s| s.admits(&p.key, p.requests, admission))
            {
                Some(s) => s.used.add(p.requests),
                None => leftovers.push(p),
            }
        }
        largest_first(&mut leftovers);
        // New nodes: (pool index, used, pods).
        let mut bins: Vec<(usize, Resources, Vec<String>)> = Vec::new();
        for p in leftovers {
            let pools = &cluster.pools;
            let fit = bins.iter_mut().find(|(i, used, _)| {
                used.fits(p.requests, pools[*i].allocatable)
                    && admission.admits(&p.key, super::Place::Pool(&pools[*i].name))
            });
            if let Some((_, used, keys)) = fit {
                used.add(p.requests);
                keys.push(p.key.clone());
                continue;
            }
            let open = pools.iter().position(|pool| {
                let launched = bins
                    .iter()
                    .filter(|(i, _, _)| pools[*i].name == pool.name)
                    .count();
                pool_admits(pool, p, admission)
                    && pool_size(&sim, &pool.name).saturating_add(launched) < pool.max_size
            });
            match open {
                Some(i) => bins.push((i, p.requests, vec![p.key.clone()])),
                None => scan.cannot_help.push(p.key.clone()),
            }
        }
        for (i, pool) in cluster.pools.iter().enumerate() {
            let mine: Vec<&(usize, Resources, Vec<String>)> =
                bins.iter().filter(|b| b.0 == i).collect();
            if mine.is_empty() {
                continue;
            }
            scan.actions.push(Action::ScaleUp {
                pool: pool.name.clone(),
                nodes: mine.len(),
                pods: mine.iter().flat_map(|b| b.2.iter().cloned()).collect(),
            });
        }
    }

    fn disrupt(&mut self, now: Duration, cluster: &Snapshot, scan: &mut Scan) {
        let nominated: BTreeSet<&str> = cluster
            .pending
            .iter()
            .filter(|p| !p.terminating)
            .filter_map(|p| p.nominated_node.as_deref())
            .collect();
        let mut empty_since = BTreeMap::new();
        for n in &cluster.nodes {
            let empty = n.pool.is_some()
                && n.state == NodeState::Ready
                && !nominated.contains(n.name.as_str())
                && n.pods.iter().all(|p| p.per_node() || p.terminating);
            if empty {
                let since = self.empty_since.get(&n.name).copied().unwrap_or(now);
                empty_since.insert(n.name.clone(), since);
            }
        }
        self.empty_since = empty_since;
        if let Some(after) = self.options.consolidate_after {
            let mut ripe: Vec<(&String, Duration)> = self
                .empty_since
                .iter()
                .filter(|(_, since)| now.saturating_sub(**since) >= after)
                .map(|(n, since)| (n, *since))
                .collect();
            ripe.sort_by(|a, b| a.1.cmp(&b.1).then_with(|| a.0.cmp(b.0)));
            let mut allowed: BTreeMap<&str, usize> = BTreeMap::new();
            for pool in &cluster.pools {
                let nodes = cluster
                    .nodes
                    .iter()
                    .filter(|n| n.pool.as_deref() == Some(pool.name.as_str()));
                let (total, deleting) = nodes.fold((0u64, 0usize), |(t, d), n| {
                    (
                        t.saturating_add(1),
                        d.saturating_add(usize::from(n.state == NodeState::Deleting)),
                    )
                });
                // Rounded up, as Karpenter scales a percentage budget.
                let budget = total
                    .saturating_mul(u64::from(self.options.budget_nodes_percent))
                    .div_ceil(100);
                let budget = usize::try_from(budget).unwrap_or(usize::MAX);
                allowed.insert(pool.name.as_str(), budget.saturating_sub(deleting));
            }
            let mut removed = Vec::new();
            for (name, since) in ripe {
                let Some(node) = cluster.nodes.iter().find(|n| &n.name == name) else {
                    continue;
                };
                let pool = node.pool.clone().unwrap_or_default();
                let Some(left) = allowed.get_mut(pool.as_str()).filter(|l| **l > 0) else {
                    continue;
                };
                *left -= 1;
                scan.actions.push(Action::RemoveNode {
                    pool,
                    node: name.clone(),
                    unneeded_for: now.saturating_sub(since),
                    evict: to_evict(node),
                });
                removed.push(name.clone());
            }
            for n in removed {
                self.empty_since.remove(&n);
            }
        }
        scan.unneeded = self
            .empty_since
            .iter()
            .map(|(n, t)| (n.clone(), *t))
            .collect();
    }
}

#[cfg(test)]
mod tests;
