//! The Kubernetes cluster autoscaler with its default rules (kubernetes/autoscaler
//! `cluster-autoscaler/FAQ.md`, "What are the parameters to CA?", and its flag defaults):
//!
//! - **Scan** every 10 s (`--scan-interval`).
//! - **Scale-up**: a pod counts when it is pending, not terminating, its PodScheduled condition
//!   is False with reason `Unschedulable` (the scheduler's verdict), its priority is at least
//!   the expendable cutoff (−10, `--expendable-pods-priority-cutoff`), and it is not waiting
//!   for a preemption (no nominated node). Pods that fit the free room of existing or
//!   still-provisioning nodes are left to the scheduler ("filter out schedulable"); pods
//!   nominated to a node hold their room there. The rest are bin-packed (first fit, largest
//!   first) onto new nodes of each pool that admits them, up to the pool's max size; the pool
//!   helping the most pods wins, then the one needing the fewest nodes, then the first (the
//!   real default expander is `random`; this one is deterministic).
//! - **Scale-down**: a pool node is unneeded when the requests of its pods (expendable pods
//!   excluded; DaemonSet and mirror pods included unless `--ignore-daemonsets-utilization` /
//!   `--ignore-mirror-pods-utilization`) are below 50 % of allocatable, the larger of the cpu
//!   and memory ratios (`--scale-down-utilization-threshold`), and every pod on it can move:
//!   no pod without a controller (bare pods such as KubeSpawner's users block it unless
//!   annotated `cluster-autoscaler.kubernetes.io/safe-to-evict: "true"`), none annotated
//!   `safe-to-evict: "false"`, and each fits on another ready node that is not itself being
//!   removed. Empty nodes (no pods but DaemonSet and mirror pods) are considered first. A node
//!   unneeded for 10 minutes (`--scale-down-unneeded-time`) is removed, but never within 10
//!   minutes of a scale-up (`--scale-down-delay-after-add`), one scan interval of a removal
//!   (`--scale-down-delay-after-delete`) or 3 minutes of a failed removal
//!   (`--scale-down-delay-after-failure`), and never below the pool's min size; empty nodes go
//!   in bulk (up to 10, `--max-empty-bulk-delete`), non-empty ones one per scan.
//! - **Provisioning**: a node not registered 15 minutes after the scale-up
//!   (`--max-node-provision-time`) is given up and its pool backs off scale-ups for 5 minutes
//!   (`--initial-node-group-backoff-duration`), doubling on each further failure up to 30
//!   minutes (`--max-node-group-backoff-duration`), back to 5 after 3 hours without a failure
//!   (`--node-group-backoff-reset-timeout`; these three are flags of `main.go`, not in the FAQ).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use super::Resources;
use super::{
    Action, Admission, Node, NodeState, PendingPod, Scan, SimNode, Snapshot, largest_first,
    overdue, pool_admits, pool_size, sim_nodes, to_evict,
};

/// The cluster autoscaler's flags the model follows; [`Default`] gives the real defaults.
#[derive(Clone, Debug, PartialEq)]
pub struct ClusterAutoscalerOptions {
    /// `--scan-interval`, default 10 s.
    pub scan_interval: Duration,
    /// `--scale-down-unneeded-time`, default 10 min.
    pub scale_down_unneeded_time: Duration,
    /// `--scale-down-delay-after-add`, default 10 min.
    pub scale_down_delay_after_add: Duration,
    /// `--scale-down-delay-after-delete`; `None` (the default) means the scan interval.
    pub scale_down_delay_after_delete: Option<Duration>,
    /// `--scale-down-delay-after-failure`, default 3 min.
    pub scale_down_delay_after_failure: Duration,
    /// `--scale-down-utilization-threshold`, default 0.5.
    pub scale_down_utilization_threshold: f64,
    /// `--ignore-daemonsets-utilization`, default false (DaemonSet pods count).
    pub ignore_daemonsets_utilization: bool,
    /// `--ignore-mirror-pods-utilization`, default false (mirror pods count).
    pub ignore_mirror_pods_utilization: bool,
    /// `--expendable-pods-priority-cutoff`, default −10: pods below it neither cause a
    /// scale-up nor count for utilization nor block a removal.
    pub expendable_pods_priority_cutoff: i64,
    /// Whether a pod with no controller and no `safe-to-evict: "true"` pins its node, as in
    /// the cluster autoscaler (default true; false models every such pod annotated
    /// `safe-to-evict: "true"`).
    pub bare_pods_block_scale_down: bool,
    /// `--max-empty-bulk-delete`, default 10.
    pub max_empty_bulk_delete: usize,
    /// `--max-node-provision-time`, default 15 min.
    pub max_node_provision_time: Duration,
    /// `--initial-node-group-backoff-duration`, default 5 min.
    pub initial_node_group_backoff: Duration,
    /// `--max-node-group-backoff-duration`, default 30 min.
    pub max_node_group_backoff: Duration,
    /// `--node-group-backoff-reset-timeout`, default 3 h.
    pub node_group_backoff_reset_timeout: Duration,
}

impl Default for ClusterAutoscalerOptions {
    fn default() -> Self {
        Self {
            scan_interval: Duration::from_secs(10),
            scale_down_unneeded_time: Duration::from_secs(600),
            scale_down_delay_after_add: Duration::from_secs(600),
            scale_down_delay_after_delete: None,
            scale_down_delay_after_failure: Duration::from_secs(180),
            scale_down_utilization_threshold: 0.5,
            ignore_daemonsets_utilization: false,
            ignore_mirror_pods_utilization: false,
            expendable_pods_priority_cutoff: -10,
            bare_pods_block_scale_down: true,
            max_empty_bulk_delete: 10,
            max_node_provision_time: Duration::from_secs(900),
            initial_node_group_backoff: Duration::from_secs(300),
            max_node_group_backoff: Duration::from_secs(1800),
            node_group_backoff_reset_timeout: Duration::from_secs(3 * 3600),
        }
    }
}

/// A pool's scale-up backoff after a node failed to register.
#[derive(Clone, Copy, Debug)]
struct Backoff {
    until: Duration,
    duration: Duration,
    last_failure: Duration,
}

/// The cluster autoscaler's state between scans.
#[derive(Clone, Debug)]
pub struct ClusterAutoscaler {
    options: ClusterAutoscalerOptions,
    next_scan: Duration,
    unneeded: BTreeMap<String, Duration>,
    last_scale_up: Option<Duration>,
    last_delete: Option<Duration>,
    last_failure: Option<Duration>,
    backoff: BTreeMap<String, Backoff>,
}

impl ClusterAutoscaler {
    /// Started at `now`: the first scan is one interval later.
    pub fn new(options: ClusterAutoscalerOptions, now: Duration) -> Self {
        Self {
            next_scan: now.saturating_add(options.scan_interval),
            options,
            unneeded: BTreeMap::new(),
            last_scale_up: None,
            last_delete: None,
            last_failure: None,
            backoff: BTreeMap::new(),
        }
    }

    /// Its options.
    pub fn options(&self) -> &ClusterAutoscalerOptions {
        &self.options
    }

    /// When the next scan is due.
    pub fn next_step(&self) -> Duration {
        self.next_scan
    }

    /// Reports a failed removal: scale-down pauses for `--scale-down-delay-after-failure`.
    pub fn removal_failed(&mut self, node: &str, now: Duration) {
        self.last_failure = Some(now);
        self.unneeded.remove(node);
    }

    fn expendable(&self, priority: i64) -> bool {
        priority < self.options.expendable_pods_priority_cutoff
    }

    /// Scans at `now` if due.
    pub fn step(
        &mut self,
        now: Duration,
        cluster: &Snapshot,
        admission: &dyn Admission,
    ) -> Option<Scan> {
        if now < self.next_scan {
            return None;
        }
        self.next_scan = now.saturating_add(self.options.scan_interval);
        let mut scan = Scan {
            time: now,
            ..Scan::default()
        };

        // Nodes that never registered: give up, back the pool off.
        let given_up = overdue(cluster, now, self.options.max_node_provision_time);
        for a in &given_up {
            if let Action::GiveUp { pool, .. } = a {
                self.back_off(pool, now);
            }
        }
        let gone: BTreeSet<&str> = given_up
            .iter()
            .filter_map(|a| match a {
                Action::GiveUp { node, .. } => Some(node.as_str()),
                _ => None,
            })
            .collect();
        scan.actions.extend(given_up.iter().cloned());

        let sim = sim_nodes(cluster, |n| {
            n.state != NodeState::Deleting && !gone.contains(n.name.as_str())
        });
        self.scale_up(now, cluster, sim.clone(), admission, &mut scan);
        // Scale-down looks at registered nodes only, without the scale-up's placements.
        let ready: Vec<SimNode<'_>> = sim
            .into_iter()
            .filter(|s| s.node.state == NodeState::Ready)
            .collect();
        self.scale_down(now, cluster, ready, admission, &mut scan);
        Some(scan)
    }

    fn back_off(&mut self, pool: &str, now: Duration) {
        let o = &self.options;
        let duration = match self.backoff.get(pool) {
            Some(b) if now.saturating_sub(b.last_failure) < o.node_group_backoff_reset_timeout => {
                b.duration.saturating_mul(2).min(o.max_node_group_backoff)
            }
            _ => o.initial_node_group_backoff,
        };
        self.backoff.insert(
            pool.to_string(),
            Backoff {
                until: now.saturating_add(duration),
                duration,
                last_failure: now,
            },
        );
    }

    fn scale_up(
        &mut self,
        now: Duration,
        cluster: &Snapshot,
        mut sim: Vec<SimNode<'_>>,
        admission: &dyn Admission,
        scan: &mut Scan,
    ) {
        let mut waiting: Vec<&PendingPod> = cluster
            .pending
            .iter()
            .filter(|p| {
                p.unschedulable
                    && !p.terminating
                    && !self.expendable(p.priority)
                    && p.nominated_node.is_none()
            })
            .collect();
        waiting.sort_by(|a, b| b.priority.cmp(&a.priority).then_with(|| a.key.cmp(&b.key)));
        scan.unschedulable = waiting.iter().map(|p| p.key.clone()).collect();
        // Filter out schedulable: pods that fit free room now are left to the scheduler.
        let mut leftovers = Vec::new();
        for p in waiting {
            match sim
                .iter_mut()
                .find(|s| s.admits(&p.key, p.requests, admission))
            {
                Some(s) => s.used.add(p.requests),
                None => leftovers.push(p),
            }
        }
        if leftovers.is_empty() {
            return;
        }
        largest_first(&mut leftovers);
        // (pool index, nodes, pods helped)
        let mut best: Option<(usize, usize, Vec<String>)> = None;
        for (i, pool) in cluster.pools.iter().enumerate() {
            if self.backoff.get(&pool.name).is_some_and(|b| now < b.until) {
                continue;
            }
            let room = pool.max_size.saturating_sub(pool_size(&sim, &pool.name));
            let mut bins: Vec<Resources> = Vec::new();
            let mut helped = Vec::new();
            for p in &leftovers {
                if !pool_admits(pool, p, admission) {
                    continue;
                }
                if let Some(b) = bins
                    .iter_mut()
                    .find(|b| b.fits(p.requests, pool.allocatable))
                {
                    b.add(p.requests);
                } else if bins.len() < room {
                    bins.push(p.requests);
                } else {
                    continue;
                }
                helped.push(p.key.clone());
            }
            if bins.is_empty() {
                continue;
            }
            let better = best.as_ref().is_none_or(|(_, n, h)| {
                helped.len() > h.len() || (helped.len() == h.len() && bins.len() < *n)
            });
            if better {
                best = Some((i, bins.len(), helped));
            }
        }
        let helped: BTreeSet<&str> = best
            .as_ref()
            .map(|b| b.2.iter().map(String::as_str).collect())
            .unwrap_or_default();
        scan.cannot_help = leftovers
            .iter()
            .filter(|p| !helped.contains(p.key.as_str()))
            .map(|p| p.key.clone())
            .collect();
        if let Some((i, nodes, pods)) = best {
            scan.actions.push(Action::ScaleUp {
                pool: cluster.pools[i].name.clone(),
                nodes,
                pods,
            });
            self.last_scale_up = Some(now);
        }
    }

    /// The requests that count for a node's utilization.
    fn counted(&self, node: &Node) -> Resources {
        let mut counted = Resources::default();
        for p in &node.pods {
            if p.terminating
                || self.expendable(p.priority)
                || (p.daemon_set && self.options.ignore_daemonsets_utilization)
                || (p.mirror && self.options.ignore_mirror_pods_utilization)
            {
                continue;
            }
            counted.add(p.requests);
        }
        counted
    }

    fn scale_down(
        &mut self,
        now: Duration,
        cluster: &Snapshot,
        mut sim: Vec<SimNode<'_>>,
        admission: &dyn Admission,
        scan: &mut Scan,
    ) {
        let utilization: Vec<f64> = sim
            .iter()
            .map(|s| self.counted(s.node).utilization(s.node.allocatable))
            .collect();
        let empty = |s: &SimNode<'_>| s.nominated == 0 && s.node.pods.iter().all(|p| p.per_node());
        let mut order: Vec<usize> = (0..sim.len())
            .filter(|&i| sim[i].node.pool.is_some())
            .collect();
        order.sort_by(|&a, &b| {
            (!empty(&sim[a]))
                .cmp(&!empty(&sim[b]))
                .then(utilization[a].total_cmp(&utilization[b]))
                .then_with(|| sim[a].node.name.cmp(&sim[b].node.name))
        });
        let mut sizes: BTreeMap<&str, usize> = BTreeMap::new();
        for s in &sim {
            if let Some(p) = &s.node.pool {
                let n = sizes.entry(p.as_str()).or_default();
                *n = n.saturating_add(1);
            }
        }
        let min_size = |pool: &str| {
            cluster
                .pools
                .iter()
                .find(|p| p.name == pool)
                .map_or(0, |p| p.min_size)
        };
        let mut removed: BTreeSet<usize> = BTreeSet::new();
        let mut destinations: BTreeSet<usize> = BTreeSet::new();
        for i in order {
            let Some(pool) = sim[i].node.pool.as_deref() else {
                continue;
            };
            if destinations.contains(&i)
                || sim[i].nominated > 0
                || utilization[i] >= self.options.scale_down_utilization_threshold
                || sizes.get(pool).copied().unwrap_or(0) <= min_size(pool)
            {
                continue;
            }
            let Some(moves) = self.moves(i, &sim, &removed, admission) else {
                continue;
            };
            for (j, req) in moves {
                sim[j].used.add(req);
                destinations.insert(j);
            }
            removed.insert(i);
            if let Some(n) = sizes.get_mut(pool) {
                *n = n.saturating_sub(1);
            }
        }
        let unneeded: BTreeMap<String, Duration> = removed
            .iter()
            .map(|&i| {
                let n = &sim[i].node.name;
                (n.clone(), self.unneeded.get(n).copied().unwrap_or(now))
            })
            .collect();
        self.unneeded = unneeded;

        let o = &self.options;
        let within = |last: Option<Duration>, delay: Duration| {
            last.is_some_and(|t| now.saturating_sub(t) < delay)
        };
        let cooling = within(self.last_scale_up, o.scale_down_delay_after_add)
            || within(
                self.last_delete,
                o.scale_down_delay_after_delete.unwrap_or(o.scan_interval),
            )
            || within(self.last_failure, o.scale_down_delay_after_failure);
        if !cooling {
            // (sim index, unneeded for, empty)
            let ripe: Vec<(usize, Duration, bool)> = self
                .unneeded
                .iter()
                .filter_map(|(n, since)| {
                    let d = now.saturating_sub(*since);
                    let i = sim.iter().position(|s| &s.node.name == n)?;
                    (d >= o.scale_down_unneeded_time).then(|| (i, d, empty(&sim[i])))
                })
                .collect();
            let empties = ripe.iter().filter(|r| r.2).take(o.max_empty_bulk_delete);
            let non_empty = ripe.iter().filter(|r| !r.2).take(1);
            for &(i, unneeded_for, _) in empties.chain(non_empty) {
                let node = sim[i].node;
                scan.actions.push(Action::RemoveNode {
                    pool: node.pool.clone().unwrap_or_default(),
                    node: node.name.clone(),
                    unneeded_for,
                    evict: to_evict(node),
                });
                self.unneeded.remove(&node.name);
                self.last_delete = Some(now);
            }
        }
        scan.unneeded = self.unneeded.iter().map(|(n, t)| (n.clone(), *t)).collect();
    }

    /// Where each pod of node `i` would go if the node were removed (`None`: it cannot be).
    fn moves(
        &self,
        i: usize,
        sim: &[SimNode<'_>],
        removed: &BTreeSet<usize>,
        admission: &dyn Admission,
    ) -> Option<Vec<(usize, Resources)>> {
        let mut trial: Vec<Resources> = sim.iter().map(|s| s.used).collect();
        let mut moves = Vec::new();
        for p in sim[i].node.pods.iter().filter(|p| !p.terminating) {
            if self.expendable(p.priority) && p.safe_to_evict != Some(false) {
                continue; // expendable: killed with the node, never moved
            }
            if p.per_node() {
                continue; // runs on every node; nothing to move
            }
            let replicated = p.controller
                || p.safe_to_evict == Some(true)
                || !self.options.bare_pods_block_scale_down;
            if p.safe_to_evict == Some(false) || !replicated {
                return None;
            }
            let j = (0..sim.len()).find(|&j| {
                j != i
                    && !removed.contains(&j)
                    && trial[j].fits(p.requests, sim[j].node.allocatable)
                    && admission.admits(&p.key, super::Place::Node(&sim[j].node.name))
            })?;
            trial[j].add(p.requests);
            moves.push((j, p.requests));
        }
        Some(moves)
    }
}

#[cfg(test)]
mod tests;
