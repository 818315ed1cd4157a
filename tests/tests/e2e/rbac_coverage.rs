//! RBAC coverage: the daemon, configured with `deploy/config.yaml` (leader
//! election on), schedules against the sandbox (a bind, users whose home
//! directories are provisioned or bound to a static volume first, a
//! preemption, a pod that fits nowhere and is reported twice, the Lease
//! taken, renewed and released, `/metrics` scraped with a token, which the
//! admin server checks with a TokenReview and a SubjectAccessReview);
//! every request it sends must be granted by `deploy/rbac.yaml`, and every
//! verb `deploy/rbac.yaml` grants must have been used. The same requests must
//! be granted by the z2jh chart's ClusterRole (committed copies in
//! `scheduler/tests/fixtures/`), so swapping the image into z2jh needs no RBAC
//! change.
//!
//! The test writes to the sandbox through `seed_objects` (straight into the
//! store, not over HTTP) except for two node patches, removed from the log by
//! an exact match, so every request left is the daemon's.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::support::*;
use k8s_openapi::api::core::v1::Node;
use k8s_openapi::api::rbac::v1::PolicyRule;
use kube::Api;
use kube::api::{Patch, PatchParams};
use sandbox::RequestRecord;
use serde_json::{Value, json};
use user_scheduler::config;
use user_scheduler::daemon::auth::Access;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn yaml_docs(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_yaml_ng::Deserializer::from_str(&text)
        .map(|doc| {
            let v: serde_yaml_ng::Value = serde::Deserialize::deserialize(doc).unwrap();
            serde_json::to_value(v).unwrap()
        })
        .filter(|v| !v.is_null())
        .collect()
}

/// A set of rules and where they apply: everywhere (ClusterRole) or in one
/// namespace (Role).
struct Grant {
    what: String,
    namespace: Option<String>,
    rules: Vec<PolicyRule>,
}

fn rules_of(doc: &Value) -> Vec<PolicyRule> {
    serde_json::from_value(doc["rules"].clone()).expect("rules")
}

/// deploy/'s roles, with the Role in the kustomization's namespace.
fn deploy_grants() -> Vec<Grant> {
    let namespace = yaml_docs(&root().join("deploy/kustomization.yaml"))[0]["namespace"]
        .as_str()
        .unwrap()
        .to_string();
    yaml_docs(&root().join("deploy/rbac.yaml"))
        .into_iter()
        .filter_map(|doc| match doc["kind"].as_str() {
            Some("ClusterRole") => Some(Grant {
                what: format!("ClusterRole {}", doc["metadata"]["name"]),
                namespace: None,
                rules: rules_of(&doc),
            }),
            Some("Role") => Some(Grant {
                what: format!("Role {}", doc["metadata"]["name"]),
                namespace: Some(namespace.clone()),
                rules: rules_of(&doc),
            }),
            _ => None,
        })
        .collect()
}

fn z2jh_grant(file: &str) -> Grant {
    let doc = &yaml_docs(&root().join("scheduler/tests/fixtures").join(file))[0];
    assert_eq!(doc["kind"], "ClusterRole");
    Grant {
        what: format!("z2jh {file}"),
        namespace: None,
        rules: rules_of(doc),
    }
}

/// The RBAC name of a request's resource: `pods` or `pods/binding`.
fn resource(r: &RequestRecord) -> String {
    match &r.subresource {
        Some(s) => format!("{}/{s}", r.resource),
        None => r.resource.clone(),
    }
}

fn has(list: &[String], item: &str) -> bool {
    list.iter().any(|x| x == item || x == "*")
}

/// Whether a rule allows a request, as the RBAC authorizer decides: group,
/// resource (with subresource) and verb match, and a rule with resourceNames
/// only allows requests naming one of them (a create or a list names none).
fn allows(rule: &PolicyRule, r: &RequestRecord) -> bool {
    let groups = rule.api_groups.clone().unwrap_or_default();
    let resources = rule.resources.clone().unwrap_or_default();
    let names = rule.resource_names.clone().unwrap_or_default();
    has(&groups, &r.api_group)
        && has(&resources, &resource(r))
        && has(&rule.verbs, &r.verb)
        && (names.is_empty() || r.name.as_ref().is_some_and(|n| names.contains(n)))
}

fn granted(grants: &[Grant], r: &RequestRecord) -> bool {
    grants.iter().any(|g| {
        g.namespace
            .as_ref()
            .is_none_or(|ns| r.namespace.as_ref() == Some(ns))
            && g.rules.iter().any(|rule| allows(rule, r))
    })
}

/// Discovery and version URLs every authenticated client may read (the
/// built-in system:discovery / system:public-info-viewer ClusterRoles), so no
/// role of ours needs them.
fn public_non_resource(r: &RequestRecord) -> bool {
    r.resource.is_empty()
        && r.verb == "get"
        && (r.path == "/version"
            || r.path == "/api"
            || r.path == "/apis"
            || r.path.starts_with("/api/")
            || r.path.starts_with("/apis/")
            || r.path.starts_with("/openapi/"))
}

/// (verb, group, resource[/subresource], namespace, lease name) of one request.
type Call = (String, String, String, Option<String>, Option<String>);

/// Drives the daemon through everything it does today and returns its requests.
async fn daemon_requests() -> Vec<RequestRecord> {
    let sandbox = sandbox().await;
    let text = std::fs::read_to_string(root().join("deploy/config.yaml")).unwrap();
    let cfg = config::parse(&text, "deploy/config.yaml").expect("deploy/config.yaml loads");
    assert!(cfg.leader_election.leader_elect);
    assert_eq!(
        cfg.leader_election.resource_namespace, NS,
        "the sandbox's namespace is the kustomization's"
    );
    sandbox
        .seed_objects([core_node("core-1"), user_node("user-1", "4", "8Gi")])
        .unwrap();
    // The admin server as `run` serves it: delegated authentication and
    // authorization (plain HTTP here; TLS changes nothing the API server sees).
    grant_metrics_to_prometheus(&sandbox);
    let (daemon, admin) = start_daemon_with_admin(&sandbox, Access::default(), |mut o| {
        o.config = cfg;
        o.leader_elect = true;
        o
    })
    .await;
    // Prometheus scrapes: the daemon reviews the token and the access.
    let (status, body) = admin_get(admin, "/metrics", Some(PROMETHEUS_TOKEN)).await;
    assert_eq!(status, 200, "{body}");
    // A pod that fits: bound (pods/binding) with a Scheduled event.
    sandbox
        .seed_objects([pending_pod("fits", "singleuser-server", "1Gi")])
        .unwrap();
    eventually(Duration::from_secs(30), "fits bound", || async {
        node_of(&sandbox, "fits")
    })
    .await;
    // Home directories: a claim to provision (PreBind patches its
    // selected-node annotation) and a claim for a static volume (PreBind
    // reads the claim and updates the volume's claimRef). The provisioner
    // stand-in provisions and binds them (its writes are not requests).
    let _provisioner = sandbox.start_provisioner(sandbox::controllers::ProvisionerOptions {
        delay: Duration::from_millis(100),
        ..Default::default()
    });
    sandbox
        .seed_objects([
            wffc_class("standard-rwo"),
            local_class("local"),
            static_volume("pv-local", "local", "user-1"),
            claim("claim-dynamic", "standard-rwo"),
            claim("claim-static", "local"),
            with_claim(
                pending_pod("home-dynamic", "singleuser-server", "100Mi"),
                "claim-dynamic",
            ),
            with_claim(
                pending_pod("home-static", "singleuser-server", "100Mi"),
                "claim-static",
            ),
        ])
        .unwrap();
    for pod in ["home-dynamic", "home-static"] {
        eventually(Duration::from_secs(30), pod, || async {
            node_of(&sandbox, pod)
        })
        .await;
    }
    // A user that fits only once a placeholder goes: preemption marks the
    // victim (pods/status), deletes it (pods delete), and nominates the user
    // (pods/status), with a Preempted event; then the user binds.
    let mut placeholder = bound_pod("ph", "user-placeholder", "6Gi", "user-1");
    placeholder["spec"]["terminationGracePeriodSeconds"] = json!(0);
    sandbox.seed_objects([placeholder]).unwrap();
    sandbox
        .seed_objects([pending_pod("needs-room", "singleuser-server", "4Gi")])
        .unwrap();
    eventually(Duration::from_secs(30), "needs-room bound", || async {
        node_of(&sandbox, "needs-room")
    })
    .await;
    // A pod that fits nowhere: PodScheduled=False (pods/status) and a
    // FailedScheduling event.
    sandbox
        .seed_objects([pending_pod("huge", "singleuser-server", "64Gi")])
        .unwrap();
    eventually(Duration::from_secs(30), "huge reported", || async {
        events_of(&sandbox, "huge")
            .iter()
            .any(|(r, _)| r == "FailedScheduling")
            .then_some(())
    })
    .await;
    // The daemon reports a pod again only when its message changes; an event
    // whose (reason, note) repeats within the series window is counted on the
    // existing event (a patch of its series), as kube's event recorder does.
    // Tainting the node changes huge's message, untainting brings the first
    // one back: that repeat is the patch. (A taint change retries huge: the
    // core node rejected it for a taint, and its queueing hints listen for
    // taint changes.) Both updates go over HTTP (the store has no seeding
    // update); they are the test's only requests and are taken out of the
    // log below by an exact match.
    let nodes: Api<Node> = Api::all(sandbox.client());
    let user_taint =
        json!({"key": "hub.jupyter.org/dedicated", "value": "user", "effect": "NoSchedule"});
    let maintenance = json!({"key": "maintenance", "effect": "NoSchedule"});
    for tainted in [true, false] {
        let before = events_of(&sandbox, "huge").len();
        let taints = if tainted {
            json!([user_taint, maintenance])
        } else {
            json!([user_taint])
        };
        nodes
            .patch(
                "user-1",
                &PatchParams::default(),
                &Patch::Merge(json!({"spec": {"taints": taints}})),
            )
            .await
            .expect("the node is patched");
        if tainted {
            eventually(
                Duration::from_secs(30),
                "huge reported as untolerated",
                || async { (events_of(&sandbox, "huge").len() > before).then_some(()) },
            )
            .await;
        }
    }
    eventually(
        Duration::from_secs(30),
        "the event series patched",
        || async {
            sandbox
                .list("events")
                .iter()
                .any(|e| {
                    // The store keeps events in core/v1 form (involvedObject).
                    (e["regarding"]["name"] == "huge" || e["involvedObject"]["name"] == "huge")
                        && e["series"]["count"].as_i64() >= Some(2)
                })
                .then_some(())
        },
    )
    .await;
    // The Lease is renewed every retryPeriod (2 s); wait for one renewal.
    eventually(Duration::from_secs(10), "a lease renewal", || async {
        sandbox
            .requests()
            .iter()
            .any(|r| r.resource == "leases" && r.verb == "update")
            .then_some(())
    })
    .await;
    daemon.stop().await.expect("the daemon stops cleanly");
    let mut requests = sandbox.requests();
    let before = requests.len();
    requests.retain(|r| {
        !(r.verb == "patch" && r.resource == "nodes" && r.name.as_deref() == Some("user-1"))
    });
    assert_eq!(before - requests.len(), 2, "the test's two node patches");
    requests
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deploy_grants_exactly_what_the_daemon_calls_and_z2jh_grants_all_of_it() {
    let requests = daemon_requests().await;
    let calls: BTreeSet<Call> = requests
        .iter()
        .filter(|r| !public_non_resource(r))
        .map(|r| {
            (
                r.verb.clone(),
                r.api_group.clone(),
                resource(r),
                r.namespace.clone(),
                r.name.clone().filter(|_| r.resource == "leases"),
            )
        })
        .collect();
    eprintln!("the daemon's calls: {calls:#?}");
    let calls_of = |pred: &dyn Fn(&RequestRecord) -> bool| requests.iter().any(pred);
    // The scenario did what it is meant to (else the coverage proves little).
    for (what, seen) in [
        (
            "bind",
            calls_of(&|r| r.subresource.as_deref() == Some("binding")),
        ),
        (
            "status patch",
            calls_of(&|r| r.subresource.as_deref() == Some("status") && r.verb == "patch"),
        ),
        (
            "event create",
            calls_of(&|r| r.resource == "events" && r.verb == "create"),
        ),
        (
            "event patch",
            calls_of(&|r| r.resource == "events" && r.verb == "patch"),
        ),
        (
            "claim patch",
            calls_of(&|r| r.resource == "persistentvolumeclaims" && r.verb == "patch"),
        ),
        (
            "volume update",
            calls_of(&|r| r.resource == "persistentvolumes" && r.verb == "update"),
        ),
        (
            "lease create",
            calls_of(&|r| r.resource == "leases" && r.verb == "create"),
        ),
        (
            "lease update",
            calls_of(&|r| r.resource == "leases" && r.verb == "update"),
        ),
        (
            "token review",
            calls_of(&|r| r.resource == "tokenreviews" && r.verb == "create"),
        ),
        (
            "access review",
            calls_of(&|r| r.resource == "subjectaccessreviews" && r.verb == "create"),
        ),
    ] {
        assert!(seen, "the scenario made no {what}");
    }

    let non_resource: Vec<_> = requests
        .iter()
        .filter(|r| r.resource.is_empty() && !public_non_resource(r))
        .collect();
    assert!(
        non_resource.is_empty(),
        "non-resource requests: {non_resource:?}"
    );

    let grants = deploy_grants();
    let denied: Vec<_> = requests
        .iter()
        .filter(|r| !public_non_resource(r) && !granted(&grants, r))
        .map(|r| format!("{} {} {:?}", r.verb, r.path, r.name))
        .collect();
    assert!(
        denied.is_empty(),
        "deploy/rbac.yaml does not grant: {denied:#?}"
    );

    // Nothing granted that is never used: every (group, resource, verb) of
    // every rule was exercised by some request the rule allows.
    for g in &grants {
        for rule in &g.rules {
            for group in rule.api_groups.clone().unwrap_or_default() {
                for res in rule.resources.clone().unwrap_or_default() {
                    for verb in &rule.verbs {
                        let single = PolicyRule {
                            api_groups: Some(vec![group.clone()]),
                            resources: Some(vec![res.clone()]),
                            verbs: vec![verb.clone()],
                            resource_names: rule.resource_names.clone(),
                            ..PolicyRule::default()
                        };
                        assert!(
                            requests.iter().any(|r| allows(&single, r)),
                            "{}: grants {verb} {group:?} {res} but the daemon never used it",
                            g.what
                        );
                    }
                }
            }
        }
    }

    for file in ["z2jh-rbac.yaml", "z2jh-rbac-main.yaml"] {
        let z2jh = [z2jh_grant(file)];
        let denied: Vec<_> = requests
            .iter()
            .filter(|r| !public_non_resource(r) && !granted(&z2jh, r))
            .map(|r| format!("{} {} {:?}", r.verb, r.path, r.name))
            .collect();
        assert!(
            denied.is_empty(),
            "the z2jh ClusterRole ({file}) does not grant: {denied:#?}"
        );
    }
}
