//! The daemon against an unreliable API server: watches dropped, event
//! windows compacted (forced 410 relists), bindings failing with 500 and 409,
//! requests throttled with 429 and 503. Every pod still ends bound exactly
//! once, and no node is over-committed.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::support::*;

/// Counts, per pod, the bindings the daemon's client saw answered with 201.
fn successful_bindings(log: &CallLog) -> BTreeMap<String, usize> {
    let mut ok = BTreeMap::new();
    for call in log.bindings() {
        if call.status() == 201 {
            *ok.entry(call.binding_pod().unwrap().to_string())
                .or_default() += 1;
        }
    }
    ok
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_pod_is_bound_exactly_once_through_dropped_watches_relists_and_failed_bindings() {
    let sandbox = sandbox().await;
    // 20 nodes of 16 GiB, 240 pods of 1 GiB: 75 % full at the end, so a
    // lost or doubled pod in the cache shows as over-commit or as a pod
    // that finds no room.
    let nodes: Vec<_> = (0..20)
        .map(|i| user_node(&format!("n{i:02}"), "4", "16Gi"))
        .collect();
    sandbox.seed_objects(nodes).unwrap();
    sandbox.seed_objects(pending_pods("a", 40, "1Gi")).unwrap();

    // The first 8 bindings fail with 500, the next 8 with an injected 409
    // (a conflict that is not "already assigned": a real error, backed off).
    let faults = sandbox.faults();
    faults.fail_next("POST", "/binding", 500, 8).unwrap();
    faults.fail_next("POST", "/binding", 409, 8).unwrap();

    let (client, log) = recording_client(&sandbox);
    let daemon = start_daemon_on(client, |o| o);

    // Pods keep arriving while watches are dropped and the event window is
    // compacted under the daemon's feet, and more bindings fail on the way.
    for (round, prefix) in ["b", "c", "d", "e", "f"].iter().enumerate() {
        tokio::time::sleep(Duration::from_millis(150)).await;
        match round % 3 {
            0 => faults.close_watches(),
            1 => faults.compact(),
            _ => {
                faults.close_watches();
                faults.compact();
            }
        }
        sandbox
            .seed_objects(pending_pods(prefix, 40, "1Gi"))
            .unwrap();
        faults.fail_next("POST", "/binding", 500, 2).unwrap();
        faults.fail_next("POST", "/binding", 409, 2).unwrap();
        if round == 2 {
            // Relists answered with errors too.
            faults.fail_next("GET", "/api/v1/pods", 500, 2).unwrap();
            faults.compact();
        }
    }

    all_bound(&sandbox, 240, Duration::from_secs(40)).await;
    // Let any straggling binding attempt land before counting.
    tokio::time::sleep(Duration::from_millis(300)).await;
    daemon.stop().await.unwrap();

    let bound = bound_pods(&sandbox);
    assert_eq!(bound.len(), 240);
    assert_no_overcommit(&sandbox);

    // Exactly one successful binding per pod, and the bindings that failed
    // are exactly the injected ones (no real conflict: nothing bound twice).
    let ok = successful_bindings(&log);
    assert_eq!(ok.len(), 240, "pods with a successful binding");
    let twice: Vec<_> = ok.iter().filter(|(_, n)| **n != 1).collect();
    assert!(twice.is_empty(), "pods bound more than once: {twice:?}");
    let bindings = log.bindings();
    let failed: Vec<_> = bindings.iter().filter(|c| c.status() != 201).collect();
    let injected = 16 + 5 * 4;
    assert_eq!(
        failed.len(),
        injected,
        "only the injected failures: {:?}",
        failed
            .iter()
            .map(|c| (c.binding_pod(), c.status()))
            .collect::<Vec<_>>()
    );
    assert!(
        failed.iter().all(|c| [500, 409].contains(&c.status())),
        "{failed:?}"
    );
    // The server agrees: each pod got one binding request answered 201, and
    // every pod sits where its successful binding put it.
    let requests = sandbox.requests();
    let posted = requests
        .iter()
        .filter(|r| r.subresource.as_deref() == Some("binding"))
        .count();
    assert_eq!(posted, bindings.len(), "the sandbox saw every binding once");
    // One Scheduled event per pod.
    let mut scheduled = BTreeMap::<String, usize>::new();
    for e in sandbox.list("events") {
        if e["reason"] == "Scheduled" {
            let pod = e["regarding"]["name"]
                .as_str()
                .or(e["involvedObject"]["name"].as_str())
                .unwrap_or_default()
                .to_string();
            *scheduled.entry(pod).or_default() += 1;
        }
    }
    assert_eq!(scheduled.len(), 240);
    assert!(scheduled.values().all(|&n| n == 1), "{scheduled:?}");
    // The relists happened: the daemon listed pods more than once.
    let pod_lists = requests
        .iter()
        .filter(|r| r.resource == "pods" && r.verb == "list")
        .count();
    assert!(pod_lists >= 2, "pods were relisted ({pod_lists} lists)");
}

/// A binding that lands while the daemon's own attempt is held up: the
/// daemon's answer is 409 "already assigned" (as when an answer is lost); the
/// pod counts where the API says it is, and nothing is over-committed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pod_someone_else_bound_meanwhile_is_counted_where_it_landed() {
    let sandbox = sandbox().await;
    // Two nodes with room for exactly 4 pods each.
    sandbox
        .seed_objects([
            user_node("left", "4", "4Gi"),
            user_node("right", "4", "4Gi"),
        ])
        .unwrap();
    let (client, log) = recording_client(&sandbox);
    let daemon = start_daemon_on(client, |o| o);
    create_pod(&sandbox, &pending_pod("first", "singleuser-server", "1Gi")).await;
    let first = eventually(Duration::from_secs(10), "first bound", || async {
        node_of(&sandbox, "first")
    })
    .await;
    let other = if first == "left" { "right" } else { "left" };

    // Hold every write; the daemon's binding of "raced" waits in the server.
    sandbox.faults().pause_writes();
    sandbox
        .seed_objects([pending_pod("raced", "singleuser-server", "1Gi")])
        .unwrap();
    eventually(
        Duration::from_secs(10),
        "the daemon's binding sent",
        || async {
            sandbox
                .requests()
                .iter()
                .any(|r| {
                    r.subresource.as_deref() == Some("binding")
                        && r.name.as_deref() == Some("raced")
                })
                .then_some(())
        },
    )
    .await;
    // Someone else binds it to the other node meanwhile (straight in the
    // store, so it surely comes first); then the daemon's binding proceeds.
    let mut raced = sandbox.get("pods", NS, "raced").unwrap();
    raced["spec"]["nodeName"] = serde_json::json!(other);
    sandbox.seed_objects([raced]).unwrap();
    sandbox.faults().resume_writes();

    eventually(Duration::from_secs(10), "the daemon's answer", || async {
        log.bindings()
            .iter()
            .find(|c| c.binding_pod() == Some("raced") && c.answer.is_some())
            .map(|c| c.status())
    })
    .await;
    assert_eq!(node_of(&sandbox, "raced").as_deref(), Some(other));
    let status = log
        .bindings()
        .iter()
        .find(|c| c.binding_pod() == Some("raced"))
        .map(Call::status);
    assert_eq!(
        status,
        Some(409),
        "the daemon's binding found the pod bound"
    );
    // A Scheduled event, if any, names where the pod really is.
    for (reason, note) in events_of(&sandbox, "raced") {
        if reason == "Scheduled" {
            assert_eq!(note, format!("Successfully assigned jhub/raced to {other}"));
        }
    }

    // Fill the cluster: 6 more pods fit exactly (8 slots, 2 taken). If the
    // daemon still counted "raced" on its own choice as well, one pod would
    // find no room; if it counted it nowhere, a node would be over-committed.
    sandbox
        .seed_objects(pending_pods("fill", 6, "1Gi"))
        .unwrap();
    all_bound(&sandbox, 8, Duration::from_secs(20)).await;
    assert_no_overcommit(&sandbox);
    daemon.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_production_client_rides_out_a_throttled_api_server() {
    // The client `run` builds for a real cluster (bounded retries behind a
    // buffer) carries the watches and bindings, and the throttled requests
    // (429 on bindings, 503 on the first pod list) are retried by it.
    let sandbox = sandbox().await;
    let nodes: Vec<_> = (0..4)
        .map(|i| user_node(&format!("n{i}"), "4", "16Gi"))
        .collect();
    sandbox.seed_objects(nodes).unwrap();
    sandbox.seed_objects(pending_pods("a", 20, "1Gi")).unwrap();
    let faults = sandbox.faults();
    faults.fail_next("GET", "/api/v1/pods", 503, 1).unwrap();
    faults.fail_next("POST", "/binding", 429, 3).unwrap();
    let client = user_scheduler::run::client_from(sandbox.config()).unwrap();
    let daemon = start_daemon_on(client, |o| o);
    all_bound(&sandbox, 20, Duration::from_secs(20)).await;
    daemon.stop().await.unwrap();
    assert_no_overcommit(&sandbox);
}
