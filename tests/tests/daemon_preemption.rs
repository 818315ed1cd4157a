//! Preemption end to end: a real user that fits nowhere evicts placeholders,
//! is nominated, and binds once they are gone; the room it holds is not taken
//! by a lower-priority pod meanwhile, nor the room another scheduler's
//! preemption freed (no z2jh#1592 loop, with one scheduler or two).

mod support;

use std::time::Duration;

use sandbox::Sandbox;
use serde_json::json;
use support::*;

fn placeholder_on(name: &str, node: &str) -> serde_json::Value {
    let mut p = bound_pod(name, "user-placeholder", "4Gi", node);
    p["spec"]["terminationGracePeriodSeconds"] = json!(0);
    p
}

/// Node `n1` (16 GiB) full with four 4 GiB placeholders.
fn n1_full_of_placeholders() -> [serde_json::Value; 5] {
    [
        user_node("n1", "4", "16Gi"),
        placeholder_on("ph-0", "n1"),
        placeholder_on("ph-1", "n1"),
        placeholder_on("ph-2", "n1"),
        placeholder_on("ph-3", "n1"),
    ]
}

/// Creates the user pod `alice` requesting `memory` and waits (30 s at most)
/// until it is bound; returns its node.
async fn create_alice_and_await_node(sandbox: &Sandbox, memory: &str) -> String {
    create_pod(sandbox, &pending_pod("alice", "singleuser-server", memory)).await;
    eventually(Duration::from_secs(30), "alice bound", || async {
        node_of(sandbox, "alice")
    })
    .await
}

/// Names of the placeholder pods in the sandbox's store.
fn placeholders(sandbox: &Sandbox) -> Vec<String> {
    sandbox
        .list("pods")
        .iter()
        .filter(|p| p["metadata"]["labels"]["component"] == "user-placeholder")
        .map(|p| p["metadata"]["name"].as_str().unwrap().to_string())
        .collect()
}

/// How many pod deletions the sandbox has served.
fn pod_deletes(sandbox: &Sandbox) -> usize {
    sandbox
        .requests()
        .into_iter()
        .filter(|r| r.verb == "delete" && r.resource == "pods")
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_evicts_placeholders_and_binds_in_their_place() {
    let sandbox = sandbox().await;
    sandbox.seed_objects(n1_full_of_placeholders()).unwrap();
    let daemon = start_daemon(&sandbox);
    // 6Gi: two 4Gi placeholders must go (reprieve keeps the other two).
    let node = create_alice_and_await_node(&sandbox, "6Gi").await;
    assert_eq!(node, "n1");
    let left = placeholders(&sandbox);
    assert_eq!(
        left.len(),
        2,
        "two placeholders evicted, two kept: {left:?}"
    );
    // Each victim got a Preempted event naming the preemptor's node.
    let preempted: Vec<_> = sandbox
        .list("events")
        .into_iter()
        .filter(|e| e["reason"] == "Preempted")
        .collect();
    assert_eq!(preempted.len(), 2, "{preempted:?}");
    let note = preempted[0]["note"]
        .as_str()
        .or(preempted[0]["message"].as_str())
        .unwrap_or_default();
    assert!(
        note.starts_with("Preempted by pod ") && note.ends_with(" on node n1"),
        "{note}"
    );
    // The victims were deleted with a uid precondition after being marked.
    let deletes = pod_deletes(&sandbox);
    assert_eq!(deletes, 2);
    daemon.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nominated_room_is_not_taken_by_a_lower_priority_pod() {
    let sandbox = sandbox().await;
    // Victims terminate slowly (30 s grace): the preemptor waits, nominated.
    let mut slow = bound_pod("ph-0", "user-placeholder", "16Gi", "n1");
    slow["spec"]["terminationGracePeriodSeconds"] = json!(30);
    sandbox
        .seed_objects([user_node("n1", "4", "16Gi"), slow])
        .unwrap();
    let daemon = start_daemon(&sandbox);
    create_pod(&sandbox, &pending_pod("alice", "singleuser-server", "8Gi")).await;
    let nominated = eventually(Duration::from_secs(20), "alice nominated", || async {
        sandbox
            .get("pods", NS, "alice")
            .and_then(|p| p["status"]["nominatedNodeName"].as_str().map(String::from))
    })
    .await;
    assert_eq!(nominated, "n1");
    // A recreated placeholder arrives while the victim terminates: it must
    // not take the room held for alice.
    create_pod(&sandbox, &pending_pod("ph-new", "user-placeholder", "8Gi")).await;
    let condition = eventually(Duration::from_secs(20), "ph-new reported", || async {
        pod_scheduled_condition(&sandbox, "ph-new").filter(|c| c["status"] == "False")
    })
    .await;
    assert_eq!(condition["reason"], "Unschedulable");
    assert_eq!(node_of(&sandbox, "ph-new"), None);
    // Only one round of evictions while the victim terminates.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let deletes = pod_deletes(&sandbox);
    assert_eq!(deletes, 1, "no second round of evictions");
    assert_eq!(
        node_of(&sandbox, "alice"),
        None,
        "the victim is still terminating"
    );
    daemon.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn room_another_scheduler_nominated_is_not_handed_back_to_placeholders() {
    // The default scheduler preempted placeholders on n1 for an image puller
    // (priority -5) and nominated it there; the evicted placeholder comes
    // back Pending. Giving it the freed room would make the puller preempt it
    // again, forever (z2jh#1592). A user (priority 0) may still take it.
    let sandbox = sandbox().await;
    let mut puller = pending_pod("puller", "image-puller", "12Gi");
    puller["spec"]["schedulerName"] = json!("default-scheduler");
    puller["spec"]["priority"] = json!(-5);
    puller["status"] = json!({"phase": "Pending", "nominatedNodeName": "n1"});
    sandbox
        .seed_objects([user_node("n1", "4", "16Gi"), puller])
        .unwrap();
    let daemon = start_daemon(&sandbox);
    create_pod(&sandbox, &pending_pod("ph-0", "user-placeholder", "8Gi")).await;
    let condition = eventually(Duration::from_secs(20), "ph-0 reported", || async {
        pod_scheduled_condition(&sandbox, "ph-0").filter(|c| c["status"] == "False")
    })
    .await;
    assert_eq!(condition["reason"], "Unschedulable");
    assert_eq!(node_of(&sandbox, "ph-0"), None);
    // Higher priority than the puller: the nomination does not hold against
    // a user.
    assert_eq!(create_alice_and_await_node(&sandbox, "8Gi").await, "n1");
    // The puller goes away: the room it held is free, and the placeholder
    // binds without waiting for the unschedulable flush.
    let pods: kube::Api<k8s_openapi::api::core::v1::Pod> =
        kube::Api::namespaced(sandbox.client(), NS);
    pods.delete("puller", &kube::api::DeleteParams::default())
        .await
        .unwrap();
    let node = eventually(Duration::from_secs(20), "ph-0 bound", || async {
        node_of(&sandbox, "ph-0")
    })
    .await;
    assert_eq!(node, "n1");
    daemon.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_victim_already_gone_is_skipped_cleanly() {
    let sandbox = sandbox().await;
    sandbox.seed_objects(n1_full_of_placeholders()).unwrap();
    // Deleting any pod fails once with 404, as if the victim vanished just
    // before the scheduler's delete: the daemon must carry on and bind.
    sandbox
        .faults()
        .fail_next("DELETE", "/pods/", 404, 1)
        .unwrap();
    let daemon = start_daemon(&sandbox);
    let node = create_alice_and_await_node(&sandbox, "4Gi").await;
    assert_eq!(node, "n1");
    daemon.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn packing_preemption_puts_the_user_next_to_users_when_enabled() {
    let sandbox = sandbox().await;
    sandbox
        .seed_objects([
            user_node("users", "4", "16Gi"),
            user_node("empty", "4", "16Gi"),
            bound_pod("u1", "singleuser-server", "4Gi", "users"),
            bound_pod("u2", "singleuser-server", "4Gi", "users"),
            placeholder_on("ph-0", "users"),
            placeholder_on("ph-1", "users"),
        ])
        .unwrap();
    let daemon = start_daemon_with(&sandbox, |mut o| {
        for p in &mut o.config.profiles {
            p.packing_preemption = true;
        }
        o
    });
    let node = create_alice_and_await_node(&sandbox, "4Gi").await;
    assert_eq!(
        node, "users",
        "packed next to the two users, not on the empty node"
    );
    let placeholders_left = placeholders(&sandbox).len();
    assert_eq!(placeholders_left, 1, "one placeholder made room");
    daemon.stop().await.unwrap();
}
