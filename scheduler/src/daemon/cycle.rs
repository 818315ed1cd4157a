//! The scheduling cycle and the binding cycle.
//!
//! One task pops pods in queue order and decides on the cache under its lock;
//! a chosen node is *assumed* at once (the next decision already sees the pod
//! there) and the binding runs asynchronously, at most `bind_concurrency` at a
//! time. A failed binding forgets the assumption and backs the pod off. A pod
//! that fits nowhere is reported: PodScheduled=False with reason Unschedulable
//! and kube's message (what the cluster autoscaler scales up on), and a
//! Warning FailedScheduling event with the same text.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use k8s_openapi::api::core::v1::{Binding, ObjectReference, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams, Preconditions};
use score::decide::{Inputs, NominationChange, Verdict, decide};
use score::rng::SplitMix64;
use score::schedule::Scratch;
use score::volumes::ClaimBinding;
use tokio::sync::{Semaphore, mpsc};
use tokio::time::Instant;
use tracing::{debug, info, warn};

use super::events::{EventRecorder, EventSpec, EventType, pod_reference};
use super::metrics::{AttemptResult, DecisionOutcome, Metrics, PodKind, VolumeBindingLabels};
use super::prebind;
use super::queue::{Hints, Popped, SharedQueue};
use super::state::{Nomination, NominationUpdate, Payload, State, UnschedulableReport};

/// What the cycle shares with its tasks.
pub struct Context {
    /// The cache.
    pub state: Mutex<State>,
    /// The queue.
    pub queue: SharedQueue<Payload>,
    /// API client.
    pub client: kube::Client,
    /// Events.
    pub events: EventRecorder,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// Bounds concurrent bindings.
    pub binds: Arc<Semaphore>,
    /// The number of binding permits.
    pub bind_concurrency: usize,
    /// `Scheduled` events to write, for [`scheduled_events`]: a binding
    /// hands its event over and frees its slot at once instead of holding
    /// it for a second round trip.
    pub scheduled: mpsc::Sender<ScheduledEvent>,
    /// Cancelled when scheduling stops (shutdown or a lost lease): volume
    /// PreBinds still waiting give up, and the next leader decides again.
    pub stop: tokio_util::sync::CancellationToken,
}

/// How many `Scheduled` events may wait for [`scheduled_events`]; beyond
/// that, bindings wait for the events to catch up.
pub const SCHEDULED_EVENTS_BACKLOG: usize = 4096;

/// A pod bound to a node, to be told with a `Scheduled` event.
#[derive(Debug)]
pub struct ScheduledEvent {
    uid: Box<str>,
    key: Box<str>,
    node: String,
    profile: String,
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context").finish_non_exhaustive()
    }
}

impl Context {
    /// Locks the cache (a panic elsewhere does not poison it for good: the cache
    /// stays consistent between statements).
    pub fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

enum Outcome {
    Assumed {
        node: String,
        /// The node's weighted total; `None` when it is the pod's nominated node.
        score: Option<i64>,
        real_users: u32,
        placeholders: u32,
        /// Unbound claims to bind first (PreBind), and for how long to wait.
        volumes: Vec<ClaimBinding>,
        bind_timeout: Duration,
    },
    /// The pod cannot be placed for a reason that is not about fit.
    Error(String),
    Unschedulable(String, NominationUpdate),
    Preempt(score::PreemptionPlan, String),
}

/// Runs scheduling cycles until the queue closes.
pub async fn scheduling_loop(ctx: Arc<Context>, seed: u64) {
    let mut scratch = Scratch::with_decision_cache();
    let mut rng = SplitMix64::new(seed);
    while let Some(popped) = ctx.queue.pop().await {
        schedule_one(&ctx, popped, &mut scratch, &mut rng).await;
    }
    debug!("scheduling loop stopped");
}

async fn schedule_one(
    ctx: &Arc<Context>,
    popped: Popped<Payload>,
    scratch: &mut Scratch,
    rng: &mut SplitMix64,
) {
    let started = Instant::now();
    let pending = popped.payload.clone();
    let (outcome, profile_name, role) = {
        let mut st = ctx.lock();
        let profile = st.profiles[pending.profile].clone();
        let role = st.cluster.roles().classify(&pending.spec.labels);
        let verdict = decide_on_cache(&st, &pending, scratch, Some(rng));
        ctx.metrics
            .scheduling_algorithm_duration
            .observe(started.elapsed().as_secs_f64());
        match scratch.served_from_cache() {
            Some(redone) => ctx.metrics.count_nodes_evaluated(redone, true),
            None => ctx
                .metrics
                .count_nodes_evaluated(st.cluster.node_count(), false),
        }
        let outcome = carry_out(
            &mut st,
            &ctx.metrics,
            &profile,
            &pending,
            &popped.uid,
            verdict,
        );
        (outcome, profile.scheduler_name, role)
    };
    match outcome {
        Outcome::Assumed {
            node,
            score,
            real_users,
            placeholders,
            volumes,
            bind_timeout,
        } => {
            debug!(pod = %popped.key, %node, "assumed");
            let job = BindJob {
                popped,
                node,
                score,
                profile: profile_name,
                role,
                real_users,
                placeholders,
                started,
            };
            let ctx = ctx.clone();
            if volumes.is_empty() {
                // Waiting for a slot here bounds the bindings in flight.
                let Some(permit) = binding_slot(&ctx, &job.popped).await else {
                    return;
                };
                tokio::spawn(async move {
                    bind(&ctx, &job).await;
                    drop(permit);
                });
                return;
            }
            // PreBind waits in the pod's own task: the loop goes on, and no
            // binding slot is held while claims are provisioned.
            tokio::spawn(async move {
                let uid = &job.popped.uid;
                let waiting = Instant::now();
                let waited = prebind::run(&ctx, uid, &job.node, &volumes, bind_timeout).await;
                let result = match &waited {
                    Ok(()) => Some("bound"),
                    Err(prebind::Ended::Failed(_)) => Some("failed"),
                    Err(_) => None,
                };
                if let Some(result) = result {
                    ctx.metrics
                        .volume_binding_duration
                        .get_or_create(&VolumeBindingLabels { result })
                        .observe(waiting.elapsed().as_secs_f64());
                }
                if let Err(ended) = waited {
                    prebind_failed(&ctx, &job, ended);
                    return;
                }
                ctx.lock().release_volumes(uid);
                info!(pod = %job.popped.key, node = %job.node, claims = volumes.len(), "volumes bound");
                let Some(permit) = binding_slot(&ctx, &job.popped).await else {
                    return;
                };
                bind(&ctx, &job).await;
                drop(permit);
            });
        }
        Outcome::Preempt(plan, message) => {
            if plan.victims.is_empty() {
                // Pods already terminating there make the room.
                info!(pod = %popped.key, node = %plan.node_name, "nominated: waiting for terminating pods");
            } else {
                info!(
                    pod = %popped.key,
                    node = %plan.node_name,
                    victims = plan.victims.len(),
                    "preempting lower-priority pods"
                );
            }
            requeue_unschedulable(
                ctx,
                &popped,
                &profile_name,
                role,
                started,
                scratch,
                if plan.victims.is_empty() {
                    DecisionOutcome::Unschedulable
                } else {
                    DecisionOutcome::PreemptedPlaceholders
                },
            );
            if !plan.victims.is_empty() {
                #[allow(clippy::cast_precision_loss)]
                ctx.metrics
                    .preemption_victims
                    .observe(plan.victims.len() as f64);
            }
            let ctx = ctx.clone();
            tokio::spawn(async move {
                execute_preemption(&ctx, &popped, &plan, &profile_name, message).await;
            });
        }
        Outcome::Error(message) => {
            warn!(pod = %popped.key, %message, "scheduling error");
            fail_attempt(ctx, &popped, &profile_name, role, started, message);
        }
        Outcome::Unschedulable(message, nomination) => {
            // kube-scheduler logs this at --v=2 ("Unable to schedule pod; no
            // fit; waiting"): one line per decision, bound or not.
            info!(pod = %popped.key, reason = %message, outcome = %DecisionOutcome::Unschedulable.as_str(), "unschedulable");
            requeue_unschedulable(
                ctx,
                &popped,
                &profile_name,
                role,
                started,
                scratch,
                DecisionOutcome::Unschedulable,
            );
            let (namespace, name) = split_key(&popped.key);
            ctx.lock().report(UnschedulableReport {
                uid: popped.uid.clone(),
                namespace,
                name,
                scheduler: profile_name,
                reason: "Unschedulable",
                message,
                nomination,
            });
        }
    }
}

/// A pod assumed on a node, to be bound.
struct BindJob {
    popped: Popped<Payload>,
    node: String,
    /// The node's weighted total; `None` when the pod went to its nominated node.
    score: Option<i64>,
    /// The profile's scheduler name.
    profile: String,
    role: score::PodRole,
    /// Who was on the node when it was chosen (the decision's outcome label).
    real_users: u32,
    placeholders: u32,
    /// When the scheduling attempt started.
    started: Instant,
}

/// Waits for a binding slot; `None` when scheduling stopped meanwhile
/// (shutdown or a lost lease): the assumption is forgotten and no binding
/// starts, the next leader decides again.
async fn binding_slot(
    ctx: &Context,
    popped: &Popped<Payload>,
) -> Option<tokio::sync::OwnedSemaphorePermit> {
    let permit = ctx.binds.clone().acquire_owned().await.ok()?;
    if ctx.queue.is_closed() {
        ctx.lock().forget_assumed(&popped.uid);
        debug!(pod = %popped.key, "not bound: stopping");
        return None;
    }
    Some(permit)
}

/// A PreBind that ended without the claims bound: the pod lets go of its
/// node and its claims; unless it is gone or we are stopping, it backs off
/// and is told why.
fn prebind_failed(ctx: &Context, job: &BindJob, ended: prebind::Ended) {
    let popped = &job.popped;
    ctx.lock().forget_assumed(&popped.uid);
    match ended {
        prebind::Ended::Gone => {
            ctx.queue.done(&popped.uid);
            debug!(pod = %popped.key, "deleted or bound elsewhere during PreBind");
        }
        prebind::Ended::Stopped => debug!(pod = %popped.key, "PreBind abandoned: stopping"),
        prebind::Ended::Failed(why) => {
            // kube's wording of a PreBind failure.
            let message =
                format!("running PreBind plugin \"VolumeBinding\": binding volumes: {why}");
            warn!(pod = %popped.key, %message, "volume binding failed");
            fail_attempt(ctx, popped, &job.profile, job.role, job.started, message);
        }
    }
}

/// An attempt that leaves the pod unplaced (no node fits, or victims must go
/// first): the pod waits for a cluster event that could clear one of the
/// filters' reasons, and the attempt counts as unschedulable with `outcome`
/// as its decision.
fn requeue_unschedulable(
    ctx: &Context,
    popped: &Popped<Payload>,
    profile: &str,
    role: score::PodRole,
    started: Instant,
    scratch: &Scratch,
    outcome: DecisionOutcome,
) {
    ctx.queue.unschedulable_for(
        &popped.uid,
        Hints::for_reasons(scratch.histogram().iter().map(|(r, _)| r)),
    );
    ctx.metrics
        .observe_attempt(AttemptResult::Unschedulable, profile, started.elapsed());
    ctx.metrics
        .count_decision(profile, PodKind::from(role), outcome);
}

/// An attempt that failed for a reason other than fit: the pod backs off,
/// gets PodScheduled=False with reason SchedulerError and a FailedScheduling
/// event (kube's handling of errors in the scheduling and binding cycles).
fn fail_attempt(
    ctx: &Context,
    popped: &Popped<Payload>,
    profile: &str,
    role: score::PodRole,
    started: Instant,
    message: String,
) {
    ctx.queue.backoff(&popped.uid);
    ctx.metrics
        .observe_attempt(AttemptResult::Error, profile, started.elapsed());
    ctx.metrics
        .count_decision(profile, PodKind::from(role), DecisionOutcome::Error);
    let (namespace, name) = split_key(&popped.key);
    ctx.lock().report(UnschedulableReport {
        uid: popped.uid.clone(),
        namespace,
        name,
        scheduler: profile.to_string(),
        reason: "SchedulerError",
        message,
        nomination: NominationUpdate::Keep,
    });
}

/// The daemon's decision for `pending` on the cache as it is: the one policy
/// ([`score::decide()`]) with the cache's nominations and disruption budgets.
pub(crate) fn decide_on_cache(
    st: &State,
    pending: &super::state::Pending,
    scratch: &mut Scratch,
    rng: Option<&mut SplitMix64>,
) -> Verdict {
    let nominated = st.nominated();
    let pdbs = st.pdbs();
    decide(
        &Inputs {
            cluster: &st.cluster,
            profile: &st.profiles[pending.profile],
            pod: &pending.spec,
            requests: &pending.requests,
            nominated: &nominated,
            pdbs: &pdbs,
        },
        scratch,
        rng,
    )
}

/// Applies a verdict to the cache — assume the pod (and Reserve its claims),
/// nominate it and mark its victims terminating, or drop its nomination —
/// and says what the cycle does next.
fn carry_out(
    st: &mut State,
    metrics: &Metrics,
    profile: &score::Profile,
    pending: &super::state::Pending,
    uid: &str,
    verdict: Verdict,
) -> Outcome {
    match verdict {
        Verdict::Assume {
            node: i,
            score,
            claims,
        } => {
            let node = st.cluster.node_name(i).to_string();
            let summary = st.cluster.summary(i);
            st.assume(pending, &node);
            st.reserve_volumes(uid, &node, &claims);
            st.clear_nomination(uid);
            Outcome::Assumed {
                node,
                score,
                real_users: summary.real_users,
                placeholders: summary.placeholders,
                volumes: claims,
                bind_timeout: Duration::from_secs(profile.volume_bind_timeout_seconds),
            }
        }
        Verdict::Preempt { plan, message, .. } => {
            metrics.preemption_attempts.inc();
            let r = &pending.requests;
            st.nominate(
                uid,
                Nomination {
                    node: plan.node_name.clone(),
                    priority: pending.spec.priority,
                    requests: [r.cpu_milli, r.memory, r.ephemeral_storage],
                },
            );
            st.add_victims(plan.victims.iter().map(|v| v.uid.as_str()));
            Outcome::Preempt(plan, message)
        }
        Verdict::Unschedulable {
            message,
            preemption_attempted,
            nomination,
        } => {
            if preemption_attempted {
                metrics.preemption_attempts.inc();
            }
            let nomination = match nomination {
                NominationChange::Clear if st.clear_nomination(uid) => NominationUpdate::Clear,
                _ => NominationUpdate::Keep,
            };
            Outcome::Unschedulable(message, nomination)
        }
        Verdict::Error(message) => Outcome::Error(message),
    }
}

/// Evicts the victims as kube-scheduler does — condition DisruptionTarget,
/// delete with a uid precondition, a Preempted event naming the preemptor —
/// then nominates the preemptor. A victim already gone, or replaced by a pod
/// of the same name (uid changed), is skipped. No victim is already being
/// deleted: the plan never picks a terminating pod, and the cycle marked
/// these as terminating when it chose them (`State::add_victims`), so each
/// is deleted and announced once, by one preemptor.
async fn execute_preemption(
    ctx: &Context,
    preemptor: &Popped<Payload>,
    plan: &score::PreemptionPlan,
    profile: &str,
    message: String,
) {
    for victim in &plan.victims {
        let pods: Api<Pod> = Api::namespaced(ctx.client.clone(), &victim.namespace);
        let condition = serde_json::json!({
            "status": {"conditions": [{
                "type": "DisruptionTarget",
                "status": "True",
                "reason": "PreemptionByScheduler",
                "message": format!("{profile}: preempting to accommodate a higher priority pod"),
                "lastTransitionTime": k8s_openapi::jiff::Timestamp::now().to_string(),
            }]}
        });
        if let Err(e) = pods
            .patch_status(
                &victim.name,
                &PatchParams::default(),
                &Patch::Strategic(&condition),
            )
            .await
        {
            debug!(victim = %victim.name, error = %e, "could not mark the victim");
        }
        let params = DeleteParams::default().preconditions(Preconditions {
            uid: Some(victim.uid.clone()),
            resource_version: None,
        });
        match pods.delete(&victim.name, &params).await {
            Ok(_) => {
                let note = format!(
                    "Preempted by pod {} on node {}",
                    preemptor.uid, plan.node_name
                );
                publish(
                    ctx,
                    &victim.uid,
                    &victim.namespace,
                    &victim.name,
                    EventType::Normal,
                    "Preempted",
                    "Preempting",
                    &note,
                    profile,
                )
                .await;
            }
            Err(kube::Error::Api(s)) if s.code == 404 || s.code == 409 => {
                // Gone, or replaced by a new pod of the same name: either way
                // the victim's room is free (or about to be), so the
                // preemptor should look again now rather than wait for an
                // event the watch may already have delivered.
                debug!(victim = %victim.name, "victim already gone or replaced");
                ctx.lock().drop_victim(&victim.uid);
                ctx.queue
                    .event(super::queue::ClusterEvent::AssignedPodRemoved);
            }
            Err(e) => {
                warn!(victim = %victim.name, error = %e, "could not delete the victim");
                ctx.lock().drop_victim(&victim.uid);
            }
        }
    }
    let (namespace, name) = split_key(&preemptor.key);
    ctx.lock().report(UnschedulableReport {
        uid: preemptor.uid.clone(),
        namespace,
        name,
        scheduler: profile.to_string(),
        reason: "Unschedulable",
        message,
        nomination: NominationUpdate::Set(plan.node_name.clone()),
    });
}

fn split_key(key: &str) -> (String, String) {
    let (ns, name) = key.split_once('/').unwrap_or(("default", key));
    (ns.to_string(), name.to_string())
}

async fn bind(ctx: &Context, job: &BindJob) {
    let BindJob {
        popped,
        node,
        score,
        profile,
        role,
        real_users,
        placeholders,
        started,
    } = job;
    let (node, profile, role) = (node.as_str(), profile.as_str(), *role);
    let (namespace, name) = split_key(&popped.key);
    let pods: Api<Pod> = Api::namespaced(ctx.client.clone(), &namespace);
    let binding = Binding {
        metadata: ObjectMeta {
            name: Some(name.clone()),
            namespace: Some(namespace.clone()),
            uid: (!popped.uid.contains('/')).then(|| popped.uid.to_string()),
            ..ObjectMeta::default()
        },
        target: ObjectReference {
            api_version: Some("v1".into()),
            kind: Some("Node".into()),
            name: Some(node.into()),
            ..ObjectReference::default()
        },
    };
    let bind_started = Instant::now();
    let result: Result<kube::core::Status, kube::Error> = pods
        .create_subresource("binding", &name, &PostParams::default(), &binding)
        .await;
    ctx.metrics
        .bind_duration
        .observe(bind_started.elapsed().as_secs_f64());
    let outcome = match result {
        Ok(_) => Ok(()),
        // The pod is already bound: not an error. On our node, an earlier
        // attempt of ours whose answer was lost bound it; elsewhere, someone
        // else did: no Scheduled event naming our node (the watch shows where
        // it is and moves it in the cache).
        Err(kube::Error::Api(s)) if s.code == 409 && s.message.contains("already assigned") => {
            if !s.message.contains(&format!("node \"{node}\"")) {
                ctx.queue.done(&popped.uid);
                info!(pod = %popped.key, "already bound elsewhere: {}", s.message);
                return;
            }
            Ok(())
        }
        Err(e) => Err(e),
    };
    match outcome {
        Ok(()) => {
            ctx.queue.done(&popped.uid);
            let outcome = DecisionOutcome::for_binding(*real_users, *placeholders);
            match score {
                Some(score) => {
                    info!(pod = %popped.key, %node, score, outcome = %outcome.as_str(), "bound");
                }
                None => {
                    info!(pod = %popped.key, %node, outcome = %outcome.as_str(), "bound to its nominated node");
                }
            }
            ctx.metrics
                .observe_attempt(AttemptResult::Scheduled, profile, started.elapsed());
            ctx.metrics
                .observe_pod_scheduled(popped.attempts, popped.first_seen.elapsed());
            ctx.metrics
                .count_decision(profile, PodKind::from(role), outcome);
            // The event is written by `scheduled_events`, so this binding's
            // slot goes to the next pod now. Sent only fails once that task
            // has stopped, after every binding has finished.
            let event = ScheduledEvent {
                uid: popped.uid.clone(),
                key: popped.key.clone(),
                node: node.to_string(),
                profile: profile.to_string(),
            };
            if ctx.scheduled.send(event).await.is_err() {
                warn!(pod = %popped.key, "not publishing a Scheduled event: stopping");
            }
        }
        Err(e) => {
            warn!(pod = %popped.key, %node, error = %e, "binding failed");
            ctx.lock().forget_assumed(&popped.uid);
            let gone = matches!(&e, kube::Error::Api(s) if s.code == 404);
            if gone {
                ctx.queue.delete(&popped.uid);
            } else {
                ctx.queue.backoff(&popped.uid);
            }
            ctx.metrics
                .observe_attempt(AttemptResult::Error, profile, started.elapsed());
            ctx.metrics
                .count_decision(profile, PodKind::from(role), DecisionOutcome::Error);
            if !gone {
                let note = format!("Binding rejected: {e}");
                publish(
                    ctx,
                    &popped.uid,
                    &namespace,
                    &name,
                    EventType::Warning,
                    "FailedScheduling",
                    "Scheduling",
                    &note,
                    profile,
                )
                .await;
            }
        }
    }
}

#[allow(clippy::too_many_arguments)]
async fn publish(
    ctx: &Context,
    uid: &str,
    namespace: &str,
    name: &str,
    type_: EventType,
    reason: &'static str,
    action: &'static str,
    note: &str,
    controller: &str,
) {
    let ev = EventSpec {
        regarding: pod_reference(namespace, name, uid),
        type_,
        reason,
        action,
        note,
        controller,
    };
    if let Err(e) = ctx.events.publish(&ev).await {
        warn!(pod = %format!("{namespace}/{name}"), error = %e, "could not publish a {reason} event");
    }
}

/// Writes the `Scheduled` events bindings hand over, `bind_concurrency` at a
/// time, until `stop`; then writes those already handed over and returns.
pub async fn scheduled_events(
    ctx: Arc<Context>,
    mut events: mpsc::Receiver<ScheduledEvent>,
    stop: tokio_util::sync::CancellationToken,
) {
    let limit = Arc::new(Semaphore::new(ctx.bind_concurrency.max(1)));
    let mut tasks = tokio::task::JoinSet::new();
    let mut stopping = false;
    loop {
        let event = tokio::select! {
            () = stop.cancelled(), if !stopping => {
                // No binding sends any more; take what is buffered.
                stopping = true;
                events.close();
                continue;
            }
            e = events.recv() => match e {
                Some(e) => e,
                None => break,
            },
        };
        let Ok(permit) = limit.clone().acquire_owned().await else {
            break;
        };
        let ctx = ctx.clone();
        tasks.spawn(async move {
            let (namespace, name) = split_key(&event.key);
            let note = format!("Successfully assigned {namespace}/{name} to {}", event.node);
            publish(
                &ctx,
                &event.uid,
                &namespace,
                &name,
                EventType::Normal,
                "Scheduled",
                "Binding",
                &note,
                &event.profile,
            )
            .await;
            drop(permit);
        });
        while tasks.try_join_next().is_some() {}
    }
    while tasks.join_next().await.is_some() {}
}

/// Writes PodScheduled=False and FailedScheduling events for the reports the
/// cycle and the watches send, until `stop` (then finishes the writes in flight).
pub async fn reporter(
    ctx: Arc<Context>,
    mut reports: mpsc::UnboundedReceiver<UnschedulableReport>,
    stop: tokio_util::sync::CancellationToken,
) {
    let limit = Arc::new(Semaphore::new(ctx.bind_concurrency.max(1)));
    let mut tasks = tokio::task::JoinSet::new();
    loop {
        let report = tokio::select! {
            () = stop.cancelled() => break,
            r = reports.recv() => match r {
                Some(r) => r,
                None => break,
            },
        };
        let Ok(permit) = limit.clone().acquire_owned().await else {
            break;
        };
        let ctx = ctx.clone();
        tasks.spawn(async move {
            report_one(&ctx, &report).await;
            drop(permit);
        });
        while tasks.try_join_next().is_some() {}
    }
    while tasks.join_next().await.is_some() {}
}

async fn report_one(ctx: &Context, r: &UnschedulableReport) {
    let changed = {
        let mut st = ctx.lock();
        if r.reason == "Unschedulable" && !st.is_pending(&r.uid) {
            // Deleted or bound meanwhile.
            return;
        }
        let key = match &r.nomination {
            NominationUpdate::Keep => r.message.clone(),
            NominationUpdate::Set(n) => format!("{}\u{0}nominated={n}", r.message),
            NominationUpdate::Clear => format!("{}\u{0}nominated=", r.message),
        };
        st.condition_changed(&r.uid, &key)
    };
    if changed {
        let pods: Api<Pod> = Api::namespaced(ctx.client.clone(), &r.namespace);
        let mut patch = serde_json::json!({
            "status": {
                "conditions": [{
                    "type": "PodScheduled",
                    "status": "False",
                    "reason": r.reason,
                    "message": r.message,
                    "lastTransitionTime": k8s_openapi::jiff::Timestamp::now().to_string(),
                }]
            }
        });
        match &r.nomination {
            NominationUpdate::Keep => {}
            NominationUpdate::Set(node) => {
                patch["status"]["nominatedNodeName"] = node.clone().into()
            }
            NominationUpdate::Clear => {
                patch["status"]["nominatedNodeName"] = serde_json::Value::Null
            }
        }
        // Strategic merge: conditions merge by type, the others stay.
        if let Err(e) = pods
            .patch_status(&r.name, &PatchParams::default(), &Patch::Strategic(&patch))
            .await
        {
            warn!(pod = %format!("{}/{}", r.namespace, r.name), error = %e, "could not set PodScheduled=False");
            ctx.lock().clear_condition(&r.uid);
        }
    }
    publish(
        ctx,
        &r.uid,
        &r.namespace,
        &r.name,
        EventType::Warning,
        "FailedScheduling",
        "Scheduling",
        &r.message,
        &r.scheduler,
    )
    .await;
}

/// Waits until every binding in flight has finished, at most `limit`.
pub async fn drain_binds(ctx: &Context, limit: Duration) -> bool {
    let all = u32::try_from(ctx.bind_concurrency).unwrap_or(u32::MAX);
    tokio::time::timeout(limit, ctx.binds.acquire_many(all))
        .await
        .is_ok()
}
