//! A measured program for profilers (`perf record`, `valgrind --tool=callgrind`):
//! builds a synthetic cluster once, then makes `DECISIONS` decisions.
//!
//! `cargo run --release -p benches --example profile_schedule -- [nodes] [decisions]`

use std::hint::black_box;
use std::time::Instant;

use benches::{engine_cluster, pending_users};
use score::rng::SplitMix64;
use score::{Profile, Scratch, schedule};

fn main() {
    let mut args = std::env::args().skip(1).map(|a| a.parse::<usize>());
    let nodes = args.next().and_then(Result::ok).unwrap_or(10_000);
    let decisions = args.next().and_then(Result::ok).unwrap_or(2_000);
    let start = Instant::now();
    let cluster = engine_cluster(nodes);
    let pods = pending_users(64);
    eprintln!(
        "built {} nodes / {} pods in {:?}",
        cluster.node_count(),
        cluster.pod_count(),
        start.elapsed()
    );
    let profile = Profile::jupyterhub();
    let mut scratch = Scratch::default();
    let mut rng = SplitMix64::new(1);
    let start = Instant::now();
    for i in 0..decisions {
        black_box(schedule(
            &cluster,
            &profile,
            &pods[i % pods.len()],
            &mut scratch,
            Some(&mut rng),
        ));
    }
    let elapsed = start.elapsed();
    // What the last decision saw: how many nodes passed the filters and why
    // the others failed (the mix decides which paths of the loop are hot).
    let feasible = scratch.feasible().len();
    let rejected: Vec<String> = scratch
        .histogram()
        .iter()
        .map(|(reason, n)| format!("{reason:?}: {n}"))
        .collect();
    eprintln!("last decision: {feasible} feasible; rejected {rejected:?}");
    let per = elapsed / u32::try_from(decisions).unwrap_or(u32::MAX);
    eprintln!(
        "{decisions} decisions: {per:?} each, {:.1} ns per node",
        per.as_nanos() as f64 / nodes as f64
    );
}
