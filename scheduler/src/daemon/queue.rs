//! The scheduling queue: which pending pod the daemon tries next, and when a
//! pod that failed an attempt is tried again.
//!
//! It follows kube-scheduler's `PriorityQueue`
//! (`pkg/scheduler/backend/queue/scheduling_queue.go`) so pods are retried the
//! way cluster operators expect:
//!
//! - **active**: pods ready to be tried, highest `spec.priority` first, then
//!   first come first served;
//! - **backoff**: pods whose last attempt failed, waiting
//!   `initial × 2^(attempts−1)` (capped) before they become active again;
//! - **unschedulable**: pods no node could take, waiting for a
//!   [`ClusterEvent`] that might change that (only events that could help
//!   with the reasons the pod was rejected for, its [`Hints`], as kube's
//!   queueing hints do), or for the leftover flush (5 minutes) that retries
//!   them anyway;
//! - **gated**: pods with `spec.schedulingGates`, waiting for an update that
//!   removes the gates;
//! - **in flight**: popped pods whose attempt has not been reported yet.
//!
//! Every pod known to the queue is in exactly one of these places.
//!
//! [`SchedulingQueue`] is a plain synchronous structure: every method that
//! depends on the clock takes `now`, so tests (and the daemon under paused
//! tokio time) control time exactly. [`SharedQueue`] wraps it for the async
//! daemon: producers (the pod and cluster watches, the binders) call its
//! methods from anywhere and the scheduling loop awaits [`SharedQueue::pop`].

use std::cmp::Reverse;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use priority_queue::PriorityQueue;
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::config::SchedulerConfig;

/// kube-scheduler's `podMaxInUnschedulablePodsDuration` default: how long a
/// pod may wait in the unschedulable pool before it is retried anyway.
pub const DEFAULT_MAX_IN_UNSCHEDULABLE: Duration = Duration::from_secs(5 * 60);

/// Stand-in for "never" when a deadline would not fit in an [`Instant`]
/// (a configured backoff of `i64::MAX` seconds passes config validation).
const FAR_FUTURE: Duration = Duration::from_secs(30 * 365 * 24 * 60 * 60);

/// Timing of the queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QueueConfig {
    /// Backoff after the first failed attempt (`podInitialBackoffSeconds`).
    pub initial_backoff: Duration,
    /// Longest backoff (`podMaxBackoffSeconds`).
    pub max_backoff: Duration,
    /// How long a pod waits in the unschedulable pool before it is retried
    /// without a cluster event (`podMaxInUnschedulablePodsDuration`).
    pub max_in_unschedulable: Duration,
}

impl Default for QueueConfig {
    /// kube-scheduler's defaults: 1 s, 10 s and 5 minutes.
    fn default() -> Self {
        QueueConfig {
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(10),
            max_in_unschedulable: DEFAULT_MAX_IN_UNSCHEDULABLE,
        }
    }
}

impl QueueConfig {
    /// The backoffs and the leftover flush of a loaded configuration.
    pub fn from_scheduler_config(config: &SchedulerConfig) -> Self {
        QueueConfig {
            initial_backoff: config.pod_initial_backoff,
            max_backoff: config.pod_max_backoff,
            max_in_unschedulable: config.pod_max_in_unschedulable,
        }
    }

    /// How long a pod waits after its `attempts`-th failed attempt:
    /// `initial × 2^(attempts−1)`, at most `max` (attempts 0 counts as 1).
    pub fn backoff(&self, attempts: u32) -> Duration {
        let max = self.max_backoff;
        let mut duration = self.initial_backoff;
        // Doubling (rather than a shift) is kube's overflow guard. It also
        // bounds the loop: from a non-zero start it reaches `max` within
        // about a hundred doublings; zero never grows, so stop at once.
        if duration.is_zero() || duration >= max {
            return duration.min(max);
        }
        for _ in 1..attempts {
            match duration.checked_mul(2) {
                Some(doubled) if doubled < max => duration = doubled,
                _ => return max,
            }
        }
        duration
    }
}

/// A cluster change that could make an unschedulable pod schedulable.
///
/// Every event currently moves every unschedulable pod (kube-scheduler
/// without queueing hints). New kinds of change (volumes: PV, PVC,
/// StorageClass, CSINode) are added as variants here and sent by the watch
/// that sees them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ClusterEvent {
    /// A node was added.
    NodeAdded,
    /// A node's allocatable resources changed.
    NodeAllocatableChanged,
    /// A node's labels changed.
    NodeLabelsChanged,
    /// A node's taints changed.
    NodeTaintsChanged,
    /// A node's `spec.unschedulable` changed.
    NodeSchedulableChanged,
    /// A pod bound to some node was deleted or finished, or a pod nominated
    /// to a node went away: room was freed.
    AssignedPodRemoved,
    /// A PodDisruptionBudget was added, changed or deleted.
    PdbChanged,
    /// A PersistentVolumeClaim, PersistentVolume, StorageClass or CSINode
    /// was added, changed or deleted.
    StorageChanged,
}

impl ClusterEvent {
    #[cfg(test)]
    const ALL: [ClusterEvent; 8] = [
        ClusterEvent::NodeAdded,
        ClusterEvent::NodeAllocatableChanged,
        ClusterEvent::NodeLabelsChanged,
        ClusterEvent::NodeTaintsChanged,
        ClusterEvent::NodeSchedulableChanged,
        ClusterEvent::AssignedPodRemoved,
        ClusterEvent::PdbChanged,
        ClusterEvent::StorageChanged,
    ];

    fn bit(self) -> u16 {
        1 << (self as u16)
    }

    /// The `event` label kube-scheduler gives this change in
    /// `scheduler_queue_incoming_pods_total`.
    pub fn label(self) -> &'static str {
        match self {
            ClusterEvent::NodeAdded => "NodeAdd",
            ClusterEvent::NodeAllocatableChanged => "NodeAllocatableChange",
            ClusterEvent::NodeLabelsChanged => "NodeLabelChange",
            ClusterEvent::NodeTaintsChanged => "NodeTaintChange",
            ClusterEvent::NodeSchedulableChanged => "NodeSpecUnschedulableChange",
            ClusterEvent::AssignedPodRemoved => "AssignedPodDelete",
            ClusterEvent::PdbChanged => "PodDisruptionBudgetChange",
            ClusterEvent::StorageChanged => "StorageChange",
        }
    }
}

/// The cluster events that may make an unschedulable pod fit: the union,
/// over the reasons nodes rejected it for, of the events that can lift each
/// reason (kube's `EventsToRegister` of the rejecting plugins).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hints(u16);

impl Hints {
    /// Every event (a pod rejected for no known reason, or by a plugin that
    /// needs an event this scheduler does not watch for).
    pub const ALL: Hints = Hints(u16::MAX);

    const fn none() -> Hints {
        Hints(0)
    }

    fn with(self, events: &[ClusterEvent]) -> Hints {
        Hints(events.iter().fold(self.0, |bits, e| bits | e.bit()))
    }

    /// Whether `event` may help.
    #[must_use]
    pub fn contains(self, event: ClusterEvent) -> bool {
        self.0 & event.bit() != 0
    }

    /// The hints of a pod rejected for `reasons` (a decision's histogram);
    /// [`Hints::ALL`] when there are none (a PreFilter rejection, or no
    /// nodes).
    #[must_use]
    pub fn for_reasons<'a>(reasons: impl IntoIterator<Item = &'a score::reason::Reason>) -> Hints {
        use ClusterEvent as E;
        use score::reason::Reason as R;
        let mut hints = Hints::none();
        let mut any = false;
        for reason in reasons {
            any = true;
            // A changed node can lift any of its own reasons, whatever the
            // event says changed: node events carry the most specific name
            // we can tell, and a node added may have any shape.
            let events: &[ClusterEvent] = match reason {
                R::NodePurpose | R::NodeName | R::NodeAffinity | R::EnforcedNodeAffinity => {
                    &[E::NodeAdded, E::NodeLabelsChanged]
                }
                R::Unschedulable => &[E::NodeAdded, E::NodeSchedulableChanged],
                R::UntoleratedTaint { .. } => &[E::NodeAdded, E::NodeTaintsChanged],
                R::NodePorts => &[E::NodeAdded, E::AssignedPodRemoved],
                // Room: a node grows or is added, a pod leaves, or a PDB now
                // allows the eviction preemption needs.
                R::TooManyPods | R::Insufficient { .. } => &[
                    E::NodeAdded,
                    E::NodeAllocatableChanged,
                    E::AssignedPodRemoved,
                    E::PdbChanged,
                ],
                // Required affinity is met by a pod *arriving* somewhere,
                // an event this queue does not have: any event retries it.
                R::PodAffinity => return Hints::ALL,
                // A skew falls when a matching pod leaves the node's domain
                // or *arrives* in the emptiest one (raising the minimum),
                // which this queue has no event for: any event retries it.
                R::SpreadConstraints => return Hints::ALL,
                R::SpreadMissingLabel => &[E::NodeAdded, E::NodeLabelsChanged],
                R::PodAntiAffinity | R::ExistingPodsAntiAffinity => {
                    &[E::NodeAdded, E::NodeLabelsChanged, E::AssignedPodRemoved]
                }
                R::TooManyVolumes => &[E::NodeAdded, E::AssignedPodRemoved, E::StorageChanged],
                R::VolumeNodeAffinityConflict
                | R::NoVolumeToBind
                | R::NotEnoughStorage
                | R::NoVolumeZone => &[E::NodeAdded, E::NodeLabelsChanged, E::StorageChanged],
            };
            hints = hints.with(events);
        }
        if any { hints } else { Hints::ALL }
    }
}

/// Where a pod known to the queue is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum QueueKind {
    /// Ready to be popped.
    Active,
    /// Waiting for its backoff to expire.
    Backoff,
    /// Waiting for a cluster event or the leftover flush.
    Unschedulable,
    /// Waiting for its scheduling gates to be removed.
    Gated,
    /// Popped; its attempt has not been reported yet.
    InFlight,
}

impl QueueKind {
    /// The `queue` label of `scheduler_pending_pods` (kube has none for
    /// pods in flight; this one is `in_flight`).
    pub fn label(self) -> &'static str {
        match self {
            QueueKind::Active => "active",
            QueueKind::Backoff => "backoff",
            QueueKind::Unschedulable => "unschedulable",
            QueueKind::Gated => "gated",
            QueueKind::InFlight => "in_flight",
        }
    }
}

/// How many pods are in each place, for `scheduler_pending_pods{queue}`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QueueCounts {
    /// Ready to be popped.
    pub active: usize,
    /// Backing off.
    pub backoff: usize,
    /// Waiting for a cluster event.
    pub unschedulable: usize,
    /// Waiting for their scheduling gates to go.
    pub gated: usize,
    /// Popped and not reported yet (including pods deleted meanwhile,
    /// which leave when their attempt is reported).
    pub in_flight: usize,
}

impl QueueCounts {
    /// The four gauges kube-scheduler exports, as `(queue label, count)`.
    pub fn gauges(&self) -> [(&'static str, usize); 4] {
        [
            (QueueKind::Active.label(), self.active),
            (QueueKind::Backoff.label(), self.backoff),
            (QueueKind::Unschedulable.label(), self.unschedulable),
            (QueueKind::Gated.label(), self.gated),
        ]
    }

    /// Every pod the queue tracks.
    pub fn total(&self) -> usize {
        self.active + self.backoff + self.unschedulable + self.gated + self.in_flight
    }
}

/// A pending pod as the watch reports it, added or updated with
/// [`SchedulingQueue::upsert`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PendingPod<T> {
    /// `metadata.uid`: the queue's key.
    pub uid: Box<str>,
    /// `namespace/name`, for logs and events.
    pub key: Box<str>,
    /// `spec.priority` (0 when unset).
    pub priority: i32,
    /// Whether `spec.schedulingGates` is non-empty.
    pub gated: bool,
    /// The daemon's record of the pod. An update whose payload, priority and
    /// gating equal the queued ones is "unchanged": it does not release the
    /// pod from the unschedulable pool (so a status-only update, such as
    /// the scheduler's own PodScheduled condition, does not cause a retry).
    pub payload: T,
}

/// A popped pod: what the scheduling cycle needs to try it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Popped<T> {
    /// `metadata.uid`; pass it back to report the attempt.
    pub uid: Box<str>,
    /// `namespace/name`.
    pub key: Box<str>,
    /// `spec.priority`.
    pub priority: i32,
    /// When the queue first saw the pod (start of the scheduling SLI).
    pub first_seen: Instant,
    /// This attempt's number, from 1 (`scheduler_pod_scheduling_attempts`).
    pub attempts: u32,
    /// The scheduling cycle of this attempt (kube's `podSchedulingCycle`).
    pub cycle: u64,
    /// The latest payload.
    pub payload: T,
}

/// What [`SchedulingQueue::upsert`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Upsert {
    /// The pod was new (or had been deleted while in flight and came back).
    Added,
    /// The pod was known and something the queue compares changed.
    Updated,
    /// The pod was known and nothing the queue compares changed.
    Unchanged,
}

/// The order of the active queue: higher priority first, then lower
/// sequence number (earlier enqueue). `PriorityQueue` is a max-heap, hence
/// the `Reverse` on the sequence.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct ActiveRank {
    priority: i32,
    seq: Reverse<u64>,
}

/// A deadline ordered earliest first, ties broken by sequence number so the
/// order never depends on two instants comparing equal.
type Deadline = Reverse<(Instant, u64)>;

/// Where a pod is, and for pods in flight what happened meanwhile.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Place {
    Active,
    Backoff,
    Unschedulable,
    Gated,
    InFlight {
        /// The cycle the pod was popped in.
        cycle: u64,
        /// Deleted while in flight: drop it when the attempt is reported.
        deleted: bool,
        /// Updated while in flight: the failed attempt judged an older pod,
        /// so it must not wait for a cluster event.
        changed: bool,
    },
}

impl Place {
    fn kind(self) -> QueueKind {
        match self {
            Place::Active => QueueKind::Active,
            Place::Backoff => QueueKind::Backoff,
            Place::Unschedulable => QueueKind::Unschedulable,
            Place::Gated => QueueKind::Gated,
            Place::InFlight { .. } => QueueKind::InFlight,
        }
    }
}

/// Everything the queue keeps about one pod.
#[derive(Clone, Debug)]
struct Slot<T> {
    key: Box<str>,
    priority: i32,
    gated: bool,
    first_seen: Instant,
    attempts: u32,
    /// When the backoff of the last failed attempt ends; `first_seen` until
    /// an attempt fails, so a never-tried pod never backs off.
    backoff_until: Instant,
    /// What may help the pod while it waits in the unschedulable pool.
    hints: Hints,
    payload: T,
    place: Place,
}

/// The scheduling queue. See the module documentation.
#[derive(Debug)]
pub struct SchedulingQueue<T> {
    config: QueueConfig,
    pods: HashMap<Box<str>, Slot<T>>,
    active: PriorityQueue<Box<str>, ActiveRank>,
    /// Keyed by backoff expiry.
    backoff: PriorityQueue<Box<str>, Deadline>,
    /// Keyed by leftover-flush time (entry time + `max_in_unschedulable`).
    unschedulable: PriorityQueue<Box<str>, Deadline>,
    gated: usize,
    in_flight: usize,
    /// Source of FIFO tie-breaks; increases on every enqueue.
    seq: u64,
    /// Scheduling cycles started so far (the last popped pod's cycle).
    cycle: u64,
    /// The value of `cycle` at the last cluster event. A pod whose attempt
    /// began at or before it (cycle ≤ it) may have missed that event.
    move_request_cycle: u64,
    /// Pods that entered each place, by the event that moved them, since
    /// the last [`take_incoming`](Self::take_incoming): a handful of
    /// distinct pairs, so a list.
    incoming: Vec<Incoming>,
}

/// `count` pods entered `queue` because of `event` (kube's
/// `scheduler_queue_incoming_pods_total` labels: `PodAdd`, `PodUpdate`,
/// `ScheduleAttemptFailure`, `BackoffComplete`, `UnschedulableTimeout`, or a
/// [`ClusterEvent::label`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Incoming {
    /// Where the pods went.
    pub queue: QueueKind,
    /// Why.
    pub event: &'static str,
    /// How many.
    pub count: u64,
}

impl<T: Clone + PartialEq> SchedulingQueue<T> {
    /// An empty queue.
    pub fn new(config: QueueConfig) -> Self {
        SchedulingQueue {
            config,
            pods: HashMap::new(),
            active: PriorityQueue::new(),
            backoff: PriorityQueue::new(),
            unschedulable: PriorityQueue::new(),
            gated: 0,
            in_flight: 0,
            seq: 0,
            cycle: 0,
            move_request_cycle: 0,
            incoming: Vec::new(),
        }
    }

    /// The pods that entered each place since the last call, by event.
    pub fn take_incoming(&mut self) -> Vec<Incoming> {
        std::mem::take(&mut self.incoming)
    }

    /// Counts a pod entering `place` because of `event`.
    fn arrived(&mut self, place: Place, event: &'static str) {
        let queue = place.kind();
        if queue == QueueKind::InFlight {
            return;
        }
        match self
            .incoming
            .iter_mut()
            .find(|i| i.queue == queue && i.event == event)
        {
            Some(i) => i.count = i.count.saturating_add(1),
            None => self.incoming.push(Incoming {
                queue,
                event,
                count: 1,
            }),
        }
    }

    /// The queue's timing.
    pub fn config(&self) -> &QueueConfig {
        &self.config
    }

    /// Adds a pending pod, or updates it where it is.
    ///
    /// An update never duplicates a pod: in the active queue it keeps its
    /// place among equals and is re-prioritised; in backoff it keeps its
    /// expiry; a changed pod leaves the unschedulable pool (to backoff if its
    /// backoff has not expired, else active); a pod whose gates are removed
    /// becomes active; a pod in flight is updated for when its attempt is
    /// reported.
    pub fn upsert(&mut self, pod: PendingPod<T>, now: Instant) -> Upsert {
        let PendingPod {
            uid,
            key,
            priority,
            gated,
            payload,
        } = pod;
        let Some(slot) = self.pods.get_mut(&uid) else {
            let place = if gated { Place::Gated } else { Place::Active };
            self.pods.insert(
                uid.clone(),
                Slot {
                    key,
                    priority,
                    gated,
                    first_seen: now,
                    attempts: 0,
                    backoff_until: now,
                    hints: Hints::ALL,
                    payload,
                    place,
                },
            );
            self.link(uid, place, now);
            self.arrived(place, "PodAdd");
            return Upsert::Added;
        };
        let changed = slot.priority != priority || slot.gated != gated || slot.payload != payload;
        slot.key = key;
        slot.priority = priority;
        slot.gated = gated;
        slot.payload = payload;
        let outcome = if changed {
            Upsert::Updated
        } else {
            Upsert::Unchanged
        };
        match slot.place {
            Place::InFlight {
                cycle,
                deleted,
                changed: was_changed,
            } => {
                slot.place = Place::InFlight {
                    cycle,
                    deleted: false,
                    changed: was_changed || changed || deleted,
                };
                if deleted {
                    return Upsert::Added;
                }
            }
            Place::Active | Place::Backoff if gated => {
                self.relink(&uid, Place::Gated, now);
                self.arrived(Place::Gated, "PodUpdate");
            }
            Place::Active => {
                self.active
                    .change_priority_by(&uid, |rank| rank.priority = priority);
            }
            Place::Backoff => {}
            Place::Unschedulable | Place::Gated if changed => {
                let target = self.target_after_wait(&uid, now);
                self.relink(&uid, target, now);
                self.arrived(target, "PodUpdate");
            }
            Place::Unschedulable | Place::Gated => {}
        }
        outcome
    }

    /// Forgets a pod wherever it is. A pod in flight is remembered as
    /// deleted until its attempt is reported, so the report does not bring
    /// it back. Returns whether the pod was known.
    pub fn delete(&mut self, uid: &str) -> bool {
        let Some(slot) = self.pods.get_mut(uid) else {
            return false;
        };
        match slot.place {
            Place::InFlight { cycle, .. } => {
                slot.place = Place::InFlight {
                    cycle,
                    deleted: true,
                    changed: false,
                };
            }
            place => {
                self.unlink(uid, place);
                self.pods.remove(uid);
            }
        }
        true
    }

    /// A cluster change: every unschedulable pod it may help (its
    /// [`Hints`]) moves on (to backoff if its backoff has not expired, else
    /// active), and pods in flight now will not wait in the unschedulable
    /// pool if their attempt fails (whatever the event: deliberately more
    /// eager than kube, which replays the events against their hints).
    /// Returns how many pods moved.
    pub fn event(&mut self, event: ClusterEvent, now: Instant) -> usize {
        self.move_request_cycle = self.cycle;
        let helped: Vec<Box<str>> = self
            .unschedulable
            .iter()
            .filter(|(uid, _)| {
                self.pods
                    .get(*uid)
                    .is_none_or(|slot| slot.hints.contains(event))
            })
            .map(|(uid, _)| uid.clone())
            .collect();
        let moved = helped.len();
        for uid in helped {
            self.unschedulable.remove(&uid);
            let target = self.place_after_wait(uid, now);
            self.arrived(target, event.label());
        }
        if moved > 0 {
            tracing::debug!(event = event.label(), moved, "unschedulable pods requeued");
        }
        moved
    }

    /// Moves pods whose backoff has expired to the active queue and pods that
    /// have waited `max_in_unschedulable` in the unschedulable pool onwards.
    /// Returns how many pods moved.
    pub fn flush(&mut self, now: Instant) -> usize {
        let mut moved = 0;
        while let Some((_, Reverse((expiry, _)))) = self.backoff.peek() {
            if *expiry > now {
                break;
            }
            if let Some((uid, _)) = self.backoff.pop() {
                self.set_place(&uid, Place::Active);
                self.link(uid, Place::Active, now);
                self.arrived(Place::Active, "BackoffComplete");
                moved += 1;
            }
        }
        while let Some((_, Reverse((flush_at, _)))) = self.unschedulable.peek() {
            if *flush_at > now {
                break;
            }
            if let Some((uid, _)) = self.unschedulable.pop() {
                let target = self.place_after_wait(uid, now);
                self.arrived(target, "UnschedulableTimeout");
                moved += 1;
            }
        }
        moved
    }

    /// Flushes (see [`SchedulingQueue::flush`]), then takes the next active
    /// pod and puts it in flight. Its attempt must be reported with
    /// [`done`](SchedulingQueue::done),
    /// [`unschedulable`](SchedulingQueue::unschedulable) or
    /// [`backoff`](SchedulingQueue::backoff).
    pub fn pop(&mut self, now: Instant) -> Option<Popped<T>> {
        self.flush(now);
        while let Some((uid, _)) = self.active.pop() {
            // Every uid in the active queue has a slot; the loop only guards
            // against a broken invariant without losing the other pods.
            let Some(slot) = self.pods.get_mut(&uid) else {
                continue;
            };
            self.cycle = self.cycle.saturating_add(1);
            slot.attempts = slot.attempts.saturating_add(1);
            slot.place = Place::InFlight {
                cycle: self.cycle,
                deleted: false,
                changed: false,
            };
            self.in_flight += 1;
            return Some(Popped {
                key: slot.key.clone(),
                priority: slot.priority,
                first_seen: slot.first_seen,
                attempts: slot.attempts,
                cycle: self.cycle,
                payload: slot.payload.clone(),
                uid,
            });
        }
        None
    }

    /// The attempt succeeded (the pod is bound): the queue forgets the pod.
    /// Keep a pod in flight until its bind has succeeded, so a failed bind
    /// can still be reported with [`backoff`](SchedulingQueue::backoff).
    /// Returns whether the pod was in flight.
    pub fn done(&mut self, uid: &str) -> bool {
        match self.pods.get(uid).map(|slot| slot.place) {
            Some(place @ Place::InFlight { .. }) => {
                self.unlink(uid, place);
                self.pods.remove(uid);
                true
            }
            _ => false,
        }
    }

    /// No node fits the pod: it waits in the unschedulable pool for a
    /// cluster event, unless an event arrived or the pod changed since it
    /// was popped, in which case it only backs off. Returns where the pod
    /// went; `None` if it was not in flight or was deleted meanwhile.
    pub fn unschedulable(&mut self, uid: &str, now: Instant) -> Option<QueueKind> {
        self.unschedulable_for(uid, Hints::ALL, now)
    }

    /// [`unschedulable`](Self::unschedulable), waiting only for events that
    /// match `hints`.
    pub fn unschedulable_for(
        &mut self,
        uid: &str,
        hints: Hints,
        now: Instant,
    ) -> Option<QueueKind> {
        if let Some(slot) = self.pods.get_mut(uid) {
            slot.hints = hints;
        }
        let (cycle, changed) = match self.pods.get(uid)?.place {
            Place::InFlight {
                cycle,
                changed,
                deleted: false,
            } => (cycle, changed),
            Place::InFlight { deleted: true, .. } => {
                self.forget_deleted(uid);
                return None;
            }
            _ => return None,
        };
        // kube's moveRequestCycle rule: an event at or after this pod's
        // cycle may have been the one that makes it fit.
        let missed_event = self.move_request_cycle >= cycle;
        let target = self.target_after_failure(uid, now, missed_event || changed);
        self.relink(uid, target, now);
        self.arrived(target, "ScheduleAttemptFailure");
        Some(target.kind())
    }

    /// The attempt failed for a reason other than fit (an error, a failed
    /// bind): the pod backs off. Returns where the pod went; `None` if it was
    /// not in flight or was deleted meanwhile.
    pub fn backoff(&mut self, uid: &str, now: Instant) -> Option<QueueKind> {
        match self.pods.get(uid)?.place {
            Place::InFlight { deleted: false, .. } => {}
            Place::InFlight { deleted: true, .. } => {
                self.forget_deleted(uid);
                return None;
            }
            _ => return None,
        }
        let target = self.target_after_failure(uid, now, true);
        self.relink(uid, target, now);
        self.arrived(target, "ScheduleAttemptFailure");
        Some(target.kind())
    }

    /// When something next becomes due without outside help: the earliest
    /// backoff expiry or leftover flush. A `pop` at that instant may find a
    /// pod.
    pub fn next_wakeup(&self) -> Option<Instant> {
        let backoff = self.backoff.peek().map(|(_, Reverse((at, _)))| *at);
        let leftover = self.unschedulable.peek().map(|(_, Reverse((at, _)))| *at);
        match (backoff, leftover) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Pods per place.
    pub fn counts(&self) -> QueueCounts {
        QueueCounts {
            active: self.active.len(),
            backoff: self.backoff.len(),
            unschedulable: self.unschedulable.len(),
            gated: self.gated,
            in_flight: self.in_flight,
        }
    }

    /// Where a pod is, if the queue knows it (a pod deleted while in flight
    /// is still in flight).
    pub fn kind_of(&self, uid: &str) -> Option<QueueKind> {
        self.pods.get(uid).map(|slot| slot.place.kind())
    }

    /// Every pod the queue tracks.
    pub fn len(&self) -> usize {
        self.pods.len()
    }

    /// Whether the queue tracks no pod.
    pub fn is_empty(&self) -> bool {
        self.pods.is_empty()
    }

    /// Where a failed pod goes: gated if it is, else backoff when it must not
    /// wait for an event, else the unschedulable pool. Sets its backoff.
    fn target_after_failure(&mut self, uid: &str, now: Instant, skip_pool: bool) -> Place {
        let Some(slot) = self.pods.get_mut(uid) else {
            return Place::Active;
        };
        slot.backoff_until = later(now, self.config.backoff(slot.attempts));
        if slot.gated {
            Place::Gated
        } else if skip_pool {
            Place::Backoff
        } else {
            Place::Unschedulable
        }
    }

    /// Where a pod leaving the unschedulable pool or the gate goes: backoff
    /// if its backoff has not expired, else active (gated if it still is).
    fn target_after_wait(&self, uid: &str, now: Instant) -> Place {
        match self.pods.get(uid) {
            Some(slot) if slot.gated => Place::Gated,
            Some(slot) if slot.backoff_until > now => Place::Backoff,
            _ => Place::Active,
        }
    }

    /// [`target_after_wait`](Self::target_after_wait) for a pod already
    /// taken out of its heap.
    fn place_after_wait(&mut self, uid: Box<str>, now: Instant) -> Place {
        let target = self.target_after_wait(&uid, now);
        self.set_place(&uid, target);
        self.link(uid, target, now);
        target
    }

    /// Drops a pod deleted while in flight, now that its attempt ended.
    fn forget_deleted(&mut self, uid: &str) {
        if let Some(slot) = self.pods.remove(uid) {
            self.unlink(uid, slot.place);
        }
    }

    /// Moves a pod from its current place to `target`.
    fn relink(&mut self, uid: &str, target: Place, now: Instant) {
        let Some(current) = self.pods.get(uid).map(|slot| slot.place) else {
            return;
        };
        self.unlink(uid, current);
        self.set_place(uid, target);
        self.link(uid.into(), target, now);
    }

    fn set_place(&mut self, uid: &str, place: Place) {
        if let Some(slot) = self.pods.get_mut(uid) {
            slot.place = place;
        }
    }

    /// Takes a pod out of the structure behind `place` (not out of `pods`).
    fn unlink(&mut self, uid: &str, place: Place) {
        match place {
            Place::Active => {
                self.active.remove(uid);
            }
            Place::Backoff => {
                self.backoff.remove(uid);
            }
            Place::Unschedulable => {
                self.unschedulable.remove(uid);
            }
            Place::Gated => self.gated = self.gated.saturating_sub(1),
            Place::InFlight { .. } => self.in_flight = self.in_flight.saturating_sub(1),
        }
    }

    /// Puts a pod, whose slot already says `place`, into the structure
    /// behind it. Active, backoff and unschedulable entries get a fresh
    /// sequence number: a requeued pod goes behind the pods of its priority
    /// that were waiting already, as in kube.
    fn link(&mut self, uid: Box<str>, place: Place, now: Instant) {
        let Some(slot) = self.pods.get(&uid) else {
            return;
        };
        self.seq += 1;
        let seq = self.seq;
        match place {
            Place::Active => {
                let rank = ActiveRank {
                    priority: slot.priority,
                    seq: Reverse(seq),
                };
                self.active.push(uid, rank);
            }
            Place::Backoff => {
                let expiry = slot.backoff_until;
                self.backoff.push(uid, Reverse((expiry, seq)));
            }
            Place::Unschedulable => {
                // Only a failure report puts a pod here, so `now` is when
                // it entered the pool and its leftover clock starts.
                let flush_at = later(now, self.config.max_in_unschedulable);
                self.unschedulable.push(uid, Reverse((flush_at, seq)));
            }
            Place::Gated => self.gated += 1,
            Place::InFlight { .. } => self.in_flight += 1,
        }
    }
}

/// `now + duration`, or a far-away instant when that does not fit.
fn later(now: Instant, duration: Duration) -> Instant {
    now.checked_add(duration)
        .or_else(|| now.checked_add(FAR_FUTURE))
        .unwrap_or(now)
}

/// A [`SchedulingQueue`] shared between the daemon's tasks.
///
/// Cloning is cheap and every clone is the same queue. Each method holds
/// the lock only for the one queue operation it wraps and reads the clock
/// itself ([`Instant::now`], which follows paused tokio time in tests).
#[derive(Debug)]
pub struct SharedQueue<T> {
    inner: Arc<Inner<T>>,
}

#[derive(Debug)]
struct Inner<T> {
    state: Mutex<State<T>>,
    /// Wakes [`SharedQueue::pop`] waiters after anything that may make a pod
    /// ready sooner, and on close.
    changed: Notify,
}

#[derive(Debug)]
struct State<T> {
    queue: SchedulingQueue<T>,
    closed: bool,
}

impl<T> Clone for SharedQueue<T> {
    fn clone(&self) -> Self {
        SharedQueue {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<T: Clone + PartialEq> SharedQueue<T> {
    /// An empty, open queue.
    pub fn new(config: QueueConfig) -> Self {
        SharedQueue {
            inner: Arc::new(Inner {
                state: Mutex::new(State {
                    queue: SchedulingQueue::new(config),
                    closed: false,
                }),
                changed: Notify::new(),
            }),
        }
    }

    /// Waits for the next pod to try and puts it in flight; `None` once the
    /// queue is closed. Sleeps until a producer adds or moves a pod or the
    /// next backoff expiry or leftover flush comes. Cancel-safe: a pod is
    /// taken only when the call returns it.
    pub async fn pop(&self) -> Option<Popped<T>> {
        loop {
            // Created (and registered) before looking at the queue, so a
            // change made between the look and the wait still wakes this
            // call.
            let notified = self.inner.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let wakeup = {
                let mut state = self.lock();
                if state.closed {
                    return None;
                }
                if let Some(popped) = state.queue.pop(Instant::now()) {
                    return Some(popped);
                }
                state.queue.next_wakeup()
            };
            match wakeup {
                Some(at) => {
                    tokio::select! {
                        () = &mut notified => {}
                        () = tokio::time::sleep_until(at) => {}
                    }
                }
                None => notified.await,
            }
        }
    }

    /// [`SchedulingQueue::upsert`] now.
    pub fn upsert(&self, pod: PendingPod<T>) -> Upsert {
        let outcome = self.lock().queue.upsert(pod, Instant::now());
        self.inner.changed.notify_waiters();
        outcome
    }

    /// [`SchedulingQueue::delete`].
    pub fn delete(&self, uid: &str) -> bool {
        // Nothing becomes ready sooner, so no one is woken.
        self.lock().queue.delete(uid)
    }

    /// [`SchedulingQueue::event`] now.
    pub fn event(&self, event: ClusterEvent) -> usize {
        let moved = self.lock().queue.event(event, Instant::now());
        if moved > 0 {
            self.inner.changed.notify_waiters();
        }
        moved
    }

    /// [`SchedulingQueue::done`].
    pub fn done(&self, uid: &str) -> bool {
        self.lock().queue.done(uid)
    }

    /// [`SchedulingQueue::unschedulable`] now.
    pub fn unschedulable(&self, uid: &str) -> Option<QueueKind> {
        self.unschedulable_for(uid, Hints::ALL)
    }

    /// [`SchedulingQueue::unschedulable_for`] now.
    pub fn unschedulable_for(&self, uid: &str, hints: Hints) -> Option<QueueKind> {
        let target = self
            .lock()
            .queue
            .unschedulable_for(uid, hints, Instant::now());
        // A new backoff or leftover deadline may be the earliest one.
        self.inner.changed.notify_waiters();
        target
    }

    /// [`SchedulingQueue::backoff`] now.
    pub fn backoff(&self, uid: &str) -> Option<QueueKind> {
        let target = self.lock().queue.backoff(uid, Instant::now());
        self.inner.changed.notify_waiters();
        target
    }

    /// [`SchedulingQueue::counts`].
    pub fn counts(&self) -> QueueCounts {
        self.lock().queue.counts()
    }

    /// Runs `f` on the queue under the lock (for example a batch of upserts
    /// after a relist) and wakes waiters afterwards. Keep `f` short: it
    /// blocks every other user of the queue.
    pub fn with<R>(&self, f: impl FnOnce(&mut SchedulingQueue<T>) -> R) -> R {
        let result = f(&mut self.lock().queue);
        self.inner.changed.notify_waiters();
        result
    }

    /// [`SchedulingQueue::take_incoming`].
    pub fn take_incoming(&self) -> Vec<Incoming> {
        self.lock().queue.take_incoming()
    }

    /// Shuts the queue: pending and future [`pop`](SharedQueue::pop) calls
    /// return `None`. Pods in flight can still be reported.
    pub fn close(&self) {
        self.lock().closed = true;
        self.inner.changed.notify_waiters();
    }

    /// Whether [`close`](SharedQueue::close) was called.
    pub fn is_closed(&self) -> bool {
        self.lock().closed
    }

    fn lock(&self) -> MutexGuard<'_, State<T>> {
        // Queue operations do not panic; should one ever, carrying on with
        // its data beats taking every task of the daemon down with it.
        self.inner
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use score::rng::SplitMix64;
    use std::collections::{HashMap, HashSet};

    const SEC: Duration = Duration::from_secs(1);

    fn pod(uid: &str, priority: i32) -> PendingPod<u32> {
        PendingPod {
            uid: uid.into(),
            key: format!("ns/{uid}").into(),
            priority,
            gated: false,
            payload: 0,
        }
    }

    fn with_payload(uid: &str, priority: i32, payload: u32) -> PendingPod<u32> {
        PendingPod {
            payload,
            ..pod(uid, priority)
        }
    }

    fn gated(uid: &str) -> PendingPod<u32> {
        PendingPod {
            gated: true,
            ..pod(uid, 0)
        }
    }

    fn queue() -> SchedulingQueue<u32> {
        SchedulingQueue::new(QueueConfig::default())
    }

    /// Pops everything ready at `now`, reporting each pod done.
    fn drain(q: &mut SchedulingQueue<u32>, now: Instant) -> Vec<String> {
        let mut out = Vec::new();
        while let Some(p) = q.pop(now) {
            assert!(q.done(&p.uid));
            out.push(p.uid.to_string());
        }
        out
    }

    /// Pops `uid` (which must be next) and reports it with `report`.
    fn fail(
        q: &mut SchedulingQueue<u32>,
        uid: &str,
        now: Instant,
        report: fn(&mut SchedulingQueue<u32>, &str, Instant) -> Option<QueueKind>,
    ) -> Option<QueueKind> {
        let popped = q.pop(now).expect("a pod is ready");
        assert_eq!(&*popped.uid, uid);
        report(q, uid, now)
    }

    impl<T: Clone + PartialEq> SchedulingQueue<T> {
        /// Checks that the map, the heaps and the counters agree: every pod
        /// is in exactly the structure its place names.
        fn check(&self) -> Result<(), String> {
            let mut counts = QueueCounts::default();
            for (uid, slot) in &self.pods {
                let in_active = self.active.get(uid.as_ref()).is_some();
                let in_backoff = self.backoff.get(uid.as_ref()).is_some();
                let in_pool = self.unschedulable.get(uid.as_ref()).is_some();
                let expected = match slot.place {
                    Place::Active => {
                        counts.active += 1;
                        (true, false, false)
                    }
                    Place::Backoff => {
                        counts.backoff += 1;
                        (false, true, false)
                    }
                    Place::Unschedulable => {
                        counts.unschedulable += 1;
                        (false, false, true)
                    }
                    Place::Gated => {
                        counts.gated += 1;
                        (false, false, false)
                    }
                    Place::InFlight { .. } => {
                        counts.in_flight += 1;
                        (false, false, false)
                    }
                };
                if (in_active, in_backoff, in_pool) != expected {
                    return Err(format!(
                        "{uid} is {:?} but in active/backoff/pool = {:?}",
                        slot.place,
                        (in_active, in_backoff, in_pool)
                    ));
                }
                if slot.gated && matches!(slot.place, Place::Active | Place::Backoff) {
                    return Err(format!("gated {uid} is {:?}", slot.place));
                }
            }
            if counts != self.counts() {
                return Err(format!(
                    "counted {counts:?}, queue says {:?}",
                    self.counts()
                ));
            }
            Ok(())
        }
    }

    #[test]
    fn incoming_pods_are_counted_by_queue_and_event() {
        let mut q = queue();
        let t0 = Instant::now();
        q.upsert(pod("a", 0), t0);
        q.upsert(gated("g"), t0);
        // a fails to fit: it waits in the pool (no event since it popped).
        assert_eq!(
            fail(&mut q, "a", t0, SchedulingQueue::unschedulable),
            Some(QueueKind::Unschedulable)
        );
        // A node joins after a's backoff: a moves to active.
        let later = t0 + 60 * SEC;
        q.event(ClusterEvent::NodeAdded, later);
        // The gates go: g becomes active.
        q.upsert(pod("g", 0), later);
        let mut got = q.take_incoming();
        got.sort_by_key(|i| (i.event, format!("{:?}", i.queue)));
        let row = |queue, event, count| Incoming {
            queue,
            event,
            count,
        };
        assert_eq!(
            got,
            vec![
                row(QueueKind::Active, "NodeAdd", 1),
                row(QueueKind::Active, "PodAdd", 1),
                row(QueueKind::Gated, "PodAdd", 1),
                row(QueueKind::Active, "PodUpdate", 1),
                row(QueueKind::Unschedulable, "ScheduleAttemptFailure", 1),
            ]
        );
        // Taken once.
        assert!(q.take_incoming().is_empty());
        // A failed bind backs off; the backoff's end moves it on.
        assert_eq!(
            fail(&mut q, "a", later, SchedulingQueue::backoff),
            Some(QueueKind::Backoff)
        );
        q.flush(later + 60 * SEC);
        let got = q.take_incoming();
        assert!(
            got.contains(&row(QueueKind::Backoff, "ScheduleAttemptFailure", 1)),
            "{got:?}"
        );
        assert!(
            got.contains(&row(QueueKind::Active, "BackoffComplete", 1)),
            "{got:?}"
        );
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let default = QueueConfig::default();
        let cases: &[(QueueConfig, u32, Duration)] = &[
            (default, 0, SEC),
            (default, 1, SEC),
            (default, 2, 2 * SEC),
            (default, 3, 4 * SEC),
            (default, 4, 8 * SEC),
            (default, 5, 10 * SEC),
            (default, 6, 10 * SEC),
            (default, u32::MAX, 10 * SEC),
            // Overflow guard: doubling past Duration::MAX stops at the cap.
            (
                QueueConfig {
                    initial_backoff: SEC,
                    max_backoff: Duration::MAX,
                    ..default
                },
                u32::MAX,
                Duration::MAX,
            ),
            (
                QueueConfig {
                    initial_backoff: Duration::ZERO,
                    ..default
                },
                u32::MAX,
                Duration::ZERO,
            ),
            (
                QueueConfig {
                    initial_backoff: 20 * SEC,
                    ..default
                },
                1,
                10 * SEC,
            ),
        ];
        for (config, attempts, want) in cases {
            assert_eq!(config.backoff(*attempts), *want, "{config:?} {attempts}");
        }
    }

    #[test]
    fn config_takes_the_configured_backoffs() {
        let config = SchedulerConfig {
            pod_initial_backoff: 2 * SEC,
            pod_max_backoff: 30 * SEC,
            ..SchedulerConfig::default()
        };
        let q = QueueConfig::from_scheduler_config(&config);
        assert_eq!(q.initial_backoff, 2 * SEC);
        assert_eq!(q.max_backoff, 30 * SEC);
        assert_eq!(q.max_in_unschedulable, DEFAULT_MAX_IN_UNSCHEDULABLE);
        let config = SchedulerConfig {
            pod_max_in_unschedulable: 90 * SEC,
            ..SchedulerConfig::default()
        };
        let q = QueueConfig::from_scheduler_config(&config);
        assert_eq!(q.max_in_unschedulable, 90 * SEC);
    }

    #[test]
    fn pops_by_priority_then_first_come() {
        // (pods added in this order with these priorities, pop order)
        type Case = (&'static [(&'static str, i32)], &'static [&'static str]);
        let cases: &[Case] = &[
            (&[("a", 0), ("b", 0), ("c", 0)], &["a", "b", "c"]),
            (&[("a", 0), ("b", 10), ("c", 5)], &["b", "c", "a"]),
            (
                &[("a", 1), ("b", 2), ("c", 1), ("d", 2), ("e", -5)],
                &["b", "d", "a", "c", "e"],
            ),
            (&[("low", i32::MIN), ("high", i32::MAX)], &["high", "low"]),
        ];
        for (adds, want) in cases {
            let now = Instant::now();
            let mut q = queue();
            for (uid, priority) in *adds {
                assert_eq!(q.upsert(pod(uid, *priority), now), Upsert::Added);
            }
            assert_eq!(drain(&mut q, now), *want, "{adds:?}");
            assert!(q.is_empty());
        }
    }

    #[test]
    fn update_in_place_never_duplicates() {
        let now = Instant::now();
        let mut q = queue();
        for uid in ["a", "b", "c"] {
            q.upsert(pod(uid, 0), now);
        }
        assert_eq!(q.upsert(pod("b", 0), now), Upsert::Unchanged);
        // Same priority, new payload: b keeps its place behind a.
        assert_eq!(q.upsert(with_payload("b", 0, 7), now), Upsert::Updated);
        assert_eq!(q.counts().active, 3);
        // Higher priority: c jumps ahead.
        assert_eq!(q.upsert(with_payload("c", 9, 3), now), Upsert::Updated);
        assert_eq!(q.counts().active, 3);
        let popped: Vec<(String, u32)> = std::iter::from_fn(|| {
            let p = q.pop(now)?;
            q.done(&p.uid);
            Some((p.uid.to_string(), p.payload))
        })
        .collect();
        assert_eq!(popped, [("c".into(), 3), ("a".into(), 0), ("b".into(), 7)]);
        assert!(q.is_empty());
    }

    #[test]
    fn failed_pods_back_off_1_2_4_8_10_10() {
        let start = Instant::now();
        let mut q = queue();
        q.upsert(pod("a", 0), start);
        let mut now = start;
        for (attempt, wait) in [1u32, 2, 4, 8, 10, 10].into_iter().enumerate() {
            let popped = q.pop(now).expect("a is ready");
            assert_eq!(popped.attempts as usize, attempt + 1);
            assert_eq!(popped.first_seen, start);
            assert_eq!(q.backoff("a", now), Some(QueueKind::Backoff));
            let expiry = now + wait * SEC;
            assert_eq!(q.next_wakeup(), Some(expiry), "attempt {}", attempt + 1);
            assert!(q.pop(expiry - Duration::from_millis(1)).is_none());
            assert_eq!(q.counts().backoff, 1);
            now = expiry;
        }
        assert!(q.pop(now).is_some());
    }

    #[test]
    fn unschedulable_pods_wait_for_an_event() {
        // (time from failure to event, where the event sends the pod)
        let cases = [
            (Duration::from_millis(500), QueueKind::Backoff),
            (SEC, QueueKind::Active),
            (30 * SEC, QueueKind::Active),
        ];
        for (after, want) in cases {
            let t0 = Instant::now();
            let mut q = queue();
            q.upsert(pod("a", 0), t0);
            assert_eq!(
                fail(&mut q, "a", t0, SchedulingQueue::unschedulable),
                Some(QueueKind::Unschedulable)
            );
            // Its backoff expiring does not release it.
            assert!(q.pop(t0 + 2 * SEC).is_none());
            assert_eq!(q.kind_of("a"), Some(QueueKind::Unschedulable));
            assert_eq!(q.event(ClusterEvent::NodeAdded, t0 + after), 1);
            assert_eq!(q.kind_of("a"), Some(want), "event after {after:?}");
            // Ready once its 1 s backoff is over, whichever way it went.
            let ready = (t0 + SEC).max(t0 + after);
            assert_eq!(q.pop(ready).map(|p| p.attempts), Some(2));
        }
    }

    #[test]
    fn every_event_kind_moves_unschedulable_pods() {
        let mut labels = HashSet::new();
        for event in ClusterEvent::ALL {
            assert!(labels.insert(event.label()), "{event:?}");
            let t0 = Instant::now();
            let mut q = queue();
            q.upsert(pod("a", 0), t0);
            q.upsert(pod("b", 0), t0);
            fail(&mut q, "a", t0, SchedulingQueue::unschedulable);
            fail(&mut q, "b", t0, SchedulingQueue::unschedulable);
            assert_eq!(q.event(event, t0 + 5 * SEC), 2, "{event:?}");
            assert_eq!(q.counts().active, 2);
        }
    }

    #[test]
    fn only_events_that_may_help_move_an_unschedulable_pod() {
        use score::reason::{Reason, ResourceName};
        use score::symbols::Sym;
        let taint = Reason::UntoleratedTaint {
            key: Sym(0),
            value: Sym(1),
        };
        let memory = Reason::Insufficient {
            resource: ResourceName::Memory,
            exceeds_allocatable: false,
        };
        // (reasons the nodes gave, the events that move the pod)
        let cases: [(Vec<Reason>, Vec<ClusterEvent>); 5] = [
            (
                vec![taint],
                vec![ClusterEvent::NodeAdded, ClusterEvent::NodeTaintsChanged],
            ),
            (
                vec![memory],
                vec![
                    ClusterEvent::NodeAdded,
                    ClusterEvent::NodeAllocatableChanged,
                    ClusterEvent::AssignedPodRemoved,
                    ClusterEvent::PdbChanged,
                ],
            ),
            (
                // Two nodes for two reasons: either kind of event.
                vec![taint, Reason::NoVolumeToBind],
                vec![
                    ClusterEvent::NodeAdded,
                    ClusterEvent::NodeLabelsChanged,
                    ClusterEvent::NodeTaintsChanged,
                    ClusterEvent::StorageChanged,
                ],
            ),
            // Required pod affinity waits for a pod to arrive: any event.
            (vec![Reason::PodAffinity], ClusterEvent::ALL.to_vec()),
            // Rejected before any node (a missing claim), or no nodes at all.
            (vec![], ClusterEvent::ALL.to_vec()),
        ];
        for (reasons, moving) in cases {
            let hints = Hints::for_reasons(&reasons);
            for event in ClusterEvent::ALL {
                let t0 = Instant::now();
                let mut q = queue();
                q.upsert(pod("a", 0), t0);
                q.pop(t0).expect("a is ready");
                // The attempt began before the last event (cycle 0 < 1)...
                q.event(ClusterEvent::NodeAdded, t0);
                q.upsert(pod("b", 0), t0);
                q.pop(t0).expect("b is ready");
                q.done("a");
                // ...so b, reported now, waits in the pool.
                assert_eq!(
                    q.unschedulable_for("b", hints, t0),
                    Some(QueueKind::Unschedulable)
                );
                let want = usize::from(moving.contains(&event));
                assert_eq!(q.event(event, t0 + 5 * SEC), want, "{reasons:?} {event:?}");
                q.check().unwrap();
            }
        }
    }

    #[test]
    fn unschedulable_leftovers_are_flushed_after_five_minutes() {
        let t0 = Instant::now();
        let mut q = queue();
        q.upsert(pod("a", 0), t0);
        q.upsert(pod("b", 0), t0);
        fail(&mut q, "a", t0, SchedulingQueue::unschedulable);
        let t1 = t0 + 60 * SEC;
        fail(&mut q, "b", t1, SchedulingQueue::unschedulable);
        let flush_a = t0 + DEFAULT_MAX_IN_UNSCHEDULABLE;
        assert_eq!(q.next_wakeup(), Some(flush_a));
        assert!(q.pop(flush_a - Duration::from_millis(1)).is_none());
        assert_eq!(q.pop(flush_a).map(|p| p.uid), Some("a".into()));
        assert!(q.pop(flush_a).is_none());
        assert_eq!(q.next_wakeup(), Some(t1 + DEFAULT_MAX_IN_UNSCHEDULABLE));
        assert_eq!(
            q.pop(t1 + DEFAULT_MAX_IN_UNSCHEDULABLE).map(|p| p.uid),
            Some("b".into())
        );
    }

    #[test]
    fn leftover_flush_respects_a_longer_backoff() {
        let config = QueueConfig {
            initial_backoff: 10 * SEC,
            max_backoff: 600 * SEC,
            max_in_unschedulable: 30 * SEC,
        };
        let t0 = Instant::now();
        let mut q = SchedulingQueue::new(config);
        q.upsert(pod("a", 0), t0);
        let mut now = t0;
        // Attempts 1..=3 back off 10, 20, 40 s; the third failure's backoff
        // outlasts the 30 s leftover flush.
        for wait in [10, 20] {
            fail(&mut q, "a", now, SchedulingQueue::backoff);
            now += wait * SEC;
        }
        fail(&mut q, "a", now, SchedulingQueue::unschedulable);
        assert_eq!(q.flush(now + 30 * SEC), 1);
        assert_eq!(q.kind_of("a"), Some(QueueKind::Backoff));
        assert!(q.pop(now + 39 * SEC).is_none());
        assert!(q.pop(now + 40 * SEC).is_some());
    }

    #[test]
    fn an_event_during_the_attempt_skips_the_pool() {
        // (event before the pop, event while in flight, expected place)
        let cases = [
            (false, false, QueueKind::Unschedulable),
            (true, false, QueueKind::Unschedulable),
            (false, true, QueueKind::Backoff),
            (true, true, QueueKind::Backoff),
        ];
        for (before, during, want) in cases {
            let t0 = Instant::now();
            let mut q = queue();
            q.upsert(pod("a", 0), t0);
            if before {
                q.event(ClusterEvent::NodeAdded, t0);
            }
            q.pop(t0).expect("a is ready");
            if during {
                q.event(ClusterEvent::AssignedPodRemoved, t0);
            }
            assert_eq!(
                q.unschedulable("a", t0),
                Some(want),
                "before {before}, during {during}"
            );
        }
    }

    #[test]
    fn an_event_during_an_earlier_pods_attempt_counts_for_it() {
        let t0 = Instant::now();
        let mut q = queue();
        q.upsert(pod("a", 0), t0);
        q.upsert(pod("b", 0), t0);
        q.pop(t0).expect("a");
        q.event(ClusterEvent::NodeAdded, t0);
        q.pop(t0).expect("b");
        // a was in flight when the event came; b was popped after it.
        assert_eq!(q.unschedulable("a", t0), Some(QueueKind::Backoff));
        assert_eq!(q.unschedulable("b", t0), Some(QueueKind::Unschedulable));
    }

    #[test]
    fn an_update_during_the_attempt_skips_the_pool_and_is_kept() {
        let t0 = Instant::now();
        let mut q = queue();
        q.upsert(pod("a", 0), t0);
        q.pop(t0).expect("a");
        assert_eq!(q.upsert(with_payload("a", 3, 42), t0), Upsert::Updated);
        assert_eq!(q.kind_of("a"), Some(QueueKind::InFlight));
        assert_eq!(q.counts().total(), 1);
        assert_eq!(q.unschedulable("a", t0), Some(QueueKind::Backoff));
        let again = q.pop(t0 + SEC).expect("a after its backoff");
        assert_eq!((again.priority, again.payload), (3, 42));
        // An unchanged update while in flight leaves the normal path.
        assert_eq!(q.upsert(with_payload("a", 3, 42), t0), Upsert::Unchanged);
        assert_eq!(q.unschedulable("a", t0), Some(QueueKind::Unschedulable));
    }

    #[test]
    fn updates_release_unschedulable_pods_only_when_they_change() {
        let t0 = Instant::now();
        let mut q = queue();
        q.upsert(pod("a", 0), t0);
        fail(&mut q, "a", t0, SchedulingQueue::unschedulable);
        assert_eq!(q.upsert(pod("a", 0), t0 + 2 * SEC), Upsert::Unchanged);
        assert_eq!(q.kind_of("a"), Some(QueueKind::Unschedulable));
        assert_eq!(
            q.upsert(with_payload("a", 0, 1), t0 + 2 * SEC),
            Upsert::Updated
        );
        assert_eq!(q.kind_of("a"), Some(QueueKind::Active));
    }

    #[test]
    fn gated_pods_wait_for_their_gates_to_go() {
        let t0 = Instant::now();
        let mut q = queue();
        q.upsert(gated("g"), t0);
        q.upsert(pod("a", 0), t0);
        assert_eq!(q.counts().gated, 1);
        assert_eq!(drain(&mut q, t0), ["a"]);
        q.event(ClusterEvent::NodeAdded, t0);
        assert!(q.pop(t0 + DEFAULT_MAX_IN_UNSCHEDULABLE * 2).is_none());
        assert_eq!(q.next_wakeup(), None);
        assert_eq!(q.upsert(gated("g"), t0), Upsert::Unchanged);
        assert_eq!(q.kind_of("g"), Some(QueueKind::Gated));
        assert_eq!(q.upsert(pod("g", 0), t0), Upsert::Updated);
        assert_eq!(
            q.counts(),
            QueueCounts {
                active: 1,
                ..QueueCounts::default()
            }
        );
        assert_eq!(drain(&mut q, t0), ["g"]);
    }

    #[test]
    fn a_gated_update_moves_a_queued_pod_to_gated() {
        for start in [
            QueueKind::Active,
            QueueKind::Backoff,
            QueueKind::Unschedulable,
        ] {
            let t0 = Instant::now();
            let mut q = queue();
            q.upsert(pod("a", 0), t0);
            match start {
                QueueKind::Backoff => {
                    fail(&mut q, "a", t0, SchedulingQueue::backoff);
                }
                QueueKind::Unschedulable => {
                    fail(&mut q, "a", t0, SchedulingQueue::unschedulable);
                }
                _ => {}
            }
            assert_eq!(q.kind_of("a"), Some(start));
            q.upsert(gated("a"), t0);
            assert_eq!(q.kind_of("a"), Some(QueueKind::Gated), "from {start:?}");
            q.check().unwrap();
        }
    }

    #[test]
    fn delete_removes_a_pod_from_anywhere() {
        let t0 = Instant::now();
        let mut q = queue();
        q.upsert(pod("active", 0), t0);
        q.upsert(pod("backoff", 1), t0);
        q.upsert(pod("pool", 2), t0);
        q.upsert(gated("gated"), t0);
        fail(&mut q, "pool", t0, SchedulingQueue::unschedulable);
        fail(&mut q, "backoff", t0, SchedulingQueue::backoff);
        assert_eq!(
            q.counts(),
            QueueCounts {
                active: 1,
                backoff: 1,
                unschedulable: 1,
                gated: 1,
                in_flight: 0
            }
        );
        for uid in ["active", "backoff", "pool", "gated"] {
            assert!(q.delete(uid), "{uid}");
            assert!(!q.delete(uid), "{uid} twice");
            q.check().unwrap();
        }
        assert!(q.is_empty());
        assert_eq!(q.counts(), QueueCounts::default());
        assert!(q.pop(t0 + DEFAULT_MAX_IN_UNSCHEDULABLE).is_none());
    }

    #[test]
    fn a_pod_deleted_in_flight_is_not_resurrected() {
        // Reports the attempt; whether the queue took the pod back.
        type Report = fn(&mut SchedulingQueue<u32>, &str, Instant) -> bool;
        let reports: [(&str, Report); 3] = [
            ("done", |q, uid, _| q.done(uid)),
            ("unschedulable", |q, uid, now| {
                q.unschedulable(uid, now).is_some()
            }),
            ("backoff", |q, uid, now| q.backoff(uid, now).is_some()),
        ];
        for (name, report) in reports {
            let t0 = Instant::now();
            let mut q = queue();
            q.upsert(pod("a", 0), t0);
            q.pop(t0).expect("a");
            assert!(q.delete("a"));
            assert_eq!(q.counts().in_flight, 1, "{name}");
            let requeued = report(&mut q, "a", t0);
            assert!(!requeued || name == "done", "{name}");
            assert!(q.is_empty(), "{name}");
            q.event(ClusterEvent::NodeAdded, t0);
            assert!(q.pop(t0 + DEFAULT_MAX_IN_UNSCHEDULABLE).is_none(), "{name}");
        }
    }

    #[test]
    fn a_pod_deleted_and_readded_in_flight_comes_back() {
        let t0 = Instant::now();
        let mut q = queue();
        q.upsert(pod("a", 0), t0);
        q.pop(t0).expect("a");
        q.delete("a");
        assert_eq!(q.upsert(pod("a", 0), t0), Upsert::Added);
        assert_eq!(q.counts().total(), 1);
        assert_eq!(q.unschedulable("a", t0), Some(QueueKind::Backoff));
        assert!(q.pop(t0 + SEC).is_some());
    }

    #[test]
    fn reports_for_pods_not_in_flight_are_ignored() {
        let t0 = Instant::now();
        let mut q = queue();
        q.upsert(pod("a", 0), t0);
        assert!(!q.done("a"));
        assert_eq!(q.unschedulable("a", t0), None);
        assert_eq!(q.backoff("a", t0), None);
        assert!(!q.done("unknown"));
        assert_eq!(q.unschedulable("unknown", t0), None);
        assert_eq!(q.kind_of("a"), Some(QueueKind::Active));
        assert_eq!(q.counts().total(), 1);
        q.check().unwrap();
    }

    #[test]
    fn retried_pods_queue_behind_waiting_pods_of_their_priority() {
        let t0 = Instant::now();
        let mut q = queue();
        q.upsert(pod("a", 0), t0);
        fail(&mut q, "a", t0, SchedulingQueue::backoff);
        q.upsert(pod("b", 0), t0);
        q.upsert(pod("c", 1), t0 + SEC);
        assert_eq!(drain(&mut q, t0 + SEC), ["c", "b", "a"]);
    }

    #[test]
    fn deadlines_that_do_not_fit_an_instant_never_fire() {
        let config = QueueConfig {
            initial_backoff: Duration::MAX,
            max_backoff: Duration::MAX,
            max_in_unschedulable: Duration::MAX,
        };
        let t0 = Instant::now();
        let mut q = SchedulingQueue::new(config);
        q.upsert(pod("a", 0), t0);
        q.upsert(pod("b", 0), t0);
        fail(&mut q, "a", t0, SchedulingQueue::backoff);
        fail(&mut q, "b", t0, SchedulingQueue::unschedulable);
        assert!(q.next_wakeup().is_some_and(|at| at > t0 + FAR_FUTURE / 2));
        assert!(q.pop(t0 + 3600 * SEC).is_none());
        q.check().unwrap();
    }

    /// What the model says about one pod.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    enum Model {
        Waiting { gated: bool },
        InFlight { deleted: bool, gated: bool },
    }

    /// Random operations against the queue and a model of what must hold:
    /// every added, not-deleted pod is in exactly one place, pods in flight
    /// are exactly the ones popped and not reported, and in the end every
    /// pod that is not gated pops.
    fn random_run(seed: u64, steps: usize) {
        let mut rng = SplitMix64::new(seed);
        let config = QueueConfig {
            initial_backoff: SEC,
            max_backoff: 10 * SEC,
            max_in_unschedulable: 60 * SEC,
        };
        let mut q = SchedulingQueue::new(config);
        let mut model: HashMap<String, Model> = HashMap::new();
        let mut now = Instant::now();
        let mut next_uid = 0u64;
        let uid_of = |n: u64| format!("pod-{n}");
        for step in 0..steps {
            let pick_uid = |rng: &mut SplitMix64, next_uid: u64| -> String {
                // Any pod so far, including deleted ones, or one not seen
                // yet.
                uid_of(rng.below(next_uid + 1))
            };
            match rng.below(10) {
                // Add a new pod, or upsert a random (possibly unknown,
                // possibly deleted) one.
                0..=2 => {
                    let uid = if rng.below(3) < 2 {
                        next_uid += 1;
                        uid_of(next_uid - 1)
                    } else {
                        pick_uid(&mut rng, next_uid)
                    };
                    let is_gated = rng.chance(1, 4);
                    let p = PendingPod {
                        gated: is_gated,
                        ..with_payload(&uid, rng.below(3) as i32, rng.below(3) as u32)
                    };
                    q.upsert(p, now);
                    let state = match model.get(&uid) {
                        Some(Model::InFlight { .. }) => Model::InFlight {
                            deleted: false,
                            gated: is_gated,
                        },
                        _ => Model::Waiting { gated: is_gated },
                    };
                    model.insert(uid, state);
                }
                3 => {
                    let uid = pick_uid(&mut rng, next_uid);
                    let known = q.delete(&uid);
                    assert_eq!(known, model.contains_key(&uid), "seed {seed} step {step}");
                    match model.get(&uid).copied() {
                        Some(Model::InFlight { gated, .. }) => {
                            model.insert(
                                uid,
                                Model::InFlight {
                                    deleted: true,
                                    gated,
                                },
                            );
                        }
                        Some(Model::Waiting { .. }) => {
                            model.remove(&uid);
                        }
                        None => {}
                    }
                }
                4 | 5 => {
                    if let Some(p) = q.pop(now) {
                        let uid = p.uid.to_string();
                        match model.get(&uid) {
                            Some(Model::Waiting { gated: false }) => {}
                            other => panic!("seed {seed} step {step}: popped {uid} in {other:?}"),
                        }
                        model.insert(
                            uid,
                            Model::InFlight {
                                deleted: false,
                                gated: false,
                            },
                        );
                    }
                }
                6 => {
                    let in_flight: Vec<String> = {
                        let mut v: Vec<String> = model
                            .iter()
                            .filter(|(_, m)| matches!(m, Model::InFlight { .. }))
                            .map(|(u, _)| u.clone())
                            .collect();
                        v.sort();
                        v
                    };
                    if in_flight.is_empty() {
                        continue;
                    }
                    let uid = in_flight[rng.below(in_flight.len() as u64) as usize].clone();
                    let Some(Model::InFlight { deleted, gated }) = model.get(&uid).copied() else {
                        unreachable!()
                    };
                    let went = match rng.below(3) {
                        0 => {
                            assert!(q.done(&uid));
                            model.remove(&uid);
                            continue;
                        }
                        1 => q.unschedulable(&uid, now),
                        _ => q.backoff(&uid, now),
                    };
                    if deleted {
                        assert_eq!(went, None, "seed {seed} step {step}");
                        model.remove(&uid);
                    } else {
                        let went = went.expect("a live pod in flight is requeued");
                        assert_eq!(went == QueueKind::Gated, gated, "seed {seed} step {step}");
                        model.insert(uid, Model::Waiting { gated });
                    }
                }
                7 => {
                    q.event(ClusterEvent::NodeAdded, now);
                }
                8 => now += Duration::from_millis(rng.below(5_000)),
                _ => {
                    q.flush(now);
                }
            }
            if let Err(e) = q.check() {
                panic!("seed {seed} step {step}: {e}");
            }
            assert_eq!(q.len(), model.len(), "seed {seed} step {step}");
            for (uid, m) in &model {
                let kind = q.kind_of(uid);
                let ok = match m {
                    Model::InFlight { .. } => kind == Some(QueueKind::InFlight),
                    Model::Waiting { gated: true } => kind == Some(QueueKind::Gated),
                    Model::Waiting { gated: false } => matches!(
                        kind,
                        Some(QueueKind::Active | QueueKind::Backoff | QueueKind::Unschedulable)
                    ),
                };
                assert!(
                    ok,
                    "seed {seed} step {step}: {uid} is {kind:?}, model {m:?}"
                );
            }
        }

        // Wind down: report everything in flight as unschedulable; then,
        // with time and one event, every live pod that is not gated pops
        // exactly once more.
        let in_flight: Vec<String> = model
            .iter()
            .filter(|(_, m)| matches!(m, Model::InFlight { .. }))
            .map(|(u, _)| u.clone())
            .collect();
        for uid in in_flight {
            let went = q.unschedulable(&uid, now);
            match model[&uid] {
                Model::InFlight { deleted: true, .. } => {
                    assert_eq!(went, None);
                    model.remove(&uid);
                }
                Model::InFlight { gated, .. } => {
                    model.insert(uid, Model::Waiting { gated });
                }
                Model::Waiting { .. } => unreachable!(),
            }
        }
        now += 20 * SEC;
        q.event(ClusterEvent::AssignedPodRemoved, now);
        now += 20 * SEC;
        let popped = drain(&mut q, now);
        let unique: HashSet<&String> = popped.iter().collect();
        assert_eq!(unique.len(), popped.len(), "seed {seed}: popped twice");
        let want: HashSet<&String> = model
            .iter()
            .filter(|(_, m)| **m == Model::Waiting { gated: false })
            .map(|(u, _)| u)
            .collect();
        assert_eq!(unique, want, "seed {seed}");
        assert_eq!(q.counts().gated, q.len(), "seed {seed}");
        assert_eq!(q.next_wakeup(), None, "seed {seed}");
    }

    #[test]
    fn random_operations_never_lose_a_pod() {
        for seed in 0..300 {
            random_run(seed, 400);
        }
    }

    #[test]
    fn the_leftover_flush_alone_releases_everything() {
        // Without any event, time alone must empty the pool and backoff.
        let t0 = Instant::now();
        let mut q = queue();
        for i in 0..20 {
            q.upsert(pod(&format!("p{i}"), i % 3), t0);
        }
        let mut now = t0;
        for i in 0..20 {
            let p = q.pop(now).expect("ready");
            if i % 2 == 0 {
                q.unschedulable(&p.uid, now);
            } else {
                q.backoff(&p.uid, now);
            }
            now += SEC;
        }
        while let Some(at) = q.next_wakeup() {
            now = now.max(at);
            drain(&mut q, now);
        }
        assert!(q.is_empty());
    }

    fn shared() -> SharedQueue<u32> {
        SharedQueue::new(QueueConfig::default())
    }

    /// The task's result; fails instead of hanging when a wakeup is lost
    /// (paused time jumps to the timeout once every task is idle).
    async fn within_an_hour<R>(task: tokio::task::JoinHandle<R>) -> R {
        match tokio::time::timeout(3600 * SEC, task).await {
            Ok(joined) => joined.expect("the task does not panic"),
            Err(_) => panic!("the waiter was never woken"),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn async_pop_wakes_on_add() {
        let q = shared();
        let waiter = tokio::spawn({
            let q = q.clone();
            async move { q.pop().await }
        });
        // Let the waiter block first.
        tokio::time::sleep(SEC).await;
        assert!(!waiter.is_finished());
        let t = Instant::now();
        q.upsert(pod("a", 0));
        let popped = within_an_hour(waiter).await.expect("a pod");
        assert_eq!(&*popped.uid, "a");
        assert_eq!(Instant::now(), t, "woken without waiting for time");
        assert_eq!(q.counts().in_flight, 1);
    }

    #[tokio::test(start_paused = true)]
    async fn async_pop_wakes_when_a_backoff_expires() {
        let q = shared();
        q.upsert(pod("a", 0));
        let first = q.pop().await.expect("a");
        assert_eq!(q.backoff(&first.uid), Some(QueueKind::Backoff));
        let t = Instant::now();
        // Paused time auto-advances to the backoff expiry.
        let second = q.pop().await.expect("a again");
        assert_eq!(Instant::now() - t, SEC);
        assert_eq!(second.attempts, 2);
        assert_eq!(q.backoff(&second.uid), Some(QueueKind::Backoff));
        let t = Instant::now();
        q.pop().await.expect("a a third time");
        assert_eq!(Instant::now() - t, 2 * SEC);
    }

    #[tokio::test(start_paused = true)]
    async fn async_pop_wakes_on_an_event() {
        let q = shared();
        q.upsert(pod("a", 0));
        let first = q.pop().await.expect("a");
        assert_eq!(q.unschedulable(&first.uid), Some(QueueKind::Unschedulable));
        let waiter = tokio::spawn({
            let q = q.clone();
            async move { q.pop().await }
        });
        tokio::time::sleep(30 * SEC).await;
        assert!(!waiter.is_finished(), "an unschedulable pod waits");
        let t = Instant::now();
        assert_eq!(q.event(ClusterEvent::NodeAdded), 1);
        within_an_hour(waiter).await.expect("a after the event");
        assert_eq!(Instant::now(), t);
    }

    #[tokio::test(start_paused = true)]
    async fn async_pop_wakes_for_a_deadline_earlier_than_the_one_it_sleeps_to() {
        let q = shared();
        q.upsert(pod("a", 0));
        q.upsert(pod("b", 0));
        let a = q.pop().await.expect("a");
        let b = q.pop().await.expect("b");
        // a's leftover flush, five minutes away, is the only deadline.
        q.unschedulable(&a.uid);
        let waiter = tokio::spawn({
            let q = q.clone();
            async move {
                let popped = q.pop().await;
                (popped, Instant::now())
            }
        });
        tokio::time::sleep(SEC).await;
        assert!(!waiter.is_finished());
        // b's 1 s backoff comes long before a's flush.
        let t = Instant::now();
        assert_eq!(q.backoff(&b.uid), Some(QueueKind::Backoff));
        let (popped, at) = waiter.await.unwrap();
        assert_eq!(popped.map(|p| p.uid), Some("b".into()));
        assert_eq!(at - t, SEC);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_producers_and_consumers_lose_nothing() {
        const PRODUCERS: usize = 4;
        const PODS: usize = 500;
        let q = shared();
        let producers: Vec<_> = (0..PRODUCERS)
            .map(|p| {
                let q = q.clone();
                tokio::spawn(async move {
                    for i in 0..PODS {
                        q.upsert(pod(&format!("p{p}-{i}"), (i % 4) as i32));
                        tokio::task::yield_now().await;
                    }
                })
            })
            .collect();
        let consumers: Vec<_> = (0..2)
            .map(|_| {
                let q = q.clone();
                tokio::spawn(async move {
                    let mut got = Vec::new();
                    while let Some(p) = q.pop().await {
                        assert!(q.done(&p.uid));
                        got.push(p.uid);
                    }
                    got
                })
            })
            .collect();
        for producer in producers {
            producer.await.unwrap();
        }
        let all_popped = async {
            while q.counts().total() > 0 {
                tokio::task::yield_now().await;
            }
        };
        tokio::time::timeout(10 * SEC, all_popped)
            .await
            .expect("every pod is popped");
        q.close();
        let mut seen = HashSet::new();
        for consumer in consumers {
            for uid in consumer.await.unwrap() {
                assert!(seen.insert(uid), "popped twice");
            }
        }
        assert_eq!(seen.len(), PRODUCERS * PODS);
    }

    #[tokio::test(start_paused = true)]
    async fn close_ends_pop() {
        let q = shared();
        q.upsert(gated("g"));
        let waiter = tokio::spawn({
            let q = q.clone();
            async move { q.pop().await }
        });
        tokio::time::sleep(SEC).await;
        q.close();
        assert!(within_an_hour(waiter).await.is_none());
        assert!(q.is_closed());
        q.upsert(pod("a", 0));
        assert!(q.pop().await.is_none(), "closed stays closed");
    }
}
