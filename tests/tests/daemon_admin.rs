//! The daemon's admin server as a kubelet probe and Prometheus see it:
//! `/readyz` answers 503 until every watch has listed, then 200; `/metrics`
//! counts scheduling attempts as kube-scheduler names them, times the wait
//! for users' volumes, and shows the decision cache at work.

mod support;

use std::net::SocketAddr;
use std::time::Duration;

use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use user_scheduler::daemon::admin::{AdminOptions, ConnectionLimits};
use user_scheduler::daemon::auth::Access;

/// One plain HTTP/1.1 GET: (status, body).
async fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut stream =
        tokio::time::timeout(Duration::from_secs(5), tokio::net::TcpStream::connect(addr))
            .await
            .expect("connects in time")
            .expect("the admin server accepts");
    let request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut raw))
        .await
        .expect("answers in time")
        .unwrap();
    let raw = String::from_utf8(raw).expect("a text answer");
    let status = raw
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("a status line");
    let body = raw
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

/// Starts the daemon with a plain-HTTP admin server on a free port.
async fn start_with_admin(sandbox: &sandbox::Sandbox) -> (Daemon, SocketAddr) {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let daemon = start_daemon_with(sandbox, |mut o| {
        o.admin = Some(AdminOptions {
            addr: "127.0.0.1:0".parse().unwrap(),
            tls: None,
            limits: ConnectionLimits::default(),
            access: Access::AllowAll,
        });
        o.admin_bound = Some(tx);
        o
    });
    let addr = tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .expect("the admin server listens")
        .expect("the daemon tells its address");
    (daemon, addr)
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
