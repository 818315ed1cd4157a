//! The volume provisioner stand-in on a fast clock: WaitForFirstConsumer claims get a zonal PV
//! for their selected node after the delay, a failed attempt only removes the selected-node
//! annotation, Immediate claims are provisioned at once, and PVs pre-bound through claimRef
//! get their claims bound.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use k8s_openapi::api::core::v1::PersistentVolumeClaim;
use kube::Api;
use kube::api::{Patch, PatchParams};
use sandbox::controllers::{FailPredicate, ProvisionerOptions};
use sandbox::{Sandbox, SandboxOptions};
use serde_json::{Value, json};

const SPEED: f64 = 600.0;
const DRIVER: &str = "pd.csi.storage.gke.io";
const SELECTED: &str = "volume.kubernetes.io/selected-node";

async fn sandbox() -> Sandbox {
    let sb = Sandbox::start(SandboxOptions {
        time_scale: SPEED,
        ..SandboxOptions::default()
    })
    .await
    .expect("the sandbox starts");
    sb.seed_objects([
        node("node-a", Some("zone-a")),
        node("node-b", Some("zone-b")),
        node("node-h", None),
        class("wait", DRIVER, "WaitForFirstConsumer"),
        class("now", DRIVER, "Immediate"),
        class("other", "example.com/other", "Immediate"),
    ])
    .unwrap();
    sb
}

fn node(name: &str, zone: Option<&str>) -> Value {
    let mut labels = json!({"kubernetes.io/hostname": format!("host-{name}")});
    if let Some(z) = zone {
        labels["topology.kubernetes.io/zone"] = json!(z);
    }
    json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "labels": labels}})
}

fn class(name: &str, provisioner: &str, mode: &str) -> Value {
    json!({"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
           "metadata": {"name": name}, "provisioner": provisioner, "volumeBindingMode": mode})
}

fn claim(name: &str, class: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
           "metadata": {"name": name, "namespace": "default"},
           "spec": {"storageClassName": class, "accessModes": ["ReadWriteOnce"],
                    "resources": {"requests": {"storage": "10Gi"}}}})
}

/// Sets (or, with `None`, removes) the selected-node annotation through the API, as a
/// scheduler does.
async fn select_node(sb: &Sandbox, claim: &str, node: Option<&str>) {
    let api: Api<PersistentVolumeClaim> = Api::namespaced(sb.client(), "default");
    api.patch(
        claim,
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"annotations": {SELECTED: node}}})),
    )
    .await
    .unwrap();
}

/// Polls every 5 ms until `check` returns `Some`, or panics after 10 s of real time.
async fn eventually<T>(what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn get_claim(sb: &Sandbox, name: &str) -> Value {
    sb.get("persistentvolumeclaims", "default", name)
        .expect("the claim exists")
}

/// The claim once it is bound (volumeName set and phase Bound).
async fn bound_claim(sb: &Sandbox, name: &str) -> Value {
    eventually(&format!("claim {name} bound"), || {
        let c = get_claim(sb, name);
        (c["spec"]["volumeName"].is_string() && c["status"]["phase"] == "Bound").then_some(c)
    })
    .await
}

fn assert_unbound(claim: &Value) {
    assert!(claim["spec"]["volumeName"].is_null(), "{claim}");
    assert_ne!(claim["status"]["phase"], "Bound", "{claim}");
    assert!(claim["metadata"]["annotations"]["pv.kubernetes.io/bind-completed"].is_null());
}

fn assert_bound_to(claim: &Value, pv: &Value) {
    assert_eq!(claim["spec"]["volumeName"], pv["metadata"]["name"]);
    assert_eq!(
        claim["metadata"]["annotations"]["pv.kubernetes.io/bind-completed"],
        "yes"
    );
    assert_eq!(
        claim["metadata"]["annotations"]["pv.kubernetes.io/bound-by-controller"],
        "yes"
    );
    assert_eq!(claim["status"]["phase"], "Bound");
    assert_eq!(pv["status"]["phase"], "Bound");
    assert_eq!(pv["spec"]["claimRef"]["name"], claim["metadata"]["name"]);
    assert_eq!(pv["spec"]["claimRef"]["namespace"], "default");
    assert_eq!(pv["spec"]["claimRef"]["uid"], claim["metadata"]["uid"]);
}

#[tokio::test]
async fn wait_for_first_consumer_claims_get_a_zonal_pv_after_the_delay() {
    let sb = sandbox().await;
    sb.seed_objects([claim("data", "wait"), claim("hosted", "wait")])
        .unwrap();
    let delay = Duration::from_secs(60);
    let _p = sb.start_provisioner(ProvisionerOptions {
        delay,
        ..ProvisionerOptions::default()
    });

    // Without a selected node nothing happens, however long we wait.
    sb.clock().sleep(delay * 2).await;
    assert!(sb.list("persistentvolumes").is_empty());
    assert_unbound(&get_claim(&sb, "data"));

    let start = sb.clock().now();
    select_node(&sb, "data", Some("node-b")).await;
    let uid = get_claim(&sb, "data")["metadata"]["uid"]
        .as_str()
        .unwrap()
        .to_string();
    let claim = bound_claim(&sb, "data").await;
    assert!(
        sb.clock().now().duration_since(start).unwrap() >= delay,
        "provisioned before the delay"
    );
    let pv = sb
        .get("persistentvolumes", "", &format!("pvc-{uid}"))
        .expect("the PV is named after the claim uid");
    assert_bound_to(&claim, &pv);
    assert_eq!(pv["spec"]["storageClassName"], "wait");
    assert_eq!(pv["spec"]["capacity"]["storage"], "10Gi");
    assert_eq!(pv["spec"]["accessModes"], json!(["ReadWriteOnce"]));
    assert_eq!(pv["spec"]["csi"]["driver"], DRIVER);
    assert!(pv["spec"]["csi"]["volumeHandle"].is_string());
    assert_eq!(
        pv["metadata"]["labels"]["topology.kubernetes.io/zone"],
        "zone-b"
    );
    assert_eq!(
        pv["spec"]["nodeAffinity"]["required"]["nodeSelectorTerms"],
        json!([{"matchExpressions": [
            {"key": "topology.kubernetes.io/zone", "operator": "In", "values": ["zone-b"]}
        ]}])
    );
    assert_eq!(claim["status"]["capacity"]["storage"], "10Gi");

    // A node without a zone label: the PV is pinned to its hostname, with no zone label.
    select_node(&sb, "hosted", Some("node-h")).await;
    let claim = bound_claim(&sb, "hosted").await;
    let pv = sb
        .get(
            "persistentvolumes",
            "",
            claim["spec"]["volumeName"].as_str().unwrap(),
        )
        .unwrap();
    assert_bound_to(&claim, &pv);
    assert!(pv["metadata"]["labels"]["topology.kubernetes.io/zone"].is_null());
    assert_eq!(
        pv["spec"]["nodeAffinity"]["required"]["nodeSelectorTerms"][0]["matchExpressions"],
        json!([{"key": "kubernetes.io/hostname", "operator": "In", "values": ["host-node-h"]}])
    );
    assert_eq!(sb.list("persistentvolumes").len(), 2);
}

#[tokio::test]
async fn failed_provisioning_only_removes_the_selected_node() {
    let sb = sandbox().await;
    sb.seed_objects([
        claim("bad-1", "wait"),
        claim("retry", "wait"),
        claim("good", "wait"),
    ])
    .unwrap();
    // `retry` fails its first attempt only.
    let attempts = Arc::new(AtomicUsize::new(0));
    let counted = attempts.clone();
    let bad = FailPredicate::claim_name_prefix("bad-");
    let fail = FailPredicate::new(move |claim, node| {
        assert_eq!(node, "node-a");
        if claim["metadata"]["name"] == "retry" {
            return counted.fetch_add(1, Ordering::SeqCst) == 0;
        }
        bad.fails(claim, node)
    });
    let _p = sb.start_provisioner(ProvisionerOptions {
        delay: Duration::from_secs(30),
        fail: Some(fail),
        ..ProvisionerOptions::default()
    });
    let mut annotated = Vec::new();
    for c in ["bad-1", "retry", "good"] {
        select_node(&sb, c, Some("node-a")).await;
        annotated.push(get_claim(&sb, c));
    }
    assert!(
        annotated
            .iter()
            .all(|c| c["metadata"]["annotations"][SELECTED] == "node-a")
    );
    bound_claim(&sb, "good").await;
    for (c, before) in [("bad-1", &annotated[0]), ("retry", &annotated[1])] {
        let after = eventually(&format!("{c} loses its selected node"), || {
            let a = get_claim(&sb, c);
            a["metadata"]["annotations"][SELECTED]
                .is_null()
                .then_some(a)
        })
        .await;
        // Nothing but the annotation changed.
        let mut expected = before.clone();
        expected["metadata"]["annotations"]
            .as_object_mut()
            .unwrap()
            .remove(SELECTED);
        expected["metadata"]["resourceVersion"] = after["metadata"]["resourceVersion"].clone();
        assert_eq!(after, expected);
        assert_unbound(&after);
    }
    assert_eq!(
        sb.list("persistentvolumes").len(),
        1,
        "only `good` has a PV"
    );

    // Rescheduled: `retry` succeeds on its second attempt, `bad-1` fails again.
    select_node(&sb, "retry", Some("node-a")).await;
    select_node(&sb, "bad-1", Some("node-a")).await;
    let claim = bound_claim(&sb, "retry").await;
    let pv = sb
        .get(
            "persistentvolumes",
            "",
            claim["spec"]["volumeName"].as_str().unwrap(),
        )
        .unwrap();
    assert_bound_to(&claim, &pv);
    assert_eq!(
        pv["metadata"]["labels"]["topology.kubernetes.io/zone"],
        "zone-a"
    );
    eventually("bad-1 fails again", || {
        get_claim(&sb, "bad-1")["metadata"]["annotations"][SELECTED]
            .is_null()
            .then_some(())
    })
    .await;
    assert_eq!(attempts.load(Ordering::SeqCst), 2);
    assert_eq!(sb.list("persistentvolumes").len(), 2);
}

#[tokio::test]
async fn immediate_claims_are_provisioned_at_once_without_node_affinity() {
    let sb = sandbox().await;
    sb.seed_objects([
        claim("fast", "now"),
        claim("foreign", "other"),
        claim("waits", "wait"),
    ])
    .unwrap();
    // A delay of a day: only WaitForFirstConsumer claims would wait for it.
    let _p = sb.start_provisioner(ProvisionerOptions {
        delay: Duration::from_secs(86_400),
        ..ProvisionerOptions::default()
    });
    let claim = bound_claim(&sb, "fast").await;
    let pv = sb
        .get(
            "persistentvolumes",
            "",
            claim["spec"]["volumeName"].as_str().unwrap(),
        )
        .unwrap();
    assert_bound_to(&claim, &pv);
    assert!(pv["spec"]["nodeAffinity"].is_null());
    assert!(pv["metadata"]["labels"].is_null());
    assert_eq!(pv["spec"]["csi"]["driver"], DRIVER);
    // Another provisioner's class and an unselected WaitForFirstConsumer claim stay Pending.
    sb.clock().sleep(Duration::from_secs(600)).await;
    assert_eq!(sb.list("persistentvolumes").len(), 1);
    assert_unbound(&get_claim(&sb, "foreign"));
    assert_unbound(&get_claim(&sb, "waits"));
}

#[tokio::test]
async fn a_pre_bound_static_pv_gets_its_claim_bound() {
    let sb = sandbox().await;
    sb.seed_objects([
        claim("static", "manual"),
        json!({"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": "disk-1"},
               "spec": {"storageClassName": "manual", "capacity": {"storage": "20Gi"},
                        "accessModes": ["ReadWriteOnce"],
                        "csi": {"driver": DRIVER, "volumeHandle": "disk-1"}}}),
    ])
    .unwrap();
    let _p = sb.start_provisioner(ProvisionerOptions::default());
    sb.clock().sleep(Duration::from_secs(60)).await;
    assert_unbound(&get_claim(&sb, "static"));

    // A scheduler pre-binds the PV to the claim (no uid in the claimRef).
    let api: Api<k8s_openapi::api::core::v1::PersistentVolume> = Api::all(sb.client());
    api.patch(
        "disk-1",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"claimRef": {"namespace": "default", "name": "static"}}})),
    )
    .await
    .unwrap();
    let claim = bound_claim(&sb, "static").await;
    let pv = eventually("the PV is Bound with the claim's uid", || {
        let pv = sb.get("persistentvolumes", "", "disk-1").unwrap();
        (pv["status"]["phase"] == "Bound" && pv["spec"]["claimRef"]["uid"].is_string())
            .then_some(pv)
    })
    .await;
    assert_bound_to(&claim, &pv);
    assert_eq!(claim["status"]["capacity"]["storage"], "20Gi");
    assert_eq!(sb.list("persistentvolumes").len(), 1, "nothing provisioned");
}
