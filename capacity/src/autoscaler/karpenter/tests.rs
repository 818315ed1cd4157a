//! Table tests of the Karpenter model: pool machines of 4000m / 8 GB / 110 pods, memory in
//! GB, times in milliseconds where batching needs them.

use super::super::testing::*;
use super::super::{Action, Node, NodeState, PendingPod, Pool, Scan, Snapshot};
use super::*;

fn ms(t: u64) -> Duration {
    Duration::from_millis(t)
}

fn k(options: KarpenterOptions) -> Karpenter {
    Karpenter::new(options, Duration::ZERO)
}

fn scale_ups(s: &Scan) -> Vec<(String, usize, usize)> {
    s.actions
        .iter()
        .filter_map(|a| match a {
            Action::ScaleUp { pool, nodes, pods } => Some((pool.clone(), *nodes, pods.len())),
            _ => None,
        })
        .collect()
}

fn removed(s: &Scan) -> Vec<String> {
    s.actions
        .iter()
        .filter_map(|a| match a {
            Action::RemoveNode { node, .. } => Some(node.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn a_batch_closes_after_the_idle_time_or_the_max_duration() {
    for (arrivals, closes, why) in [
        (vec![0], 1000, "one pod at 0: idle 1 s"),
        (
            vec![0, 500, 1200],
            2200,
            "the last new pod at 1.2 s, idle until 2.2 s",
        ),
        // A new pod every 0.5 s keeps it open: closed by the 10 s max.
        (
            (0..40).map(|i| i * 500).collect(),
            10_000,
            "pods every 0.5 s: max 10 s",
        ),
    ] {
        let mut m = k(KarpenterOptions {
            // No disruption polls in the way.
            disruption_poll_interval: secs(3600),
            ..Default::default()
        });
        let mut c = Snapshot {
            pools: vec![pool("pool", 100)],
            ..Snapshot::default()
        };
        let mut launched_at = None;
        // Steps every 100 ms; pods appear at their arrival times.
        for t in (0..=12_000).step_by(100) {
            for (i, _) in arrivals.iter().enumerate().filter(|(_, a)| **a == t) {
                c.pending.push(pending(&format!("p{i:02}"), 1));
            }
            if let Some(s) = m.step(ms(t), &c, &anywhere)
                && !scale_ups(&s).is_empty()
            {
                launched_at = Some(t);
                break;
            }
        }
        assert_eq!(launched_at, Some(closes), "{why}");
    }
}

#[test]
fn the_batch_is_bin_packed_onto_new_nodes_after_free_room() {
    let busy = node("busy", Some("pool"), vec![replicated("a", 6)]);
    for (nodes, requests, expected) in [
        // 12 × 1 GB: 8 + 4, two nodes.
        (vec![], vec![1; 12], vec![("pool", 2, 12)]),
        // 2 GB fits the 8 − 6 left on busy; the 5 does not.
        (vec![busy.clone()], vec![2, 5], vec![("pool", 1, 1)]),
        (vec![busy], vec![2], vec![]),
    ] {
        let mut m = k(KarpenterOptions::default());
        let c = Snapshot {
            pools: vec![pool("pool", 100)],
            nodes,
            pending: requests
                .iter()
                .enumerate()
                .map(|(i, gb)| pending(&format!("p{i:02}"), *gb))
                .collect(),
        };
        assert!(m.step(ms(0), &c, &anywhere).is_none(), "the batch opens");
        let s = m.step(ms(1000), &c, &anywhere).expect("the batch closes");
        let expected: Vec<(String, usize, usize)> = expected
            .into_iter()
            .map(|(p, n, k)| (p.to_string(), n, k))
            .collect();
        assert_eq!(scale_ups(&s), expected, "{requests:?}");
        // The same pods do not open another batch.
        assert!(m.step(ms(2000), &c, &anywhere).is_none());
    }
}

#[test]
fn new_nodes_take_the_first_pool_that_admits_and_has_room() {
    let mut m = k(KarpenterOptions::default());
    // "a" may add 1 node; 3 pods of 5 GB need 3 nodes: 1 of a, 2 of b; 9 GB fits nowhere.
    let mut pods: Vec<PendingPod> = (0..3).map(|i| pending(&format!("p{i}"), 5)).collect();
    pods.push(pending("huge", 9));
    let c = Snapshot {
        pools: vec![pool("a", 1), pool("b", 10)],
        nodes: vec![],
        pending: pods,
    };
    m.step(ms(0), &c, &anywhere);
    let s = m.step(ms(1000), &c, &anywhere).unwrap();
    assert_eq!(
        scale_ups(&s),
        [("a".to_string(), 1, 1), ("b".to_string(), 2, 2)]
    );
    assert_eq!(s.cannot_help, ["huge"]);
    // Nominated, not-yet-unschedulable and terminating pods do not batch.
    let mut m = k(KarpenterOptions::default());
    let base = pending("p", 1);
    let c = Snapshot {
        pools: vec![pool("a", 10)],
        nodes: vec![],
        pending: vec![
            PendingPod {
                nominated_node: Some("n".into()),
                ..base.clone()
            },
            PendingPod {
                unschedulable: false,
                ..base.clone()
            },
            PendingPod {
                terminating: true,
                ..base
            },
        ],
    };
    for t in (0..=5000).step_by(500) {
        assert!(m.step(ms(t), &c, &anywhere).is_none());
    }
}

/// When the node "n" of `pods` is removed, polling every 10 s, given `options`.
fn removal(options: KarpenterOptions, pods: Vec<super::super::Pod>) -> Option<Duration> {
    let mut m = k(options);
    let c = Snapshot {
        pools: vec![pool("pool", 10)],
        nodes: vec![node("n", Some("pool"), pods)],
        pending: vec![],
    };
    (1..=360).find_map(|i| {
        let t = secs(10 * i);
        m.step(t, &c, &anywhere)
            .filter(|s| !removed(s).is_empty())
            .map(|s| s.time)
    })
}

#[test]
fn empty_nodes_go_after_consolidate_after() {
    let d = KarpenterOptions::default;
    for (options, pods, at, why) in [
        (d(), vec![], Some(10), "default 0 s: at the first poll"),
        (
            KarpenterOptions {
                consolidate_after: Some(secs(30)),
                ..d()
            },
            vec![],
            Some(40),
            "empty since the poll at 10 s; 10 + 30 = 40",
        ),
        (
            KarpenterOptions {
                consolidate_after: Some(secs(600)),
                ..d()
            },
            vec![],
            Some(610),
            "10 + 600",
        ),
        (
            KarpenterOptions {
                consolidate_after: None,
                ..d()
            },
            vec![],
            None,
            "Never",
        ),
        (
            d(),
            vec![daemon("ds", 1)],
            Some(10),
            "DaemonSet pods do not count",
        ),
        (
            d(),
            vec![super::super::Pod {
                terminating: true,
                ..bare("t", 1)
            }],
            Some(10),
            "terminating pods do not count",
        ),
        (d(), vec![bare("u", 1)], None, "a user's pod keeps it"),
        (
            d(),
            vec![replicated("r", 1)],
            None,
            "WhenEmpty: any pod keeps it",
        ),
    ] {
        assert_eq!(removal(options, pods), at.map(secs), "{why}");
    }
}

#[test]
fn nominated_provisioning_and_unpooled_nodes_are_not_empty() {
    let mut m = k(KarpenterOptions::default());
    let c = Snapshot {
        pools: vec![pool("pool", 10)],
        nodes: vec![
            node("nominated", Some("pool"), vec![]),
            Node {
                state: NodeState::Provisioning {
                    requested_at: Duration::ZERO,
                },
                ..node("coming", Some("pool"), vec![])
            },
            node("unpooled", None, vec![]),
        ],
        pending: vec![PendingPod {
            nominated_node: Some("nominated".into()),
            unschedulable: false,
            ..pending("p", 1)
        }],
    };
    let s = m.step(secs(10), &c, &anywhere).unwrap();
    assert!(s.actions.is_empty() && s.unneeded.is_empty(), "{s:?}");
}

#[test]
fn the_disruption_budget_limits_removals_per_poll() {
    for (nodes, deleting, percent, per_poll, why) in [
        (25, 0, 10, 3, "10 % of 25 = 2.5, rounded up"),
        (25, 1, 10, 2, "minus the node being deleted: 3 − 1"),
        (5, 0, 10, 1, "10 % of 5 = 0.5 → 1"),
        (25, 0, 100, 25, "100 %"),
        (25, 0, 0, 0, "0 %: none"),
    ] {
        let mut all: Vec<Node> = (0..nodes)
            .map(|i| node(&format!("e{i:02}"), Some("pool"), vec![]))
            .collect();
        for n in all.iter_mut().take(deleting) {
            n.state = NodeState::Deleting;
        }
        let mut m = k(KarpenterOptions {
            budget_nodes_percent: percent,
            ..Default::default()
        });
        let c = Snapshot {
            pools: vec![pool("pool", 100)],
            nodes: all,
            pending: vec![],
        };
        let s = m.step(secs(10), &c, &anywhere).unwrap();
        assert_eq!(removed(&s).len(), per_poll, "{why}");
    }
}

#[test]
fn a_node_that_never_registers_is_given_up() {
    for (ttl, at) in [(900, 900), (120, 120)] {
        let mut m = k(KarpenterOptions {
            registration_ttl: secs(ttl),
            ..Default::default()
        });
        let c = Snapshot {
            pools: vec![pool("pool", 10)],
            nodes: vec![Node {
                state: NodeState::Provisioning {
                    requested_at: Duration::ZERO,
                },
                ..node("coming", Some("pool"), vec![])
            }],
            pending: vec![],
        };
        let first = (1..=100).find_map(|i| {
            m.step(secs(10 * i), &c, &anywhere)
                .filter(|s| s.actions.iter().any(|a| matches!(a, Action::GiveUp { .. })))
                .map(|s| s.time)
        });
        assert_eq!(first, Some(secs(at)));
    }
}

#[test]
fn next_step_is_the_earliest_of_look_batch_close_and_poll() {
    let mut m = k(KarpenterOptions::default());
    // Nothing pending: look again 1 s after the last step.
    assert_eq!(m.next_step(), secs(1));
    let c = Snapshot {
        pools: vec![Pool { ..pool("pool", 10) }],
        nodes: vec![],
        pending: vec![pending("p", 1)],
    };
    m.step(ms(9500), &c, &anywhere);
    // Batch opened at 9.5 s closes at 10.5 s; the poll is at 10 s.
    assert_eq!(m.next_step(), secs(10));
}
