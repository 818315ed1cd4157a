//! The daemon against the sandbox (and, but for the thousand pods, the real
//! kube-apiserver v1.37.2 with the same test body): pods land on the fullest feasible node,
//! users pack next to users, core nodes stay free of user pods, pods that fit
//! nowhere are reported as kube reports them and bound once a node fits, and
//! pods this scheduler cannot serve (DRA claims) are reported, not bound.

use std::time::Duration;

use crate::support::backend::{Backend, on_both_backends};
use crate::support::*;

on_both_backends!(
    pods_are_bound_to_the_fullest_feasible_node_and_users_pack_with_users,
    pods_are_bound_to_the_fullest_feasible_node_and_users_pack_with_users_on_kube_apiserver,
    fullest_node_and_users_with_users
);

async fn fullest_node_and_users_with_users(backend: Backend) {
    backend
        .create(&[
            core_node("core-1"),
            user_node("empty", "4", "16Gi"),
            user_node("placeholders", "4", "16Gi"),
            user_node("users", "4", "16Gi"),
            bound_pod("ph-0", "user-placeholder", "4Gi", "placeholders"),
            bound_pod("ph-1", "user-placeholder", "4Gi", "placeholders"),
            bound_pod("alice", "singleuser-server", "4Gi", "users"),
            bound_pod("bob", "singleuser-server", "4Gi", "users"),
        ])
        .await;
    let (client, log) = backend.scheduler_client().await;
    let daemon = start_daemon_on(client, |o| o);
    backend
        .create(&[pending_pod("carol", "singleuser-server", "2Gi")])
        .await;
    let node = eventually(Duration::from_secs(20), "carol bound", || async {
        backend.node_of("carol").await
    })
    .await;
    assert_eq!(
        node,
        "users",
        "{}: a user goes next to users, not next to placeholders",
        backend.name()
    );
    let events = eventually(Duration::from_secs(10), "a Scheduled event", || async {
        let e = backend.events_of("carol").await;
        e.iter().any(|(r, _)| r == "Scheduled").then_some(e)
    })
    .await;
    assert!(
        events.contains(&(
            "Scheduled".into(),
            "Successfully assigned jhub/carol to users".into()
        )),
        "{}: {events:?}",
        backend.name()
    );
    let condition = backend
        .pod_scheduled_condition("carol")
        .await
        .expect("binding sets PodScheduled");
    assert_eq!(condition["status"], "True");
    daemon.stop().await.unwrap();
    assert_eq!(
        real::refused(&log),
        Vec::<String>::new(),
        "{}",
        backend.name()
    );
}

on_both_backends!(
    a_pod_that_fits_nowhere_is_reported_then_bound_when_a_node_arrives,
    a_pod_that_fits_nowhere_is_reported_then_bound_when_a_node_arrives_on_kube_apiserver,
    reported_then_bound
);

async fn reported_then_bound(backend: Backend) {
    backend
        .create(&[core_node("core-1"), user_node("small", "2", "4Gi")])
        .await;
    let (client, log) = backend.scheduler_client().await;
    let daemon = start_daemon_on(client, |o| o);
    backend
        .create(&[pending_pod("big", "singleuser-server", "8Gi")])
        .await;
    let expected = "0/2 nodes are available: 1 Insufficient memory, \
                    1 node(s) had untolerated taint {hub.jupyter.org/dedicated: core}. \
                    preemption: 0/2 nodes are available: 2 Preemption is not helpful for scheduling.";
    let condition = eventually(Duration::from_secs(20), "PodScheduled=False", || async {
        backend
            .pod_scheduled_condition("big")
            .await
            .filter(|c| c["status"] == "False")
    })
    .await;
    assert_eq!(condition["reason"], "Unschedulable");
    assert_eq!(condition["message"], expected, "{}", backend.name());
    eventually(
        Duration::from_secs(10),
        "a FailedScheduling event",
        || async {
            backend
                .events_of("big")
                .await
                .iter()
                .any(|(r, n)| r == "FailedScheduling" && n == expected)
                .then_some(())
        },
    )
    .await;
    // The cluster autoscaler adds a node: the pod is bound there.
    backend.create(&[user_node("large", "8", "32Gi")]).await;
    let node = eventually(Duration::from_secs(30), "big bound", || async {
        backend.node_of("big").await
    })
    .await;
    assert_eq!(node, "large");
    daemon.stop().await.unwrap();
    assert_eq!(
        real::refused(&log),
        Vec::<String>::new(),
        "{}",
        backend.name()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_pods_on_a_hundred_nodes_are_all_bound_without_overcommit() {
    let sandbox = sandbox().await;
    let nodes: Vec<_> = (0..100)
        .map(|i| user_node(&format!("n{i:03}"), "4", "16Gi"))
        .collect();
    sandbox.seed_objects(nodes).unwrap();
    let pods: Vec<_> = (0..1000)
        .map(|i| pending_pod(&format!("u{i:04}"), "singleuser-server", "1Gi"))
        .collect();
    sandbox.seed_objects(pods).unwrap();
    let daemon = start_daemon(&sandbox);
    eventually(Duration::from_secs(120), "1000 pods bound", || async {
        let bound = sandbox
            .list("pods")
            .iter()
            .filter(|p| p["spec"]["nodeName"].is_string())
            .count();
        (bound == 1000).then_some(())
    })
    .await;
    // 16 GiB per node and 1 GiB per pod: at most 16 per node; packing fills
    // nodes, so exactly ceil(1000 / 16) = 63 nodes are used.
    let mut per_node = std::collections::BTreeMap::<String, usize>::new();
    for p in sandbox.list("pods") {
        *per_node
            .entry(p["spec"]["nodeName"].as_str().unwrap().to_string())
            .or_default() += 1;
    }
    assert!(
        per_node.values().all(|&n| n <= 16),
        "over-committed: {per_node:?}"
    );
    assert_eq!(per_node.len(), 63, "{per_node:?}");
    daemon.stop().await.unwrap();
}

on_both_backends!(
    a_pod_with_resource_claims_is_reported_not_bound,
    a_pod_with_resource_claims_is_reported_not_bound_on_kube_apiserver,
    resource_claims_reported
);

async fn resource_claims_reported(backend: Backend) {
    // Binding a pod whose DRA claims nobody allocated would leave it unable
    // to start: it is reported instead, naming the field, and never bound.
    backend.create(&[user_node("n1", "4", "16Gi")]).await;
    let (client, log) = backend.scheduler_client().await;
    let daemon = start_daemon_on(client, |o| o);
    let mut pod = pending_pod("gpu-user", "singleuser-server", "1Gi");
    pod["spec"]["resourceClaims"] =
        serde_json::json!([{"name": "gpu", "resourceClaimTemplateName": "one-gpu"}]);
    backend.create(&[pod]).await;
    let condition = eventually(Duration::from_secs(20), "PodScheduled=False", || async {
        backend
            .pod_scheduled_condition("gpu-user")
            .await
            .filter(|c| c["status"] == "False")
    })
    .await;
    assert_eq!(condition["reason"], "SchedulerError");
    let message = condition["message"].as_str().unwrap();
    assert!(
        message.contains("spec.resourceClaims: dynamic resource allocation is not supported"),
        "{}: {message}",
        backend.name()
    );
    // Other pods are unaffected.
    backend
        .create(&[pending_pod("alice", "singleuser-server", "1Gi")])
        .await;
    eventually(Duration::from_secs(20), "alice bound", || async {
        backend.node_of("alice").await
    })
    .await;
    assert_eq!(backend.node_of("gpu-user").await, None);
    daemon.stop().await.unwrap();
    assert_eq!(
        real::refused(&log),
        Vec::<String>::new(),
        "{}",
        backend.name()
    );
}
