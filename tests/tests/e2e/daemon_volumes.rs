//! Volume-aware scheduling in the daemon, against the sandbox and its
//! provisioner stand-in: a user whose home directory is a zonal disk is
//! placed in that zone; a WaitForFirstConsumer claim is annotated for the
//! pod's node and the pod binds only once the claim is bound; failed or slow
//! provisioning requeues the pod with a FailedScheduling event; static
//! volumes get their claimRef; attach limits hold; many users with claims at
//! once all end bound, and no ReadWriteOnce claim serves two nodes.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::support::*;
use sandbox::Sandbox;
use sandbox::controllers::{FailPredicate, ProvisionerOptions};
use serde_json::{Value, json};

const ZONE: &str = "topology.kubernetes.io/zone";

/// A user node in `zone`.
fn zonal_node(name: &str, zone: &str) -> Value {
    let mut n = user_node(name, "4", "16Gi");
    n["metadata"]["labels"][ZONE] = json!(zone);
    n
}

/// The provisioner stand-in with a short delay.
fn provisioner(
    sandbox: &Sandbox,
    fail: Option<FailPredicate>,
) -> sandbox::controllers::Controllers {
    sandbox.start_provisioner(ProvisionerOptions {
        delay: Duration::from_millis(200),
        fail,
        ..ProvisionerOptions::default()
    })
}

/// Creates user alice, whose home directory is `claim-alice`.
async fn create_alice(sandbox: &Sandbox) {
    let alice = with_claim(
        pending_pod("alice", "singleuser-server", "1Gi"),
        "claim-alice",
    );
    create_pod(sandbox, &alice).await;
}

/// Waits until pod `name` is bound; its node.
async fn bound_node(sandbox: &Sandbox, name: &str) -> String {
    eventually(
        Duration::from_secs(30),
        &format!("{name} bound"),
        || async { node_of(sandbox, name) },
    )
    .await
}

/// Whether the pod has a FailedScheduling event whose note contains `text`.
fn failed_with(sandbox: &Sandbox, pod: &str, text: &str) -> bool {
    events_of(sandbox, pod)
        .iter()
        .any(|(reason, note)| reason == "FailedScheduling" && note.contains(text))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_with_a_zonal_home_directory_lands_in_its_zone() {
    let sandbox = sandbox().await;
    let zone = "topology.kubernetes.io/zone";
    let mut a = user_node("node-a", "4", "16Gi");
    a["metadata"]["labels"][zone] = json!("zone-a");
    let mut b = user_node("node-b", "4", "16Gi");
    b["metadata"]["labels"][zone] = json!("zone-b");
    // node-a is fuller (packing would prefer it), but the disk is in zone b.
    let busy = bound_pod("bob", "singleuser-server", "8Gi", "node-a");
    let pv = json!({
        "apiVersion": "v1", "kind": "PersistentVolume",
        "metadata": {"name": "pv-alice", "labels": {zone: "zone-b"}},
        "spec": {"storageClassName": "standard-rwo", "capacity": {"storage": "10Gi"},
                 "accessModes": ["ReadWriteOnce"],
                 "claimRef": {"namespace": NS, "name": "claim-alice"},
                 "nodeAffinity": {"required": {"nodeSelectorTerms": [
                     {"matchExpressions": [{"key": zone, "operator": "In", "values": ["zone-b"]}]}]}}},
        "status": {"phase": "Bound"}
    });
    let pvc = json!({
        "apiVersion": "v1", "kind": "PersistentVolumeClaim",
        "metadata": {"name": "claim-alice", "namespace": NS,
                     "annotations": {"pv.kubernetes.io/bind-completed": "yes"}},
        "spec": {"storageClassName": "standard-rwo", "volumeName": "pv-alice",
                 "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "10Gi"}}}
    });
    sandbox.seed_objects([a, b, busy, pv, pvc]).unwrap();
    let daemon = start_daemon(&sandbox);
    let mut alice = pending_pod("alice", "singleuser-server", "1Gi");
    alice["spec"]["volumes"] =
        json!([{"name": "home", "persistentVolumeClaim": {"claimName": "claim-alice"}}]);
    create_pod(&sandbox, &alice).await;
    let node = bound_node(&sandbox, "alice").await;
    assert_eq!(node, "node-b");
    // A pod whose claim does not exist is reported with kube's message.
    let mut ghost = pending_pod("ghost", "singleuser-server", "1Gi");
    ghost["spec"]["volumes"] =
        json!([{"name": "home", "persistentVolumeClaim": {"claimName": "nope"}}]);
    create_pod(&sandbox, &ghost).await;
    let condition = eventually(Duration::from_secs(30), "ghost reported", || async {
        pod_scheduled_condition(&sandbox, "ghost").filter(|c| c["status"] == "False")
    })
    .await;
    assert!(
        condition["message"]
            .as_str()
            .unwrap()
            .starts_with("0/2 nodes are available: persistentvolumeclaim \"nope\" not found."),
        "{condition}"
    );
    daemon.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wait_for_first_consumer_claim_is_provisioned_for_the_pods_node_before_the_pod_binds() {
    let sandbox = sandbox().await;
    // node-a is fuller: packing picks it, and the claim must follow.
    sandbox
        .seed_objects([
            zonal_node("node-a", "zone-a"),
            zonal_node("node-b", "zone-b"),
            bound_pod("bob", "singleuser-server", "8Gi", "node-a"),
            wffc_class("standard-rwo"),
            claim("claim-alice", "standard-rwo"),
        ])
        .unwrap();
    let daemon = start_daemon(&sandbox);
    create_alice(&sandbox).await;
    let selected = eventually(Duration::from_secs(30), "claim annotated", || async {
        selected_node(&sandbox, "claim-alice")
    })
    .await;
    assert_eq!(selected, "node-a");
    // No provisioner yet: the claim stays unbound, and so does the pod.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(node_of(&sandbox, "alice"), None, "bound before its claim");
    assert_eq!(volume_of(&sandbox, "claim-alice"), None);
    // The provisioner makes a volume in node-a's zone and binds the claim;
    // then the pod binds.
    let _provisioner = provisioner(&sandbox, None);
    let node = bound_node(&sandbox, "alice").await;
    assert_eq!(node, "node-a");
    let pv = volume_of(&sandbox, "claim-alice").expect("the claim is bound");
    let pv = sandbox.get("persistentvolumes", "", &pv).unwrap();
    let zones =
        &pv["spec"]["nodeAffinity"]["required"]["nodeSelectorTerms"][0]["matchExpressions"][0];
    assert_eq!(
        (zones["key"].as_str(), zones["values"][0].as_str()),
        (Some(ZONE), Some("zone-a"))
    );
    // The Scheduled event follows the binding.
    eventually(Duration::from_secs(10), "a Scheduled event", || async {
        events_of(&sandbox, "alice")
            .iter()
            .any(|(r, n)| r == "Scheduled" && n.ends_with("to node-a"))
            .then_some(())
    })
    .await;
    daemon.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_provisioning_requeues_the_pod_which_then_binds() {
    let sandbox = sandbox().await;
    sandbox
        .seed_objects([
            zonal_node("node-a", "zone-a"),
            zonal_node("node-b", "zone-b"),
            wffc_class("standard-rwo"),
            claim("claim-alice", "standard-rwo"),
        ])
        .unwrap();
    // The first attempt fails (the provisioner removes the annotation, its
    // way of asking for another node); the next succeeds.
    let failed_once = Arc::new(AtomicBool::new(false));
    let fail = {
        let failed_once = failed_once.clone();
        FailPredicate::new(move |_, _| !failed_once.swap(true, Ordering::SeqCst))
    };
    let _provisioner = provisioner(&sandbox, Some(fail));
    let daemon = start_daemon(&sandbox);
    create_alice(&sandbox).await;
    eventually(Duration::from_secs(30), "the failure reported", || async {
        failed_with(
            &sandbox,
            "alice",
            "running PreBind plugin \"VolumeBinding\": binding volumes: provisioning failed for PVC \"claim-alice\"",
        )
        .then_some(())
    })
    .await;
    let node = bound_node(&sandbox, "alice").await;
    assert!(failed_once.load(Ordering::SeqCst));
    assert_eq!(
        selected_node(&sandbox, "claim-alice").as_deref(),
        Some(node.as_str())
    );
    assert!(volume_of(&sandbox, "claim-alice").is_some());
    daemon.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_claim_not_bound_in_time_requeues_the_pod_with_a_scheduler_error() {
    let sandbox = sandbox().await;
    sandbox
        .seed_objects([
            zonal_node("node-a", "zone-a"),
            wffc_class("standard-rwo"),
            claim("claim-alice", "standard-rwo"),
        ])
        .unwrap();
    let daemon = start_daemon_with(&sandbox, |mut o| {
        o.config.profiles[0].volume_bind_timeout_seconds = 1;
        o
    });
    create_alice(&sandbox).await;
    let condition = eventually(Duration::from_secs(30), "the timeout reported", || async {
        pod_scheduled_condition(&sandbox, "alice").filter(|c| c["reason"] == "SchedulerError")
    })
    .await;
    assert_eq!(
        condition["message"],
        "running PreBind plugin \"VolumeBinding\": binding volumes: timed out after 1s waiting for PersistentVolumeClaim(s) jhub/claim-alice to be bound"
    );
    // The event follows the condition.
    eventually(Duration::from_secs(10), "the event", || async {
        failed_with(&sandbox, "alice", "timed out after 1s").then_some(())
    })
    .await;
    assert_eq!(node_of(&sandbox, "alice"), None);
    // The provisioner comes up: the next attempt binds.
    let _provisioner = provisioner(&sandbox, None);
    let node = bound_node(&sandbox, "alice").await;
    assert_eq!(node, "node-a");
    daemon.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_static_volume_gets_its_claim_ref_and_keeps_the_user_on_its_node() {
    let sandbox = sandbox().await;
    sandbox
        .seed_objects([
            user_node("node-a", "4", "16Gi"),
            user_node("node-b", "4", "16Gi"),
            bound_pod("bob", "singleuser-server", "8Gi", "node-a"),
            local_class("local"),
            static_volume("pv-local-b", "local", "node-b"),
            claim("claim-alice", "local"),
        ])
        .unwrap();
    // The provisioner stand-in also plays the PV controller: it completes a
    // binding a scheduler started by setting the volume's claimRef.
    let _provisioner = provisioner(&sandbox, None);
    let daemon = start_daemon(&sandbox);
    create_alice(&sandbox).await;
    let node = bound_node(&sandbox, "alice").await;
    assert_eq!(node, "node-b");
    let pv = sandbox.get("persistentvolumes", "", "pv-local-b").unwrap();
    let claim = claim_of(&sandbox, "claim-alice");
    assert_eq!(pv["spec"]["claimRef"]["name"], "claim-alice");
    assert_eq!(pv["spec"]["claimRef"]["uid"], claim["metadata"]["uid"]);
    assert_eq!(
        volume_of(&sandbox, "claim-alice").as_deref(),
        Some("pv-local-b")
    );
    daemon.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn csi_attach_limits_are_honoured() {
    let sandbox = sandbox().await;
    // node-a takes one volume of the driver and bob's disk is attached there.
    let csi_node = json!({
        "apiVersion": "storage.k8s.io/v1", "kind": "CSINode",
        "metadata": {"name": "node-a"},
        "spec": {"drivers": [{"name": CSI_DRIVER, "nodeID": "node-a", "allocatable": {"count": 1}}]}
    });
    let pv_bob = json!({
        "apiVersion": "v1", "kind": "PersistentVolume",
        "metadata": {"name": "pv-bob"},
        "spec": {"storageClassName": "standard-rwo", "capacity": {"storage": "10Gi"},
                 "accessModes": ["ReadWriteOnce"],
                 "claimRef": {"namespace": NS, "name": "claim-bob"},
                 "csi": {"driver": CSI_DRIVER, "volumeHandle": "disk-bob"}},
        "status": {"phase": "Bound"}
    });
    let mut claim_bob = claim("claim-bob", "standard-rwo");
    claim_bob["metadata"]["annotations"] = json!({"pv.kubernetes.io/bind-completed": "yes"});
    claim_bob["spec"]["volumeName"] = json!("pv-bob");
    sandbox
        .seed_objects([
            user_node("node-a", "4", "16Gi"),
            user_node("node-b", "4", "16Gi"),
            csi_node,
            wffc_class("standard-rwo"),
            pv_bob,
            claim_bob,
            with_claim(
                bound_pod("bob", "singleuser-server", "8Gi", "node-a"),
                "claim-bob",
            ),
            claim("claim-alice", "standard-rwo"),
        ])
        .unwrap();
    let _provisioner = provisioner(&sandbox, None);
    let daemon = start_daemon(&sandbox);
    // Packing would put alice next to bob; her new disk would be node-a's second.
    create_alice(&sandbox).await;
    let node = bound_node(&sandbox, "alice").await;
    assert_eq!(node, "node-b");
    assert_eq!(
        selected_node(&sandbox, "claim-alice").as_deref(),
        Some("node-b")
    );
    // A user without a disk still packs next to bob.
    create_pod(&sandbox, &pending_pod("carol", "singleuser-server", "1Gi")).await;
    let node = bound_node(&sandbox, "carol").await;
    assert_eq!(node, "node-a");
    daemon.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_users_with_claims_at_once_all_bind_and_no_claim_spans_two_nodes() {
    let sandbox = sandbox().await;
    let mut objects = vec![
        zonal_node("node-a", "zone-a"),
        zonal_node("node-b", "zone-b"),
        zonal_node("node-c", "zone-c"),
        wffc_class("standard-rwo"),
    ];
    // 40 users with a home directory each, and 8 shared ReadWriteOnce
    // claims used by two pods each (a user's server and a sidecar job).
    let mut pods = Vec::new();
    for i in 0..40 {
        let c = format!("claim-user{i:02}");
        objects.push(claim(&c, "standard-rwo"));
        pods.push((format!("user{i:02}"), c));
    }
    for i in 0..8 {
        let c = format!("claim-shared{i}");
        objects.push(claim(&c, "standard-rwo"));
        pods.push((format!("shared{i}-a"), c.clone()));
        pods.push((format!("shared{i}-b"), c));
    }
    sandbox.seed_objects(objects).unwrap();
    let _provisioner = provisioner(&sandbox, None);
    let daemon = start_daemon(&sandbox);
    sandbox
        .seed_objects(
            pods.iter()
                .map(|(p, c)| with_claim(pending_pod(p, "singleuser-server", "512Mi"), c)),
        )
        .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    while bound_pods(&sandbox).len() < pods.len() {
        if tokio::time::Instant::now() > deadline {
            // Say what the stragglers are waiting for.
            let bound = bound_pods(&sandbox);
            let stuck: Vec<String> = pods
                .iter()
                .filter(|(p, _)| !bound.contains_key(p))
                .map(|(p, c)| {
                    format!(
                        "{p}: condition {:?}, events {:?}, claim {}",
                        pod_scheduled_condition(&sandbox, p),
                        events_of(&sandbox, p),
                        claim_of(&sandbox, c)
                    )
                })
                .collect();
            panic!("not bound after 90 s:\n{}", stuck.join("\n"));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let bound = bound_pods(&sandbox);
    let zone_of = |node: &str| {
        sandbox.get("nodes", "", node).unwrap()["metadata"]["labels"][ZONE]
            .as_str()
            .unwrap()
            .to_string()
    };
    let mut nodes_of_claim =
        std::collections::BTreeMap::<&str, std::collections::BTreeSet<&str>>::new();
    for (pod, claim) in &pods {
        let node = bound[pod].as_str();
        nodes_of_claim.entry(claim).or_default().insert(node);
        // Bound, annotated for this pod's node, on a volume of its zone.
        let pv = volume_of(&sandbox, claim).unwrap_or_else(|| panic!("{claim} bound"));
        assert_eq!(
            selected_node(&sandbox, claim).as_deref(),
            Some(node),
            "{claim}"
        );
        let pv = sandbox.get("persistentvolumes", "", &pv).unwrap();
        let zone = &pv["spec"]["nodeAffinity"]["required"]["nodeSelectorTerms"][0]["matchExpressions"]
            [0]["values"][0];
        assert_eq!(zone.as_str(), Some(zone_of(node).as_str()), "{claim}");
    }
    for (claim, nodes) in &nodes_of_claim {
        assert_eq!(nodes.len(), 1, "ReadWriteOnce {claim} on {nodes:?}");
    }
    assert_no_overcommit(&sandbox);
    daemon.stop().await.unwrap();
}
