//! `user-scheduler simulate`: how many node-hours a hub spends under each
//! scheduling policy, replayed through the daemon's own decision
//! ([`score::decide()`]) with an autoscaler model ([`capacity::sim`]).
//!
//! This module resolves the command line once — the trace (a file or a
//! generator), the pools, the autoscaler and its flags, the policies (config
//! files loaded by the daemon's own loader, or built-in names) — and prints
//! the comparison.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use capacity::autoscaler::{ClusterAutoscalerOptions, KarpenterOptions, Model};
use capacity::sim::{self, Compared, Policy, PoolSpec, RunStats, SimOptions};
use capacity::trace::{self, CampusOptions, MybinderOptions, Trace};
use score::model::{Taint, TaintEffect};
use serde::Deserialize;

use crate::config;

/// The built-in policies `--compare` accepts besides config files.
pub const BUILT_IN: [(&str, &str); 3] = [
    (
        "user-scheduler",
        "deploy/config.yaml: node purpose, real-user colocation, MostAllocated",
    ),
    (
        "z2jh",
        "the z2jh chart's kube-scheduler profile (MostAllocated, its weights)",
    ),
    (
        "spread",
        "kube-scheduler's default profile (LeastAllocated + BalancedAllocation)",
    ),
];

const OUR_CONFIG: &str = include_str!("../../deploy/config.yaml");
const Z2JH_CONFIG: &str = include_str!("../tests/fixtures/z2jh-config.yaml");

/// Errors of `simulate`; each names the file, line or flag.
#[derive(Debug, thiserror::Error)]
pub enum SimulateError {
    /// A file could not be read.
    #[error("{path}: {error}")]
    Io {
        /// The file.
        path: String,
        /// Why.
        #[source]
        error: std::io::Error,
    },
    /// The trace file.
    #[error(transparent)]
    Trace(#[from] trace::TraceError),
    /// A generator's options.
    #[error("--generate: {0}")]
    Generate(#[from] trace::GenerateError),
    /// A policy's config file.
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    /// A config file without a profile.
    #[error("{0}: the configuration has no profile")]
    NoProfile(String),
    /// The pools file.
    #[error("{path}: {message}")]
    Pools {
        /// The file.
        path: String,
        /// What is wrong (with the field).
        message: String,
    },
    /// Flags that do not go together.
    #[error("{0}")]
    Usage(String),
}

/// Which trace generator.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Generator {
    /// A campus hub: daily and weekly cycles and class bursts.
    Campus,
    /// A public service like mybinder.org: steady arrivals with a diurnal swing.
    Mybinder,
}

/// Which autoscaler.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum AutoscalerKind {
    /// The Kubernetes cluster autoscaler.
    ClusterAutoscaler,
    /// Karpenter with `consolidationPolicy: WhenEmpty`.
    Karpenter,
}

/// Output formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// A table.
    Text,
    /// The JSON document of the contract.
    Json,
}

/// `simulate`'s flags.
#[derive(Debug, Clone, clap::Args)]
pub struct SimulateArgs {
    /// A trace file (CSV: start, duration, cpu, memory[, user, profile]).
    #[arg(
        long,
        conflicts_with = "generate",
        required_unless_present = "generate"
    )]
    pub trace: Option<PathBuf>,
    /// Generate a trace instead.
    #[arg(long, value_enum)]
    pub generate: Option<Generator>,
    /// Days to generate.
    #[arg(long, default_value_t = 7)]
    pub days: u32,
    /// Users of the generated campus hub.
    #[arg(long, default_value_t = 1000)]
    pub users: u32,
    /// The first seed (the generator's, and the runs' from it on).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Seeds per policy (node start and image pull times, score tie-breaks).
    #[arg(long, default_value_t = 5)]
    pub seeds: u32,
    /// The autoscaler model.
    #[arg(long, value_enum, default_value_t = AutoscalerKind::ClusterAutoscaler)]
    pub autoscaler: AutoscalerKind,
    /// Placeholders (z2jh's `scheduling.userPlaceholder.replicas`).
    #[arg(long, default_value_t = 4)]
    pub placeholders: u32,
    /// Node pools (YAML); a z2jh-like default without it.
    #[arg(long)]
    pub pools: Option<PathBuf>,
    /// Policies: config files, or `user-scheduler`, `z2jh`, `spread`.
    #[arg(long, num_args = 1.., default_values = ["user-scheduler", "z2jh", "spread"])]
    pub compare: Vec<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Write the picture (SVG): nodes over time per policy, users beneath.
    #[arg(long)]
    pub plot: Option<PathBuf>,
    /// cluster-autoscaler `--scan-interval`.
    #[arg(long, value_parser = go_duration)]
    pub scan_interval: Option<Duration>,
    /// cluster-autoscaler `--scale-down-unneeded-time`.
    #[arg(long, value_parser = go_duration)]
    pub scale_down_unneeded_time: Option<Duration>,
    /// cluster-autoscaler `--scale-down-delay-after-add`.
    #[arg(long, value_parser = go_duration)]
    pub scale_down_delay_after_add: Option<Duration>,
    /// cluster-autoscaler `--scale-down-delay-after-delete`.
    #[arg(long, value_parser = go_duration)]
    pub scale_down_delay_after_delete: Option<Duration>,
    /// cluster-autoscaler `--scale-down-delay-after-failure`.
    #[arg(long, value_parser = go_duration)]
    pub scale_down_delay_after_failure: Option<Duration>,
    /// cluster-autoscaler `--scale-down-utilization-threshold`.
    #[arg(long)]
    pub scale_down_utilization_threshold: Option<f64>,
    /// cluster-autoscaler `--ignore-daemonsets-utilization`.
    #[arg(long)]
    pub ignore_daemonsets_utilization: bool,
    /// cluster-autoscaler `--expendable-pods-priority-cutoff`.
    #[arg(long, allow_negative_numbers = true)]
    pub expendable_pods_priority_cutoff: Option<i64>,
    /// Pods without a controller do not block scale-down (as if annotated safe-to-evict).
    #[arg(long)]
    pub bare_pods_safe_to_evict: bool,
    /// cluster-autoscaler `--max-empty-bulk-delete`.
    #[arg(long)]
    pub max_empty_bulk_delete: Option<usize>,
    /// cluster-autoscaler `--max-node-provision-time`.
    #[arg(long, value_parser = go_duration)]
    pub max_node_provision_time: Option<Duration>,
    /// Karpenter `consolidateAfter`.
    #[arg(long, value_parser = go_duration)]
    pub consolidate_after: Option<Duration>,
}

fn go_duration(s: &str) -> Result<Duration, String> {
    config::parse_go_duration(s)
}

/// The resolved inputs of a comparison.
#[derive(Debug)]
pub struct Plan {
    /// The trace.
    pub trace: Trace,
    /// Pools, autoscaler, placeholders.
    pub options: SimOptions,
    /// The policies, in order.
    pub policies: Vec<Policy>,
    /// The seeds of each policy's runs.
    pub seeds: Vec<u64>,
}

/// Resolves the command line into a [`Plan`].
///
/// # Errors
/// An unreadable or malformed trace, pools or config file (naming the file,
/// line and field), or flags that do not go together.
pub fn plan(args: &SimulateArgs) -> Result<Plan, SimulateError> {
    let trace = match (&args.trace, args.generate) {
        (Some(path), _) => {
            let text = read(path)?;
            trace::parse(&path.display().to_string(), &text)?
        }
        (None, Some(Generator::Campus)) => trace::generate_campus(&CampusOptions {
            users: args.users,
            days: args.days,
            seed: args.seed,
            ..CampusOptions::default()
        })?,
        (None, Some(Generator::Mybinder)) => trace::generate_mybinder(&MybinderOptions {
            days: args.days,
            seed: args.seed,
            ..MybinderOptions::default()
        })?,
        (None, None) => {
            return Err(SimulateError::Usage(
                "one of --trace FILE or --generate campus|mybinder is required".into(),
            ));
        }
    };
    let mut options = SimOptions::z2jh_default();
    if let Some(path) = &args.pools {
        options.pools = load_pools(path)?;
    }
    options.placeholders = args.placeholders;
    options.autoscaler = autoscaler(args)?;
    let policies = args
        .compare
        .iter()
        .map(|c| policy(c))
        .collect::<Result<Vec<_>, _>>()?;
    if args.seeds == 0 {
        return Err(SimulateError::Usage("--seeds must be at least 1".into()));
    }
    let seeds = (0..u64::from(args.seeds))
        .map(|k| args.seed.wrapping_add(k))
        .collect();
    Ok(Plan {
        trace,
        options,
        policies,
        seeds,
    })
}

fn read(path: &Path) -> Result<String, SimulateError> {
    std::fs::read_to_string(path).map_err(|error| SimulateError::Io {
        path: path.display().to_string(),
        error,
    })
}

fn autoscaler(args: &SimulateArgs) -> Result<Model, SimulateError> {
    Ok(match args.autoscaler {
        AutoscalerKind::ClusterAutoscaler => {
            if args.consolidate_after.is_some() {
                return Err(SimulateError::Usage(
                    "--consolidate-after is Karpenter's: add --autoscaler karpenter".into(),
                ));
            }
            let mut o = ClusterAutoscalerOptions::default();
            if let Some(v) = args.scan_interval {
                o.scan_interval = v;
            }
            if let Some(v) = args.scale_down_unneeded_time {
                o.scale_down_unneeded_time = v;
            }
            if let Some(v) = args.scale_down_delay_after_add {
                o.scale_down_delay_after_add = v;
            }
            if let Some(v) = args.scale_down_delay_after_delete {
                o.scale_down_delay_after_delete = Some(v);
            }
            if let Some(v) = args.scale_down_delay_after_failure {
                o.scale_down_delay_after_failure = v;
            }
            if let Some(v) = args.scale_down_utilization_threshold {
                if !(0.0..=1.0).contains(&v) {
                    return Err(SimulateError::Usage(format!(
                        "--scale-down-utilization-threshold {v}: must be between 0 and 1"
                    )));
                }
                o.scale_down_utilization_threshold = v;
            }
            o.ignore_daemonsets_utilization = args.ignore_daemonsets_utilization;
            if let Some(v) = args.expendable_pods_priority_cutoff {
                o.expendable_pods_priority_cutoff = v;
            }
            o.bare_pods_block_scale_down = !args.bare_pods_safe_to_evict;
            if let Some(v) = args.max_empty_bulk_delete {
                o.max_empty_bulk_delete = v;
            }
            if let Some(v) = args.max_node_provision_time {
                o.max_node_provision_time = v;
            }
            if o.scan_interval.is_zero() {
                return Err(SimulateError::Usage(
                    "--scan-interval must be above 0".into(),
                ));
            }
            Model::ClusterAutoscaler(o)
        }
        AutoscalerKind::Karpenter => {
            let mut o = KarpenterOptions::default();
            if let Some(v) = args.consolidate_after {
                o.consolidate_after = Some(v);
            }
            Model::Karpenter(o)
        }
    })
}

/// A policy: a built-in name or a config file (its first profile).
///
/// # Errors
/// The config file does not load.
pub fn policy(name: &str) -> Result<Policy, SimulateError> {
    let profile = match name {
        "user-scheduler" => first_profile(OUR_CONFIG, "deploy/config.yaml")?,
        "z2jh" => first_profile(Z2JH_CONFIG, "z2jh chart config")?,
        "spread" => score::Profile::kube_default("user-scheduler"),
        path => {
            let cfg = config::load(Path::new(path))?;
            cfg.profiles
                .into_iter()
                .next()
                .ok_or_else(|| SimulateError::NoProfile(path.into()))?
        }
    };
    Ok(Policy {
        name: name.into(),
        profile,
    })
}

fn first_profile(yaml: &str, source: &str) -> Result<score::Profile, SimulateError> {
    config::parse(yaml, source)?
        .profiles
        .into_iter()
        .next()
        .ok_or_else(|| SimulateError::NoProfile(source.into()))
}

/// One pool in a pools file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct PoolEntry {
    name: String,
    cpu: String,
    memory: String,
    #[serde(default = "default_pods")]
    pods: u64,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    taints: Vec<TaintEntry>,
    #[serde(default)]
    min: usize,
    max: usize,
    #[serde(default)]
    price_per_hour: f64,
    #[serde(default = "default_start")]
    start_seconds: [u32; 2],
    #[serde(default)]
    users: bool,
}

fn default_pods() -> u64 {
    110
}

fn default_start() -> [u32; 2] {
    [180, 300]
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TaintEntry {
    key: String,
    #[serde(default)]
    value: String,
    effect: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PoolsFile {
    pools: Vec<PoolEntry>,
}

/// Reads a pools file: `pools:` a list of `{name, cpu, memory, pods, labels,
/// taints, min, max, pricePerHour, startSeconds: [low, high], users}`.
///
/// # Errors
/// Unreadable, malformed YAML, an unknown field, a bad quantity, `min >
/// max`, or no pool with `users: true`; each names the pool and field.
pub fn load_pools(path: &Path) -> Result<Vec<PoolSpec>, SimulateError> {
    let text = read(path)?;
    let file = path.display().to_string();
    let bad = |message: String| SimulateError::Pools {
        path: file.clone(),
        message,
    };
    let parsed: PoolsFile = serde_yaml_ng::from_str(&text).map_err(|e| bad(e.to_string()))?;
    let mut pools = Vec::new();
    for (i, p) in parsed.pools.into_iter().enumerate() {
        let at = |field: &str| format!("pools[{i}] ({}).{field}", p.name);
        let quantity = |field: &str, value: &str| {
            score::quantity::parse(value).map_err(|e| bad(format!("{}: {value:?}: {e}", at(field))))
        };
        let cpu = quantity("cpu", &p.cpu)?
            .to_milli_ceil()
            .map_err(|e| bad(format!("{}: {e}", at("cpu"))))?;
        let memory = quantity("memory", &p.memory)?
            .to_int_ceil()
            .map_err(|e| bad(format!("{}: {e}", at("memory"))))?;
        if p.min > p.max {
            return Err(bad(format!(
                "{}: min {} is above max {}",
                at("min"),
                p.min,
                p.max
            )));
        }
        if !(p.price_per_hour.is_finite() && p.price_per_hour >= 0.0) {
            return Err(bad(format!(
                "{}: must be a non-negative number",
                at("pricePerHour")
            )));
        }
        let taints = p
            .taints
            .iter()
            .map(|t| {
                let effect = match t.effect.as_str() {
                    "NoSchedule" => TaintEffect::NoSchedule,
                    "PreferNoSchedule" => TaintEffect::PreferNoSchedule,
                    "NoExecute" => TaintEffect::NoExecute,
                    other => {
                        return Err(bad(format!("{}: unknown effect {other:?}", at("taints"))));
                    }
                };
                Ok(Taint {
                    key: t.key.clone(),
                    value: t.value.clone(),
                    effect,
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        pools.push(PoolSpec {
            name: p.name,
            cpu_milli: cpu,
            memory,
            pods: p.pods,
            labels: p.labels,
            taints,
            min_size: p.min,
            max_size: p.max,
            price_per_hour: p.price_per_hour,
            start_seconds: (p.start_seconds[0], p.start_seconds[1]),
            users: p.users,
        });
    }
    if !pools.iter().any(|p| p.users) {
        return Err(bad(
            "no pool has `users: true`: users would have nowhere to run".into(),
        ));
    }
    Ok(pools)
}

/// Runs every policy with every seed.
#[must_use]
pub fn run(plan: &Plan) -> (Compared, Vec<Vec<RunStats>>) {
    let runs: Vec<Vec<RunStats>> = plan
        .policies
        .iter()
        .map(|p| {
            plan.seeds
                .iter()
                .map(|&seed| sim::run(&plan.trace, &plan.options, p, seed))
                .collect()
        })
        .collect();
    (sim::compare(&plan.trace, &plan.options, &runs), runs)
}
