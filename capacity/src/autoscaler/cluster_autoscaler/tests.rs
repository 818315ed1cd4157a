//! Table tests of the cluster-autoscaler model: pool machines of 4000m / 8 GB / 110 pods
//! (`testing::machine`), memory in GB, scans every 10 s from t = 0.

use super::super::testing::*;
use super::super::{
    Action, Node, NodeState, PendingPod, Place, Pod, Pool, Resources, Scan, Snapshot,
};
use super::*;

fn ca(options: ClusterAutoscalerOptions) -> ClusterAutoscaler {
    ClusterAutoscaler::new(options, Duration::ZERO)
}

fn cluster(pools: Vec<Pool>, nodes: Vec<Node>, pending: Vec<PendingPod>) -> Snapshot {
    Snapshot {
        pools,
        nodes,
        pending,
    }
}

/// Scans at 10 s, 20 s, ... up to `until`, with the cluster unchanged; every scan's result.
fn scans(a: &mut ClusterAutoscaler, c: &Snapshot, until: u64) -> Vec<Scan> {
    let mut out = Vec::new();
    let mut t = a.next_step();
    while t <= secs(until) {
        out.extend(a.step(t, c, &anywhere));
        t = a.next_step();
    }
    out
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

/// The first scan's scale-up, if any.
fn first_scale_up(c: &Snapshot) -> (Option<(String, usize, usize)>, Scan) {
    let mut a = ca(ClusterAutoscalerOptions::default());
    let s = a.step(secs(10), c, &anywhere).expect("due");
    (scale_ups(&s).into_iter().next(), s)
}

#[test]
fn scans_every_interval_and_not_before() {
    let c = Snapshot::default();
    for (interval, steps, expected) in [
        // Default 10 s: due at 10 and 20, not at 5 or 15.
        (10, vec![5, 10, 15, 20], vec![false, true, false, true]),
        // 30 s: due at 30 only; the next is 30 s after it (60), not at 45.
        (
            30,
            vec![10, 29, 30, 45, 60],
            vec![false, false, true, false, true],
        ),
    ] {
        let mut a = ca(ClusterAutoscalerOptions {
            scan_interval: secs(interval),
            ..Default::default()
        });
        let got: Vec<bool> = steps
            .iter()
            .map(|&t| a.step(secs(t), &c, &anywhere).is_some())
            .collect();
        assert_eq!(got, expected, "interval {interval}");
    }
}

#[test]
fn scale_up_bin_packs_largest_first_onto_new_nodes() {
    for (requests, nodes) in [
        // 12 × 1 GB on 8 GB: 8 + 4, two nodes.
        (vec![1; 12], 2),
        // 5 + 3 = 8 | 3 + 2 + 2 + 1 = 8: two nodes.
        (vec![1, 2, 2, 3, 3, 5], 2),
        // 5 | 5 | 5: three (5 + 5 = 10 > 8).
        (vec![5, 5, 5], 3),
        // 8 fills one node exactly.
        (vec![8], 1),
    ] {
        let pending = requests
            .iter()
            .enumerate()
            .map(|(i, gb)| pending(&format!("p{i:02}"), *gb))
            .collect();
        let (up, s) = first_scale_up(&cluster(vec![pool("pool", 10)], vec![], pending));
        assert_eq!(
            up,
            Some(("pool".to_string(), nodes, requests.len())),
            "{requests:?}"
        );
        assert!(s.cannot_help.is_empty());
    }
}

#[test]
fn which_pending_pods_ask_for_a_node() {
    let base = pending("p", 1);
    for (pod, counts) in [
        (base.clone(), true),
        // At the cutoff (−10) a pod is not expendable; below it is.
        (
            PendingPod {
                priority: -10,
                ..base.clone()
            },
            true,
        ),
        (
            PendingPod {
                priority: -11,
                ..base.clone()
            },
            false,
        ),
        // Waiting for a preemption.
        (
            PendingPod {
                nominated_node: Some("n".into()),
                ..base.clone()
            },
            false,
        ),
        // Not (yet) marked Unschedulable by the scheduler.
        (
            PendingPod {
                unschedulable: false,
                ..base.clone()
            },
            false,
        ),
        (
            PendingPod {
                terminating: true,
                ..base.clone()
            },
            false,
        ),
    ] {
        let (up, s) = first_scale_up(&cluster(vec![pool("pool", 10)], vec![], vec![pod.clone()]));
        assert_eq!(up.is_some(), counts, "{pod:?}");
        assert_eq!(s.unschedulable.len(), usize::from(counts), "{pod:?}");
    }
    // A cutoff of 0 makes −1 expendable.
    let mut a = ca(ClusterAutoscalerOptions {
        expendable_pods_priority_cutoff: 0,
        ..Default::default()
    });
    let c = cluster(
        vec![pool("pool", 10)],
        vec![],
        vec![PendingPod {
            priority: -1,
            ..base
        }],
    );
    assert!(a.step(secs(10), &c, &anywhere).unwrap().actions.is_empty());
}

#[test]
fn pods_that_fit_free_room_are_left_to_the_scheduler() {
    // A ready node with 6 of 8 GB used, and a provisioning one, empty.
    let busy = node("busy", Some("pool"), vec![replicated("a", 6)]);
    let coming = Node {
        state: NodeState::Provisioning {
            requested_at: secs(5),
        },
        ..node("coming", Some("pool"), vec![])
    };
    for (nodes, requests, new_nodes) in [
        // 2 GB fits the 8 − 6 = 2 GB left on "busy".
        (vec![busy.clone()], vec![2], None),
        // 3 GB does not: one new node.
        (vec![busy.clone()], vec![3], Some(1)),
        // 3 + 3 + 3 = 9 GB: 8 go to "coming"... first fit: 3, 3 on coming (6), 3 left → 1 node.
        (vec![busy.clone(), coming.clone()], vec![3, 3, 3], Some(1)),
        // 2 on busy, 3 + 3 on coming: nothing new.
        (vec![busy.clone(), coming.clone()], vec![2, 3, 3], None),
    ] {
        let pending = requests
            .iter()
            .enumerate()
            .map(|(i, gb)| pending(&format!("p{i}"), *gb))
            .collect();
        let (up, _) = first_scale_up(&cluster(vec![pool("pool", 10)], nodes, pending));
        assert_eq!(up.map(|u| u.1), new_nodes, "{requests:?}");
    }
    // A pod nominated to "busy" holds its 2 GB there: a 2 GB pod no longer fits.
    let nominated = PendingPod {
        nominated_node: Some("busy".into()),
        unschedulable: false,
        ..pending("n", 2)
    };
    let (up, _) = first_scale_up(&cluster(
        vec![pool("pool", 10)],
        vec![busy],
        vec![nominated, pending("p", 2)],
    ));
    assert_eq!(up.map(|u| u.1), Some(1));
}

#[test]
fn the_pool_helping_most_then_needing_fewest_nodes_wins() {
    let small = |name: &str, max| Pool {
        allocatable: Resources {
            memory: 4 * GB,
            ..machine()
        },
        ..pool(name, max)
    };
    let three = || {
        (0..3)
            .map(|i| pending(&format!("p{i}"), 3))
            .collect::<Vec<_>>()
    };
    for (pools, winner, nodes, helped) in [
        // small: 3 GB per 4 GB node, 3 nodes; big: 3 + 3 | 3, 2 nodes. Same help, big fewer.
        (vec![small("small", 10), pool("big", 10)], "big", 2, 3),
        // big can add 1 node (2 pods); small helps all 3.
        (vec![small("small", 10), pool("big", 1)], "small", 3, 3),
        // Two identical pools: the first.
        (vec![pool("a", 10), pool("b", 10)], "a", 2, 3),
    ] {
        let (up, _) = first_scale_up(&cluster(pools, vec![], three()));
        assert_eq!(up, Some((winner.to_string(), nodes, helped)));
    }
    // A pool the pods are not admitted to is not considered.
    let mut a = ca(ClusterAutoscalerOptions::default());
    let c = cluster(vec![pool("a", 10), pool("b", 10)], vec![], three());
    let only_b = |_: &str, p: Place<'_>| p != Place::Pool("a");
    let s = a.step(secs(10), &c, &only_b).unwrap();
    assert_eq!(scale_ups(&s), [("b".to_string(), 2, 3)]);
}

#[test]
fn max_size_limits_the_scale_up_and_the_rest_cannot_be_helped() {
    // Max 2, one full node: room for 1 more, 8 of the 12 pods; 9 GB fits no machine.
    let full = node("full", Some("pool"), vec![replicated("a", 8)]);
    let mut pods: Vec<PendingPod> = (0..12).map(|i| pending(&format!("p{i:02}"), 1)).collect();
    pods.push(pending("huge", 9));
    let (up, s) = first_scale_up(&cluster(vec![pool("pool", 2)], vec![full], pods));
    assert_eq!(up, Some(("pool".to_string(), 1, 8)));
    assert_eq!(
        s.cannot_help,
        ["huge", "p08", "p09", "p10", "p11"],
        "largest first, then by key"
    );
}

/// The candidate node "n" (pool "pool") with `pods`, and a non-autoscaled node "other" with
/// room for what moves; whether "n" is found unneeded at the first scan.
fn unneeded(options: ClusterAutoscalerOptions, pods: Vec<Pod>, other_free: bool) -> bool {
    let other = node(
        "other",
        None,
        if other_free {
            vec![]
        } else {
            vec![replicated("filler", 8)]
        },
    );
    let c = cluster(
        vec![pool("pool", 10)],
        vec![node("n", Some("pool"), pods), other],
        vec![],
    );
    let mut a = ca(options);
    let s = a.step(secs(10), &c, &anywhere).unwrap();
    s.unneeded.iter().any(|(n, _)| n == "n")
}

#[test]
fn utilization_below_the_threshold_makes_a_node_unneeded() {
    let d = ClusterAutoscalerOptions::default;
    let cpu = |key: &str, milli: u64, gb: u64| Pod {
        requests: Resources {
            cpu_milli: milli,
            memory: gb * GB,
            pods: 1,
        },
        ..replicated(key, 0)
    };
    let mb = |key: &str, mb: u64| Pod {
        requests: Resources {
            cpu_milli: 0,
            memory: mb * 1_000_000,
            pods: 1,
        },
        ..replicated(key, 0)
    };
    for (options, pods, expected, why) in [
        (d(), vec![mb("a", 3900)], true, "3.9 / 8 = 48.75 % < 50 %"),
        (
            d(),
            vec![replicated("a", 4)],
            false,
            "4 / 8 = 50 %, not below",
        ),
        (
            ClusterAutoscalerOptions {
                scale_down_utilization_threshold: 0.6,
                ..d()
            },
            vec![mb("a", 4500)],
            true,
            "4.5 / 8 = 56 % < 60 %",
        ),
        (
            d(),
            vec![cpu("a", 2100, 1)],
            false,
            "cpu 2100 / 4000 = 52.5 % > memory 12.5 %",
        ),
        (
            d(),
            vec![daemon("ds", 2), mb("a", 2500)],
            false,
            "DaemonSet pods count: (2 + 2.5) / 8 = 56 %",
        ),
        (
            ClusterAutoscalerOptions {
                ignore_daemonsets_utilization: true,
                ..d()
            },
            vec![daemon("ds", 2), mb("a", 2500)],
            true,
            "without the DaemonSet pod: 2.5 / 8 = 31 %",
        ),
        (
            d(),
            vec![Pod {
                mirror: true,
                ..replicated("m", 5)
            }],
            false,
            "mirror pods count: 5 / 8",
        ),
        (
            ClusterAutoscalerOptions {
                ignore_mirror_pods_utilization: true,
                ..d()
            },
            vec![Pod {
                mirror: true,
                ..replicated("m", 5)
            }],
            true,
            "without the mirror pod: 0 %",
        ),
        (
            d(),
            vec![
                Pod {
                    priority: -11,
                    ..replicated("x", 5)
                },
                replicated("a", 1),
            ],
            true,
            "expendable pods do not count: 1 / 8",
        ),
        (
            d(),
            vec![Pod {
                terminating: true,
                ..replicated("t", 5)
            }],
            true,
            "terminating pods do not count",
        ),
    ] {
        assert_eq!(unneeded(options, pods, true), expected, "{why}");
    }
}

#[test]
fn only_nodes_whose_pods_can_all_move_are_unneeded() {
    let d = ClusterAutoscalerOptions::default;
    let evict = |v| Some(v);
    for (options, pods, other_free, expected, why) in [
        (
            d(),
            vec![replicated("a", 1)],
            true,
            true,
            "a controller's pod moves to other",
        ),
        (
            d(),
            vec![replicated("a", 1)],
            false,
            false,
            "no room elsewhere",
        ),
        (
            d(),
            vec![bare("u", 1)],
            true,
            false,
            "a bare pod pins the node",
        ),
        (
            d(),
            vec![Pod {
                safe_to_evict: evict(true),
                ..bare("u", 1)
            }],
            true,
            true,
            "unless safe-to-evict: true",
        ),
        (
            ClusterAutoscalerOptions {
                bare_pods_block_scale_down: false,
                ..d()
            },
            vec![bare("u", 1)],
            true,
            true,
            "or bare pods are set not to block",
        ),
        (
            ClusterAutoscalerOptions {
                bare_pods_block_scale_down: false,
                ..d()
            },
            vec![Pod {
                safe_to_evict: evict(false),
                ..bare("u", 1)
            }],
            true,
            false,
            "safe-to-evict: false blocks anyway",
        ),
        (
            d(),
            vec![Pod {
                safe_to_evict: evict(false),
                ..replicated("a", 1)
            }],
            true,
            false,
            "safe-to-evict: false pins a controller's pod",
        ),
        (
            d(),
            vec![Pod {
                priority: -11,
                ..bare("x", 1)
            }],
            false,
            true,
            "an expendable bare pod dies with the node",
        ),
        (
            d(),
            vec![daemon("ds", 1)],
            false,
            true,
            "DaemonSet pods need no room",
        ),
        (
            d(),
            vec![Pod {
                terminating: true,
                ..bare("t", 1)
            }],
            false,
            true,
            "a terminating pod is already going",
        ),
    ] {
        assert_eq!(unneeded(options, pods, other_free), expected, "{why}");
    }
}

#[test]
fn a_destination_is_not_removed_and_min_size_is_kept() {
    // Three pool nodes, each 1 GB of a controller's pod: the first (by name) moves to the
    // second, which is then a destination; the third moves to... the second again
    // (1 + 1 + 1 = 3 GB). So a and c are unneeded, b is kept.
    let nodes = vec![
        node("a", Some("pool"), vec![replicated("pa", 1)]),
        node("b", Some("pool"), vec![replicated("pb", 1)]),
        node("c", Some("pool"), vec![replicated("pc", 1)]),
    ];
    let mut a = ca(ClusterAutoscalerOptions::default());
    let c = cluster(vec![pool("pool", 10)], nodes.clone(), vec![]);
    let s = a.step(secs(10), &c, &anywhere).unwrap();
    let names: Vec<&str> = s.unneeded.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["a", "c"]);
    // Min size 2 of 3: only one goes.
    let mut a = ca(ClusterAutoscalerOptions::default());
    let c = cluster(
        vec![Pool {
            min_size: 2,
            ..pool("pool", 10)
        }],
        nodes,
        vec![],
    );
    assert_eq!(a.step(secs(10), &c, &anywhere).unwrap().unneeded.len(), 1);
    // A node with a pod nominated to it is never unneeded.
    let mut a = ca(ClusterAutoscalerOptions::default());
    let c = cluster(
        vec![pool("pool", 10)],
        vec![node("e", Some("pool"), vec![])],
        vec![PendingPod {
            nominated_node: Some("e".into()),
            ..pending("n", 1)
        }],
    );
    assert!(a.step(secs(10), &c, &anywhere).unwrap().unneeded.is_empty());
}

/// When the empty node "e" goes, with `options`.
fn removal_time(options: ClusterAutoscalerOptions) -> Option<Duration> {
    let c = cluster(
        vec![pool("pool", 10)],
        vec![node("e", Some("pool"), vec![])],
        vec![],
    );
    let mut a = ca(options);
    scans(&mut a, &c, 3600)
        .into_iter()
        .find(|s| !removed(s).is_empty())
        .map(|s| s.time)
}

#[test]
fn a_node_goes_after_the_unneeded_time() {
    for (unneeded_time, at) in [
        // Unneeded from the first scan (10 s); 10 s + 600 s = 610 s.
        (600, 610),
        // 60 s: 10 + 60 = 70.
        (60, 70),
        // 0: at once.
        (0, 10),
    ] {
        let got = removal_time(ClusterAutoscalerOptions {
            scale_down_unneeded_time: secs(unneeded_time),
            ..Default::default()
        });
        assert_eq!(got, Some(secs(at)), "unneeded time {unneeded_time} s");
    }
}

#[test]
fn no_scale_down_within_the_delay_after_a_scale_up() {
    for (delay_after_add, at) in [
        // Scale-up at 10 s; unneeded since 10 s, ripe at 610 s, but the delay after add ends
        // at 10 + 600 = 610: removed at 610.
        (600, 610),
        // Delay 1200 s: 10 + 1200 = 1210.
        (1200, 1210),
    ] {
        let c = cluster(
            vec![pool("pool", 10)],
            vec![Node {
                allocatable: Resources {
                    memory: GB,
                    ..machine()
                },
                ..node("small", Some("pool"), vec![])
            }],
            // 4 GB does not fit the 1 GB node: a scale-up at every scan until it binds.
            vec![pending("big", 4)],
        );
        let mut a = ca(ClusterAutoscalerOptions {
            scale_down_delay_after_add: secs(delay_after_add),
            ..Default::default()
        });
        // One scan with the pod pending (the scale-up), then the pod is gone.
        let first = a.step(secs(10), &c, &anywhere).unwrap();
        assert_eq!(scale_ups(&first).len(), 1);
        let c = Snapshot {
            pending: vec![],
            ..c
        };
        let got = scans(&mut a, &c, 3600)
            .into_iter()
            .find(|s| !removed(s).is_empty())
            .map(|s| s.time);
        assert_eq!(got, Some(secs(at)), "delay after add {delay_after_add}");
    }
}

#[test]
fn non_empty_nodes_go_one_per_scan_and_the_delay_after_delete_spaces_them() {
    // Two pool nodes with a controller's 1 GB pod each and a free non-pool node, first in
    // order so that both pods would move there (were "a" first, b would be a's destination):
    // both unneeded from 10 s, ripe at 610 s; one per scan.
    let nodes = vec![
        node("other", None, vec![]),
        node("a", Some("pool"), vec![replicated("pa", 1)]),
        node("b", Some("pool"), vec![replicated("pb", 1)]),
    ];
    for (delay_after_delete, second) in [
        // Default: the scan interval; a at 610, b at the next scan, 620.
        (None, 620),
        // 60 s: b at 610 + 60 = 670.
        (Some(60), 670),
    ] {
        let mut a = ca(ClusterAutoscalerOptions {
            scale_down_delay_after_delete: delay_after_delete.map(secs),
            ..Default::default()
        });
        let mut c = cluster(vec![pool("pool", 10)], nodes.clone(), vec![]);
        let mut times = Vec::new();
        let mut t = a.next_step();
        while t <= secs(3600) && times.len() < 2 {
            if let Some(s) = a.step(t, &c, &anywhere) {
                for n in removed(&s) {
                    times.push((n.clone(), s.time));
                    c.nodes.retain(|x| x.name != n);
                }
            }
            t = a.next_step();
        }
        assert_eq!(
            times,
            [
                ("a".to_string(), secs(610)),
                ("b".to_string(), secs(second))
            ]
        );
    }
}

#[test]
fn a_failed_removal_pauses_scale_down() {
    for (delay_after_failure, at) in [
        // Failed at 10 s; the node is unneeded again from 20 s (unneeded time 0), but nothing
        // goes until 10 + 180 = 190.
        (180, 190),
        (60, 70),
    ] {
        let mut a = ca(ClusterAutoscalerOptions {
            scale_down_unneeded_time: Duration::ZERO,
            scale_down_delay_after_failure: secs(delay_after_failure),
            ..Default::default()
        });
        let c = cluster(
            vec![pool("pool", 10)],
            vec![node("e", Some("pool"), vec![])],
            vec![],
        );
        let first = a.step(secs(10), &c, &anywhere).unwrap();
        assert_eq!(removed(&first), ["e"]);
        a.removal_failed("e", secs(10));
        let got = scans(&mut a, &c, 3600)
            .into_iter()
            .find(|s| !removed(s).is_empty())
            .map(|s| s.time);
        assert_eq!(got, Some(secs(at)));
    }
}

#[test]
fn empty_nodes_go_in_bulk_up_to_the_limit() {
    // 12 empty nodes (a DaemonSet pod does not make a node non-empty), unneeded time 0.
    let nodes: Vec<Node> = (0..12)
        .map(|i| {
            node(
                &format!("e{i:02}"),
                Some("pool"),
                vec![daemon(&format!("ds{i}"), 0)],
            )
        })
        .collect();
    for (bulk, first, second) in [(10, 10, 2), (3, 3, 3), (20, 12, 0)] {
        let mut a = ca(ClusterAutoscalerOptions {
            scale_down_unneeded_time: Duration::ZERO,
            max_empty_bulk_delete: bulk,
            ..Default::default()
        });
        let mut c = cluster(vec![pool("pool", 20)], nodes.clone(), vec![]);
        let mut counts = Vec::new();
        for t in [10, 20] {
            let s = a.step(secs(t), &c, &anywhere).unwrap();
            let gone = removed(&s);
            // The DaemonSet pod is evicted with its node.
            assert!(
                s.actions
                    .iter()
                    .all(|x| matches!(x, Action::RemoveNode { evict, .. } if evict.len() == 1))
            );
            counts.push(gone.len());
            c.nodes.retain(|n| !gone.contains(&n.name));
        }
        assert_eq!(counts, [first, second], "bulk {bulk}");
    }
}

#[test]
fn a_node_that_never_registers_is_given_up_and_its_pool_backs_off() {
    let coming = Node {
        state: NodeState::Provisioning {
            requested_at: Duration::ZERO,
        },
        ..node("coming", Some("pool"), vec![])
    };
    for (max_provision, give_up_at) in [(900, 900), (300, 300)] {
        let mut a = ca(ClusterAutoscalerOptions {
            max_node_provision_time: secs(max_provision),
            ..Default::default()
        });
        // The pending pod fits the coming node: no scale-up while it is awaited.
        let c = cluster(
            vec![pool("pool", 10)],
            vec![coming.clone()],
            vec![pending("p", 1)],
        );
        let all = scans(&mut a, &c, give_up_at);
        assert!(all[..all.len() - 1].iter().all(|s| s.actions.is_empty()));
        let last = all.last().unwrap();
        assert_eq!(last.time, secs(give_up_at));
        assert!(
            matches!(&last.actions[..], [Action::GiveUp { node, waited, .. }]
            if node == "coming" && *waited == secs(give_up_at))
        );
        // The caller forgets the node; the pool is backed off 5 min: the next scale-up for
        // the pod comes at give-up + 300 s.
        let c = Snapshot { nodes: vec![], ..c };
        let next = scans(&mut a, &c, give_up_at + 3600)
            .into_iter()
            .find(|s| !scale_ups(s).is_empty())
            .map(|s| s.time);
        assert_eq!(next, Some(secs(give_up_at + 300)));
    }
}

#[test]
fn pool_backoff_doubles_up_to_the_max_and_resets() {
    let mut a = ca(ClusterAutoscalerOptions::default());
    let mut got = Vec::new();
    // Failures 1 minute apart: 5, 10, 20, 30 (capped), 30 minutes.
    for i in 0..5 {
        let now = secs(60 * i);
        a.back_off("pool", now);
        got.push(a.backoff["pool"].until.saturating_sub(now).as_secs() / 60);
    }
    assert_eq!(got, [5, 10, 20, 30, 30]);
    // 3 hours after the last failure: back to 5.
    let now = secs(240 + 3 * 3600);
    a.back_off("pool", now);
    assert_eq!(a.backoff["pool"].duration, secs(300));
}

#[test]
fn deleting_nodes_are_neither_room_nor_candidates() {
    let gone = Node {
        state: NodeState::Deleting,
        ..node("gone", Some("pool"), vec![])
    };
    let (up, s) = first_scale_up(&cluster(
        vec![pool("pool", 10)],
        vec![gone],
        vec![pending("p", 1)],
    ));
    assert_eq!(up.map(|u| u.1), Some(1));
    assert!(s.unneeded.is_empty());
}
