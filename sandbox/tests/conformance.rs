//! kube-rs against the sandbox: the calls a scheduler makes, with the real semantics.

use std::collections::BTreeMap;
use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Binding, Node, ObjectReference, Pod};
use k8s_openapi::api::policy::v1::{Eviction, PodDisruptionBudget};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{
    Api, DeleteParams, ListParams, Patch, PatchParams, PostParams, Preconditions, WatchEvent,
    WatchParams,
};
use kube::core::Status;
use kube::runtime::{WatchStreamExt, reflector, watcher};
use sandbox::{Sandbox, SandboxOptions};

/// Runs a test body with a time limit, so a hang fails fast instead of stalling CI.
async fn bounded(body: impl std::future::Future<Output = ()>) {
    tokio::time::timeout(std::time::Duration::from_secs(60), body)
        .await
        .expect("test finished within 60 s");
}
use serde_json::{Value, json};

async fn start() -> Sandbox {
    start_with(SandboxOptions::default()).await
}

async fn start_with(opts: SandboxOptions) -> Sandbox {
    Sandbox::start(opts).await.expect("sandbox starts")
}

/// A client that does not retry 429/503/504 (kube 5 retries them by default).
fn no_retry(sb: &Sandbox) -> kube::Client {
    let mut config = sb.config();
    config.default_retry = false;
    kube::Client::try_from(config).expect("client")
}

fn pod_json(name: &str, labels: Value) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": "default", "labels": labels},
        "spec": {"containers": [{"name": "c", "image": "busybox", "resources": {"requests": {"cpu": "100m"}}}]}
    })
}

fn pod(name: &str) -> Pod {
    serde_json::from_value(pod_json(name, json!({"app": "web"}))).expect("pod json")
}

fn api_code(r: Result<impl std::fmt::Debug, kube::Error>) -> (u16, String) {
    match r {
        Err(kube::Error::Api(s)) => (s.code, s.reason.clone()),
        other => panic!("expected an API error, got {other:?}"),
    }
}

fn binding(pod: &str, node: &str) -> Binding {
    Binding {
        metadata: ObjectMeta {
            name: Some(pod.into()),
            ..Default::default()
        },
        target: ObjectReference {
            api_version: Some("v1".into()),
            kind: Some("Node".into()),
            name: Some(node.into()),
            ..Default::default()
        },
    }
}

async fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !f() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reflector_converges_after_410_and_dropped_watches() {
    bounded(async {
        let sb = start().await;
        let pods: Api<Pod> = Api::default_namespaced(sb.client());
        let pp = PostParams::default();
        for i in 0..20 {
            pods.create(&pp, &pod(&format!("p{i}"))).await.unwrap();
        }
        let (reader, writer) = reflector::store::<Pod>();
        let stream = reflector(
            writer,
            watcher(Api::<Pod>::all(sb.client()), watcher::Config::default()),
        )
        .default_backoff()
        .applied_objects();
        let task = tokio::spawn(stream.for_each(|_| async {}));
        tokio::time::timeout(Duration::from_secs(5), reader.wait_until_ready())
            .await
            .unwrap()
            .unwrap();
        let converged = |sb: &Sandbox, reader: &reflector::Store<Pod>| {
            let want: BTreeMap<String, String> = sb
                .list("pods")
                .iter()
                .map(|p| {
                    (
                        p["metadata"]["name"].as_str().unwrap().to_string(),
                        p["metadata"]["resourceVersion"]
                            .as_str()
                            .unwrap()
                            .to_string(),
                    )
                })
                .collect();
            let got: BTreeMap<String, String> = reader
                .state()
                .iter()
                .map(|p| {
                    (
                        p.metadata.name.clone().unwrap(),
                        p.metadata.resource_version.clone().unwrap(),
                    )
                })
                .collect();
            want == got
        };
        eventually("initial sync", || converged(&sb, &reader)).await;

        // Writes, then a compaction: the open watch gets an in-stream 410 and the watcher relists.
        for i in 20..30 {
            pods.create(&pp, &pod(&format!("p{i}"))).await.unwrap();
        }
        let lists_before = sb
            .requests()
            .iter()
            .filter(|r| r.verb == "list" && r.resource == "pods")
            .count();
        sb.faults().compact();
        for i in 0..3 {
            pods.delete(&format!("p{i}"), &DeleteParams::default())
                .await
                .unwrap();
        }
        pods.patch(
            "p5",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"x": "1"}}})),
        )
        .await
        .unwrap();
        eventually("convergence after 410", || converged(&sb, &reader)).await;
        let lists_after = sb
            .requests()
            .iter()
            .filter(|r| r.verb == "list" && r.resource == "pods")
            .count();
        assert!(
            lists_after > lists_before,
            "a 410 must make the watcher relist"
        );

        // Dropped watches: the watcher re-watches from its last resourceVersion.
        sb.faults().close_watches();
        pods.create(&pp, &pod("late")).await.unwrap();
        pods.delete("p7", &DeleteParams::default()).await.unwrap();
        eventually("convergence after dropped watches", || {
            converged(&sb, &reader)
        })
        .await;
        assert_eq!(reader.state().len(), 27);
        task.abort();
        sb.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn binding_sets_node_and_conflicts_when_bound() {
    bounded(async {
        let sb = start().await;
        let pods: Api<Pod> = Api::default_namespaced(sb.client());
        pods.create(&PostParams::default(), &pod("p"))
            .await
            .unwrap();
        let st: Status = pods
            .create_subresource("binding", "p", &PostParams::default(), &binding("p", "n1"))
            .await
            .unwrap();
        assert_eq!(st.code, 201);
        let p = pods.get("p").await.unwrap();
        assert_eq!(p.spec.unwrap().node_name.as_deref(), Some("n1"));
        let conds = p.status.unwrap().conditions.unwrap();
        assert!(
            conds
                .iter()
                .any(|c| c.type_ == "PodScheduled" && c.status == "True")
        );
        let r = pods
            .create_subresource::<_, Status>(
                "binding",
                "p",
                &PostParams::default(),
                &binding("p", "n2"),
            )
            .await;
        let err = match r {
            Err(kube::Error::Api(s)) => s,
            other => panic!("expected 409, got {other:?}"),
        };
        assert_eq!((err.code, err.reason.as_str()), (409, "Conflict"));
        assert!(
            err.message
                .contains("pod p is already assigned to node \"n1\""),
            "{}",
            err.message
        );
        assert_eq!(
            sb.get("pods", "default", "p").unwrap()["spec"]["nodeName"],
            "n1"
        );
        let r = pods
            .create_subresource::<_, Status>(
                "binding",
                "nope",
                &PostParams::default(),
                &binding("nope", "n1"),
            )
            .await;
        assert_eq!(api_code(r).0, 404);
    })
    .await;
}

#[tokio::test]
async fn stale_update_conflicts_and_lease_cas() {
    bounded(async {
        let sb = start().await;
        let pods: Api<Pod> = Api::default_namespaced(sb.client());
        let created = pods
            .create(&PostParams::default(), &pod("p"))
            .await
            .unwrap();
        let mut a = created.clone();
        a.metadata
            .labels
            .get_or_insert_default()
            .insert("a".into(), "1".into());
        let updated = pods.replace("p", &PostParams::default(), &a).await.unwrap();
        assert_ne!(
            updated.metadata.resource_version,
            created.metadata.resource_version
        );
        let mut b = created.clone();
        b.metadata
            .labels
            .get_or_insert_default()
            .insert("b".into(), "1".into());
        assert_eq!(
            api_code(pods.replace("p", &PostParams::default(), &b).await),
            (409, "Conflict".into())
        );
        assert!(
            sb.get("pods", "default", "p").unwrap()["metadata"]["labels"]
                .get("b")
                .is_none()
        );

        let leases: Api<Lease> = Api::namespaced(sb.client(), "kube-system");
        let lease: Lease = serde_json::from_value(
            json!({"metadata": {"name": "user-scheduler"}, "spec": {"holderIdentity": "a"}}),
        )
        .unwrap();
        let l = leases.create(&PostParams::default(), &lease).await.unwrap();
        let mut mine = l.clone();
        mine.spec.as_mut().unwrap().holder_identity = Some("b".into());
        leases
            .replace("user-scheduler", &PostParams::default(), &mine)
            .await
            .unwrap();
        let mut theirs = l.clone();
        theirs.spec.as_mut().unwrap().holder_identity = Some("c".into());
        assert_eq!(
            api_code(
                leases
                    .replace("user-scheduler", &PostParams::default(), &theirs)
                    .await
            )
            .0,
            409
        );
        assert_eq!(
            leases
                .get("user-scheduler")
                .await
                .unwrap()
                .spec
                .unwrap()
                .holder_identity
                .as_deref(),
            Some("b")
        );
    })
    .await;
}

#[tokio::test]
async fn strategic_merge_of_conditions_keeps_the_others() {
    bounded(async {
        let sb = start().await;
        let pods: Api<Pod> = Api::default_namespaced(sb.client());
        pods.create(&PostParams::default(), &pod("p"))
            .await
            .unwrap();
        let pp = PatchParams::default();
        pods.patch_status(
            "p",
            &pp,
            &Patch::Strategic(json!({"status": {"conditions": [
            {"type": "Ready", "status": "False"}, {"type": "ContainersReady", "status": "False"}]}})),
        )
        .await
        .unwrap();
        let p = pods.patch_status("p", &pp, &Patch::Strategic(json!({"status": {"nominatedNodeName": "n1", "conditions": [
            {"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": "0/3 nodes are available"}]}}))).await.unwrap();
        let types: Vec<String> = p
            .status
            .as_ref()
            .unwrap()
            .conditions
            .as_ref()
            .unwrap()
            .iter()
            .map(|c| c.type_.clone())
            .collect();
        assert_eq!(types, vec!["Ready", "ContainersReady", "PodScheduled"]);
        assert_eq!(p.status.unwrap().nominated_node_name.as_deref(), Some("n1"));
        // A JSON merge patch replaces the list, as on a real server.
        let p = pods
            .patch_status(
                "p",
                &pp,
                &Patch::Merge(json!({"status": {"conditions": [{"type": "Ready", "status": "True"}]}})),
            )
            .await
            .unwrap();
        assert_eq!(p.status.unwrap().conditions.unwrap().len(), 1);
        // Status patches do not touch the spec; main-resource patches do not touch the status.
        pods.patch_status(
            "p",
            &pp,
            &Patch::Merge(json!({"metadata": {"labels": {"z": "1"}}, "status": {"phase": "Running"}})),
        )
        .await
        .unwrap();
        let p = pods
            .patch(
                "p",
                &pp,
                &Patch::Merge(
                    json!({"metadata": {"labels": {"y": "1"}}, "status": {"phase": "Failed"}}),
                ),
            )
            .await
            .unwrap();
        assert_eq!(p.status.unwrap().phase.as_deref(), Some("Running"));
        let labels = p.metadata.labels.unwrap();
        assert!(labels.contains_key("y") && !labels.contains_key("z"));
        // JSON patch.
        let p = pods
            .patch(
                "p",
                &pp,
                &Patch::<Value>::Json(
                    serde_json::from_value(json!([
            {"op": "add", "path": "/metadata/annotations", "value": {"k": "v"}}]))
                    .unwrap(),
                ),
            )
            .await
            .unwrap();
        assert_eq!(p.metadata.annotations.unwrap()["k"], "v");
        // Changing the node through a patch is forbidden, as on a real server.
        let r = pods
            .patch("p", &pp, &Patch::Merge(json!({"spec": {"nodeName": "n9"}})))
            .await;
        assert_eq!(api_code(r).0, 422);
    })
    .await;
}

async fn running_ready(pods: &Api<Pod>, name: &str, labels: Value) {
    pods.create(
        &PostParams::default(),
        &serde_json::from_value(pod_json(name, labels)).unwrap(),
    )
    .await
    .unwrap();
    pods.create_subresource::<_, Status>(
        "binding",
        name,
        &PostParams::default(),
        &binding(name, "n1"),
    )
    .await
    .unwrap();
    pods.patch_status(
        name,
        &PatchParams::default(),
        &Patch::Strategic(json!({"status": {"phase": "Running",
        "conditions": [{"type": "Ready", "status": "True"}]}})),
    )
    .await
    .unwrap();
}

fn eviction(name: &str) -> Eviction {
    Eviction {
        metadata: ObjectMeta {
            name: Some(name.into()),
            ..Default::default()
        },
        delete_options: None,
    }
}

#[tokio::test]
async fn eviction_respects_disruption_budgets() {
    bounded(async {
        let sb = start_with(SandboxOptions {
            time_scale: 1000.0,
            ..Default::default()
        })
        .await;
        let pods: Api<Pod> = Api::default_namespaced(no_retry(&sb));
        running_ready(&pods, "a", json!({"app": "db"})).await;
        running_ready(&pods, "b", json!({"app": "db"})).await;
        running_ready(&pods, "other", json!({"app": "web"})).await;
        let pdbs: Api<PodDisruptionBudget> = Api::default_namespaced(sb.client());
        let pdb: PodDisruptionBudget = serde_json::from_value(json!({"metadata": {"name": "db"},
            "spec": {"minAvailable": 2, "selector": {"matchLabels": {"app": "db"}}}}))
        .unwrap();
        pdbs.create(&PostParams::default(), &pdb).await.unwrap();
        let r = pods
            .create_subresource::<_, Status>(
                "eviction",
                "a",
                &PostParams::default(),
                &eviction("a"),
            )
            .await;
        assert_eq!(api_code(r), (429, "TooManyRequests".into()));
        assert!(
            sb.get("pods", "default", "a").unwrap()["metadata"]
                .get("deletionTimestamp")
                .is_none()
        );
        // A pod no budget covers is evicted (graceful, then gone).
        let st: Status = pods
            .create_subresource(
                "eviction",
                "other",
                &PostParams::default(),
                &eviction("other"),
            )
            .await
            .unwrap();
        assert_eq!(st.code, 201);
        eventually("evicted pod gone", || {
            sb.get("pods", "default", "other").is_none()
        })
        .await;
        // Relaxing the budget lets one eviction through, then the budget is exhausted again.
        pdbs.patch(
            "db",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"minAvailable": 1}})),
        )
        .await
        .unwrap();
        let mut ev = eviction("a");
        ev.delete_options = Some(
            kube::api::DeleteParams::default()
                .grace_period(0)
                .into_delete_options(),
        );
        pods.create_subresource::<_, Status>("eviction", "a", &PostParams::default(), &ev)
            .await
            .unwrap();
        assert!(
            sb.get("pods", "default", "a").is_none(),
            "grace period 0 deletes at once"
        );
        let r = pods
            .create_subresource::<_, Status>(
                "eviction",
                "b",
                &PostParams::default(),
                &eviction("b"),
            )
            .await;
        assert_eq!(api_code(r).0, 429);
        assert!(sb.get("pods", "default", "b").is_some());
    })
    .await;
}

trait IntoDeleteOptions {
    fn into_delete_options(self) -> k8s_openapi::apimachinery::pkg::apis::meta::v1::DeleteOptions;
}
impl IntoDeleteOptions for DeleteParams {
    fn into_delete_options(self) -> k8s_openapi::apimachinery::pkg::apis::meta::v1::DeleteOptions {
        k8s_openapi::apimachinery::pkg::apis::meta::v1::DeleteOptions {
            grace_period_seconds: self.grace_period_seconds.map(i64::from),
            ..Default::default()
        }
    }
}

#[tokio::test]
async fn delete_preconditions_and_graceful_deletion() {
    bounded(async {
        let sb = start_with(SandboxOptions {
            time_scale: 100.0,
            ..Default::default()
        })
        .await;
        let pods: Api<Pod> = Api::default_namespaced(sb.client());
        running_ready(&pods, "p", json!({})).await;
        let dp = DeleteParams::default().preconditions(Preconditions {
            uid: Some("wrong".into()),
            resource_version: None,
        });
        let (code, reason) = api_code(pods.delete("p", &dp).await);
        assert_eq!((code, reason.as_str()), (409, "Conflict"));
        assert!(
            sb.get("pods", "default", "p").unwrap()["metadata"]
                .get("deletionTimestamp")
                .is_none()
        );
        let dp = DeleteParams::default().preconditions(Preconditions {
            uid: None,
            resource_version: Some("1".into()),
        });
        assert_eq!(api_code(pods.delete("p", &dp).await).0, 409);

        // A bound pod is deleted gracefully: 30 s default at time scale 100 = 0.3 s.
        let uid = sb.get("pods", "default", "p").unwrap()["metadata"]["uid"]
            .as_str()
            .unwrap()
            .to_string();
        let dp = DeleteParams::default().preconditions(Preconditions {
            uid: Some(uid),
            resource_version: None,
        });
        let started = std::time::Instant::now();
        let terminating = pods
            .delete("p", &dp)
            .await
            .unwrap()
            .left()
            .expect("the terminating pod");
        assert!(terminating.metadata.deletion_timestamp.is_some());
        assert_eq!(terminating.metadata.deletion_grace_period_seconds, Some(30));
        let r = pods
            .create_subresource::<_, Status>(
                "binding",
                "p",
                &PostParams::default(),
                &binding("p", "n2"),
            )
            .await;
        assert_eq!(api_code(r).0, 409);
        eventually("graceful deletion", || {
            sb.get("pods", "default", "p").is_none()
        })
        .await;
        assert!(
            started.elapsed() >= Duration::from_millis(250),
            "{:?}",
            started.elapsed()
        );

        // An unbound pod goes at once; an explicit grace period of 0 too.
        pods.create(&PostParams::default(), &pod("q"))
            .await
            .unwrap();
        pods.delete("q", &DeleteParams::default()).await.unwrap();
        assert!(sb.get("pods", "default", "q").is_none());
        assert_eq!(
            api_code(pods.delete("q", &DeleteParams::default()).await).0,
            404
        );
    })
    .await;
}

#[tokio::test]
async fn selectors_on_list_and_watch() {
    bounded(async {
        let sb = start().await;
        let pods: Api<Pod> = Api::default_namespaced(sb.client());
        for (n, app) in [("a", "web"), ("b", "db"), ("c", "web")] {
            pods.create(
                &PostParams::default(),
                &serde_json::from_value(pod_json(n, json!({"app": app}))).unwrap(),
            )
            .await
            .unwrap();
        }
        pods.create_subresource::<_, Status>(
            "binding",
            "c",
            &PostParams::default(),
            &binding("c", "n1"),
        )
        .await
        .unwrap();
        let names = |l: kube::core::ObjectList<Pod>| {
            l.items
                .into_iter()
                .map(|p| p.metadata.name.unwrap())
                .collect::<Vec<_>>()
        };
        assert_eq!(
            names(
                pods.list(&ListParams::default().labels("app=web"))
                    .await
                    .unwrap()
            ),
            ["a", "c"]
        );
        assert_eq!(
            names(
                pods.list(&ListParams::default().labels("app notin (web)"))
                    .await
                    .unwrap()
            ),
            ["b"]
        );
        assert_eq!(
            names(
                pods.list(&ListParams::default().fields("spec.nodeName="))
                    .await
                    .unwrap()
            ),
            ["a", "b"]
        );
        assert_eq!(
            names(
                pods.list(&ListParams::default().fields("spec.nodeName!=,metadata.name=c"))
                    .await
                    .unwrap()
            ),
            ["c"]
        );
        assert_eq!(
            names(
                pods.list(
                    &ListParams::default()
                        .labels("app=web")
                        .fields("spec.nodeName=n1")
                )
                .await
                .unwrap()
            ),
            ["c"]
        );
        assert_eq!(
            api_code(
                pods.list(&ListParams::default().fields("spec.bogus=1"))
                    .await
            )
            .0,
            400
        );
        assert_eq!(
            api_code(pods.list(&ListParams::default().labels("app in web")).await).0,
            400
        );

        // A watcher on app=web sees b start matching (ADDED) and a stop matching (DELETED).
        let rv = pods
            .list(&ListParams::default())
            .await
            .unwrap()
            .metadata
            .resource_version
            .unwrap();
        let mut stream = pods
            .watch(&WatchParams::default().labels("app=web").timeout(5), &rv)
            .await
            .unwrap()
            .boxed();
        pods.patch(
            "b",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"app": "web"}}})),
        )
        .await
        .unwrap();
        pods.patch(
            "a",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"app": "db"}}})),
        )
        .await
        .unwrap();
        pods.patch(
            "a",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"x": "y"}}})),
        )
        .await
        .unwrap();
        pods.patch(
            "c",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"x": "y"}}})),
        )
        .await
        .unwrap();
        let mut seen = Vec::new();
        while seen.len() < 3 {
            match stream.try_next().await.unwrap().expect("event") {
                WatchEvent::Added(p) => seen.push(format!("ADDED {}", p.metadata.name.unwrap())),
                WatchEvent::Modified(p) => {
                    seen.push(format!("MODIFIED {}", p.metadata.name.unwrap()))
                }
                WatchEvent::Deleted(p) => {
                    assert_eq!(
                        p.metadata.labels.unwrap()["app"],
                        "web",
                        "DELETED carries the last matching state"
                    );
                    seen.push(format!("DELETED {}", p.metadata.name.unwrap()))
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(seen, ["ADDED b", "DELETED a", "MODIFIED c"]);

        // Field selectors on watches: a pod being bound leaves `spec.nodeName=`.
        let mut unbound = pods
            .watch(
                &WatchParams::default().fields("spec.nodeName=").timeout(5),
                "0",
            )
            .await
            .unwrap()
            .boxed();
        let mut initial = Vec::new();
        for _ in 0..2 {
            if let WatchEvent::Added(p) = unbound.try_next().await.unwrap().unwrap() {
                initial.push(p.metadata.name.unwrap());
            }
        }
        assert_eq!(initial, ["a", "b"]);
        pods.create_subresource::<_, Status>(
            "binding",
            "a",
            &PostParams::default(),
            &binding("a", "n1"),
        )
        .await
        .unwrap();
        match unbound.try_next().await.unwrap().unwrap() {
            WatchEvent::Deleted(p) => assert_eq!(p.metadata.name.as_deref(), Some("a")),
            other => panic!("expected DELETED a, got {other:?}"),
        }
    })
    .await;
}

#[tokio::test]
async fn watch_protocol_details() {
    bounded(async {
        let sb = start_with(SandboxOptions {
            bookmark_interval: Duration::from_millis(100),
            event_window: 5,
            ..Default::default()
        })
        .await;
        let nodes: Api<Node> = Api::all(sb.client());
        let node =
            |n: &str| serde_json::from_value::<Node>(json!({"metadata": {"name": n}})).unwrap();
        nodes
            .create(&PostParams::default(), &node("n0"))
            .await
            .unwrap();
        let rv = nodes
            .list(&ListParams::default())
            .await
            .unwrap()
            .metadata
            .resource_version
            .unwrap();
        // Bookmarks carry the latest resourceVersion.
        let mut s = nodes
            .watch(&WatchParams::default().timeout(5), &rv)
            .await
            .unwrap()
            .boxed();
        nodes
            .create(&PostParams::default(), &node("n1"))
            .await
            .unwrap();
        assert!(matches!(
            s.try_next().await.unwrap().unwrap(),
            WatchEvent::Added(_)
        ));
        match s.try_next().await.unwrap().unwrap() {
            WatchEvent::Bookmark(b) => assert_eq!(
                b.metadata.resource_version,
                sb.resource_version().to_string()
            ),
            other => panic!("expected a bookmark, got {other:?}"),
        }
        // A resourceVersion older than the window gets an in-stream 410 (HTTP 200).
        for i in 2..10 {
            nodes
                .create(&PostParams::default(), &node(&format!("n{i}")))
                .await
                .unwrap();
        }
        let mut old = nodes
            .watch(&WatchParams::default().timeout(5), &rv)
            .await
            .unwrap()
            .boxed();
        match old.try_next().await.unwrap().unwrap() {
            WatchEvent::Error(e) => assert_eq!((e.code, e.reason.as_str()), (410, "Expired")),
            other => panic!("expected a 410 ERROR event, got {other:?}"),
        }
        assert!(
            old.try_next().await.unwrap().is_none(),
            "the stream ends after the error"
        );
        // timeoutSeconds ends the stream.
        let started = std::time::Instant::now();
        let rv = sb.resource_version().to_string();
        let mut t = nodes
            .watch(&WatchParams::default().timeout(1).disable_bookmarks(), &rv)
            .await
            .unwrap()
            .boxed();
        assert!(t.try_next().await.unwrap().is_none());
        assert!(started.elapsed() < Duration::from_secs(3));
        // limit/continue paginate one consistent list.
        let page1 = nodes.list(&ListParams::default().limit(4)).await.unwrap();
        assert_eq!(page1.items.len(), 4);
        let token = page1.metadata.continue_.clone().expect("continue token");
        nodes.delete("n9", &DeleteParams::default()).await.unwrap();
        let page2 = nodes
            .list(&ListParams::default().limit(4).continue_token(&token))
            .await
            .unwrap();
        let page3 = nodes
            .list(
                &ListParams::default()
                    .limit(4)
                    .continue_token(page2.metadata.continue_.as_deref().unwrap()),
            )
            .await
            .unwrap();
        assert_eq!(page2.items.len() + page3.items.len(), 6);
        assert!(page3.metadata.continue_.as_deref().unwrap_or("").is_empty());
        assert_eq!(
            page3.metadata.resource_version,
            page1.metadata.resource_version
        );
    })
    .await;
}

#[tokio::test]
async fn validation_rejects_and_stores_nothing() {
    bounded(async {
        let sb = start().await;
        let pods: Api<Pod> = Api::default_namespaced(sb.client());
        let mut bad = pod_json("bad", json!({}));
        bad["spec"]["containers"][0]["resources"]["requests"]["cpu"] = json!("lots");
        bad["spec"]["initContainers"] =
            json!([{"name": "i", "image": "x", "resources": {"limits": {"memory": "1KiB"}}}]);
        let r = pods
            .create(
                &PostParams::default(),
                &serde_json::from_value(bad).unwrap(),
            )
            .await;
        let s = match r {
            Err(kube::Error::Api(s)) => s,
            other => panic!("expected 422, got {other:?}"),
        };
        assert_eq!((s.code, s.reason.as_str()), (422, "Invalid"));
        let fields: Vec<String> = s
            .details
            .unwrap()
            .causes
            .into_iter()
            .map(|c| c.field)
            .collect();
        assert_eq!(
            fields,
            [
                "spec.containers[0].resources.requests[cpu]",
                "spec.initContainers[0].resources.limits[memory]"
            ]
        );
        assert!(sb.get("pods", "default", "bad").is_none());

        let client = no_retry(&sb);
        let raw = |method: &str, path: &str, body: &str| {
            http::Request::builder()
                .method(method)
                .uri(path)
                .header("content-type", "application/json")
                .body(body.as_bytes().to_vec())
                .unwrap()
        };
        let code = |r: Result<Value, kube::Error>| api_code(r);
        assert_eq!(
            code(
                client
                    .request(raw("POST", "/api/v1/namespaces/default/pods", "{not json"))
                    .await
            )
            .0,
            400
        );
        let no_name = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {}, "spec": {"containers": [{"name": "c"}]}}).to_string();
        assert_eq!(
            code(
                client
                    .request(raw("POST", "/api/v1/namespaces/default/pods", &no_name))
                    .await
            ),
            (422, "Invalid".into())
        );
        let node = json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "x"}}).to_string();
        assert_eq!(
            code(
                client
                    .request(raw("POST", "/api/v1/namespaces/default/pods", &node))
                    .await
            )
            .0,
            400
        );
        let apps =
            json!({"apiVersion": "apps/v1", "kind": "Pod", "metadata": {"name": "x"}}).to_string();
        assert_eq!(
            code(
                client
                    .request(raw("POST", "/api/v1/namespaces/default/pods", &apps))
                    .await
            )
            .0,
            400
        );
        let mut elsewhere = pod_json("x", json!({}));
        elsewhere["metadata"]["namespace"] = json!("nope");
        assert_eq!(
            code(
                client
                    .request(raw(
                        "POST",
                        "/api/v1/namespaces/nope/pods",
                        &elsewhere.to_string()
                    ))
                    .await
            )
            .0,
            404
        );
        assert_eq!(
            code(
                client
                    .request(raw(
                        "POST",
                        "/api/v1/namespaces/default/pods",
                        &elsewhere.to_string()
                    ))
                    .await
            )
            .0,
            400
        );
        assert_eq!(
            code(
                client
                    .request(raw("PUT", "/api/v1/namespaces/default/pods", "{}"))
                    .await
            ),
            (405, "MethodNotAllowed".into())
        );
        assert_eq!(
            code(
                client
                    .request(raw("GET", "/api/v1/namespaces/default/widgets", ""))
                    .await
            )
            .0,
            404
        );
        let mut bad_patch = raw("PATCH", "/api/v1/nodes/x", "{}");
        bad_patch
            .headers_mut()
            .insert("content-type", "text/plain".parse().unwrap());
        assert_eq!(code(client.request(bad_patch).await).0, 415);
        assert!(sb.list("pods").is_empty() && sb.list("nodes").is_empty());

        // Hostile input gets error answers, never a crash.
        pods.create(&PostParams::default(), &pod("victim")).await.unwrap();
        let mut root = raw("PATCH", "/api/v1/namespaces/default/pods/victim", r#"[{"op":"replace","path":"","value":5}]"#);
        root.headers_mut().insert("content-type", "application/json-patch+json".parse().unwrap());
        assert_eq!(code(client.request(root).await).0, 400);
        let mut scalar = raw("PATCH", "/api/v1/namespaces/default/pods/victim", "7");
        scalar.headers_mut().insert("content-type", "application/merge-patch+json".parse().unwrap());
        assert_eq!(code(client.request(scalar).await).0, 400);
        let huge = client.request::<Value>(raw("GET", "/api/v1/pods?limit=18446744073709551615&continue=sbx-1-18446744073709551615", "")).await;
        assert!(matches!(huge, Err(kube::Error::Api(ref s)) if s.code == 410), "{huge:?}");
        let watch_forever = client.request_stream(raw("GET", "/api/v1/pods?watch=1&timeoutSeconds=18446744073709551615", "")).await;
        assert!(watch_forever.is_ok());
        drop(watch_forever);
        let future_rv = client.request_text(raw("GET", "/api/v1/pods?watch=1&resourceVersion=999999", "")).await;
        assert!(matches!(future_rv, Err(kube::Error::Api(ref s)) if s.code == 504), "{future_rv:?}");
        pods.create_subresource::<_, Status>("binding", "victim", &PostParams::default(), &binding("victim", "n1")).await.unwrap();
        let forever = DeleteParams { grace_period_seconds: Some(u32::MAX), ..Default::default() };
        let terminating = pods.delete("victim", &forever).await.unwrap().left().unwrap();
        assert_eq!(terminating.metadata.deletion_grace_period_seconds, Some(365 * 24 * 3600));
        assert_eq!(code(client.request(raw("GET", "/api/v1/namespaces/default/pods/victim/%zz", "")).await).0, 404);

        // generateName, and AlreadyExists.
        let mut g = pod_json("", json!({}));
        g["metadata"] = json!({"generateName": "jupyter-"});
        let created = pods
            .create(&PostParams::default(), &serde_json::from_value(g).unwrap())
            .await
            .unwrap();
        let name = created.metadata.name.unwrap();
        assert!(name.starts_with("jupyter-") && name.len() == 13, "{name}");
        assert!(created.metadata.uid.is_some() && created.metadata.creation_timestamp.is_some());
        pods.create(&PostParams::default(), &pod("dup"))
            .await
            .unwrap();
        assert_eq!(
            api_code(pods.create(&PostParams::default(), &pod("dup")).await),
            (409, "AlreadyExists".into())
        );
    })
    .await;
}

#[tokio::test]
async fn events_are_visible_through_both_groups() {
    bounded(async {
        let sb = start().await;
        let client = sb.client();
        let ev2: Api<k8s_openapi::api::events::v1::Event> = Api::default_namespaced(client.clone());
        let e: k8s_openapi::api::events::v1::Event = serde_json::from_value(json!({
            "metadata": {"name": "p.1"}, "eventTime": "2026-01-01T00:00:00.000000Z",
            "regarding": {"kind": "Pod", "name": "p", "namespace": "default"}, "note": "Successfully assigned default/p to n1",
            "reason": "Scheduled", "type": "Normal", "action": "Binding",
            "reportingController": "user-scheduler", "reportingInstance": "user-scheduler-0"})).unwrap();
        ev2.create(&PostParams::default(), &e).await.unwrap();
        let core: Api<k8s_openapi::api::core::v1::Event> = Api::default_namespaced(client.clone());
        let c = core.get("p.1").await.unwrap();
        assert_eq!(c.involved_object.name.as_deref(), Some("p"));
        assert_eq!(
            c.message.as_deref(),
            Some("Successfully assigned default/p to n1")
        );
        assert_eq!(c.reporting_component.as_deref(), Some("user-scheduler"));
        let listed = core
            .list(&ListParams::default().fields("involvedObject.name=p"))
            .await
            .unwrap();
        assert_eq!(listed.items.len(), 1);
        // A merge patch through events.k8s.io (what kube's Recorder does for series) is seen in core.
        ev2.patch(
            "p.1",
            &PatchParams::default(),
            &Patch::Merge(
                json!({"series": {"count": 2, "lastObservedTime": "2026-01-01T00:01:00.000000Z"}}),
            ),
        )
        .await
        .unwrap();
        assert_eq!(
            core.get("p.1").await.unwrap().series.unwrap().count,
            Some(2)
        );
        assert_eq!(
            ev2.get("p.1").await.unwrap().note.as_deref(),
            Some("Successfully assigned default/p to n1")
        );
    })
    .await;
}

#[tokio::test]
async fn faults_and_request_log() {
    bounded(async {
        let sb = start().await;
        let pods: Api<Pod> = Api::default_namespaced(no_retry(&sb));
        pods.create(&PostParams::default(), &pod("p"))
            .await
            .unwrap();
        sb.faults().fail_next("POST", "/binding", 503, 2).unwrap();
        for _ in 0..2 {
            let r = pods
                .create_subresource::<_, Status>(
                    "binding",
                    "p",
                    &PostParams::default(),
                    &binding("p", "n1"),
                )
                .await;
            assert_eq!(api_code(r).0, 503);
        }
        pods.create_subresource::<_, Status>(
            "binding",
            "p",
            &PostParams::default(),
            &binding("p", "n1"),
        )
        .await
        .unwrap();
        assert!(sb.faults().fail_next("GET", "/", 200, 1).is_err());

        // Paused writes wait; reads go on.
        sb.faults().pause_writes();
        let api2 = pods.clone();
        let write =
            tokio::spawn(async move { api2.create(&PostParams::default(), &pod("later")).await });
        tokio::time::sleep(Duration::from_millis(150)).await;
        assert!(!write.is_finished());
        pods.get("p").await.unwrap();
        sb.faults().resume_writes();
        tokio::time::timeout(Duration::from_secs(2), write)
            .await
            .unwrap()
            .unwrap()
            .unwrap();

        // Latency.
        sb.faults().set_latency(Duration::from_millis(100));
        let t = std::time::Instant::now();
        pods.get("p").await.unwrap();
        assert!(t.elapsed() >= Duration::from_millis(100));
        sb.faults().clear();

        // The admin route does the same over HTTP.
        let req = http::Request::builder()
            .method("POST")
            .uri("/sandbox/faults/fail")
            .body(
                json!({"method": "GET", "path": "/pods/p", "status": 500, "count": 1})
                    .to_string()
                    .into_bytes(),
            )
            .unwrap();
        sb.client().request::<Value>(req).await.unwrap();
        assert_eq!(api_code(pods.get("p").await).0, 500);
        pods.get("p").await.unwrap();

        let log = sb.requests();
        let has = |verb: &str, sub: Option<&str>| {
            log.iter().any(|r| {
                r.verb == verb
                    && r.resource == "pods"
                    && r.subresource.as_deref() == sub
                    && r.namespace.as_deref() == Some("default")
            })
        };
        assert!(has("create", None) && has("create", Some("binding")) && has("get", None));
        assert!(!log.iter().any(|r| r.path.starts_with("/sandbox")));
    })
    .await;
}

#[tokio::test]
async fn seeding_and_store_access() {
    bounded(async {
        let sb = start().await;
        let n = sb
            .seed_yaml(
                "apiVersion: v1\nkind: NodeList\nitems:\n- metadata: {name: n1}\n  apiVersion: v1\n  kind: Node\n  status: {allocatable: {cpu: '4'}}\n---\n\
                 apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: jhub}\nspec: {nodeName: n1, containers: [{name: c}]}\nstatus: {phase: Running}\n---\n\
                 apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\n---\n",
            )
            .unwrap();
        assert_eq!(n, 2);
        assert_eq!(
            sb.get("pods", "jhub", "p").unwrap()["status"]["phase"],
            "Running"
        );
        assert!(
            sb.get("namespaces", "", "jhub").is_some(),
            "seeding creates missing namespaces"
        );
        assert_eq!(
            sb.get("nodes", "", "n1").unwrap()["status"]["allocatable"]["cpu"],
            "4"
        );
        assert!(sb.seed_yaml("kind: Pod\napiVersion: v1\nmetadata: {name: q}\nspec: {containers: [{name: c, resources: {requests: {cpu: x}}}]}").is_err());
        assert!(sb.seed_yaml("a: [").is_err());
        let n = sb.seed_objects([json!({"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass", "metadata": {"name": "high"}, "value": 1000})]).unwrap();
        assert_eq!(n, 1);
        assert_eq!(sb.list("priorityclasses").len(), 1);
        assert!(
            Sandbox::start(SandboxOptions {
                listen: "0.0.0.0:0".parse().unwrap(),
                ..Default::default()
            })
            .await
            .is_err()
        );
        assert!(sb.kubeconfig_yaml().contains(&sb.url()));
    })
    .await;
}

#[tokio::test]
async fn streaming_list_watcher_gets_initial_events_end() {
    bounded(async {
        let sb = start().await;
        sb.seed_objects([
            json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "a"}}),
            json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "b"}}),
        ])
        .unwrap();
        let (reader, writer) = reflector::store::<Node>();
        let config = watcher::Config::default().streaming_lists();
        let stream = reflector(writer, watcher(Api::<Node>::all(sb.client()), config))
            .default_backoff()
            .applied_objects();
        let task = tokio::spawn(stream.for_each(|_| async {}));
        reader.wait_until_ready().await.unwrap();
        assert_eq!(reader.len(), 2);
        let nodes: Api<Node> = Api::all(sb.client());
        nodes
            .create(
                &PostParams::default(),
                &serde_json::from_value(json!({"metadata": {"name": "c"}})).unwrap(),
            )
            .await
            .unwrap();
        eventually("the new node", || reader.len() == 3).await;
        assert!(
            !sb.requests()
                .iter()
                .any(|r| r.verb == "list" && r.resource == "nodes"),
            "no LIST with streaming lists"
        );
        task.abort();
    })
    .await;
}

#[tokio::test]
async fn a_gated_pod_is_created_with_podscheduled_false_schedulinggated() {
    bounded(async {
        let sb = start().await;
        let pods: Api<Pod> = Api::namespaced(sb.client(), "default");
        let mut gated = pod_json("gated", json!({}));
        gated["spec"]["schedulingGates"] = json!([{"name": "example.com/wait"}]);
        let gated: Pod = serde_json::from_value(gated).unwrap();
        let created = pods.create(&PostParams::default(), &gated).await.unwrap();
        let conditions = created
            .status
            .and_then(|s| s.conditions)
            .unwrap_or_default();
        assert_eq!(conditions.len(), 1, "{conditions:?}");
        let c = &conditions[0];
        assert_eq!(
            (c.type_.as_str(), c.status.as_str(), c.reason.as_deref()),
            ("PodScheduled", "False", Some("SchedulingGated"))
        );
        assert_eq!(
            c.message.as_deref(),
            Some("Scheduling is blocked due to non-empty scheduling gates")
        );
        // An ungated pod gets no condition on create.
        let plain = pods
            .create(&PostParams::default(), &pod("plain"))
            .await
            .unwrap();
        assert!(
            plain
                .status
                .and_then(|s| s.conditions)
                .is_none_or(|c| c.is_empty())
        );
    })
    .await;
}

#[tokio::test]
async fn token_and_subject_access_reviews() {
    use k8s_openapi::api::authentication::v1::{TokenReview, TokenReviewSpec};
    use k8s_openapi::api::authorization::v1::{
        NonResourceAttributes, ResourceAttributes, SubjectAccessReview, SubjectAccessReviewSpec,
    };
    bounded(async {
        let sb = start().await;
        sb.add_token(
            "prom-token",
            sandbox::TokenUser::service_account("monitoring", "prometheus"),
        );
        let reviews: Api<TokenReview> = Api::all(sb.client());
        let review = |token: &str| TokenReview {
            spec: TokenReviewSpec {
                token: Some(token.into()),
                ..Default::default()
            },
            ..Default::default()
        };
        let known = reviews
            .create(&PostParams::default(), &review("prom-token"))
            .await
            .unwrap()
            .status
            .unwrap();
        assert_eq!(known.authenticated, Some(true));
        let user = known.user.unwrap();
        assert_eq!(
            user.username.as_deref(),
            Some("system:serviceaccount:monitoring:prometheus")
        );
        assert!(
            user.groups
                .unwrap()
                .contains(&"system:authenticated".to_string())
        );
        let unknown = reviews
            .create(&PostParams::default(), &review("forged"))
            .await
            .unwrap()
            .status
            .unwrap();
        assert_ne!(unknown.authenticated, Some(true));
        assert_eq!(unknown.error.as_deref(), Some("invalid bearer token"));

        // RBAC: a ClusterRole for /metrics bound to the service account, and a Role in one
        // namespace bound to a group.
        sb.seed_yaml(
            r#"
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: metrics-reader}
rules:
  - nonResourceURLs: [/metrics]
    verbs: [get]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: prometheus-metrics}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: metrics-reader}
subjects:
  - {kind: ServiceAccount, name: prometheus, namespace: monitoring}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: pod-reader, namespace: default}
rules:
  - {apiGroups: [""], resources: [pods], verbs: [get, list]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: ops-pods, namespace: default}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: pod-reader}
subjects:
  - {kind: Group, name: ops}
"#,
        )
        .unwrap();
        let sars: Api<SubjectAccessReview> = Api::all(sb.client());
        let ask = |user: &str, groups: &[&str], path: Option<&str>, ns: &str| {
            let mut spec = SubjectAccessReviewSpec {
                user: Some(user.into()),
                groups: Some(groups.iter().map(|g| (*g).to_string()).collect()),
                ..Default::default()
            };
            match path {
                Some(p) => {
                    spec.non_resource_attributes = Some(NonResourceAttributes {
                        path: Some(p.into()),
                        verb: Some("get".into()),
                    });
                }
                None => {
                    spec.resource_attributes = Some(ResourceAttributes {
                        namespace: Some(ns.into()),
                        verb: Some("get".into()),
                        resource: Some("pods".into()),
                        name: Some("p".into()),
                        ..Default::default()
                    });
                }
            }
            let sars = sars.clone();
            async move {
                sars.create(
                    &PostParams::default(),
                    &SubjectAccessReview {
                        spec,
                        ..Default::default()
                    },
                )
                .await
                .unwrap()
                .status
                .unwrap()
            }
        };
        let prom = "system:serviceaccount:monitoring:prometheus";
        let allowed = ask(prom, &["system:authenticated"], Some("/metrics"), "").await;
        assert!(allowed.allowed, "{allowed:?}");
        assert_eq!(
            allowed.reason.as_deref(),
            Some(
                "RBAC: allowed by ClusterRoleBinding \"prometheus-metrics\" of ClusterRole \"metrics-reader\" to ServiceAccount \"prometheus/monitoring\""
            )
        );
        assert!(!ask(prom, &[], Some("/healthz"), "").await.allowed);
        assert!(
            !ask("system:anonymous", &["system:unauthenticated"], Some("/metrics"), "")
                .await
                .allowed
        );
        assert!(ask("system:admin", &["system:masters"], Some("/x"), "").await.allowed);
        // The Role grants in its namespace only, and no URL.
        assert!(ask("carol", &["ops"], None, "default").await.allowed);
        assert!(!ask("carol", &["ops"], None, "jhub").await.allowed);
        assert!(!ask("carol", &["ops"], Some("/metrics"), "").await.allowed);

        // Neither user nor group, or no attributes: 422 as the real server.
        let (code, reason) = api_code(
            sars.create(&PostParams::default(), &SubjectAccessReview::default())
                .await,
        );
        assert_eq!((code, reason.as_str()), (422, "Invalid"));
        // Reviews are only created: nothing to list, nothing stored.
        let (code, _) = api_code(reviews.list(&ListParams::default()).await);
        assert_eq!(code, 405);
        assert!(sb.list("tokenreviews").is_empty());
        let logged = sb.requests();
        assert!(logged.iter().any(|r| r.api_group == "authentication.k8s.io"
            && r.resource == "tokenreviews"
            && r.verb == "create"));
        assert!(logged.iter().any(|r| r.api_group == "authorization.k8s.io"
            && r.resource == "subjectaccessreviews"
            && r.verb == "create"));
    })
    .await;
}
