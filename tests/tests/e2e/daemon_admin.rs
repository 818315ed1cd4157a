//! The daemon's admin server as a kubelet probe and Prometheus see it:
//! `/readyz` answers 503 until every watch has listed, then 200; `/metrics`
//! is served only to whom the API server allows (kube-scheduler's delegated
//! authentication and authorization), counts scheduling attempts as
//! kube-scheduler names them, times the wait for users' volumes, and shows
//! the decision cache at work.

use std::net::SocketAddr;
use std::time::Duration;

use crate::support::*;
use user_scheduler::daemon::auth::Access;

/// One plain HTTP/1.1 GET without credentials: (status, body).
async fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    admin_get(addr, path, None).await
}

/// Starts the daemon with a plain-HTTP admin server on a free port that
/// serves everyone (these tests read /metrics without a token).
async fn start_with_admin(sandbox: &sandbox::Sandbox) -> (Daemon, SocketAddr) {
    start_daemon_with_admin(sandbox, Access::AllowAll, |o| o).await
}

/// The value of the sample `name{labels}` (labels exactly as written).
fn sample(metrics: &str, series: &str) -> Option<f64> {
    metrics.lines().find_map(|l| {
        l.strip_prefix(series)
            .and_then(|rest| rest.trim().parse().ok())
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_waits_for_the_watches_and_metrics_count_scheduled_pods() {
    let sandbox = sandbox().await;
    sandbox
        .seed_objects([user_node("n0", "4", "16Gi")])
        .unwrap();
    // Every request takes 1 s for now: the watches' first lists are slow.
    sandbox.faults().set_latency(Duration::from_secs(1));
    let (daemon, addr) = start_with_admin(&sandbox).await;

    let (status, body) = get(addr, "/readyz").await;
    assert_eq!(status, 503, "not ready before the lists: {body}");
    assert_eq!(get(addr, "/healthz").await.0, 200, "alive meanwhile");
    sandbox.faults().set_latency(Duration::ZERO);
    eventually(Duration::from_secs(10), "/readyz 200", || async {
        (get(addr, "/readyz").await.0 == 200).then_some(())
    })
    .await;

    let series =
        r#"scheduler_schedule_attempts_total{result="scheduled",profile="user-scheduler"}"#;
    let (status, before) = get(addr, "/metrics").await;
    assert_eq!(status, 200);
    let before = sample(&before, series).unwrap_or(0.0);
    create_pod(&sandbox, &pending_pod("alice", "singleuser-server", "1Gi")).await;
    eventually(Duration::from_secs(10), "alice bound", || async {
        node_of(&sandbox, "alice")
    })
    .await;
    let after = eventually(Duration::from_secs(5), "the attempt counted", || async {
        let (_, body) = get(addr, "/metrics").await;
        sample(&body, series).filter(|v| *v > before)
    })
    .await;
    assert_eq!(after, before + 1.0, "one attempt, one pod");
    daemon.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_time_the_wait_for_volumes() {
    let sandbox = sandbox().await;
    sandbox
        .seed_objects([
            user_node("n0", "4", "16Gi"),
            wffc_class("standard-rwo"),
            claim("claim-alice", "standard-rwo"),
        ])
        .unwrap();
    let _provisioner = sandbox.start_provisioner(sandbox::controllers::ProvisionerOptions {
        delay: Duration::from_millis(300),
        ..Default::default()
    });
    let (daemon, addr) = start_with_admin(&sandbox).await;
    let bound = "user_scheduler_volume_binding_duration_seconds_count{result=\"bound\"}";
    let (_, before) = get(addr, "/metrics").await;
    assert_eq!(sample(&before, bound), Some(0.0), "{before}");
    create_pod(
        &sandbox,
        &with_claim(
            pending_pod("alice", "singleuser-server", "1Gi"),
            "claim-alice",
        ),
    )
    .await;
    eventually(Duration::from_secs(30), "alice bound", || async {
        node_of(&sandbox, "alice")
    })
    .await;
    let (_, after) = get(addr, "/metrics").await;
    assert_eq!(sample(&after, bound), Some(1.0), "{after}");
    // The provisioner's delay is in the sum.
    let sum = "user_scheduler_volume_binding_duration_seconds_sum{result=\"bound\"}";
    assert!(sample(&after, sum).is_some_and(|s| s >= 0.3), "{after}");
    daemon.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_decision_cache_redoes_only_changed_nodes() {
    // Ten users of one profile on twenty nodes: the first is judged on every
    // node, each later one only on the nodes that changed since (the last
    // user's node, and what the watches reported), never by a full pass.
    let sandbox = sandbox().await;
    sandbox
        .seed_objects((0..20).map(|i| user_node(&format!("n{i:02}"), "4", "16Gi")))
        .unwrap();
    let (daemon, addr) = start_with_admin(&sandbox).await;
    for k in 0..10 {
        let name = format!("user-{k}");
        create_pod(&sandbox, &pending_pod(&name, "singleuser-server", "1Gi")).await;
        eventually(Duration::from_secs(10), "the user bound", || async {
            node_of(&sandbox, &name)
        })
        .await;
    }
    let (_, metrics) = get(addr, "/metrics").await;
    let full = sample(
        &metrics,
        r#"user_scheduler_nodes_evaluated_total{pass="full"}"#,
    );
    let cached = sample(
        &metrics,
        r#"user_scheduler_nodes_evaluated_total{pass="cached"}"#,
    )
    .expect("the cached series is exposed");
    assert_eq!(full, Some(0.0), "{metrics}");
    assert!(
        (20.0..100.0).contains(&cached),
        "20 nodes for the first user, a few for each later one: {cached}"
    );
    daemon.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_are_served_only_with_a_token_the_api_server_allows() {
    let sandbox = sandbox().await;
    grant_metrics_to_prometheus(&sandbox);
    sandbox.add_token(
        "someone-token",
        sandbox::TokenUser::new("someone", &["developers"]),
    );
    // The access run gives the daemon: kube-scheduler's defaults.
    let (daemon, addr) = start_daemon_with_admin(&sandbox, Access::default(), |o| o).await;

    // Probes need no credentials.
    for path in ["/healthz", "/livez"] {
        assert_eq!(get(addr, path).await.0, 200, "{path}");
    }
    eventually(Duration::from_secs(10), "/readyz 200", || async {
        (get(addr, "/readyz").await.0 == 200).then_some(())
    })
    .await;
    // Without a token: anonymous, and forbidden as kube words it.
    let (status, body) = get(addr, "/metrics").await;
    assert_eq!(status, 403, "{body}");
    assert!(
        body.contains(
            r#""message":"forbidden: User \"system:anonymous\" cannot get path \"/metrics\"""#
        ),
        "{body}"
    );
    // A token the API server does not know: 401.
    let (status, body) = admin_get(addr, "/metrics", Some("forged")).await;
    assert_eq!(status, 401, "{body}");
    // A user without the grant: 403 naming the user.
    let (status, body) = admin_get(addr, "/metrics", Some("someone-token")).await;
    assert_eq!(status, 403, "{body}");
    assert!(body.contains(r#"User \"someone\""#), "{body}");
    // Prometheus's service account: the metrics.
    sandbox.clear_requests();
    for _ in 0..3 {
        let (status, body) = admin_get(addr, "/metrics", Some(PROMETHEUS_TOKEN)).await;
        assert_eq!(status, 200, "{body}");
        assert!(body.contains("scheduler_schedule_attempts_total"), "{body}");
    }
    // Three scrapes, one review of each kind: the answers are cached.
    let reviews = |resource: &str| {
        sandbox
            .requests()
            .iter()
            .filter(|r| r.resource == resource && r.verb == "create")
            .count()
    };
    assert_eq!(reviews("tokenreviews"), 1);
    assert_eq!(reviews("subjectaccessreviews"), 1);
    daemon.stop().await.unwrap();
}
