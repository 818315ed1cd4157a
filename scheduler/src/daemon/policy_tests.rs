//! The daemon's cycle and `explain` reach the same verdict on the same
//! cluster: both load the objects (the daemon through its watch handlers,
//! `explain` through the cluster file) and call the one policy
//! ([`score::decide()`]), nominations, terminating victims and packing
//! preemption included.

use std::fmt::Write as _;

use k8s_openapi::api::core::v1::{Node, Pod};
use proptest::prelude::*;
use score::Verdict;
use score::schedule::Scratch;
use serde_json::{Value, json};

use super::cycle::decide_on_cache;
use super::queue::{QueueConfig, SharedQueue};
use super::state::{Pending, State};
use crate::explain::{ExplainInput, explain};
use crate::{config, convert};

/// A bound pod: user or placeholder, memory in GiB, node index, whether it
/// is a victim still terminating.
#[derive(Clone, Debug)]
struct Bound {
    user: bool,
    mem: u64,
    node: usize,
    terminating: bool,
}

/// A pending pod: memory, priority, the node it was nominated to, and
/// whether another scheduler owns it.
#[derive(Clone, Debug)]
struct Waiting {
    mem: u64,
    priority: i32,
    nominated: Option<usize>,
    foreign: bool,
}

#[derive(Clone, Debug)]
struct Case {
    nodes: Vec<u64>,
    bound: Vec<Bound>,
    /// The first is the pod decided on (ours, priority 0, a real user).
    waiting: Vec<Waiting>,
    packing: bool,
}

fn case() -> impl Strategy<Value = Case> {
    (1usize..=4).prop_flat_map(|n| {
        let bound = (any::<bool>(), 1u64..=3, 0..n, prop::bool::weighted(0.2)).prop_map(
            |(user, mem, node, terminating)| Bound {
                user,
                mem,
                node,
                terminating: terminating && !user,
            },
        );
        let nomination = prop::option::weighted(0.4, 0..n);
        let other = (
            1u64..=6,
            prop::sample::select(vec![-10, 0, 10]),
            nomination.clone(),
            any::<bool>(),
        )
            .prop_map(|(mem, priority, nominated, foreign)| Waiting {
                mem,
                priority,
                nominated,
                foreign,
            });
        let first = (1u64..=6, nomination).prop_map(|(mem, nominated)| Waiting {
            mem,
            priority: 0,
            nominated,
            foreign: false,
        });
        (
            prop::collection::vec(prop::sample::select(vec![4u64, 8, 12]), n),
            prop::collection::vec(bound, 0..=14),
            first,
            prop::collection::vec(other, 0..=2),
            any::<bool>(),
        )
            .prop_map(|(nodes, bound, first, others, packing)| {
                let mut waiting = vec![first];
                waiting.extend(others);
                Case {
                    nodes,
                    bound,
                    waiting,
                    packing,
                }
            })
    })
}

fn node_object(i: usize, mem: u64) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": format!("user-{i}"), "labels": {
            "kubernetes.io/hostname": format!("user-{i}"),
            "hub.jupyter.org/node-purpose": "user"}},
        "status": {"allocatable": {"cpu": "4", "memory": format!("{mem}Gi"), "pods": "110"},
                   "capacity": {"cpu": "4", "memory": format!("{mem}Gi"), "pods": "110"}},
    })
}

fn bound_object(k: usize, b: &Bound) -> Value {
    let (name, component, priority) = if b.user {
        (format!("jupyter-u{k}"), "singleuser-server", 0)
    } else {
        (format!("user-placeholder-{k}"), "user-placeholder", -10)
    };
    let mut pod = json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": "jhub", "uid": format!("uid-b{k}"),
                     "labels": {"component": component},
                     "creationTimestamp": format!("2026-01-01T00:{:02}:00Z", k)},
        "spec": {"schedulerName": "user-scheduler", "nodeName": format!("user-{}", b.node),
                 "priority": priority,
                 "tolerations": [{"key": "hub.jupyter.org/dedicated", "operator": "Equal", "value": "user", "effect": "NoSchedule"}],
                 "containers": [{"name": "c", "image": "jupyter/base",
                                 "resources": {"requests": {"memory": format!("{}Gi", b.mem)}}}]},
        "status": {"phase": "Running", "startTime": format!("2026-01-01T00:{:02}:00Z", k)},
    });
    if b.terminating {
        pod["metadata"]["deletionTimestamp"] = json!("2026-01-01T01:00:00Z");
        pod["status"]["conditions"] = json!([{"type": "DisruptionTarget", "status": "True",
            "reason": "PreemptionByScheduler"}]);
    }
    pod
}

fn waiting_object(k: usize, w: &Waiting) -> Value {
    let mut pod = json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": format!("jupyter-w{k}"), "namespace": "jhub", "uid": format!("uid-w{k}"),
                     "labels": {"component": "singleuser-server"},
                     "creationTimestamp": format!("2026-01-01T01:{:02}:00Z", k)},
        "spec": {"schedulerName": if w.foreign { "other-scheduler" } else { "user-scheduler" },
                 "priority": w.priority,
                 "tolerations": [{"key": "hub.jupyter.org/dedicated", "operator": "Equal", "value": "user", "effect": "NoSchedule"}],
                 "containers": [{"name": "c", "image": "jupyter/base",
                                 "resources": {"requests": {"memory": format!("{}Gi", w.mem)}}}]},
        "status": {"phase": "Pending"},
    });
    if let Some(n) = w.nominated {
        pod["status"]["nominatedNodeName"] = json!(format!("user-{n}"));
    }
    pod
}

/// A verdict as both sides can say it: outcome, node, victims, message.
type Said = (&'static str, Option<String>, Vec<String>, Option<String>);

fn said_by_daemon(st: &State, verdict: Verdict) -> Said {
    match verdict {
        Verdict::Assume { node, .. } => (
            "bind",
            Some(st.cluster.node_name(node).into()),
            vec![],
            None,
        ),
        Verdict::Preempt {
            plan,
            kind,
            message,
        } => (
            match kind {
                score::decide::PreemptionKind::Fit => "preempt",
                score::decide::PreemptionKind::Packing => "packing-preempt",
            },
            Some(plan.node_name),
            plan.victims
                .iter()
                .map(|v| format!("{}/{}", v.namespace, v.name))
                .collect(),
            Some(message),
        ),
        Verdict::Unschedulable { message, .. } => ("unschedulable", None, vec![], Some(message)),
        Verdict::Error(message) => ("error", None, vec![], Some(message)),
    }
}

fn said_by_explain(e: score::Explanation) -> Said {
    let (node, victims) = match (e.selected, e.preemption) {
        (Some(node), _) => (Some(node), vec![]),
        (None, Some(p)) => (Some(p.node), p.victims),
        (None, None) => (None, vec![]),
    };
    (e.outcome.as_str(), node, victims, e.message)
}

fn check(case: &Case) -> Result<(), TestCaseError> {
    let dir = std::env::temp_dir().join(format!(
        "policy-{}-{}",
        std::process::id(),
        std::thread::current()
            .name()
            .unwrap_or("t")
            .replace("::", "-")
    ));
    std::fs::create_dir_all(&dir).map_err(|e| TestCaseError::fail(e.to_string()))?;
    let nodes: Vec<Value> = (case.nodes.iter().enumerate())
        .map(|(i, &m)| node_object(i, m))
        .collect();
    let bound: Vec<Value> = (case.bound.iter().enumerate())
        .map(|(k, b)| bound_object(k, b))
        .collect();
    let waiting: Vec<Value> = (case.waiting.iter().enumerate())
        .map(|(k, w)| waiting_object(k, w))
        .collect();
    let mut yaml = String::new();
    for object in nodes.iter().chain(&bound).chain(&waiting) {
        let _ = write!(
            yaml,
            "---\n{}",
            serde_yaml_ng::to_string(object).unwrap_or_default()
        );
    }
    let write = |name: &str, text: &str| {
        let path = dir.join(name);
        std::fs::write(&path, text).map(|()| path)
    };
    let config_text = format!(
        "apiVersion: kubescheduler.config.k8s.io/v1\nkind: KubeSchedulerConfiguration\n\
         profiles:\n- schedulerName: user-scheduler\n  pluginConfig:\n  - name: RealUserColocation\n    \
         args: {{packingPreemption: {}}}\n",
        case.packing
    );
    let io = |e: std::io::Error| TestCaseError::fail(e.to_string());
    let input = ExplainInput {
        cluster: write("cluster.yaml", &yaml).map_err(io)?,
        pod: write(
            "pod.yaml",
            &serde_yaml_ng::to_string(&waiting[0]).unwrap_or_default(),
        )
        .map_err(io)?,
        config: Some(write("config.yaml", &config_text).map_err(io)?),
    };
    let explained = explain(&input).map_err(|e| TestCaseError::fail(e.to_string()))?;

    // The daemon: the same objects through its watch handlers.
    let cfg = config::load(input.config.as_deref().unwrap_or(dir.as_path()))
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
    let (reports, _keep) = tokio::sync::mpsc::unbounded_channel();
    let mut st = State::new(
        cfg.profiles,
        SharedQueue::new(QueueConfig::default()),
        reports,
    );
    for n in &nodes {
        let node: Node =
            serde_json::from_value(n.clone()).map_err(|e| TestCaseError::fail(e.to_string()))?;
        st.apply_node(&node);
    }
    for p in bound.iter().chain(&waiting) {
        let pod: Pod =
            serde_json::from_value(p.clone()).map_err(|e| TestCaseError::fail(e.to_string()))?;
        st.apply_pod(&pod);
    }
    let first: Pod = serde_json::from_value(waiting[0].clone())
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
    let spec = convert::pod_spec(&first).map_err(|e| TestCaseError::fail(e.to_string()))?;
    let pending = Pending {
        requests: score::pod::pod_requests(&spec),
        spec,
        profile: 0,
    };
    let verdict = decide_on_cache(&st, &pending, &mut Scratch::with_decision_cache(), None);
    let daemon = said_by_daemon(&st, verdict);
    let _ = std::fs::remove_dir_all(&dir);
    prop_assert_eq!(
        daemon,
        said_by_explain(explained.explanation),
        "case {:?}\n{}",
        case,
        yaml
    );
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn the_daemon_and_explain_reach_the_same_verdict(case in case()) {
        check(&case)?;
    }
}
