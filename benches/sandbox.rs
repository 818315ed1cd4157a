//! Binding throughput of the in-memory API server (`sandbox`), the floor the end-to-end
//! scheduler benchmark is compared with.
//!
//! Each sample starts a sandbox, seeds N pending pods directly into the store (not timed), then
//! times one kube-rs client POSTing N `pods/binding` requests; with watchers, the time also
//! covers 3 kube-rs watches receiving every resulting MODIFIED event.
//!
//! Run: `cargo bench -p benches --bench sandbox`. Goal (issue 3): at least 5,000 bindings/s on a
//! 2-core machine. Throughput is reported in elements/s = bindings/s.

use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::{Binding, ObjectReference, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, PostParams, WatchEvent, WatchParams};
use kube::core::Status;
use sandbox::{Sandbox, SandboxOptions};
use serde_json::json;

fn pending_pod(i: u64) -> serde_json::Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": format!("jupyter-user-{i}"), "namespace": "jhub",
                     "labels": {"component": "singleuser-server", "app": "jupyterhub"}},
        "spec": {"schedulerName": "user-scheduler", "containers": [{"name": "notebook", "image": "jupyter/base-notebook",
                 "resources": {"requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"memory": "2Gi"}}}]},
        "status": {"phase": "Pending"}
    })
}

fn binding(i: u64) -> Binding {
    Binding {
        metadata: ObjectMeta {
            name: Some(format!("jupyter-user-{i}")),
            ..Default::default()
        },
        target: ObjectReference {
            api_version: Some("v1".into()),
            kind: Some("Node".into()),
            name: Some(format!("node-{}", i % 100)),
            ..Default::default()
        },
    }
}

/// Times `n` bindings with `in_flight` concurrent requests from one client and `watchers` watches.
async fn run(n: u64, in_flight: usize, watchers: usize) -> Duration {
    let sb = Sandbox::start(SandboxOptions {
        event_window: 2 * n as usize + 1000,
        ..Default::default()
    })
    .await
    .expect("sandbox starts");
    sb.seed_objects((0..n).map(pending_pod)).expect("seed");
    let rv = sb.resource_version().to_string();
    let mut watches = Vec::new();
    for _ in 0..watchers {
        let api: Api<Pod> = Api::all(sb.client());
        let stream = api
            .watch(&WatchParams::default().timeout(600), &rv)
            .await
            .expect("watch");
        watches.push(tokio::spawn(async move {
            let mut stream = Box::pin(stream);
            let mut seen = 0;
            while seen < n {
                match stream.try_next().await {
                    Ok(Some(WatchEvent::Modified(_))) => seen += 1,
                    Ok(Some(_)) => {}
                    other => panic!("watch ended early: {other:?}"),
                }
            }
        }));
    }
    let pods: Api<Pod> = Api::namespaced(sb.client(), "jhub");
    let start = Instant::now();
    futures::stream::iter(0..n)
        .map(|i| {
            let pods = pods.clone();
            async move {
                let st: Status = pods
                    .create_subresource(
                        "binding",
                        &format!("jupyter-user-{i}"),
                        &PostParams::default(),
                        &binding(i),
                    )
                    .await
                    .expect("binding succeeds");
                assert_eq!(st.code, 201);
            }
        })
        .buffer_unordered(in_flight)
        .collect::<()>()
        .await;
    for w in watches {
        w.await.expect("watcher saw every binding");
    }
    let elapsed = start.elapsed();
    sb.shutdown().await;
    elapsed
}

fn bindings(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let mut group = c.benchmark_group("sandbox_bindings");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(8))
        .warm_up_time(Duration::from_secs(2));
    group.throughput(Throughput::Elements(1));
    for (name, in_flight, watchers) in [
        ("sequential", 1, 0),
        ("concurrent16", 16, 0),
        ("concurrent16_3watchers", 16, 3),
    ] {
        group.bench_function(BenchmarkId::new("one_client", name), |b| {
            b.iter_custom(|iters| rt.block_on(run(iters.max(1), in_flight, watchers)))
        });
    }
    group.finish();
}

criterion_group!(benches, bindings);
criterion_main!(benches);
