//! What a run measures, and the comparison of policies over seeds.

use std::fmt::Write as _;

use serde::Serialize;

use super::SimOptions;
use crate::trace::Trace;

/// The cluster at one instant (for the picture).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Sample {
    /// Hours since the trace's start.
    pub hours: f64,
    /// Nodes per pool (provisioning ones included).
    pub nodes: Vec<u32>,
    /// Users with a node.
    pub users: u32,
    /// Users waiting for one.
    pub pending: u32,
}

/// The figures of one run (one policy, one seed).
#[derive(Clone, Debug, PartialEq)]
pub struct RunStats {
    /// The policy's name.
    pub policy: String,
    /// The seed.
    pub seed: u64,
    /// Pool names, in the options' order.
    pub pools: Vec<String>,
    /// Prices per node-hour, per pool.
    pub prices: Vec<f64>,
    /// Node-hours per pool, from the scale-up request to the removal.
    pub node_hours: Vec<f64>,
    /// Node-hours of registered nodes holding one or two real users.
    pub sparse_node_hours: f64,
    /// The simulated span, in hours.
    pub horizon_hours: f64,
    /// Users who spawned.
    pub users: u64,
    /// Users still without a node at the end.
    pub never_started: u64,
    /// Seconds from spawn to bound, per user bound.
    pub wait_bound: Vec<f64>,
    /// Seconds from spawn to running (image pulled), per user running.
    pub wait_running: Vec<f64>,
    /// Users bound to a node that registered after they spawned.
    pub waited_for_node: u64,
    /// Users bound to a node still pulling the user image.
    pub cold_starts: u64,
    /// Placeholders (or other pods) evicted by preemption.
    pub preemptions: u64,
    /// Preemptions decided by packing preemption.
    pub packing_preemptions: u64,
    /// Users whose server was killed (by a scale-down or a preemption): must be 0.
    pub user_evictions: u64,
    /// Scale-up decisions.
    pub scale_ups: u64,
    /// Nodes those added.
    pub nodes_added: u64,
    /// Nodes removed.
    pub scale_downs: u64,
    /// The timeline.
    pub timeline: Vec<Sample>,
}

impl RunStats {
    pub(crate) fn new(policy: &str, seed: u64, options: &SimOptions) -> RunStats {
        RunStats {
            policy: policy.into(),
            seed,
            pools: options.pools.iter().map(|p| p.name.clone()).collect(),
            prices: options.pools.iter().map(|p| p.price_per_hour).collect(),
            node_hours: vec![0.0; options.pools.len()],
            sparse_node_hours: 0.0,
            horizon_hours: 0.0,
            users: 0,
            never_started: 0,
            wait_bound: Vec::new(),
            wait_running: Vec::new(),
            waited_for_node: 0,
            cold_starts: 0,
            preemptions: 0,
            packing_preemptions: 0,
            user_evictions: 0,
            scale_ups: 0,
            nodes_added: 0,
            scale_downs: 0,
            timeline: Vec::new(),
        }
    }

    pub(crate) fn finish(&mut self) {
        self.wait_bound.sort_by(f64::total_cmp);
        self.wait_running.sort_by(f64::total_cmp);
    }

    /// Node-hours of every pool.
    #[must_use]
    pub fn total_node_hours(&self) -> f64 {
        self.node_hours.iter().sum()
    }

    /// What they cost.
    #[must_use]
    pub fn cost(&self) -> f64 {
        self.node_hours
            .iter()
            .zip(&self.prices)
            .map(|(h, p)| h * p)
            .sum()
    }
}

/// The `q`-quantile (0..=1) of sorted values by nearest rank; 0 when empty.
#[must_use]
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss
    )]
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

/// Two-sided 95 % Student t critical values for 1..=30 degrees of freedom.
const T95: [f64; 30] = [
    12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160,
    2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056,
    2.052, 2.048, 2.045, 2.042,
];

/// Mean and 95 % confidence interval (Student t over the seeds; the mean
/// twice with one seed).
#[must_use]
pub fn mean_ci(values: &[f64]) -> (f64, [f64; 2]) {
    if values.is_empty() {
        return (0.0, [0.0, 0.0]);
    }
    #[allow(clippy::cast_precision_loss)]
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    if values.len() < 2 {
        return (mean, [mean, mean]);
    }
    let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0);
    let t = T95.get(values.len() - 2).copied().unwrap_or(1.96);
    let half = t * (var / n).sqrt();
    (mean, [mean - half, mean + half])
}

/// One policy over several seeds.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Summary {
    /// The policy (config file or built-in name).
    pub config: String,
    /// Seeds run.
    pub seeds: usize,
    /// Mean node-hours over the seeds, all pools.
    pub node_hours: f64,
    /// Its 95 % confidence interval.
    pub node_hours_ci95: [f64; 2],
    /// Mean node-hours per pool.
    pub node_hours_per_pool: Vec<(String, f64)>,
    /// Mean cost.
    pub cost: f64,
    /// Mean node-hours of nodes holding one or two real users.
    pub sparse_node_hours: f64,
    /// Spawn to bound, seconds (means over seeds of each seed's quantile).
    pub wait_p50_seconds: f64,
    /// 95th percentile.
    pub wait_p95_seconds: f64,
    /// 99th percentile.
    pub wait_p99_seconds: f64,
    /// Spawn to running (node start and image pull included), p50.
    pub running_p50_seconds: f64,
    /// p95.
    pub running_p95_seconds: f64,
    /// p99.
    pub running_p99_seconds: f64,
    /// Share of users bound to a node that registered after they spawned.
    pub waited_for_new_node: f64,
    /// Share of users bound where the image was still being pulled.
    pub cold_starts: f64,
    /// Users killed by scale-down or preemption, all seeds (must be 0).
    pub user_evictions: u64,
    /// Users never placed by the end, all seeds.
    pub never_started: u64,
    /// Mean placeholders evicted by preemption.
    pub preemptions: f64,
    /// Of those, by packing preemption.
    pub packing_preemptions: f64,
    /// Mean scale-up decisions.
    pub scale_ups: f64,
    /// Mean nodes removed.
    pub scale_downs: f64,
}

impl Summary {
    /// Summarises the runs of one policy.
    #[must_use]
    pub fn of(runs: &[RunStats]) -> Summary {
        #[allow(clippy::cast_precision_loss)]
        let mean = |f: &dyn Fn(&RunStats) -> f64| {
            runs.iter().map(f).sum::<f64>() / runs.len().max(1) as f64
        };
        let hours: Vec<f64> = runs.iter().map(RunStats::total_node_hours).collect();
        let (node_hours, node_hours_ci95) = mean_ci(&hours);
        let pools = runs.first().map(|r| r.pools.clone()).unwrap_or_default();
        #[allow(clippy::cast_precision_loss)]
        let share = |f: &dyn Fn(&RunStats) -> u64| {
            let users: u64 = runs.iter().map(|r| r.wait_bound.len() as u64).sum();
            let n: u64 = runs.iter().map(f).sum();
            if users == 0 {
                0.0
            } else {
                n as f64 / users as f64
            }
        };
        #[allow(clippy::cast_precision_loss)]
        Summary {
            config: runs.first().map(|r| r.policy.clone()).unwrap_or_default(),
            seeds: runs.len(),
            node_hours,
            node_hours_ci95,
            node_hours_per_pool: pools
                .iter()
                .enumerate()
                .map(|(i, name)| (name.clone(), mean(&|r| r.node_hours[i])))
                .collect(),
            cost: mean(&RunStats::cost),
            sparse_node_hours: mean(&|r| r.sparse_node_hours),
            wait_p50_seconds: mean(&|r| quantile(&r.wait_bound, 0.5)),
            wait_p95_seconds: mean(&|r| quantile(&r.wait_bound, 0.95)),
            wait_p99_seconds: mean(&|r| quantile(&r.wait_bound, 0.99)),
            running_p50_seconds: mean(&|r| quantile(&r.wait_running, 0.5)),
            running_p95_seconds: mean(&|r| quantile(&r.wait_running, 0.95)),
            running_p99_seconds: mean(&|r| quantile(&r.wait_running, 0.99)),
            waited_for_new_node: share(&|r| r.waited_for_node),
            cold_starts: share(&|r| r.cold_starts),
            user_evictions: runs.iter().map(|r| r.user_evictions).sum(),
            never_started: runs.iter().map(|r| r.never_started).sum(),
            preemptions: mean(&|r| r.preemptions as f64),
            packing_preemptions: mean(&|r| r.packing_preemptions as f64),
            scale_ups: mean(&|r| r.scale_ups as f64),
            scale_downs: mean(&|r| r.scale_downs as f64),
        }
    }
}

/// Several policies on one trace.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Compared {
    /// Sessions in the trace.
    pub users: usize,
    /// Simulated hours.
    pub hours: f64,
    /// The fluid lower bound: requests over allocatable, rounded up to whole
    /// nodes, integrated over time (plus the fixed pools).
    pub lower_bound_node_hours: f64,
    /// One row per policy, in the order given.
    pub policies: Vec<Summary>,
}

/// Summarises `runs` (grouped by policy, in order) against the trace's
/// lower bound.
#[must_use]
pub fn compare(trace: &Trace, options: &SimOptions, runs: &[Vec<RunStats>]) -> Compared {
    let hours = runs
        .first()
        .and_then(|r| r.first())
        .map_or(0.0, |r| r.horizon_hours);
    Compared {
        users: trace.len(),
        hours,
        lower_bound_node_hours: lower_bound(trace, options, hours),
        policies: runs.iter().map(|r| Summary::of(r)).collect(),
    }
}

/// The fluid lower bound of node-hours over `hours`: each non-user pool at
/// its minimum, and for the (first) user pool, at every instant the
/// sessions running then, rounded up to whole nodes by the scarcest of cpu,
/// memory and pod slots. Users start at their spawn (no wait).
#[must_use]
pub fn lower_bound(trace: &Trace, options: &SimOptions, hours: f64) -> f64 {
    let mut total = 0.0;
    #[allow(clippy::cast_precision_loss)]
    for pool in options.pools.iter().filter(|p| !p.users) {
        total += pool.min_size as f64 * hours;
    }
    let Some(pool) = options.pools.iter().find(|p| p.users) else {
        return total;
    };
    // (second, +1 start / −1 end, cpu, memory)
    let mut edges: Vec<(u64, i8, u64, u64)> = Vec::with_capacity(trace.len() * 2);
    for s in trace.sessions() {
        let (cpu, mem) = (s.cpu.unwrap_or(0), s.memory.unwrap_or(0));
        edges.push((u64::from(s.start), 1, cpu, mem));
        edges.push((s.end(), -1, cpu, mem));
    }
    edges.sort_unstable_by_key(|e| (e.0, e.1));
    let (mut cpu, mut mem, mut count) = (0u128, 0u128, 0u128);
    let mut last = 0u64;
    let nodes = |cpu: u128, mem: u128, count: u128| -> u128 {
        let need = |used: u128, per: u64| {
            if per == 0 {
                0
            } else {
                used.div_ceil(u128::from(per))
            }
        };
        need(cpu, pool.cpu_milli)
            .max(need(mem, pool.memory))
            .max(need(count, pool.pods))
            .max(pool.min_size as u128)
    };
    let end = (hours * 3600.0) as u64;
    for (at, delta, c, m) in edges {
        let at = at.min(end);
        #[allow(clippy::cast_precision_loss)]
        {
            total += nodes(cpu, mem, count) as f64 * (at.saturating_sub(last)) as f64 / 3600.0;
        }
        last = at;
        if delta > 0 {
            cpu += u128::from(c);
            mem += u128::from(m);
            count += 1;
        } else {
            cpu = cpu.saturating_sub(u128::from(c));
            mem = mem.saturating_sub(u128::from(m));
            count = count.saturating_sub(1);
        }
    }
    #[allow(clippy::cast_precision_loss)]
    {
        total += nodes(cpu, mem, count) as f64 * (end.saturating_sub(last)) as f64 / 3600.0;
    }
    total
}

impl Compared {
    /// The JSON document of the contract (`--format json`).
    #[must_use]
    pub fn to_json(&self) -> String {
        let mut out = serde_json::to_string_pretty(self).unwrap_or_default();
        out.push('\n');
        out
    }

    /// A table for people.
    #[must_use]
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{} users over {:.0} h; lower bound {:.1} node-hours",
            self.users, self.hours, self.lower_bound_node_hours
        );
        let width = self
            .policies
            .iter()
            .map(|p| p.config.chars().count())
            .max()
            .unwrap_or(6)
            .max(6);
        let _ = writeln!(
            out,
            "{:<width$}  {:>22}  {:>6}  {:>8}  {:>9}  {:>17}  {:>17}  {:>7}  {:>7}  {:>5}  {:>5}  {:>9}",
            "policy",
            "node-hours (95% CI)",
            "bound×",
            "cost",
            "1-2 users",
            "bound p50/95/99 s",
            "running p50/95 s",
            "new-node",
            "preempt",
            "ups",
            "downs",
            "evictions"
        );
        for p in &self.policies {
            let ratio = if self.lower_bound_node_hours > 0.0 {
                p.node_hours / self.lower_bound_node_hours
            } else {
                0.0
            };
            let _ = writeln!(
                out,
                "{:<width$}  {:>8.1} [{:>6.1},{:>6.1}]  {:>6.2}  {:>8.2}  {:>9.1}  {:>17}  {:>17}  {:>7.1}%  {:>7.1}  {:>5.1}  {:>5.1}  {:>9}",
                p.config,
                p.node_hours,
                p.node_hours_ci95[0],
                p.node_hours_ci95[1],
                ratio,
                p.cost,
                p.sparse_node_hours,
                format!(
                    "{:.0}/{:.0}/{:.0}",
                    p.wait_p50_seconds, p.wait_p95_seconds, p.wait_p99_seconds
                ),
                format!("{:.0}/{:.0}", p.running_p50_seconds, p.running_p95_seconds),
                p.waited_for_new_node * 100.0,
                p.preemptions,
                p.scale_ups,
                p.scale_downs,
                p.user_evictions
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_by_nearest_rank() {
        let v = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0];
        // rank = ceil(q·n): 0.5·10 = 5 → 5.0; 0.95·10 = 9.5 → 10 → 10.0.
        assert_eq!(quantile(&v, 0.5), 5.0);
        assert_eq!(quantile(&v, 0.95), 10.0);
        assert_eq!(quantile(&[], 0.5), 0.0);
    }

    #[test]
    fn a_ci_from_student_t() {
        // n = 3, mean 2, s² = ((1)²+0+(1)²)/2 = 1, t(2) = 4.303: 2 ± 4.303·√(1/3) = 2 ± 2.484.
        let (m, [lo, hi]) = mean_ci(&[1.0, 2.0, 3.0]);
        assert_eq!(m, 2.0);
        assert!((lo - (2.0 - 2.4843)).abs() < 1e-3, "{lo}");
        assert!((hi - (2.0 + 2.4843)).abs() < 1e-3, "{hi}");
        assert_eq!(mean_ci(&[5.0]), (5.0, [5.0, 5.0]));
    }
}
