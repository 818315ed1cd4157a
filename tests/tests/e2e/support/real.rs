//! The real control plane as a test backend: kube-apiserver v1.37 and
//! friends from `kube/build.sh` (see the `controlplane` crate), with the
//! scheduler's RBAC applied from `deploy/` or the z2jh chart's fixtures.

use std::path::PathBuf;
use std::time::Duration;

use controlplane::{ControlPlane, ControlPlaneError, Options};
use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::api::{ApiResource, DynamicObject, GroupVersionKind, PostParams};
use serde_json::{Value, json};

use super::{CallLog, NS, eventually, recording_client_from};

/// A fresh control plane, or `None` (the test is skipped, with a line on
/// stderr) when its binaries cannot be had outside CI. In CI a missing
/// control plane fails the test.
pub async fn plane(options: Options) -> Option<ControlPlane> {
    match ControlPlane::start(options).await {
        Ok(p) => Some(p),
        Err(ControlPlaneError::Unavailable(why)) if !controlplane::required() => {
            eprintln!("skipped: {why}");
            None
        }
        Err(e) => panic!("{e}"),
    }
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Creates `objects` (JSON of any kind) as the admin.
pub async fn create_all(plane: &ControlPlane, objects: &[Value]) {
    let client = plane.admin().await.expect("the admin client");
    for obj in objects {
        create(&client, obj).await;
    }
}

/// Creates one object of any kind through the API.
pub async fn create(client: &kube::Client, obj: &Value) {
    let api_version = obj["apiVersion"].as_str().expect("apiVersion");
    let kind = obj["kind"].as_str().expect("kind");
    let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
    let resource = ApiResource::from_gvk(&GroupVersionKind::gvk(group, version, kind));
    let object: DynamicObject = serde_json::from_value(obj.clone()).expect("an object");
    let api: Api<DynamicObject> = match obj["metadata"]["namespace"].as_str() {
        Some(ns) => Api::namespaced_with(client.clone(), ns, &resource),
        None => Api::all_with(client.clone(), &resource),
    };
    api.create(&PostParams::default(), &object)
        .await
        .unwrap_or_else(|e| panic!("creating {kind} {}: {e}", obj["metadata"]["name"]));
}

/// The documents of a YAML stream as JSON.
fn documents(yaml: &str) -> Vec<Value> {
    use serde::Deserialize;
    serde_yaml_ng::Deserializer::from_str(yaml)
        .filter_map(|d| serde_json::Value::deserialize(d).ok())
        .filter(|v| !v.is_null())
        .collect()
}

/// Applies the scheduler's RBAC (ServiceAccount `jhub/user-scheduler`,
/// roles and bindings) and its PriorityClasses exactly as `kubectl apply -k
/// deploy/` renders them, with this build's kubectl.
pub async fn apply_deploy_rbac(plane: &ControlPlane) {
    controlplane::ensure_namespace(&plane.admin().await.unwrap(), NS)
        .await
        .unwrap();
    let rendered = plane
        .kubectl(&["kustomize", repo().join("deploy").to_str().unwrap()])
        .unwrap();
    assert!(
        rendered.status.success(),
        "{}",
        String::from_utf8_lossy(&rendered.stderr)
    );
    let wanted = [
        "ServiceAccount",
        "ClusterRole",
        "ClusterRoleBinding",
        "Role",
        "RoleBinding",
        "PriorityClass",
    ];
    let objects: Vec<Value> = documents(&String::from_utf8_lossy(&rendered.stdout))
        .into_iter()
        .filter(|o| wanted.iter().any(|k| o["kind"] == *k))
        .collect();
    assert!(objects.len() >= 6, "{objects:?}");
    create_all(plane, &objects).await;
}

/// Applies a z2jh chart ClusterRole from the fixtures (`z2jh-rbac.yaml` or
/// `z2jh-rbac-main.yaml`) bound to ServiceAccount `jhub/user-scheduler`,
/// as the chart binds it, and deploy/'s PriorityClasses.
pub async fn apply_z2jh_rbac(plane: &ControlPlane, fixture: &str) {
    let admin = plane.admin().await.unwrap();
    controlplane::ensure_namespace(&admin, NS).await.unwrap();
    let text = std::fs::read_to_string(repo().join("scheduler/tests/fixtures").join(fixture))
        .expect("the fixture");
    let mut objects = documents(&text);
    let role = objects
        .iter()
        .find(|o| o["kind"] == "ClusterRole")
        .expect("a ClusterRole")["metadata"]["name"]
        .clone();
    objects.push(json!({
        "apiVersion": "v1", "kind": "ServiceAccount",
        "metadata": {"name": "user-scheduler", "namespace": NS}
    }));
    objects.push(json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
        "metadata": {"name": "z2jh-user-scheduler"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
        "subjects": [{"kind": "ServiceAccount", "name": "user-scheduler", "namespace": NS}]
    }));
    let classes = std::fs::read_to_string(repo().join("deploy/priorityclasses.yaml")).unwrap();
    objects.extend(documents(&classes));
    create_all(plane, &objects).await;
}

/// A client authenticated as ServiceAccount `jhub/user-scheduler`, as the
/// scheduler's pod is, recording every request.
pub async fn scheduler_client(plane: &ControlPlane) -> (kube::Client, CallLog) {
    let token = plane
        .service_account_token(NS, "user-scheduler")
        .await
        .expect("a token");
    plane
        .write_kubeconfig("user-scheduler", &token)
        .expect("a kubeconfig");
    let config = plane.config("user-scheduler").await.unwrap();
    let log = CallLog::default();
    (recording_client_from(config, log.clone()), log)
}

/// Every request in `log` the API server refused for a reason other than
/// the ones a scheduler meets in normal work (409: a conflict, already
/// bound; 404: gone meanwhile), as `METHOD path -> status`.
pub fn refused(log: &CallLog) -> Vec<String> {
    log.calls()
        .into_iter()
        .filter(|c| c.status() >= 400 && !matches!(c.status(), 404 | 409))
        .map(|c| format!("{} {} -> {}", c.method, c.path, c.status()))
        .collect()
}

/// The node pod `NS/name` is bound to, read from the API.
pub async fn node_of(client: &kube::Client, name: &str) -> Option<String> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), NS);
    pods.get_opt(name)
        .await
        .ok()
        .flatten()
        .and_then(|p| p.spec)
        .and_then(|s| s.node_name)
}

/// Waits until pod `NS/name` is bound and returns its node.
pub async fn bound(client: &kube::Client, name: &str, limit: Duration) -> String {
    eventually(limit, &format!("{name} bound"), || async {
        node_of(client, name).await
    })
    .await
}

/// A pod for the real API server: the test's JSON with its `priority`
/// replaced by the PriorityClass of deploy/ that has that value (the
/// Priority admission plugin computes the number from the class).
pub fn with_priority_class(mut pod: Value) -> Value {
    let class = match pod["spec"]["priority"].as_i64() {
        Some(-10) => "user-scheduler-placeholders",
        Some(-5) => "user-scheduler-image-pullers",
        _ => "user-scheduler-users",
    };
    if let Some(spec) = pod["spec"].as_object_mut() {
        spec.remove("priority");
        spec.insert("priorityClassName".into(), json!(class));
    }
    pod
}

/// Every event (events.k8s.io/v1) in `NS`, as JSON.
pub async fn events(client: &kube::Client) -> Vec<Value> {
    let resource = ApiResource::from_gvk(&GroupVersionKind::gvk("events.k8s.io", "v1", "Event"));
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), NS, &resource);
    let list = api.list(&Default::default()).await.expect("events");
    list.items.into_iter().map(|e| e.data).collect()
}

/// Events (events.k8s.io/v1) about pod `NS/name`, as (reason, note,
/// reportingController).
pub async fn events_of(client: &kube::Client, name: &str) -> Vec<(String, String, String)> {
    events(client)
        .await
        .into_iter()
        .filter(|e| e["regarding"]["name"] == name)
        .map(|e| {
            let s = |k: &str| e[k].as_str().unwrap_or_default().to_string();
            (s("reason"), s("note"), s("reportingController"))
        })
        .collect()
}
