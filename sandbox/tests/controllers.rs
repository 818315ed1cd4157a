//! The sandbox's controllers on a fast clock: the workload controller keeps replicas (with
//! priorities admitted from PriorityClasses), the kubelet starts bound pods and collects orphans,
//! and the autoscaler model follows the cluster autoscaler's scale-up and scale-down rules.

use std::time::{Duration, SystemTime};

use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use sandbox::controllers::{
    ActivityKind, AutoscalerOptions, ControllerOptions, KubeletOptions, NodePool,
};
use sandbox::{Sandbox, SandboxOptions};
use serde_json::{Value, json};

const SPEED: f64 = 600.0;

async fn sandbox() -> Sandbox {
    let mut opts = SandboxOptions {
        time_scale: SPEED,
        ..SandboxOptions::default()
    };
    opts.namespaces.push("jhub".into());
    Sandbox::start(opts).await.expect("the sandbox starts")
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

fn pods_named(sb: &Sandbox, prefix: &str) -> Vec<Value> {
    sb.list("pods")
        .into_iter()
        .filter(|p| {
            p["metadata"]["name"]
                .as_str()
                .unwrap_or("")
                .starts_with(prefix)
        })
        .collect()
}

fn names(pods: &[Value]) -> Vec<String> {
    pods.iter()
        .map(|p| p["metadata"]["name"].as_str().unwrap_or("").to_string())
        .collect()
}

fn template(priority_class: &str) -> Value {
    json!({
        "metadata": {"labels": {"app": "w"}},
        "spec": {"priorityClassName": priority_class, "terminationGracePeriodSeconds": 0,
                 "containers": [{"name": "c", "image": "pause",
                                 "resources": {"requests": {"memory": "1G"}}}]}
    })
}

#[tokio::test]
async fn workloads_keep_their_replicas_with_admitted_priorities() {
    let sb = sandbox().await;
    sb.seed_objects([
        json!({"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass",
               "metadata": {"name": "placeholders"}, "value": -10}),
        json!({"apiVersion": "apps/v1", "kind": "StatefulSet",
               "metadata": {"name": "ph", "namespace": "jhub"},
               "spec": {"replicas": 3, "podManagementPolicy": "Parallel", "serviceName": "ph",
                        "selector": {"matchLabels": {"app": "w"}}, "template": template("placeholders")}}),
        json!({"apiVersion": "apps/v1", "kind": "Deployment",
               "metadata": {"name": "dummy", "namespace": "jhub"},
               "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "w"}},
                        "template": template("")}}),
        json!({"apiVersion": "apps/v1", "kind": "Deployment",
               "metadata": {"name": "orphan-class", "namespace": "jhub"},
               "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "w"}},
                        "template": template("missing")}}),
    ])
    .unwrap();
    let controllers = sb.start_controllers(ControllerOptions {
        kubelet: None,
        ..ControllerOptions::default()
    });
    let sts_pods = eventually("3 statefulset pods", || {
        let p = pods_named(&sb, "ph-");
        (p.len() == 3).then_some(p)
    })
    .await;
    assert_eq!(names(&sts_pods), ["ph-0", "ph-1", "ph-2"]);
    for p in &sts_pods {
        assert_eq!(p["spec"]["priority"], -10, "priority from the class");
        assert_eq!(p["spec"]["preemptionPolicy"], "PreemptLowerPriority");
        assert_eq!(p["metadata"]["ownerReferences"][0]["kind"], "StatefulSet");
        assert_eq!(p["metadata"]["ownerReferences"][0]["controller"], true);
    }
    let deploy_pods = eventually("2 deployment pods", || {
        let p = pods_named(&sb, "dummy-");
        (p.len() == 2).then_some(p)
    })
    .await;
    for p in &deploy_pods {
        let name = p["metadata"]["name"].as_str().unwrap();
        assert_eq!(
            name.len(),
            "dummy-".len() + 5,
            "{name}: a 5-character suffix"
        );
        assert_eq!(p["spec"]["priority"], 0, "no class: priority 0");
    }
    // A pod whose PriorityClass does not exist is refused, as admission would.
    assert!(pods_named(&sb, "orphan-class-").is_empty());

    let client = sb.client();
    let pods: Api<Pod> = Api::namespaced(client.clone(), "jhub");
    // A deleted (or evicted, or preempted) pod comes back under the same ordinal.
    let old_uid = sts_pods[1]["metadata"]["uid"].clone();
    pods.delete("ph-1", &DeleteParams::default()).await.unwrap();
    eventually("ph-1 recreated", || {
        let p = sb.get("pods", "jhub", "ph-1")?;
        (p["metadata"]["uid"] != old_uid).then_some(())
    })
    .await;
    // Scaling down removes the highest ordinals; scaling a Deployment follows a patch.
    Api::<StatefulSet>::namespaced(client.clone(), "jhub")
        .patch(
            "ph",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": 1}})),
        )
        .await
        .unwrap();
    Api::<Deployment>::namespaced(client.clone(), "jhub")
        .patch(
            "dummy",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": 4}})),
        )
        .await
        .unwrap();
    eventually("ph scaled to 1 and dummy to 4", || {
        (names(&pods_named(&sb, "ph-")) == ["ph-0"] && pods_named(&sb, "dummy-").len() == 4)
            .then_some(())
    })
    .await;
    let status = sb.get("deployments", "jhub", "dummy").unwrap()["status"].clone();
    assert_eq!(status["replicas"], 4);
    controllers.stop().await;
}

#[tokio::test]
async fn the_kubelet_starts_bound_pods_and_collects_orphans() {
    let sb = sandbox().await;
    sb.seed_objects([
        json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1"},
               "status": {"allocatable": {"cpu": "4", "memory": "8Gi", "pods": "110"}}}),
        json!({"apiVersion": "v1", "kind": "Pod",
               "metadata": {"name": "orphan", "namespace": "jhub"},
               "spec": {"nodeName": "gone", "containers": [{"name": "c", "image": "pause"}]}}),
    ])
    .unwrap();
    let controllers = sb.start_controllers(ControllerOptions {
        workload: false,
        kubelet: Some(KubeletOptions {
            start_delay: Duration::from_secs(30),
        }),
        ..ControllerOptions::default()
    });
    let pods: Api<Pod> = Api::namespaced(sb.client(), "jhub");
    let pod: Pod = serde_json::from_value(json!({
        "metadata": {"name": "p"},
        "spec": {"containers": [{"name": "c", "image": "pause"}]}}))
    .unwrap();
    pods.create(&PostParams::default(), &pod).await.unwrap();
    let bound_at = sb.clock().now();
    let binding = json!({"apiVersion": "v1", "kind": "Binding", "metadata": {"name": "p"},
                         "target": {"kind": "Node", "name": "n1"}});
    let _: Value = pods
        .create_subresource("binding", "p", &PostParams::default(), &binding)
        .await
        .unwrap();
    let running = eventually("p running", || {
        let p = sb.get("pods", "jhub", "p")?;
        (p["status"]["phase"] == "Running").then_some(p)
    })
    .await;
    let waited = sb.clock().now().duration_since(bound_at).unwrap();
    assert!(
        waited >= Duration::from_secs(30),
        "started after the delay, not {waited:?}"
    );
    let conditions = running["status"]["conditions"].as_array().unwrap();
    for t in ["PodScheduled", "Ready", "ContainersReady", "Initialized"] {
        assert!(
            conditions
                .iter()
                .any(|c| c["type"] == t && c["status"] == "True"),
            "{t} in {conditions:?}"
        );
    }
    assert!(running["status"]["startTime"].is_string());
    eventually("the orphan deleted", || {
        sb.get("pods", "jhub", "orphan").is_none().then_some(())
    })
    .await;
    controllers.stop().await;
}

fn pool(max: usize) -> NodePool {
    NodePool {
        name: "pool".into(),
        min_size: 0,
        max_size: max,
        allocatable: [("cpu", "4"), ("memory", "8G"), ("pods", "110")]
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect(),
        labels: [("purpose".to_string(), "user".to_string())].into(),
        taints: vec![json!({"key": "dedicated", "value": "user", "effect": "NoSchedule"})],
        provisioning_delay: Duration::from_secs(60),
    }
}

/// A pod the scheduler has marked Unschedulable.
fn unschedulable(name: &str, memory: &str, priority: i64, tolerate: bool) -> Value {
    let tolerations = if tolerate {
        json!([{"key": "dedicated", "operator": "Equal", "value": "user", "effect": "NoSchedule"}])
    } else {
        json!([])
    };
    json!({"apiVersion": "v1", "kind": "Pod",
           "metadata": {"name": name, "namespace": "jhub"},
           "spec": {"priority": priority, "tolerations": tolerations,
                    "containers": [{"name": "c", "image": "pause",
                                    "resources": {"requests": {"memory": memory}}}]},
           "status": {"phase": "Pending", "conditions": [
               {"type": "PodScheduled", "status": "False", "reason": "Unschedulable"}]}})
}

fn autoscaler_only(opts: AutoscalerOptions) -> ControllerOptions {
    ControllerOptions {
        workload: false,
        kubelet: None,
        autoscaler: Some(opts),
        seed: 0,
    }
}

#[tokio::test]
async fn scale_up_packs_unschedulable_pods_onto_new_nodes_after_the_delay() {
    let sb = sandbox().await;
    // 12 pods of 1G: 8 fit a node of 8G, so two nodes.
    sb.seed_objects((0..12).map(|i| unschedulable(&format!("u{i:02}"), "1G", 0, true)))
        .unwrap();
    let controllers = sb.start_controllers(autoscaler_only(AutoscalerOptions {
        pools: vec![pool(10)],
        ..AutoscalerOptions::default()
    }));
    let a = controllers.autoscaler().unwrap().clone();
    let ready = eventually("two nodes ready", || {
        let act = a.activity();
        (act.iter()
            .filter(|x| matches!(x.kind, ActivityKind::NodeReady { .. }))
            .count()
            == 2)
            .then_some(act)
    })
    .await;
    let ActivityKind::ScaleUp { pool, nodes, pods } = &ready[0].kind else {
        panic!("a scale-up first: {ready:?}")
    };
    assert_eq!((pool.as_str(), nodes.len(), pods.len()), ("pool", 2, 12));
    let provisioning = ready[1].time.duration_since(ready[0].time).unwrap();
    assert!(provisioning >= Duration::from_secs(60), "{provisioning:?}");
    let node = sb.get("nodes", "", &nodes[0]).expect("the node exists");
    assert_eq!(node["metadata"]["labels"]["purpose"], "user");
    assert_eq!(
        node["metadata"]["labels"]["cloud.google.com/gke-nodepool"],
        "pool"
    );
    assert_eq!(node["spec"]["taints"][0]["key"], "dedicated");
    assert_eq!(node["status"]["allocatable"]["memory"], "8G");
    // The pods are still unbound (no scheduler here) but now fit the new nodes: no more nodes.
    let scans = a.status().scans;
    eventually("5 more scans", || {
        (a.status().scans >= scans + 5).then_some(())
    })
    .await;
    assert_eq!(sb.list("nodes").len(), 2);
    controllers.stop().await;
}

#[tokio::test]
async fn expendable_nominated_and_unfitting_pods_trigger_no_scale_up() {
    let sb = sandbox().await;
    let mut nominated = unschedulable("nominated", "1G", 0, true);
    nominated["status"]["nominatedNodeName"] = json!("somewhere");
    sb.seed_objects([
        // Below the cutoff of -10: expendable.
        unschedulable("expendable", "1G", -11, true),
        nominated,
        // Does not tolerate the pool's taint.
        unschedulable("untolerating", "1G", 0, false),
        // Larger than a node.
        unschedulable("huge", "9G", 0, true),
        // Pending but not (yet) found unschedulable by a scheduler.
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "fresh", "namespace": "jhub"},
               "spec": {"containers": [{"name": "c", "image": "pause"}]}}),
    ])
    .unwrap();
    let controllers = sb.start_controllers(autoscaler_only(AutoscalerOptions {
        pools: vec![pool(10)],
        ..AutoscalerOptions::default()
    }));
    let a = controllers.autoscaler().unwrap().clone();
    eventually("3 scans", || (a.status().scans >= 3).then_some(())).await;
    assert!(a.activity().is_empty(), "{:?}", a.activity());
    assert!(sb.list("nodes").is_empty());
    let status = a.status();
    assert_eq!(status.unschedulable, ["jhub/huge", "jhub/untolerating"]);
    assert_eq!(status.cannot_help, ["jhub/huge", "jhub/untolerating"]);

    // At -10 exactly a pod is not expendable: it adds a node.
    sb.seed_objects([unschedulable("placeholder", "1G", -10, true)])
        .unwrap();
    eventually("a scale-up for the placeholder", || {
        a.activity().iter().find_map(|x| match &x.kind {
            ActivityKind::ScaleUp { pods, .. } if pods == &["jhub/placeholder"] => Some(()),
            _ => None,
        })
    })
    .await;
    controllers.stop().await;
}

fn pool_node(name: &str, memory: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Node",
           "metadata": {"name": name, "labels": {"cloud.google.com/gke-nodepool": "pool", "purpose": "user"}},
           "spec": {"taints": [{"key": "dedicated", "value": "user", "effect": "NoSchedule"}]},
           "status": {"allocatable": {"cpu": "4", "memory": memory, "pods": "110"}}})
}

fn bound(name: &str, node: &str, memory: &str, owner: Option<&str>) -> Value {
    let mut p = unschedulable(name, memory, 0, true);
    p["spec"]["nodeName"] = json!(node);
    p["status"] = json!({"phase": "Running"});
    if let Some(kind) = owner {
        p["metadata"]["ownerReferences"] = json!([{"apiVersion": "apps/v1", "kind": kind,
            "name": "w", "uid": "0000", "controller": true}]);
    }
    p
}

fn removals(a: &[sandbox::controllers::Activity]) -> Vec<(String, Duration, SystemTime)> {
    a.iter()
        .filter_map(|x| match &x.kind {
            ActivityKind::ScaleDown {
                node, unneeded_for, ..
            } => Some((node.clone(), *unneeded_for, x.time)),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn scale_down_moves_replicated_pods_and_never_bare_ones() {
    let sb = sandbox().await;
    sb.seed_objects([
        pool_node("bare", "8G"),
        pool_node("replicated", "8G"),
        pool_node("busy", "8G"),
        // 1G of 8G: under 50 %, but a pod without a controller pins the node.
        bound("user", "bare", "1G", None),
        // Under 50 % and movable (to "bare"): removed after 10 minutes.
        bound("placeholder", "replicated", "1G", Some("StatefulSet")),
        // 5G of 8G: over 50 %, needed.
        bound("big", "busy", "5G", Some("Deployment")),
    ])
    .unwrap();
    let start = sb.clock().now();
    let controllers = sb.start_controllers(autoscaler_only(AutoscalerOptions {
        pools: vec![pool(10)],
        ..AutoscalerOptions::default()
    }));
    let a = controllers.autoscaler().unwrap().clone();
    let removed = eventually("a scale-down", || {
        let r = removals(&a.activity());
        (!r.is_empty()).then_some(r)
    })
    .await;
    assert_eq!(removed[0].0, "replicated");
    assert!(
        removed[0].1 >= Duration::from_secs(600),
        "unneeded 10 min: {removed:?}"
    );
    assert!(removed[0].2.duration_since(start).unwrap() >= Duration::from_secs(600));
    assert!(sb.get("nodes", "", "replicated").is_none());
    // Evicted: gone once its 30 s grace period has passed.
    eventually("the placeholder evicted", || {
        sb.get("pods", "jhub", "placeholder")
            .is_none()
            .then_some(())
    })
    .await;
    // Another 15 minutes: the node with the bare pod and the busy node stay.
    let until = sb.clock().now() + Duration::from_secs(900);
    eventually("15 more minutes", || {
        (sb.clock().now() >= until).then_some(())
    })
    .await;
    assert_eq!(removals(&a.activity()).len(), 1, "{:?}", a.activity());
    assert!(a.status().unneeded.is_empty(), "{:?}", a.status());
    controllers.stop().await;
}

#[tokio::test]
async fn no_scale_down_within_ten_minutes_of_a_scale_up() {
    let sb = sandbox().await;
    // An empty, small pool node: unneeded from the first scan.
    sb.seed_objects([pool_node("small", "1G")]).unwrap();
    let controllers = sb.start_controllers(autoscaler_only(AutoscalerOptions {
        pools: vec![pool(10)],
        ..AutoscalerOptions::default()
    }));
    let a = controllers.autoscaler().unwrap().clone();
    // Eight minutes in, a pod that does not fit the small node makes a scale-up.
    let at = sb.clock().now() + Duration::from_secs(480);
    eventually("8 minutes", || (sb.clock().now() >= at).then_some(())).await;
    sb.seed_objects([unschedulable("big", "4G", 0, true)])
        .unwrap();
    let removed = eventually("the small node removed", || {
        let r = removals(&a.activity());
        (!r.is_empty()).then_some(r)
    })
    .await;
    let scale_up = a
        .activity()
        .iter()
        .find(|x| matches!(x.kind, ActivityKind::ScaleUp { .. }))
        .map(|x| x.time)
        .expect("a scale-up");
    assert_eq!(removed[0].0, "small");
    let after_add = removed[0].2.duration_since(scale_up).unwrap();
    assert!(
        after_add >= Duration::from_secs(600),
        "{after_add:?} after the scale-up"
    );
    assert!(
        removed[0].1 >= Duration::from_secs(1000),
        "unneeded all along: {removed:?}"
    );
    controllers.stop().await;
}
