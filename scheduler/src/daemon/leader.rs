//! Leader election on a `coordination.k8s.io/v1` Lease, with client-go's semantics.
//!
//! z2jh runs two scheduler replicas; only the holder of the Lease schedules. The Lease is read
//! and written exactly as client-go's `LeaseLock` does (holderIdentity, leaseDurationSeconds,
//! acquireTime, renewTime, leaseTransitions), so a rolling swap from a running kube-scheduler
//! to this program waits for the old leader's lease instead of fighting it.
//!
//! Semantics, as in client-go's `tryAcquireOrRenew`:
//! - Every write is a create or a replace carrying the `resourceVersion` that was read, so of
//!   two candidates racing for the same lease exactly one wins (409 Conflict = lost the race).
//! - A lease held by someone else counts as expired `leaseDurationSeconds` after **this**
//!   process last saw the record change, by the local monotonic clock. The remote timestamps
//!   are never compared with the local clock, so clock skew between nodes cannot make two
//!   replicas lead at once.
//! - The leader renews every retry period; if it gets no successful renewal within the renew
//!   deadline (counted from the start of the last successful write) it steps down at once.
//!   Others wait the full lease duration from the moment they saw that write, which is later,
//!   and the lease duration exceeds the renew deadline, so the old leader has stopped before
//!   anyone else can start.
//! - On shutdown the leader releases the lease (empty holder, duration 1 s, as client-go's
//!   `ReleaseOnCancel`), so the standby takes over at its next retry instead of waiting.

use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::Timestamp;
use kube::Api;
use kube::api::PostParams;
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, info, warn};

/// client-go's `JitterFactor`: candidates wait `retry × (1 + 1.2 × random)` between attempts
/// to acquire, so that replicas started together do not keep colliding.
const JITTER_FACTOR: f64 = crate::config::LEADER_JITTER_FACTOR;

/// Errors of leader election.
#[derive(Debug, thiserror::Error)]
pub enum LeaderError {
    /// The configuration cannot give safe leader election.
    #[error("invalid leader election configuration: {0}")]
    Config(String),
    /// A request to the API server failed (other than losing a race).
    #[error("lease {lease}: {source}")]
    Api {
        /// `namespace/name` of the lease.
        lease: String,
        /// The client error.
        source: kube::Error,
    },
    /// A request did not complete in time.
    #[error("lease {lease}: request timed out")]
    Timeout {
        /// `namespace/name` of the lease.
        lease: String,
    },
    /// The leader lost the lease; it has stopped leading.
    #[error("leader election lost: lease {lease}: {reason}")]
    Lost {
        /// `namespace/name` of the lease.
        lease: String,
        /// Why: not renewed in time, or taken by another holder.
        reason: String,
    },
}

/// Where the lease lives, who we are, and client-go's three timings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaderElectionConfig {
    /// Namespace of the Lease (z2jh: the release namespace).
    pub namespace: String,
    /// Name of the Lease (z2jh: `user-scheduler-lock`, with the chart's name prefix).
    pub name: String,
    /// Our holder identity; see [`default_identity`].
    pub identity: String,
    /// How long a lease is valid after others last saw it change; whole seconds go on the
    /// wire (`leaseDurationSeconds`). Default 15 s.
    pub lease_duration: Duration,
    /// How long the leader keeps leading without a successful renewal. Default 10 s.
    pub renew_deadline: Duration,
    /// Interval between attempts to acquire or renew. Default 2 s.
    pub retry_period: Duration,
}

impl LeaderElectionConfig {
    /// The lease `namespace/name` with kube-scheduler's default timings (15 s / 10 s / 2 s)
    /// and [`default_identity`].
    pub fn new(namespace: impl Into<String>, name: impl Into<String>) -> Self {
        Self {
            namespace: namespace.into(),
            name: name.into(),
            identity: default_identity(),
            lease_duration: Duration::from_secs(15),
            renew_deadline: Duration::from_secs(10),
            retry_period: Duration::from_secs(2),
        }
    }

    /// The lease and timings of a configuration file's `leaderElection`, with
    /// [`default_identity`]. Whether election is enabled at all (`leaderElect`) is the
    /// caller's choice between [`LeaderElector::new`] and [`LeaderElector::disabled`].
    pub fn from_config(le: &crate::config::LeaderElection) -> Self {
        Self {
            lease_duration: le.lease_duration,
            renew_deadline: le.renew_deadline,
            retry_period: le.retry_period,
            ..Self::new(&le.resource_namespace, &le.resource_name)
        }
    }

    /// Checks client-go's constraints, plus one of ours: the duration written to the lease
    /// (whole seconds, truncated as client-go does) must still exceed the renew deadline,
    /// because other candidates time the lease by the written value.
    pub fn validate(&self) -> Result<(), LeaderError> {
        let fail = |m: String| Err(LeaderError::Config(m));
        if self.identity.is_empty() {
            return fail("the holder identity is empty".into());
        }
        if self.namespace.is_empty() || self.name.is_empty() {
            return fail("the lease namespace and name must not be empty".into());
        }
        let timings = crate::config::LeaderElection {
            lease_duration: self.lease_duration,
            renew_deadline: self.renew_deadline,
            retry_period: self.retry_period,
            ..crate::config::LeaderElection::default()
        };
        if let Err((field, message)) = timings.check_timings() {
            return fail(format!("{field}: {message}"));
        }
        Ok(())
    }

    fn lease_duration_seconds(&self) -> i32 {
        // validate() guarantees it fits.
        i32::try_from(self.lease_duration.as_secs()).unwrap_or(i32::MAX)
    }
}

/// kube-scheduler's identity: `<hostname>_<random UUID>`, unique per process start so a
/// restarted pod never mistakes its predecessor's lease for its own.
pub fn default_identity() -> String {
    let host = hostname::get()
        .ok()
        .and_then(|h| h.into_string().ok())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "user-scheduler".to_owned());
    format!("{host}_{}", random_uuid())
}

/// A version-4 UUID; falls back to time and process id if the OS has no randomness to give,
/// which still keeps identities of concurrent processes apart.
fn random_uuid() -> String {
    let mut b = [0u8; 16];
    if getrandom::fill(&mut b).is_err() {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        b[..12].copy_from_slice(&nanos.to_le_bytes()[..12]);
        b[12..].copy_from_slice(&std::process::id().to_le_bytes());
    }
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

/// What one attempt to acquire or renew did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Round {
    /// We became the holder (created the lease or took a free or expired one).
    Acquired,
    /// We were the holder and renewed.
    Renewed,
    /// Another holder's lease has not expired yet.
    HeldBy {
        /// The current holder.
        holder: String,
    },
    /// Our write carried a stale `resourceVersion` (409): someone else wrote first.
    LostRace,
}

/// The lease record as last seen, and when (local monotonic clock) it was seen to change.
#[derive(Clone, Debug)]
struct Observed {
    spec: LeaseSpec,
    at: Instant,
}

impl Observed {
    /// Records `spec` as seen at `now`; the time moves only when the record changed, which is
    /// what makes an unrenewed lease expire.
    fn observe(previous: Option<Observed>, spec: &LeaseSpec, now: Instant) -> Observed {
        match previous {
            Some(p) if p.spec == *spec => p,
            _ => Observed {
                spec: spec.clone(),
                at: now,
            },
        }
    }

    fn holder(&self) -> &str {
        self.spec.holder_identity.as_deref().unwrap_or("")
    }

    /// Whether the holder's lease is still valid at `now`; a missing or negative duration
    /// (bad cluster data) counts as expired.
    fn valid_at(&self, now: Instant) -> bool {
        let secs = self.spec.lease_duration_seconds.unwrap_or(0).max(0);
        self.at + Duration::from_secs(secs.unsigned_abs().into()) > now
    }
}

/// What to do with the lease as read.
#[derive(Clone, Debug, PartialEq)]
enum Plan {
    /// Another holder's lease is valid: wait.
    Wait { holder: String },
    /// Write this spec (`acquired`: we were not the holder before).
    Write { spec: LeaseSpec, acquired: bool },
}

/// client-go's decision on a lease that exists (`observed` is its record, already observed).
fn plan(observed: &Observed, now: Instant, wall: Timestamp, me: &str, lease_secs: i32) -> Plan {
    let holder = observed.holder();
    let mine = holder == me;
    if !holder.is_empty() && !mine && observed.valid_at(now) {
        return Plan::Wait {
            holder: holder.to_owned(),
        };
    }
    let mut spec = observed.spec.clone();
    spec.holder_identity = Some(me.to_owned());
    spec.lease_duration_seconds = Some(lease_secs);
    spec.renew_time = Some(MicroTime(wall));
    if mine {
        // Keep acquireTime and the transition count of our tenure.
        spec.acquire_time = spec.acquire_time.or(Some(MicroTime(wall)));
        spec.lease_transitions = Some(spec.lease_transitions.unwrap_or(0));
    } else {
        spec.acquire_time = Some(MicroTime(wall));
        spec.lease_transitions = Some(spec.lease_transitions.unwrap_or(0).saturating_add(1));
    }
    Plan::Write {
        spec,
        acquired: !mine,
    }
}

/// The record of a lease nobody has held yet.
fn new_record(me: &str, wall: Timestamp, lease_secs: i32) -> LeaseSpec {
    LeaseSpec {
        holder_identity: Some(me.to_owned()),
        lease_duration_seconds: Some(lease_secs),
        acquire_time: Some(MicroTime(wall)),
        renew_time: Some(MicroTime(wall)),
        lease_transitions: Some(0),
        ..LeaseSpec::default()
    }
}

/// The record client-go's `release` writes: no holder, a 1 s duration, transitions kept.
fn released_record(current: &LeaseSpec, wall: Timestamp) -> LeaseSpec {
    LeaseSpec {
        holder_identity: Some(String::new()),
        lease_duration_seconds: Some(1),
        acquire_time: Some(MicroTime(wall)),
        renew_time: Some(MicroTime(wall)),
        ..current.clone()
    }
}

fn is_conflict(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 409)
}

/// A candidate for the lease. Subscribe to [`LeaderElector::subscribe`] for the "is leader"
/// signal, then drive it with [`LeaderElector::run`].
#[derive(Debug)]
pub struct LeaderElector {
    /// `None` when leader election is disabled.
    api: Option<Api<Lease>>,
    config: LeaderElectionConfig,
    /// `namespace/name`, for messages.
    desc: String,
    observed: Option<Observed>,
    /// The lease object last read or written; its `resourceVersion` guards the next write.
    lease: Option<Lease>,
    leader: watch::Sender<bool>,
}

impl LeaderElector {
    /// A candidate for the lease described by `config` (validated here).
    pub fn new(client: kube::Client, config: LeaderElectionConfig) -> Result<Self, LeaderError> {
        config.validate()?;
        Ok(Self {
            api: Some(Api::namespaced(client, &config.namespace)),
            desc: format!("{}/{}", config.namespace, config.name),
            config,
            observed: None,
            lease: None,
            leader: watch::Sender::new(false),
        })
    }

    /// Leader election disabled (`--leader-elect=false`): [`LeaderElector::run`] leads at once
    /// and until shutdown without touching any lease.
    pub fn disabled() -> Self {
        Self {
            api: None,
            desc: String::new(),
            config: LeaderElectionConfig {
                identity: String::new(),
                ..LeaderElectionConfig::new("", "")
            },
            observed: None,
            lease: None,
            leader: watch::Sender::new(false),
        }
    }

    /// The "is leader" signal: true exactly while this process may schedule.
    pub fn subscribe(&self) -> watch::Receiver<bool> {
        self.leader.subscribe()
    }

    /// Whether this process leads now.
    pub fn is_leader(&self) -> bool {
        *self.leader.borrow()
    }

    /// Our holder identity (empty when leader election is disabled).
    pub fn identity(&self) -> &str {
        &self.config.identity
    }

    fn set_leader(&self, leader: bool) {
        self.leader
            .send_if_modified(|l| std::mem::replace(l, leader) != leader);
    }

    fn api_error(&self, source: kube::Error) -> LeaderError {
        LeaderError::Api {
            lease: self.desc.clone(),
            source,
        }
    }

    /// Runs the election until `shutdown` is cancelled or leadership is lost.
    ///
    /// Campaigns every retry period (with client-go's jitter) until it acquires the lease,
    /// then renews every retry period. Returns `Ok(())` on shutdown, after releasing the
    /// lease if held: cancel `shutdown` only once in-flight binds are done, since the standby
    /// starts scheduling right after the release. Returns [`LeaderError::Lost`] when a renewal
    /// did not succeed within the renew deadline or another holder took the lease; the "is
    /// leader" signal is already false then. kube-scheduler exits in that case; calling `run`
    /// again stands for election again.
    pub async fn run(&mut self, shutdown: CancellationToken) -> Result<(), LeaderError> {
        if self.api.is_none() {
            info!("leader election is disabled; leading at once");
            self.set_leader(true);
            shutdown.cancelled().await;
            self.set_leader(false);
            return Ok(());
        }
        info!(
            lease = %self.desc,
            identity = %self.config.identity,
            "attempting to acquire leader lease {}...", self.desc
        );
        let mut last_renew = loop {
            let start = Instant::now();
            match tokio::time::timeout(self.config.renew_deadline, self.try_acquire_or_renew())
                .await
            {
                Ok(Ok(Round::Acquired | Round::Renewed)) => break start,
                Ok(Ok(Round::HeldBy { holder })) => {
                    debug!(lease = %self.desc, "lock is held by {holder} and has not yet expired");
                }
                Ok(Ok(Round::LostRace)) => {
                    debug!(lease = %self.desc, "lost the race to acquire the lease; retrying");
                }
                Ok(Err(e)) => {
                    warn!(lease = %self.desc, "error retrieving or updating the lease: {e}")
                }
                Err(_) => warn!(lease = %self.desc, "acquiring the lease timed out"),
            }
            let wait = self
                .config
                .retry_period
                .mul_f64(1.0 + JITTER_FACTOR * random_unit());
            tokio::select! {
                () = shutdown.cancelled() => return Ok(()),
                () = tokio::time::sleep(wait) => {}
            }
        };
        info!(lease = %self.desc, identity = %self.config.identity, "successfully acquired lease {}", self.desc);
        self.set_leader(true);

        loop {
            tokio::select! {
                () = shutdown.cancelled() => {
                    self.set_leader(false);
                    match self.release().await {
                        Ok(true) => info!(lease = %self.desc, "released the lease"),
                        Ok(false) => {}
                        Err(e) => warn!(lease = %self.desc, "failed to release the lease: {e}"),
                    }
                    return Ok(());
                }
                () = tokio::time::sleep(self.config.retry_period) => {}
            }
            let deadline = last_renew + self.config.renew_deadline;
            let start = Instant::now();
            let lost = match tokio::time::timeout_at(deadline, self.try_acquire_or_renew()).await {
                Ok(Ok(Round::Acquired | Round::Renewed)) => {
                    last_renew = start;
                    None
                }
                Ok(Ok(Round::HeldBy { holder })) => {
                    Some(format!("the lease is now held by {holder}"))
                }
                Ok(Ok(Round::LostRace)) => {
                    debug!(lease = %self.desc, "renewal lost a race; retrying");
                    None
                }
                Ok(Err(e)) => {
                    warn!(lease = %self.desc, "failed to renew the lease: {e}");
                    None
                }
                Err(_) => None,
            };
            let lost = lost.or_else(|| {
                (Instant::now() >= deadline).then(|| {
                    format!(
                        "not renewed within the renew deadline of {:?}",
                        self.config.renew_deadline
                    )
                })
            });
            if let Some(reason) = lost {
                // Stop scheduling before anything else.
                self.set_leader(false);
                error!(lease = %self.desc, "failed to renew lease {}: {reason}; leaderelection lost", self.desc);
                return Err(LeaderError::Lost {
                    lease: self.desc.clone(),
                    reason,
                });
            }
        }
    }

    /// One attempt to acquire or renew the lease (client-go's `tryAcquireOrRenew`).
    ///
    /// Does not change the "is leader" signal; [`LeaderElector::run`] does.
    pub async fn try_acquire_or_renew(&mut self) -> Result<Round, LeaderError> {
        let Some(api) = self.api.clone() else {
            return Ok(Round::Renewed);
        };
        let lease_secs = self.config.lease_duration_seconds();
        let me = self.config.identity.clone();

        // Fast path: while we hold a valid lease, write straight over the lease we last
        // wrote; its resourceVersion makes this fail if anyone else wrote since.
        if let (Some(observed), Some(lease)) = (&self.observed, &self.lease)
            && observed.holder() == me
            && observed.valid_at(Instant::now())
            && let Plan::Write { spec, .. } =
                plan(observed, Instant::now(), Timestamp::now(), &me, lease_secs)
        {
            let mut lease = lease.clone();
            lease.spec = Some(spec);
            match api
                .replace(&self.config.name, &PostParams::default(), &lease)
                .await
            {
                Ok(written) => {
                    self.remember(written);
                    return Ok(Round::Renewed);
                }
                Err(e) => {
                    debug!(lease = %self.desc, "failed to update the lease optimistically: {e}; falling back to a read")
                }
            }
        }

        let current = api
            .get_opt(&self.config.name)
            .await
            .map_err(|e| self.api_error(e))?;
        let Some(current) = current else {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(self.config.name.clone()),
                    namespace: Some(self.config.namespace.clone()),
                    ..ObjectMeta::default()
                },
                spec: Some(new_record(&me, Timestamp::now(), lease_secs)),
            };
            return match api.create(&PostParams::default(), &lease).await {
                Ok(created) => {
                    self.remember(created);
                    Ok(Round::Acquired)
                }
                Err(e) if is_conflict(&e) => Ok(Round::LostRace),
                Err(e) => Err(self.api_error(e)),
            };
        };

        let now = Instant::now();
        let spec = current.spec.clone().unwrap_or_default();
        let previous_holder = self.observed.as_ref().map(|o| o.holder().to_owned());
        let observed = Observed::observe(self.observed.take(), &spec, now);
        if previous_holder.as_deref() != Some(observed.holder())
            && !observed.holder().is_empty()
            && observed.holder() != me
        {
            info!(lease = %self.desc, "new leader observed: {:?}", observed.holder());
        }
        let decision = plan(&observed, now, Timestamp::now(), &me, lease_secs);
        self.observed = Some(observed);
        self.lease = Some(current.clone());
        match decision {
            Plan::Wait { holder } => Ok(Round::HeldBy { holder }),
            Plan::Write { spec, acquired } => {
                let mut lease = current;
                lease.spec = Some(spec);
                match api
                    .replace(&self.config.name, &PostParams::default(), &lease)
                    .await
                {
                    Ok(written) => {
                        self.remember(written);
                        Ok(if acquired {
                            Round::Acquired
                        } else {
                            Round::Renewed
                        })
                    }
                    Err(e) if is_conflict(&e) => Ok(Round::LostRace),
                    Err(e) => Err(self.api_error(e)),
                }
            }
        }
    }

    /// Records a lease we wrote; its record counts as changed now.
    fn remember(&mut self, written: Lease) {
        let spec = written.spec.clone().unwrap_or_default();
        self.observed = Some(Observed::observe(
            self.observed.take(),
            &spec,
            Instant::now(),
        ));
        self.lease = Some(written);
    }

    /// Gives the lease up if we hold it, so that another candidate can take it at once.
    ///
    /// Returns whether a release was written. A release that lost a race to a newer write
    /// re-reads once and retries only if the lease is still ours.
    pub async fn release(&mut self) -> Result<bool, LeaderError> {
        self.set_leader(false);
        let Some(api) = self.api.clone() else {
            return Ok(false);
        };
        for _ in 0..2 {
            let Some(mut lease) = self.lease.clone() else {
                return Ok(false);
            };
            let spec = lease.spec.clone().unwrap_or_default();
            if spec.holder_identity.as_deref() != Some(self.config.identity.as_str()) {
                return Ok(false);
            }
            lease.spec = Some(released_record(&spec, Timestamp::now()));
            match api
                .replace(&self.config.name, &PostParams::default(), &lease)
                .await
            {
                Ok(written) => {
                    self.remember(written);
                    return Ok(true);
                }
                Err(e) if is_conflict(&e) => {
                    self.lease = api
                        .get_opt(&self.config.name)
                        .await
                        .map_err(|e| self.api_error(e))?;
                }
                Err(e) => return Err(self.api_error(e)),
            }
        }
        Ok(false)
    }
}

/// A uniform number in [0, 1) for jitter; no jitter if the OS has no randomness to give.
fn random_unit() -> f64 {
    getrandom::u32().map_or(0.0, |r| f64::from(r) / (f64::from(u32::MAX) + 1.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ME: &str = "host-a_1";
    const OTHER: &str = "host-b_2";

    fn wall(secs: i64) -> Timestamp {
        Timestamp::from_second(1_700_000_000 + secs).unwrap()
    }

    fn held(holder: &str, secs: i32, transitions: i32, renewed: i64) -> LeaseSpec {
        LeaseSpec {
            holder_identity: Some(holder.to_owned()),
            lease_duration_seconds: Some(secs),
            acquire_time: Some(MicroTime(wall(0))),
            renew_time: Some(MicroTime(wall(renewed))),
            lease_transitions: Some(transitions),
            ..LeaseSpec::default()
        }
    }

    fn written(p: Plan) -> (LeaseSpec, bool) {
        match p {
            Plan::Write { spec, acquired } => (spec, acquired),
            Plan::Wait { holder } => panic!("expected a write, got a wait for {holder}"),
        }
    }

    #[test]
    fn a_valid_lease_of_another_holder_is_respected() {
        let t0 = Instant::now();
        let o = Observed::observe(None, &held(OTHER, 15, 3, 0), t0);
        let p = plan(&o, t0 + Duration::from_secs(14), wall(14), ME, 15);
        assert_eq!(
            p,
            Plan::Wait {
                holder: OTHER.into()
            }
        );
    }

    #[test]
    fn expiry_is_timed_by_the_local_clock_from_the_last_change_seen() {
        let t0 = Instant::now();
        // The remote renewTime is ancient, but we only just saw the record: wait anyway.
        let spec = held(OTHER, 15, 3, -3600);
        let o = Observed::observe(None, &spec, t0);
        assert!(matches!(
            plan(&o, t0 + Duration::from_secs(1), wall(1), ME, 15),
            Plan::Wait { .. }
        ));
        // Seeing the same record again does not move the observation time...
        let o = Observed::observe(Some(o), &spec, t0 + Duration::from_secs(10));
        assert_eq!(o.at, t0);
        // ...so 15 s after first seeing it, it is expired and we take it over.
        let (new, acquired) = written(plan(&o, t0 + Duration::from_secs(15), wall(15), ME, 15));
        assert!(acquired);
        assert_eq!(new.holder_identity.as_deref(), Some(ME));
        assert_eq!(new.lease_transitions, Some(4));
        assert_eq!(new.acquire_time, Some(MicroTime(wall(15))));
        assert_eq!(new.renew_time, Some(MicroTime(wall(15))));
        assert_eq!(new.lease_duration_seconds, Some(15));
        // A renewal by the holder (a changed record) restarts the clock.
        let renewed = held(OTHER, 15, 3, 2);
        let o = Observed::observe(Some(o), &renewed, t0 + Duration::from_secs(12));
        assert_eq!(o.at, t0 + Duration::from_secs(12));
        assert!(matches!(
            plan(&o, t0 + Duration::from_secs(26), wall(26), ME, 15),
            Plan::Wait { .. }
        ));
        assert!(matches!(
            plan(&o, t0 + Duration::from_secs(27), wall(27), ME, 15),
            Plan::Write { .. }
        ));
    }

    #[test]
    fn the_holder_renews_and_keeps_its_acquire_time_and_transitions() {
        let t0 = Instant::now();
        let o = Observed::observe(None, &held(ME, 15, 7, 0), t0);
        let (new, acquired) = written(plan(&o, t0 + Duration::from_secs(2), wall(2), ME, 15));
        assert!(!acquired);
        assert_eq!(new.acquire_time, Some(MicroTime(wall(0))));
        assert_eq!(new.renew_time, Some(MicroTime(wall(2))));
        assert_eq!(new.lease_transitions, Some(7));
        // Our own lease is ours to renew even when it looks expired.
        let (_, acquired) = written(plan(&o, t0 + Duration::from_secs(60), wall(60), ME, 15));
        assert!(!acquired);
    }

    #[test]
    fn a_released_or_broken_lease_is_free_at_once() {
        let t0 = Instant::now();
        let released = released_record(&held(OTHER, 15, 3, 0), wall(5));
        assert_eq!(released.holder_identity.as_deref(), Some(""));
        assert_eq!(released.lease_duration_seconds, Some(1));
        assert_eq!(released.lease_transitions, Some(3));
        let o = Observed::observe(None, &released, t0);
        let (new, acquired) = written(plan(&o, t0, wall(5), ME, 15));
        assert!(acquired);
        assert_eq!(new.lease_transitions, Some(4));
        // No duration or a negative one (bad data) counts as expired; no panic.
        let mut broken = held(OTHER, -5, i32::MAX, 0);
        assert!(matches!(
            plan(&Observed::observe(None, &broken, t0), t0, wall(0), ME, 15),
            Plan::Write { .. }
        ));
        broken.lease_duration_seconds = None;
        let (new, _) = written(plan(
            &Observed::observe(None, &broken, t0),
            t0,
            wall(0),
            ME,
            15,
        ));
        assert_eq!(new.lease_transitions, Some(i32::MAX));
        // An empty spec (no holder at all) is free too.
        let o = Observed::observe(None, &LeaseSpec::default(), t0);
        let (new, _) = written(plan(&o, t0, wall(0), ME, 15));
        assert_eq!(new.lease_transitions, Some(1));
    }

    #[test]
    fn a_new_lease_records_the_holder_like_client_go() {
        let spec = new_record(ME, wall(0), 15);
        assert_eq!(spec.holder_identity.as_deref(), Some(ME));
        assert_eq!(spec.lease_transitions, Some(0));
        assert_eq!(spec.acquire_time, spec.renew_time);
        let json = serde_json::to_value(&spec).unwrap();
        // MicroTime is RFC 3339 with microseconds, as client-go writes it.
        assert_eq!(json["renewTime"], "2023-11-14T22:13:20.000000Z");
    }

    #[test]
    fn timings_are_validated_as_client_go_does() {
        let ok = LeaderElectionConfig::new("jhub", "user-scheduler-lock");
        ok.validate().unwrap();
        assert_eq!(ok.lease_duration_seconds(), 15);
        let with = |lease: u64, renew: u64, retry: u64| LeaderElectionConfig {
            lease_duration: Duration::from_millis(lease),
            renew_deadline: Duration::from_millis(renew),
            retry_period: Duration::from_millis(retry),
            ..ok.clone()
        };
        assert!(with(1000, 600, 200).validate().is_ok());
        assert!(with(10_000, 10_000, 2000).validate().is_err());
        // 1.5 s is written as 1 s, which does not exceed a 1.2 s renew deadline.
        assert!(with(1500, 1200, 200).validate().is_err());
        assert!(with(15_000, 2400, 2000).validate().is_err());
        assert!(with(15_000, 10_000, 0).validate().is_err());
        let anonymous = LeaderElectionConfig {
            identity: String::new(),
            ..ok
        };
        assert!(anonymous.validate().is_err());
    }

    #[test]
    fn the_config_files_leader_election_maps_over() {
        let le = crate::config::LeaderElection {
            resource_name: "user-scheduler-lock".into(),
            resource_namespace: "jhub".into(),
            lease_duration: Duration::from_secs(30),
            ..crate::config::LeaderElection::default()
        };
        let c = LeaderElectionConfig::from_config(&le);
        assert_eq!(
            (c.namespace.as_str(), c.name.as_str()),
            ("jhub", "user-scheduler-lock")
        );
        assert_eq!(c.lease_duration, Duration::from_secs(30));
        assert_eq!(c.renew_deadline, Duration::from_secs(10));
        assert_eq!(c.retry_period, Duration::from_secs(2));
        c.validate().unwrap();
    }

    #[test]
    fn identities_are_hostname_and_a_fresh_uuid() {
        let a = default_identity();
        let b = default_identity();
        assert_ne!(a, b);
        let (host, uuid) = a.rsplit_once('_').unwrap();
        assert!(!host.is_empty());
        assert_eq!(uuid.len(), 36);
        assert_eq!(uuid.as_bytes()[14], b'4');
        assert_eq!(uuid.matches('-').count(), 4);
    }

    #[tokio::test]
    async fn disabled_election_leads_at_once_until_shutdown() {
        let mut e = LeaderElector::disabled();
        let mut rx = e.subscribe();
        assert!(!*rx.borrow());
        let stop = CancellationToken::new();
        let task = tokio::spawn({
            let stop = stop.clone();
            async move { e.run(stop).await }
        });
        rx.wait_for(|l| *l).await.unwrap();
        stop.cancel();
        task.await.unwrap().unwrap();
        assert!(!*rx.borrow());
    }
}
