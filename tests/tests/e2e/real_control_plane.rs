//! The daemon against the real Kubernetes control plane (kube-apiserver,
//! etcd, kube-scheduler v1.37 from `kube/build.sh`): binding, events,
//! status, leases and preemption under the RBAC the scheduler ships with
//! (`deploy/`) and under the z2jh chart's, and the lease handed over between
//! kube-scheduler and this daemon both ways.
//!
//! Each test starts its own control plane (their processes never mix). Every
//! test fails on a request the API server refused for a reason other than a
//! conflict or a pod gone meanwhile: a 403 is missing RBAC, a 400 or 422 is
//! something the sandbox let through that the real validation rejects.

use std::time::{Duration, Instant};

use crate::support::real::{
    apply_deploy_rbac, apply_z2jh_rbac, bound, create, create_all, events_of, node_of, plane,
    refused, scheduler_client, with_priority_class,
};
use crate::support::{
    Daemon, NS, claim, core_node, electing, eventually, local_class, pending_pod, start_daemon_on,
    static_volume, user_node, with_claim,
};
use controlplane::{Kubelet, Options};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Pod};
use kube::Api;
use user_scheduler::config::SchedulerConfig;
use user_scheduler::daemon::DaemonOptions;

/// The daemon's options for these tests: the built-in profile, electing on
/// `jhub/user-scheduler-lock` (what deploy/'s Role grants).
fn jupyterhub_electing(identity: &str) -> impl FnOnce(DaemonOptions) -> DaemonOptions {
    let identity = identity.to_string();
    move |mut opts| {
        opts.config = SchedulerConfig::jupyterhub(NS);
        electing(opts, &identity)
    }
}

/// `pending_pod` for the real API server (a PriorityClass instead of a number).
fn pod(name: &str, component: &str, memory: &str) -> serde_json::Value {
    with_priority_class(pending_pod(name, component, memory))
}

async fn stop(daemon: Daemon) {
    daemon.stop().await.expect("the daemon stops cleanly");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daemon_binds_packs_and_reports_under_deploys_rbac() {
    let Some(plane) = plane(Options::default()).await else {
        return;
    };
    apply_deploy_rbac(&plane).await;
    let admin = plane.admin().await.unwrap();
    let _kubelet = Kubelet::start(admin.clone());
    create_all(
        &plane,
        &[
            core_node("core-1"),
            user_node("user-1", "4", "16Gi"),
            user_node("user-2", "4", "16Gi"),
        ],
    )
    .await;
    let (client, log) = scheduler_client(&plane).await;
    let daemon = start_daemon_on(client, jupyterhub_electing("us"));

    // Three users arrive one after the other: they pack onto one node.
    let mut nodes = Vec::new();
    for name in ["alice", "bob", "carol"] {
        create(&admin, &pod(name, "singleuser-server", "1Gi")).await;
        nodes.push(bound(&admin, name, Duration::from_secs(30)).await);
    }
    assert!(nodes.iter().all(|n| *n == nodes[0]), "{nodes:?}");
    for name in ["alice", "bob", "carol"] {
        let events = eventually(Duration::from_secs(10), "a Scheduled event", || async {
            let e = events_of(&admin, name).await;
            e.iter()
                .any(|(reason, _, _)| reason == "Scheduled")
                .then_some(e)
        })
        .await;
        let (_, note, _) = events.iter().find(|(r, _, _)| r == "Scheduled").unwrap();
        assert_eq!(
            *note,
            format!("Successfully assigned {NS}/{name} to {}", nodes[0])
        );
    }

    // A user that fits nowhere: PodScheduled=False/Unschedulable with kube's
    // message, and a FailedScheduling event.
    create(&admin, &pod("huge", "singleuser-server", "64Gi")).await;
    let pods: Api<Pod> = Api::namespaced(admin.clone(), NS);
    let condition = eventually(Duration::from_secs(30), "PodScheduled=False", || async {
        let p = pods.get("huge").await.ok()?;
        p.status?
            .conditions?
            .into_iter()
            .find(|c| c.type_ == "PodScheduled" && c.status == "False")
    })
    .await;
    assert_eq!(condition.reason.as_deref(), Some("Unschedulable"));
    let message = condition.message.unwrap_or_default();
    assert!(
        message.starts_with("0/3 nodes are available: ")
            && message
                .contains("1 node(s) had untolerated taint {hub.jupyter.org/dedicated: core}")
            && message.contains("2 Insufficient memory"),
        "{message}"
    );
    eventually(
        Duration::from_secs(10),
        "a FailedScheduling event",
        || async {
            events_of(&admin, "huge")
                .await
                .iter()
                .any(|(reason, note, _)| reason == "FailedScheduling" && *note == message)
                .then_some(())
        },
    )
    .await;

    // It held the lease the whole time.
    let leases: Api<Lease> = Api::namespaced(admin.clone(), NS);
    let lease = leases.get("user-scheduler-lock").await.unwrap();
    assert_eq!(
        lease.spec.and_then(|s| s.holder_identity).as_deref(),
        Some("us")
    );
    stop(daemon).await;
    assert_eq!(refused(&log), Vec::<String>::new());
}

/// One 2 GiB user node, a kubelet stand-in, and the daemon (as the
/// scheduler's ServiceAccount, electing) that has bound four 512 MiB
/// placeholders there: the node is full.
async fn node_full_of_placeholders(
    plane: &controlplane::ControlPlane,
) -> (kube::Client, Kubelet, crate::support::CallLog, Daemon) {
    let admin = plane.admin().await.unwrap();
    let kubelet = Kubelet::start(admin.clone());
    create_all(plane, &[user_node("user-1", "4", "2Gi")]).await;
    let (client, log) = scheduler_client(plane).await;
    let daemon = start_daemon_on(client, jupyterhub_electing("us"));
    for i in 0..4 {
        let name = format!("user-placeholder-{i}");
        create(&admin, &pod(&name, "user-placeholder", "512Mi")).await;
        bound(&admin, &name, Duration::from_secs(30)).await;
    }
    (admin, kubelet, log, daemon)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn placeholders_are_preempted_for_a_user_under_deploys_rbac() {
    let Some(plane) = plane(Options::default()).await else {
        return;
    };
    apply_deploy_rbac(&plane).await;
    let (admin, _kubelet, log, daemon) = node_full_of_placeholders(&plane).await;
    // A user needs two of them gone.
    create(&admin, &pod("alice", "singleuser-server", "1Gi")).await;
    assert_eq!(
        bound(&admin, "alice", Duration::from_secs(60)).await,
        "user-1"
    );
    let mut left = 0;
    for i in 0..4 {
        if node_of(&admin, &format!("user-placeholder-{i}"))
            .await
            .is_some()
        {
            left += 1;
        }
    }
    assert_eq!(left, 2, "two placeholders were preempted");
    let preempted: usize = {
        let mut n = 0;
        for i in 0..4 {
            n += events_of(&admin, &format!("user-placeholder-{i}"))
                .await
                .iter()
                .filter(|(reason, _, _)| reason == "Preempted")
                .count();
        }
        n
    };
    assert_eq!(preempted, 2, "one Preempted event per victim");
    stop(daemon).await;
    assert_eq!(refused(&log), Vec::<String>::new());
}

/// The z2jh chart's config (from the fixtures) with short leader-election
/// timings, for kube-scheduler and for us alike.
fn z2jh_config() -> String {
    let text = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../scheduler/tests/fixtures/z2jh-config.yaml"),
    )
    .unwrap();
    let short = text.replacen(
        "leaderElection:\n",
        "leaderElection:\n  leaseDuration: 4s\n  renewDeadline: 3s\n  retryPeriod: 500ms\n",
        1,
    );
    assert_ne!(short, text);
    short
}

async fn lease_holder(admin: &kube::Client) -> Option<String> {
    let leases: Api<Lease> = Api::namespaced(admin.clone(), NS);
    leases
        .get_opt("user-scheduler-lock")
        .await
        .ok()
        .flatten()
        .and_then(|l| l.spec)
        .and_then(|s| s.holder_identity)
        .filter(|h| !h.is_empty())
}

/// A pod of the z2jh profile (`jhub-user-scheduler`).
fn z2jh_pod(name: &str) -> serde_json::Value {
    let mut p = pod(name, "singleuser-server", "256Mi");
    p["spec"]["schedulerName"] = serde_json::json!("jhub-user-scheduler");
    p
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kube_scheduler_and_user_scheduler_hand_the_lease_over_both_ways() {
    let Some(plane) = plane(Options::default()).await else {
        return;
    };
    // Both run as the chart's ServiceAccount with the chart's ClusterRole
    // (main branch: kube-scheduler v1.37 reads more kinds than the 4.x
    // rules grant).
    apply_z2jh_rbac(&plane, "z2jh-rbac-main.yaml").await;
    // kube-scheduler v1.37 also lists DeviceTaintRules and waits for that
    // list before it even runs for the lease; the chart's rules (copied from
    // v1.35's system:kube-scheduler) do not grant it yet. Ours never reads it.
    create_all(
        &plane,
        &[
            serde_json::json!({
                "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
                "metadata": {"name": "kube-scheduler-1.37-device-taint-rules"},
                "rules": [{"apiGroups": ["resource.k8s.io"], "resources": ["devicetaintrules"],
                           "verbs": ["list", "watch"]}]
            }),
            serde_json::json!({
                "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
                "metadata": {"name": "kube-scheduler-1.37-device-taint-rules"},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                            "name": "kube-scheduler-1.37-device-taint-rules"},
                "subjects": [{"kind": "ServiceAccount", "name": "user-scheduler", "namespace": NS}]
            }),
        ],
    )
    .await;
    let admin = plane.admin().await.unwrap();
    let _kubelet = Kubelet::start(admin.clone());
    create_all(
        &plane,
        &[
            user_node("user-1", "4", "16Gi"),
            user_node("user-2", "4", "16Gi"),
        ],
    )
    .await;
    let config_text = z2jh_config();
    let token = plane
        .service_account_token(NS, "user-scheduler")
        .await
        .unwrap();
    plane.write_kubeconfig("chart-sa", &token).unwrap();

    // 1. kube-scheduler leads; ours waits and binds nothing.
    let mut kube_scheduler = plane
        .start_kube_scheduler("first", Some("chart-sa"), &config_text, &["--v=2"])
        .unwrap();
    let kube_identity = eventually(
        Duration::from_secs(60),
        "kube-scheduler to lead",
        || async { lease_holder(&admin).await },
    )
    .await;
    let config = user_scheduler::config::parse(&config_text, "z2jh-config.yaml").unwrap();
    let (client, log) = scheduler_client(&plane).await;
    let ours = start_daemon_on(client, |mut opts| {
        opts.config = config.clone();
        opts.leader_elect = true;
        opts.identity = Some("user-scheduler-a".into());
        opts
    });
    create(&admin, &z2jh_pod("by-kube")).await;
    bound(&admin, "by-kube", Duration::from_secs(30)).await;
    assert!(
        log.bindings().is_empty(),
        "we bound while kube-scheduler led"
    );
    assert_eq!(lease_holder(&admin).await, Some(kube_identity.clone()));

    // 2. kube-scheduler dies (no release): ours takes over within the lease
    // duration (4 s) plus a retry, and binds.
    kube_scheduler.stop();
    let stopped = Instant::now();
    eventually(Duration::from_secs(20), "us to lead", || async {
        (lease_holder(&admin).await.as_deref() == Some("user-scheduler-a")).then_some(())
    })
    .await;
    assert!(
        stopped.elapsed() < Duration::from_secs(10),
        "{:?}",
        stopped.elapsed()
    );
    create(&admin, &z2jh_pod("by-us")).await;
    bound(&admin, "by-us", Duration::from_secs(30)).await;
    assert_eq!(
        log.bindings()
            .iter()
            .filter_map(|c| c.binding_pod().map(String::from))
            .collect::<Vec<_>>(),
        vec!["by-us".to_string()]
    );

    // 3. The other way: kube-scheduler waits while we lead, then takes over
    // once we stop (we release the lease on a clean stop).
    let _second = plane
        .start_kube_scheduler("second", Some("chart-sa"), &config_text, &["--v=2"])
        .unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        lease_holder(&admin).await.as_deref(),
        Some("user-scheduler-a")
    );
    ours.stop().await.expect("a clean stop");
    let next = eventually(
        Duration::from_secs(20),
        "kube-scheduler to lead again",
        || async {
            lease_holder(&admin)
                .await
                .filter(|h| h != "user-scheduler-a")
        },
    )
    .await;
    assert_ne!(next, "user-scheduler-a");
    create(&admin, &z2jh_pod("by-kube-again")).await;
    bound(&admin, "by-kube-again", Duration::from_secs(30)).await;
    assert_eq!(log.bindings().len(), 1, "we bound nothing after stopping");
    assert_eq!(refused(&log), Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daemon_works_under_the_z2jh_4x_rbac() {
    let Some(plane) = plane(Options::default()).await else {
        return;
    };
    apply_z2jh_rbac(&plane, "z2jh-rbac.yaml").await;
    // Placeholders, then a user that preempts two of them, then one that
    // fits nowhere: bind, events, status, delete, lease.
    let (admin, _kubelet, log, daemon) = node_full_of_placeholders(&plane).await;
    create(&admin, &pod("alice", "singleuser-server", "1Gi")).await;
    bound(&admin, "alice", Duration::from_secs(60)).await;
    create(&admin, &pod("huge", "singleuser-server", "64Gi")).await;
    eventually(Duration::from_secs(30), "huge reported", || async {
        events_of(&admin, "huge")
            .await
            .iter()
            .any(|(r, _, _)| r == "FailedScheduling")
            .then_some(())
    })
    .await;
    stop(daemon).await;
    assert_eq!(refused(&log), Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_home_directory_on_a_static_volume_is_bound_by_the_real_volume_binder() {
    let Some(plane) = plane(Options {
        controller_manager: true,
    })
    .await
    else {
        return;
    };
    apply_deploy_rbac(&plane).await;
    let admin = plane.admin().await.unwrap();
    let _kubelet = Kubelet::start(admin.clone());
    // Two user nodes; alice's home directory is a local volume only user-2
    // can mount, in a WaitForFirstConsumer class without a provisioner.
    create_all(
        &plane,
        &[
            user_node("user-1", "4", "16Gi"),
            user_node("user-2", "4", "16Gi"),
            local_class("local"),
            static_volume("home-alice", "local", "user-2"),
            claim("claim-alice", "local"),
        ],
    )
    .await;
    let (client, log) = scheduler_client(&plane).await;
    let daemon = start_daemon_on(client, jupyterhub_electing("us"));
    create(
        &admin,
        &with_claim(pod("alice", "singleuser-server", "1Gi"), "claim-alice"),
    )
    .await;
    // Our PreBind writes the volume's claimRef; kube-controller-manager's
    // persistentvolume-binder completes the binding; then we bind the pod.
    assert_eq!(
        bound(&admin, "alice", Duration::from_secs(90)).await,
        "user-2"
    );
    let claims: Api<PersistentVolumeClaim> = Api::namespaced(admin.clone(), NS);
    let claim = claims.get("claim-alice").await.unwrap();
    assert_eq!(
        claim.spec.and_then(|s| s.volume_name).as_deref(),
        Some("home-alice")
    );
    assert_eq!(claim.status.and_then(|s| s.phase).as_deref(), Some("Bound"));
    stop(daemon).await;
    assert_eq!(refused(&log), Vec::<String>::new());
}
