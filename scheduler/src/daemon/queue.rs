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
//!   [`ClusterEvent`] that might change that, or for the leftover flush
//!   (5 minutes) that retries them anyway;
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
    /// The backoffs from a loaded configuration, and the default leftover
    /// flush (the configuration does not carry
    /// `podMaxInUnschedulablePodsDuration`).
    pub fn from_scheduler_config(config: &SchedulerConfig) -> Self {
        QueueConfig {
            initial_backoff: config.pod_initial_backoff,
            max_backoff: config.pod_max_backoff,
            max_in_unschedulable: DEFAULT_MAX_IN_UNSCHEDULABLE,
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
    /// A pod bound to some node was deleted or finished, freeing room.
    AssignedPodRemoved,
    /// A PodDisruptionBudget was added, changed or deleted.
    PdbChanged,
}

impl ClusterEvent {
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
        }
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
                    payload,
                    place,
                },
            );
            self.link(uid, place, now);
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
            Place::Active if gated => self.relink(&uid, Place::Gated, now),
            Place::Active => {
                self.active
                    .change_priority_by(&uid, |rank| rank.priority = priority);
            }
            Place::Backoff if gated => self.relink(&uid, Place::Gated, now),
            Place::Backoff => {}
            Place::Unschedulable | Place::Gated if changed => {
                let target = self.target_after_wait(&uid, now);
                self.relink(&uid, target, now);
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

    /// A cluster change: every unschedulable pod moves on (to backoff if its
    /// backoff has not expired, else active), and pods in flight now will
    /// not wait in the unschedulable pool if their attempt fails. Returns
    /// how many pods moved.
    pub fn event(&mut self, event: ClusterEvent, now: Instant) -> usize {
        self.move_request_cycle = self.cycle;
        let waiting = std::mem::replace(&mut self.unschedulable, PriorityQueue::new());
        let moved = waiting.len();
        for (uid, _) in waiting {
            self.place_after_wait(uid, now);
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
                moved += 1;
            }
        }
        while let Some((_, Reverse((flush_at, _)))) = self.unschedulable.peek() {
            if *flush_at > now {
                break;
            }
            if let Some((uid, _)) = self.unschedulable.pop() {
                self.place_after_wait(uid, now);
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
    fn place_after_wait(&mut self, uid: Box<str>, now: Instant) {
        let target = self.target_after_wait(&uid, now);
        self.set_place(&uid, target);
        self.link(uid, target, now);
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
            // Registered before looking at the queue, so a change made
            // between the look and the wait still wakes this call.
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
        let target = self.lock().queue.unschedulable(uid, Instant::now());
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
