//! `deploy/grafana-dashboard.json`: every PromQL query names metrics the
//! daemon exports, with labels those metrics have. The exported set is not
//! written down here: it is read from what a fresh [`Metrics`] encodes (its
//! `# TYPE` lines and samples), so a renamed metric or label fails this test
//! until the dashboard follows.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;
use user_scheduler::daemon::metrics::{Metrics, QueueName};

/// Labels Prometheus itself puts on every scraped series (the target's), so
/// a query may use them although the daemon does not export them.
const TARGET_LABELS: &[&str] = &["instance", "job"];

/// PromQL words that are neither metrics nor labels.
const KEYWORDS: &[&str] = &[
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "and",
    "or",
    "unless",
    "bool",
    "offset",
];

/// Aggregation operators: functions, though `by (...)` may stand between
/// them and their parenthesis.
const AGGREGATIONS: &[&str] = &[
    "sum",
    "min",
    "max",
    "avg",
    "group",
    "stddev",
    "stdvar",
    "count",
    "count_values",
    "bottomk",
    "topk",
    "quantile",
];

fn dashboard() -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../deploy/grafana-dashboard.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every series name the daemon exposes (`_total`, `_bucket`, `_sum` and
/// `_count` included) with the label names of its samples.
fn exported() -> BTreeMap<String, BTreeSet<String>> {
    let m = Metrics::new(&["user-scheduler"]);
    // The two families whose label values are open have no series until
    // their first sample; give them one so that their labels show.
    m.count_incoming(QueueName::Active, "PodAdd", 1);
    m.observe_pod_scheduled(1, Duration::from_millis(20));
    let text = m.encode().unwrap();
    let mut series: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut families = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            families.push(rest.split(' ').next().unwrap().to_string());
            continue;
        }
        if line.starts_with('#') {
            continue;
        }
        let name_end = line.find(['{', ' ']).unwrap();
        let labels = series.entry(line[..name_end].to_string()).or_default();
        if line[name_end..].starts_with('{') {
            let body = &line[name_end + 1..line.find('}').unwrap()];
            for pair in body.split(',') {
                labels.insert(pair.split('=').next().unwrap().to_string());
            }
        }
    }
    // Every family has series, so no family's labels are missing.
    for family in &families {
        assert!(
            series.keys().any(|s| s.starts_with(family.as_str())),
            "{family} has no sample:\n{text}"
        );
    }
    assert!(families.len() > 10, "{families:?}");
    series
}

/// What one query uses: metric names, labels matched in `{...}` per metric,
/// and labels named by `by`, `without`, `on`, `ignoring`, `group_left`,
/// `group_right`. A small PromQL reader: strings and range selectors are
/// skipped, an identifier before `(` is a function.
#[derive(Debug, Default)]
struct Uses {
    metrics: BTreeSet<String>,
    matchers: Vec<(String, String)>,
    grouping: BTreeSet<String>,
}

fn uses(expr: &str) -> Uses {
    let chars: Vec<char> = expr.chars().collect();
    let mut out = Uses::default();
    let mut last_metric: Option<String> = None;
    let mut i = 0;
    let ident_start = |c: char| c.is_ascii_alphabetic() || c == '_' || c == ':';
    let ident_char = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == ':';
    let skip_ws = |mut j: usize| {
        while j < chars.len() && chars[j].is_whitespace() {
            j += 1;
        }
        j
    };
    let read_ident = |j: usize| {
        let mut k = j;
        while k < chars.len() && ident_char(chars[k]) {
            k += 1;
        }
        (chars[j..k].iter().collect::<String>(), k)
    };
    // A parenthesised list of label names starting at `j` (after a keyword).
    let read_labels = |j: usize, into: &mut BTreeSet<String>| {
        let mut k = skip_ws(j);
        assert_eq!(chars.get(k), Some(&'('), "a label list in {expr}");
        k += 1;
        while chars[k] != ')' {
            if ident_start(chars[k]) {
                let (name, next) = read_ident(k);
                into.insert(name);
                k = next;
            } else {
                k += 1;
            }
        }
        k + 1
    };
    while i < chars.len() {
        let c = chars[i];
        if c == '"' {
            i += 1;
            while chars[i] != '"' {
                i += if chars[i] == '\\' { 2 } else { 1 };
            }
            i += 1;
        } else if c == '[' {
            while chars[i] != ']' {
                i += 1;
            }
            i += 1;
        } else if c == '{' {
            let metric = last_metric
                .clone()
                .expect("a selector follows a metric name");
            i += 1;
            loop {
                i = skip_ws(i);
                if chars[i] == '}' {
                    i += 1;
                    break;
                }
                let (label, next) = read_ident(i);
                assert!(!label.is_empty(), "a label name in {expr}");
                out.matchers.push((metric.clone(), label));
                i = next;
                // The operator and the quoted value.
                while chars[i] != '"' {
                    i += 1;
                }
                i += 1;
                while chars[i] != '"' {
                    i += if chars[i] == '\\' { 2 } else { 1 };
                }
                i = skip_ws(i + 1);
                if chars[i] == ',' {
                    i += 1;
                }
            }
        } else if ident_start(c) && (i == 0 || !ident_char(chars[i - 1])) {
            let (word, next) = read_ident(i);
            let after = skip_ws(next);
            if [
                "by",
                "without",
                "on",
                "ignoring",
                "group_left",
                "group_right",
            ]
            .contains(&word.as_str())
                && chars.get(after) == Some(&'(')
            {
                i = read_labels(after, &mut out.grouping);
                continue;
            }
            i = next;
            if KEYWORDS.contains(&word.as_str())
                || AGGREGATIONS.contains(&word.as_str())
                || chars.get(after) == Some(&'(')
            {
                continue;
            }
            out.metrics.insert(word.clone());
            last_metric = Some(word);
        } else {
            i += 1;
        }
    }
    out
}

fn queries(d: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for panel in d["panels"].as_array().expect("panels") {
        let title = panel["title"].as_str().expect("a title").to_string();
        let targets = panel["targets"].as_array().expect("targets");
        assert!(!targets.is_empty(), "{title}: no query");
        for t in targets {
            out.push((title.clone(), t["expr"].as_str().expect("expr").to_string()));
        }
    }
    out
}

#[test]
fn every_query_names_exported_metrics_with_their_labels() {
    let exported = exported();
    let d = dashboard();
    let queries = queries(&d);
    assert!(queries.len() >= 7, "{queries:?}");
    for (title, expr) in &queries {
        let u = uses(expr);
        assert!(!u.metrics.is_empty(), "{title}: no metric in {expr}");
        for metric in &u.metrics {
            assert!(
                exported.contains_key(metric),
                "{title}: {metric} is not exported (query {expr})"
            );
        }
        let allowed = |metric: &str, label: &str| {
            TARGET_LABELS.contains(&label) || exported[metric].contains(label)
        };
        for (metric, label) in &u.matchers {
            assert!(
                allowed(metric, label),
                "{title}: {metric} has no label {label} (query {expr})"
            );
        }
        // A grouping label must belong to some metric of the query.
        for label in &u.grouping {
            assert!(
                u.metrics.iter().any(|m| allowed(m, label)),
                "{title}: no metric of the query has the label {label} (query {expr})"
            );
        }
    }
}

#[test]
fn the_dashboard_has_the_panels_operators_look_at() {
    let d = dashboard();
    assert_eq!(d["uid"], "user-scheduler");
    let queries = queries(&d);
    let metrics_of = |title: &str| {
        queries
            .iter()
            .filter(|(t, _)| t == title)
            .flat_map(|(_, e)| uses(e).metrics)
            .collect::<BTreeSet<_>>()
    };
    for (title, metric) in [
        (
            "Decisions by outcome and pod kind",
            "user_scheduler_decisions_total",
        ),
        (
            "Nodes with real users vs only placeholders",
            "user_scheduler_nodes_with_real_users",
        ),
        (
            "Nodes with real users vs only placeholders",
            "user_scheduler_nodes_with_only_placeholders",
        ),
        ("Pending pods by queue", "scheduler_pending_pods"),
        (
            "Scheduling attempt latency",
            "scheduler_scheduling_attempt_duration_seconds_bucket",
        ),
        (
            "Preemptions and victims",
            "scheduler_preemption_attempts_total",
        ),
        (
            "Preemptions and victims",
            "scheduler_preemption_victims_sum",
        ),
        ("Leader", "user_scheduler_leader"),
        ("Watch restarts", "user_scheduler_watch_restarts_total"),
    ] {
        assert!(
            metrics_of(title).contains(metric),
            "panel {title:?} does not query {metric}"
        );
    }
    // Panel ids are unique (Grafana keys panels by id).
    let ids: Vec<_> = d["panels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_u64().expect("an id"))
        .collect();
    assert_eq!(ids.iter().collect::<BTreeSet<_>>().len(), ids.len());
}

#[test]
fn the_query_reader_finds_metrics_matchers_and_grouping_labels() {
    let u =
        uses("sum by (le) (rate(a_bucket{x=\"1\", y=~\"b.*\"}[5m])) / on(instance) b == 1 and c");
    assert_eq!(
        u.metrics,
        ["a_bucket", "b", "c"]
            .map(String::from)
            .into_iter()
            .collect()
    );
    assert_eq!(
        u.matchers,
        vec![
            ("a_bucket".to_string(), "x".to_string()),
            ("a_bucket".to_string(), "y".to_string())
        ]
    );
    assert_eq!(
        u.grouping,
        ["instance", "le"].map(String::from).into_iter().collect()
    );
}
