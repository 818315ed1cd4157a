//! Volume-aware scheduling in the daemon: a user whose home directory is a
//! zonal disk is placed in that zone.

mod support;

use std::time::Duration;

use serde_json::json;
use support::*;

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
    let node = eventually(Duration::from_secs(30), "alice bound", || async {
        node_of(&sandbox, "alice")
    })
    .await;
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
