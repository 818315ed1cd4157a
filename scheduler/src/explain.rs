//! `user-scheduler explain`: where would this pod go, and why.
//!
//! Reads a cluster file (what `kubectl get nodes,pods,... -o yaml` prints), a
//! pod file and optionally the daemon's config file, runs one decision on the
//! engine and prints it as JSON (the contract in README.md) or as a table.
//! Same input, same output, byte for byte: ties go to the first node in file
//! order and nothing depends on time.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::path::PathBuf;

use serde::Serialize;
use serde::ser::SerializeMap;

use crate::{cluster_file, config, convert};

/// Output format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Machine-readable JSON.
    Json,
    /// A readable table.
    Text,
}

/// Errors of `explain`: each names the file and, where it can, the field.
#[derive(Debug, thiserror::Error)]
pub enum ExplainError {
    /// The cluster or pod file.
    #[error(transparent)]
    ClusterFile(#[from] cluster_file::ClusterFileError),
    /// The config file.
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    /// The pod (or a PodDisruptionBudget of the cluster file) does not convert.
    #[error("{file}: {source}")]
    Pod {
        /// The pod file.
        file: String,
        /// What is wrong.
        #[source]
        source: Box<convert::ConvertError>,
    },
    /// The config file has no profile.
    #[error("{0}: the configuration has no profile")]
    NoProfile(String),
}

/// The inputs of one explanation.
#[derive(Clone, Debug)]
pub struct ExplainInput {
    /// Cluster file.
    pub cluster: PathBuf,
    /// Pod file.
    pub pod: PathBuf,
    /// Scheduler config file; the default JupyterHub profile when absent.
    pub config: Option<PathBuf>,
}

/// The result, ready to print.
#[derive(Clone, Debug)]
pub struct Report {
    /// The engine's explanation.
    pub explanation: score::Explanation,
    /// Warnings to show on stderr (skipped kinds, ignored config fields, ...).
    pub warnings: Vec<String>,
}

/// Loads the inputs and explains the decision.
///
/// # Errors
/// An unreadable or invalid file, with the file and field named.
pub fn explain(input: &ExplainInput) -> Result<Report, ExplainError> {
    let mut warnings = Vec::new();
    let (profile, roles) = match &input.config {
        Some(path) => {
            let cfg = config::load(path)?;
            // Each warning already starts with the file.
            warnings.extend(cfg.warnings.iter().cloned());
            let roles = crate::config::roles(&cfg);
            let first = cfg
                .profiles
                .into_iter()
                .next()
                .ok_or_else(|| ExplainError::NoProfile(path.display().to_string()))?;
            (first, roles)
        }
        None => (
            score::Profile::jupyterhub(),
            score::RoleSelectors::default(),
        ),
    };
    let file = cluster_file::load(&input.cluster)?;
    warnings.extend(file.warnings.iter().cloned());
    let (cluster, build_warnings) = cluster_file::build_cluster(&file, &roles)?;
    warnings.extend(build_warnings);
    let pod = cluster_file::load_pod(&input.pod)?;
    let mut spec = convert::pod_spec(&pod).map_err(|source| ExplainError::Pod {
        file: input.pod.display().to_string(),
        source: Box::new(source),
    })?;
    // The selector of PodTopologySpread's default constraints, from the
    // Services and the controller in the cluster file (the daemon, which
    // does not watch them, has none).
    let (selector, missing) =
        convert::default_spread_selector(&pod, &file.owners).map_err(|source| {
            ExplainError::Pod {
                file: input.cluster.display().to_string(),
                source: Box::new(source),
            }
        })?;
    spec.default_spread_selector = selector;
    let spread_filter = profile.filter_enabled(score::profile::FilterPlugin::PodTopologySpread);
    let spread_score = profile
        .score_weight(score::profile::ScorePlugin::PodTopologySpread)
        .is_some();
    let defaults_act = profile
        .spread
        .defaults()
        .iter()
        .any(|c| match c.when_unsatisfiable {
            score::model::WhenUnsatisfiable::DoNotSchedule => spread_filter,
            score::model::WhenUnsatisfiable::ScheduleAnyway => spread_score,
        });
    if let Some(owner) = missing
        && defaults_act
        && spec.topology_spread.is_empty()
    {
        warnings.push(format!(
            "{}: its controller {owner} is not in {}: PodTopologySpread's default \
             constraints select pods without its selector (kube-scheduler would use it)",
            input.pod.display(),
            input.cluster.display()
        ));
    }
    if let Err(e) = convert::check_schedulable(&pod) {
        warnings.push(format!(
            "{}: the daemon would report this pod, not place it: {e}",
            input.pod.display()
        ));
    }
    let pdbs = file
        .pdbs
        .iter()
        .map(|p| {
            convert::pdb(p).map_err(|source| ExplainError::Pod {
                file: input.cluster.display().to_string(),
                source: Box::new(source),
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    // Pods nominated by preemption hold their room, as in the daemon; the
    // pod's own nomination (from its file when the cluster file lacks it)
    // makes its nominated node the first choice.
    let (mut nominated, nomination_warnings) = cluster_file::nominations(&file, &cluster);
    warnings.extend(nomination_warnings);
    if !nominated.iter().any(|n| n.uid == spec.uid)
        && let Some(own) = cluster_file::nomination(
            &pod,
            &cluster,
            &input.pod.display().to_string(),
            &mut warnings,
        )
    {
        nominated.push(own);
    }
    Ok(Report {
        explanation: score::explain_with(&cluster, &profile, &spec, &nominated, &pdbs),
        warnings,
    })
}

struct Scores<'a>(&'a [(&'static str, i64)]);

impl Serialize for Scores<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (name, score) in self.0 {
            map.serialize_entry(name, score)?;
        }
        map.end()
    }
}

#[derive(Serialize)]
struct JsonNode<'a> {
    name: &'a str,
    feasible: bool,
    reasons: &'a [String],
    scores: Scores<'a>,
    total: Option<i64>,
}

#[derive(Serialize)]
struct JsonPreemption<'a> {
    node: &'a str,
    victims: &'a [String],
}

#[derive(Serialize)]
struct JsonReport<'a> {
    pod: &'a str,
    nodes: Vec<JsonNode<'a>>,
    outcome: &'static str,
    selected: Option<&'a str>,
    tied: &'a [String],
    nominated: Option<&'a str>,
    message: Option<&'a str>,
    preemption: Option<JsonPreemption<'a>>,
}

/// The JSON document of the contract (keys in the documented order).
#[must_use]
pub fn to_json(e: &score::Explanation) -> String {
    let report = JsonReport {
        pod: &e.pod,
        nodes: e
            .nodes
            .iter()
            .map(|n| JsonNode {
                name: &n.name,
                feasible: n.feasible,
                reasons: &n.reasons,
                scores: Scores(&n.scores),
                total: n.total,
            })
            .collect(),
        outcome: e.outcome.as_str(),
        selected: e.selected.as_deref(),
        tied: &e.tied,
        nominated: e.nominated.as_deref(),
        message: e.message.as_deref(),
        preemption: e.preemption.as_ref().map(|p| JsonPreemption {
            node: &p.node,
            victims: &p.victims,
        }),
    };
    let mut out = serde_json::to_string_pretty(&report).unwrap_or_default();
    out.push('\n');
    out
}

/// `text` safe for a terminal: control characters (an escape sequence in a
/// pod's name could clear the screen or forge output) are written as JSON
/// writes them (`\u001b`, `\n`, ...); everything else is kept.
#[must_use]
pub fn printable(text: &str) -> Cow<'_, str> {
    if !text.chars().any(char::is_control) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// A readable table. Every name and reason from the input goes through
/// [`printable`].
#[must_use]
pub fn to_text(e: &score::Explanation) -> String {
    let mut plugins: Vec<&str> = Vec::new();
    for n in &e.nodes {
        for (p, _) in &n.scores {
            if !plugins.contains(p) {
                plugins.push(p);
            }
        }
    }
    let names: Vec<Cow<'_, str>> = e.nodes.iter().map(|n| printable(&n.name)).collect();
    let width = names
        .iter()
        .map(|n| n.chars().count())
        .max()
        .unwrap_or(4)
        .max(4);
    let list = |items: &[String]| {
        items
            .iter()
            .map(|i| printable(i))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut out = String::new();
    let _ = writeln!(out, "pod {}", printable(&e.pod));
    let _ = write!(out, "{:<width$}  {:>12}", "NODE", "TOTAL");
    for p in &plugins {
        let _ = write!(out, "  {:>w$}", p, w = p.len());
    }
    out.push('\n');
    for (n, name) in e.nodes.iter().zip(&names) {
        let mark = if e.selected.as_deref() == Some(n.name.as_str()) {
            "*"
        } else {
            " "
        };
        match n.total {
            Some(total) => {
                let _ = write!(out, "{name:<width$}  {total:>12}");
                for p in &plugins {
                    let s = n.scores.iter().find(|(q, _)| q == p).map_or(0, |(_, s)| *s);
                    let _ = write!(out, "  {:>w$}", s, w = p.len());
                }
                let _ = writeln!(out, " {mark}");
            }
            None => {
                let _ = writeln!(
                    out,
                    "{name:<width$}  {:>12}  {}",
                    "-",
                    n.reasons
                        .iter()
                        .map(|r| printable(r))
                        .collect::<Vec<_>>()
                        .join("; ")
                );
            }
        }
    }
    match &e.selected {
        Some(s) => {
            let _ = writeln!(out, "selected: {}", printable(s));
        }
        None => {
            let _ = writeln!(out, "selected: none");
        }
    }
    if e.tied.len() > 1 {
        let _ = writeln!(out, "tied: {}", list(&e.tied));
    }
    if let Some(n) = &e.nominated {
        let _ = writeln!(out, "nominated: {}", printable(n));
    }
    if e.outcome != score::Outcome::Bind {
        let _ = writeln!(out, "outcome: {}", e.outcome.as_str());
    }
    if let Some(m) = &e.message {
        let _ = writeln!(out, "message: {}", printable(m));
    }
    if let Some(p) = &e.preemption {
        if p.victims.is_empty() {
            let _ = writeln!(
                out,
                "preemption: wait for the pods terminating on {}",
                printable(&p.node)
            );
        } else {
            let _ = writeln!(
                out,
                "preemption: evict {} on {}",
                list(&p.victims),
                printable(&p.node)
            );
        }
    }
    out
}
