//! `KubeSchedulerConfiguration` (`kubescheduler.config.k8s.io/v1`) files.
//!
//! The file the zero-to-jupyterhub chart renders for its user-scheduler loads
//! unchanged. Profiles are resolved the way kube-scheduler resolves them: the
//! v1 default plugins are all enabled at `multiPoint`; every extension point's
//! `enabled`/`disabled` lists are merged with kube's `mergePluginSet` and then
//! `multiPoint` is expanded into the extension points as kube's framework does
//! (`expandMultiPointPlugins`); score weights come from `score.enabled` first,
//! then from `multiPoint`, and 0 means 1 (`getScoreWeights`).
//!
//! Parsing is strict: an unknown field, plugin or value is an error naming the
//! file and the field path (`config.yaml: profiles[0].plugins.score.enabled[2]:
//! unknown plugin "NodeResourcesFitt"`). Fields kube-scheduler has that this
//! scheduler does not use are accepted with a warning in
//! [`SchedulerConfig::warnings`].

use std::collections::HashSet;
use std::path::Path;
use std::time::Duration;

use score::Profile;
use score::RoleSelectors;
use score::model::{
    LabelSelector, LabelSelectorRequirement, NodeInclusionPolicy, NodeSelectorOperator,
    NodeSelectorRequirement, NodeSelectorTerm, PreferredSchedulingTerm, TopologySpreadConstraint,
    WhenUnsatisfiable,
};
use score::plugins::pod_topology_spread::SpreadArgs;
use score::profile::{
    AddedAffinity, FilterPlugin, FitArgs, NodePurposeMode, ResourceWeight, ScorePlugin,
    ScoringStrategy,
};
use serde_yaml_ng::{Mapping, Value};

use crate::convert::{label_selector_operator, node_selector_operator};

/// The only accepted `apiVersion`.
pub const API_VERSION: &str = "kubescheduler.config.k8s.io/v1";
/// The only accepted `kind`.
pub const KIND: &str = "KubeSchedulerConfiguration";
/// kube-scheduler's default scheduler name, given to a profile without one.
pub const DEFAULT_SCHEDULER_NAME: &str = "default-scheduler";

/// Why a configuration file was rejected.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{source_name}: cannot read: {error}")]
    Io {
        /// The file.
        source_name: String,
        /// The I/O error.
        error: std::io::Error,
    },
    /// The file is too large or nests too deep to parse.
    #[error("{source_name}: {error}")]
    Input {
        /// The file.
        source_name: String,
        /// What bound it passes.
        error: crate::yaml_input::InputError,
    },
    /// The file is not YAML.
    #[error("{source_name}: invalid YAML: {error}")]
    Yaml {
        /// The file.
        source_name: String,
        /// The parser's error.
        error: serde_yaml_ng::Error,
    },
    /// The YAML is not a valid or supported configuration.
    #[error("{source_name}: {}{message}", if path.is_empty() { String::new() } else { format!("{path}: ") })]
    Invalid {
        /// The file.
        source_name: String,
        /// Field path (`profiles[0].plugins.score.enabled[2]`), empty for the top level.
        path: String,
        /// What is wrong.
        message: String,
    },
}

/// Leader election settings (`leaderElection`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaderElection {
    /// `leaderElect` (default true).
    pub leader_elect: bool,
    /// `leaseDuration` (default 15s).
    pub lease_duration: Duration,
    /// `renewDeadline` (default 10s).
    pub renew_deadline: Duration,
    /// `retryPeriod` (default 2s).
    pub retry_period: Duration,
    /// `resourceLock`; only `leases` is supported.
    pub resource_lock: String,
    /// `resourceName` (default `kube-scheduler`).
    pub resource_name: String,
    /// `resourceNamespace` (default `kube-system`).
    pub resource_namespace: String,
}

impl Default for LeaderElection {
    fn default() -> Self {
        LeaderElection {
            leader_elect: true,
            lease_duration: Duration::from_secs(15),
            renew_deadline: Duration::from_secs(10),
            retry_period: Duration::from_secs(2),
            resource_lock: "leases".into(),
            resource_name: "kube-scheduler".into(),
            resource_namespace: "kube-system".into(),
        }
    }
}

impl LeaderElection {
    /// The Lease of the built-in JupyterHub profile: z2jh's name for its
    /// user-scheduler's lock (never kube-scheduler's own `kube-system/kube-scheduler`,
    /// which the cluster's default scheduler holds) in `namespace`, with
    /// kube-scheduler's default timings.
    #[must_use]
    pub fn jupyterhub(namespace: &str) -> Self {
        LeaderElection {
            resource_name: JUPYTERHUB_LEASE.into(),
            resource_namespace: namespace.into(),
            ..LeaderElection::default()
        }
    }
}

/// The Lease name of the built-in profile (`deploy/config.yaml` says the same).
pub const JUPYTERHUB_LEASE: &str = "user-scheduler-lock";

/// API client settings (`clientConnection`).
#[derive(Clone, Debug, PartialEq)]
pub struct ClientConnection {
    /// Queries per second (default 50).
    pub qps: f32,
    /// Burst (default 100).
    pub burst: u32,
    /// Path of a kubeconfig file; in-cluster configuration when `None`.
    pub kubeconfig: Option<String>,
}

impl Default for ClientConnection {
    fn default() -> Self {
        ClientConnection {
            qps: 50.0,
            burst: 100,
            kubeconfig: None,
        }
    }
}

/// A loaded configuration.
#[derive(Clone, Debug, PartialEq)]
pub struct SchedulerConfig {
    /// Profiles, in file order (at least one).
    pub profiles: Vec<Profile>,
    /// Leader election.
    pub leader_election: LeaderElection,
    /// `podInitialBackoffSeconds` (default 1s).
    pub pod_initial_backoff: Duration,
    /// `podMaxBackoffSeconds` (default 10s).
    pub pod_max_backoff: Duration,
    /// `podMaxInUnschedulablePodsDuration` (default 5m): an unschedulable pod
    /// is retried after this long even when no cluster event could help it.
    pub pod_max_in_unschedulable: Duration,
    /// `parallelism` (default 16).
    pub parallelism: u32,
    /// `percentageOfNodesToScore` as written; ignored (every feasible node is scored).
    pub percentage_of_nodes_to_score: Option<i32>,
    /// API client settings.
    pub client_connection: ClientConnection,
    /// Settings accepted but not used, and plugins enabled but not implemented.
    pub warnings: Vec<String>,
}

impl SchedulerConfig {
    /// What the daemon runs without `--config`: one [`Profile::jupyterhub`],
    /// the Lease [`LeaderElection::jupyterhub`] in `namespace` (the pod's
    /// own), and kube-scheduler's defaults for the rest.
    #[must_use]
    pub fn jupyterhub(namespace: &str) -> Self {
        SchedulerConfig {
            profiles: vec![Profile::jupyterhub()],
            leader_election: LeaderElection::jupyterhub(namespace),
            pod_initial_backoff: Duration::from_secs(1),
            pod_max_backoff: Duration::from_secs(10),
            pod_max_in_unschedulable: Duration::from_secs(5 * 60),
            parallelism: 16,
            percentage_of_nodes_to_score: None,
            client_connection: ClientConnection::default(),
            warnings: Vec::new(),
        }
    }
}

impl Default for SchedulerConfig {
    /// [`SchedulerConfig::jupyterhub`] in the namespace `default`.
    fn default() -> Self {
        SchedulerConfig::jupyterhub("default")
    }
}

/// Reads and parses a configuration file.
///
/// # Errors
/// See [`parse`]; also when the file cannot be read.
pub fn load(path: &Path) -> Result<SchedulerConfig, ConfigError> {
    use crate::yaml_input::{MAX_CONFIG_BYTES, check_size};
    let source = path.display().to_string();
    let io = |error| ConfigError::Io {
        source_name: source.clone(),
        error,
    };
    let size = std::fs::metadata(path).map_err(io)?.len();
    check_size(size, MAX_CONFIG_BYTES).map_err(|error| ConfigError::Input {
        source_name: source.clone(),
        error,
    })?;
    let text = std::fs::read_to_string(path).map_err(io)?;
    parse(&text, &source)
}

/// Parses a configuration. `source` names the file in errors and warnings.
///
/// # Errors
/// Invalid YAML, a wrong `apiVersion` or `kind`, an unknown field, plugin or
/// value, a value out of range, extenders, or an unsupported setting.
pub fn parse(yaml: &str, source: &str) -> Result<SchedulerConfig, ConfigError> {
    let yaml = crate::yaml_input::checked(yaml).map_err(|error| ConfigError::Input {
        source_name: source.to_string(),
        error,
    })?;
    let value: Value = serde_yaml_ng::from_str(yaml).map_err(|error| ConfigError::Yaml {
        source_name: source.to_string(),
        error,
    })?;
    let mut warnings = Vec::new();
    let mut config =
        parse_root(&value, &mut warnings).map_err(|At { path, message }| ConfigError::Invalid {
            source_name: source.to_string(),
            path,
            message,
        })?;
    config.warnings = warnings
        .into_iter()
        .map(|w| format!("{source}: {w}"))
        .collect();
    Ok(config)
}

// === the YAML walker ===

/// An error at a field path, before the file name is added.
struct At {
    path: String,
    message: String,
}

type R<T> = Result<T, At>;

fn at(path: &str, message: impl Into<String>) -> At {
    At {
        path: path.to_string(),
        message: message.into(),
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Sequence(_) => "a list",
        Value::Mapping(_) => "a mapping",
        Value::Tagged(_) => "a tagged value",
    }
}

/// A YAML mapping at a path, with typed, path-naming accessors. Null values
/// count as absent.
struct Obj<'a> {
    path: String,
    map: &'a Mapping,
}

impl<'a> Obj<'a> {
    /// The mapping `v` at `path`.
    fn new(path: String, v: &'a Value) -> R<Obj<'a>> {
        match v {
            Value::Mapping(map) => Ok(Obj { path, map }),
            other => Err(at(
                &path,
                format!("expected a mapping, found {}", type_name(other)),
            )),
        }
    }

    /// Fails on the first key not in `allowed`.
    fn only(&self, allowed: &[&str]) -> R<()> {
        for key in self.map.keys() {
            match key.as_str() {
                Some(k) if allowed.contains(&k) => {}
                Some(k) => return Err(at(&self.path, format!("unknown field {k:?}"))),
                None => return Err(at(&self.path, "keys must be strings")),
            }
        }
        Ok(())
    }

    fn get(&self, key: &str) -> Option<&'a Value> {
        self.map.get(key).filter(|v| !v.is_null())
    }

    fn has(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    fn field(&self, key: &str) -> String {
        join(&self.path, key)
    }

    fn str(&self, key: &str) -> R<Option<String>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(other) => Err(at(
                &self.field(key),
                format!("expected a string, found {}", type_name(other)),
            )),
        }
    }

    fn bool(&self, key: &str) -> R<Option<bool>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(other) => Err(at(
                &self.field(key),
                format!("expected a boolean, found {}", type_name(other)),
            )),
        }
    }

    fn int(&self, key: &str) -> R<Option<i64>> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => v.as_i64().map(Some).ok_or_else(|| {
                at(
                    &self.field(key),
                    format!("expected an integer, found {}", describe(v)),
                )
            }),
        }
    }

    /// An integer within `lo..=hi`.
    fn int_in(&self, key: &str, lo: i64, hi: i64) -> R<Option<i64>> {
        match self.int(key)? {
            Some(v) if v < lo || v > hi => Err(at(
                &self.field(key),
                format!("{v} is out of range {lo}..={hi}"),
            )),
            other => Ok(other),
        }
    }

    fn float(&self, key: &str) -> R<Option<f64>> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => v.as_f64().map(Some).ok_or_else(|| {
                at(
                    &self.field(key),
                    format!("expected a number, found {}", describe(v)),
                )
            }),
        }
    }

    fn duration(&self, key: &str) -> R<Option<Duration>> {
        match self.str(key)? {
            None => Ok(None),
            Some(s) => parse_go_duration(&s)
                .map(Some)
                .map_err(|m| at(&self.field(key), m)),
        }
    }

    fn obj(&self, key: &str) -> R<Option<Obj<'a>>> {
        self.get(key)
            .map(|v| Obj::new(self.field(key), v))
            .transpose()
    }

    /// A list's items with their paths (an absent list is empty).
    fn list(&self, key: &str) -> R<Vec<(String, &'a Value)>> {
        match self.get(key) {
            None => Ok(Vec::new()),
            Some(Value::Sequence(items)) => Ok(items
                .iter()
                .enumerate()
                .map(|(i, v)| (format!("{}[{i}]", self.field(key)), v))
                .collect()),
            Some(other) => Err(at(
                &self.field(key),
                format!("expected a list, found {}", type_name(other)),
            )),
        }
    }

    /// A list of strings.
    fn strings(&self, key: &str) -> R<Vec<String>> {
        self.list(key)?
            .into_iter()
            .map(|(path, v)| match v {
                Value::String(s) => Ok(s.clone()),
                other => Err(at(
                    &path,
                    format!("expected a string, found {}", type_name(other)),
                )),
            })
            .collect()
    }

    /// A mapping of strings to strings.
    fn string_map(&self, key: &str) -> R<Vec<(String, String)>> {
        let Some(obj) = self.obj(key)? else {
            return Ok(Vec::new());
        };
        obj.map
            .iter()
            .map(|(k, v)| match (k.as_str(), v.as_str()) {
                (Some(k), Some(v)) => Ok((k.to_string(), v.to_string())),
                (Some(k), None) => Err(at(
                    &join(&obj.path, k),
                    format!("expected a string, found {}", type_name(v)),
                )),
                (None, _) => Err(at(&obj.path, "keys must be strings")),
            })
            .collect()
    }
}

fn describe(v: &Value) -> String {
    match v {
        Value::Number(n) => format!("{n}"),
        Value::String(s) => format!("{s:?}"),
        other => type_name(other).to_string(),
    }
}

/// Parses a Go duration (`15s`, `1m30s`, `500ms`, `1.5h`, `0`).
///
/// # Errors
/// A message naming the input when it is not a non-negative Go duration.
pub fn parse_go_duration(s: &str) -> Result<Duration, String> {
    let bad = || {
        format!(
            "invalid duration {s:?} (expected a Go duration such as \"15s\", \"1m30s\" or \"500ms\")"
        )
    };
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    let rest = s.strip_prefix('+').unwrap_or(s);
    if rest.is_empty() || rest.starts_with('-') {
        return Err(if rest.starts_with('-') {
            format!("invalid duration {s:?}: must not be negative")
        } else {
            bad()
        });
    }
    let mut total_nanos: u128 = 0;
    let mut rest = rest;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (num, tail) = rest.split_at(num_len);
        if num.is_empty() || num == "." || num.matches('.').count() > 1 {
            return Err(bad());
        }
        let unit_len = tail
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(tail.len());
        let (unit, tail) = tail.split_at(unit_len);
        let unit_nanos: u128 = match unit {
            "ns" => 1,
            "us" | "µs" | "μs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            _ => return Err(bad()),
        };
        let (int, frac) = num.split_once('.').unwrap_or((num, ""));
        let int: u128 = if int.is_empty() {
            0
        } else {
            int.parse().map_err(|_| bad())?
        };
        let mut part = int.checked_mul(unit_nanos).ok_or_else(bad)?;
        // The fraction, truncated to whole nanoseconds as Go does.
        let mut scale = unit_nanos;
        for d in frac.bytes() {
            scale /= 10;
            if scale == 0 {
                break;
            }
            part += u128::from(d - b'0') * scale;
        }
        total_nanos = total_nanos.checked_add(part).ok_or_else(bad)?;
        rest = tail;
    }
    let nanos = u64::try_from(total_nanos).map_err(|_| bad())?;
    Ok(Duration::from_nanos(nanos))
}

// === plugins ===

/// Extension points, in kube's order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Point {
    PreEnqueue,
    QueueSort,
    PreFilter,
    Filter,
    PostFilter,
    PreScore,
    Score,
    Reserve,
    Permit,
    PreBind,
    Bind,
    PostBind,
}

impl Point {
    const ALL: [Point; 12] = [
        Point::PreEnqueue,
        Point::QueueSort,
        Point::PreFilter,
        Point::Filter,
        Point::PostFilter,
        Point::PreScore,
        Point::Score,
        Point::Reserve,
        Point::Permit,
        Point::PreBind,
        Point::Bind,
        Point::PostBind,
    ];

    fn key(self) -> &'static str {
        match self {
            Point::PreEnqueue => "preEnqueue",
            Point::QueueSort => "queueSort",
            Point::PreFilter => "preFilter",
            Point::Filter => "filter",
            Point::PostFilter => "postFilter",
            Point::PreScore => "preScore",
            Point::Score => "score",
            Point::Reserve => "reserve",
            Point::Permit => "permit",
            Point::PreBind => "preBind",
            Point::Bind => "bind",
            Point::PostBind => "postBind",
        }
    }

    fn bit(self) -> u16 {
        1 << (self as u16)
    }
}

/// How this scheduler treats a plugin kube-scheduler knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Support {
    /// Implemented by the engine.
    Implemented,
    /// Built into how this scheduler works (queue order, binding, gates, preemption).
    Implicit,
    /// Accepted and ignored, with a warning when enabled.
    Ignored,
}

struct PluginInfo {
    name: &'static str,
    points: u16,
    support: Support,
}

const fn points(list: &[Point]) -> u16 {
    let mut bits = 0;
    let mut i = 0;
    while i < list.len() {
        bits |= 1 << (list[i] as u16);
        i += 1;
    }
    bits
}

use Point as P;

/// Every plugin kube-scheduler v1.33 registers, plus ours, with the extension
/// points each implements.
const PLUGINS: &[PluginInfo] = &[
    PluginInfo {
        name: "SchedulingGates",
        points: points(&[P::PreEnqueue]),
        support: Support::Implicit,
    },
    PluginInfo {
        name: "PrioritySort",
        points: points(&[P::QueueSort]),
        support: Support::Implicit,
    },
    PluginInfo {
        name: "NodeUnschedulable",
        points: points(&[P::Filter]),
        support: Support::Implemented,
    },
    PluginInfo {
        name: "NodeName",
        points: points(&[P::Filter]),
        support: Support::Implemented,
    },
    PluginInfo {
        name: "TaintToleration",
        points: points(&[P::Filter, P::PreScore, P::Score]),
        support: Support::Implemented,
    },
    PluginInfo {
        name: "NodeAffinity",
        points: points(&[P::PreFilter, P::Filter, P::PreScore, P::Score]),
        support: Support::Implemented,
    },
    PluginInfo {
        name: "NodePorts",
        points: points(&[P::PreFilter, P::Filter]),
        support: Support::Implemented,
    },
    PluginInfo {
        name: "NodeResourcesFit",
        points: points(&[P::PreFilter, P::Filter, P::PreScore, P::Score]),
        support: Support::Implemented,
    },
    PluginInfo {
        name: "VolumeRestrictions",
        points: points(&[P::PreFilter, P::Filter]),
        support: Support::Implemented,
    },
    PluginInfo {
        name: "NodeVolumeLimits",
        points: points(&[P::PreFilter, P::Filter]),
        support: Support::Implemented,
    },
    PluginInfo {
        name: "VolumeBinding",
        points: points(&[
            P::PreFilter,
            P::Filter,
            P::Reserve,
            P::PreBind,
            P::PreScore,
            P::Score,
        ]),
        support: Support::Implemented,
    },
    PluginInfo {
        name: "VolumeZone",
        points: points(&[P::PreFilter, P::Filter]),
        support: Support::Implemented,
    },
    PluginInfo {
        name: "PodTopologySpread",
        points: points(&[P::PreFilter, P::Filter, P::PreScore, P::Score]),
        support: Support::Implemented,
    },
    PluginInfo {
        name: "InterPodAffinity",
        points: points(&[P::PreFilter, P::Filter, P::PreScore, P::Score]),
        support: Support::Implemented,
    },
    PluginInfo {
        name: "DefaultPreemption",
        points: points(&[P::PostFilter]),
        support: Support::Implicit,
    },
    PluginInfo {
        name: "NodeResourcesBalancedAllocation",
        points: points(&[P::PreScore, P::Score]),
        support: Support::Implemented,
    },
    PluginInfo {
        name: "ImageLocality",
        points: points(&[P::Score]),
        support: Support::Implemented,
    },
    PluginInfo {
        name: "DefaultBinder",
        points: points(&[P::Bind]),
        support: Support::Implicit,
    },
    PluginInfo {
        name: "DynamicResources",
        points: points(&[
            P::PreEnqueue,
            P::PreFilter,
            P::Filter,
            P::PostFilter,
            P::Reserve,
            P::PreBind,
        ]),
        support: Support::Ignored,
    },
    PluginInfo {
        name: "NodePurpose",
        points: points(&[P::Filter, P::Score]),
        support: Support::Implemented,
    },
    PluginInfo {
        name: "RealUserColocation",
        points: points(&[P::Score]),
        support: Support::Implemented,
    },
];

/// The volume plugins, which user-scheduler runs together.
const VOLUME_PLUGINS: [&str; 4] = [
    "VolumeRestrictions",
    "NodeVolumeLimits",
    "VolumeBinding",
    "VolumeZone",
];

fn plugin_info(name: &str) -> Option<&'static PluginInfo> {
    PLUGINS.iter().find(|p| p.name == name)
}

/// kube-scheduler v1's default plugins, all at `multiPoint`, with their weights
/// (`pkg/scheduler/apis/config/v1/default_plugins.go`).
const DEFAULT_MULTI_POINT: &[(&str, i32)] = &[
    ("SchedulingGates", 0),
    ("PrioritySort", 0),
    ("NodeUnschedulable", 0),
    ("NodeName", 0),
    ("TaintToleration", 3),
    ("NodeAffinity", 2),
    ("NodePorts", 0),
    ("NodeResourcesFit", 1),
    ("VolumeRestrictions", 0),
    ("NodeVolumeLimits", 0),
    ("VolumeBinding", 0),
    ("VolumeZone", 0),
    ("PodTopologySpread", 2),
    ("InterPodAffinity", 2),
    ("DefaultPreemption", 0),
    ("NodeResourcesBalancedAllocation", 1),
    ("ImageLocality", 1),
    ("DefaultBinder", 0),
];

/// An enabled plugin (`{name, weight}`).
#[derive(Clone, Debug, PartialEq, Eq)]
struct Plugin {
    name: String,
    weight: i32,
}

/// An extension point's `enabled` and `disabled` lists.
#[derive(Clone, Debug, Default)]
struct PluginSet {
    enabled: Vec<Plugin>,
    disabled: Vec<String>,
}

/// kube's `mergePluginSet`.
fn merge_plugin_set(default: &PluginSet, custom: &PluginSet) -> PluginSet {
    let mut disabled: Vec<String> = custom.disabled.clone();
    disabled.extend(default.disabled.iter().cloned());
    let disabled_set: HashSet<&str> = disabled.iter().map(String::as_str).collect();
    let mut replaced = HashSet::new();
    let mut enabled = Vec::new();
    if !disabled_set.contains("*") {
        for plugin in &default.enabled {
            if disabled_set.contains(plugin.name.as_str()) {
                continue;
            }
            // The last custom entry of a name replaces the default in place.
            match custom
                .enabled
                .iter()
                .enumerate()
                .rev()
                .find(|(_, c)| c.name == plugin.name)
            {
                Some((i, c)) => {
                    replaced.insert(i);
                    enabled.push(c.clone());
                }
                None => enabled.push(plugin.clone()),
            }
        }
    }
    for (i, c) in custom.enabled.iter().enumerate() {
        if !replaced.contains(&i) {
            enabled.push(c.clone());
        }
    }
    PluginSet { enabled, disabled }
}

/// An insertion-ordered set of names.
#[derive(Default)]
struct Ordered(Vec<String>);

impl Ordered {
    fn has(&self, name: &str) -> bool {
        self.0.iter().any(|n| n == name)
    }
    fn insert(&mut self, name: &str) {
        if !self.has(name) {
            self.0.push(name.to_string());
        }
    }
}

/// The plugins enabled at each extension point after kube's merge and
/// `multiPoint` expansion, and the score weights.
struct Resolved {
    points: Vec<(Point, Vec<String>)>,
    weights: Vec<(String, i32)>,
}

fn resolve_plugins(path: &str, multi: &PluginSet, sets: &[(Point, PluginSet)]) -> R<Resolved> {
    let default_multi = PluginSet {
        enabled: DEFAULT_MULTI_POINT
            .iter()
            .map(|(n, w)| Plugin {
                name: (*n).to_string(),
                weight: *w,
            })
            .collect(),
        disabled: Vec::new(),
    };
    let multi = merge_plugin_set(&default_multi, multi);
    let mut points = Vec::new();
    let mut score_enabled: Vec<Plugin> = Vec::new();
    for (point, custom) in sets {
        // v1 has no per-point defaults: everything is at multiPoint.
        let merged = merge_plugin_set(&PluginSet::default(), custom);
        let point_path = join(path, point.key());
        let mut enabled_set = Ordered::default();
        for p in &merged.enabled {
            if enabled_set.has(&p.name) {
                return Err(at(
                    &point_path,
                    format!("plugin {:?} already registered as {}", p.name, point.key()),
                ));
            }
            enabled_set.insert(&p.name);
        }
        if *point == Point::Score {
            score_enabled = merged.enabled.clone();
        }
        let disabled: HashSet<&str> = merged.disabled.iter().map(String::as_str).collect();
        if disabled.contains("*") {
            points.push((*point, enabled_set.0));
            continue;
        }
        let mut multi_enabled = Ordered::default();
        let mut overrides = Ordered::default();
        for p in &multi.enabled {
            // Names were checked when parsed; an unknown one implements nothing.
            let points = plugin_info(&p.name).map_or(0, |i| i.points);
            if points & point.bit() == 0 || disabled.contains(p.name.as_str()) {
                continue;
            }
            if enabled_set.has(&p.name) {
                overrides.insert(&p.name);
                continue;
            }
            if multi_enabled.has(&p.name) {
                return Err(at(
                    &join(path, "multiPoint"),
                    format!("plugin {:?} already registered as {}", p.name, point.key()),
                ));
            }
            multi_enabled.insert(&p.name);
        }
        let mut all = overrides;
        for n in multi_enabled.0.iter().chain(enabled_set.0.iter()) {
            all.insert(n);
        }
        points.push((*point, all.0));
    }
    // getScoreWeights: score.enabled first, then multiPoint; 0 means 1.
    let mut weights: Vec<(String, i32)> = Vec::new();
    for p in score_enabled.iter().chain(multi.enabled.iter()) {
        let implements = plugin_info(&p.name).is_some_and(|i| i.points & Point::Score.bit() != 0);
        if implements && !weights.iter().any(|(n, _)| *n == p.name) {
            weights.push((p.name.clone(), if p.weight == 0 { 1 } else { p.weight }));
        }
    }
    Ok(Resolved { points, weights })
}

fn parse_plugin_set(obj: &Obj<'_>, point: Option<Point>) -> R<PluginSet> {
    obj.only(&["enabled", "disabled"])?;
    let mut set = PluginSet::default();
    for (list, enabled) in [("enabled", true), ("disabled", false)] {
        for (path, v) in obj.list(list)? {
            let p = Obj::new(path.clone(), v)?;
            p.only(&["name", "weight"])?;
            let name = p
                .str("name")?
                .ok_or_else(|| at(&path, "missing field \"name\""))?;
            let weight = p.int_in("weight", 0, i64::from(i32::MAX))?.unwrap_or(0);
            if !enabled && name == "*" {
                set.disabled.push(name);
                continue;
            }
            let info =
                plugin_info(&name).ok_or_else(|| at(&path, format!("unknown plugin {name:?}")))?;
            if enabled {
                if let Some(point) = point
                    && info.points & point.bit() == 0
                {
                    return Err(at(
                        &path,
                        format!("plugin {name:?} does not extend {}", point.key()),
                    ));
                }
                set.enabled.push(Plugin {
                    name,
                    weight: i32::try_from(weight).unwrap_or(i32::MAX),
                });
            } else {
                set.disabled.push(name);
            }
        }
    }
    Ok(set)
}

/// Builds the profile's filters and scores from `plugins`, with warnings for
/// enabled plugins this scheduler ignores.
fn apply_plugins(
    profile: &mut Profile,
    path: &str,
    plugins: Option<&Obj<'_>>,
    warnings: &mut Vec<String>,
) -> R<()> {
    let mut multi = PluginSet::default();
    let mut sets: Vec<(Point, PluginSet)> = Point::ALL
        .iter()
        .map(|p| (*p, PluginSet::default()))
        .collect();
    if let Some(obj) = plugins {
        let mut keys: Vec<&str> = Point::ALL.iter().map(|p| p.key()).collect();
        keys.push("multiPoint");
        obj.only(&keys)?;
        if let Some(m) = obj.obj("multiPoint")? {
            multi = parse_plugin_set(&m, None)?;
        }
        for (point, set) in &mut sets {
            if let Some(o) = obj.obj(point.key())? {
                *set = parse_plugin_set(&o, Some(*point))?;
            }
        }
    }
    let resolved = resolve_plugins(&join(path, "plugins"), &multi, &sets)?;
    let enabled_at = |point: Point| -> &[String] {
        resolved
            .points
            .iter()
            .find(|(p, _)| *p == point)
            .map_or(&[], |(_, names)| names.as_slice())
    };
    // kube's NewFramework refuses a profile that cannot order its queue or
    // bind a pod, with these words; so does this scheduler, at load.
    let plugins_path = join(path, "plugins");
    // (PrioritySort is the only queue sort plugin, so there cannot be two.)
    if enabled_at(Point::QueueSort).is_empty() {
        return Err(at(
            &join(&plugins_path, "queueSort"),
            "no queue sort plugin is enabled",
        ));
    }
    if enabled_at(Point::Bind).is_empty() {
        return Err(at(
            &join(&plugins_path, "bind"),
            "at least one bind plugin is needed",
        ));
    }
    let mut filters: Vec<FilterPlugin> = enabled_at(Point::Filter)
        .iter()
        .filter_map(|n| FilterPlugin::from_name(n))
        .collect();
    filters.sort_by_key(|f| FilterPlugin::ALL.iter().position(|g| g == f));
    profile.filters = filters;
    // The four volume plugins run as one unit whenever storage is watched
    // (a pod's claims are resolved once for all of them).
    for name in VOLUME_PLUGINS {
        if !enabled_at(Point::Filter).iter().any(|n| n == name) {
            warnings.push(format!(
                "{path} ({}): plugin {name:?} cannot be disabled in user-scheduler: the volume filters always run together; it stays enabled",
                profile.scheduler_name
            ));
        }
    }
    profile.scores = enabled_at(Point::Score)
        .iter()
        .filter_map(|n| {
            let plugin = ScorePlugin::from_name(n)?;
            let weight = resolved
                .weights
                .iter()
                .find(|(w, _)| w == n)
                .map_or(1, |(_, w)| *w);
            Some((plugin, i64::from(weight)))
        })
        .collect();
    // Plugins that end up enabled somewhere that matters (preScore alone does
    // nothing).
    let mut ignored = Ordered::default();
    for (point, names) in &resolved.points {
        if *point == Point::PreScore {
            continue;
        }
        for n in names {
            if plugin_info(n).is_some_and(|i| i.support == Support::Ignored) {
                ignored.insert(n);
            }
        }
    }
    for n in ignored.0 {
        warnings.push(format!(
            "{path} ({}): plugin {n:?} is not implemented by user-scheduler; ignored",
            profile.scheduler_name
        ));
    }
    Ok(())
}

// === plugin args ===

fn node_selector_term(obj: &Obj<'_>) -> R<NodeSelectorTerm> {
    obj.only(&["matchExpressions", "matchFields"])?;
    let reqs = |key: &str| -> R<Vec<NodeSelectorRequirement>> {
        obj.list(key)?
            .into_iter()
            .map(|(path, v)| {
                let r = Obj::new(path, v)?;
                r.only(&["key", "operator", "values"])?;
                let key = r
                    .str("key")?
                    .ok_or_else(|| at(&r.path, "missing field \"key\""))?;
                let op = r
                    .str("operator")?
                    .ok_or_else(|| at(&r.path, "missing field \"operator\""))?;
                let operator = node_selector_operator(&op)
                    .ok_or_else(|| at(&r.field("operator"), format!("unknown operator {op:?}")))?;
                let values = r.strings("values")?;
                let ok = match operator {
                    NodeSelectorOperator::In | NodeSelectorOperator::NotIn => !values.is_empty(),
                    NodeSelectorOperator::Exists | NodeSelectorOperator::DoesNotExist => {
                        values.is_empty()
                    }
                    NodeSelectorOperator::Gt | NodeSelectorOperator::Lt => {
                        values.len() == 1 && values[0].parse::<i64>().is_ok()
                    }
                };
                if !ok {
                    return Err(at(
                        &r.field("values"),
                        format!("invalid values for operator {op}"),
                    ));
                }
                Ok(NodeSelectorRequirement {
                    key,
                    operator,
                    values,
                })
            })
            .collect()
    };
    Ok(NodeSelectorTerm {
        match_expressions: reqs("matchExpressions")?,
        match_fields: reqs("matchFields")?,
    })
}

fn label_selector(obj: &Obj<'_>) -> R<LabelSelector> {
    obj.only(&["matchLabels", "matchExpressions"])?;
    let match_labels = obj.string_map("matchLabels")?;
    let match_expressions = obj
        .list("matchExpressions")?
        .into_iter()
        .map(|(path, v)| {
            let r = Obj::new(path, v)?;
            r.only(&["key", "operator", "values"])?;
            let key = r
                .str("key")?
                .ok_or_else(|| at(&r.path, "missing field \"key\""))?;
            let op = r
                .str("operator")?
                .ok_or_else(|| at(&r.path, "missing field \"operator\""))?;
            let operator = label_selector_operator(&op)
                .ok_or_else(|| at(&r.field("operator"), format!("unknown operator {op:?}")))?;
            Ok(LabelSelectorRequirement {
                key,
                operator,
                values: r.strings("values")?,
            })
        })
        .collect::<R<Vec<_>>>()?;
    Ok(LabelSelector {
        match_labels,
        match_expressions,
    })
}

fn fit_args(args: &Obj<'_>) -> R<FitArgs> {
    args.only(&[
        "apiVersion",
        "kind",
        "scoringStrategy",
        "ignoredResources",
        "ignoredResourceGroups",
    ])?;
    let mut fit = FitArgs {
        ignored_resources: args.strings("ignoredResources")?,
        ignored_resource_groups: args.strings("ignoredResourceGroups")?,
        ..FitArgs::default()
    };
    for (i, g) in fit.ignored_resource_groups.iter().enumerate() {
        if g.contains('/') {
            return Err(at(
                &format!("{}[{i}]", args.field("ignoredResourceGroups")),
                format!("resource group {g:?} must not contain \"/\""),
            ));
        }
    }
    if let Some(s) = args.obj("scoringStrategy")? {
        s.only(&["type", "resources", "requestedToCapacityRatio"])?;
        fit.strategy = match s.str("type")?.as_deref() {
            Some("MostAllocated") => ScoringStrategy::MostAllocated,
            Some("LeastAllocated") => ScoringStrategy::LeastAllocated,
            Some("RequestedToCapacityRatio") => {
                return Err(at(
                    &s.field("type"),
                    "RequestedToCapacityRatio is not supported (use MostAllocated or LeastAllocated)",
                ));
            }
            Some(other) => {
                return Err(at(
                    &s.field("type"),
                    format!(
                        "unknown scoring strategy {other:?} (expected MostAllocated or LeastAllocated)"
                    ),
                ));
            }
            None => {
                return Err(at(
                    &s.field("type"),
                    "missing (expected MostAllocated or LeastAllocated)",
                ));
            }
        };
        if s.has("requestedToCapacityRatio") {
            return Err(at(
                &s.field("requestedToCapacityRatio"),
                "RequestedToCapacityRatio is not supported",
            ));
        }
        if let Some(resources) = resource_weights(&s)? {
            fit.resources = resources;
        }
    }
    Ok(fit)
}

/// PodTopologySpreadArgs, validated as kube's `ValidatePodTopologySpreadArgs`:
/// `defaultingType` System (the default without constraints) or List (the
/// default with), System only without `defaultConstraints`, and each
/// default constraint without a `labelSelector` (the selector is each pod's
/// own, from its Services and owners) and with a unique (topologyKey,
/// whenUnsatisfiable).
fn spread_args(args: &Obj<'_>) -> R<SpreadArgs> {
    args.only(&["apiVersion", "kind", "defaultConstraints", "defaultingType"])?;
    let mut constraints: Vec<TopologySpreadConstraint> = Vec::new();
    for (path, v) in args.list("defaultConstraints")? {
        let c = Obj::new(path.clone(), v)?;
        let constraint = spread_constraint(&c)?;
        if c.has("labelSelector") {
            return Err(at(
                &c.field("labelSelector"),
                "constraint must not define a selector, as they deduced for each pod",
            ));
        }
        if constraints.iter().any(|o| {
            o.topology_key == constraint.topology_key
                && o.when_unsatisfiable == constraint.when_unsatisfiable
        }) {
            return Err(at(
                &path,
                format!(
                    "duplicate constraint for topologyKey {:?} and whenUnsatisfiable {:?}",
                    constraint.topology_key,
                    when_name(constraint.when_unsatisfiable)
                ),
            ));
        }
        constraints.push(constraint);
    }
    let system = match args.str("defaultingType")?.as_deref() {
        None => constraints.is_empty(),
        Some("System") => true,
        Some("List") => false,
        Some(other) => {
            return Err(at(
                &args.field("defaultingType"),
                format!("unknown defaultingType {other:?} (expected System or List)"),
            ));
        }
    };
    if system && !constraints.is_empty() {
        return Err(at(
            &args.field("defaultConstraints"),
            "when .defaultingType is \"System\", .defaultConstraints must be empty",
        ));
    }
    Ok(SpreadArgs {
        system_defaulting: system,
        default_constraints: constraints,
    })
}

fn when_name(w: WhenUnsatisfiable) -> &'static str {
    match w {
        WhenUnsatisfiable::DoNotSchedule => "DoNotSchedule",
        WhenUnsatisfiable::ScheduleAnyway => "ScheduleAnyway",
    }
}

/// One topology spread constraint (`v1.TopologySpreadConstraint`).
fn spread_constraint(c: &Obj<'_>) -> R<TopologySpreadConstraint> {
    c.only(&[
        "maxSkew",
        "topologyKey",
        "whenUnsatisfiable",
        "labelSelector",
        "minDomains",
        "nodeAffinityPolicy",
        "nodeTaintsPolicy",
        "matchLabelKeys",
    ])?;
    let max_skew = c
        .int_in("maxSkew", 1, i64::from(i32::MAX))?
        .ok_or_else(|| at(&c.path, "missing field \"maxSkew\""))?;
    let topology_key = c
        .str("topologyKey")?
        .filter(|k| !k.is_empty())
        .ok_or_else(|| at(&c.path, "missing field \"topologyKey\""))?;
    let when_unsatisfiable = match c.str("whenUnsatisfiable")?.as_deref() {
        Some("DoNotSchedule") => WhenUnsatisfiable::DoNotSchedule,
        Some("ScheduleAnyway") => WhenUnsatisfiable::ScheduleAnyway,
        Some(other) => {
            return Err(at(
                &c.field("whenUnsatisfiable"),
                format!(
                    "unknown whenUnsatisfiable {other:?} (expected DoNotSchedule or ScheduleAnyway)"
                ),
            ));
        }
        None => return Err(at(&c.path, "missing field \"whenUnsatisfiable\"")),
    };
    let policy = |key: &str| -> R<Option<NodeInclusionPolicy>> {
        match c.str(key)?.as_deref() {
            None => Ok(None),
            Some("Honor") => Ok(Some(NodeInclusionPolicy::Honor)),
            Some("Ignore") => Ok(Some(NodeInclusionPolicy::Ignore)),
            Some(other) => Err(at(
                &c.field(key),
                format!("unknown policy {other:?} (expected Honor or Ignore)"),
            )),
        }
    };
    Ok(TopologySpreadConstraint {
        max_skew: i32::try_from(max_skew).unwrap_or(i32::MAX),
        topology_key,
        when_unsatisfiable,
        label_selector: c
            .obj("labelSelector")?
            .map(|s| label_selector(&s))
            .transpose()?,
        min_domains: c
            .int_in("minDomains", 1, i64::from(i32::MAX))?
            .map(|d| i32::try_from(d).unwrap_or(i32::MAX)),
        node_affinity_policy: policy("nodeAffinityPolicy")?,
        node_taints_policy: policy("nodeTaintsPolicy")?,
        match_label_keys: c.strings("matchLabelKeys")?,
    })
}

/// A `resources` list of `{name, weight}` (NodeResourcesFit's scoring
/// strategy, NodeResourcesBalancedAllocationArgs); `None` when absent or
/// empty (the plugin's default then applies, as in kube).
fn resource_weights(obj: &Obj<'_>) -> R<Option<Vec<ResourceWeight>>> {
    let mut out: Vec<ResourceWeight> = Vec::new();
    for (path, v) in obj.list("resources")? {
        let r = Obj::new(path.clone(), v)?;
        r.only(&["name", "weight"])?;
        let name = r
            .str("name")?
            .ok_or_else(|| at(&path, "missing field \"name\""))?;
        if out.iter().any(|w| w.name == name) {
            return Err(at(&path, format!("duplicate resource {name:?}")));
        }
        // kube defaults an unset or 0 weight to 1, then requires 1..=100.
        let weight = match r.int_in("weight", 0, 100)? {
            None | Some(0) => 1,
            Some(w) => w,
        };
        out.push(ResourceWeight { name, weight });
    }
    Ok((!out.is_empty()).then_some(out))
}

fn added_affinity(obj: &Obj<'_>) -> R<AddedAffinity> {
    obj.only(&[
        "requiredDuringSchedulingIgnoredDuringExecution",
        "preferredDuringSchedulingIgnoredDuringExecution",
    ])?;
    let required = match obj.obj("requiredDuringSchedulingIgnoredDuringExecution")? {
        Some(sel) => {
            sel.only(&["nodeSelectorTerms"])?;
            let terms = sel
                .list("nodeSelectorTerms")?
                .into_iter()
                .map(|(path, v)| node_selector_term(&Obj::new(path, v)?))
                .collect::<R<Vec<_>>>()?;
            if terms.is_empty() {
                return Err(at(&sel.field("nodeSelectorTerms"), "must not be empty"));
            }
            Some(terms)
        }
        None => None,
    };
    let preferred = obj
        .list("preferredDuringSchedulingIgnoredDuringExecution")?
        .into_iter()
        .map(|(path, v)| {
            let p = Obj::new(path.clone(), v)?;
            p.only(&["weight", "preference"])?;
            let weight = p
                .int_in("weight", 1, 100)?
                .ok_or_else(|| at(&path, "missing field \"weight\""))?;
            let preference = p
                .obj("preference")?
                .ok_or_else(|| at(&path, "missing field \"preference\""))?;
            Ok(PreferredSchedulingTerm {
                weight: i32::try_from(weight).unwrap_or(100),
                preference: node_selector_term(&preference)?,
            })
        })
        .collect::<R<Vec<_>>>()?;
    Ok(AddedAffinity {
        required,
        preferred,
    })
}

/// Checks `apiVersion` and `kind` of plugin args loosely: a kube plugin's kind
/// must be `<Plugin>Args`, the group `kubescheduler.config.k8s.io`.
fn check_args_type(args: &Obj<'_>, plugin: &str) -> R<()> {
    if let Some(v) = args.str("apiVersion")?
        && !v.starts_with("kubescheduler.config.k8s.io/")
    {
        return Err(at(
            &args.field("apiVersion"),
            format!("unexpected apiVersion {v:?} (expected {API_VERSION})"),
        ));
    }
    if let Some(k) = args.str("kind")? {
        let want = format!("{plugin}Args");
        if k != want {
            return Err(at(
                &args.field("kind"),
                format!("unexpected kind {k:?} for plugin {plugin} (expected {want})"),
            ));
        }
    }
    Ok(())
}

fn apply_plugin_config(
    profile: &mut Profile,
    path: &str,
    item: &Obj<'_>,
    warnings: &mut Vec<String>,
) -> R<String> {
    item.only(&["name", "args"])?;
    let name = item
        .str("name")?
        .ok_or_else(|| at(&item.path, "missing field \"name\""))?;
    let info = plugin_info(&name)
        .ok_or_else(|| at(&item.field("name"), format!("unknown plugin {name:?}")))?;
    let Some(args) = item.obj("args")? else {
        return Ok(name);
    };
    check_args_type(&args, &name)?;
    match name.as_str() {
        "NodeResourcesFit" => profile.fit = fit_args(&args)?,
        "PodTopologySpread" => profile.spread = spread_args(&args)?,
        "NodeResourcesBalancedAllocation" => {
            args.only(&["apiVersion", "kind", "resources"])?;
            if let Some(resources) = resource_weights(&args)? {
                profile.balanced.resources = resources;
            }
        }
        "InterPodAffinity" => {
            args.only(&[
                "apiVersion",
                "kind",
                "hardPodAffinityWeight",
                "ignorePreferredTermsOfExistingPods",
            ])?;
            if let Some(w) = args.int_in("hardPodAffinityWeight", 0, 100)? {
                profile.hard_pod_affinity_weight = w;
            }
            if args.bool("ignorePreferredTermsOfExistingPods")? == Some(true) {
                warnings.push(format!(
                    "{}: not supported; preferred terms of existing pods are still scored",
                    args.field("ignorePreferredTermsOfExistingPods")
                ));
            }
        }
        "NodeAffinity" => {
            args.only(&["apiVersion", "kind", "addedAffinity"])?;
            if let Some(a) = args.obj("addedAffinity")? {
                profile.added_affinity = added_affinity(&a)?;
            }
        }
        "NodePurpose" => {
            args.only(&["apiVersion", "kind", "key", "value", "match"])?;
            if let Some(k) = args.str("key")? {
                if k.is_empty() {
                    return Err(at(&args.field("key"), "must not be empty"));
                }
                profile.node_purpose.key = k;
            }
            if let Some(v) = args.str("value")? {
                profile.node_purpose.value = v;
            }
            if let Some(m) = args.str("match")? {
                profile.node_purpose.mode = match m.as_str() {
                    "prefer" => NodePurposeMode::Prefer,
                    "require" => NodePurposeMode::Require,
                    "ignore" => NodePurposeMode::Ignore,
                    other => {
                        return Err(at(
                            &args.field("match"),
                            format!("unknown mode {other:?} (expected prefer, require or ignore)"),
                        ));
                    }
                };
            }
        }
        "RealUserColocation" => {
            args.only(&[
                "apiVersion",
                "kind",
                "realUserSelector",
                "placeholderSelector",
                "packingPreemption",
            ])?;
            if let Some(on) = args.bool("packingPreemption")? {
                profile.packing_preemption = on;
            }
            if let Some(s) = args.obj("realUserSelector")? {
                profile.roles.real_user = label_selector(&s)?;
            }
            if let Some(s) = args.obj("placeholderSelector")? {
                profile.roles.placeholder = label_selector(&s)?;
            }
        }
        "VolumeBinding" => {
            args.only(&["apiVersion", "kind", "bindTimeoutSeconds", "shape"])?;
            // kube accepts 0, which fails every PreBind at once; we ask for
            // a timeout that can be met.
            if let Some(t) = args.int_in("bindTimeoutSeconds", 1, i64::from(u32::MAX))? {
                profile.volume_bind_timeout_seconds = u64::try_from(t).unwrap_or(u64::MAX);
            }
            if args.get("shape").is_some() {
                warnings.push(format!(
                    "{}: accepted but ignored: user-scheduler does not score by storage capacity",
                    args.field("shape")
                ));
            }
        }
        "DefaultPreemption" => {
            args.only(&[
                "apiVersion",
                "kind",
                "minCandidateNodesPercentage",
                "minCandidateNodesAbsolute",
            ])?;
            let pct = args.int_in("minCandidateNodesPercentage", 0, 100)?;
            let abs = args.int_in("minCandidateNodesAbsolute", 0, i64::from(i32::MAX))?;
            if pct == Some(0) && abs == Some(0) {
                return Err(at(
                    &args.path,
                    "minCandidateNodesPercentage and minCandidateNodesAbsolute must not both be 0",
                ));
            }
            if pct.is_some() || abs.is_some() {
                warnings.push(format!(
                    "{}: minCandidateNodes* accepted but ignored: preemption considers every node",
                    args.path
                ));
            }
        }
        _ => {
            let extra: Vec<&str> = args
                .map
                .keys()
                .filter_map(Value::as_str)
                .filter(|k| *k != "apiVersion" && *k != "kind")
                .collect();
            if !extra.is_empty() {
                let why = if info.support == Support::Ignored {
                    "the plugin is not implemented by user-scheduler"
                } else {
                    "the plugin takes no arguments here"
                };
                warnings.push(format!(
                    "{path}: args of {name} ({}) ignored: {why}",
                    extra.join(", ")
                ));
            }
        }
    }
    Ok(name)
}

fn parse_profile(obj: &Obj<'_>, warnings: &mut Vec<String>) -> R<Profile> {
    obj.only(&[
        "schedulerName",
        "percentageOfNodesToScore",
        "plugins",
        "pluginConfig",
    ])?;
    let name = obj
        .str("schedulerName")?
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| DEFAULT_SCHEDULER_NAME.to_string());
    let mut profile = Profile::kube_default(&name);
    if obj.int_in("percentageOfNodesToScore", 0, 100)?.is_some() {
        warnings.push(format!(
            "{}: accepted but ignored: every feasible node is scored",
            obj.field("percentageOfNodesToScore")
        ));
    }
    apply_plugins(
        &mut profile,
        &obj.path,
        obj.obj("plugins")?.as_ref(),
        warnings,
    )?;
    // An enabled NodePurpose without args uses its default mode (prefer);
    // kube's defaults leave it disabled, and then it does nothing.
    let purpose_filter = profile.filter_enabled(FilterPlugin::NodePurpose);
    let purpose_score = profile.score_weight(ScorePlugin::NodePurpose).is_some();
    if purpose_filter || purpose_score {
        profile.node_purpose.mode = NodePurposeMode::Prefer;
    }
    let mut seen = HashSet::new();
    for (path, v) in obj.list("pluginConfig")? {
        let item = Obj::new(path.clone(), v)?;
        let name = apply_plugin_config(&mut profile, &path, &item, warnings)?;
        if !seen.insert(name.clone()) {
            return Err(at(&path, format!("duplicate pluginConfig for {name:?}")));
        }
    }
    // kube gives a pod without constraints of its own the default
    // constraints, selecting like the Services, ReplicationControllers,
    // ReplicaSets and StatefulSets that select or own it. The daemon
    // watches none of those, so it cannot build that selector: say so
    // rather than spread differently in silence.
    // (Defaults act at the point of their whenUnsatisfiable: the system
    // defaults, ScheduleAnyway, only where PodTopologySpread scores.)
    let spread_filter = profile.filter_enabled(FilterPlugin::PodTopologySpread);
    let spread_score = profile
        .score_weight(ScorePlugin::PodTopologySpread)
        .is_some();
    let defaults_act = profile
        .spread
        .defaults()
        .iter()
        .any(|c| match c.when_unsatisfiable {
            WhenUnsatisfiable::DoNotSchedule => spread_filter,
            WhenUnsatisfiable::ScheduleAnyway => spread_score,
        });
    if defaults_act {
        warnings.push(format!(
            "{} ({}): PodTopologySpread's default constraints are not applied by the daemon: \
             kube-scheduler selects their pods with the selectors of the Services, \
             ReplicationControllers, ReplicaSets and StatefulSets that select or own a pod \
             (the placeholders' StatefulSet among them), which user-scheduler does not watch; \
             pods' own topologySpreadConstraints are honoured, and `explain` applies the \
             defaults when its cluster file holds those objects",
            obj.path, profile.scheduler_name
        ));
    }
    if profile.node_purpose.mode == NodePurposeMode::Require && !purpose_filter {
        warnings.push(format!(
            "{} ({}): NodePurpose match \"require\" has no effect: the NodePurpose filter is not enabled",
            obj.path, profile.scheduler_name
        ));
    }
    if profile.node_purpose.mode == NodePurposeMode::Prefer && purpose_filter && !purpose_score {
        warnings.push(format!(
            "{} ({}): NodePurpose match \"prefer\" has no effect: the NodePurpose score is not enabled",
            obj.path, profile.scheduler_name
        ));
    }
    Ok(profile)
}

/// Top-level fields kube-scheduler has that user-scheduler accepts and ignores, and why.
const IGNORED_FIELDS: &[(&str, &str)] = &[
    (
        "enableProfiling",
        "user-scheduler serves no profiling endpoints",
    ),
    (
        "enableContentionProfiling",
        "user-scheduler serves no profiling endpoints",
    ),
    (
        "healthzBindAddress",
        "deprecated in kube-scheduler; user-scheduler's listen address is not set here",
    ),
    (
        "metricsBindAddress",
        "deprecated in kube-scheduler; user-scheduler's listen address is not set here",
    ),
    (
        "delayCacheUntilActive",
        "user-scheduler keeps its cache warm whether or not it leads",
    ),
];

fn parse_root(value: &Value, warnings: &mut Vec<String>) -> R<SchedulerConfig> {
    if value.is_null() {
        return Err(at("", "empty configuration"));
    }
    let root = Obj::new(String::new(), value)?;
    let mut keys = vec![
        "apiVersion",
        "kind",
        "parallelism",
        "leaderElection",
        "clientConnection",
        "percentageOfNodesToScore",
        "podInitialBackoffSeconds",
        "podMaxBackoffSeconds",
        "podMaxInUnschedulablePodsDuration",
        "profiles",
        "extenders",
    ];
    keys.extend(IGNORED_FIELDS.iter().map(|(k, _)| *k));
    root.only(&keys)?;
    match root.str("apiVersion")? {
        Some(v) if v == API_VERSION => {}
        Some(v) => {
            return Err(at(
                "apiVersion",
                format!("unsupported apiVersion {v:?} (expected {API_VERSION})"),
            ));
        }
        None => {
            return Err(at(
                "apiVersion",
                format!("missing (expected {API_VERSION})"),
            ));
        }
    }
    match root.str("kind")? {
        Some(k) if k == KIND => {}
        Some(k) => {
            return Err(at(
                "kind",
                format!("unexpected kind {k:?} (expected {KIND})"),
            ));
        }
        None => return Err(at("kind", format!("missing (expected {KIND})"))),
    }
    // A file's omitted fields take kube-scheduler's defaults, its Lease
    // included (`kube-system/kube-scheduler`), as kube-scheduler reads it.
    let mut config = SchedulerConfig {
        leader_election: LeaderElection::default(),
        ..SchedulerConfig::default()
    };
    for (field, why) in IGNORED_FIELDS {
        if root.has(field) {
            warnings.push(format!("{field}: accepted but ignored: {why}"));
        }
    }
    if let Some(p) = root.int_in("parallelism", 1, i64::from(u32::MAX))? {
        config.parallelism = u32::try_from(p).unwrap_or(u32::MAX);
    }
    if let Some(p) = root.int_in("percentageOfNodesToScore", 0, 100)? {
        config.percentage_of_nodes_to_score = i32::try_from(p).ok();
        warnings.push(
            "percentageOfNodesToScore: accepted but ignored: every feasible node is scored".into(),
        );
    }
    let secs = |v: i64| Duration::from_secs(u64::try_from(v).unwrap_or(0));
    if let Some(v) = root.int_in("podInitialBackoffSeconds", 1, i64::MAX)? {
        config.pod_initial_backoff = secs(v);
    }
    if let Some(v) = root.int_in("podMaxBackoffSeconds", 1, i64::MAX)? {
        config.pod_max_backoff = secs(v);
    }
    if config.pod_max_backoff < config.pod_initial_backoff {
        return Err(at(
            "podMaxBackoffSeconds",
            "must not be less than podInitialBackoffSeconds",
        ));
    }
    if let Some(d) = root.duration("podMaxInUnschedulablePodsDuration")? {
        if d.is_zero() {
            return Err(at(
                "podMaxInUnschedulablePodsDuration",
                "must be greater than zero",
            ));
        }
        config.pod_max_in_unschedulable = d;
    }
    if !root.list("extenders")?.is_empty() {
        return Err(at("extenders", "scheduler extenders are not supported"));
    }
    if let Some(le) = root.obj("leaderElection")? {
        config.leader_election = parse_leader_election(&le)?;
    }
    if let Some(cc) = root.obj("clientConnection")? {
        cc.only(&[
            "kubeconfig",
            "acceptContentTypes",
            "contentType",
            "qps",
            "burst",
        ])?;
        for f in ["acceptContentTypes", "contentType"] {
            if cc.has(f) {
                warnings.push(format!(
                    "{}: accepted but ignored: the API client picks its own content type",
                    cc.field(f)
                ));
            }
        }
        if let Some(q) = cc.float("qps")? {
            // kube's field is a float32: 1e300 is not a rate it could hold.
            if !(q.is_finite() && q >= 0.0 && q <= f64::from(f32::MAX)) {
                return Err(at(
                    &cc.field("qps"),
                    format!("must be a non-negative number of at most {:e}", f32::MAX),
                ));
            }
            config.client_connection.qps = q as f32;
        }
        if let Some(b) = cc.int_in("burst", 0, i64::from(u32::MAX))? {
            config.client_connection.burst = u32::try_from(b).unwrap_or(u32::MAX);
        }
        for f in ["qps", "burst"] {
            if cc.has(f) {
                warnings.push(format!(
                    "{}: accepted but ignored: user-scheduler does not throttle its own \
                     requests (the API server's priority and fairness does, and requests it \
                     turns away with 429 are retried with backoff)",
                    cc.field(f)
                ));
            }
        }
        // Used when `--kubeconfig` is not given, as kube-scheduler does.
        config.client_connection.kubeconfig = cc.str("kubeconfig")?.filter(|s| !s.is_empty());
    }
    let profiles = root.list("profiles")?;
    config.profiles = if profiles.is_empty() {
        // kube's v1 defaulting: one profile named default-scheduler.
        vec![parse_profile(
            &Obj {
                path: "profiles[0]".into(),
                map: &Mapping::new(),
            },
            warnings,
        )?]
    } else {
        let mut out: Vec<Profile> = Vec::new();
        for (path, v) in profiles {
            let profile = parse_profile(&Obj::new(path.clone(), v)?, warnings)?;
            if out
                .iter()
                .any(|p| p.scheduler_name == profile.scheduler_name)
            {
                return Err(at(
                    &join(&path, "schedulerName"),
                    format!("duplicate schedulerName {:?}", profile.scheduler_name),
                ));
            }
            // The cluster cache classifies every pod once, for all profiles:
            // the profiles that score colocation must agree on how.
            if colocating(&profile)
                && out
                    .iter()
                    .find(|p| colocating(p))
                    .is_some_and(|first| first.roles != profile.roles)
            {
                return Err(at(
                    &join(&path, "pluginConfig"),
                    "RealUserColocation's realUserSelector and placeholderSelector must be the \
                     same in every profile that scores it (pods are classified once for the \
                     whole cluster)"
                        .to_string(),
                ));
            }
            out.push(profile);
        }
        out
    };
    Ok(config)
}

fn parse_leader_election(le: &Obj<'_>) -> R<LeaderElection> {
    le.only(&[
        "leaderElect",
        "leaseDuration",
        "renewDeadline",
        "retryPeriod",
        "resourceLock",
        "resourceName",
        "resourceNamespace",
    ])?;
    let mut out = LeaderElection::default();
    if let Some(b) = le.bool("leaderElect")? {
        out.leader_elect = b;
    }
    if let Some(d) = le.duration("leaseDuration")? {
        out.lease_duration = d;
    }
    if let Some(d) = le.duration("renewDeadline")? {
        out.renew_deadline = d;
    }
    if let Some(d) = le.duration("retryPeriod")? {
        out.retry_period = d;
    }
    if let Some(lock) = le.str("resourceLock")? {
        if lock != "leases" {
            return Err(at(
                &le.field("resourceLock"),
                format!("unsupported resource lock {lock:?} (only \"leases\" is supported)"),
            ));
        }
        out.resource_lock = lock;
    }
    if let Some(n) = le.str("resourceName")?.filter(|s| !s.is_empty()) {
        out.resource_name = n;
    }
    if let Some(n) = le.str("resourceNamespace")?.filter(|s| !s.is_empty()) {
        out.resource_namespace = n;
    }
    if out.leader_elect {
        out.check_timings()
            .map_err(|(field, message)| at(&le.field(field), message))?;
    }
    Ok(out)
}

/// How much client-go's elector jitters its retries: a retry comes up to
/// 1.2 × `retryPeriod` after the last, and a renewal must fit in the deadline.
pub const LEADER_JITTER_FACTOR: f64 = 1.2;

impl LeaderElection {
    /// The timing rules of client-go's elector, and one of ours, in one
    /// place: the loader checks them (a bad file exits 2 before any
    /// connection) and the elector checks them again. The error names the
    /// field (`leaseDuration`, `renewDeadline`, `retryPeriod`).
    ///
    /// Ours: the Lease carries whole seconds (`leaseDurationSeconds`,
    /// truncated as client-go truncates), and other candidates time the
    /// lease by that value, so the *written* duration must still exceed the
    /// renew deadline (1500ms is written as 1s, which a 1200ms deadline
    /// outlives).
    ///
    /// # Errors
    /// The field and what is wrong with it.
    pub fn check_timings(&self) -> Result<(), (&'static str, String)> {
        for (field, d) in [
            ("leaseDuration", self.lease_duration),
            ("renewDeadline", self.renew_deadline),
            ("retryPeriod", self.retry_period),
        ] {
            if d.is_zero() {
                return Err((field, "must be greater than zero".into()));
            }
        }
        let written = Duration::from_secs(self.lease_duration.as_secs());
        if written <= self.renew_deadline {
            return Err((
                "leaseDuration",
                format!(
                    "must be greater than renewDeadline ({:?}) in whole seconds: the Lease \
                     records {}s",
                    self.renew_deadline,
                    written.as_secs()
                ),
            ));
        }
        if i32::try_from(self.lease_duration.as_secs()).is_err() {
            return Err((
                "leaseDuration",
                "is too long (the Lease records whole seconds as a 32-bit number)".into(),
            ));
        }
        // Durations here are at most i64 nanoseconds (the Go duration
        // parser's range), so 1.2 × cannot overflow a Duration.
        let jittered =
            Duration::try_from_secs_f64(self.retry_period.as_secs_f64() * LEADER_JITTER_FACTOR)
                .unwrap_or(Duration::MAX);
        if self.renew_deadline <= jittered {
            return Err((
                "renewDeadline",
                format!("must be greater than {LEADER_JITTER_FACTOR} × retryPeriod ({jittered:?})"),
            ));
        }
        Ok(())
    }
}

/// The [`RoleSelectors`] `explain` and the daemon classify pods with: those
/// of the profiles that score RealUserColocation (the parser requires them
/// to agree), else the first profile's.
#[must_use]
pub fn roles(config: &SchedulerConfig) -> RoleSelectors {
    roles_of(&config.profiles)
}

/// [`roles`] of a list of profiles.
#[must_use]
pub fn roles_of(profiles: &[Profile]) -> RoleSelectors {
    profiles
        .iter()
        .find(|p| colocating(p))
        .or(profiles.first())
        .map_or_else(RoleSelectors::default, |p| p.roles.clone())
}

/// Whether `profile` scores RealUserColocation.
fn colocating(profile: &Profile) -> bool {
    profile
        .score_weight(score::profile::ScorePlugin::RealUserColocation)
        .is_some()
}

#[cfg(test)]
mod tests {
    use super::*;
    use score::model::LabelSelectorOperator;

    const Z2JH: &str = include_str!("../tests/fixtures/z2jh-config.yaml");

    const HEAD: &str =
        "apiVersion: kubescheduler.config.k8s.io/v1\nkind: KubeSchedulerConfiguration\n";

    fn cfg(body: &str) -> Result<SchedulerConfig, ConfigError> {
        parse(&format!("{HEAD}{body}"), "config.yaml")
    }

    fn one_profile(body: &str) -> Profile {
        let c = cfg(&format!("profiles:\n- schedulerName: s\n{body}")).unwrap();
        assert_eq!(c.profiles.len(), 1);
        c.profiles.into_iter().next().unwrap()
    }

    fn sorted(mut scores: Vec<(ScorePlugin, i64)>) -> Vec<(ScorePlugin, i64)> {
        scores.sort();
        scores
    }

    fn kube_filters() -> Vec<FilterPlugin> {
        FilterPlugin::ALL
            .into_iter()
            .filter(|f| *f != FilterPlugin::NodePurpose)
            .collect()
    }

    #[test]
    fn balanced_allocation_args_are_parsed() {
        let c = cfg("profiles:\n- pluginConfig:\n  - name: NodeResourcesBalancedAllocation\n    args:\n      kind: NodeResourcesBalancedAllocationArgs\n      resources: [{name: cpu, weight: 1}, {name: memory}, {name: nvidia.com/gpu, weight: 3}]").unwrap();
        let p = &c.profiles[0];
        let names: Vec<(&str, i64)> = p
            .balanced
            .resources
            .iter()
            .map(|r| (r.name.as_str(), r.weight))
            .collect();
        assert_eq!(
            names,
            [("cpu", 1), ("memory", 1), ("nvidia.com/gpu", 3)],
            "an unset weight is 1"
        );
        // In kube's default profile at weight 1, and implemented: no warning.
        assert_eq!(
            p.score_weight(score::profile::ScorePlugin::NodeResourcesBalancedAllocation),
            Some(1)
        );
        assert!(
            !c.warnings.iter().any(|w| w.contains("BalancedAllocation")),
            "{:?}",
            c.warnings
        );
        // Without args: cpu and memory.
        let c = cfg("profiles:\n- schedulerName: x").unwrap();
        assert_eq!(
            c.profiles[0].balanced,
            score::profile::BalancedArgs::default()
        );
    }

    #[test]
    fn pod_topology_spread_args_are_parsed() {
        use score::model::{NodeInclusionPolicy, WhenUnsatisfiable};
        // Defaults: System, which kube's default profile and z2jh's use.
        let c = cfg("profiles:\n- schedulerName: x").unwrap();
        assert_eq!(c.profiles[0].spread, SpreadArgs::default());
        assert_eq!(c.profiles[0].spread.defaults().len(), 2);
        // A list without defaultingType is List (kube's v1 defaulting).
        let c = cfg("profiles:
- pluginConfig:
  - name: PodTopologySpread
    args:
      kind: PodTopologySpreadArgs
      defaultConstraints:
      - {maxSkew: 2, topologyKey: topology.kubernetes.io/zone, whenUnsatisfiable: DoNotSchedule, minDomains: 3, nodeTaintsPolicy: Honor, matchLabelKeys: [app]}
")
        .unwrap();
        let s = &c.profiles[0].spread;
        assert!(!s.system_defaulting);
        assert_eq!(
            s.default_constraints,
            vec![TopologySpreadConstraint {
                max_skew: 2,
                topology_key: "topology.kubernetes.io/zone".into(),
                when_unsatisfiable: WhenUnsatisfiable::DoNotSchedule,
                label_selector: None,
                min_domains: Some(3),
                node_affinity_policy: None,
                node_taints_policy: Some(NodeInclusionPolicy::Honor),
                match_label_keys: vec!["app".into()],
            }]
        );
        assert_eq!(s.defaults(), s.default_constraints);
        // List without constraints: no defaults, and nothing to warn about.
        let c = cfg(
            "profiles:\n- pluginConfig: [{name: PodTopologySpread, args: {defaultingType: List}}]",
        )
        .unwrap();
        assert!(c.profiles[0].spread.defaults().is_empty());
        assert!(
            !c.warnings.iter().any(|w| w.contains("PodTopologySpread")),
            "{:?}",
            c.warnings
        );
    }

    #[test]
    fn z2jh_fixture_loads_with_kube_weights() {
        let c = parse(Z2JH, "z2jh-config.yaml").unwrap();
        assert_eq!(c.profiles.len(), 1);
        let p = &c.profiles[0];
        assert_eq!(p.scheduler_name, "jhub-user-scheduler");
        assert_eq!(
            sorted(p.scores.clone()),
            sorted(vec![
                (ScorePlugin::NodeAffinity, 14631),
                (ScorePlugin::InterPodAffinity, 1331),
                (ScorePlugin::NodeResourcesFit, 121),
                (ScorePlugin::ImageLocality, 11),
                (ScorePlugin::TaintToleration, 3),
                (ScorePlugin::PodTopologySpread, 2),
            ])
        );
        assert_eq!(p.filters, kube_filters());
        assert_eq!(p.fit.strategy, ScoringStrategy::MostAllocated);
        assert_eq!(
            p.fit.resources,
            vec![
                ResourceWeight {
                    name: "cpu".into(),
                    weight: 1
                },
                ResourceWeight {
                    name: "memory".into(),
                    weight: 1
                },
            ]
        );
        assert_eq!(p.node_purpose.mode, NodePurposeMode::Ignore);
        assert_eq!(c.leader_election.resource_name, "user-scheduler-lock");
        assert_eq!(c.leader_election.resource_namespace, "jhub");
        assert_eq!(c.leader_election.resource_lock, "leases");
        assert!(c.leader_election.leader_elect);
        assert_eq!(c.leader_election.lease_duration, Duration::from_secs(15));
        assert_eq!(c.leader_election.renew_deadline, Duration::from_secs(10));
        assert_eq!(c.leader_election.retry_period, Duration::from_secs(2));
        assert_eq!(c.parallelism, 16);
        assert_eq!(c.pod_initial_backoff, Duration::from_secs(1));
        assert_eq!(c.pod_max_backoff, Duration::from_secs(10));
        assert_eq!(c.client_connection, ClientConnection::default());
        // PodTopologySpread and BalancedAllocation are implemented: no
        // "not implemented" warning; the spread's default constraints
        // say what the daemon cannot know.
        assert!(
            !c.warnings.iter().any(|w| w.contains("not implemented")),
            "{:?}",
            c.warnings
        );
        assert!(
            c.warnings.iter().any(|w| w
                .contains("PodTopologySpread's default constraints are not applied by the daemon")),
            "{:?}",
            c.warnings
        );
        // Implicit plugins: no warning.
        for name in [
            "PrioritySort",
            "DefaultBinder",
            "DefaultPreemption",
            "SchedulingGates",
        ] {
            assert!(!c.warnings.iter().any(|w| w.contains(name)), "{name}");
        }
        assert!(c.warnings[0].starts_with("z2jh-config.yaml: profiles[0] (jhub-user-scheduler): "));
    }

    #[test]
    fn defaults_match_kube_default_profile() {
        // No plugins section: kube's v1 defaults, which equal Profile::kube_default.
        let c = cfg("profiles:\n- schedulerName: s\n").unwrap();
        let mut want = Profile::kube_default("s");
        want.scores = sorted(want.scores);
        let mut got = c.profiles[0].clone();
        got.scores = sorted(got.scores);
        assert_eq!(got, want);
    }

    #[test]
    fn no_profiles_gives_default_scheduler() {
        let c = cfg("").unwrap();
        assert_eq!(c.profiles.len(), 1);
        assert_eq!(c.profiles[0].scheduler_name, DEFAULT_SCHEDULER_NAME);
        assert_eq!(c.profiles[0].filters, kube_filters());
        // A profile without a name gets the default name too.
        let c = cfg("profiles:\n- {}\n").unwrap();
        assert_eq!(c.profiles[0].scheduler_name, DEFAULT_SCHEDULER_NAME);
    }

    #[test]
    fn score_resolution_table() {
        use ScorePlugin as S;
        // (plugins YAML, expected scores)
        let cases: Vec<(&str, Vec<(ScorePlugin, i64)>)> = vec![
            // PR #1837 style: disable then enable with a new weight.
            (
                "score: {disabled: [{name: NodeAffinity}], enabled: [{name: NodeAffinity, weight: 50}]}",
                vec![
                    (S::TaintToleration, 3),
                    (S::NodeAffinity, 50),
                    (S::InterPodAffinity, 2),
                    (S::NodeResourcesFit, 1),
                    (S::ImageLocality, 1),
                    (S::NodeResourcesBalancedAllocation, 1),
                    (S::PodTopologySpread, 2),
                ],
            ),
            // Enable without disable: the score entry overrides the multiPoint weight.
            (
                "score: {enabled: [{name: NodeAffinity, weight: 50}]}",
                vec![
                    (S::TaintToleration, 3),
                    (S::NodeAffinity, 50),
                    (S::InterPodAffinity, 2),
                    (S::NodeResourcesFit, 1),
                    (S::ImageLocality, 1),
                    (S::NodeResourcesBalancedAllocation, 1),
                    (S::PodTopologySpread, 2),
                ],
            ),
            // Disabled and not re-enabled.
            (
                "score: {disabled: [{name: ImageLocality}, {name: TaintToleration}]}",
                vec![
                    (S::NodeAffinity, 2),
                    (S::InterPodAffinity, 2),
                    (S::NodeResourcesFit, 1),
                    (S::NodeResourcesBalancedAllocation, 1),
                    (S::PodTopologySpread, 2),
                ],
            ),
            // `*` removes every default score plugin; weight 0 and unset mean 1.
            (
                "score: {disabled: [{name: '*'}], enabled: [{name: ImageLocality, weight: 0}, {name: RealUserColocation}]}",
                vec![(S::ImageLocality, 1), (S::RealUserColocation, 1)],
            ),
            // multiPoint re-configuration: replaces the default in place with a new weight.
            (
                "multiPoint: {enabled: [{name: TaintToleration, weight: 7}, {name: NodePurpose, weight: 9}]}",
                vec![
                    (S::TaintToleration, 7),
                    (S::NodeAffinity, 2),
                    (S::InterPodAffinity, 2),
                    (S::NodeResourcesFit, 1),
                    (S::ImageLocality, 1),
                    (S::NodeResourcesBalancedAllocation, 1),
                    (S::PodTopologySpread, 2),
                    (S::NodePurpose, 9),
                ],
            ),
            // A score weight wins over the multiPoint weight.
            (
                "multiPoint: {enabled: [{name: NodePurpose, weight: 9}]}\n    score: {enabled: [{name: NodePurpose, weight: 4}]}",
                vec![
                    (S::TaintToleration, 3),
                    (S::NodeAffinity, 2),
                    (S::InterPodAffinity, 2),
                    (S::NodeResourcesFit, 1),
                    (S::ImageLocality, 1),
                    (S::NodeResourcesBalancedAllocation, 1),
                    (S::PodTopologySpread, 2),
                    (S::NodePurpose, 4),
                ],
            ),
            // multiPoint `*`: nothing but what is enabled (a queue sort and a
            // binder are needed, as in kube).
            (
                "multiPoint: {disabled: [{name: '*'}], enabled: [{name: PrioritySort}, {name: DefaultBinder}, {name: NodeResourcesFit, weight: 5}]}",
                vec![(S::NodeResourcesFit, 5)],
            ),
        ];
        for (plugins, want) in cases {
            let p = one_profile(&format!("  plugins:\n    {plugins}\n"));
            assert_eq!(sorted(p.scores), sorted(want), "{plugins}");
        }
    }

    #[test]
    fn filter_resolution_table() {
        use FilterPlugin as F;
        // (plugins YAML, expected filters)
        let cases: Vec<(&str, Vec<FilterPlugin>)> = vec![
            ("{}", kube_filters()),
            (
                "filter: {disabled: [{name: NodePorts}, {name: InterPodAffinity}]}",
                vec![
                    F::NodeUnschedulable,
                    F::NodeName,
                    F::TaintToleration,
                    F::NodeAffinity,
                    F::NodeResourcesFit,
                    F::PodTopologySpread,
                ],
            ),
            (
                "filter: {enabled: [{name: NodePurpose}]}",
                FilterPlugin::ALL.to_vec(),
            ),
            (
                "filter: {disabled: [{name: '*'}], enabled: [{name: NodeResourcesFit}]}",
                vec![F::NodeResourcesFit],
            ),
            (
                "multiPoint: {enabled: [{name: NodePurpose}]}",
                FilterPlugin::ALL.to_vec(),
            ),
        ];
        for (plugins, want) in cases {
            let p = one_profile(&format!("  plugins:\n    {plugins}\n"));
            assert_eq!(p.filters, want, "{plugins}");
        }
    }

    #[test]
    fn errors_name_what_is_wrong() {
        // (config body after apiVersion/kind, expected message)
        let cases = [
            (
                "profiles:\n- plugins: {score: {enabled: [{name: NodeAffinity}, {name: ImageLocality}, {name: NodeResourcesFitt}]}}",
                "config.yaml: profiles[0].plugins.score.enabled[2]: unknown plugin \"NodeResourcesFitt\"",
            ),
            (
                "leaderElektion: {}",
                "config.yaml: unknown field \"leaderElektion\"",
            ),
            (
                "profiles:\n- plugins: {scor: {}}",
                "config.yaml: profiles[0].plugins: unknown field \"scor\"",
            ),
            (
                "profiles:\n- plugins: {filter: {disabled: [{name: Nope}]}}",
                "config.yaml: profiles[0].plugins.filter.disabled[0]: unknown plugin \"Nope\"",
            ),
            (
                "profiles:\n- plugins: {score: {enabled: [{name: NodePorts}]}}",
                "config.yaml: profiles[0].plugins.score.enabled[0]: plugin \"NodePorts\" does not extend score",
            ),
            (
                "profiles:\n- plugins: {score: {enabled: [{name: ImageLocality}, {name: ImageLocality}]}}",
                "config.yaml: profiles[0].plugins.score: plugin \"ImageLocality\" already registered as score",
            ),
            (
                "profiles:\n- plugins: {multiPoint: {enabled: [{name: NodePurpose}, {name: NodePurpose}]}}",
                "config.yaml: profiles[0].plugins.multiPoint: plugin \"NodePurpose\" already registered as filter",
            ),
            (
                "profiles:\n- plugins: {score: {enabled: [{name: ImageLocality, weight: -1}]}}",
                "config.yaml: profiles[0].plugins.score.enabled[0].weight: -1 is out of range 0..=2147483647",
            ),
            (
                "leaderElection: {leaseDuration: 15 seconds}",
                "config.yaml: leaderElection.leaseDuration: invalid duration \"15 seconds\" (expected a Go duration such as \"15s\", \"1m30s\" or \"500ms\")",
            ),
            (
                "leaderElection: {resourceLock: endpointsleases}",
                "config.yaml: leaderElection.resourceLock: unsupported resource lock \"endpointsleases\" (only \"leases\" is supported)",
            ),
            (
                "leaderElection: {leaseDuration: 5s}",
                "config.yaml: leaderElection.leaseDuration: must be greater than renewDeadline (10s) in whole seconds: the Lease records 5s",
            ),
            (
                // 1500ms is written to the Lease as 1s, which the 1200ms
                // deadline outlives: client-go's elector would refuse it.
                "leaderElection: {leaseDuration: 1500ms, renewDeadline: 1200ms, retryPeriod: 100ms}",
                "config.yaml: leaderElection.leaseDuration: must be greater than renewDeadline (1.2s) in whole seconds: the Lease records 1s",
            ),
            (
                "leaderElection: {leaseDuration: 3ns, renewDeadline: 2ns, retryPeriod: 1ns}",
                "config.yaml: leaderElection.leaseDuration: must be greater than renewDeadline (2ns) in whole seconds: the Lease records 0s",
            ),
            (
                "leaderElection: {retryPeriod: 0s}",
                "config.yaml: leaderElection.retryPeriod: must be greater than zero",
            ),
            (
                "leaderElection: {leaseDuration: 3000000000s, renewDeadline: 10s}",
                "config.yaml: leaderElection.leaseDuration: is too long (the Lease records whole seconds as a 32-bit number)",
            ),
            (
                // 11 s ≤ 1.2 × 10 s: the elector would refuse it.
                "leaderElection: {leaseDuration: 15s, renewDeadline: 11s, retryPeriod: 10s}",
                "config.yaml: leaderElection.renewDeadline: must be greater than 1.2 × retryPeriod (12s)",
            ),
            (
                "podMaxInUnschedulablePodsDuration: 0s",
                "config.yaml: podMaxInUnschedulablePodsDuration: must be greater than zero",
            ),
            (
                "extenders: [{urlPrefix: 'http://x'}]",
                "config.yaml: extenders: scheduler extenders are not supported",
            ),
            (
                "parallelism: 0",
                "config.yaml: parallelism: 0 is out of range 1..=4294967295",
            ),
            (
                "percentageOfNodesToScore: 101",
                "config.yaml: percentageOfNodesToScore: 101 is out of range 0..=100",
            ),
            (
                "podInitialBackoffSeconds: 20",
                "config.yaml: podMaxBackoffSeconds: must not be less than podInitialBackoffSeconds",
            ),
            (
                "parallelism: many",
                "config.yaml: parallelism: expected an integer, found \"many\"",
            ),
            (
                "profiles:\n- schedulerName: a\n- schedulerName: a",
                "config.yaml: profiles[1].schedulerName: duplicate schedulerName \"a\"",
            ),
            (
                "profiles:\n- schedulerName: a\n  plugins: {score: {enabled: [{name: RealUserColocation}]}}\n- schedulerName: b\n  plugins: {score: {enabled: [{name: RealUserColocation}]}}\n  pluginConfig: [{name: RealUserColocation, args: {realUserSelector: {matchLabels: {component: notebook}}}}]",
                "config.yaml: profiles[1].pluginConfig: RealUserColocation's realUserSelector and placeholderSelector must be the same in every profile that scores it (pods are classified once for the whole cluster)",
            ),
            (
                "profiles:\n- pluginConfig: [{name: NodeResourcesFit, args: {scoringStrategy: {type: RequestedToCapacityRatio}}}]",
                "config.yaml: profiles[0].pluginConfig[0].args.scoringStrategy.type: RequestedToCapacityRatio is not supported (use MostAllocated or LeastAllocated)",
            ),
            (
                "profiles:\n- pluginConfig: [{name: NodeResourcesFit, args: {scoringStrategy: {type: MostAllocated, resources: [{name: cpu, weight: 101}]}}}]",
                "config.yaml: profiles[0].pluginConfig[0].args.scoringStrategy.resources[0].weight: 101 is out of range 0..=100",
            ),
            (
                "profiles:\n- pluginConfig: [{name: NodeResourcesFit, args: {scoringStratgy: {}}}]",
                "config.yaml: profiles[0].pluginConfig[0].args: unknown field \"scoringStratgy\"",
            ),
            (
                "profiles:\n- pluginConfig: [{name: PodTopologySpread, args: {defaultConstraint: []}}]",
                "config.yaml: profiles[0].pluginConfig[0].args: unknown field \"defaultConstraint\"",
            ),
            (
                "profiles:\n- pluginConfig: [{name: PodTopologySpread, args: {defaultingType: Zonal}}]",
                "config.yaml: profiles[0].pluginConfig[0].args.defaultingType: unknown defaultingType \"Zonal\" (expected System or List)",
            ),
            (
                "profiles:\n- pluginConfig: [{name: PodTopologySpread, args: {defaultingType: System, defaultConstraints: [{maxSkew: 1, topologyKey: zone, whenUnsatisfiable: DoNotSchedule}]}}]",
                "config.yaml: profiles[0].pluginConfig[0].args.defaultConstraints: when .defaultingType is \"System\", .defaultConstraints must be empty",
            ),
            (
                "profiles:\n- pluginConfig: [{name: PodTopologySpread, args: {defaultConstraints: [{maxSkew: 1, topologyKey: zone, whenUnsatisfiable: DoNotSchedule, labelSelector: {}}]}}]",
                "config.yaml: profiles[0].pluginConfig[0].args.defaultConstraints[0].labelSelector: constraint must not define a selector, as they deduced for each pod",
            ),
            (
                "profiles:\n- pluginConfig: [{name: PodTopologySpread, args: {defaultConstraints: [{maxSkew: 0, topologyKey: zone, whenUnsatisfiable: DoNotSchedule}]}}]",
                "config.yaml: profiles[0].pluginConfig[0].args.defaultConstraints[0].maxSkew: 0 is out of range 1..=2147483647",
            ),
            (
                "profiles:\n- pluginConfig: [{name: PodTopologySpread, args: {defaultConstraints: [{maxSkew: 1, topologyKey: zone, whenUnsatisfiable: Never}]}}]",
                "config.yaml: profiles[0].pluginConfig[0].args.defaultConstraints[0].whenUnsatisfiable: unknown whenUnsatisfiable \"Never\" (expected DoNotSchedule or ScheduleAnyway)",
            ),
            (
                "profiles:\n- pluginConfig: [{name: PodTopologySpread, args: {defaultConstraints: [{maxSkew: 1, topologyKey: zone, whenUnsatisfiable: DoNotSchedule, nodeTaintPolicy: Honor}]}}]",
                "config.yaml: profiles[0].pluginConfig[0].args.defaultConstraints[0]: unknown field \"nodeTaintPolicy\"",
            ),
            (
                "profiles:\n- pluginConfig: [{name: PodTopologySpread, args: {defaultConstraints: [{maxSkew: 1, topologyKey: zone, whenUnsatisfiable: DoNotSchedule}, {maxSkew: 2, topologyKey: zone, whenUnsatisfiable: DoNotSchedule}]}}]",
                "config.yaml: profiles[0].pluginConfig[0].args.defaultConstraints[1]: duplicate constraint for topologyKey \"zone\" and whenUnsatisfiable \"DoNotSchedule\"",
            ),
            (
                "profiles:\n- pluginConfig: [{name: NodeResourcesBalancedAllocation, args: {resourcez: []}}]",
                "config.yaml: profiles[0].pluginConfig[0].args: unknown field \"resourcez\"",
            ),
            (
                "profiles:\n- pluginConfig: [{name: NodeResourcesBalancedAllocation, args: {resources: [{name: cpu, wieght: 1}]}}]",
                "config.yaml: profiles[0].pluginConfig[0].args.resources[0]: unknown field \"wieght\"",
            ),
            (
                "profiles:\n- pluginConfig: [{name: NodeResourcesBalancedAllocation, args: {resources: [{name: cpu}, {name: cpu}]}}]",
                "config.yaml: profiles[0].pluginConfig[0].args.resources[1]: duplicate resource \"cpu\"",
            ),
            (
                "profiles:\n- pluginConfig: [{name: InterPodAffinity, args: {hardPodAffinityWeight: 101}}]",
                "config.yaml: profiles[0].pluginConfig[0].args.hardPodAffinityWeight: 101 is out of range 0..=100",
            ),
            (
                "profiles:\n- pluginConfig: [{name: NodePurpose, args: {match: always}}]",
                "config.yaml: profiles[0].pluginConfig[0].args.match: unknown mode \"always\" (expected prefer, require or ignore)",
            ),
            (
                "profiles:\n- pluginConfig: [{name: NodeAffinity, args: {kind: InterPodAffinityArgs}}]",
                "config.yaml: profiles[0].pluginConfig[0].args.kind: unexpected kind \"InterPodAffinityArgs\" for plugin NodeAffinity (expected NodeAffinityArgs)",
            ),
            (
                "profiles:\n- pluginConfig: [{name: Bogus}]",
                "config.yaml: profiles[0].pluginConfig[0].name: unknown plugin \"Bogus\"",
            ),
            (
                "profiles:\n- pluginConfig: [{name: NodePurpose}, {name: NodePurpose}]",
                "config.yaml: profiles[0].pluginConfig[1]: duplicate pluginConfig for \"NodePurpose\"",
            ),
            (
                "profiles:\n- pluginConfig: [{name: RealUserColocation, args: {realUserSelector: {matchExpressions: [{key: a, operator: Gt}]}}}]",
                "config.yaml: profiles[0].pluginConfig[0].args.realUserSelector.matchExpressions[0].operator: unknown operator \"Gt\"",
            ),
            (
                "profiles:\n- pluginConfig: [{name: NodeAffinity, args: {addedAffinity: {preferredDuringSchedulingIgnoredDuringExecution: [{weight: 0, preference: {}}]}}}]",
                "config.yaml: profiles[0].pluginConfig[0].args.addedAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].weight: 0 is out of range 1..=100",
            ),
            (
                "profiles:\n- pluginConfig: [{name: DefaultPreemption, args: {minCandidateNodesPercentage: 0, minCandidateNodesAbsolute: 0}}]",
                "config.yaml: profiles[0].pluginConfig[0].args: minCandidateNodesPercentage and minCandidateNodesAbsolute must not both be 0",
            ),
            (
                // An f32 field: 1e300 would be infinity.
                "clientConnection: {qps: 1e300}",
                "config.yaml: clientConnection.qps: must be a non-negative number of at most 3.4028235e38",
            ),
            (
                "profiles:\n- plugins: {queueSort: {disabled: [{name: '*'}]}}",
                "config.yaml: profiles[0].plugins.queueSort: no queue sort plugin is enabled",
            ),
            (
                "profiles:\n- plugins: {multiPoint: {disabled: [{name: DefaultBinder}]}}",
                "config.yaml: profiles[0].plugins.bind: at least one bind plugin is needed",
            ),
            (
                "clientConnection: {qps: fast}",
                "config.yaml: clientConnection.qps: expected a number, found \"fast\"",
            ),
        ];
        for (body, want) in cases {
            let err = cfg(body).unwrap_err();
            assert_eq!(err.to_string(), want, "{body}");
        }
    }

    #[test]
    fn header_errors() {
        let cases = [
            (
                "apiVersion: kubescheduler.config.k8s.io/v1beta3\nkind: KubeSchedulerConfiguration\n",
                "config.yaml: apiVersion: unsupported apiVersion \"kubescheduler.config.k8s.io/v1beta3\" (expected kubescheduler.config.k8s.io/v1)",
            ),
            (
                "apiVersion: kubescheduler.config.k8s.io/v1\nkind: Policy\n",
                "config.yaml: kind: unexpected kind \"Policy\" (expected KubeSchedulerConfiguration)",
            ),
            (
                "kind: KubeSchedulerConfiguration\n",
                "config.yaml: apiVersion: missing (expected kubescheduler.config.k8s.io/v1)",
            ),
            ("", "config.yaml: empty configuration"),
            (
                "- a\n- b\n",
                "config.yaml: expected a mapping, found a list",
            ),
        ];
        for (yaml, want) in cases {
            assert_eq!(parse(yaml, "config.yaml").unwrap_err().to_string(), want);
        }
        let err = parse("a: [", "config.yaml").unwrap_err().to_string();
        assert!(err.starts_with("config.yaml: invalid YAML: "), "{err}");
    }

    #[test]
    fn go_durations() {
        let cases = [
            ("15s", Some(Duration::from_secs(15))),
            ("1m30s", Some(Duration::from_secs(90))),
            ("500ms", Some(Duration::from_millis(500))),
            ("1.5h", Some(Duration::from_secs(5400))),
            ("2h45m0.5s", Some(Duration::from_millis(9_900_500))),
            ("10us", Some(Duration::from_micros(10))),
            ("10µs", Some(Duration::from_micros(10))),
            ("7ns", Some(Duration::from_nanos(7))),
            (".5s", Some(Duration::from_millis(500))),
            ("0", Some(Duration::ZERO)),
            ("0s", Some(Duration::ZERO)),
            ("15", None),
            ("s", None),
            ("-1s", None),
            ("1d", None),
            ("1..5s", None),
            ("", None),
            ("1s ", None),
        ];
        for (s, want) in cases {
            assert_eq!(parse_go_duration(s).ok(), want, "{s:?}");
        }
    }

    #[test]
    fn scalar_settings_and_ignored_fields() {
        let c = cfg("
parallelism: 4
podInitialBackoffSeconds: 2
podMaxBackoffSeconds: 30
percentageOfNodesToScore: 50
enableProfiling: true
enableContentionProfiling: false
healthzBindAddress: 0.0.0.0:10251
metricsBindAddress: ''
delayCacheUntilActive: true
podMaxInUnschedulablePodsDuration: 90s
leaderElection:
  leaderElect: false
  leaseDuration: 1m
  renewDeadline: 30s
  retryPeriod: 500ms
  resourceName: lock
  resourceNamespace: ns
clientConnection: {qps: 20.5, burst: 40, kubeconfig: /etc/kube.conf, contentType: application/json}
")
        .unwrap();
        assert_eq!(c.parallelism, 4);
        assert_eq!(c.pod_initial_backoff, Duration::from_secs(2));
        assert_eq!(c.pod_max_backoff, Duration::from_secs(30));
        assert_eq!(c.pod_max_in_unschedulable, Duration::from_secs(90));
        assert_eq!(c.percentage_of_nodes_to_score, Some(50));
        assert_eq!(
            c.leader_election,
            LeaderElection {
                leader_elect: false,
                lease_duration: Duration::from_secs(60),
                renew_deadline: Duration::from_secs(30),
                retry_period: Duration::from_millis(500),
                resource_lock: "leases".into(),
                resource_name: "lock".into(),
                resource_namespace: "ns".into(),
            }
        );
        assert_eq!(
            c.client_connection,
            ClientConnection {
                qps: 20.5,
                burst: 40,
                kubeconfig: Some("/etc/kube.conf".into()),
            }
        );
        for field in [
            "enableProfiling",
            "enableContentionProfiling",
            "healthzBindAddress",
            "delayCacheUntilActive",
            "clientConnection.contentType",
            "clientConnection.qps",
            "clientConnection.burst",
        ] {
            assert!(
                c.warnings
                    .iter()
                    .any(|w| w.starts_with(&format!("config.yaml: {field}: accepted but ignored"))),
                "{field}: {:?}",
                c.warnings
            );
        }
        assert!(c.warnings.contains(
            &"config.yaml: percentageOfNodesToScore: accepted but ignored: every feasible node is scored"
                .to_string()
        ));
        // metricsBindAddress is '' (present but empty string, still a value).
        assert!(c.warnings.iter().any(|w| w.contains("metricsBindAddress")));
    }

    #[test]
    fn plugin_args() {
        let p = one_profile(
            "  pluginConfig:
  - name: NodeResourcesFit
    args:
      apiVersion: kubescheduler.config.k8s.io/v1
      kind: NodeResourcesFitArgs
      ignoredResources: [example.com/foo]
      ignoredResourceGroups: [example.org]
      scoringStrategy:
        type: LeastAllocated
        resources: [{name: cpu, weight: 3}, {name: nvidia.com/gpu}]
  - name: InterPodAffinity
    args: {hardPodAffinityWeight: 0, ignorePreferredTermsOfExistingPods: true}
  - name: NodeAffinity
    args:
      addedAffinity:
        requiredDuringSchedulingIgnoredDuringExecution:
          nodeSelectorTerms:
          - matchExpressions: [{key: pool, operator: In, values: [user]}]
        preferredDuringSchedulingIgnoredDuringExecution:
        - weight: 10
          preference:
            matchFields: [{key: metadata.name, operator: NotIn, values: [n9]}]
  - name: NodePurpose
    args: {key: example.com/purpose, value: jupyter, match: require}
  - name: RealUserColocation
    args:
      realUserSelector: {matchLabels: {app: jupyterhub, component: singleuser-server}}
      placeholderSelector:
        matchExpressions: [{key: component, operator: In, values: [user-placeholder, ghost]}]
  - name: DefaultPreemption
    args: {minCandidateNodesPercentage: 20, minCandidateNodesAbsolute: 50}
  - name: PodTopologySpread
    args: {defaultingType: List}
",
        );
        assert_eq!(p.fit.strategy, ScoringStrategy::LeastAllocated);
        assert_eq!(
            p.fit.resources,
            vec![
                ResourceWeight {
                    name: "cpu".into(),
                    weight: 3
                },
                ResourceWeight {
                    name: "nvidia.com/gpu".into(),
                    weight: 1
                },
            ]
        );
        assert_eq!(p.fit.ignored_resources, vec!["example.com/foo".to_string()]);
        assert_eq!(
            p.fit.ignored_resource_groups,
            vec!["example.org".to_string()]
        );
        assert_eq!(p.hard_pod_affinity_weight, 0);
        assert_eq!(
            p.added_affinity,
            AddedAffinity {
                required: Some(vec![NodeSelectorTerm {
                    match_expressions: vec![NodeSelectorRequirement {
                        key: "pool".into(),
                        operator: NodeSelectorOperator::In,
                        values: vec!["user".into()],
                    }],
                    match_fields: vec![],
                }]),
                preferred: vec![PreferredSchedulingTerm {
                    weight: 10,
                    preference: NodeSelectorTerm {
                        match_expressions: vec![],
                        match_fields: vec![NodeSelectorRequirement {
                            key: "metadata.name".into(),
                            operator: NodeSelectorOperator::NotIn,
                            values: vec!["n9".into()],
                        }],
                    },
                }],
            }
        );
        assert_eq!(p.node_purpose.key, "example.com/purpose");
        assert_eq!(p.node_purpose.value, "jupyter");
        assert_eq!(p.node_purpose.mode, NodePurposeMode::Require);
        assert_eq!(
            p.roles.real_user,
            LabelSelector {
                match_labels: vec![
                    ("app".into(), "jupyterhub".into()),
                    ("component".into(), "singleuser-server".into())
                ],
                match_expressions: vec![],
            }
        );
        assert_eq!(
            p.roles.placeholder,
            LabelSelector {
                match_labels: vec![],
                match_expressions: vec![LabelSelectorRequirement {
                    key: "component".into(),
                    operator: LabelSelectorOperator::In,
                    values: vec!["user-placeholder".into(), "ghost".into()],
                }],
            }
        );

        let c = cfg("profiles:
- pluginConfig:
  - {name: InterPodAffinity, args: {ignorePreferredTermsOfExistingPods: true}}
  - {name: DefaultPreemption, args: {minCandidateNodesAbsolute: 50}}
")
        .unwrap();
        let want = [
            "config.yaml: profiles[0].pluginConfig[0].args.ignorePreferredTermsOfExistingPods: not supported",
            "config.yaml: profiles[0].pluginConfig[1].args: minCandidateNodes* accepted but ignored: preemption considers every node",
        ];
        for w in want {
            assert!(
                c.warnings.iter().any(|x| x.starts_with(w)),
                "{w}: {:?}",
                c.warnings
            );
        }
    }

    #[test]
    fn node_purpose_mode_table() {
        // (profile body, expected mode, expected warning fragment or "")
        let cases = [
            ("  plugins: {}\n", NodePurposeMode::Ignore, ""),
            (
                "  plugins: {multiPoint: {enabled: [{name: NodePurpose}]}}\n",
                NodePurposeMode::Prefer,
                "",
            ),
            (
                "  plugins: {score: {enabled: [{name: NodePurpose}]}}\n",
                NodePurposeMode::Prefer,
                "",
            ),
            (
                "  plugins: {multiPoint: {enabled: [{name: NodePurpose}]}}\n  pluginConfig: [{name: NodePurpose, args: {match: ignore}}]\n",
                NodePurposeMode::Ignore,
                "",
            ),
            (
                "  plugins: {score: {enabled: [{name: NodePurpose}]}}\n  pluginConfig: [{name: NodePurpose, args: {match: require}}]\n",
                NodePurposeMode::Require,
                "NodePurpose match \"require\" has no effect",
            ),
            (
                "  plugins: {filter: {enabled: [{name: NodePurpose}]}}\n",
                NodePurposeMode::Prefer,
                "NodePurpose match \"prefer\" has no effect",
            ),
        ];
        for (body, mode, warning) in cases {
            let c = cfg(&format!("profiles:\n- schedulerName: s\n{body}")).unwrap();
            assert_eq!(c.profiles[0].node_purpose.mode, mode, "{body}");
            let warned = c.warnings.iter().any(|w| w.contains("NodePurpose match"));
            assert_eq!(warned, !warning.is_empty(), "{body}: {:?}", c.warnings);
            if !warning.is_empty() {
                assert!(c.warnings.iter().any(|w| w.contains(warning)), "{body}");
            }
        }
    }

    #[test]
    fn profiles_with_the_same_role_selectors_load() {
        let args = "  plugins: {score: {enabled: [{name: RealUserColocation}]}}\n  pluginConfig: [{name: RealUserColocation, args: {realUserSelector: {matchLabels: {component: notebook}}}}]\n";
        let c = cfg(&format!(
            "profiles:\n- schedulerName: a\n{args}- schedulerName: b\n{args}"
        ))
        .unwrap();
        assert_eq!(c.profiles.len(), 2);
        assert_eq!(roles(&c), c.profiles[1].roles);
        assert_ne!(roles(&c), RoleSelectors::default());
        // A profile that does not score colocation (kube's default profile,
        // here) needs no selectors; the colocating profile's are used,
        // wherever it is.
        let c = cfg(&format!(
            "profiles:\n- schedulerName: kube\n- schedulerName: hub\n{args}"
        ))
        .unwrap();
        assert_eq!(roles(&c), c.profiles[1].roles);
        assert_ne!(roles(&c), RoleSelectors::default());
    }

    #[test]
    fn default_config_is_jupyterhub() {
        let c = SchedulerConfig::default();
        assert_eq!(c.profiles, vec![Profile::jupyterhub()]);
        // Not kube-scheduler's own lease: the stock scheduler holds that one.
        assert_eq!(c.leader_election.resource_name, "user-scheduler-lock");
        assert_eq!(c.leader_election.resource_namespace, "default");
        assert_eq!(
            SchedulerConfig::jupyterhub("jhub").leader_election,
            LeaderElection {
                resource_name: "user-scheduler-lock".into(),
                resource_namespace: "jhub".into(),
                ..LeaderElection::default()
            }
        );
        assert_eq!(c.parallelism, 16);
        assert_eq!(roles(&c), RoleSelectors::default());
    }

    #[test]
    fn load_reads_a_file_and_names_it() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/z2jh-config.yaml");
        let c = load(&path).unwrap();
        assert_eq!(c.profiles[0].scheduler_name, "jhub-user-scheduler");
        assert!(
            c.warnings
                .iter()
                .all(|w| w.starts_with(&path.display().to_string()))
        );
        let missing = Path::new("/nonexistent/config.yaml");
        let err = load(missing).unwrap_err().to_string();
        assert!(
            err.starts_with("/nonexistent/config.yaml: cannot read: "),
            "{err}"
        );
    }
}

#[cfg(test)]
mod packing_tests {
    #[test]
    fn packing_preemption_is_an_arg_of_real_user_colocation() {
        let yaml = "apiVersion: kubescheduler.config.k8s.io/v1\nkind: KubeSchedulerConfiguration\nprofiles:\n- schedulerName: user-scheduler\n  pluginConfig:\n  - name: RealUserColocation\n    args: {packingPreemption: true}\n";
        let cfg = super::parse(yaml, "config.yaml").unwrap();
        assert!(cfg.profiles[0].packing_preemption);
        let off = super::parse(&yaml.replace("true", "false"), "config.yaml").unwrap();
        assert!(!off.profiles[0].packing_preemption);
        let bad = super::parse(&yaml.replace("true", "\"yes\""), "config.yaml")
            .unwrap_err()
            .to_string();
        assert!(bad.contains("packingPreemption"), "{bad}");
    }
}

#[cfg(test)]
mod volume_binding_tests {
    const YAML: &str = "apiVersion: kubescheduler.config.k8s.io/v1\nkind: KubeSchedulerConfiguration\nprofiles:\n- schedulerName: user-scheduler\n  pluginConfig:\n  - name: VolumeBinding\n    args: {bindTimeoutSeconds: 120}\n";

    #[test]
    fn bind_timeout_is_read_and_defaults_to_kubes_600() {
        let cfg = super::parse(YAML, "config.yaml").unwrap();
        assert_eq!(cfg.profiles[0].volume_bind_timeout_seconds, 120);
        let default = super::parse(
            "apiVersion: kubescheduler.config.k8s.io/v1\nkind: KubeSchedulerConfiguration\nprofiles:\n- schedulerName: user-scheduler\n",
            "config.yaml",
        )
        .unwrap();
        assert_eq!(default.profiles[0].volume_bind_timeout_seconds, 600);
        // The volume plugins are implemented: no "not implemented" warning.
        assert!(
            !default.warnings.iter().any(|w| w.contains("Volume")),
            "{:?}",
            default.warnings
        );
    }

    #[test]
    fn bad_bind_timeouts_name_the_field() {
        for bad in ["0", "-5", "\"10s\""] {
            let err = super::parse(&YAML.replace("120", bad), "config.yaml")
                .unwrap_err()
                .to_string();
            assert!(err.contains("bindTimeoutSeconds"), "{bad}: {err}");
        }
        let err = super::parse(&YAML.replace("bindTimeoutSeconds", "bindTimeout"), "c")
            .unwrap_err()
            .to_string();
        assert!(err.contains("bindTimeout"), "{err}");
    }

    #[test]
    fn disabling_a_volume_plugin_warns_that_it_stays_on() {
        let yaml = "apiVersion: kubescheduler.config.k8s.io/v1\nkind: KubeSchedulerConfiguration\nprofiles:\n- schedulerName: s\n  plugins:\n    filter:\n      disabled:\n      - name: VolumeZone\n";
        let cfg = super::parse(yaml, "config.yaml").unwrap();
        assert!(
            cfg.warnings
                .iter()
                .any(|w| w.contains("\"VolumeZone\" cannot be disabled")),
            "{:?}",
            cfg.warnings
        );
    }
}
