//! kubectl against the served command (`sandbox::serve_until`, what `user-scheduler sandbox` runs),
//! and the same checks against the real kube-apiserver v1.37.2 (`controlplane`), so that a check
//! that passes only on the sandbox shows up as a fidelity difference.
//!
//! kubectl must be on PATH (or named by `KUBECTL`). Without it the test fails when `CI` is set
//! (CI installs Debian's `kubernetes-client`) and is skipped with a message otherwise.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use sandbox::{ServeOptions, serve_until};
use serde_json::{Value, json};

fn find_kubectl() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("KUBECTL") {
        return Some(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join("kubectl"))
        .find(|p| p.is_file())
}

struct Kubectl {
    bin: PathBuf,
    kubeconfig: PathBuf,
}

impl Kubectl {
    fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(&self.bin);
        c.env("KUBECONFIG", &self.kubeconfig)
            .env(
                "HOME",
                self.kubeconfig.parent().unwrap_or(Path::new("/tmp")),
            )
            .arg("--request-timeout=10s")
            .args(args)
            .stdin(Stdio::null());
        c
    }

    /// Runs kubectl with a 20 s limit; returns (success, stdout, stderr).
    fn run(&self, args: &[&str]) -> (bool, String, String) {
        let mut child = self
            .command(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("kubectl spawns");
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(_status) = child.try_wait().expect("wait") {
                let out = child.wait_with_output().expect("output");
                return (
                    out.status.success(),
                    String::from_utf8_lossy(&out.stdout).into_owned(),
                    String::from_utf8_lossy(&out.stderr).into_owned(),
                );
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("kubectl {args:?} did not finish in 20 s");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn ok(&self, args: &[&str]) -> String {
        let (ok, out, err) = self.run(args);
        assert!(ok, "kubectl {args:?} failed:\n{out}\n{err}");
        out
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_against_the_served_sandbox() {
    let Some(bin) = find_kubectl() else {
        if std::env::var_os("CI").is_some() {
            panic!(
                "kubectl is not installed but CI is set: install Debian's `kubernetes-client` package (or set KUBECTL)"
            );
        }
        eprintln!(
            "SKIPPED kubectl_against_the_served_sandbox: kubectl not found on PATH (set KUBECTL, or install kubernetes-client)"
        );
        return;
    };
    let dir = std::env::temp_dir().join(format!(
        "sandbox-kubectl-{}-{}",
        std::process::id(),
        Instant::now().elapsed().as_nanos()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let kubeconfig = dir.join("kubeconfig");
    let mut opts = ServeOptions::new("127.0.0.1:0".parse().unwrap(), &kubeconfig);
    opts.objects = vec![
        json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1"},
        "status": {"allocatable": {"cpu": "4", "memory": "16Gi", "pods": "110"}}}),
    ];
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve_until(opts, async move {
        let _ = stop_rx.await;
    }));
    let deadline = Instant::now() + Duration::from_secs(5);
    while !kubeconfig.exists() {
        assert!(Instant::now() < deadline, "kubeconfig not written");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let k = Kubectl {
        bin,
        kubeconfig: kubeconfig.clone(),
    };

    let checks = tokio::task::spawn_blocking(move || {
        checks(&k, &dir);
        // A difference (sandbox/README.md): kubectl 1.37.2 sends `create namespace` as
        // protobuf, which the sandbox cannot decode; it answers 415 and kubectl does not retry
        // as JSON. `kubectl create -f` with YAML works.
        let (ok, _, err) = k.run(&["create", "namespace", "kubectl-check"]);
        assert!(
            ok || err.contains("UnsupportedMediaType"),
            "either it works or the sandbox says why: {err}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    });
    let result = tokio::time::timeout(Duration::from_secs(120), checks).await;
    let _ = stop_tx.send(());
    server.await.unwrap().unwrap();
    result.expect("kubectl checks finish in time").unwrap();
}

/// The same checks against kube-apiserver v1.37.2, with the same kubectl. Skipped with a
/// message when kubectl or the control plane binaries are missing, unless `CI` is set.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_against_kube_apiserver() {
    use controlplane::{ControlPlane, ControlPlaneError, Options};
    use k8s_openapi::api::core::v1::Node;
    use kube::api::{Api, PostParams};
    let Some(bin) = find_kubectl() else {
        assert!(
            std::env::var_os("CI").is_none(),
            "kubectl is not installed but CI is set"
        );
        eprintln!("SKIPPED kubectl_against_kube_apiserver: kubectl not found on PATH");
        return;
    };
    let cp = match ControlPlane::start(Options::default()).await {
        Ok(cp) => cp,
        Err(ControlPlaneError::Unavailable(why)) if !controlplane::required() => {
            eprintln!("SKIPPED kubectl_against_kube_apiserver: {why}");
            return;
        }
        Err(e) => panic!("the control plane starts: {e}"),
    };
    let node: Node = serde_json::from_value(json!({"metadata": {"name": "n1"},
        "status": {"allocatable": {"cpu": "4", "memory": "16Gi", "pods": "110"}}}))
    .unwrap();
    Api::<Node>::all(cp.admin().await.unwrap())
        .create(&PostParams::default(), &node)
        .await
        .unwrap();
    let dir = cp.dir().join("kubectl-checks");
    std::fs::create_dir_all(&dir).unwrap();
    let k = Kubectl {
        bin,
        kubeconfig: cp.kubeconfig("admin"),
    };
    let checks = tokio::task::spawn_blocking(move || {
        checks(&k, &dir);
        assert!(
            k.ok(&["create", "namespace", "kubectl-check"])
                .contains("namespace/kubectl-check created")
        );
    });
    tokio::time::timeout(Duration::from_secs(120), checks)
        .await
        .expect("kubectl checks finish in time")
        .unwrap();
}

/// The checks, against a server with node `n1` whose kubeconfig `k` uses; `dir` is scratch.
fn checks(k: &Kubectl, dir: &Path) {
    assert!(k.ok(&["get", "nodes", "-o", "name"]).contains("node/n1"));
    assert!(k.ok(&["get", "no"]).contains("n1"));

    let manifest = dir.join("pod.yaml");
    std::fs::write(
        &manifest,
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p1\n  labels: {app: web}\nspec:\n  containers:\n  - name: c\n    image: busybox\n    resources:\n      requests: {cpu: 100m, memory: 128Mi}\n",
    )
    .unwrap();
    assert!(
        k.ok(&["create", "-f", manifest.to_str().unwrap()])
            .contains("pod/p1 created")
    );
    let (ok, _, err) = k.run(&["create", "-f", manifest.to_str().unwrap()]);
    assert!(!ok && err.contains("AlreadyExists"), "{err}");

    let pod: Value = serde_json::from_str(&k.ok(&["get", "pod", "p1", "-o", "json"])).unwrap();
    assert_eq!(pod["metadata"]["namespace"], "default");
    assert_eq!(pod["status"]["phase"], "Pending");
    assert!(pod["metadata"]["uid"].is_string());

    k.ok(&[
        "patch",
        "pod",
        "p1",
        "--type",
        "merge",
        "-p",
        r#"{"metadata":{"labels":{"tier":"front"}}}"#,
    ]);
    k.ok(&[
        "patch",
        "pod",
        "p1",
        "--type",
        "strategic",
        "-p",
        r#"{"spec":{"containers":[{"name":"c","image":"busybox:1.36"}]}}"#,
    ]);
    let pod: Value = serde_json::from_str(&k.ok(&["get", "po", "p1", "-o", "json"])).unwrap();
    assert_eq!(
        pod["metadata"]["labels"],
        json!({"app": "web", "tier": "front"})
    );
    assert_eq!(pod["spec"]["containers"][0]["image"], "busybox:1.36");
    assert_eq!(
        pod["spec"]["containers"][0]["resources"]["requests"]["cpu"], "100m",
        "strategic merge keeps the rest of the container"
    );

    // Server-side Table output: kubectl's usual columns.
    let wide = k.ok(&["get", "pods", "-o", "wide"]);
    assert!(
        wide.contains("NOMINATED NODE") && wide.contains("Pending"),
        "{wide}"
    );
    assert!(k.ok(&["get", "nodes"]).contains("STATUS"));

    // `get --watch` sees a change made while it runs.
    let mut watch = k
        .command(&[
            "get",
            "pods",
            "--watch",
            "-o",
            "jsonpath={.metadata.name}={.metadata.labels.tier}{\"\\n\"}",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("kubectl --watch spawns");
    let stdout = watch.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let first = rx
        .recv_timeout(Duration::from_secs(10))
        .expect("the watch lists p1 first");
    assert_eq!(first, "p1=front");
    k.ok(&["label", "pod", "p1", "tier=back", "--overwrite"]);
    let mut saw = false;
    let deadline = Instant::now() + Duration::from_secs(10);
    while let Ok(line) = rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
        if line == "p1=back" {
            saw = true;
            break;
        }
    }
    let _ = watch.kill();
    let _ = watch.wait();
    assert!(saw, "kubectl get --watch did not see the change");

    // Events: `get events` and `kubectl events --for`.
    let event = dir.join("event.yaml");
    std::fs::write(
        &event,
        "apiVersion: v1\nkind: Event\nmetadata: {name: p1.1}\ninvolvedObject: {apiVersion: v1, kind: Pod, name: p1, namespace: default}\nreason: Scheduled\nmessage: Successfully assigned default/p1 to n1\ntype: Normal\nsource: {component: user-scheduler}\nfirstTimestamp: '2026-01-01T00:00:00Z'\nlastTimestamp: '2026-01-01T00:00:00Z'\ncount: 1\n",
    )
    .unwrap();
    k.ok(&["create", "-f", event.to_str().unwrap()]);
    let events = k.ok(&["get", "events"]);
    assert!(
        events.contains("Scheduled") && events.contains("pod/p1"),
        "{events}"
    );
    // `kubectl events` exists from kubectl 1.26 (Debian's 1.20 has none).
    if k.run(&["events", "--help"]).0 {
        let for_pod = k.ok(&["events", "--for", "pod/p1"]);
        assert!(
            for_pod.contains("Successfully assigned default/p1 to n1"),
            "{for_pod}"
        );
    } else {
        eprintln!("this kubectl has no `kubectl events`: not checked");
    }

    assert!(
        k.ok(&["delete", "pod", "p1"])
            .contains("pod \"p1\" deleted")
    );
    let (ok, _, err) = k.run(&["get", "pod", "p1"]);
    assert!(!ok && err.contains("NotFound"), "{err}");
}
