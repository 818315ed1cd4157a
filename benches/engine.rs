//! The scheduling hot path: one decision (filter + score + select) for one
//! pending user pod over synthetic z2jh-like clusters of 100 to 10,000 nodes,
//! the memory-scan floor, and the incremental cache update.
//!
//! `nodes/N` is a cold decision: every node filtered and scored (a pod of a
//! shape the decision cache has not seen, or the cache off). `steady/N` is
//! the daemon's steady state with the decision cache: users of three
//! profiles arrive interleaved, each is assumed on its node, and a user
//! leaves for each who arrives, so every decision finds two changed nodes.
//!
//! Run: `cargo bench -p benches --bench engine`. Goals (issue 2): at 10,000
//! nodes at most 20 ns per node (200 µs per decision) and within 4x of
//! `scan_floor/10000`; a cache update at most 1 µs.

use std::hint::black_box;

use benches::{engine_cluster, pending_users};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use score::rng::SplitMix64;
use score::{Profile, Scratch, schedule};

fn schedule_one(c: &mut Criterion) {
    let mut group = c.benchmark_group("schedule_one");
    let profile = Profile::jupyterhub();
    let pods = pending_users(64);
    for nodes in [100usize, 1000, 5000, 10_000] {
        let cluster = engine_cluster(nodes);
        let mut scratch = Scratch::default();
        let mut rng = SplitMix64::new(1);
        let mut next = 0usize;
        group.throughput(Throughput::Elements(nodes as u64));
        group.bench_function(BenchmarkId::new("nodes", nodes), |b| {
            b.iter(|| {
                let pod = &pods[next % pods.len()];
                next += 1;
                black_box(schedule(
                    &cluster,
                    &profile,
                    pod,
                    &mut scratch,
                    Some(&mut rng),
                ))
            });
        });
        if nodes == 10_000 {
            group.bench_function(BenchmarkId::new("scan_floor", nodes), |b| {
                b.iter(|| black_box(cluster.scan_allocatable_cpu()));
            });
        }
    }
    group.finish();
}

fn steady(c: &mut Criterion) {
    let mut group = c.benchmark_group("schedule_one");
    let profile = Profile::jupyterhub();
    // Three profiles (shapes); 1,024 users cycling through them, at most 512
    // of them on the cluster at once.
    let shapes = pending_users(3);
    let users: Vec<_> = (0..1024)
        .map(|k| {
            let mut pod = shapes[k % shapes.len()].clone();
            pod.name = format!("steady-{k}");
            pod.uid = format!("uid-steady-{k}");
            pod
        })
        .collect();
    const RESIDENT: usize = 512;
    for nodes in [100usize, 1000, 5000, 10_000] {
        let mut cluster = engine_cluster(nodes);
        let names: Vec<String> = (0..cluster.node_count())
            .map(|i| cluster.node_name(i).to_string())
            .collect();
        let mut scratch = Scratch::with_decision_cache();
        let mut rng = SplitMix64::new(1);
        let mut next = 0usize;
        group.throughput(Throughput::Elements(nodes as u64));
        group.bench_function(BenchmarkId::new("steady", nodes), |b| {
            b.iter(|| {
                let pod = &users[next % users.len()];
                let leaving = &users[(next + users.len() - RESIDENT) % users.len()];
                next += 1;
                cluster.remove_pod(&leaving.uid);
                let decision = schedule(&cluster, &profile, pod, &mut scratch, Some(&mut rng));
                if let Some(i) = decision.selected {
                    cluster.add_pod(pod, &names[i]);
                }
                black_box(decision)
            });
        });
    }
    group.finish();
}

fn cache_update(c: &mut Criterion) {
    let mut group = c.benchmark_group("cache_update");
    let mut cluster = engine_cluster(1000);
    let pods = pending_users(256);
    let nodes: Vec<String> = (0..cluster.node_count())
        .map(|i| cluster.node_name(i).to_string())
        .collect();
    let mut next = 0usize;
    // One iteration adds a pod to a node and removes it again: two updates.
    group.throughput(Throughput::Elements(2));
    group.bench_function("add_remove_pod", |b| {
        b.iter(|| {
            let pod = &pods[next % pods.len()];
            let node = &nodes[next % nodes.len()];
            next += 1;
            cluster.add_pod(black_box(pod), node);
            black_box(cluster.remove_pod(&pod.uid))
        });
    });
    group.finish();
}

/// 5,000 user nodes each full with four placeholders (20,000 in all), and a
/// user that fits nowhere: the decision fails and preemption plans over every
/// node (each is a candidate with one victim, so every tie-breaker runs,
/// including the score ranking of all 5,000).
fn preemption(c: &mut Criterion) {
    use score::testing::{GI, node, pod};
    let mut group = c.benchmark_group("preemption");
    let mut cluster = score::Cluster::default();
    for i in 0..5000 {
        let name = format!("user-{i:04}");
        cluster.upsert_node(
            &node(&name)
                .capacity(16_000, 64 * GI)
                .label("hub.jupyter.org/node-purpose", "user")
                .build(),
        );
        for j in 0..4 {
            let mut p = pod(&format!("ph-{i}-{j}"))
                .placeholder()
                .mem(16 * GI)
                .build();
            p.start_time = i64::from(i * 4 + j);
            cluster.add_pod(&p, &name);
        }
    }
    let profile = Profile::jupyterhub();
    let user = pod("alice").user().mem(8 * GI).build();
    let requests = score::pod::pod_requests(&user);
    let mut scratch = Scratch::default();
    let decision = schedule(&cluster, &profile, &user, &mut scratch, None);
    assert!(decision.selected.is_none(), "the fixture leaves no room");
    group.throughput(Throughput::Elements(5000));
    group.bench_function(BenchmarkId::new("plan", 5000), |b| {
        b.iter(|| {
            black_box(score::preemption::plan(
                &cluster,
                &profile,
                &user,
                &requests,
                &scratch,
                &[],
            ))
        });
    });
    group.finish();
}

criterion_group!(benches, schedule_one, steady, cache_update, preemption);
criterion_main!(benches);
