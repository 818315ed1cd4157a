//! One test body, two API servers: the sandbox and the real kube-apiserver
//! v1.37.2. A body takes a [`Backend`] and uses only what both can do (create
//! objects through the API, read pods and events back); each test runs it
//! once per backend, the real one skipped outside CI when its binaries
//! cannot be had (see [`super::real::plane`]).

use controlplane::{ControlPlane, Kubelet, Options};
use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use sandbox::Sandbox;
use serde_json::Value;

use super::{CallLog, NS, real};

/// Where a test body runs.
pub enum Backend {
    /// The in-memory API server.
    Sandbox(Sandbox),
    /// etcd and kube-apiserver, deploy/'s RBAC applied, a kubelet stand-in.
    Real {
        /// The processes (boxed: the handles are large beside the sandbox's).
        plane: Box<ControlPlane>,
        /// The admin's client.
        admin: kube::Client,
        /// Bound pods Running, deletions finished.
        _kubelet: Kubelet,
    },
}

impl Backend {
    /// The sandbox with the `jhub` namespace.
    pub async fn sandbox() -> Backend {
        Backend::Sandbox(super::sandbox().await)
    }

    /// A fresh real control plane with deploy/'s RBAC and PriorityClasses,
    /// or `None` when it is skipped (see [`real::plane`]).
    pub async fn real() -> Option<Backend> {
        let plane = real::plane(Options::default()).await?;
        real::apply_deploy_rbac(&plane).await;
        let admin = plane.admin().await.expect("the admin client");
        let kubelet = Kubelet::start(admin.clone());
        Some(Backend::Real {
            plane: Box::new(plane),
            admin,
            _kubelet: kubelet,
        })
    }

    /// Which one, for messages.
    pub fn name(&self) -> &'static str {
        match self {
            Backend::Sandbox(_) => "sandbox",
            Backend::Real { .. } => "kube-apiserver",
        }
    }

    /// Creates `objects` through the API (pods with a PriorityClass rather
    /// than a number on the real server, where the Priority admission plugin
    /// computes it).
    pub async fn create(&self, objects: &[Value]) {
        match self {
            Backend::Sandbox(sandbox) => {
                for obj in objects {
                    real::create(&sandbox.client(), obj).await;
                }
            }
            Backend::Real { admin, .. } => {
                for obj in objects {
                    let obj = if obj["kind"] == "Pod" {
                        real::with_priority_class(obj.clone())
                    } else {
                        obj.clone()
                    };
                    real::create(admin, &obj).await;
                }
            }
        }
    }

    /// The scheduler's client: the sandbox's, or the `user-scheduler`
    /// ServiceAccount's under deploy/'s RBAC; both record every request.
    pub async fn scheduler_client(&self) -> (kube::Client, CallLog) {
        match self {
            Backend::Sandbox(sandbox) => super::recording_client(sandbox),
            Backend::Real { plane, .. } => real::scheduler_client(plane).await,
        }
    }

    fn reader(&self) -> kube::Client {
        match self {
            Backend::Sandbox(sandbox) => sandbox.client(),
            Backend::Real { admin, .. } => admin.clone(),
        }
    }

    /// Pod `NS/name`, if it exists.
    pub async fn pod(&self, name: &str) -> Option<Pod> {
        let pods: Api<Pod> = Api::namespaced(self.reader(), NS);
        pods.get_opt(name).await.ok().flatten()
    }

    /// The node pod `NS/name` is bound to.
    pub async fn node_of(&self, name: &str) -> Option<String> {
        real::node_of(&self.reader(), name).await
    }

    /// The PodScheduled condition of pod `NS/name`, as JSON.
    pub async fn pod_scheduled_condition(&self, name: &str) -> Option<Value> {
        let pod = self.pod(name).await?;
        let conditions = pod.status?.conditions?;
        let c = conditions.into_iter().find(|c| c.type_ == "PodScheduled")?;
        serde_json::to_value(c).ok()
    }

    /// Names of the pods in `NS` whose `component` label is `component`.
    pub async fn pods_of_component(&self, component: &str) -> Vec<String> {
        let pods: Api<Pod> = Api::namespaced(self.reader(), NS);
        let selector = format!("component={component}");
        pods.list(&kube::api::ListParams::default().labels(&selector))
            .await
            .expect("pods")
            .items
            .into_iter()
            .filter_map(|p| p.metadata.name)
            .collect()
    }

    /// Notes of the events (events.k8s.io/v1) in `NS` with `reason`.
    pub async fn event_notes(&self, reason: &str) -> Vec<String> {
        real::events(&self.reader())
            .await
            .into_iter()
            .filter(|e| e["reason"] == reason)
            .map(|e| e["note"].as_str().unwrap_or_default().to_string())
            .collect()
    }

    /// Events (events.k8s.io/v1) about pod `NS/name`, as (reason, note).
    pub async fn events_of(&self, name: &str) -> Vec<(String, String)> {
        real::events_of(&self.reader(), name)
            .await
            .into_iter()
            .map(|(reason, note, _)| (reason, note))
            .collect()
    }
}

/// Runs `body` on the sandbox, then on the real kube-apiserver (skipped
/// outside CI when its binaries cannot be had).
macro_rules! on_both_backends {
    ($sandbox_test:ident, $real_test:ident, $body:ident) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $sandbox_test() {
            $body($crate::support::backend::Backend::sandbox().await).await;
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $real_test() {
            if let Some(backend) = $crate::support::backend::Backend::real().await {
                $body(backend).await;
            }
        }
    };
}

pub(crate) use on_both_backends;
