//! Prometheus metrics, named and labelled as kube-scheduler names them so existing dashboards
//! keep working, plus the packing's own `user_scheduler_*` metrics.
//!
//! One [`Metrics`] is created at start, shared behind an `Arc`, and encoded by the admin
//! server's `/metrics` route with [`Metrics::encode`] (OpenMetrics text, [`CONTENT_TYPE`]).
//!
//! prometheus-client appends `_total` to counters itself (and panics in debug builds when a
//! counter's registered name already ends in it), so counters are registered without the
//! suffix; every other name is registered exactly as exposed.

use std::fmt::Write as _;
use std::time::Duration;

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// The content type of [`Metrics::encode`]'s output.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Errors of this module.
#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    /// The text encoder failed (it only fails when a label value cannot be written).
    #[error("encoding metrics: {0}")]
    Encode(#[from] std::fmt::Error),
}

/// Defines a label-value enum whose encoding is its lowercase wire name.
macro_rules! label_value {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name {
            $($(#[$vmeta])* $variant),+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The label value as exposed.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }
        }

        impl EncodeLabelValue for $name {
            fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
                encoder.write_str(self.as_str())
            }
        }
    };
}

label_value! {
    /// The `result` of one scheduling attempt (kube-scheduler's values).
    AttemptResult {
        /// The pod was assigned a node (and the binding was issued).
        Scheduled => "scheduled",
        /// No node fits the pod.
        Unschedulable => "unschedulable",
        /// An internal or API error prevented a decision or the binding.
        Error => "error",
    }
}

label_value! {
    /// The scheduling queue a pending pod sits in (kube-scheduler's `queue` values).
    QueueName {
        /// Ready to be scheduled.
        Active => "active",
        /// Waiting out the backoff after a failed attempt.
        Backoff => "backoff",
        /// Waiting for a cluster event that could make it schedulable.
        Unschedulable => "unschedulable",
        /// Held by `spec.schedulingGates`.
        Gated => "gated",
    }
}

label_value! {
    /// Kind of the resource cached by the scheduler (kube-scheduler's `type` values).
    CacheType {
        /// Nodes.
        Nodes => "nodes",
        /// Pods, assumed ones included.
        Pods => "pods",
        /// Pods assumed on a node whose binding has not been confirmed yet.
        AssumedPods => "assumed_pods",
    }
}

label_value! {
    /// What kind of pod a decision was about, for packing.
    PodKind {
        /// A JupyterHub user server.
        User => "user",
        /// A user placeholder that only holds headroom.
        Placeholder => "placeholder",
        /// Any other pod that names this scheduler.
        Other => "other",
    }
}

label_value! {
    /// A decision's outcome as the packing sees it.
    DecisionOutcome {
        /// Bound to a node that already ran at least one real user pod: the packing goal, it
        /// keeps nodes with no real users free to be scaled down.
        BoundWithUsers => "bound_with_users",
        /// Bound to a node that ran neither real users nor placeholders: a fresh node starts
        /// being used.
        BoundEmptyNode => "bound_empty_node",
        /// Bound to a node without real users that held placeholders (or other pods of the
        /// user pool): the pod takes headroom rather than joining other users.
        BoundOther => "bound_other",
        /// No node fits; the pod got PodScheduled=False/Unschedulable.
        Unschedulable => "unschedulable",
        /// The pod can only run after placeholders are preempted; victims were nominated.
        PreemptedPlaceholders => "preempted_placeholders",
        /// An internal or API error prevented the decision or the binding.
        Error => "error",
    }
}

impl DecisionOutcome {
    /// The outcome of binding to a node that ran `real_users` real user pods and
    /// `placeholders` placeholder pods just before this pod was assumed there.
    pub fn for_binding(real_users: u32, placeholders: u32) -> Self {
        if real_users > 0 {
            DecisionOutcome::BoundWithUsers
        } else if placeholders > 0 {
            DecisionOutcome::BoundOther
        } else {
            DecisionOutcome::BoundEmptyNode
        }
    }
}

impl From<score::PodRole> for PodKind {
    fn from(role: score::PodRole) -> Self {
        match role {
            score::PodRole::RealUser => PodKind::User,
            score::PodRole::Placeholder => PodKind::Placeholder,
            score::PodRole::Other => PodKind::Other,
        }
    }
}

/// Labels `{result, profile}`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct AttemptLabels {
    /// The attempt's result.
    pub result: AttemptResult,
    /// The profile (scheduler name) that handled the pod.
    pub profile: String,
}

/// Labels `{queue}`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct QueueLabels {
    /// The queue.
    pub queue: QueueName,
}

/// Labels `{queue, event}` of `scheduler_queue_incoming_pods_total`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct IncomingLabels {
    /// The queue the pod entered.
    pub queue: QueueName,
    /// The event that moved it there (kube-scheduler uses names such as `PodAdd`,
    /// `NodeAdd`, `ScheduleAttemptFailure`, `BackoffComplete`, `UnschedulableTimeout`).
    pub event: String,
}

/// Labels `{attempts}` of `scheduler_pod_scheduling_sli_duration_seconds`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct SliLabels {
    /// `"1"` to `"15"`, then `"15+"` (see [`attempts_label`]).
    pub attempts: String,
}

/// Labels `{type}` of `scheduler_scheduler_cache_size`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct CacheLabels {
    /// The cached kind (`type` on the wire).
    pub r#type: CacheType,
}

/// Labels `{profile, pod_kind, outcome}` of `user_scheduler_decisions_total`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct DecisionLabels {
    /// The profile (scheduler name).
    pub profile: String,
    /// The kind of pod.
    pub pod_kind: PodKind,
    /// The outcome.
    pub outcome: DecisionOutcome,
}

/// Labels `{resource}` of `user_scheduler_watch_restarts_total`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct ResourceLabels {
    /// The watched resource (`nodes`, `pods`, `poddisruptionbudgets`).
    pub resource: String,
}

/// Labels `{pass}` of `user_scheduler_nodes_evaluated_total`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct PassLabels {
    /// `full` (every node filtered and scored) or `cached` (the decision
    /// cache redid only the nodes that changed since the last pod of the
    /// same shape).
    pub pass: &'static str,
}

/// Labels `{version}` of `user_scheduler_build_info`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct BuildInfoLabels {
    /// The crate version.
    pub version: String,
}

/// The `attempts` label value kube-scheduler uses: the count up to 15, then `"15+"`.
pub fn attempts_label(attempts: u32) -> String {
    if attempts > 15 {
        "15+".to_owned()
    } else {
        attempts.to_string()
    }
}

/// The resources the daemon watches, as `user_scheduler_watch_restarts_total` names them.
pub const WATCHED_RESOURCES: &[&str] = &super::watch::WATCHES;

/// Labels `{result}` of `user_scheduler_volume_binding_duration_seconds`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct VolumeBindingLabels {
    /// `bound` (the pod's claims were bound, the pod goes on to bind) or
    /// `failed` (provisioning failed, a claimRef was reset, or the wait timed out).
    pub result: &'static str,
}

/// Volume-binding buckets: 100 ms × 2^k, 14 buckets (up to ~27 min), for
/// provisioning that takes seconds to minutes.
fn volume_binding_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.1, 2.0, 14))
}

/// A histogram family's constructor; a plain `fn` keeps `Family`'s type nameable.
type HistogramConstructor = fn() -> Histogram;

/// kube-scheduler's attempt-duration buckets: 1 ms × 2^k, 15 buckets (up to ~16 s).
fn attempt_duration_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.001, 2.0, 15))
}

/// kube-scheduler's SLI buckets: 10 ms × 2^k, 20 buckets (up to ~87 min).
fn sli_duration_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.01, 2.0, 20))
}

/// Every metric of the daemon, registered in one registry.
///
/// The metric handles are cheap shared handles: clone a field to keep it in a task.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    /// `scheduler_schedule_attempts_total{result, profile}`: one per scheduling attempt.
    pub schedule_attempts: Family<AttemptLabels, Counter>,
    /// `scheduler_scheduling_attempt_duration_seconds{result, profile}`: decision plus
    /// binding of one attempt.
    pub scheduling_attempt_duration: Family<AttemptLabels, Histogram, HistogramConstructor>,
    /// `scheduler_scheduling_algorithm_duration_seconds`: the decision alone.
    pub scheduling_algorithm_duration: Histogram,
    /// `scheduler_pending_pods{queue}`: pods in each queue.
    pub pending_pods: Family<QueueLabels, Gauge>,
    /// `scheduler_queue_incoming_pods_total{queue, event}`: pods added to a queue, by event.
    pub queue_incoming_pods: Family<IncomingLabels, Counter>,
    /// `scheduler_pod_scheduling_sli_duration_seconds{attempts}`: first enqueue to bound.
    pub pod_scheduling_sli_duration: Family<SliLabels, Histogram, HistogramConstructor>,
    /// `scheduler_pod_scheduling_attempts`: attempts a pod needed to be scheduled.
    pub pod_scheduling_attempts: Histogram,
    /// `scheduler_preemption_attempts_total`: preemption attempts.
    pub preemption_attempts: Counter,
    /// `scheduler_preemption_victims`: victims chosen per preemption.
    pub preemption_victims: Histogram,
    /// `scheduler_scheduler_cache_size{type}`: objects in the scheduler's cache.
    pub cache_size: Family<CacheLabels, Gauge>,
    /// `user_scheduler_decisions_total{profile, pod_kind, outcome}`: decisions by outcome.
    pub decisions: Family<DecisionLabels, Counter>,
    /// `user_scheduler_bind_duration_seconds`: one `pods/binding` request.
    pub bind_duration: Histogram,
    /// `user_scheduler_volume_binding_duration_seconds{result}`: PreBind, from
    /// the claims' API writes to every claim bound (or the failure).
    pub volume_binding_duration: Family<VolumeBindingLabels, Histogram, HistogramConstructor>,
    /// `user_scheduler_nodes_with_real_users`: nodes running at least one real user pod.
    pub nodes_with_real_users: Gauge,
    /// `user_scheduler_nodes_with_only_placeholders`: nodes whose user-pool pods are all
    /// placeholders.
    pub nodes_with_only_placeholders: Gauge,
    /// `user_scheduler_leader`: 1 while this replica holds the lease and schedules.
    pub leader: Gauge,
    /// `user_scheduler_watch_restarts_total{resource}`: watch errors that restarted a watch.
    pub watch_restarts: Family<ResourceLabels, Counter>,
    /// `user_scheduler_nodes_evaluated_total{pass}`: nodes filtered and
    /// scored by decisions, by the kind of pass.
    pub nodes_evaluated: Family<PassLabels, Counter>,
    /// `user_scheduler_build_info{version}`: always 1.
    pub build_info: Family<BuildInfoLabels, Gauge>,
}

impl Metrics {
    /// Creates and registers every metric; `user_scheduler_build_info` carries this crate's
    /// version.
    ///
    /// Series whose label values are known up front (each result and outcome of each of
    /// `profiles`, each queue, each cache type, each watched resource) start at zero, so that
    /// they are exposed before their first event and `rate()` sees the first increment.
    pub fn new<P: AsRef<str>>(profiles: &[P]) -> Self {
        let mut registry = Registry::default();

        let schedule_attempts = Family::<AttemptLabels, Counter>::default();
        registry.register(
            "scheduler_schedule_attempts",
            "Number of attempts to schedule pods, by the result. 'unschedulable' means a pod \
             could not be scheduled, while 'error' means an internal scheduler problem",
            schedule_attempts.clone(),
        );
        let scheduling_attempt_duration =
            Family::new_with_constructor(attempt_duration_histogram as HistogramConstructor);
        registry.register(
            "scheduler_scheduling_attempt_duration_seconds",
            "Scheduling attempt latency in seconds (scheduling algorithm + binding)",
            scheduling_attempt_duration.clone(),
        );
        let scheduling_algorithm_duration = attempt_duration_histogram();
        registry.register(
            "scheduler_scheduling_algorithm_duration_seconds",
            "Scheduling algorithm latency in seconds",
            scheduling_algorithm_duration.clone(),
        );
        let pending_pods = Family::<QueueLabels, Gauge>::default();
        registry.register(
            "scheduler_pending_pods",
            "Number of pending pods, by the queue type. 'active' means number of pods in \
             activeQ; 'backoff' means number of pods in backoffQ; 'unschedulable' means number \
             of pods in unschedulablePods; 'gated' means number of pods gated by scheduling \
             gates",
            pending_pods.clone(),
        );
        let queue_incoming_pods = Family::<IncomingLabels, Counter>::default();
        registry.register(
            "scheduler_queue_incoming_pods",
            "Number of pods added to scheduling queues by event and queue type",
            queue_incoming_pods.clone(),
        );
        let pod_scheduling_sli_duration =
            Family::new_with_constructor(sli_duration_histogram as HistogramConstructor);
        registry.register(
            "scheduler_pod_scheduling_sli_duration_seconds",
            "E2e latency for a pod being scheduled, from the time the pod enters the \
             scheduling queue and might involve multiple scheduling attempts",
            pod_scheduling_sli_duration.clone(),
        );
        let pod_scheduling_attempts = Histogram::new(exponential_buckets(1.0, 2.0, 5));
        registry.register(
            "scheduler_pod_scheduling_attempts",
            "Number of attempts to successfully schedule a pod",
            pod_scheduling_attempts.clone(),
        );
        let preemption_attempts = Counter::default();
        registry.register(
            "scheduler_preemption_attempts",
            "Total preemption attempts in the cluster till now",
            preemption_attempts.clone(),
        );
        let preemption_victims = Histogram::new(exponential_buckets(1.0, 2.0, 7));
        registry.register(
            "scheduler_preemption_victims",
            "Number of selected preemption victims",
            preemption_victims.clone(),
        );
        let cache_size = Family::<CacheLabels, Gauge>::default();
        registry.register(
            "scheduler_scheduler_cache_size",
            "Number of nodes, pods, and assumed (bound) pods in the scheduler cache",
            cache_size.clone(),
        );
        let decisions = Family::<DecisionLabels, Counter>::default();
        registry.register(
            "user_scheduler_decisions",
            "Scheduling decisions by profile, kind of pod and outcome as the packing sees it: \
             bound_with_users (next to real users), bound_empty_node (onto a node with neither \
             real users nor placeholders), bound_other (onto a node without real users that \
             held placeholders), unschedulable, preempted_placeholders, error",
            decisions.clone(),
        );
        let bind_duration = attempt_duration_histogram();
        registry.register(
            "user_scheduler_bind_duration_seconds",
            "Latency in seconds of one pods/binding request",
            bind_duration.clone(),
        );
        let volume_binding_duration =
            Family::new_with_constructor(volume_binding_histogram as HistogramConstructor);
        registry.register(
            "user_scheduler_volume_binding_duration_seconds",
            "Seconds a pod waited for its WaitForFirstConsumer claims to be bound \
             (PreBind), by result: bound or failed",
            volume_binding_duration.clone(),
        );
        for result in ["bound", "failed"] {
            volume_binding_duration.get_or_create_owned(&VolumeBindingLabels { result });
        }
        let nodes_with_real_users = Gauge::default();
        registry.register(
            "user_scheduler_nodes_with_real_users",
            "Number of nodes running at least one real user pod",
            nodes_with_real_users.clone(),
        );
        let nodes_with_only_placeholders = Gauge::default();
        registry.register(
            "user_scheduler_nodes_with_only_placeholders",
            "Number of nodes running placeholders but no real user pod",
            nodes_with_only_placeholders.clone(),
        );
        let leader = Gauge::default();
        registry.register(
            "user_scheduler_leader",
            "1 while this replica holds the leader lease and schedules, else 0",
            leader.clone(),
        );
        let watch_restarts = Family::<ResourceLabels, Counter>::default();
        registry.register(
            "user_scheduler_watch_restarts",
            "Number of watch errors after which a watch was restarted, by resource",
            watch_restarts.clone(),
        );
        let nodes_evaluated = Family::<PassLabels, Counter>::default();
        registry.register(
            "user_scheduler_nodes_evaluated",
            "Number of nodes filtered and scored by decisions: by full passes, or again by the decision cache for pods shaped like a recent one",
            nodes_evaluated.clone(),
        );
        for pass in ["full", "cached"] {
            nodes_evaluated.get_or_create_owned(&PassLabels { pass });
        }
        let build_info = Family::<BuildInfoLabels, Gauge>::default();
        registry.register(
            "user_scheduler_build_info",
            "Build information; the value is always 1",
            build_info.clone(),
        );
        build_info
            .get_or_create(&BuildInfoLabels {
                version: env!("CARGO_PKG_VERSION").to_owned(),
            })
            .set(1);

        for profile in profiles {
            let profile = profile.as_ref();
            for &result in AttemptResult::ALL {
                let labels = AttemptLabels {
                    result,
                    profile: profile.to_owned(),
                };
                schedule_attempts.get_or_create_owned(&labels);
                scheduling_attempt_duration.get_or_create_owned(&labels);
            }
            for &pod_kind in PodKind::ALL {
                for &outcome in DecisionOutcome::ALL {
                    decisions.get_or_create_owned(&DecisionLabels {
                        profile: profile.to_owned(),
                        pod_kind,
                        outcome,
                    });
                }
            }
        }
        for &queue in QueueName::ALL {
            pending_pods.get_or_create_owned(&QueueLabels { queue });
        }
        for &kind in CacheType::ALL {
            cache_size.get_or_create_owned(&CacheLabels { r#type: kind });
        }
        for resource in WATCHED_RESOURCES {
            watch_restarts.get_or_create_owned(&ResourceLabels {
                resource: (*resource).to_owned(),
            });
        }

        Self {
            registry,
            schedule_attempts,
            scheduling_attempt_duration,
            scheduling_algorithm_duration,
            pending_pods,
            queue_incoming_pods,
            pod_scheduling_sli_duration,
            pod_scheduling_attempts,
            preemption_attempts,
            preemption_victims,
            cache_size,
            decisions,
            bind_duration,
            volume_binding_duration,
            nodes_with_real_users,
            nodes_with_only_placeholders,
            leader,
            watch_restarts,
            nodes_evaluated,
            build_info,
        }
    }

    /// The registry, for callers that encode it themselves.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Encodes every metric as OpenMetrics text (serve it with [`CONTENT_TYPE`]).
    pub fn encode(&self) -> Result<String, MetricsError> {
        let mut out = String::with_capacity(8 * 1024);
        prometheus_client::encoding::text::encode(&mut out, &self.registry)?;
        Ok(out)
    }

    /// Records one scheduling attempt: counts it and observes its duration.
    pub fn observe_attempt(&self, result: AttemptResult, profile: &str, duration: Duration) {
        let labels = AttemptLabels {
            result,
            profile: profile.to_owned(),
        };
        self.schedule_attempts.get_or_create(&labels).inc();
        self.scheduling_attempt_duration
            .get_or_create(&labels)
            .observe(duration.as_secs_f64());
    }

    /// Records a pod bound after `attempts` attempts, `since_first_enqueue` after it first
    /// entered the queue.
    pub fn observe_pod_scheduled(&self, attempts: u32, since_first_enqueue: Duration) {
        self.pod_scheduling_sli_duration
            .get_or_create(&SliLabels {
                attempts: attempts_label(attempts),
            })
            .observe(since_first_enqueue.as_secs_f64());
        self.pod_scheduling_attempts.observe(f64::from(attempts));
    }

    /// Counts one decision.
    pub fn count_decision(&self, profile: &str, pod_kind: PodKind, outcome: DecisionOutcome) {
        self.decisions
            .get_or_create(&DecisionLabels {
                profile: profile.to_owned(),
                pod_kind,
                outcome,
            })
            .inc();
    }

    /// Sets the number of pods in `queue`.
    pub fn set_pending(&self, queue: QueueName, pods: usize) {
        self.pending_pods
            .get_or_create(&QueueLabels { queue })
            .set(saturating_i64(pods));
    }

    /// Sets the number of cached objects of a kind.
    pub fn set_cache_size(&self, kind: CacheType, count: usize) {
        self.cache_size
            .get_or_create(&CacheLabels { r#type: kind })
            .set(saturating_i64(count));
    }

    /// Counts `count` pods entering `queue` because of `event`.
    pub fn count_incoming(&self, queue: QueueName, event: &str, count: u64) {
        self.queue_incoming_pods
            .get_or_create(&IncomingLabels {
                queue,
                event: event.to_owned(),
            })
            .inc_by(count);
    }

    /// Counts the nodes one decision filtered and scored: `cached` when the
    /// decision cache decided it.
    pub fn count_nodes_evaluated(&self, nodes: usize, cached: bool) {
        let pass = if cached { "cached" } else { "full" };
        self.nodes_evaluated
            .get_or_create(&PassLabels { pass })
            .inc_by(u64::try_from(nodes).unwrap_or(u64::MAX));
    }

    /// Counts a restarted watch of `resource`.
    pub fn count_watch_restart(&self, resource: &str) {
        self.watch_restarts
            .get_or_create(&ResourceLabels {
                resource: resource.to_owned(),
            })
            .inc();
    }

    /// Sets `user_scheduler_leader`.
    pub fn set_leader(&self, leader: bool) {
        self.leader.set(i64::from(leader));
    }
}

/// Gauges are `i64`; counts never come near the limit, but saturate rather than wrap.
fn saturating_i64(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The `# TYPE` line of every metric, as exposed.
    const TYPES: &[(&str, &str)] = &[
        ("scheduler_schedule_attempts", "counter"),
        ("scheduler_scheduling_attempt_duration_seconds", "histogram"),
        (
            "scheduler_scheduling_algorithm_duration_seconds",
            "histogram",
        ),
        ("scheduler_pending_pods", "gauge"),
        ("scheduler_queue_incoming_pods", "counter"),
        ("scheduler_pod_scheduling_sli_duration_seconds", "histogram"),
        ("scheduler_pod_scheduling_attempts", "histogram"),
        ("scheduler_preemption_attempts", "counter"),
        ("scheduler_preemption_victims", "histogram"),
        ("scheduler_scheduler_cache_size", "gauge"),
        ("user_scheduler_decisions", "counter"),
        ("user_scheduler_bind_duration_seconds", "histogram"),
        (
            "user_scheduler_volume_binding_duration_seconds",
            "histogram",
        ),
        ("user_scheduler_nodes_with_real_users", "gauge"),
        ("user_scheduler_nodes_with_only_placeholders", "gauge"),
        ("user_scheduler_leader", "gauge"),
        ("user_scheduler_watch_restarts", "counter"),
        ("user_scheduler_nodes_evaluated", "counter"),
        ("user_scheduler_build_info", "gauge"),
    ];

    #[test]
    fn every_metric_is_exposed_with_its_type_and_help() {
        let m = Metrics::new(&["jhub-user-scheduler"]);
        // Families whose label values are open (events, attempt counts) are exposed from
        // their first sample on; every other series exists from the start.
        let before = m.encode().unwrap();
        assert!(!before.contains("scheduler_queue_incoming_pods"));
        assert!(before.contains(
            "scheduler_schedule_attempts_total{result=\"error\",profile=\"jhub-user-scheduler\"} 0\n"
        ));
        assert!(before.contains("scheduler_pending_pods{queue=\"backoff\"} 0\n"));
        assert!(before.contains(
            "user_scheduler_watch_restarts_total{resource=\"poddisruptionbudgets\"} 0\n"
        ));
        assert_eq!(
            before.matches("user_scheduler_decisions_total{").count(),
            PodKind::ALL.len() * DecisionOutcome::ALL.len()
        );
        m.count_incoming(QueueName::Backoff, "ScheduleAttemptFailure", 1);
        m.observe_pod_scheduled(1, Duration::from_millis(50));
        let text = m.encode().unwrap();
        for (name, kind) in TYPES {
            assert!(
                text.lines().any(|l| l == format!("# TYPE {name} {kind}")),
                "missing `# TYPE {name} {kind}` in\n{text}"
            );
            assert!(
                text.lines()
                    .any(|l| l.starts_with(&format!("# HELP {name} ")) && l.len() > 20),
                "missing help of {name}"
            );
        }
        assert!(text.ends_with("# EOF\n"));
        assert!(text.contains(&format!(
            "user_scheduler_build_info{{version=\"{}\"}} 1\n",
            env!("CARGO_PKG_VERSION")
        )));
    }

    #[test]
    fn counters_are_exposed_with_the_total_suffix() {
        let m = Metrics::new(&["jhub-user-scheduler"]);
        m.preemption_attempts.inc();
        m.observe_attempt(
            AttemptResult::Scheduled,
            "jhub-user-scheduler",
            Duration::ZERO,
        );
        m.count_incoming(QueueName::Active, "PodAdd", 1);
        m.count_decision("p", PodKind::User, DecisionOutcome::BoundWithUsers);
        m.count_watch_restart("pods");
        let text = m.encode().unwrap();
        for name in [
            "scheduler_preemption_attempts_total 1\n",
            "scheduler_schedule_attempts_total{result=\"scheduled\",profile=\"jhub-user-scheduler\"} 1\n",
            "scheduler_queue_incoming_pods_total{queue=\"active\",event=\"PodAdd\"} 1\n",
            "user_scheduler_decisions_total{profile=\"p\",pod_kind=\"user\",outcome=\"bound_with_users\"} 1\n",
            "user_scheduler_watch_restarts_total{resource=\"pods\"} 1\n",
        ] {
            assert!(text.contains(name), "missing {name:?} in\n{text}");
        }
    }

    #[test]
    fn labelled_metrics_increment_per_label_set() {
        let m = Metrics::new(&["jhub-user-scheduler"]);
        for _ in 0..3 {
            m.observe_attempt(AttemptResult::Unschedulable, "a", Duration::from_millis(3));
        }
        m.observe_attempt(AttemptResult::Error, "a", Duration::from_millis(3));
        let text = m.encode().unwrap();
        assert!(text.contains(
            "scheduler_schedule_attempts_total{result=\"unschedulable\",profile=\"a\"} 3\n"
        ));
        assert!(
            text.contains("scheduler_schedule_attempts_total{result=\"error\",profile=\"a\"} 1\n")
        );
        // 3 ms falls in the 4 ms bucket, not the 2 ms one.
        assert!(text.contains(
            "scheduler_scheduling_attempt_duration_seconds_bucket{le=\"0.002\",result=\"unschedulable\",profile=\"a\"} 0\n"
        ), "{text}");
        assert!(text.contains(
            "scheduler_scheduling_attempt_duration_seconds_bucket{le=\"0.004\",result=\"unschedulable\",profile=\"a\"} 3\n"
        ));
        assert!(text.contains(
            "scheduler_scheduling_attempt_duration_seconds_count{result=\"unschedulable\",profile=\"a\"} 3\n"
        ));
    }

    #[test]
    fn gauges_and_histograms_follow_kube_scheduler_buckets() {
        let m = Metrics::new(&["jhub-user-scheduler"]);
        m.set_pending(QueueName::Gated, 4);
        m.set_cache_size(CacheType::AssumedPods, 2);
        m.set_leader(true);
        m.observe_pod_scheduled(20, Duration::from_secs(1));
        m.preemption_victims.observe(3.0);
        let text = m.encode().unwrap();
        for line in [
            "scheduler_pending_pods{queue=\"gated\"} 4\n",
            "scheduler_scheduler_cache_size{type=\"assumed_pods\"} 2\n",
            "user_scheduler_leader 1\n",
            "scheduler_pod_scheduling_sli_duration_seconds_count{attempts=\"15+\"} 1\n",
            "scheduler_pod_scheduling_attempts_bucket{le=\"16.0\"} 0\n",
            "scheduler_pod_scheduling_attempts_bucket{le=\"+Inf\"} 1\n",
            "scheduler_preemption_victims_bucket{le=\"64.0\"} 1\n",
            "scheduler_preemption_victims_bucket{le=\"2.0\"} 0\n",
        ] {
            assert!(text.contains(line), "missing {line:?} in\n{text}");
        }
        // 15 attempt buckets from 1 ms and 20 SLI buckets from 10 ms, plus +Inf each.
        m.scheduling_algorithm_duration.observe(0.0);
        let text = m.encode().unwrap();
        let buckets = |name: &str| {
            text.lines()
                .filter(|l| l.starts_with(&format!("{name}_bucket")))
                .count()
        };
        assert_eq!(
            buckets("scheduler_scheduling_algorithm_duration_seconds"),
            16
        );
        assert_eq!(buckets("scheduler_pod_scheduling_sli_duration_seconds"), 21);
        assert!(
            text.contains(
                "scheduler_scheduling_algorithm_duration_seconds_bucket{le=\"0.001\"} 1\n"
            )
        );
        assert!(
            text.contains(
                "scheduler_scheduling_algorithm_duration_seconds_bucket{le=\"16.384\"} 1\n"
            )
        );
    }

    #[test]
    fn outcome_of_a_binding_depends_on_the_node_it_joined() {
        assert_eq!(
            DecisionOutcome::for_binding(2, 5),
            DecisionOutcome::BoundWithUsers
        );
        assert_eq!(
            DecisionOutcome::for_binding(0, 1),
            DecisionOutcome::BoundOther
        );
        assert_eq!(
            DecisionOutcome::for_binding(0, 0),
            DecisionOutcome::BoundEmptyNode
        );
        assert_eq!(attempts_label(1), "1");
        assert_eq!(attempts_label(15), "15");
        assert_eq!(attempts_label(16), "15+");
        let names: Vec<_> = DecisionOutcome::ALL.iter().map(|o| o.as_str()).collect();
        assert_eq!(
            names,
            [
                "bound_with_users",
                "bound_empty_node",
                "bound_other",
                "unschedulable",
                "preempted_placeholders",
                "error"
            ]
        );
    }
}
