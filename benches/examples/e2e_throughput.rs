//! End-to-end scheduling throughput (issue 4, "Benchmarks"): 10,000 pending
//! pods on 1,000 nodes through the sandbox API server, compared in the same
//! run with the sandbox's raw binding throughput (no scheduling).
//!
//! Run: `cargo run --release -p benches --example e2e_throughput [-- NODES PODS]`.
//!
//! - **Scheduled**: a sandbox holds the synthetic cluster's 1,000 nodes (z2jh
//!   pools, labels, taints, images; without their bound pods, so that all
//!   10,000 pending users fit). The daemon (`daemon::run`, no leader
//!   election, 16 bindings in flight, its nine watches) starts and lists;
//!   once `/readyz` says it is ready the clock starts, the 10,000 synthetic
//!   pending user pods are stored at once (copies made before the clock
//!   starts), and two times are taken: when the daemon's client has seen
//!   10,000 bindings answered 201 ("all bound"), and when it has also seen
//!   its 10,000 `Scheduled` events (events.k8s.io/v1) answered 201 ("all
//!   bound and told"). The daemon writes those events from their own task,
//!   after the binding, so some may still be in flight when the last binding
//!   is answered; the second time covers every one of them and is the one
//!   the goal is judged on.
//! - **Raw**: a fresh sandbox with the same nodes and pods; one kube-rs client
//!   POSTs the 10,000 bindings, 16 in flight, as `benches/sandbox.rs` does;
//!   once without any watch and once with one pod watch that must see every
//!   binding (the daemon keeps one pod watch open).
//!
//! Goal: scheduled (all bound and told) ≥ 80 % of raw.
//!
//! `E2E_ONLY=scheduled` runs the daemon alone (for profiling it);
//! `BIND_CONCURRENCY=N` sets the daemon's bindings in flight.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::{Binding, Node, ObjectReference, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, PostParams, WatchEvent, WatchParams};
use sandbox::synthetic;
use sandbox::{Sandbox, SandboxOptions};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::sync::CancellationToken;
use user_scheduler::config::SchedulerConfig;
use user_scheduler::daemon::admin::{AdminOptions, ConnectionLimits};
use user_scheduler::daemon::auth::Access;
use user_scheduler::daemon::{self, DaemonOptions};

const SEED: u64 = benches::SEED;

/// Counts the `pods/binding` and `events` creations answered 201 that a
/// client receives.
#[derive(Clone)]
struct CountBindings<S> {
    inner: S,
    bound: Arc<AtomicUsize>,
    events: Arc<AtomicUsize>,
}

impl<S, B, R> tower::Service<http::Request<B>> for CountBindings<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<R>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    R: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = std::pin::Pin<
        Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send + 'static>,
    >;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        let post = req.method() == http::Method::POST;
        let path = req.uri().path();
        let counter = if post && path.ends_with("/binding") {
            Some(self.bound.clone())
        } else if post && path.ends_with("/events") {
            Some(self.events.clone())
        } else {
            None
        };
        let answer = self.inner.call(req);
        Box::pin(async move {
            let res = answer.await;
            if let Some(counter) = counter
                && res.as_ref().is_ok_and(|r| r.status().as_u16() == 201)
            {
                counter.fetch_add(1, Ordering::Relaxed);
            }
            res
        })
    }
}

/// A client counting (bindings, events) created.
fn counting_client(sb: &Sandbox) -> (kube::Client, Arc<AtomicUsize>, Arc<AtomicUsize>) {
    let bound = Arc::new(AtomicUsize::new(0));
    let events = Arc::new(AtomicUsize::new(0));
    let (b, e) = (bound.clone(), events.clone());
    let client = kube::client::ClientBuilder::try_from(sb.config())
        .expect("a client")
        .with_layer(&tower::layer::layer_fn(move |inner| CountBindings {
            inner,
            bound: b.clone(),
            events: e.clone(),
        }))
        .build();
    (client, bound, events)
}

async fn sandbox_with(nodes: &[Value], window: usize) -> Sandbox {
    let mut opts = SandboxOptions {
        event_window: window,
        ..SandboxOptions::default()
    };
    opts.namespaces.push(synthetic::NAMESPACE.into());
    let sb = Sandbox::start(opts).await.expect("the sandbox starts");
    sb.seed_objects(nodes.iter().cloned()).expect("seed nodes");
    sb
}

/// CPU seconds (user + system) the process has used so far, from
/// `/proc/self/stat` (NaN where there is none): with other work on the
/// machine, CPU per pod is steadier than wall time.
fn cpu_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return f64::NAN;
    };
    // Fields after the command name (which may hold spaces): utime and
    // stime are the 12th and 13th, in clock ticks (100 a second on Linux).
    let Some((_, rest)) = stat.rsplit_once(')') else {
        return f64::NAN;
    };
    let ticks: Vec<f64> = rest
        .split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|t| t.parse().ok())
        .collect();
    if ticks.len() == 2 {
        (ticks[0] + ticks[1]) / 100.0
    } else {
        f64::NAN
    }
}

async fn http_status(addr: SocketAddr, path: &str) -> Option<u16> {
    let mut s = tokio::net::TcpStream::connect(addr).await.ok()?;
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: l\r\nConnection: close\r\n\r\n").as_bytes())
        .await
        .ok()?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).await.ok()?;
    String::from_utf8_lossy(&raw)
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// What one scheduled run measured.
struct Scheduled {
    /// Seconds until every pod was bound (201).
    bound: f64,
    /// CPU seconds until then.
    bound_cpu: f64,
    /// `Scheduled` events written (201) when the last binding was answered.
    events_at_bound: usize,
    /// Seconds until every pod was bound and its `Scheduled` event written.
    told: f64,
    /// CPU seconds until then.
    told_cpu: f64,
    /// Seconds spent storing the pods (inside both windows).
    stored: f64,
}

/// Waits until `counter` reaches `n`, failing after 30 s without progress.
async fn wait_for(counter: &AtomicUsize, n: usize, what: &str, deadline: Instant) {
    let mut last = (counter.load(Ordering::Relaxed), Instant::now());
    while counter.load(Ordering::Relaxed) < n {
        let now = counter.load(Ordering::Relaxed);
        if now != last.0 {
            last = (now, Instant::now());
        }
        assert!(
            last.1.elapsed() < Duration::from_secs(30),
            "no progress for 30 s at {now} of {n} {what} (unschedulable pods?)"
        );
        assert!(Instant::now() < deadline, "all {what} within 10 minutes");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// The daemon scheduling `pods` on `nodes`.
async fn scheduled(nodes: &[Value], pods: &[Value]) -> Scheduled {
    let sb = sandbox_with(nodes, 4 * pods.len() + 10_000).await;
    let (client, bound, events) = counting_client(&sb);
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let mut opts = DaemonOptions::new(SchedulerConfig::default());
    opts.leader_elect = false;
    opts.seed = SEED;
    if let Some(n) = std::env::var("BIND_CONCURRENCY")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        opts.bind_concurrency = n;
    }
    opts.admin = Some(AdminOptions {
        addr: "127.0.0.1:0".parse().expect("an address"),
        tls: None,
        limits: ConnectionLimits::default(),
        access: Access::AllowAll,
    });
    opts.admin_bound = Some(tx);
    let stop = CancellationToken::new();
    let task = tokio::spawn(daemon::run(client, opts, stop.clone()));
    let admin = rx.recv().await.expect("the admin server listens");
    let ready_by = Instant::now() + Duration::from_secs(60);
    while http_status(admin, "/readyz").await != Some(200) {
        assert!(
            Instant::now() < ready_by,
            "the daemon is ready within a minute"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // The copies the sandbox takes are made before the clock starts, as the
    // raw runs' pods are stored before theirs.
    let copies = pods.to_vec();
    let cpu = cpu_seconds();
    let start = Instant::now();
    sb.seed_objects(copies).expect("seed pods");
    let stored = start.elapsed().as_secs_f64();
    let deadline = start + Duration::from_secs(600);
    wait_for(&bound, pods.len(), "bound", deadline).await;
    let bound_secs = start.elapsed().as_secs_f64();
    let bound_cpu = cpu_seconds() - cpu;
    let events_at_bound = events.load(Ordering::Relaxed);
    wait_for(&events, pods.len(), "Scheduled events", deadline).await;
    let told = start.elapsed().as_secs_f64();
    let told_cpu = cpu_seconds() - cpu;
    if std::env::var_os("E2E_ONLY").is_some() {
        // The timed window on CLOCK_MONOTONIC (Instant's Debug shows it), for
        // `perf record -k CLOCK_MONOTONIC` and `perf report --time`.
        eprintln!("timed window: {start:?} .. {:?}", Instant::now());
    }
    stop.cancel();
    task.await
        .expect("no panic")
        .expect("the daemon stops cleanly");
    let unbound = sb
        .list("pods")
        .iter()
        .filter(|p| p["spec"]["nodeName"].as_str().is_none())
        .count();
    assert_eq!(unbound, 0, "every pod bound");
    sb.shutdown().await;
    Scheduled {
        bound: bound_secs,
        bound_cpu,
        events_at_bound,
        told,
        told_cpu,
        stored,
    }
}

/// One client binding `pods` round-robin onto the nodes, 16 in flight, with
/// `watchers` pod watches that must see every binding: (seconds, CPU seconds).
async fn raw(nodes: &[Value], pods: &[Value], watchers: usize) -> (f64, f64) {
    let sb = sandbox_with(nodes, 4 * pods.len() + 10_000).await;
    sb.seed_objects(pods.iter().cloned()).expect("seed pods");
    let node_names: Vec<String> = nodes
        .iter()
        .map(|n| n["metadata"]["name"].as_str().expect("named").to_string())
        .collect();
    let rv = sb.resource_version().to_string();
    let n = pods.len();
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
    let api: Api<Pod> = Api::namespaced(sb.client(), synthetic::NAMESPACE);
    let names: Vec<String> = pods
        .iter()
        .map(|p| p["metadata"]["name"].as_str().expect("named").to_string())
        .collect();
    let cpu = cpu_seconds();
    let start = Instant::now();
    futures::stream::iter(names.iter().enumerate())
        .map(|(i, name)| {
            let api = api.clone();
            let binding = Binding {
                metadata: ObjectMeta {
                    name: Some(name.clone()),
                    ..ObjectMeta::default()
                },
                target: ObjectReference {
                    api_version: Some("v1".into()),
                    kind: Some("Node".into()),
                    name: Some(node_names[i % node_names.len()].clone()),
                    ..ObjectReference::default()
                },
            };
            async move {
                api.create_subresource::<_, kube::core::Status>(
                    "binding",
                    name,
                    &PostParams::default(),
                    &binding,
                )
                .await
                .expect("binding succeeds");
            }
        })
        .buffer_unordered(16)
        .collect::<()>()
        .await;
    for w in watches {
        w.await.expect("the watch saw every binding");
    }
    let elapsed = start.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu;
    sb.shutdown().await;
    (elapsed, cpu)
}

fn main() {
    let mut args = std::env::args().skip(1);
    let nodes: usize = args.next().map_or(1_000, |a| a.parse().expect("NODES"));
    let count: usize = args.next().map_or(10_000, |a| a.parse().expect("PODS"));
    let cluster = synthetic::cluster(SEED, nodes);
    let node_values: Vec<Value> = cluster
        .nodes
        .iter()
        .map(|n: &Node| serde_json::to_value(n).expect("a node serialises"))
        .collect();
    drop(cluster);
    let pod_values: Vec<Value> =
        synthetic::pending_user_pods(SEED, count, synthetic::USER_SCHEDULER)
            .iter()
            .map(|p| serde_json::to_value(p).expect("a pod serialises"))
            .collect();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    println!(
        "{count} pending pods on {nodes} nodes, {} CPUs",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    // E2E_ONLY=scheduled skips the raw runs (to profile the daemon alone).
    let only_scheduled = std::env::var("E2E_ONLY").is_ok_and(|v| v == "scheduled");
    let ((raw_plain, raw_plain_cpu), (raw_watched, raw_watched_cpu)) = if only_scheduled {
        ((f64::NAN, f64::NAN), (f64::NAN, f64::NAN))
    } else {
        (
            rt.block_on(raw(&node_values, &pod_values, 0)),
            rt.block_on(raw(&node_values, &pod_values, 1)),
        )
    };
    let s = rt.block_on(scheduled(&node_values, &pod_values));
    let rate = |secs: f64| count as f64 / secs;
    let per_pod = |cpu: f64| 1e6 * cpu / count as f64;
    println!(
        "raw bindings, 16 in flight, no watch:    {:>8.0} pods/s ({raw_plain:.2} s, {:.0} CPU µs/pod)",
        rate(raw_plain),
        per_pod(raw_plain_cpu)
    );
    println!(
        "raw bindings, 16 in flight, 1 pod watch: {:>8.0} pods/s ({raw_watched:.2} s, {:.0} CPU µs/pod)",
        rate(raw_watched),
        per_pod(raw_watched_cpu)
    );
    println!(
        "scheduled, until all bound:              {:>8.0} pods/s ({:.2} s, of which {:.2} s storing the pods; {:.0} CPU µs/pod; {} of {count} Scheduled events written by then)",
        rate(s.bound),
        s.bound,
        s.stored,
        per_pod(s.bound_cpu),
        s.events_at_bound,
    );
    println!(
        "scheduled, until all bound and told:     {:>8.0} pods/s ({:.2} s; {:.0} CPU µs/pod)",
        rate(s.told),
        s.told,
        per_pod(s.told_cpu)
    );
    if only_scheduled {
        return;
    }
    println!(
        "ratio (all bound and told): {:.0} % of raw (no watch), {:.0} % of raw with one pod watch; goal >= 80 %",
        100.0 * raw_plain / s.told,
        100.0 * raw_watched / s.told
    );
    println!(
        "ratio (all bound):          {:.0} % of raw (no watch), {:.0} % of raw with one pod watch",
        100.0 * raw_plain / s.bound,
        100.0 * raw_watched / s.bound
    );
}
