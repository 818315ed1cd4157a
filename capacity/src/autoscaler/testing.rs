//! Builders for the models' table tests: a pool machine of 4 CPUs, 8 GB and 110 pods.

use std::time::Duration;

use super::{Node, NodeState, PendingPod, Place, Pod, Pool, Resources};

/// A gigabyte.
pub const GB: u64 = 1_000_000_000;

pub fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// The pool machine: 4000m, 8 GB, 110 pods.
pub fn machine() -> Resources {
    Resources {
        cpu_milli: 4000,
        memory: 8 * GB,
        pods: 110,
    }
}

pub fn pool(name: &str, max_size: usize) -> Pool {
    Pool {
        name: name.into(),
        min_size: 0,
        max_size,
        allocatable: machine(),
    }
}

/// A ready node of `pool` (`None`: not autoscaled) with the pool machine.
pub fn node(name: &str, pool: Option<&str>, pods: Vec<Pod>) -> Node {
    Node {
        name: name.into(),
        pool: pool.map(str::to_string),
        allocatable: machine(),
        state: NodeState::Ready,
        pods,
    }
}

/// A pod requesting `gb` GB of memory, owned by a controller.
pub fn replicated(key: &str, gb: u64) -> Pod {
    Pod {
        key: key.into(),
        requests: Resources {
            cpu_milli: 0,
            memory: gb * GB,
            pods: 1,
        },
        priority: 0,
        controller: true,
        daemon_set: false,
        mirror: false,
        safe_to_evict: None,
        terminating: false,
    }
}

/// A pod with no controller (a KubeSpawner user).
pub fn bare(key: &str, gb: u64) -> Pod {
    Pod {
        controller: false,
        ..replicated(key, gb)
    }
}

/// A DaemonSet pod.
pub fn daemon(key: &str, gb: u64) -> Pod {
    Pod {
        daemon_set: true,
        ..replicated(key, gb)
    }
}

/// A pending pod the scheduler marked Unschedulable.
pub fn pending(key: &str, gb: u64) -> PendingPod {
    PendingPod {
        key: key.into(),
        requests: Resources {
            cpu_milli: 0,
            memory: gb * GB,
            pods: 1,
        },
        priority: 0,
        unschedulable: true,
        nominated_node: None,
        terminating: false,
    }
}

/// Admits every pod everywhere.
pub fn anywhere(_: &str, _: Place<'_>) -> bool {
    true
}
