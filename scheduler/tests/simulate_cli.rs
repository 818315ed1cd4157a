//! `user-scheduler simulate` from the outside: the JSON contract, the
//! picture, and bad input exiting 2 with the file, line and field.
#![cfg(feature = "simulate")]

use std::path::PathBuf;
use std::process::{Command, Output};

fn simulate(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_user-scheduler"))
        .arg("simulate")
        .args(args)
        .output()
        .expect("runs")
}

fn temp(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("simulate-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write");
    path
}

const TRACE: &str =
    "start,duration,cpu,memory,user\n0,3600,,1G,ada\n60,7200,500m,2G,bob\n120,1800,,1G,cy\n";

#[test]
fn json_has_the_documented_keys_and_no_user_is_evicted() {
    let trace = temp("ok.csv", TRACE);
    let plot = trace.with_file_name("nodes.svg");
    let out = simulate(&[
        "--trace",
        trace.to_str().expect("utf-8"),
        "--seeds",
        "2",
        "--format",
        "json",
        "--plot",
        plot.to_str().expect("utf-8"),
        "--compare",
        "user-scheduler",
        "spread",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(doc["users"], 3);
    assert!(doc["lower_bound_node_hours"].as_f64().expect("bound") > 0.0);
    let policies = doc["policies"].as_array().expect("policies");
    assert_eq!(policies.len(), 2);
    assert_eq!(policies[0]["config"], "user-scheduler");
    assert_eq!(policies[1]["config"], "spread");
    for p in policies {
        for key in [
            "node_hours",
            "wait_p50_seconds",
            "wait_p95_seconds",
            "wait_p99_seconds",
            "preemptions",
            "scale_ups",
            "scale_downs",
        ] {
            assert!(p[key].is_number(), "{key}: {p}");
        }
        assert_eq!(p["node_hours_ci95"].as_array().map(Vec::len), Some(2));
        assert_eq!(p["user_evictions"], 0);
    }
    let svg = std::fs::read_to_string(&plot).expect("plot written");
    assert!(svg.starts_with("<svg") && svg.contains("polyline") && svg.contains("spread"));
}

#[test]
fn a_malformed_trace_line_exits_2_naming_the_file_line_and_column() {
    let trace = temp(
        "bad.csv",
        "start,duration,cpu,memory\n0,3600,,1G\n10,-5,,1G\n",
    );
    let out = simulate(&["--trace", trace.to_str().expect("utf-8")]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.csv:3"), "{err}");
    assert!(err.contains("duration"), "{err}");
}

#[test]
fn a_pools_file_with_an_unknown_field_or_no_user_pool_exits_2() {
    let trace = temp("pools-trace.csv", TRACE);
    let pools = temp(
        "pools.yaml",
        "pools:\n- {name: user, cpu: '4', memory: 16Gi, max: 10, users: true, colour: blue}\n",
    );
    let out = simulate(&[
        "--trace",
        trace.to_str().expect("utf-8"),
        "--pools",
        pools.to_str().expect("utf-8"),
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("pools.yaml") && err.contains("colour"),
        "{err}"
    );
    let no_users = temp(
        "pools2.yaml",
        "pools:\n- {name: core, cpu: '2', memory: 8Gi, min: 1, max: 1}\n",
    );
    let out = simulate(&[
        "--trace",
        trace.to_str().expect("utf-8"),
        "--pools",
        no_users.to_str().expect("utf-8"),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("users: true"));
    let bad_quantity = temp(
        "pools3.yaml",
        "pools:\n- {name: user, cpu: 4x, memory: 16Gi, max: 3, users: true}\n",
    );
    let out = simulate(&[
        "--trace",
        trace.to_str().expect("utf-8"),
        "--pools",
        bad_quantity.to_str().expect("utf-8"),
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("pools[0] (user).cpu"), "{err}");
}

#[test]
fn an_unknown_policy_file_exits_2() {
    let trace = temp("policy-trace.csv", TRACE);
    let out = simulate(&[
        "--trace",
        trace.to_str().expect("utf-8"),
        "--compare",
        "/nonexistent/config.yaml",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/config.yaml"));
}
