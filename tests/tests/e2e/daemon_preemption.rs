//! Preemption end to end: a real user that fits nowhere evicts placeholders,
//! is nominated, and binds once they are gone; the room it holds is not taken
//! by a lower-priority pod meanwhile, nor the room another scheduler's
//! preemption freed (no z2jh#1592 loop, with one scheduler or two); users
//! arriving while victims terminate never evict those victims again.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::support::backend::{Backend, on_both_backends};
use crate::support::*;
use sandbox::{Sandbox, SandboxOptions};
use serde_json::json;

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

on_both_backends!(
    a_user_evicts_placeholders_and_binds_in_their_place,
    a_user_evicts_placeholders_and_binds_in_their_place_on_kube_apiserver,
    evicts_and_binds
);

async fn evicts_and_binds(backend: Backend) {
    backend.create(&n1_full_of_placeholders()).await;
    let (client, log) = backend.scheduler_client().await;
    let daemon = start_daemon_on(client, |o| o);
    // 6Gi: two 4Gi placeholders must go (reprieve keeps the other two).
    backend
        .create(&[pending_pod("alice", "singleuser-server", "6Gi")])
        .await;
    let node = eventually(Duration::from_secs(30), "alice bound", || async {
        backend.node_of("alice").await
    })
    .await;
    assert_eq!(node, "n1");
    let left = backend.pods_of_component("user-placeholder").await;
    assert_eq!(
        left.len(),
        2,
        "{}: two placeholders evicted, two kept: {left:?}",
        backend.name()
    );
    // Each victim got a Preempted event naming the preemptor's node.
    let preempted = backend.event_notes("Preempted").await;
    assert_eq!(preempted.len(), 2, "{}: {preempted:?}", backend.name());
    assert!(
        preempted[0].starts_with("Preempted by pod ") && preempted[0].ends_with(" on node n1"),
        "{}",
        preempted[0]
    );
    // The victims were deleted (with a uid precondition after being
    // marked), each once.
    let deletes = log
        .calls()
        .iter()
        .filter(|c| c.method == "DELETE" && c.path.contains("/pods/"))
        .count();
    assert_eq!(deletes, 2, "{}", backend.name());
    daemon.stop().await.unwrap();
    assert_eq!(
        real::refused(&log),
        Vec::<String>::new(),
        "{}",
        backend.name()
    );
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

/// A sandbox whose clock runs five times faster than real time: a 30 s
/// grace period ends after 6 s.
async fn fast_sandbox() -> Sandbox {
    let mut opts = SandboxOptions::default();
    opts.namespaces.push(NS.into());
    opts.time_scale = 5.0;
    Sandbox::start(opts).await.expect("the sandbox starts")
}

/// How many times each pod was deleted or evicted, from a client's calls.
fn deletions(log: &CallLog) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for call in log.calls() {
        let path = call.path.as_str();
        let name = match call.method.as_str() {
            "DELETE" => path.strip_prefix(&format!("/api/v1/namespaces/{NS}/pods/")),
            "POST" => path
                .strip_prefix(&format!("/api/v1/namespaces/{NS}/pods/"))
                .and_then(|p| p.strip_suffix("/eviction")),
            _ => None,
        };
        if let Some(name) = name.filter(|n| !n.contains('/')) {
            *counts.entry(name.to_string()).or_default() += 1;
        }
    }
    counts
}

/// How many times each pod was told it was preempted (an event series
/// counts each of its occurrences).
fn preempted_events(sandbox: &Sandbox) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for e in sandbox.list("events") {
        if e["reason"] != "Preempted" {
            continue;
        }
        let name = e["regarding"]["name"]
            .as_str()
            .or(e["involvedObject"]["name"].as_str())
            .unwrap_or_default()
            .to_string();
        let times = e["series"]["count"].as_u64().unwrap_or(1);
        *counts.entry(name).or_default() += usize::try_from(times).unwrap();
    }
    counts
}

/// Issue 12: one 2Gi node full of four 512Mi placeholders that take 30 s
/// (sandbox time) to terminate, and three 512Mi users arriving `gap` apart
/// while they do. Each user needs one victim: three victims, each deleted
/// once and announced once, by one preemptor. Before, every user that came
/// while earlier victims terminated evicted them again (6 Preempted events
/// and 6 deletions for 3 victims).
async fn users_arriving_while_victims_terminate_evict_each_once(gap: Duration) {
    let sandbox = fast_sandbox().await;
    let mut objects = vec![user_node("n1", "4", "2Gi")];
    for k in 0..4 {
        let mut p = bound_pod(&format!("ph-{k}"), "user-placeholder", "512Mi", "n1");
        p["spec"]["terminationGracePeriodSeconds"] = json!(30);
        objects.push(p);
    }
    sandbox.seed_objects(objects).unwrap();
    let (client, log) = recording_client(&sandbox);
    let daemon = start_daemon_on(client, |o| o);
    for k in 0..3 {
        let user = pending_pod(&format!("user-{k}"), "singleuser-server", "512Mi");
        create_pod(&sandbox, &user).await;
        tokio::time::sleep(gap).await;
    }
    // The terminating window: three victims are being deleted, none is gone
    // yet, and no user is bound.
    let terminating = |sandbox: &Sandbox| {
        sandbox
            .list("pods")
            .iter()
            .filter(|p| p["metadata"]["deletionTimestamp"].is_string())
            .count()
    };
    eventually(
        Duration::from_secs(5),
        "three victims terminating",
        || async { (terminating(&sandbox) == 3).then_some(()) },
    )
    .await;
    assert_eq!(placeholders(&sandbox).len(), 4, "no victim gone yet");
    assert_eq!(node_of(&sandbox, "user-0"), None);
    for k in 0..3 {
        let node = eventually(Duration::from_secs(30), "user bound", || async {
            node_of(&sandbox, &format!("user-{k}"))
        })
        .await;
        assert_eq!(node, "n1");
    }
    let deleted = deletions(&log);
    assert_eq!(deleted.len(), 3, "three victims: {deleted:?}");
    assert!(
        deleted.values().all(|&n| n == 1),
        "each deleted once: {deleted:?}"
    );
    assert_eq!(preempted_events(&sandbox), deleted, "each announced once");
    let left = placeholders(&sandbox);
    assert_eq!(left.len(), 1, "{left:?}");
    assert!(!deleted.contains_key(&left[0]));
    daemon.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_arriving_back_to_back_evict_each_victim_once() {
    users_arriving_while_victims_terminate_evict_each_once(Duration::ZERO).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_arriving_a_second_apart_evict_each_victim_once() {
    users_arriving_while_victims_terminate_evict_each_once(Duration::from_secs(1)).await;
}
