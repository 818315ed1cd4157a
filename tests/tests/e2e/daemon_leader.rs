//! Leader election against the sandbox API server: one leader at a time, hand-over on release
//! and on a vanished leader, stepping down when renewals fail, and stale writes losing.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use k8s_openapi::jiff::Timestamp;
use kube::Api;
use kube::api::PostParams;
use sandbox::{Sandbox, SandboxOptions};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::{Instant, timeout};
use tokio_util::sync::CancellationToken;
use user_scheduler::daemon::leader::{LeaderElectionConfig, LeaderElector, LeaderError, Round};

const NS: &str = "default";
const LEASE_DURATION: Duration = Duration::from_secs(1);
const RENEW_DEADLINE: Duration = Duration::from_millis(600);
const RETRY_PERIOD: Duration = Duration::from_millis(200);

fn config(name: &str, identity: &str) -> LeaderElectionConfig {
    LeaderElectionConfig {
        identity: identity.to_owned(),
        lease_duration: LEASE_DURATION,
        renew_deadline: RENEW_DEADLINE,
        retry_period: RETRY_PERIOD,
        ..LeaderElectionConfig::new(NS, name)
    }
}

/// A running candidate.
struct Candidate {
    identity: String,
    leader: watch::Receiver<bool>,
    stop: CancellationToken,
    task: JoinHandle<Result<(), LeaderError>>,
}

fn spawn(sandbox: &Sandbox, lease: &str, identity: &str) -> Candidate {
    let mut elector = LeaderElector::new(sandbox.client(), config(lease, identity)).unwrap();
    let stop = CancellationToken::new();
    let leader = elector.subscribe();
    let task = tokio::spawn({
        let stop = stop.clone();
        async move { elector.run(stop).await }
    });
    Candidate {
        identity: identity.to_owned(),
        leader,
        stop,
        task,
    }
}

/// Watches the candidates' "is leader" signals and records whether two ever led at once.
fn watch_overlap(candidates: &[&Candidate]) -> (Arc<AtomicBool>, CancellationToken) {
    let overlap = Arc::new(AtomicBool::new(false));
    let done = CancellationToken::new();
    let mut rxs: Vec<_> = candidates.iter().map(|c| c.leader.clone()).collect();
    tokio::spawn({
        let overlap = overlap.clone();
        let done = done.clone();
        async move {
            loop {
                let leaders = rxs.iter().filter(|rx| *rx.borrow()).count();
                if leaders > 1 {
                    overlap.store(true, Ordering::SeqCst);
                }
                let changed =
                    futures::future::select_all(rxs.iter_mut().map(|rx| Box::pin(rx.changed())));
                tokio::select! {
                    () = done.cancelled() => return,
                    (res, _, _) = changed => if res.is_err() { return },
                }
            }
        }
    });
    (overlap, done)
}

async fn wait_leader(c: &mut Candidate, within: Duration) -> Duration {
    let start = Instant::now();
    timeout(within, c.leader.wait_for(|l| *l))
        .await
        .unwrap_or_else(|_| panic!("{} did not lead within {within:?}", c.identity))
        .unwrap();
    start.elapsed()
}

async fn lease(sandbox: &Sandbox, name: &str) -> Lease {
    Api::<Lease>::namespaced(sandbox.client(), NS)
        .get(name)
        .await
        .unwrap()
}

fn holder(l: &Lease) -> String {
    l.spec
        .as_ref()
        .and_then(|s| s.holder_identity.clone())
        .unwrap_or_default()
}

fn transitions(l: &Lease) -> i32 {
    l.spec
        .as_ref()
        .and_then(|s| s.lease_transitions)
        .unwrap_or(-1)
}

#[tokio::test]
async fn one_leader_at_a_time_and_release_hands_over_at_once() {
    let sandbox = Sandbox::start(SandboxOptions::default()).await.unwrap();
    let mut a = spawn(&sandbox, "user-scheduler-lock", "host-a_1");
    let mut b = spawn(&sandbox, "user-scheduler-lock", "host-b_2");
    let (overlap, done) = watch_overlap(&[&a, &b]);

    // Someone leads soon; it is whoever the lease names.
    let first = tokio::select! {
        r = a.leader.wait_for(|l| *l) => { r.unwrap(); "host-a_1" }
        r = b.leader.wait_for(|l| *l) => { r.unwrap(); "host-b_2" }
        () = tokio::time::sleep(Duration::from_secs(5)) => panic!("nobody led within 5 s"),
    };
    let (mut leader, mut standby) = if first == a.identity { (a, b) } else { (b, a) };
    let l = lease(&sandbox, "user-scheduler-lock").await;
    assert_eq!(holder(&l), leader.identity);
    assert_eq!(transitions(&l), 0);
    let spec = l.spec.clone().unwrap();
    assert_eq!(spec.lease_duration_seconds, Some(1));
    assert!(spec.acquire_time.is_some());

    // Through several lease durations the leader keeps renewing and the standby waits.
    let renewed_before = spec.renew_time.clone().unwrap();
    let acquired_at = spec.acquire_time.clone();
    tokio::time::sleep(LEASE_DURATION * 3).await;
    assert!(*leader.leader.borrow());
    assert!(!*standby.leader.borrow());
    let l = lease(&sandbox, "user-scheduler-lock").await;
    assert_eq!(holder(&l), leader.identity);
    let spec = l.spec.clone().unwrap();
    assert!(spec.renew_time.unwrap().0 > renewed_before.0);
    assert_eq!(spec.acquire_time, acquired_at);
    assert_eq!(transitions(&l), 0);

    // A graceful stop releases the lease; the standby takes over well within the lease
    // duration (it need not wait for the lease to expire).
    leader.stop.cancel();
    timeout(Duration::from_secs(2), &mut leader.task)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(!*leader.leader.borrow());
    let released = Instant::now();
    let took = wait_leader(&mut standby, LEASE_DURATION).await;
    assert!(
        took < LEASE_DURATION,
        "took over after {:?}",
        released.elapsed()
    );
    let l = lease(&sandbox, "user-scheduler-lock").await;
    assert_eq!(holder(&l), standby.identity);
    assert_eq!(transitions(&l), 1);

    // A leader that vanishes without releasing (a crash) is replaced once its lease
    // expires: not before others have seen it unrenewed for the lease duration.
    let mut third = spawn(&sandbox, "user-scheduler-lock", "host-c_3");
    let (overlap2, done2) = watch_overlap(&[&standby, &third]);
    tokio::time::sleep(LEASE_DURATION * 2).await;
    assert!(!*third.leader.borrow(), "took a valid lease");
    standby.task.abort();
    let crashed = Instant::now();
    wait_leader(&mut third, LEASE_DURATION * 3).await;
    let after = crashed.elapsed();
    // Its last renewal was at most one retry period before the crash.
    assert!(
        after >= LEASE_DURATION - RETRY_PERIOD * 2,
        "took an unexpired lease {after:?} after the crash"
    );
    let l = lease(&sandbox, "user-scheduler-lock").await;
    assert_eq!(holder(&l), third.identity);
    assert_eq!(transitions(&l), 2);

    third.stop.cancel();
    third.task.await.unwrap().unwrap();
    done.cancel();
    done2.cancel();
    assert!(
        !overlap.load(Ordering::SeqCst),
        "two candidates led at once"
    );
    assert!(
        !overlap2.load(Ordering::SeqCst),
        "two candidates led at once"
    );
    assert_eq!(holder(&lease(&sandbox, "user-scheduler-lock").await), "");
    sandbox.shutdown().await;
}

#[tokio::test]
async fn a_leader_that_cannot_renew_steps_down_within_the_renew_deadline() {
    let sandbox = Sandbox::start(SandboxOptions::default()).await.unwrap();

    // Renewals fail with 500.
    let mut a = spawn(&sandbox, "failing", "host-a_1");
    wait_leader(&mut a, Duration::from_secs(3)).await;
    let faults = sandbox.faults();
    faults
        .fail_next("PUT", "/leases/failing", 500, 1_000)
        .unwrap();
    let start = Instant::now();
    let err = timeout(Duration::from_secs(3), &mut a.task)
        .await
        .expect("did not step down")
        .unwrap()
        .unwrap_err();
    assert!(matches!(err, LeaderError::Lost { .. }), "{err}");
    assert!(!*a.leader.borrow());
    // It stopped before anyone else could take the lease (renew deadline < lease duration).
    assert!(start.elapsed() < LEASE_DURATION, "{:?}", start.elapsed());
    faults.clear();

    // Renewals hang (writes paused): the deadline still holds.
    let mut b = spawn(&sandbox, "hanging", "host-b_2");
    wait_leader(&mut b, Duration::from_secs(3)).await;
    faults.pause_writes();
    let start = Instant::now();
    let err = timeout(Duration::from_secs(3), &mut b.task)
        .await
        .expect("did not step down")
        .unwrap()
        .unwrap_err();
    assert!(matches!(err, LeaderError::Lost { .. }), "{err}");
    assert!(start.elapsed() < LEASE_DURATION, "{:?}", start.elapsed());
    faults.clear();
    sandbox.shutdown().await;
}

#[tokio::test]
async fn a_stale_resource_version_loses_cleanly() {
    let sandbox = Sandbox::start(SandboxOptions::default()).await.unwrap();
    let api = Api::<Lease>::namespaced(sandbox.client(), NS);

    let mut a = LeaderElector::new(sandbox.client(), config("stale", "host-a_1")).unwrap();
    assert_eq!(a.try_acquire_or_renew().await.unwrap(), Round::Acquired);
    assert_eq!(a.try_acquire_or_renew().await.unwrap(), Round::Renewed);

    // Someone else overwrites the lease; A's next write still carries the old version.
    let stale = api.get("stale").await.unwrap();
    let mut taken = stale.clone();
    let spec = taken.spec.as_mut().unwrap();
    spec.holder_identity = Some("intruder".into());
    spec.renew_time = Some(MicroTime(Timestamp::now()));
    spec.lease_duration_seconds = Some(60);
    let taken = api
        .replace("stale", &PostParams::default(), &taken)
        .await
        .unwrap();

    // The server refuses the stale version (the guarantee everything rests on)...
    let err = api
        .replace("stale", &PostParams::default(), &stale)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, kube::Error::Api(s) if s.code == 409),
        "{err}"
    );
    // ...so A's optimistic renewal fails, it re-reads and yields without error or write.
    assert_eq!(
        a.try_acquire_or_renew().await.unwrap(),
        Round::HeldBy {
            holder: "intruder".into()
        }
    );
    let now = api.get("stale").await.unwrap();
    assert_eq!(
        now.metadata.resource_version,
        taken.metadata.resource_version
    );
    assert_eq!(holder(&now), "intruder");
    // Releasing a lease that is not ours writes nothing.
    assert!(!a.release().await.unwrap());
    assert_eq!(
        api.get("stale").await.unwrap().metadata.resource_version,
        taken.metadata.resource_version
    );
    sandbox.shutdown().await;
}

#[tokio::test]
async fn a_running_leader_whose_lease_is_taken_steps_down_at_once() {
    let sandbox = Sandbox::start(SandboxOptions::default()).await.unwrap();
    let api = Api::<Lease>::namespaced(sandbox.client(), NS);
    let mut a = spawn(&sandbox, "taken", "host-a_1");
    wait_leader(&mut a, Duration::from_secs(3)).await;

    let mut taken = api.get("taken").await.unwrap();
    let spec = taken.spec.as_mut().unwrap();
    spec.holder_identity = Some("intruder".into());
    spec.lease_duration_seconds = Some(60);
    api.replace("taken", &PostParams::default(), &taken)
        .await
        .unwrap();
    let start = Instant::now();
    let err = timeout(Duration::from_secs(2), &mut a.task)
        .await
        .expect("did not step down")
        .unwrap()
        .unwrap_err();
    assert!(
        matches!(&err, LeaderError::Lost { reason, .. } if reason.contains("intruder")),
        "{err}"
    );
    assert!(start.elapsed() < RENEW_DEADLINE);
    assert!(!*a.leader.borrow());
    assert_eq!(holder(&api.get("taken").await.unwrap()), "intruder");
    sandbox.shutdown().await;
}

#[tokio::test]
async fn racing_candidates_never_both_acquire() {
    let sandbox = Sandbox::start(SandboxOptions::default()).await.unwrap();
    let api = Api::<Lease>::namespaced(sandbox.client(), NS);
    for i in 0..10 {
        // An absent lease: both try to create it.
        let name = format!("race-{i}");
        let mut a = LeaderElector::new(sandbox.client(), config(&name, "host-a_1")).unwrap();
        let mut b = LeaderElector::new(sandbox.client(), config(&name, "host-b_2")).unwrap();
        let (ra, rb) = tokio::join!(a.try_acquire_or_renew(), b.try_acquire_or_renew());
        let rounds = [ra.unwrap(), rb.unwrap()];
        assert_eq!(
            rounds.iter().filter(|r| **r == Round::Acquired).count(),
            1,
            "{rounds:?}"
        );

        // A released lease: both see it free and try to take it.
        let winner = if rounds[0] == Round::Acquired {
            &mut a
        } else {
            &mut b
        };
        assert!(winner.release().await.unwrap());
        let (ra, rb) = tokio::join!(a.try_acquire_or_renew(), b.try_acquire_or_renew());
        let rounds = [ra.unwrap(), rb.unwrap()];
        let acquired: Vec<_> = rounds
            .iter()
            .zip(["host-a_1", "host-b_2"])
            .filter(|(r, _)| **r == Round::Acquired)
            .map(|(_, id)| id)
            .collect();
        assert_eq!(acquired.len(), 1, "{rounds:?}");
        let l = api.get(&name).await.unwrap();
        assert_eq!(holder(&l), *acquired[0]);
        assert_eq!(transitions(&l), 1);
    }
    sandbox.shutdown().await;
}
