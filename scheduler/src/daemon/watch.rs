//! Watches: nodes, non-terminal pods, PodDisruptionBudgets and the storage
//! objects the volume filters read, through
//! kube-runtime's `watcher` (with its backoff, so errors and `410 Gone`
//! relists recover by themselves). Every event goes straight into the cache
//! as a compact record; a watch counts as synced once its first list is in.

use std::sync::Arc;

use futures::{Stream, StreamExt};
use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::Api;
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

use super::admin::Readiness;
use super::cycle::Context;

/// The watches readiness waits for.
pub const WATCHES: [&str; 9] = [
    "nodes",
    "pods",
    "poddisruptionbudgets",
    "persistentvolumeclaims",
    "persistentvolumes",
    "storageclasses",
    "csinodes",
    "csidrivers",
    "csistoragecapacities",
];

async fn drive<K, S>(
    name: &'static str,
    stream: S,
    ctx: &Context,
    readiness: &Readiness,
    shutdown: &CancellationToken,
    mut apply: impl FnMut(&Context, Event<K>),
) where
    S: Stream<Item = Result<Event<K>, watcher::Error>>,
{
    let mut stream = std::pin::pin!(stream);
    loop {
        let item = tokio::select! {
            () = shutdown.cancelled() => return,
            item = stream.next() => item,
        };
        match item {
            Some(Ok(event)) => {
                let done = matches!(event, Event::InitDone);
                apply(ctx, event);
                if done {
                    readiness.set_synced(name, true);
                    debug!(watch = name, "synced");
                }
            }
            Some(Err(e)) => {
                warn!(watch = name, error = %e, "watch error; retrying");
                ctx.metrics.count_watch_restart(name);
            }
            None => return,
        }
    }
}

/// Watches nodes until shutdown.
pub async fn nodes(ctx: Arc<Context>, readiness: Readiness, shutdown: CancellationToken) {
    let api: Api<Node> = Api::all(ctx.client.clone());
    let stream = watcher::watcher(api, watcher::Config::default()).default_backoff();
    drive(
        "nodes",
        stream,
        &ctx,
        &readiness,
        &shutdown,
        |ctx, event| {
            let mut st = ctx.lock();
            match event {
                Event::Init => st.nodes_relist_start(),
                Event::InitApply(n) | Event::Apply(n) => st.apply_node(&n),
                Event::InitDone => st.nodes_relist_done(),
                Event::Delete(n) => st.delete_node(n.metadata.name.as_deref().unwrap_or_default()),
            }
        },
    )
    .await;
}

/// Watches every non-terminal pod until shutdown (assigned ones fill the
/// cache, pending ones of our profiles go to the queue).
pub async fn pods(ctx: Arc<Context>, readiness: Readiness, shutdown: CancellationToken) {
    let api: Api<Pod> = Api::all(ctx.client.clone());
    let config = watcher::Config::default().fields("status.phase!=Succeeded,status.phase!=Failed");
    let stream = watcher::watcher(api, config).default_backoff();
    drive("pods", stream, &ctx, &readiness, &shutdown, |ctx, event| {
        let mut st = ctx.lock();
        match event {
            Event::Init => st.pods_relist_start(),
            Event::InitApply(p) | Event::Apply(p) => st.apply_pod(&p),
            Event::InitDone => st.pods_relist_done(),
            Event::Delete(p) => st.delete_pod(&p),
        }
    })
    .await;
}

/// Watches PodDisruptionBudgets until shutdown: a change may let an
/// unschedulable pod preempt.
pub async fn pdbs(ctx: Arc<Context>, readiness: Readiness, shutdown: CancellationToken) {
    objects::<PodDisruptionBudget>(
        "poddisruptionbudgets",
        ctx,
        readiness,
        shutdown,
        |st, p| st.apply_pdb(p),
        |st, ns, name| st.delete_pdb(ns, name),
    )
    .await;
}

/// Watches one kind of object into the cache (compact records) until
/// shutdown. `delete` gets the object's namespace and name; after a relist,
/// objects the list no longer holds (deleted while the watch was away) are
/// deleted too. Only their keys are kept here, never the objects.
async fn objects<K>(
    name: &'static str,
    ctx: Arc<Context>,
    readiness: Readiness,
    shutdown: CancellationToken,
    apply: fn(&mut super::state::State, &K),
    delete: fn(&mut super::state::State, &str, &str),
) where
    K: kube::Resource<DynamicType = ()>
        + Clone
        + std::fmt::Debug
        + serde::de::DeserializeOwned
        + Send
        + 'static,
{
    let api: Api<K> = Api::all(ctx.client.clone());
    let stream = watcher::watcher(api, watcher::Config::default()).default_backoff();
    let mut known: std::collections::HashSet<(String, String)> = std::collections::HashSet::new();
    let mut listed: Option<std::collections::HashSet<(String, String)>> = None;
    drive(name, stream, &ctx, &readiness, &shutdown, |ctx, event| {
        let mut st = ctx.lock();
        match event {
            Event::Init => listed = Some(std::collections::HashSet::new()),
            Event::InitApply(o) => {
                let key = ns_name(&o);
                apply(&mut st, &o);
                known.insert(key.clone());
                if let Some(l) = &mut listed {
                    l.insert(key);
                }
            }
            Event::Apply(o) => {
                apply(&mut st, &o);
                known.insert(ns_name(&o));
            }
            Event::Delete(o) => {
                let (ns, n) = ns_name(&o);
                delete(&mut st, &ns, &n);
                known.remove(&(ns, n));
            }
            Event::InitDone => {
                if let Some(l) = listed.take() {
                    known.retain(|(ns, n)| {
                        let keep = l.contains(&(ns.clone(), n.clone()));
                        if !keep {
                            delete(&mut st, ns, n);
                        }
                        keep
                    });
                }
            }
        }
    })
    .await;
}

fn ns_name<K: kube::Resource>(o: &K) -> (String, String) {
    let meta = o.meta();
    (
        meta.namespace.clone().unwrap_or_else(|| "default".into()),
        meta.name.clone().unwrap_or_default(),
    )
}

/// Watches PersistentVolumeClaims, PersistentVolumes, StorageClasses,
/// CSINodes, CSIDrivers and CSIStorageCapacities until shutdown; the volume
/// filters run once they are tracked.
pub async fn volumes(ctx: Arc<Context>, readiness: Readiness, shutdown: CancellationToken) {
    use k8s_openapi::api::core::v1::{PersistentVolume, PersistentVolumeClaim};
    use k8s_openapi::api::storage::v1::{CSIDriver, CSINode, CSIStorageCapacity, StorageClass};
    ctx.lock().track_storage();
    tokio::join!(
        objects::<PersistentVolumeClaim>(
            "persistentvolumeclaims",
            ctx.clone(),
            readiness.clone(),
            shutdown.clone(),
            |st, o| st.apply_claim(o),
            |st, ns, name| st.delete_claim(ns, name),
        ),
        objects::<PersistentVolume>(
            "persistentvolumes",
            ctx.clone(),
            readiness.clone(),
            shutdown.clone(),
            |st, o| st.apply_volume(o),
            |st, _, name| st.delete_volume(name),
        ),
        objects::<StorageClass>(
            "storageclasses",
            ctx.clone(),
            readiness.clone(),
            shutdown.clone(),
            |st, o| st.apply_class(o),
            |st, _, name| st.delete_class(name),
        ),
        objects::<CSINode>(
            "csinodes",
            ctx.clone(),
            readiness.clone(),
            shutdown.clone(),
            |st, o| st.apply_csi_node(o),
            |st, _, name| st.delete_csi_node(name),
        ),
        objects::<CSIDriver>(
            "csidrivers",
            ctx.clone(),
            readiness.clone(),
            shutdown.clone(),
            |st, o| st.apply_csi_driver(o),
            |st, _, name| st.delete_csi_driver(name),
        ),
        objects::<CSIStorageCapacity>(
            "csistoragecapacities",
            ctx,
            readiness,
            shutdown,
            |st, o| st.apply_storage_capacity(o),
            |st, ns, name| st.delete_storage_capacity(ns, name),
        ),
    );
}
