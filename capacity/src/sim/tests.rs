//! Small hubs whose outcome can be worked out by hand.

use super::*;
use crate::trace::{Session, Trace, TraceBuilder};

const GB: u64 = 1_000_000_000;

/// `n` users spawning `gap` seconds apart, each asking `memory` for `duration` seconds.
fn users(n: u32, gap: u32, memory: u64, duration: u32) -> Trace {
    let mut b = TraceBuilder::new();
    for i in 0..n {
        b.push(Session {
            start: i * gap,
            duration,
            cpu: None,
            memory: Some(memory),
            user: None,
            profile: None,
        });
    }
    b.finish()
}

fn ours() -> Policy {
    Policy {
        name: "ours".into(),
        profile: score::Profile::jupyterhub(),
    }
}

fn spread() -> Policy {
    Policy {
        name: "spread".into(),
        profile: score::Profile::kube_default("user-scheduler"),
    }
}

/// Two fixed user nodes (min = max = 2), no placeholders, no autoscaling
/// to speak of: only placement differs between policies.
fn two_fixed_nodes() -> SimOptions {
    let mut o = SimOptions::z2jh_default();
    o.pools.retain(|p| p.users);
    o.pools[0].min_size = 2;
    o.pools[0].max_size = 2;
    o.placeholders = 0;
    o
}

#[test]
fn packing_puts_two_users_on_one_node_and_spreading_on_two() {
    // Two users of 4 GB for 10 h each, a minute apart, on two 22 GiB nodes.
    // Packing: one node holds both for 10 h → 10 node-hours with 1–2 users
    // (the other node is empty). Spreading: LeastAllocated sends the second
    // user to the empty node → 2 × 10 = 20 node-hours with 1–2 users.
    let trace = users(2, 60, 4 * GB, 36_000);
    let packed = run(&trace, &two_fixed_nodes(), &ours(), 1);
    let spread = run(&trace, &two_fixed_nodes(), &spread(), 1);
    // The second user arrives at 60 s: the first has been alone for 1 min.
    let h = |s: f64| s / 3600.0;
    assert!(
        (packed.sparse_node_hours - h(36_060.0)).abs() < 1e-6,
        "{}",
        packed.sparse_node_hours
    );
    assert!(
        (spread.sparse_node_hours - h(72_000.0)).abs() < 1e-6,
        "{}",
        spread.sparse_node_hours
    );
    assert_eq!(packed.user_evictions + spread.user_evictions, 0);
}

#[test]
fn a_burst_scales_up_binds_everyone_and_scales_back_to_zero() {
    // 12 users of 5 GB at once. z2jh's node purpose is a preference: with
    // no user node yet, the first goes to the core node (6 GiB). A 22 GiB
    // (23.6 GB) user node holds 4 of the other 11: 3 nodes. They run for 1 h; the cluster autoscaler then removes the
    // empty nodes (10 min unneeded) and the pool returns to its minimum, 0.
    let mut options = SimOptions::z2jh_default();
    options.placeholders = 0;
    let trace = users(12, 0, 5 * GB, 3600);
    let stats = run(&trace, &options, &ours(), 7);
    assert_eq!(stats.wait_bound.len(), 12, "every user bound");
    assert_eq!(stats.never_started, 0);
    assert_eq!(stats.user_evictions, 0);
    assert_eq!(stats.nodes_added, 3);
    assert_eq!(stats.waited_for_node, 11, "all but the one on core waited");
    let last = stats.timeline.last().expect("samples");
    assert_eq!(last.nodes, vec![1, 0], "core stays; user nodes gone");
    // Node start is 180–300 s: nobody waited less or (much) more.
    assert_eq!(stats.wait_bound[0], 0.0, "the one on core");
    assert!(
        stats.wait_bound[1] >= 180.0 && stats.wait_bound[11] <= 320.0,
        "{:?}",
        stats.wait_bound
    );
}

#[test]
fn placeholders_are_preempted_for_users_and_come_back() {
    // One fixed node of 22 GiB, 4 placeholders of 5 GB (20 GB): a user of
    // 5 GB finds 3.6 GB free, preempts one placeholder, and the placeholder
    // comes back pending (no room: the pool is at its max).
    let mut options = two_fixed_nodes();
    options.pools[0].min_size = 1;
    options.pools[0].max_size = 1;
    options.placeholders = 4;
    options.placeholder_requests = (None, Some(5 * GB));
    let trace = users(1, 0, 5 * GB, 600);
    let stats = run(&trace, &options, &ours(), 3);
    assert_eq!(stats.preemptions, 1);
    assert_eq!(stats.user_evictions, 0);
    assert_eq!(stats.wait_bound.len(), 1);
    // Bound once the victim is gone (victim_grace = 1 s).
    assert!(
        stats.wait_bound[0] >= 1.0 && stats.wait_bound[0] < 2.0,
        "{:?}",
        stats.wait_bound
    );
}

#[test]
fn a_run_is_a_function_of_its_seed() {
    let trace = crate::trace::generate_campus(&crate::trace::CampusOptions {
        users: 200,
        days: 2,
        seed: 5,
        ..crate::trace::CampusOptions::default()
    })
    .expect("trace");
    let options = SimOptions::z2jh_default();
    let a = run(&trace, &options, &ours(), 11);
    let b = run(&trace, &options, &ours(), 11);
    assert_eq!(a, b);
    let c = run(&trace, &options, &ours(), 12);
    assert_ne!(
        a.wait_running, c.wait_running,
        "node start and pull times differ by seed"
    );
    assert_eq!(a.user_evictions, 0);
}
