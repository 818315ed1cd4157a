//! `user-scheduler explain` as an operator runs it: the binary on the
//! committed examples.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn explain(pod: &str, extra: &[&str]) -> Output {
    let root = root();
    Command::new(env!("CARGO_BIN_EXE_user-scheduler"))
        .arg("explain")
        .arg("--cluster")
        .arg(root.join("examples/cluster.yaml"))
        .arg("--pod")
        .arg(root.join("examples/pods").join(pod))
        .args(extra)
        .output()
        .expect("the binary runs")
}

fn json(out: &Output) -> serde_json::Value {
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("stdout is JSON")
}

#[test]
fn a_user_pod_goes_next_to_the_real_users() {
    let v = json(&explain("user.yaml", &["--format", "json"]));
    assert_eq!(v["pod"], "jhub/jupyter-dave");
    assert_eq!(v["selected"], "user-1");
    assert_eq!(v["tied"], serde_json::json!(["user-1"]));
    assert_eq!(v["message"], serde_json::Value::Null);
    assert_eq!(v["preemption"], serde_json::Value::Null);
    let nodes = v["nodes"].as_array().unwrap();
    let names: Vec<&str> = nodes.iter().map(|n| n["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        ["core-1", "user-1", "user-2", "user-3", "user-4", "gpu-1"],
        "input order"
    );
    assert_eq!(nodes[0]["feasible"], false);
    assert_eq!(
        nodes[0]["reasons"],
        serde_json::json!(["node(s) had untolerated taint {hub.jupyter.org/dedicated: core}"])
    );
    assert_eq!(nodes[0]["total"], serde_json::Value::Null);
    // user-1 hosts two real users, user-2 two placeholders: same fill, but
    // only user-1 scores for real-user co-location.
    assert!(nodes[1]["scores"]["RealUserColocation"].as_i64().unwrap() > 0);
    assert_eq!(nodes[2]["scores"]["RealUserColocation"], 0);
    assert_eq!(
        nodes[1]["scores"]["NodeResourcesFit"],
        nodes[2]["scores"]["NodeResourcesFit"]
    );
}

#[test]
fn output_is_byte_for_byte_stable() {
    let a = explain("user.yaml", &["--format", "json"]);
    let b = explain("user.yaml", &["--format", "json"]);
    assert_eq!(a.stdout, b.stdout);
    // JSON is the default when stdout is not a terminal.
    assert_eq!(explain("user.yaml", &[]).stdout, a.stdout);
}

#[test]
fn a_pod_that_fits_nowhere_gets_kubes_message() {
    let v = json(&explain("too-big.yaml", &[]));
    assert_eq!(v["selected"], serde_json::Value::Null);
    assert_eq!(
        v["message"],
        "0/6 nodes are available: 1 node(s) had untolerated taint {hub.jupyter.org/dedicated: core}, \
         1 node(s) had untolerated taint {nvidia.com/gpu: present}, 4 Insufficient cpu, 4 Insufficient memory. \
         preemption: 0/6 nodes are available: 6 Preemption is not helpful for scheduling."
    );
}

#[test]
fn gpu_pods_go_to_the_gpu_node() {
    assert_eq!(json(&explain("gpu-user.yaml", &[]))["selected"], "gpu-1");
}

#[test]
fn the_z2jh_config_is_accepted() {
    let config = root().join("scheduler/tests/fixtures/z2jh-config.yaml");
    let v = json(&explain(
        "user.yaml",
        &["--config", config.to_str().unwrap()],
    ));
    // NodeAffinity (weight 14631) decides first: every user node matches the
    // pod's preferred node-purpose affinity.
    assert_eq!(v["nodes"][1]["scores"]["NodeAffinity"], 100);
    assert_eq!(v["selected"], "user-1");
    // Its warnings (PodTopologySpread's default constraints, which the
    // daemon cannot apply) name the file once.
    let out = explain("user.yaml", &["--config", config.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("PodTopologySpread"), "{err}");
    for line in err.lines() {
        assert_eq!(line.matches("z2jh-config.yaml").count(), 1, "{line}");
    }
}

/// `explain` with the z2jh chart's config, on files under
/// `scheduler/tests/fixtures`.
fn explain_fixture(cluster: &Path, pod: &str) -> Output {
    let fixtures = root().join("scheduler/tests/fixtures");
    Command::new(env!("CARGO_BIN_EXE_user-scheduler"))
        .arg("explain")
        .arg("--cluster")
        .arg(cluster)
        .arg("--pod")
        .arg(fixtures.join(pod))
        .arg("--config")
        .arg(fixtures.join("z2jh-config.yaml"))
        .args(["--format", "json"])
        .output()
        .expect("the binary runs")
}

#[test]
fn the_z2jh_config_spreads_placeholders_like_kube() {
    let cluster = root().join("scheduler/tests/fixtures/z2jh-spread-cluster.yaml");
    let out = explain_fixture(&cluster, "z2jh-spread-placeholder.yaml");
    let v = json(&out);
    let spread = |i: usize| v["nodes"][i]["scores"]["PodTopologySpread"].as_i64();
    // core-1 is tainted. The placeholder's StatefulSet selects 2, 1 and 0
    // placeholders on user-a, -b, -c; kube's system default on hostname
    // (maxSkew 3) over 3 feasible nodes weighs ln 5 = 1.61: raw round(2 ×
    // 1.61 + 2) = 5, round(3.61) = 4, 2 (the zone default reads no zone
    // label); normalized 100 × (5 + 2 − s) / 5 = 40, 60, 100.
    assert_eq!(v["nodes"][0]["feasible"], false);
    assert_eq!(
        [spread(1), spread(2), spread(3)],
        [Some(40), Some(60), Some(100)]
    );
    // Weight 2 in z2jh's profile; everything else ties (empty user nodes
    // but for 1G per placeholder: MostAllocated prefers user-a by a
    // point or two, 121 each, which outweighs 2 × 60).
    let total = |i: usize| v["nodes"][i]["total"].as_i64().unwrap();
    let fit = |i: usize| {
        v["nodes"][i]["scores"]["NodeResourcesFit"]
            .as_i64()
            .unwrap()
    };
    for i in 1..4 {
        assert_eq!(
            total(i) - 121 * fit(i) - 2 * spread(i).unwrap(),
            total(1) - 121 * fit(1) - 2 * spread(1).unwrap(),
            "only NodeResourcesFit and PodTopologySpread differ"
        );
    }
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("not implemented"), "{err}");
    // Without the StatefulSet in the cluster file, explain says why the
    // defaults select nothing, and no node gets a spread score.
    let text = std::fs::read_to_string(&cluster).unwrap();
    let start = text.find("- apiVersion: apps/v1").unwrap();
    let end = text.find("- apiVersion: v1\n  kind: Node").unwrap();
    let without = temp_file(
        "spread-without-sts.yaml",
        format!("{}{}", &text[..start], &text[end..]).as_bytes(),
    );
    let out = explain_fixture(&without, "z2jh-spread-placeholder.yaml");
    let v = json(&out);
    for i in 1..4 {
        assert_eq!(v["nodes"][i]["scores"]["PodTopologySpread"], 0);
    }
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("its controller StatefulSet jhub/user-placeholder is not in"),
        "{err}"
    );
}

#[test]
fn the_projects_own_config_explains_without_warnings() {
    let config = root().join("deploy/config.yaml");
    let out = explain("user.yaml", &["--config", config.to_str().unwrap()]);
    assert_eq!(json(&out)["selected"], "user-1");
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");
}

#[test]
fn bad_input_exits_2_naming_the_file_and_field() {
    let out = explain("bad-quantity.yaml", &[]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad-quantity.yaml"), "{err}");
    assert!(
        err.contains("spec.containers[0].resources.requests[cpu]"),
        "{err}"
    );
    assert!(err.contains("\"12x\""), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");

    let dir = std::env::temp_dir().join(format!("explain-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("config.yaml");
    std::fs::write(
        &config,
        "apiVersion: kubescheduler.config.k8s.io/v1\nkind: KubeSchedulerConfiguration\nprofiles:\n- schedulerName: x\n  plugins:\n    score:\n      enabled:\n      - name: NodeResourcesFitt\n",
    )
    .unwrap();
    let out = explain("user.yaml", &["--config", config.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("NodeResourcesFitt") && err.contains("config.yaml"),
        "{err}"
    );
    let missing = explain("no-such-pod.yaml", &[]);
    assert_eq!(missing.status.code(), Some(2));
}

#[test]
fn a_home_directory_in_another_zone_keeps_its_user_there() {
    let root = root();
    let out = Command::new(env!("CARGO_BIN_EXE_user-scheduler"))
        .arg("explain")
        .arg("--cluster")
        .arg(root.join("examples/volumes.yaml"))
        .arg("--pod")
        .arg(root.join("examples/pods/user-with-home.yaml"))
        .output()
        .unwrap();
    let v = json(&out);
    assert_eq!(v["selected"], "user-b");
    assert_eq!(
        v["nodes"][0]["reasons"],
        serde_json::json!(["node(s) had volume node affinity conflict"])
    );
}

#[test]
fn a_pod_with_resource_claims_is_explained_with_a_warning() {
    // explain still shows where the pod would fit, and says on stderr that
    // the daemon would report it instead of placing it.
    let user = std::fs::read_to_string(root().join("examples/pods/user.yaml")).unwrap();
    let with_claims = user.replace(
        "  containers:\n",
        "  resourceClaims:\n  - {name: gpu, resourceClaimTemplateName: one-gpu}\n  containers:\n",
    );
    assert_ne!(with_claims, user, "the example still has a containers list");
    let dir = std::env::temp_dir().join(format!("explain-claims-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("claims.yaml");
    std::fs::write(&file, with_claims).unwrap();
    let out = explain(file.to_str().unwrap(), &["--format", "json"]);
    assert_eq!(json(&out)["selected"], "user-1");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("the daemon would report this pod, not place it")
            && err.contains("spec.resourceClaims"),
        "{err}"
    );
}

/// A file in a fresh temporary directory of this test process.
fn temp_file(name: &str, text: &[u8]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("explain-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join(name);
    std::fs::write(&file, text).unwrap();
    file
}

#[test]
fn text_output_escapes_control_characters_in_names() {
    let user = std::fs::read_to_string(root().join("examples/pods/user.yaml")).unwrap();
    let evil = user.replacen("name: ", "name: \"clear-\\e[2J-\" #", 1);
    assert_ne!(evil, user);
    let pod = temp_file("evil.yaml", evil.as_bytes());
    let out = explain(pod.to_str().unwrap(), &["--format", "text"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(!text.contains('\u{1b}'), "{text:?}");
    assert!(text.contains("clear-\\u001b[2J-"), "{text}");
}

#[test]
fn files_may_start_with_a_byte_order_mark() {
    let user = std::fs::read(root().join("examples/pods/user.yaml")).unwrap();
    let cluster = std::fs::read(root().join("examples/cluster.yaml")).unwrap();
    let bom = |text: &[u8]| [&[0xEF, 0xBB, 0xBF][..], text].concat();
    let pod = temp_file("bom-pod.yaml", &bom(&user));
    let cluster = temp_file("bom-cluster.yaml", &bom(&cluster));
    let out = Command::new(env!("CARGO_BIN_EXE_user-scheduler"))
        .args(["explain", "--format", "json", "--cluster"])
        .arg(&cluster)
        .arg("--pod")
        .arg(&pod)
        .output()
        .unwrap();
    assert_eq!(json(&out)["selected"], "user-1");
}

#[test]
fn duplicate_objects_in_a_cluster_file_are_named_in_a_warning() {
    let cluster = std::fs::read_to_string(root().join("examples/cluster.yaml")).unwrap();
    let twice = temp_file(
        "twice.yaml",
        format!("{cluster}\n---\n{cluster}").as_bytes(),
    );
    let out = Command::new(env!("CARGO_BIN_EXE_user-scheduler"))
        .args(["explain", "--format", "json", "--cluster"])
        .arg(&twice)
        .arg("--pod")
        .arg(root().join("examples/pods/user.yaml"))
        .output()
        .unwrap();
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.lines().any(|l| l.contains("twice.yaml")
            && l.contains("Node user-1")
            && l.contains("document 1")
            && l.contains("replaces")),
        "{err}"
    );
}

#[test]
fn deeply_nested_yaml_is_refused_at_once() {
    // 200,000 nested brackets: refused by the depth bound before the parser
    // walks them (this took minutes). Exit 2 naming the file.
    let nested = format!("{}{}", "[".repeat(200_000), "]".repeat(200_000));
    let file = temp_file("nested.yaml", nested.as_bytes());
    for args in [
        vec!["--pod", file.to_str().unwrap()],
        vec!["--pod", "user.yaml", "--config", file.to_str().unwrap()],
    ] {
        let pod = args[1];
        let out = explain(pod, &args[2..]);
        assert_eq!(out.status.code(), Some(2));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("nested.yaml") && err.contains("nested"),
            "{err}"
        );
    }
    let cluster = Command::new(env!("CARGO_BIN_EXE_user-scheduler"))
        .args(["explain", "--cluster"])
        .arg(&file)
        .arg("--pod")
        .arg(root().join("examples/pods/user.yaml"))
        .output()
        .unwrap();
    assert_eq!(cluster.status.code(), Some(2));
}

#[test]
fn the_example_pods_name_the_default_profiles_scheduler() {
    // Created in a cluster (or the sandbox) next to the daemon without
    // --config, they are scheduled by it; another name would leave them
    // Pending with no event.
    let wanted = score::Profile::jupyterhub().scheduler_name;
    let dir = root().join("examples/pods");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        let names: Vec<&str> = text
            .lines()
            .filter_map(|l| l.trim().strip_prefix("schedulerName:"))
            .map(str::trim)
            .collect();
        assert_eq!(names, vec![wanted.as_str()], "{}", path.display());
        seen += 1;
    }
    assert!(seen >= 5, "{seen} example pods");
}
