//! Controllers that make the sandbox behave like a small cluster: a workload controller
//! (Deployments and StatefulSets keep their pods), a kubelet stand-in (bound pods start,
//! pods on vanished nodes are collected) and a node autoscaler (node pools grow for
//! unschedulable pods and shrink when nodes are unneeded, as the `capacity` crate's
//! autoscaler model decides), and, when asked for, a volume
//! provisioner stand-in (claims get provisioned PersistentVolumes and are bound).
//!
//! They run as tokio tasks beside the server, read the store directly (an always-current
//! informer cache) and write through the same API functions the HTTP server calls, so every
//! write has the server's semantics (validation, graceful deletion, eviction budgets) and is
//! seen by watches. They wake on every store write and, for timers, on the sandbox clock, so
//! with a fast clock a 10-minute scale-down delay passes in seconds.
//!
//! Start them with [`crate::Sandbox::start_controllers`].

pub mod autoscaler;
mod fit;
mod kubelet;
mod provisioner;
mod workload;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde_json::Value;
use tokio::task::JoinHandle;

use crate::api::Shared;

pub use autoscaler::{
    Activity, ActivityKind, Autoscaler, AutoscalerOptions, AutoscalerStatus, NodePool,
};
pub use fit::{Resources, pod_requests};
pub use kubelet::KubeletOptions;
pub use provisioner::{FailPredicate, ProvisionerOptions};

/// Which controllers to run.
#[derive(Debug, Clone)]
pub struct ControllerOptions {
    /// Run the workload controller (Deployments, StatefulSets).
    pub workload: bool,
    /// Run the kubelet stand-in with these options.
    pub kubelet: Option<KubeletOptions>,
    /// Run the cluster-autoscaler model with these options.
    pub autoscaler: Option<AutoscalerOptions>,
    /// Seed of the random parts (Deployment pod name suffixes), so that a run can be repeated.
    pub seed: u64,
}

impl Default for ControllerOptions {
    /// The workload controller and the kubelet, no autoscaler.
    fn default() -> Self {
        Self {
            workload: true,
            kubelet: Some(KubeletOptions::default()),
            autoscaler: None,
            seed: 0,
        }
    }
}

/// Running controllers; they stop with [`Controllers::stop`], on drop, or when the sandbox shuts
/// down.
#[derive(Debug)]
pub struct Controllers {
    stop: tokio::sync::watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    autoscaler: Option<Autoscaler>,
}

impl Controllers {
    pub(crate) fn start(shared: Arc<Shared>, opts: ControllerOptions) -> Controllers {
        let stop = tokio::sync::watch::channel(false).0;
        let mut tasks = Vec::new();
        if opts.workload {
            tasks.push(tokio::spawn(workload::run(
                shared.clone(),
                stop.subscribe(),
                opts.seed,
            )));
        }
        if let Some(k) = opts.kubelet {
            tasks.push(tokio::spawn(kubelet::run(
                shared.clone(),
                stop.subscribe(),
                k,
            )));
        }
        let autoscaler = opts.autoscaler.map(|a| {
            let (handle, task) = autoscaler::start(shared.clone(), stop.subscribe(), a);
            tasks.push(task);
            handle
        });
        Controllers {
            stop,
            tasks,
            autoscaler,
        }
    }

    /// Runs only the volume provisioner stand-in (with the PV controller's binding), as its own
    /// handle, beside any other controllers.
    pub(crate) fn start_provisioner(shared: Arc<Shared>, opts: ProvisionerOptions) -> Controllers {
        let stop = tokio::sync::watch::channel(false).0;
        let task = tokio::spawn(provisioner::run(shared, stop.subscribe(), opts));
        Controllers {
            stop,
            tasks: vec![task],
            autoscaler: None,
        }
    }

    /// The autoscaler's activity log and status, when it runs.
    pub fn autoscaler(&self) -> Option<&Autoscaler> {
        self.autoscaler.as_ref()
    }

    /// Stops every controller and waits for them.
    pub async fn stop(mut self) {
        self.stop.send_replace(true);
        for t in self.tasks.drain(..) {
            let _ = t.await;
        }
    }
}

impl Drop for Controllers {
    fn drop(&mut self) {
        self.stop.send_replace(true);
    }
}

/// Waits until the store changes, `deadline` (sandbox time) passes, the controllers are stopped
/// or the sandbox shuts down. Returns false when the controller should end.
async fn wait_for_work(
    shared: &Shared,
    changes: &mut tokio::sync::watch::Receiver<u64>,
    stop: &mut tokio::sync::watch::Receiver<bool>,
    deadline: Option<SystemTime>,
) -> bool {
    let mut shutdown = shared.shutdown.subscribe();
    let sleep = async {
        match deadline {
            Some(at) => {
                let d = at
                    .duration_since(shared.clock.now())
                    .unwrap_or(Duration::ZERO);
                shared.clock.sleep(d).await;
            }
            None => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        r = changes.changed() => r.is_ok(),
        _ = sleep => true,
        _ = stop.wait_for(|s| *s) => false,
        _ = shutdown.wait_for(|s| *s) => false,
    }
}

fn stopped(shared: &Shared, stop: &tokio::sync::watch::Receiver<bool>) -> bool {
    *stop.borrow() || *shared.shutdown.borrow()
}

fn str_at<'a>(v: &'a Value, pointer: &str) -> Option<&'a str> {
    v.pointer(pointer).and_then(Value::as_str)
}

fn name(v: &Value) -> &str {
    str_at(v, "/metadata/name").unwrap_or("")
}

fn namespace(v: &Value) -> &str {
    str_at(v, "/metadata/namespace").unwrap_or("")
}

fn uid(v: &Value) -> &str {
    str_at(v, "/metadata/uid").unwrap_or("")
}

fn terminating(v: &Value) -> bool {
    v.pointer("/metadata/deletionTimestamp").is_some()
}

fn finished(pod: &Value) -> bool {
    matches!(str_at(pod, "/status/phase"), Some("Succeeded" | "Failed"))
}

fn node_name(pod: &Value) -> Option<&str> {
    str_at(pod, "/spec/nodeName").filter(|n| !n.is_empty())
}

/// The ownerReference marked `controller: true`, if any.
fn controller_ref(v: &Value) -> Option<&Value> {
    v.pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)?
        .iter()
        .find(|r| r.get("controller").and_then(Value::as_bool) == Some(true))
}

fn priority(pod: &Value) -> i64 {
    pod.pointer("/spec/priority")
        .and_then(Value::as_i64)
        .unwrap_or(0)
}

/// The store key of a served resource.
fn store_of(plural: &str) -> &'static str {
    crate::resources::find_plural(plural).map_or("", |d| d.store)
}

fn def_of(plural: &str) -> &'static crate::resources::ResourceDef {
    // Every plural used here is in the static table; a missing one is a programming error.
    crate::resources::find_plural(plural)
        .unwrap_or_else(|| panic!("sandbox resource table lacks {plural}"))
}
