//! Shared fixtures for the benchmarks: synthetic z2jh-like clusters (from
//! `sandbox::synthetic`) converted into engine clusters the way the
//! daemon converts watched objects.

use sandbox::synthetic;
use score::model::PodSpec;
use score::{Cluster, Profile};
use user_scheduler::convert;

/// The seed every benchmark uses, so runs compare like with like.
pub const SEED: u64 = 0x5EED_2026;

/// An engine cluster of `nodes` synthetic nodes with their pods.
///
/// # Panics
/// If the generator produces an object the converter rejects (a bug).
#[must_use]
pub fn engine_cluster(nodes: usize) -> Cluster {
    let synthetic = synthetic::cluster(SEED, nodes);
    let mut cluster = Cluster::new(Profile::jupyterhub().roles);
    for node in &synthetic.nodes {
        let (spec, _) = convert::node_spec(node).expect("synthetic nodes convert");
        cluster.upsert_node(&spec);
    }
    for pod in &synthetic.pods {
        let spec = convert::pod_spec(pod).expect("synthetic pods convert");
        let node = pod
            .spec
            .as_ref()
            .and_then(|s| s.node_name.clone())
            .expect("synthetic pods are bound");
        cluster.add_pod(&spec, &node);
    }
    cluster
}

/// `count` pending real-user pods as the engine sees them.
///
/// # Panics
/// If the generator produces a pod the converter rejects (a bug).
#[must_use]
pub fn pending_users(count: usize) -> Vec<PodSpec> {
    synthetic::pending_user_pods(SEED, count, synthetic::USER_SCHEDULER)
        .iter()
        .map(|p| convert::pod_spec(p).expect("synthetic pods convert"))
        .collect()
}
