//! The z2jh drop-in: the KubeSchedulerConfiguration the z2jh chart renders
//! with default values (fixture `z2jh-config.yaml`, release and namespace
//! `jhub`) loads, keeps z2jh's weights, and a decision on a small cluster
//! picks the node those weights say: node affinity first, then MostAllocated,
//! then image locality, each node's total being the weighted sum.
//!
//! And the `values.yaml` snippet of docs/deploy.md, the one operators copy:
//! merged into the chart's defaults as Helm merges values, rendered as the
//! chart's ConfigMap template renders them (the renderer is checked first
//! against the chart's own output), it loads as `deploy/config.yaml`'s
//! profile and packs a user next to real users, not next to placeholders.

use std::cmp::Ordering;
use std::path::{Path, PathBuf};

use score::profile::{ScorePlugin, ScoringStrategy};
use serde_yaml_ng::{Mapping, Value};
use user_scheduler::config;
use user_scheduler::explain::{ExplainInput, explain};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

#[test]
fn the_z2jh_config_loads_with_its_weights_and_lock() {
    let cfg = config::load(&fixture("z2jh-config.yaml")).expect("the z2jh config loads");
    assert_eq!(cfg.profiles.len(), 1);
    let p = &cfg.profiles[0];
    assert_eq!(p.scheduler_name, "jhub-user-scheduler");
    for (plugin, weight) in [
        (ScorePlugin::NodeAffinity, 14631),
        (ScorePlugin::InterPodAffinity, 1331),
        (ScorePlugin::NodeResourcesFit, 121),
        (ScorePlugin::ImageLocality, 11),
        // Left at kube's default weight by the chart.
        (ScorePlugin::TaintToleration, 3),
    ] {
        assert_eq!(p.score_weight(plugin), Some(weight), "{}", plugin.name());
    }
    assert_eq!(p.fit.strategy, ScoringStrategy::MostAllocated);
    let le = &cfg.leader_election;
    assert!(le.leader_elect);
    assert_eq!(le.resource_lock, "leases");
    assert_eq!(le.resource_name, "user-scheduler-lock");
    assert_eq!(le.resource_namespace, "jhub");
}

#[test]
fn the_z2jh_weights_pick_user_nodes_then_the_fullest_then_the_image() {
    let cfg = config::load(&fixture("z2jh-config.yaml")).unwrap();
    let profile = &cfg.profiles[0];
    let report = explain(&ExplainInput {
        cluster: fixture("z2jh-weights-cluster.yaml"),
        pod: fixture("z2jh-weights-pod.yaml"),
        config: Some(fixture("z2jh-config.yaml")),
    })
    .expect("explains");
    let e = report.explanation;
    assert_eq!(e.pod, "jhub/jupyter-carol");

    // Each feasible node's total is Σ weight × normalized score, with the
    // config's weights.
    let mut totals = Vec::new();
    for n in &e.nodes {
        assert!(n.feasible, "{}: {:?}", n.name, n.reasons);
        let mut sum = 0;
        for (plugin, score) in &n.scores {
            let weight = ScorePlugin::from_name(plugin)
                .and_then(|p| profile.score_weight(p))
                .unwrap_or_else(|| panic!("{plugin} is not weighted by the config"));
            sum += weight * score;
        }
        assert_eq!(n.total, Some(sum), "{}", n.name);
        totals.push((n.name.as_str(), sum));
    }
    let score_of = |node: &str, plugin: &str| {
        e.nodes
            .iter()
            .find(|n| n.name == node)
            .and_then(|n| n.scores.iter().find(|(p, _)| *p == plugin))
            .map(|(_, s)| *s)
            .unwrap()
    };
    // The core node is the fullest and has the image, but node affinity
    // (14631) outweighs everything after it.
    assert!(score_of("core-full", "NodeResourcesFit") > score_of("user-half", "NodeResourcesFit"));
    assert!(score_of("core-full", "ImageLocality") > 0);
    // user-quarter-image has the image and user-half has not; MostAllocated
    // (121) outweighs image locality (11) for this difference in fullness.
    assert!(
        score_of("user-quarter-image", "ImageLocality") > score_of("user-half", "ImageLocality")
    );

    totals.sort_by_key(|(_, t)| std::cmp::Reverse(*t));
    let order: Vec<_> = totals.iter().map(|(n, _)| *n).collect();
    assert_eq!(
        order,
        vec!["user-half", "user-quarter-image", "user-empty", "core-full"]
    );
    assert_eq!(e.selected.as_deref(), Some("user-half"));
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The YAML block between the z2jh-values markers of `file`: what operators
/// copy into their `values.yaml`.
fn snippet_in(file: &str) -> String {
    let docs = read(&repo().join(file));
    let begin = docs
        .find("<!-- z2jh-values:begin")
        .unwrap_or_else(|| panic!("{file} has no z2jh-values:begin marker"));
    let end = docs[begin..]
        .find("<!-- z2jh-values:end -->")
        .map(|i| begin + i)
        .unwrap_or_else(|| panic!("{file} has no z2jh-values:end marker"));
    let block = &docs[begin..end];
    let body = block
        .split_once("```yaml\n")
        .and_then(|(_, rest)| rest.rsplit_once("```"))
        .map(|(body, _)| body)
        .expect("one ```yaml block between the markers");
    body.to_string()
}

fn docs_snippet() -> String {
    snippet_in("docs/deploy.md")
}

/// Helm's merge of user values over a chart's defaults: maps merge key by
/// key, anything else (lists included) is replaced, and a null removes the
/// chart's key.
fn coalesce(defaults: &mut Value, user: &Value) {
    match (defaults, user) {
        (Value::Mapping(d), Value::Mapping(u)) => {
            for (k, uv) in u {
                if uv.is_null() {
                    d.remove(k);
                } else if let Some(dv) =
                    d.get_mut(k).filter(|dv| dv.is_mapping() && uv.is_mapping())
                {
                    coalesce(dv, uv);
                } else {
                    d.insert(k.clone(), uv.clone());
                }
            }
        }
        (d, u) => *d = u.clone(),
    }
}

/// go-yaml v2's order of map keys, which Helm's `toYaml` emits: rune by rune,
/// letters by code point, non-letters before letters, runs of digits by
/// their value. (go-yaml's special case for leading zeros is left out: no key
/// here has digits.)
fn go_yaml_key_order(a: &str, b: &str) -> Ordering {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    for i in 0..a.len().min(b.len()) {
        if a[i] == b[i] {
            continue;
        }
        let (al, bl) = (a[i].is_alphabetic(), b[i].is_alphabetic());
        if al && bl {
            return a[i].cmp(&b[i]);
        }
        if al || bl {
            return if bl {
                Ordering::Less
            } else {
                Ordering::Greater
            };
        }
        let digits = |s: &[char]| s[i..].iter().take_while(|c| c.is_ascii_digit()).count();
        let value = |s: &[char], n: usize| {
            s[i..i + n]
                .iter()
                .fold(0u128, |v, c| v * 10 + u128::from(c.to_digit(10).unwrap()))
        };
        let (an, bn) = (digits(&a), digits(&b));
        return value(&a, an)
            .cmp(&value(&b, bn))
            .then(an.cmp(&bn))
            .then(a[i].cmp(&b[i]));
    }
    a.len().cmp(&b.len())
}

/// A scalar as go-yaml v2 writes it: plain when it reads back as the same
/// string, else single-quoted. Covers the values of a scheduler profile
/// (names, label keys, numbers, booleans, `*`), not YAML's every corner.
fn go_yaml_scalar(v: &Value) -> String {
    match v {
        Value::Null => "null".to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => {
            let reads_as_other = matches!(
                s.to_ascii_lowercase().as_str(),
                "" | "~" | "null" | "true" | "false" | "yes" | "no" | "on" | "off" | "y" | "n"
            ) || s.parse::<f64>().is_ok();
            let indicator = s.starts_with(|c: char| "-?:,[]{}#&*!|>'\"%@` ".contains(c));
            let breaks = s.contains(": ") || s.contains(" #") || s.ends_with([' ', ':']);
            if reads_as_other || indicator || breaks || s.contains('\n') {
                format!("'{}'", s.replace('\'', "''"))
            } else {
                s.clone()
            }
        }
        other => panic!("not a scalar: {other:?}"),
    }
}

fn is_block(v: &Value) -> bool {
    match v {
        Value::Mapping(m) => !m.is_empty(),
        Value::Sequence(s) => !s.is_empty(),
        _ => false,
    }
}

/// Helm's `toYaml | nindent N` (minus the leading newline): go-yaml v2's
/// block style, keys sorted, a list under a key at the key's own
/// indentation, every line indented by `indent`.
fn to_yaml(v: &Value, indent: usize, out: &mut String) {
    let pad = " ".repeat(indent);
    match v {
        Value::Mapping(m) => {
            if m.is_empty() {
                out.push_str(&format!("{pad}{{}}\n"));
                return;
            }
            let mut entries: Vec<(&Value, &Value)> = m.iter().collect();
            entries.sort_by(|(a, _), (b, _)| {
                go_yaml_key_order(a.as_str().unwrap(), b.as_str().unwrap())
            });
            for (k, v) in entries {
                let key = go_yaml_scalar(k);
                match v {
                    Value::Mapping(_) if is_block(v) => {
                        out.push_str(&format!("{pad}{key}:\n"));
                        to_yaml(v, indent + 2, out);
                    }
                    Value::Sequence(_) if is_block(v) => {
                        out.push_str(&format!("{pad}{key}:\n"));
                        to_yaml(v, indent, out);
                    }
                    Value::Mapping(_) => out.push_str(&format!("{pad}{key}: {{}}\n")),
                    Value::Sequence(_) => out.push_str(&format!("{pad}{key}: []\n")),
                    _ => out.push_str(&format!("{pad}{key}: {}\n", go_yaml_scalar(v))),
                }
            }
        }
        Value::Sequence(items) => {
            if items.is_empty() {
                out.push_str(&format!("{pad}[]\n"));
                return;
            }
            for item in items {
                if is_block(item) {
                    // The item's first line goes after the dash.
                    let mut inner = String::new();
                    to_yaml(item, indent + 2, &mut inner);
                    out.push_str(&format!("{pad}- {}", &inner[indent + 2..]));
                } else {
                    out.push_str(&format!("{pad}- {}\n", go_yaml_scalar(item)));
                }
            }
        }
        Value::Tagged(t) => panic!("tagged value {t:?}"),
        scalar => out.push_str(&format!("{pad}{}\n", go_yaml_scalar(scalar))),
    }
}

/// What the chart's `templates/scheduling/user-scheduler/configmap.yaml`
/// puts under `data.config.yaml`, for `values` (already merged over the
/// defaults), release `release` in namespace `namespace`, with the default
/// blank `fullnameOverride` (names: `user-scheduler-lock`,
/// `<release>-user-scheduler`). The template indents `plugins` and
/// `pluginConfig` by 10 inside a block scalar indented by 4, hence 6 here;
/// `with` leaves out an empty or null value.
fn render_chart_config(values: &Value, release: &str, namespace: &str) -> String {
    assert_eq!(
        values["fullnameOverride"].as_str().unwrap_or(""),
        "",
        "the renderer knows the default names only"
    );
    let us = &values["scheduling"]["userScheduler"];
    assert_eq!(
        us["enabled"],
        Value::Bool(true),
        "the chart renders no config"
    );
    let mut out = format!(
        "apiVersion: kubescheduler.config.k8s.io/v1\n\
         kind: KubeSchedulerConfiguration\n\
         leaderElection:\n  \
           resourceLock: leases\n  \
           resourceName: user-scheduler-lock\n  \
           resourceNamespace: \"{namespace}\"\n\
         profiles:\n  \
           - schedulerName: {release}-user-scheduler\n"
    );
    for key in ["plugins", "pluginConfig"] {
        let v = &us[key];
        if is_block(v) || matches!(v, Value::Bool(true) | Value::Number(_) | Value::String(_)) {
            out.push_str(&format!("    {key}:\n"));
            to_yaml(v, 6, &mut out);
        }
    }
    out
}

fn chart_defaults() -> Value {
    serde_yaml_ng::from_str(&read(&fixture("z2jh-values.yaml"))).unwrap()
}

/// The chart's defaults with the docs' snippet merged over them.
fn values_with_docs_snippet() -> Value {
    let snippet: Value = serde_yaml_ng::from_str(&docs_snippet())
        .unwrap_or_else(|e| panic!("the docs' snippet is not YAML: {e}"));
    let mut values = chart_defaults();
    coalesce(&mut values, &snippet);
    values
}

#[test]
fn the_readme_shows_the_snippet_of_the_deploy_docs() {
    assert_eq!(snippet_in("README.md"), docs_snippet());
}

#[test]
fn the_renderer_reproduces_the_charts_config_from_the_charts_defaults() {
    // What proves the renderer: the chart's own output, byte for byte.
    assert_eq!(
        render_chart_config(&chart_defaults(), "jhub", "jhub"),
        read(&fixture("z2jh-config.yaml"))
    );
}

#[test]
fn the_renderer_orders_keys_and_quotes_as_go_yaml() {
    let v: Value =
        serde_yaml_ng::from_str("b: [1, '*']\nA: {x2: true, x10: 'yes', 'y': ''}\n_k: {}\nl: []\n")
            .unwrap();
    let mut out = String::new();
    to_yaml(&v, 0, &mut out);
    assert_eq!(
        out,
        "_k: {}\nA:\n  x2: true\n  x10: 'yes'\n  'y': ''\nb:\n- 1\n- '*'\nl: []\n"
    );
}

#[test]
fn helm_merges_the_snippet_maps_into_the_defaults_and_replaces_its_lists() {
    let values = values_with_docs_snippet();
    let us = &values["scheduling"]["userScheduler"];
    // Kept from the chart: a key the snippet does not set.
    assert_eq!(us["enabled"], Value::Bool(true));
    // Replaced: the chart's disabled list (NodeAffinity, ...) is gone.
    let disabled = us["plugins"]["score"]["disabled"].as_sequence().unwrap();
    assert_eq!(disabled.len(), 1, "{disabled:?}");
    assert_eq!(disabled[0]["name"], Value::from("*"));
    // The image: ours, at this version.
    assert!(
        us["image"]["name"]
            .as_str()
            .unwrap()
            .ends_with("/user-scheduler"),
        "{:?}",
        us["image"]
    );
    assert_eq!(us["image"]["tag"], Value::from(env!("CARGO_PKG_VERSION")));

    let mut defaults = Value::Mapping(Mapping::new());
    coalesce(
        &mut defaults,
        &serde_yaml_ng::from_str("a: {b: 1, c: [1, 2]}").unwrap(),
    );
    coalesce(
        &mut defaults,
        &serde_yaml_ng::from_str("a: {b: null, c: [3]}").unwrap(),
    );
    assert_eq!(
        defaults,
        serde_yaml_ng::from_str::<Value>("a: {c: [3]}").unwrap()
    );
}

#[test]
fn the_docs_snippet_renders_to_the_profile_of_deploy_config() {
    let rendered = render_chart_config(&values_with_docs_snippet(), "jhub", "jhub");
    let cfg = config::parse(&rendered, "rendered docs snippet")
        .unwrap_or_else(|e| panic!("{e}\n{rendered}"));
    assert!(cfg.warnings.is_empty(), "{:?}", cfg.warnings);
    assert_eq!(cfg.profiles.len(), 1);
    let ours = config::load(&repo().join("deploy/config.yaml")).unwrap();
    // Everything but the name pods use: the chart's `<release>-user-scheduler`.
    let mut profile = cfg.profiles[0].clone();
    assert_eq!(profile.scheduler_name, "jhub-user-scheduler");
    profile.scheduler_name = ours.profiles[0].scheduler_name.clone();
    assert_eq!(profile, ours.profiles[0], "\n{rendered}");
    for plugin in [ScorePlugin::NodePurpose, ScorePlugin::RealUserColocation] {
        assert!(profile.score_weight(plugin).is_some(), "{}", plugin.name());
    }
    // The chart's Lease, as before.
    assert_eq!(cfg.leader_election.resource_name, "user-scheduler-lock");
    assert_eq!(cfg.leader_election.resource_namespace, "jhub");
}

#[test]
fn with_the_docs_snippet_a_user_goes_next_to_real_users_not_placeholders() {
    let dir = std::env::temp_dir().join(format!("deploy-z2jh-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let rendered = dir.join("config.yaml");
    std::fs::write(
        &rendered,
        render_chart_config(&values_with_docs_snippet(), "jhub", "jhub"),
    )
    .unwrap();
    let run = |config: PathBuf| {
        explain(&ExplainInput {
            cluster: repo().join("examples/cluster.yaml"),
            pod: repo().join("examples/pods/user.yaml"),
            config: Some(config),
        })
        .expect("explains")
        .explanation
    };
    let total = |e: &score::Explanation, node: &str| {
        e.nodes
            .iter()
            .find(|n| n.name == node)
            .and_then(|n| n.total)
            .unwrap_or_else(|| panic!("{node} is not feasible: {e:?}"))
    };

    // user-1 runs real users, user-2 only placeholders (examples/cluster.yaml).
    let ours = run(rendered);
    std::fs::remove_dir_all(&dir).ok();
    assert_eq!(ours.selected.as_deref(), Some("user-1"), "{ours:?}");
    assert_eq!(ours.tied, vec!["user-1".to_string()], "{ours:?}");
    assert!(total(&ours, "user-1") > total(&ours, "user-2"));

    // The chart's own config does not tell them apart: the snippet is what
    // makes the difference.
    let charts = run(fixture("z2jh-config.yaml"));
    assert!(
        total(&charts, "user-2") >= total(&charts, "user-1"),
        "{charts:?}"
    );
}
