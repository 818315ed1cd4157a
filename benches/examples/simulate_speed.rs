//! How fast the capacity simulator runs (issue 16: 30 simulated days of a
//! 1,000-user campus hub in under a minute on the 2-core machine).
//!
//! Run:
//! ```sh
//! cargo run --release -p benches --example simulate_speed [-- DAYS USERS]
//! ```
//!
//! Generates the campus trace, then times one run of each built-in policy
//! (user-scheduler, z2jh, spread) with the cluster autoscaler and prints the
//! wall time of each with its sessions, node-hours and scale-ups.

use std::time::Instant;

use capacity::sim::{SimOptions, run};
use capacity::trace::{CampusOptions, generate_campus};
use user_scheduler::simulate::policy;

fn main() {
    let mut args = std::env::args().skip(1);
    let days: u32 = args.next().map_or(30, |a| a.parse().expect("DAYS"));
    let users: u32 = args.next().map_or(1000, |a| a.parse().expect("USERS"));
    let started = Instant::now();
    let trace = generate_campus(&CampusOptions {
        users,
        days,
        seed: 1,
        ..CampusOptions::default()
    })
    .expect("the campus trace");
    println!(
        "campus trace: {days} days, {users} users, {} sessions, generated in {:.3} s",
        trace.len(),
        started.elapsed().as_secs_f64()
    );
    let options = SimOptions::z2jh_default();
    for name in ["user-scheduler", "z2jh", "spread"] {
        let policy = policy(name).expect("a built-in policy");
        let started = Instant::now();
        let stats = run(&trace, &options, &policy, 1);
        println!(
            "{name:<15} {:>6.1} s  {:>9.1} node-hours  {:>5} scale-ups  {} user evictions",
            started.elapsed().as_secs_f64(),
            stats.total_node_hours(),
            stats.scale_ups,
            stats.user_evictions
        );
    }
}
