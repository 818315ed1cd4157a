//! Handing scheduling over: two instances on one lease (only the leader
//! binds; the standby takes over when the leader stops; never both at once),
//! a restarted scheduler that rebuilds its state from the API, and a shutdown
//! while bindings are in flight (they finish, then the lease is released).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::support::*;
use sandbox::Sandbox;

/// Starts daemon `a` electing on the default lease and waits until it leads,
/// then starts `b` electing on the same lease as its standby; each on a
/// recording client of its own.
async fn leader_a_and_standby_b(sandbox: &Sandbox) -> [(Daemon, CallLog); 2] {
    let (client_a, log_a) = recording_client(sandbox);
    let a = start_daemon_on(client_a, |o| electing(o, "a"));
    eventually(Duration::from_secs(5), "a leads", || async {
        (lease_holder(sandbox).as_deref() == Some("a")).then_some(())
    })
    .await;
    let (client_b, log_b) = recording_client(sandbox);
    let b = start_daemon_on(client_b, |o| electing(o, "b"));
    [(a, log_a), (b, log_b)]
}

/// Successful bindings per pod over several logs.
fn successes(logs: &[&CallLog]) -> BTreeMap<String, usize> {
    let mut ok = BTreeMap::new();
    for log in logs {
        for call in log.bindings() {
            if call.status() == 201 {
                *ok.entry(call.binding_pod().unwrap().to_string())
                    .or_default() += 1;
            }
        }
    }
    ok
}

fn assert_once_each(ok: &BTreeMap<String, usize>, pods: usize) {
    assert_eq!(ok.len(), pods, "pods with a successful binding");
    let twice: Vec<_> = ok.iter().filter(|(_, n)| **n != 1).collect();
    assert!(twice.is_empty(), "pods bound more than once: {twice:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_leader_binds_and_the_standby_takes_over_when_it_stops() {
    let sandbox = sandbox().await;
    sandbox.seed_objects(user_nodes(10)).unwrap();

    let [(a, log_a), (b, log_b)] = leader_a_and_standby_b(&sandbox).await;
    // b has listed everything and campaigns (reads the lease) as a standby.
    eventually(Duration::from_secs(5), "b campaigns", || async {
        (log_b
            .calls()
            .iter()
            .filter(|c| c.path.contains("/leases/"))
            .count()
            >= 3)
            .then_some(())
    })
    .await;

    // While a leads, a binds everything and b nothing.
    sandbox.seed_objects(pending_pods("x", 40, "1Gi")).unwrap();
    all_bound(&sandbox, 40, Duration::from_secs(10)).await;
    assert!(log_b.bindings().is_empty(), "the standby bound pods");
    assert_eq!(lease_holder(&sandbox).as_deref(), Some("a"));

    // Bindings take a while now, so some are in flight when a stops.
    sandbox.faults().set_latency(Duration::from_millis(30));
    sandbox.seed_objects(pending_pods("y", 100, "1Gi")).unwrap();
    all_bound(&sandbox, 60, Duration::from_secs(10)).await;
    a.stop().await.unwrap();
    let released = Instant::now();
    let b_leads = eventually(Duration::from_secs(3), "b leads", || async {
        (lease_holder(&sandbox).as_deref() == Some("b")).then(Instant::now)
    })
    .await;
    // a released the lease on the way out: b does not wait for it to expire.
    assert!(
        b_leads - released < Duration::from_secs(1),
        "b took over {:?} after the release",
        b_leads - released
    );
    all_bound(&sandbox, 140, Duration::from_secs(20)).await;
    sandbox.faults().clear();
    b.stop().await.unwrap();

    assert_no_overcommit(&sandbox);
    assert_once_each(&successes(&[&log_a, &log_b]), 140);
    // Never both: every binding of a was answered before b sent its first.
    // (That a starts none once stopping is checked deterministically in the
    // shutdown test below; here the stop races a's running loop.)
    let a_bindings = log_a.bindings();
    let b_bindings = log_b.bindings();
    assert!(!b_bindings.is_empty(), "b bound the rest");
    let a_last = a_bindings
        .iter()
        .map(|c| c.answer.expect("a's bindings were all answered").1)
        .max()
        .unwrap();
    let b_first = b_bindings.iter().map(|c| c.started).min().unwrap();
    assert!(a_last <= b_first, "a and b bound at the same time");
    assert!(b_first >= released, "b bound before a released the lease");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scheduler_that_crashed_mid_run_is_replaced_by_one_that_rebuilds_its_state() {
    let sandbox = sandbox().await;
    // 10 nodes x 16 GiB and 160 pods of 1 GiB: the cluster ends exactly full,
    // so a replacement that did not count its predecessor's pods would
    // over-commit a node.
    sandbox.seed_objects(user_nodes(10)).unwrap();
    sandbox.seed_objects(pending_pods("p", 160, "1Gi")).unwrap();
    sandbox.faults().set_latency(Duration::from_millis(20));

    // The first scheduler runs on a runtime of its own, so that it can die
    // at once, bindings in flight and all, as a killed process does.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let log_a = CallLog::default();
    let (client_tx, client_rx) = tokio::sync::oneshot::channel();
    {
        let sandbox_config = sandbox.config();
        let log = log_a.clone();
        runtime.spawn(async move {
            // The client's connections belong to this runtime.
            let client = recording_client_from(sandbox_config, log);
            let _ = client_tx.send(());
            let mut opts = user_scheduler::daemon::DaemonOptions::new(Default::default());
            opts.leader_elect = false;
            let _ = user_scheduler::daemon::run(
                client,
                opts,
                tokio_util::sync::CancellationToken::new(),
            )
            .await;
        });
    }
    client_rx.await.unwrap();
    all_bound(&sandbox, 50, Duration::from_secs(20)).await;
    runtime.shutdown_background();
    let at_crash = bound_pods(&sandbox).len();
    assert!(at_crash < 160, "the first scheduler was stopped mid-run");

    tokio::time::sleep(Duration::from_millis(100)).await;
    let (client_b, log_b) = recording_client(&sandbox);
    let b = start_daemon_on(client_b, |o| o);
    all_bound(&sandbox, 160, Duration::from_secs(20)).await;
    sandbox.faults().clear();
    b.stop().await.unwrap();

    assert_no_overcommit(&sandbox);
    // Each pod was bound by one answered binding, or by one the first
    // scheduler sent but never heard back from (it died waiting; such a
    // binding may or may not have reached the store).
    let ok = successes(&[&log_a, &log_b]);
    assert!(ok.values().all(|&n| n == 1), "bound twice: {ok:?}");
    let unanswered: std::collections::BTreeSet<String> = log_a
        .bindings()
        .iter()
        .filter(|c| c.answer.is_none())
        .map(|c| c.binding_pod().unwrap().to_string())
        .collect();
    for pod in bound_pods(&sandbox).keys() {
        assert!(
            ok.contains_key(pod) || unanswered.contains(pod),
            "{pod} bound without a binding"
        );
    }
    // The replacement never tried a pod that was already bound.
    let b_failed: Vec<_> = log_b
        .bindings()
        .into_iter()
        .filter(|c| c.status() != 201)
        .collect();
    assert!(b_failed.is_empty(), "{b_failed:?}");
    // The replacement bound only what was left.
    let by_b = successes(&[&log_b]).len();
    assert!(by_b <= 160 - at_crash, "{by_b} bound by the replacement");
    // Every node is exactly full.
    let mut per_node = BTreeMap::<String, usize>::new();
    for node in bound_pods(&sandbox).values() {
        *per_node.entry(node.clone()).or_default() += 1;
    }
    assert!(per_node.values().all(|&n| n == 16), "{per_node:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_shutdown_bindings_in_flight_complete_then_the_lease_is_released() {
    let sandbox = sandbox().await;
    sandbox.seed_objects(user_nodes(4)).unwrap();
    let (client, log) = recording_client(&sandbox);
    // Leader election with the default timings (renew deadline 10 s), so
    // holding writes for a second does not cost the lease.
    let daemon = start_daemon_on(client, |mut o| {
        o.leader_elect = true;
        o.identity = Some("only".into());
        o
    });
    create_pod(&sandbox, &pending_pod("warm", "singleuser-server", "1Gi")).await;
    eventually(Duration::from_secs(10), "warm bound", || async {
        node_of(&sandbox, "warm")
    })
    .await;
    assert_eq!(lease_holder(&sandbox).as_deref(), Some("only"));

    // Hold every write: 16 bindings (the concurrency) go out and wait.
    sandbox.faults().pause_writes();
    sandbox.seed_objects(pending_pods("p", 24, "1Gi")).unwrap();
    eventually(Duration::from_secs(10), "16 bindings in flight", || async {
        let sent = log.bindings().iter().filter(|c| c.answer.is_none()).count();
        (sent == 16).then_some(())
    })
    .await;

    // SIGTERM.
    let cancelled = Instant::now();
    daemon.stop.cancel();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !daemon.task.is_finished(),
        "the daemon waits for its bindings"
    );
    assert_eq!(
        lease_holder(&sandbox).as_deref(),
        Some("only"),
        "the lease is kept while bindings are in flight"
    );
    sandbox.faults().resume_writes();
    tokio::time::timeout(Duration::from_secs(10), daemon.task)
        .await
        .expect("the daemon stops once its bindings are done")
        .unwrap()
        .unwrap();

    // The 16 bindings in flight completed; none started after the signal.
    let bindings = log.bindings();
    let in_flight: Vec<_> = bindings
        .iter()
        .filter(|c| c.binding_pod() != Some("warm"))
        .collect();
    assert_eq!(in_flight.len(), 16, "no binding started after the signal");
    assert!(in_flight.iter().all(|c| c.started < cancelled));
    assert!(in_flight.iter().all(|c| c.status() == 201), "{in_flight:?}");
    assert_eq!(bound_pods(&sandbox).len(), 1 + 16);
    // Then the lease was released: written after the last binding's answer,
    // with no holder.
    let last_answer = in_flight.iter().map(|c| c.answer.unwrap().1).max().unwrap();
    let release = log
        .calls()
        .into_iter()
        .rfind(|c| c.method == "PUT" && c.path.contains("/leases/"))
        .expect("the lease was written");
    assert!(
        release.started >= last_answer,
        "released before the bindings finished"
    );
    assert_eq!(release.status(), 200);
    assert_eq!(lease_holder(&sandbox), None, "the lease is released");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_that_cannot_renew_stops_binding_before_the_standby_starts() {
    let sandbox = sandbox().await;
    sandbox.seed_objects(user_nodes(16)).unwrap();
    let [(a, log_a), (b, log_b)] = leader_a_and_standby_b(&sandbox).await;

    // Bindings are slow and keep a busy; then its renewals start failing.
    sandbox.faults().set_latency(Duration::from_millis(100));
    sandbox.seed_objects(pending_pods("p", 240, "1Gi")).unwrap();
    all_bound(&sandbox, 30, Duration::from_secs(10)).await;
    sandbox
        .faults()
        .fail_next("PUT", "/leases/", 500, 6)
        .unwrap();
    let lost = tokio::time::timeout(Duration::from_secs(5), a.task)
        .await
        .expect("a gives up within the renew deadline")
        .unwrap();
    assert!(lost.is_err(), "a reports the lost lease: {lost:?}");
    let at_loss = bound_pods(&sandbox).len();
    assert!(at_loss < 240, "a lost the lease mid-run ({at_loss} bound)");
    all_bound(&sandbox, 240, Duration::from_secs(20)).await;
    sandbox.faults().clear();
    b.stop().await.unwrap();

    assert_no_overcommit(&sandbox);
    assert_once_each(&successes(&[&log_a, &log_b]), 240);
    let a_last = log_a
        .bindings()
        .iter()
        .map(|c| c.answer.expect("a's bindings were all answered").1)
        .max()
        .unwrap();
    let b_first = log_b
        .bindings()
        .iter()
        .map(|c| c.started)
        .min()
        .expect("b bound the rest");
    assert!(a_last <= b_first, "a and b bound at the same time");
}
