//! kube-rs against the sandbox: the calls a scheduler makes, with the real semantics.
//!
//! Every check that uses only the Kubernetes API (the bodies in `mod checks`) runs twice: against
//! the sandbox (one `#[tokio::test]` each, below) and against the real kube-apiserver v1.37.2
//! (`kube_apiserver_answers_the_same`, one control plane shared by all of them, each in its own
//! namespace). A check that fails only on the real server is a fidelity difference of the sandbox.
//! Tests that need the sandbox's own API (faults, the request log, seeding, its clock) run on the
//! sandbox only, each saying why.

use std::collections::BTreeMap;
use std::time::Duration;

use controlplane::{ControlPlane, ControlPlaneError, Options};
use futures::{FutureExt, StreamExt, TryStreamExt};
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
use serde_json::{Value, json};

/// Runs a test body with a time limit, so a hang fails fast instead of stalling CI.
async fn bounded(body: impl std::future::Future<Output = ()>) {
    tokio::time::timeout(std::time::Duration::from_secs(60), body)
        .await
        .expect("test finished within 60 s");
}

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

/// The API server a check runs against.
enum Backend<'a> {
    Sandbox(&'a Sandbox),
    /// kube-apiserver v1.37.2 with kube-controller-manager (for PDB status), shared by all
    /// checks; each check has its own namespace, and labels the cluster-scoped objects it makes.
    Real(&'a ControlPlane),
}

/// One check's view of its backend: clients whose default namespace is the check's own.
struct Target<'a> {
    backend: Backend<'a>,
    config: kube::Config,
    /// The check's namespace (`default` on the sandbox, which every check has to itself).
    ns: String,
}

impl<'a> Target<'a> {
    fn sandbox(sb: &'a Sandbox) -> Target<'a> {
        Target {
            backend: Backend::Sandbox(sb),
            config: sb.config(),
            ns: "default".into(),
        }
    }

    /// The check `name` on the real API server: a namespace named after it.
    async fn real(cp: &'a ControlPlane, name: &str) -> Target<'a> {
        let ns: String = name.replace('_', "-").chars().take(63).collect();
        let mut config = cp.config("admin").await.expect("admin kubeconfig");
        config.default_namespace = ns.clone();
        let admin = kube::Client::try_from(config.clone()).expect("client");
        controlplane::ensure_namespace(&admin, &ns)
            .await
            .expect("the check's namespace");
        Target {
            backend: Backend::Real(cp),
            config,
            ns,
        }
    }

    fn client(&self) -> kube::Client {
        kube::Client::try_from(self.config.clone()).expect("client")
    }

    /// A client that does not retry 429/503/504 (kube 5 retries them by default).
    fn no_retry(&self) -> kube::Client {
        let mut config = self.config.clone();
        config.default_retry = false;
        kube::Client::try_from(config).expect("client")
    }

    fn is_real(&self) -> bool {
        matches!(self.backend, Backend::Real(_))
    }

    /// A name for a cluster-scoped object of this check, unique on the shared control plane.
    fn cluster_name(&self, name: &str) -> String {
        format!("{}-{name}", self.ns)
    }

    /// The label (`check=<namespace>`) on the cluster-scoped objects of this check, and the
    /// selector that lists only them.
    fn label(&self) -> (String, String) {
        ("check".into(), self.ns.clone())
    }

    fn selector(&self) -> String {
        format!("check={}", self.ns)
    }

    /// A bearer token that TokenReviews authenticate as ServiceAccount `namespace/name`.
    async fn service_account_token(&self, namespace: &str, name: &str) -> String {
        match self.backend {
            Backend::Sandbox(sb) => {
                let token = format!("{namespace}-{name}-token");
                sb.add_token(&token, sandbox::TokenUser::service_account(namespace, name));
                token
            }
            Backend::Real(cp) => cp
                .service_account_token(namespace, name)
                .await
                .expect("a service account token"),
        }
    }
}

/// Defines the sandbox test `$name`: `checks::$name` against a fresh sandbox started with
/// `$opts`, then `$after`, assertions about what only the sandbox shows, with the sandbox as `$sb`.
macro_rules! on_sandbox {
    ($name:ident) => {
        on_sandbox!($name, SandboxOptions::default(), |_sb| {});
    };
    ($name:ident, $opts:expr) => {
        on_sandbox!($name, $opts, |_sb| {});
    };
    ($name:ident, $opts:expr, |$sb:ident| $after:block) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $name() {
            bounded(async {
                let sb = start_with($opts).await;
                checks::$name(&Target::sandbox(&sb)).await;
                let $sb = &sb;
                $after
            })
            .await;
        }
    };
}

on_sandbox!(binding_sets_node_and_conflicts_when_bound);
on_sandbox!(stale_update_conflicts_and_lease_cas);
on_sandbox!(strategic_merge_of_conditions_keeps_the_others);
on_sandbox!(
    eviction_respects_disruption_budgets,
    SandboxOptions {
        time_scale: 1000.0,
        ..Default::default()
    }
);
on_sandbox!(
    delete_preconditions_and_graceful_deletion,
    SandboxOptions {
        time_scale: 100.0,
        ..Default::default()
    },
    |sb| {
        // The check leaves pod `p` terminating. The sandbox removes it once its grace period has
        // passed on the sandbox clock (30 s at time scale 100 = 0.3 s), as a kubelet would;
        // kube-apiserver alone never does.
        let started = std::time::Instant::now();
        eventually("graceful deletion", || {
            sb.get("pods", "default", "p").is_none()
        })
        .await;
        assert!(started.elapsed() < Duration::from_secs(2));
    }
);
on_sandbox!(selectors_on_list_and_watch);
on_sandbox!(watch_timeout_and_pagination);
on_sandbox!(validation_rejects_and_stores_nothing);
on_sandbox!(events_are_visible_through_both_groups);
on_sandbox!(
    streaming_list_watcher_gets_initial_events_end,
    SandboxOptions::default(),
    |sb| {
        // The request log shows what the client sent.
        assert!(
            !sb.requests()
                .iter()
                .any(|r| r.verb == "list" && r.resource == "nodes"),
            "no LIST with streaming lists"
        );
    }
);
on_sandbox!(a_gated_pod_is_created_with_podscheduled_false_schedulinggated);
on_sandbox!(
    token_and_subject_access_reviews,
    SandboxOptions::default(),
    |sb| {
        // Reviews are only created: nothing stored, and the request log names their groups.
        assert!(sb.list("tokenreviews").is_empty());
        let logged = sb.requests();
        assert!(logged.iter().any(|r| r.api_group == "authentication.k8s.io"
            && r.resource == "tokenreviews"
            && r.verb == "create"));
        assert!(logged.iter().any(|r| r.api_group == "authorization.k8s.io"
            && r.resource == "subjectaccessreviews"
            && r.verb == "create"));
    }
);

/// The checks of `mod checks`, run against kube-apiserver v1.37.2. Each runs in its own
/// namespace of one control plane, all at once; every failing check is named at the end.
/// Without the control plane binaries this is skipped with a message, unless `CI` is set.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kube_apiserver_answers_the_same() {
    let cp = match ControlPlane::start(Options {
        controller_manager: true,
    })
    .await
    {
        Ok(cp) => cp,
        Err(ControlPlaneError::Unavailable(why)) if !controlplane::required() => {
            eprintln!("SKIPPED kube_apiserver_answers_the_same: {why}");
            return;
        }
        Err(e) => panic!("the control plane starts: {e}"),
    };
    let cp = &cp;
    macro_rules! real {
        ($($name:ident),+ $(,)?) => {
            vec![$((
                stringify!($name),
                async move {
                    let t = Target::real(cp, stringify!($name)).await;
                    checks::$name(&t).await;
                }
                .boxed(),
            )),+]
        };
    }
    let all = real![
        binding_sets_node_and_conflicts_when_bound,
        stale_update_conflicts_and_lease_cas,
        strategic_merge_of_conditions_keeps_the_others,
        eviction_respects_disruption_budgets,
        delete_preconditions_and_graceful_deletion,
        selectors_on_list_and_watch,
        watch_timeout_and_pagination,
        validation_rejects_and_stores_nothing,
        events_are_visible_through_both_groups,
        streaming_list_watcher_gets_initial_events_end,
        a_gated_pod_is_created_with_podscheduled_false_schedulinggated,
        token_and_subject_access_reviews,
    ];
    let total = all.len();
    let results = futures::future::join_all(all.into_iter().map(|(name, body)| async move {
        let outcome = tokio::time::timeout(
            Duration::from_secs(90),
            std::panic::AssertUnwindSafe(body).catch_unwind(),
        )
        .await;
        // A panic has printed its message; a hang prints nothing else.
        if outcome.is_err() {
            eprintln!("{name} did not finish within 90 s");
        }
        (name, matches!(outcome, Ok(Ok(()))))
    }))
    .await;
    let failed: Vec<&str> = results
        .iter()
        .filter(|(_, ok)| !ok)
        .map(|(name, _)| *name)
        .collect();
    eprintln!(
        "{} of {total} checks answer as kube-apiserver v1.37.2 does",
        total - failed.len()
    );
    assert!(
        failed.is_empty(),
        "checks that fail against kube-apiserver v1.37.2 (logs in {}): {failed:?}",
        cp.dir().display()
    );
}

fn pod_json(name: &str, labels: Value) -> Value {
    // No namespace: the server takes the URL's, which is the check's own.
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "labels": labels},
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

/// The checks that use only the Kubernetes API, so run against both backends.
mod checks {
    use super::*;

    pub async fn binding_sets_node_and_conflicts_when_bound(t: &Target<'_>) {
        let pods: Api<Pod> = Api::default_namespaced(t.client());
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
        let p = pods.get("p").await.unwrap();
        assert_eq!(p.spec.unwrap().node_name.as_deref(), Some("n1"));
        let r = pods
            .create_subresource::<_, Status>(
                "binding",
                "nope",
                &PostParams::default(),
                &binding("nope", "n1"),
            )
            .await;
        assert_eq!(api_code(r).0, 404);
    }

    pub async fn stale_update_conflicts_and_lease_cas(t: &Target<'_>) {
        let pods: Api<Pod> = Api::default_namespaced(t.client());
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
        let labels = pods.get("p").await.unwrap().metadata.labels.unwrap();
        assert!(labels.contains_key("a") && !labels.contains_key("b"));

        let leases: Api<Lease> = Api::default_namespaced(t.client());
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
    }

    pub async fn strategic_merge_of_conditions_keeps_the_others(t: &Target<'_>) {
        let pods: Api<Pod> = Api::default_namespaced(t.client());
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
        // A condition the patch adds comes before those it does not name, as kube-apiserver's
        // strategic merge orders them.
        assert_eq!(types, vec!["PodScheduled", "Ready", "ContainersReady"]);
        assert_eq!(p.status.unwrap().nominated_node_name.as_deref(), Some("n1"));
        // A JSON merge patch replaces the list, as on a real server.
        let p = pods
            .patch_status(
                "p",
                &pp,
                &Patch::Merge(
                    json!({"status": {"conditions": [{"type": "Ready", "status": "True"}]}}),
                ),
            )
            .await
            .unwrap();
        assert_eq!(p.status.unwrap().conditions.unwrap().len(), 1);
        // Status patches do not touch the spec; main-resource patches do not touch the status.
        pods.patch_status(
            "p",
            &pp,
            &Patch::Merge(
                json!({"metadata": {"labels": {"z": "1"}}, "status": {"phase": "Running"}}),
            ),
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
        // Labels written through pods/status are kept, as kube-apiserver's pod status strategy does.
        assert!(labels.contains_key("y") && labels.contains_key("z"));
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
    }

    pub async fn selectors_on_list_and_watch(t: &Target<'_>) {
        let pods: Api<Pod> = Api::default_namespaced(t.client());
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
                // kube-apiserver may send a bookmark at any time (2 s before the timeout, at
                // the latest); clients skip them.
                WatchEvent::Bookmark(_) => {}
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
        let mut next = async || loop {
            match unbound.try_next().await.unwrap().expect("an event") {
                WatchEvent::Bookmark(_) => {}
                other => return other,
            }
        };
        let mut initial = Vec::new();
        for _ in 0..2 {
            if let WatchEvent::Added(p) = next().await {
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
        match next().await {
            WatchEvent::Deleted(p) => assert_eq!(p.metadata.name.as_deref(), Some("a")),
            other => panic!("expected DELETED a, got {other:?}"),
        }
    }

    pub async fn events_are_visible_through_both_groups(t: &Target<'_>) {
        let client = t.client();
        let ev2: Api<k8s_openapi::api::events::v1::Event> = Api::default_namespaced(client.clone());
        let e: k8s_openapi::api::events::v1::Event = serde_json::from_value(json!({
        "metadata": {"name": "p.1"}, "eventTime": "2026-01-01T00:00:00.000000Z",
        "regarding": {"kind": "Pod", "name": "p", "namespace": t.ns}, "note": "Successfully assigned default/p to n1",
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
    }

    pub async fn a_gated_pod_is_created_with_podscheduled_false_schedulinggated(t: &Target<'_>) {
        let pods: Api<Pod> = Api::default_namespaced(t.client());
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
    }

    /// Waits until the disruption controller has observed budget `name` and allows `allowed`
    /// disruptions. kube-apiserver evicts by the budget's status, which kube-controller-manager
    /// writes; the sandbox computes the budget at eviction time and writes no status.
    async fn budget_settles(
        t: &Target<'_>,
        pdbs: &Api<PodDisruptionBudget>,
        name: &str,
        allowed: i32,
    ) {
        if !t.is_real() {
            return;
        }
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let pdb = pdbs.get(name).await.unwrap();
            let status = pdb.status.unwrap_or_default();
            if status.observed_generation == pdb.metadata.generation
                && status.disruptions_allowed == allowed
            {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "budget {name} never allowed {allowed}: {status:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub async fn eviction_respects_disruption_budgets(t: &Target<'_>) {
        let pods: Api<Pod> = Api::default_namespaced(t.no_retry());
        running_ready(&pods, "a", json!({"app": "db"})).await;
        running_ready(&pods, "b", json!({"app": "db"})).await;
        running_ready(&pods, "other", json!({"app": "web"})).await;
        let pdbs: Api<PodDisruptionBudget> = Api::default_namespaced(t.client());
        let pdb: PodDisruptionBudget = serde_json::from_value(json!({"metadata": {"name": "db"},
            "spec": {"minAvailable": 2, "selector": {"matchLabels": {"app": "db"}}}}))
        .unwrap();
        pdbs.create(&PostParams::default(), &pdb).await.unwrap();
        budget_settles(t, &pdbs, "db", 0).await;
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
            pods.get("a")
                .await
                .unwrap()
                .metadata
                .deletion_timestamp
                .is_none()
        );
        // A pod no budget covers is evicted: deleted gracefully (a kubelet then removes it).
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
        let other = pods.get_opt("other").await.unwrap();
        assert!(
            other.is_none_or(|p| p.metadata.deletion_timestamp.is_some()),
            "the evicted pod is terminating or gone"
        );
        // Relaxing the budget lets one eviction through, then the budget is exhausted again.
        pdbs.patch(
            "db",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"minAvailable": 1}})),
        )
        .await
        .unwrap();
        budget_settles(t, &pdbs, "db", 1).await;
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
            pods.get_opt("a").await.unwrap().is_none(),
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
        assert!(
            pods.get("b")
                .await
                .unwrap()
                .metadata
                .deletion_timestamp
                .is_none()
        );
    }

    /// Leaves pod `p` terminating (the sandbox test then waits for its removal).
    pub async fn delete_preconditions_and_graceful_deletion(t: &Target<'_>) {
        let pods: Api<Pod> = Api::default_namespaced(t.client());
        running_ready(&pods, "p", json!({})).await;
        let dp = DeleteParams::default().preconditions(Preconditions {
            uid: Some("wrong".into()),
            resource_version: None,
        });
        let (code, reason) = api_code(pods.delete("p", &dp).await);
        assert_eq!((code, reason.as_str()), (409, "Conflict"));
        assert!(
            pods.get("p")
                .await
                .unwrap()
                .metadata
                .deletion_timestamp
                .is_none()
        );
        let dp = DeleteParams::default().preconditions(Preconditions {
            uid: None,
            resource_version: Some("1".into()),
        });
        assert_eq!(api_code(pods.delete("p", &dp).await).0, 409);

        // A bound pod is deleted gracefully: 30 s by default.
        let uid = pods.get("p").await.unwrap().metadata.uid;
        let dp = DeleteParams::default().preconditions(Preconditions {
            uid,
            resource_version: None,
        });
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

        // An unbound pod goes at once; an explicit grace period of 0 too.
        pods.create(&PostParams::default(), &pod("q"))
            .await
            .unwrap();
        pods.delete("q", &DeleteParams::default()).await.unwrap();
        assert!(pods.get_opt("q").await.unwrap().is_none());
        assert_eq!(
            api_code(pods.delete("q", &DeleteParams::default()).await).0,
            404
        );
    }

    pub async fn watch_timeout_and_pagination(t: &Target<'_>) {
        let nodes: Api<Node> = Api::all(t.client());
        let (key, value) = t.label();
        for i in 0..10 {
            let node: Node = serde_json::from_value(json!({"metadata": {
                "name": t.cluster_name(&format!("n{i}")), "labels": {key.as_str(): value}}}))
            .unwrap();
            nodes.create(&PostParams::default(), &node).await.unwrap();
        }
        let mine = || ListParams::default().labels(&t.selector());
        // timeoutSeconds ends the stream.
        let rv = nodes
            .list(&mine())
            .await
            .unwrap()
            .metadata
            .resource_version
            .unwrap();
        let started = std::time::Instant::now();
        let mut s = nodes
            .watch(
                &WatchParams::default()
                    .labels(&t.selector())
                    .timeout(1)
                    .disable_bookmarks(),
                &rv,
            )
            .await
            .unwrap()
            .boxed();
        assert!(s.try_next().await.unwrap().is_none());
        assert!(started.elapsed() < Duration::from_secs(3));
        // limit/continue paginate one consistent list.
        let page1 = nodes.list(&mine().limit(4)).await.unwrap();
        assert_eq!(page1.items.len(), 4);
        let token = page1.metadata.continue_.clone().expect("continue token");
        nodes
            .delete(&t.cluster_name("n9"), &DeleteParams::default())
            .await
            .unwrap();
        let page2 = nodes
            .list(&mine().limit(4).continue_token(&token))
            .await
            .unwrap();
        let page3 = nodes
            .list(
                &mine()
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
    }

    pub async fn streaming_list_watcher_gets_initial_events_end(t: &Target<'_>) {
        let nodes: Api<Node> = Api::all(t.client());
        let (key, value) = t.label();
        let node = |n: &str| -> Node {
            serde_json::from_value(json!({"metadata": {
                "name": t.cluster_name(n), "labels": {key.as_str(): value.as_str()}}}))
            .unwrap()
        };
        for n in ["a", "b"] {
            nodes
                .create(&PostParams::default(), &node(n))
                .await
                .unwrap();
        }
        let (reader, writer) = reflector::store::<Node>();
        let config = watcher::Config::default()
            .labels(&t.selector())
            .streaming_lists();
        let stream = reflector(writer, watcher(nodes.clone(), config))
            .default_backoff()
            .applied_objects();
        let task = tokio::spawn(stream.for_each(|_| async {}));
        reader.wait_until_ready().await.unwrap();
        // Once in this check's runs, kube-apiserver v1.37.2 under load ended the initial events
        // before the second node, which came just after: wait rather than count at once.
        eventually("the initial nodes", || reader.len() == 2).await;
        nodes
            .create(&PostParams::default(), &node("c"))
            .await
            .unwrap();
        eventually("the new node", || reader.len() == 3).await;
        task.abort();
    }

    pub async fn validation_rejects_and_stores_nothing(t: &Target<'_>) {
        let pods: Api<Pod> = Api::default_namespaced(t.client());
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
        // A quantity that does not parse fails the decoding of the body: 400, before any
        // validation, as kube-apiserver answers.
        let s = match r {
            Err(kube::Error::Api(s)) => s,
            other => panic!("expected 400, got {other:?}"),
        };
        assert_eq!((s.code, s.reason.as_str()), (400, "BadRequest"), "{s:?}");
        assert_eq!(
            s.message,
            "Pod in version \"v1\" cannot be handled as a Pod: quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
        );
        assert!(pods.get_opt("bad").await.unwrap().is_none());
        // A negative one parses, and validation names every field it rejects: 422.
        let mut negative = pod_json("negative", json!({}));
        negative["spec"]["containers"][0]["resources"]["requests"]["cpu"] = json!("-1");
        negative["spec"]["initContainers"] =
            json!([{"name": "i", "image": "x", "resources": {"limits": {"memory": "-1Ki"}}}]);
        let r = pods
            .create(
                &PostParams::default(),
                &serde_json::from_value(negative).unwrap(),
            )
            .await;
        let s = match r {
            Err(kube::Error::Api(s)) => s,
            other => panic!("expected 422, got {other:?}"),
        };
        assert_eq!((s.code, s.reason.as_str()), (422, "Invalid"), "{s:?}");
        let fields: Vec<String> = s
            .details
            .unwrap()
            .causes
            .into_iter()
            .map(|c| c.field)
            .collect();
        assert_eq!(
            fields,
            // The init container's request is defaulted from its limit, and rejected too.
            [
                "spec.containers[0].resources.requests[cpu]",
                "spec.initContainers[0].resources.limits[memory]",
                "spec.initContainers[0].resources.requests[memory]"
            ],
            "{}",
            s.message
        );
        assert!(pods.get_opt("negative").await.unwrap().is_none());

        let client = t.no_retry();
        let raw = |method: &str, path: &str, body: &str| {
            http::Request::builder()
                .method(method)
                .uri(path)
                .header("content-type", "application/json")
                .body(body.as_bytes().to_vec())
                .unwrap()
        };
        let code = |r: Result<Value, kube::Error>| api_code(r);
        let pods_url = format!("/api/v1/namespaces/{}/pods", t.ns);
        assert_eq!(
            code(client.request(raw("POST", &pods_url, "{not json")).await).0,
            400
        );
        let no_name = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {}, "spec": {"containers": [{"name": "c"}]}}).to_string();
        assert_eq!(
            code(client.request(raw("POST", &pods_url, &no_name)).await),
            (422, "Invalid".into())
        );
        let node =
            json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": t.cluster_name("x")}})
                .to_string();
        assert_eq!(
            code(client.request(raw("POST", &pods_url, &node)).await).0,
            400
        );
        let apps =
            json!({"apiVersion": "apps/v1", "kind": "Pod", "metadata": {"name": "x"}}).to_string();
        assert_eq!(
            code(client.request(raw("POST", &pods_url, &apps)).await).0,
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
                    .request(raw("POST", &pods_url, &elsewhere.to_string()))
                    .await
            )
            .0,
            400
        );
        assert_eq!(
            code(client.request(raw("PUT", &pods_url, "{}")).await),
            (405, "MethodNotAllowed".into())
        );
        assert_eq!(
            code(
                client
                    .request(raw(
                        "GET",
                        &format!("/api/v1/namespaces/{}/widgets", t.ns),
                        ""
                    ))
                    .await
            )
            .0,
            404
        );
        let x = t.cluster_name("x");
        let mut bad_patch = raw("PATCH", &format!("/api/v1/nodes/{x}"), "{}");
        bad_patch
            .headers_mut()
            .insert("content-type", "text/plain".parse().unwrap());
        assert_eq!(code(client.request(bad_patch).await).0, 415);
        assert!(
            pods.list(&ListParams::default())
                .await
                .unwrap()
                .items
                .is_empty()
        );
        assert!(
            Api::<Node>::all(t.client())
                .get_opt(&x)
                .await
                .unwrap()
                .is_none()
        );

        // Hostile input gets error answers, never a crash.
        pods.create(&PostParams::default(), &pod("victim"))
            .await
            .unwrap();
        let victim = format!("{pods_url}/victim");
        let mut root = raw(
            "PATCH",
            &victim,
            r#"[{"op":"replace","path":"","value":5}]"#,
        );
        root.headers_mut().insert(
            "content-type",
            "application/json-patch+json".parse().unwrap(),
        );
        // The patched document is no object: kube-apiserver cannot decode it (422).
        assert_eq!(code(client.request(root).await), (422, "Invalid".into()));
        let mut scalar = raw("PATCH", &victim, "7");
        scalar.headers_mut().insert(
            "content-type",
            "application/merge-patch+json".parse().unwrap(),
        );
        assert_eq!(code(client.request(scalar).await).0, 400);
        let watch_forever = client
            .request_stream(raw(
                "GET",
                &format!("{pods_url}?watch=1&timeoutSeconds=18446744073709551615"),
                "",
            ))
            .await;
        // timeoutSeconds is an int64: beyond it, 400 as kube-apiserver answers.
        assert!(
            matches!(watch_forever, Err(kube::Error::Api(ref s)) if s.code == 400),
            "{:?}",
            watch_forever.map(|_| "a stream")
        );
        let future_rv = client
            .request_text(raw(
                "GET",
                &format!("{pods_url}?watch=1&resourceVersion=999999999&timeoutSeconds=1"),
                "",
            ))
            .await;
        // A resourceVersion from the future is waited for: no events before the timeout.
        assert_eq!(future_rv.unwrap(), "");
        pods.create_subresource::<_, Status>(
            "binding",
            "victim",
            &PostParams::default(),
            &binding("victim", "n1"),
        )
        .await
        .unwrap();
        let forever = DeleteParams {
            grace_period_seconds: Some(u32::MAX),
            ..Default::default()
        };
        let terminating = pods
            .delete("victim", &forever)
            .await
            .unwrap()
            .left()
            .unwrap();
        assert_eq!(
            terminating.metadata.deletion_grace_period_seconds,
            Some(i64::from(u32::MAX))
        );
        // A path that does not unescape: Go's HTTP server answers 400.
        assert_eq!(
            code(
                client
                    .request(raw("GET", &format!("{victim}/%zz"), ""))
                    .await
            )
            .0,
            400
        );

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
    }

    pub async fn token_and_subject_access_reviews(t: &Target<'_>) {
        use k8s_openapi::api::authentication::v1::{TokenReview, TokenReviewSpec};
        use k8s_openapi::api::authorization::v1::{
            NonResourceAttributes, ResourceAttributes, SubjectAccessReview, SubjectAccessReviewSpec,
        };
        use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
        let token = t.service_account_token("monitoring", "prometheus").await;
        let reviews: Api<TokenReview> = Api::all(t.client());
        let review = |token: &str| TokenReview {
            spec: TokenReviewSpec {
                token: Some(token.into()),
                ..Default::default()
            },
            ..Default::default()
        };
        let known = reviews
            .create(&PostParams::default(), &review(&token))
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
        let pp = PostParams::default();
        let ns = t.ns.as_str();
        Api::<ClusterRole>::all(t.client())
            .create(
                &pp,
                &serde_json::from_value(json!({
                "metadata": {"name": "metrics-reader"},
                "rules": [{"nonResourceURLs": ["/metrics"], "verbs": ["get"]}]}))
                .unwrap(),
            )
            .await
            .unwrap();
        Api::<ClusterRoleBinding>::all(t.client())
            .create(&pp, &serde_json::from_value(json!({
                "metadata": {"name": "prometheus-metrics"},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "metrics-reader"},
                "subjects": [{"kind": "ServiceAccount", "name": "prometheus", "namespace": "monitoring"}]})).unwrap())
            .await
            .unwrap();
        Api::<Role>::default_namespaced(t.client())
            .create(
                &pp,
                &serde_json::from_value(json!({
                "metadata": {"name": "pod-reader"},
                "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]}]}))
                .unwrap(),
            )
            .await
            .unwrap();
        Api::<RoleBinding>::default_namespaced(t.client())
            .create(&pp, &serde_json::from_value(json!({
                "metadata": {"name": "ops-pods"},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "pod-reader"},
                "subjects": [{"kind": "Group", "name": "ops"}]})).unwrap())
            .await
            .unwrap();
        let sars: Api<SubjectAccessReview> = Api::all(t.client());
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
            !ask(
                "system:anonymous",
                &["system:unauthenticated"],
                Some("/metrics"),
                ""
            )
            .await
            .allowed
        );
        assert!(
            ask("system:admin", &["system:masters"], Some("/x"), "")
                .await
                .allowed
        );
        // The Role grants in its namespace only, and no URL.
        assert!(ask("carol", &["ops"], None, ns).await.allowed);
        assert!(!ask("carol", &["ops"], None, "jhub").await.allowed);
        assert!(!ask("carol", &["ops"], Some("/metrics"), "").await.allowed);

        // Neither user nor group, or no attributes: 422 as the real server.
        let (code, reason) = api_code(
            sars.create(&PostParams::default(), &SubjectAccessReview::default())
                .await,
        );
        assert_eq!((code, reason.as_str()), (422, "Invalid"));
        // Reviews are only created: nothing to list.
        let (code, _) = api_code(reviews.list(&ListParams::default()).await);
        assert_eq!(code, 405);
    }
}

// Sandbox-only tests: they drive the sandbox's own API.

/// Sandbox only: forces a compaction and dropped watches (`sb.faults()`), which a client of
/// kube-apiserver cannot, and counts LISTs in the request log.
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

/// Sandbox only: injected faults and the request log are the sandbox's own API.
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

/// Sandbox only: seeding and reading the store are the sandbox's own API.
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

/// Sandbox only: bookmarks every 100 ms and a window of 5 events are sandbox options. The real
/// server sends bookmarks about once a minute and answers 410 only for a resourceVersion etcd
/// has compacted (every 5 minutes), neither of which a test can bring about quickly.
#[tokio::test]
async fn bookmarks_and_expired_watches() {
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
    })
    .await;
}

/// Sandbox only: continue tokens are the server's own format; this one is the sandbox's
/// (`sbx-<rv>-<offset>`) with offsets no list has.
#[tokio::test]
async fn continue_tokens_out_of_range_expire() {
    bounded(async {
        let sb = start().await;
        let req = http::Request::get(
            "/api/v1/pods?limit=18446744073709551615&continue=sbx-1-18446744073709551615",
        )
        .body(Vec::new())
        .unwrap();
        let huge = no_retry(&sb).request::<Value>(req).await;
        assert!(
            matches!(huge, Err(kube::Error::Api(ref s)) if s.code == 410),
            "{huge:?}"
        );
    })
    .await;
}
