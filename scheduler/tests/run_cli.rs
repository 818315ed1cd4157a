//! The `user-scheduler` binary as an operator runs it: a bad config exits 2
//! with one line; (with the `sandbox` feature) `sandbox` serves an API kubectl can use; `run` (under its
//! kube-scheduler name, as z2jh starts it) schedules against that sandbox and
//! exits 0 on SIGTERM.

use std::path::PathBuf;
use std::process::Command;
#[cfg(feature = "sandbox")]
use std::{
    path::Path,
    process::{Child, Stdio},
    time::{Duration, Instant},
};

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_user-scheduler")
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("user-scheduler-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Kills the child when dropped (a failing test leaves no process behind).
#[cfg(feature = "sandbox")]
struct Guard(Child);

#[cfg(feature = "sandbox")]
impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[cfg(feature = "sandbox")]
fn wait_for(what: &str, limit: Duration, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !ok() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[cfg(feature = "sandbox")]
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[cfg(feature = "sandbox")]
fn kubectl(kubeconfig: &Path, args: &[&str]) -> Option<std::process::Output> {
    Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(args)
        .output()
        .ok()
}

#[cfg(feature = "sandbox")]
fn kubectl_available() -> bool {
    let found = Command::new("kubectl")
        .arg("version")
        .arg("--client")
        .output()
        .is_ok();
    assert!(
        found || std::env::var_os("CI").is_none(),
        "kubectl is missing; .ci/run installs Debian's kubernetes-client"
    );
    found
}

#[test]
fn a_bad_config_exits_2_with_one_line_naming_the_field() {
    let dir = temp_dir("bad-config");
    let config = dir.join("config.yaml");
    std::fs::write(
        &config,
        "apiVersion: kubescheduler.config.k8s.io/v1\nkind: KubeSchedulerConfiguration\nleaderElektion: {}\n",
    )
    .unwrap();
    let out = Command::new(bin())
        .arg(format!("--config={}", config.display()))
        .arg("--authentication-skip-lookup=true")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "{err}");
    assert!(
        lines[0].contains("leaderElektion") && lines[0].contains("config.yaml"),
        "{err}"
    );
}

/// Runs the binary with `args`, expecting exit 2 and one line on stderr
/// containing every one of `words`.
fn exits_2_with_one_line(args: &[&str], words: &[&str]) {
    let out = Command::new(bin())
        // Nothing may be contacted: a kubeconfig that points nowhere.
        .env("KUBECONFIG", "/nonexistent")
        .args(args)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "{args:?}: {err}");
    for w in words {
        assert!(lines[0].contains(w), "{args:?}: {w:?} not in {err}");
    }
}

#[test]
fn bad_settings_exit_2_before_anything_starts() {
    let dir = temp_dir("bad-settings");
    let header = "apiVersion: kubescheduler.config.k8s.io/v1\nkind: KubeSchedulerConfiguration\n";
    let cases = [
        (
            // 1500ms is written to the Lease as 1s: client-go's elector
            // refuses it; before, `run` connected first and then exited 1.
            "lease.yaml",
            format!(
                "{header}leaderElection: {{leaseDuration: 1500ms, renewDeadline: 1200ms, retryPeriod: 100ms}}\n"
            ),
            vec!["lease.yaml", "leaderElection.leaseDuration"],
        ),
        (
            "nanos.yaml",
            format!(
                "{header}leaderElection: {{leaseDuration: 3ns, renewDeadline: 2ns, retryPeriod: 1ns}}\n"
            ),
            vec!["nanos.yaml", "leaderElection.leaseDuration"],
        ),
        (
            "no-bind.yaml",
            format!("{header}profiles:\n- plugins: {{bind: {{disabled: [{{name: '*'}}]}}}}\n"),
            vec!["no-bind.yaml", "plugins.bind"],
        ),
        (
            // 400 KB of brackets took six minutes to refuse.
            "nested.yaml",
            format!(
                "{header}profiles: {}{}",
                "[".repeat(200_000),
                "]".repeat(200_000)
            ),
            vec!["nested.yaml", "nested more than 1000 levels"],
        ),
    ];
    for (name, text, words) in cases {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        let config = format!("--config={}", path.display());
        exits_2_with_one_line(&[&config, "--leader-elect=true"], &words);
    }
}

#[cfg(feature = "sandbox")]
#[test]
fn demo_speeds_out_of_range_exit_2() {
    for speed in ["1e308", "1e20", "0.5", "NaN"] {
        exits_2_with_one_line(&["demo", "--speed", speed], &["--speed"]);
    }
}

#[test]
fn bad_authorization_flags_exit_2_before_connecting() {
    for (flag, named) in [
        (
            "--authorization-always-allow-paths=/healthz,/a*b",
            "only trailing * allowed in \"a*b\"",
        ),
        (
            "--client-ca-file=/nonexistent/ca.crt",
            "--client-ca-file /nonexistent/ca.crt",
        ),
    ] {
        let out = Command::new(bin())
            .args(["run", "--kubeconfig=/nonexistent/kubeconfig", flag])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{flag}");
        let err = String::from_utf8_lossy(&out.stderr);
        let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
        assert_eq!(lines.len(), 1, "{err}");
        assert!(lines[0].contains(named), "{err}");
    }
}

#[cfg(feature = "sandbox")]
#[test]
fn the_sandbox_command_serves_kubectl_and_the_daemon_schedules_on_it() {
    if !kubectl_available() {
        eprintln!("skipped: no kubectl");
        return;
    }
    let dir = temp_dir("sandbox-cli");
    let kubeconfig = dir.join("kubeconfig");
    let cluster = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples/cluster.yaml");
    let listen = format!("127.0.0.1:{}", free_port());
    let _sandbox = Guard(
        Command::new(bin())
            .args(["sandbox", "--listen", &listen, "--kubeconfig"])
            .arg(&kubeconfig)
            .arg("--cluster")
            .arg(&cluster)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_for("the kubeconfig", Duration::from_secs(20), || {
        kubeconfig.exists()
    });
    let nodes = kubectl(&kubeconfig, &["get", "nodes", "-o", "name"]).unwrap();
    let names = String::from_utf8_lossy(&nodes.stdout);
    assert!(
        names.contains("node/user-1") && names.contains("node/gpu-1"),
        "{names}"
    );

    // The daemon, started as the z2jh chart starts kube-scheduler (plus a
    // kubeconfig, and no admin port so tests can run in parallel), at the
    // default verbosity rather than the chart's 4: every decision has an
    // info line there.
    let link = dir.join("kube-scheduler");
    let _ = std::fs::remove_file(&link);
    std::os::unix::fs::symlink(bin(), &link).unwrap();
    let log = dir.join("daemon.log");
    let mut daemon = Guard(
        Command::new(&link)
            .arg("--authentication-skip-lookup=true")
            .arg("--v=2")
            .arg("--kubeconfig")
            .arg(&kubeconfig)
            .arg("--leader-elect=false")
            .arg("--secure-port=0")
            .env_remove("RUST_LOG")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap(),
    );
    // The example pods name the default profile's scheduler, which the
    // daemon runs without --config: they are created as they are.
    let pod = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples/pods/user.yaml");
    let created = kubectl(&kubeconfig, &["create", "-f", pod.to_str().unwrap()]).unwrap();
    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );
    wait_for("jupyter-dave bound", Duration::from_secs(30), || {
        kubectl(
            &kubeconfig,
            &[
                "get",
                "pod",
                "-n",
                "jhub",
                "jupyter-dave",
                "-o",
                "jsonpath={.spec.nodeName}",
            ],
        )
        .is_some_and(|o| String::from_utf8_lossy(&o.stdout) == "user-1")
    });
    // A pod that fits nowhere is logged too, with kube's reason.
    let big = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples/pods/too-big.yaml");
    let created = kubectl(&kubeconfig, &["create", "-f", big.to_str().unwrap()]).unwrap();
    assert!(created.status.success());
    let logged = || std::fs::read_to_string(&log).unwrap_or_default();
    wait_for(
        "the unschedulable pod's line",
        Duration::from_secs(30),
        || {
            logged()
                .lines()
                .any(|l| l.contains(" INFO ") && l.contains("unschedulable") && l.contains("0/"))
        },
    );
    let text = logged();
    assert!(
        text.lines().any(|l| l.contains(" INFO ")
            && l.contains("jhub/jupyter-dave")
            && l.contains("node=user-1")
            && l.contains("score=")
            && l.contains("outcome=bound_with_users")),
        "{text}"
    );
    // SIGTERM: a clean stop, exit 0.
    let pid = daemon.0.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = daemon.0.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "the daemon did not stop after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(status.code(), Some(0));
}

/// Without the `sandbox` feature (the image's build, `--no-default-features`)
/// the binary has no test world: `demo` and `sandbox` are unknown
/// subcommands, a usage error (exit 2), and the help lists neither.
#[cfg(not(feature = "sandbox"))]
#[test]
fn without_the_feature_demo_and_sandbox_are_usage_errors() {
    for command in ["demo", "sandbox"] {
        let out = Command::new(bin()).arg(command).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{command}: {err}");
        assert!(err.contains("unrecognized subcommand"), "{command}: {err}");
    }
    let help = Command::new(bin()).arg("--help").output().unwrap();
    let text = String::from_utf8_lossy(&help.stdout);
    assert!(text.contains("explain"), "{text}");
    assert!(
        !text.lines().any(|l| {
            let word = l.split_whitespace().next();
            word == Some("demo") || word == Some("sandbox")
        }),
        "{text}"
    );
}
