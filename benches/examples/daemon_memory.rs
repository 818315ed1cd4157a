//! Peak memory of the daemon (issue 4, "Benchmarks"): 5,000 nodes and
//! 100,000 pods in its cache; goal at most 150 MiB.
//!
//! Run:
//! ```sh
//! cargo build --release -p user-scheduler
//! cargo run --release -p benches --example daemon_memory [-- NODES PODS]
//! ```
//!
//! This process serves the sandbox API server in-process, seeded with the
//! synthetic cluster's `NODES` nodes and `PODS` of its bound pods (taken
//! evenly across the cluster; about 7 KiB of JSON each). The daemon runs as a
//! separate process, the release binary (`USER_SCHEDULER_BIN`, default
//! `target/release/user-scheduler`): `run --kubeconfig … --secure-port 0
//! --leader-elect=false`. Once it logs that its caches are synced and it is
//! scheduling, its `VmHWM` (peak resident set) and `VmRSS` are read from
//! `/proc/<pid>/status`; it then gets SIGTERM and must exit 0.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use sandbox::synthetic;
use sandbox::{Sandbox, SandboxOptions};
use serde_json::Value;

fn status_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("the field is there")
}

fn main() {
    let mut args = std::env::args().skip(1);
    let nodes: usize = args.next().map_or(5_000, |a| a.parse().expect("NODES"));
    let pods: usize = args.next().map_or(100_000, |a| a.parse().expect("PODS"));
    let bin = std::env::var_os("USER_SCHEDULER_BIN").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/release/user-scheduler"),
        PathBuf::from,
    );
    assert!(
        bin.exists(),
        "{} is missing: cargo build --release -p user-scheduler",
        bin.display()
    );

    let generated = Instant::now();
    let cluster = synthetic::cluster(benches::SEED, nodes);
    let total = cluster.pods.len();
    assert!(
        total >= pods,
        "{nodes} synthetic nodes carry only {total} pods"
    );
    let mut objects: Vec<Value> = cluster
        .nodes
        .iter()
        .map(|n| serde_json::to_value(n).expect("serialises"))
        .collect();
    objects.extend(
        (0..pods)
            .map(|j| serde_json::to_value(&cluster.pods[j * total / pods]).expect("serialises")),
    );
    drop(cluster);
    eprintln!(
        "generated {nodes} nodes and {pods} pods (of {total}) in {:.1} s",
        generated.elapsed().as_secs_f64()
    );

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let sb = rt.block_on(async {
        let mut opts = SandboxOptions::default();
        opts.namespaces.push(synthetic::NAMESPACE.into());
        Sandbox::start(opts).await.expect("the sandbox starts")
    });
    sb.seed_objects(objects).expect("seed");
    let dir = std::env::temp_dir().join(format!("daemon-memory-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let kubeconfig = dir.join("kubeconfig");
    std::fs::write(&kubeconfig, sb.kubeconfig_yaml()).expect("kubeconfig");

    let started = Instant::now();
    let mut child = Command::new(&bin)
        .args([
            "run",
            "--secure-port",
            "0",
            "--leader-elect=false",
            "--kubeconfig",
        ])
        .arg(&kubeconfig)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the daemon starts");
    let pid = child.id();
    let stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if line.contains("caches synced") {
                let _ = tx.send(());
            }
        }
    });
    rx.recv_timeout(Duration::from_secs(300))
        .expect("the daemon syncs its caches within 5 minutes");
    let synced = started.elapsed().as_secs_f64();
    // Let the first cycles and the gauges' refresh run.
    std::thread::sleep(Duration::from_secs(3));
    let hwm = status_kib(pid, "VmHWM:");
    let rss = status_kib(pid, "VmRSS:");

    let term = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .expect("kill runs");
    assert!(term.success());
    let code = child.wait().expect("the daemon exits");
    rt.block_on(sb.shutdown());
    let _ = std::fs::remove_dir_all(&dir);

    let mib = |kib: u64| kib as f64 / 1024.0;
    println!("daemon with {nodes} nodes and {pods} pods in its cache (synced in {synced:.1} s):");
    println!(
        "  peak RSS (VmHWM) {:.1} MiB, RSS after sync {:.1} MiB; goal <= 150 MiB",
        mib(hwm),
        mib(rss)
    );
    println!("  exit after SIGTERM: {code}");
    assert!(code.success(), "the daemon exits 0 on SIGTERM");
}
