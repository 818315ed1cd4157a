//! The daemon: watches, cache, queue, scheduling cycle, binding, events,
//! leader election, admin server and metrics.
//!
//! ```text
//!  watches ──► State (score::Cluster + assumed pods) ──► SharedQueue
//!                  ▲                                        │ pop
//!                  │ assume / forget          scheduling_loop (decide under the lock)
//!                  └──────────── bind tasks ◄───────────────┘
//!                                reporter: PodScheduled=False + FailedScheduling
//! ```
//!
//! [`run`] is the library entry point the binary and the end-to-end tests
//! share: it starts everything, schedules while it holds the lease, and on
//! shutdown stops taking pods, lets bindings in flight finish and releases
//! the lease.

pub mod admin;
pub mod auth;
pub mod cycle;
pub mod events;
pub mod leader;
pub mod metrics;
pub mod prebind;
pub mod queue;
pub mod state;
pub mod watch;

#[cfg(test)]
mod policy_tests;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{Semaphore, mpsc};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::config::SchedulerConfig;
use admin::{AdminOptions, AdminServer, AdminState, Readiness};
use cycle::Context;
use leader::{LeaderElectionConfig, LeaderElector};
use metrics::{CacheType, Metrics, QueueName};
use queue::{QueueConfig, QueueKind, SharedQueue};
use state::State;

/// How long shutdown waits for bindings in flight.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

/// Everything [`run`] needs besides the client.
#[derive(Clone, Debug)]
pub struct DaemonOptions {
    /// The validated configuration.
    pub config: SchedulerConfig,
    /// Whether to elect a leader (false: schedule at once).
    pub leader_elect: bool,
    /// Leader election identity (default: hostname and a random suffix).
    pub identity: Option<String>,
    /// The admin server, or none.
    pub admin: Option<AdminOptions>,
    /// Seed of the random tie-break.
    pub seed: u64,
    /// Bindings in flight at most.
    pub bind_concurrency: usize,
    /// Told the admin server's bound address once it listens (its port when
    /// port 0 was asked for); for tests and embedding.
    pub admin_bound: Option<tokio::sync::mpsc::UnboundedSender<std::net::SocketAddr>>,
}

impl DaemonOptions {
    /// Options for `config` with leader election as the file says, no admin
    /// server, and as many concurrent bindings as the file's `parallelism`
    /// (16 by default, kube-scheduler's binding goroutines likewise).
    #[must_use]
    pub fn new(config: SchedulerConfig) -> Self {
        DaemonOptions {
            bind_concurrency: usize::try_from(config.parallelism).unwrap_or(16).max(1),
            leader_elect: config.leader_election.leader_elect,
            config,
            identity: None,
            admin: None,
            seed: 0,
            admin_bound: None,
        }
    }
}

/// Why the daemon stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    /// The admin server could not start.
    #[error(transparent)]
    Admin(#[from] admin::AdminError),
    /// Leader election failed or was lost (kube-scheduler exits then, and so do we).
    #[error(transparent)]
    Leader(#[from] leader::LeaderError),
}

/// Runs the scheduler until `shutdown` is cancelled (or leadership is lost).
///
/// # Errors
/// The admin server cannot bind, the leader election is misconfigured, or the
/// lease was lost.
pub async fn run(
    client: kube::Client,
    opts: DaemonOptions,
    shutdown: CancellationToken,
) -> Result<(), DaemonError> {
    let profiles = opts.config.profiles.clone();
    let names: Vec<&str> = profiles.iter().map(|p| p.scheduler_name.as_str()).collect();
    let metrics = Arc::new(Metrics::new(&names));
    let readiness = Readiness::new(watch::WATCHES);
    let admin = match &opts.admin {
        Some(options) => Some(
            AdminServer::start(
                options.clone(),
                AdminState {
                    metrics: metrics.clone(),
                    readiness: readiness.clone(),
                },
                Some(client.clone()),
                shutdown.child_token(),
            )
            .await?,
        ),
        None => None,
    };
    if let (Some(admin), Some(tell)) = (&admin, &opts.admin_bound) {
        let _ = tell.send(admin.local_addr());
    }

    let queue = SharedQueue::new(QueueConfig::from_scheduler_config(&opts.config));
    let (reports_tx, reports_rx) = mpsc::unbounded_channel();
    let (scheduled_tx, scheduled_rx) = mpsc::channel(cycle::SCHEDULED_EVENTS_BACKLOG);
    let concurrency = opts.bind_concurrency.max(1);
    let identity = opts
        .identity
        .clone()
        .unwrap_or_else(leader::default_identity);
    let ctx = Arc::new(Context {
        state: Mutex::new(State::new(profiles, queue.clone(), reports_tx)),
        queue: queue.clone(),
        client: client.clone(),
        events: events::EventRecorder::new(client.clone(), identity.clone()),
        metrics: metrics.clone(),
        binds: Arc::new(Semaphore::new(concurrency)),
        bind_concurrency: concurrency,
        scheduled: scheduled_tx,
        stop: CancellationToken::new(),
    });

    // Watches run whether or not we lead, so a standby is ready at once.
    let watches = CancellationToken::new();
    let mut tasks = tokio::task::JoinSet::new();
    tasks.spawn(watch::nodes(
        ctx.clone(),
        readiness.clone(),
        watches.clone(),
    ));
    tasks.spawn(watch::pods(ctx.clone(), readiness.clone(), watches.clone()));
    tasks.spawn(watch::pdbs(ctx.clone(), readiness.clone(), watches.clone()));
    tasks.spawn(watch::volumes(
        ctx.clone(),
        readiness.clone(),
        watches.clone(),
    ));
    tasks.spawn(refresh_gauges(ctx.clone(), watches.clone()));
    let reporting = CancellationToken::new();
    let reporter = tokio::spawn(cycle::reporter(ctx.clone(), reports_rx, reporting.clone()));
    let scheduled_stop = CancellationToken::new();
    let scheduled_events = tokio::spawn(cycle::scheduled_events(
        ctx.clone(),
        scheduled_rx,
        scheduled_stop.clone(),
    ));

    let mut elector = if opts.leader_elect {
        let mut config = LeaderElectionConfig::from_config(&opts.config.leader_election);
        config.identity = identity;
        LeaderElector::new(client.clone(), config)?
    } else {
        LeaderElector::disabled()
    };
    let mut leading = elector.subscribe();
    let election_stop = CancellationToken::new();
    let election = {
        let stop = election_stop.clone();
        tokio::spawn(async move { elector.run(stop).await })
    };

    // Schedule only while leading and once every watch has listed.
    let mut result = Ok(());
    let started = tokio::select! {
        () = shutdown.cancelled() => false,
        r = leading.wait_for(|l| *l) => r.is_ok(),
    };
    let started = started
        && tokio::select! {
            () = shutdown.cancelled() => false,
            () = readiness.wait_ready() => true,
        };
    let mut scheduler = None;
    if started {
        metrics.set_leader(true);
        info!("caches synced and leading: scheduling");
        scheduler = Some(tokio::spawn(cycle::scheduling_loop(ctx.clone(), opts.seed)));
        tokio::select! {
            () = shutdown.cancelled() => {}
            _ = leading.wait_for(|l| !*l) => warn!("leadership lost: stopping"),
        }
    }

    // Shutdown: stop taking pods, let bindings in flight finish, then release
    // the lease (a standby starts scheduling right after).
    queue.close();
    ctx.stop.cancel();
    if let Some(scheduler) = scheduler {
        let _ = scheduler.await;
    }
    if !cycle::drain_binds(&ctx, DRAIN_TIMEOUT).await {
        warn!("bindings still in flight after {DRAIN_TIMEOUT:?}; stopping anyway");
    }
    // The bindings that finished handed over their Scheduled events: write them.
    scheduled_stop.cancel();
    if tokio::time::timeout(DRAIN_TIMEOUT, scheduled_events)
        .await
        .is_err()
    {
        warn!("Scheduled events still being written after {DRAIN_TIMEOUT:?}; stopping anyway");
    }
    metrics.set_leader(false);
    election_stop.cancel();
    match election.await {
        Ok(Err(e)) => result = Err(DaemonError::Leader(e)),
        Ok(Ok(())) => {}
        Err(e) => warn!("leader election task failed: {e}"),
    }
    watches.cancel();
    while tasks.join_next().await.is_some() {}
    reporting.cancel();
    let _ = reporter.await;
    drop(ctx);
    if let Some(admin) = admin {
        shutdown.cancel();
        let _ = admin.wait().await;
    }
    info!("stopped");
    result
}

/// Refreshes the gauges that describe the cache and the queue.
async fn refresh_gauges(ctx: Arc<Context>, stop: CancellationToken) {
    let mut tick = tokio::time::interval(Duration::from_secs(2));
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        for incoming in ctx.queue.take_incoming() {
            let queue = match incoming.queue {
                QueueKind::Active => QueueName::Active,
                QueueKind::Backoff => QueueName::Backoff,
                QueueKind::Unschedulable => QueueName::Unschedulable,
                QueueKind::Gated => QueueName::Gated,
                QueueKind::InFlight => continue,
            };
            ctx.metrics
                .count_incoming(queue, incoming.event, incoming.count);
        }
        let counts = ctx.queue.counts();
        ctx.metrics.set_pending(QueueName::Active, counts.active);
        ctx.metrics.set_pending(QueueName::Backoff, counts.backoff);
        ctx.metrics
            .set_pending(QueueName::Unschedulable, counts.unschedulable);
        ctx.metrics.set_pending(QueueName::Gated, counts.gated);
        let st = ctx.lock();
        let (mut with_users, mut only_placeholders) = (0i64, 0i64);
        for i in 0..st.cluster.node_count() {
            let s = st.cluster.summary(i);
            if s.real_users > 0 {
                with_users += 1;
            } else if s.placeholders > 0 {
                only_placeholders += 1;
            }
        }
        ctx.metrics.nodes_with_real_users.set(with_users);
        ctx.metrics
            .nodes_with_only_placeholders
            .set(only_placeholders);
        ctx.metrics
            .set_cache_size(CacheType::Nodes, st.cluster.node_count());
        ctx.metrics
            .set_cache_size(CacheType::Pods, st.cluster.pod_count());
        ctx.metrics
            .set_cache_size(CacheType::AssumedPods, st.assumed_count());
    }
}
