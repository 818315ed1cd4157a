//! Shared helpers of the end-to-end tests: a sandbox API server, the daemon
//! running in-process against it, and polling with deadlines.

use std::future::Future;
use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::api::PostParams;
use sandbox::{Sandbox, SandboxOptions};
use serde_json::{Value, json};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use user_scheduler::config::SchedulerConfig;
use user_scheduler::daemon::{self, DaemonError, DaemonOptions};

pub mod backend;
pub mod real;

/// The scheduler name of the default profile.
pub const SCHEDULER: &str = "user-scheduler";
/// Namespace of the test pods.
pub const NS: &str = "jhub";

/// A daemon running in-process.
pub struct Daemon {
    pub stop: CancellationToken,
    pub task: JoinHandle<Result<(), DaemonError>>,
}

impl Daemon {
    /// Stops the daemon and waits for it.
    pub async fn stop(self) -> Result<(), DaemonError> {
        self.stop.cancel();
        tokio::time::timeout(Duration::from_secs(60), self.task)
            .await
            .expect("the daemon stops within a minute")
            .expect("the daemon task does not panic")
    }
}

/// Starts a sandbox with the `jhub` namespace.
pub async fn sandbox() -> Sandbox {
    let mut opts = SandboxOptions::default();
    opts.namespaces.push(NS.into());
    Sandbox::start(opts).await.expect("the sandbox starts")
}

/// Starts the daemon without leader election.
pub fn start_daemon(sandbox: &Sandbox) -> Daemon {
    start_daemon_with(sandbox, |o| o)
}

/// Starts the daemon with adjusted options.
pub fn start_daemon_with(
    sandbox: &Sandbox,
    adjust: impl FnOnce(DaemonOptions) -> DaemonOptions,
) -> Daemon {
    start_daemon_on(sandbox.client(), adjust)
}

/// A user node: 4 CPUs, 16 GiB, the z2jh user label and taint.
pub fn user_node(name: &str, cpu: &str, memory: &str) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name, "labels": {
            "kubernetes.io/hostname": name,
            "hub.jupyter.org/node-purpose": "user"}},
        "spec": {"taints": [{"key": "hub.jupyter.org/dedicated", "value": "user", "effect": "NoSchedule"}]},
        "status": {"allocatable": {"cpu": cpu, "memory": memory, "pods": "110"}}
    })
}

/// A core node tainted for core pods.
pub fn core_node(name: &str) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name, "labels": {
            "kubernetes.io/hostname": name,
            "hub.jupyter.org/node-purpose": "core"}},
        "spec": {"taints": [{"key": "hub.jupyter.org/dedicated", "value": "core", "effect": "NoSchedule"}]},
        "status": {"allocatable": {"cpu": "4", "memory": "16Gi", "pods": "110"}}
    })
}

/// A pending pod for our scheduler. `component` is `singleuser-server` or
/// `user-placeholder`; `memory` its memory request.
pub fn pending_pod(name: &str, component: &str, memory: &str) -> Value {
    let priority = if component == "user-placeholder" {
        -10
    } else {
        0
    };
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": NS, "labels": {"component": component}},
        "spec": {
            "schedulerName": SCHEDULER,
            "priority": priority,
            "tolerations": [
                {"key": "hub.jupyter.org/dedicated", "operator": "Equal", "value": "user", "effect": "NoSchedule"},
                {"key": "hub.jupyter.org_dedicated", "operator": "Equal", "value": "user", "effect": "NoSchedule"}],
            "containers": [{"name": "c", "image": "pause", "resources": {"requests": {"memory": memory}}}]
        }
    })
}

/// A pod already bound to `node`.
pub fn bound_pod(name: &str, component: &str, memory: &str, node: &str) -> Value {
    let mut pod = pending_pod(name, component, memory);
    pod["spec"]["nodeName"] = json!(node);
    pod["status"] = json!({"phase": "Running"});
    pod
}

/// Creates a pod through the API.
pub async fn create_pod(sandbox: &Sandbox, pod: &Value) {
    let api: Api<Pod> = Api::namespaced(sandbox.client(), NS);
    let pod: Pod = serde_json::from_value(pod.clone()).expect("a valid pod");
    api.create(&PostParams::default(), &pod)
        .await
        .expect("the pod is created");
}

/// The node a pod is bound to, from the sandbox's store.
pub fn node_of(sandbox: &Sandbox, name: &str) -> Option<String> {
    sandbox
        .get("pods", NS, name)
        .and_then(|p| p["spec"]["nodeName"].as_str().map(String::from))
}

/// Polls `check` every 20 ms until it returns `Some`, or panics after `limit`.
pub async fn eventually<T, F, Fut>(limit: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The PodScheduled condition of a pod in the store.
pub fn pod_scheduled_condition(sandbox: &Sandbox, name: &str) -> Option<Value> {
    sandbox.get("pods", NS, name).and_then(|p| {
        p["status"]["conditions"]
            .as_array()
            .and_then(|c| c.iter().find(|c| c["type"] == "PodScheduled").cloned())
    })
}

/// Events (events.k8s.io/v1) about a pod, as (reason, note).
pub fn events_of(sandbox: &Sandbox, name: &str) -> Vec<(String, String)> {
    sandbox
        .list("events")
        .into_iter()
        .filter(|e| e["regarding"]["name"] == name || e["involvedObject"]["name"] == name)
        .map(|e| {
            let reason = e["reason"].as_str().unwrap_or_default().to_string();
            let note = e["note"]
                .as_str()
                .or(e["message"].as_str())
                .unwrap_or_default()
                .to_string();
            (reason, note)
        })
        .collect()
}

// === recording clients: who sent which request, and what came back ===

/// One HTTP exchange a [`recording_client`] made.
#[derive(Clone, Debug)]
pub struct Call {
    /// HTTP method.
    pub method: String,
    /// URL path.
    pub path: String,
    /// When the request left.
    pub started: std::time::Instant,
    /// The answer's status and when it came (`None` while in flight, or when
    /// the connection failed: then the status is 0).
    pub answer: Option<(u16, std::time::Instant)>,
}

impl Call {
    /// The pod of a `pods/binding` POST.
    pub fn binding_pod(&self) -> Option<&str> {
        if self.method != "POST" {
            return None;
        }
        let rest = self.path.strip_suffix("/binding")?;
        let (head, name) = rest.rsplit_once('/')?;
        head.ends_with("/pods").then_some(name)
    }

    /// The answer's status (0 without one).
    pub fn status(&self) -> u16 {
        self.answer.map_or(0, |(s, _)| s)
    }
}

/// The calls of one recording client, in the order they started.
#[derive(Clone, Debug, Default)]
pub struct CallLog(std::sync::Arc<std::sync::Mutex<Vec<Call>>>);

impl CallLog {
    /// Every call so far.
    pub fn calls(&self) -> Vec<Call> {
        self.0.lock().unwrap().clone()
    }

    /// The `pods/binding` calls so far.
    pub fn bindings(&self) -> Vec<Call> {
        self.calls()
            .into_iter()
            .filter(|c| c.binding_pod().is_some())
            .collect()
    }

    fn start(&self, method: String, path: String) -> usize {
        let mut calls = self.0.lock().unwrap();
        calls.push(Call {
            method,
            path,
            started: std::time::Instant::now(),
            answer: None,
        });
        calls.len() - 1
    }

    fn finish(&self, index: usize, status: u16) {
        self.0.lock().unwrap()[index].answer = Some((status, std::time::Instant::now()));
    }
}

/// The tower service behind [`recording_client`].
#[derive(Clone)]
pub struct Recorder<S> {
    inner: S,
    log: CallLog,
}

impl<S, B, R> tower::Service<http::Request<B>> for Recorder<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<R>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    R: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = std::pin::Pin<
        Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send + 'static>,
    >;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        let index = self
            .log
            .start(req.method().to_string(), req.uri().path().to_string());
        let log = self.log.clone();
        let answer = self.inner.call(req);
        Box::pin(async move {
            let res = answer.await;
            log.finish(index, res.as_ref().map_or(0, |r| r.status().as_u16()));
            res
        })
    }
}

/// A client of `sandbox` of its own, with default retries off, that records
/// every request it sends and the status of every answer.
pub fn recording_client(sandbox: &Sandbox) -> (kube::Client, CallLog) {
    let log = CallLog::default();
    (recording_client_from(sandbox.config(), log.clone()), log)
}

/// A client from `config` (default retries off) recording into `log`. Its
/// connections belong to the runtime it is built on.
pub fn recording_client_from(mut config: kube::Config, log: CallLog) -> kube::Client {
    config.default_retry = false;
    kube::client::ClientBuilder::try_from(config)
        .expect("a client for the sandbox")
        .with_layer(&tower::layer::layer_fn(move |inner| Recorder {
            inner,
            log: log.clone(),
        }))
        .build()
}

/// Starts the daemon on `client` with adjusted options.
pub fn start_daemon_on(
    client: kube::Client,
    adjust: impl FnOnce(DaemonOptions) -> DaemonOptions,
) -> Daemon {
    let mut opts = DaemonOptions::new(SchedulerConfig::default());
    opts.leader_elect = false;
    opts.seed = 42;
    let opts = adjust(opts);
    let stop = CancellationToken::new();
    let task = tokio::spawn(daemon::run(client, opts, stop.clone()));
    Daemon { stop, task }
}

// === the admin server ===

/// The service account Prometheus scrapes as in the tests, and its token.
pub const PROMETHEUS_TOKEN: &str = "prometheus-token";

/// What an operator sets up for Prometheus (README): a ClusterRole that may
/// `get` the `/metrics` URL, bound to Prometheus's service account, whose
/// token the sandbox's TokenReviews know as [`PROMETHEUS_TOKEN`].
pub fn grant_metrics_to_prometheus(sandbox: &Sandbox) {
    sandbox.add_token(
        PROMETHEUS_TOKEN,
        sandbox::TokenUser::service_account("monitoring", "prometheus"),
    );
    sandbox
        .seed_yaml(
            r#"
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: user-scheduler-metrics-reader}
rules:
  - nonResourceURLs: [/metrics]
    verbs: [get]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: prometheus-user-scheduler-metrics}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: user-scheduler-metrics-reader}
subjects:
  - {kind: ServiceAccount, name: prometheus, namespace: monitoring}
"#,
        )
        .expect("the RBAC objects are stored");
}

/// One plain HTTP/1.1 GET to the admin server, with a bearer token when
/// given: (status, body).
pub async fn admin_get(
    addr: std::net::SocketAddr,
    path: &str,
    token: Option<&str>,
) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream =
        tokio::time::timeout(Duration::from_secs(5), tokio::net::TcpStream::connect(addr))
            .await
            .expect("connects in time")
            .expect("the admin server accepts");
    let auth = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
    let request =
        format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n{auth}Connection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut raw))
        .await
        .expect("answers in time")
        .unwrap();
    let raw = String::from_utf8(raw).expect("a text answer");
    let status = raw
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("a status line");
    let body = raw
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

/// Starts the daemon with a plain-HTTP admin server on a free port, with
/// `access`, adjusted further by `adjust`; returns the daemon and the
/// server's address.
pub async fn start_daemon_with_admin(
    sandbox: &Sandbox,
    access: user_scheduler::daemon::auth::Access,
    adjust: impl FnOnce(DaemonOptions) -> DaemonOptions,
) -> (Daemon, std::net::SocketAddr) {
    use user_scheduler::daemon::admin::{AdminOptions, ConnectionLimits};
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let daemon = start_daemon_with(sandbox, |mut o| {
        o.admin = Some(AdminOptions {
            addr: "127.0.0.1:0".parse().unwrap(),
            tls: None,
            limits: ConnectionLimits::default(),
            access,
        });
        o.admin_bound = Some(tx);
        adjust(o)
    });
    let addr = tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .expect("the admin server listens")
        .expect("the daemon tells its address");
    (daemon, addr)
}

/// Daemon options electing on the default lease with short timings (lease
/// 1 s, renew deadline 0.6 s, retry 0.2 s) as `identity`.
pub fn electing(mut opts: DaemonOptions, identity: &str) -> DaemonOptions {
    let le = &mut opts.config.leader_election;
    le.leader_elect = true;
    le.lease_duration = Duration::from_secs(1);
    le.renew_deadline = Duration::from_millis(600);
    le.retry_period = Duration::from_millis(200);
    opts.leader_elect = true;
    opts.identity = Some(identity.into());
    opts
}

/// The holder of the default lease (`kube-system/kube-scheduler`), `None`
/// when there is no lease or it is released.
pub fn lease_holder(sandbox: &Sandbox) -> Option<String> {
    let le = SchedulerConfig::default().leader_election;
    sandbox
        .get("leases", &le.resource_namespace, &le.resource_name)
        .and_then(|l| l["spec"]["holderIdentity"].as_str().map(String::from))
        .filter(|h| !h.is_empty())
}

/// `count` pending user pods named `{prefix}{i:04}` requesting `memory`.
pub fn pending_pods(prefix: &str, count: usize, memory: &str) -> Vec<Value> {
    (0..count)
        .map(|i| pending_pod(&format!("{prefix}{i:04}"), "singleuser-server", memory))
        .collect()
}

/// `count` user nodes named `n{i:02}`, each of 4 CPUs and 16 GiB.
pub fn user_nodes(count: usize) -> Vec<Value> {
    (0..count)
        .map(|i| user_node(&format!("n{i:02}"), "4", "16Gi"))
        .collect()
}

/// Pods in `NS` bound to a node, by name.
pub fn bound_pods(sandbox: &Sandbox) -> std::collections::BTreeMap<String, String> {
    sandbox
        .list("pods")
        .iter()
        .filter(|p| p["metadata"]["namespace"] == NS)
        .filter_map(|p| {
            Some((
                p["metadata"]["name"].as_str()?.to_string(),
                p["spec"]["nodeName"].as_str()?.to_string(),
            ))
        })
        .collect()
}

/// Waits until `count` pods in `NS` are bound.
pub async fn all_bound(sandbox: &Sandbox, count: usize, limit: Duration) {
    let what = format!("{count} pods bound");
    eventually(limit, &what, || async {
        (bound_pods(sandbox).len() >= count).then_some(())
    })
    .await;
}

/// Bytes of a memory quantity as the test fixtures write them (`Gi`, `Mi`, plain).
fn memory_bytes(q: &str) -> u64 {
    let (n, unit) = match q.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => q.split_at(i),
        None => (q, ""),
    };
    let n: u64 = n.parse().expect("a whole quantity");
    n * match unit {
        "" => 1,
        "Ki" => 1 << 10,
        "Mi" => 1 << 20,
        "Gi" => 1 << 30,
        other => panic!("unexpected unit {other}"),
    }
}

/// Panics when the memory requests of the pods bound to a node exceed its
/// allocatable memory, or a pod is bound to a node that does not exist.
pub fn assert_no_overcommit(sandbox: &Sandbox) {
    let allocatable: std::collections::BTreeMap<String, u64> = sandbox
        .list("nodes")
        .iter()
        .map(|n| {
            (
                n["metadata"]["name"].as_str().unwrap().to_string(),
                memory_bytes(n["status"]["allocatable"]["memory"].as_str().unwrap()),
            )
        })
        .collect();
    let mut used = std::collections::BTreeMap::<String, u64>::new();
    for p in sandbox.list("pods") {
        let Some(node) = p["spec"]["nodeName"].as_str() else {
            continue;
        };
        let requested: u64 = p["spec"]["containers"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|c| c["resources"]["requests"]["memory"].as_str())
            .map(memory_bytes)
            .sum();
        *used.entry(node.to_string()).or_default() += requested;
    }
    for (node, used) in &used {
        let Some(&cap) = allocatable.get(node) else {
            panic!("pods bound to a node that does not exist: {node}");
        };
        assert!(
            *used <= cap,
            "node {node} over-committed: {used} bytes requested of {cap}"
        );
    }
}

/// The CSI driver of the test classes (the sandbox provisioner's default).
pub const CSI_DRIVER: &str = "pd.csi.storage.gke.io";

/// A WaitForFirstConsumer StorageClass provisioned by [`CSI_DRIVER`] (GKE's
/// `standard-rwo`, z2jh's usual home-directory class).
pub fn wffc_class(name: &str) -> Value {
    json!({
        "apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
        "metadata": {"name": name},
        "provisioner": CSI_DRIVER,
        "volumeBindingMode": "WaitForFirstConsumer"
    })
}

/// A WaitForFirstConsumer StorageClass of pre-created (static) volumes only.
pub fn local_class(name: &str) -> Value {
    json!({
        "apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
        "metadata": {"name": name},
        "provisioner": "kubernetes.io/no-provisioner",
        "volumeBindingMode": "WaitForFirstConsumer"
    })
}

/// An unbound ReadWriteOnce claim of `class` in `NS`, 10 GiB.
pub fn claim(name: &str, class: &str) -> Value {
    json!({
        "apiVersion": "v1", "kind": "PersistentVolumeClaim",
        "metadata": {"name": name, "namespace": NS},
        "spec": {"storageClassName": class, "accessModes": ["ReadWriteOnce"],
                 "resources": {"requests": {"storage": "10Gi"}}}
    })
}

/// An Available static volume of `class` that only `node` can use.
pub fn static_volume(name: &str, class: &str, node: &str) -> Value {
    json!({
        "apiVersion": "v1", "kind": "PersistentVolume",
        "metadata": {"name": name},
        "spec": {"storageClassName": class, "capacity": {"storage": "10Gi"},
                 "accessModes": ["ReadWriteOnce"],
                 "local": {"path": "/mnt/disks/1"},
                 "nodeAffinity": {"required": {"nodeSelectorTerms": [{"matchExpressions": [
                     {"key": "kubernetes.io/hostname", "operator": "In", "values": [node]}]}]}}},
        "status": {"phase": "Available"}
    })
}

/// `pod` with its home directory on `claim`.
pub fn with_claim(mut pod: Value, claim: &str) -> Value {
    pod["spec"]["volumes"] =
        json!([{"name": "home", "persistentVolumeClaim": {"claimName": claim}}]);
    pod
}

/// A claim in `NS` from the sandbox's store.
pub fn claim_of(sandbox: &Sandbox, name: &str) -> Value {
    sandbox
        .get("persistentvolumeclaims", NS, name)
        .unwrap_or_else(|| panic!("claim {name} exists"))
}

/// The node a claim's selected-node annotation names.
pub fn selected_node(sandbox: &Sandbox, claim: &str) -> Option<String> {
    claim_of(sandbox, claim)["metadata"]["annotations"]["volume.kubernetes.io/selected-node"]
        .as_str()
        .map(String::from)
}

/// The volume a claim is bound to.
pub fn volume_of(sandbox: &Sandbox, claim: &str) -> Option<String> {
    claim_of(sandbox, claim)["spec"]["volumeName"]
        .as_str()
        .filter(|v| !v.is_empty())
        .map(String::from)
}
