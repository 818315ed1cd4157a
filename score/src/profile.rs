//! A scheduling profile: which plugins run, their weights and their arguments.
//!
//! The `scheduler` crate builds a [`Profile`] from a `KubeSchedulerConfiguration`
//! file (or uses [`Profile::jupyterhub`]); the engine only reads it.

use crate::cluster::RoleSelectors;
use crate::model::{NodeSelectorTerm, PreferredSchedulingTerm};

/// Filter plugins, in the order kube-scheduler runs them (a node is rejected by
/// the first one that fails).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FilterPlugin {
    /// Our node-purpose policy (only filters in `require` mode).
    NodePurpose,
    /// `spec.unschedulable`.
    NodeUnschedulable,
    /// `spec.nodeName`.
    NodeName,
    /// NoSchedule / NoExecute taints.
    TaintToleration,
    /// nodeSelector and required node affinity.
    NodeAffinity,
    /// Host ports.
    NodePorts,
    /// Resource requests and pod count.
    NodeResourcesFit,
    /// DoNotSchedule topology spread constraints.
    PodTopologySpread,
    /// Required pod affinity and anti-affinity.
    InterPodAffinity,
}

impl FilterPlugin {
    /// Every filter plugin, in run order.
    pub const ALL: [FilterPlugin; 9] = [
        FilterPlugin::NodePurpose,
        FilterPlugin::NodeUnschedulable,
        FilterPlugin::NodeName,
        FilterPlugin::TaintToleration,
        FilterPlugin::NodeAffinity,
        FilterPlugin::NodePorts,
        FilterPlugin::NodeResourcesFit,
        FilterPlugin::PodTopologySpread,
        FilterPlugin::InterPodAffinity,
    ];

    /// The plugin's name in configuration files.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            FilterPlugin::NodePurpose => "NodePurpose",
            FilterPlugin::NodeUnschedulable => "NodeUnschedulable",
            FilterPlugin::NodeName => "NodeName",
            FilterPlugin::TaintToleration => "TaintToleration",
            FilterPlugin::NodeAffinity => "NodeAffinity",
            FilterPlugin::NodePorts => "NodePorts",
            FilterPlugin::NodeResourcesFit => "NodeResourcesFit",
            FilterPlugin::InterPodAffinity => "InterPodAffinity",
            FilterPlugin::PodTopologySpread => "PodTopologySpread",
        }
    }

    /// The plugin of a configuration name.
    #[must_use]
    pub fn from_name(name: &str) -> Option<FilterPlugin> {
        FilterPlugin::ALL.into_iter().find(|p| p.name() == name)
    }
}

/// Score plugins.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ScorePlugin {
    /// Our node-purpose policy (scores in `prefer` mode).
    NodePurpose,
    /// Our packing score: the share of a node's allocatable held by real users.
    RealUserColocation,
    /// MostAllocated / LeastAllocated.
    NodeResourcesFit,
    /// Preferred node affinity.
    NodeAffinity,
    /// PreferNoSchedule taints.
    TaintToleration,
    /// Preferred pod affinity and anti-affinity.
    InterPodAffinity,
    /// Images already on the node.
    ImageLocality,
    /// Balanced cpu and memory use (kube's NodeResourcesBalancedAllocation).
    NodeResourcesBalancedAllocation,
    /// ScheduleAnyway topology spread constraints (and the default ones).
    PodTopologySpread,
}

impl ScorePlugin {
    /// Every score plugin.
    pub const ALL: [ScorePlugin; 9] = [
        ScorePlugin::NodePurpose,
        ScorePlugin::RealUserColocation,
        ScorePlugin::NodeResourcesFit,
        ScorePlugin::NodeAffinity,
        ScorePlugin::TaintToleration,
        ScorePlugin::InterPodAffinity,
        ScorePlugin::ImageLocality,
        ScorePlugin::NodeResourcesBalancedAllocation,
        ScorePlugin::PodTopologySpread,
    ];

    /// The plugin's name in configuration files and in `explain`.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            ScorePlugin::NodePurpose => "NodePurpose",
            ScorePlugin::RealUserColocation => "RealUserColocation",
            ScorePlugin::NodeResourcesFit => "NodeResourcesFit",
            ScorePlugin::NodeAffinity => "NodeAffinity",
            ScorePlugin::TaintToleration => "TaintToleration",
            ScorePlugin::InterPodAffinity => "InterPodAffinity",
            ScorePlugin::ImageLocality => "ImageLocality",
            ScorePlugin::NodeResourcesBalancedAllocation => "NodeResourcesBalancedAllocation",
            ScorePlugin::PodTopologySpread => "PodTopologySpread",
        }
    }

    /// The plugin of a configuration name.
    #[must_use]
    pub fn from_name(name: &str) -> Option<ScorePlugin> {
        ScorePlugin::ALL.into_iter().find(|p| p.name() == name)
    }
}

/// How NodeResourcesFit scores.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScoringStrategy {
    /// Prefer fuller nodes (bin packing).
    MostAllocated,
    /// Prefer emptier nodes (kube's default).
    LeastAllocated,
}

/// A resource and its weight in NodeResourcesFit scoring.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResourceWeight {
    /// `cpu`, `memory`, `ephemeral-storage` or an extended resource name.
    pub name: String,
    /// Weight (kube requires 1..=100).
    pub weight: i64,
}

/// NodeResourcesFit arguments.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FitArgs {
    /// Scoring strategy.
    pub strategy: ScoringStrategy,
    /// Scored resources and weights.
    pub resources: Vec<ResourceWeight>,
    /// Extended resources the filter ignores.
    pub ignored_resources: Vec<String>,
    /// Extended resource groups (the part before `/`) the filter ignores.
    pub ignored_resource_groups: Vec<String>,
}

impl Default for FitArgs {
    /// kube's default: LeastAllocated over cpu and memory, weight 1 each.
    fn default() -> Self {
        FitArgs {
            strategy: ScoringStrategy::LeastAllocated,
            resources: vec![
                ResourceWeight {
                    name: "cpu".into(),
                    weight: 1,
                },
                ResourceWeight {
                    name: "memory".into(),
                    weight: 1,
                },
            ],
            ignored_resources: Vec::new(),
            ignored_resource_groups: Vec::new(),
        }
    }
}

/// NodeResourcesBalancedAllocation arguments.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BalancedArgs {
    /// The resources whose requested fractions are balanced (kube ignores
    /// the weights; they are kept as given).
    pub resources: Vec<ResourceWeight>,
}

impl Default for BalancedArgs {
    /// kube's default: cpu and memory, weight 1 each.
    fn default() -> Self {
        BalancedArgs {
            resources: FitArgs::default().resources,
        }
    }
}

/// Node affinity added to every pod of the profile (NodeAffinityArgs `addedAffinity`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AddedAffinity {
    /// Required terms, ANDed with the pod's own.
    pub required: Option<Vec<NodeSelectorTerm>>,
    /// Preferred terms, added to the pod's own.
    pub preferred: Vec<PreferredSchedulingTerm>,
}

/// What the node-purpose policy does (z2jh's `matchNodePurpose`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NodePurposeMode {
    /// Only nodes with the label.
    Require,
    /// Nodes with the label score 100, others 0.
    Prefer,
    /// Nothing.
    Ignore,
}

/// Node-purpose arguments.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodePurposeArgs {
    /// Label key (default `hub.jupyter.org/node-purpose`).
    pub key: String,
    /// Label value (default `user`).
    pub value: String,
    /// Mode (default prefer).
    pub mode: NodePurposeMode,
}

impl Default for NodePurposeArgs {
    fn default() -> Self {
        NodePurposeArgs {
            key: "hub.jupyter.org/node-purpose".into(),
            value: "user".into(),
            mode: NodePurposeMode::Prefer,
        }
    }
}

/// A complete scheduling profile.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Profile {
    /// The `schedulerName` pods use to pick this profile.
    pub scheduler_name: String,
    /// Enabled filters (run in [`FilterPlugin::ALL`] order).
    pub filters: Vec<FilterPlugin>,
    /// Enabled score plugins and their weights (≥ 1).
    pub scores: Vec<(ScorePlugin, i64)>,
    /// NodeResourcesFit arguments.
    pub fit: FitArgs,
    /// NodeResourcesBalancedAllocation arguments.
    pub balanced: BalancedArgs,
    /// PodTopologySpread arguments.
    pub spread: crate::plugins::pod_topology_spread::SpreadArgs,
    /// InterPodAffinity `hardPodAffinityWeight` (0..=100, default 1).
    pub hard_pod_affinity_weight: i64,
    /// NodeAffinity `addedAffinity`.
    pub added_affinity: AddedAffinity,
    /// Node-purpose policy.
    pub node_purpose: NodePurposeArgs,
    /// Which pods are real users and which are placeholders.
    pub roles: RoleSelectors,
    /// Packing preemption: a real user may evict placeholders even when some
    /// node fits, when that puts it on a node with more real users (off by
    /// default; RealUserColocation arg `packingPreemption`).
    pub packing_preemption: bool,
    /// VolumeBinding `bindTimeoutSeconds`: how long the daemon's PreBind
    /// waits for a pod's claims to be bound (kube's default 600).
    pub volume_bind_timeout_seconds: u64,
}

/// kube's default VolumeBinding `bindTimeoutSeconds`.
pub const DEFAULT_VOLUME_BIND_TIMEOUT_SECONDS: u64 = 600;

impl Profile {
    /// The profile made for JupyterHub, used when no configuration file is given:
    /// node purpose `prefer`, then real-user co-location, then MostAllocated over
    /// cpu and memory, then image locality, with PreferNoSchedule taints as a
    /// last word. Weights are powers of 11 as in z2jh, so each plugin decides
    /// before the next one (a point of RealUserColocation outweighs 11 points of
    /// MostAllocated, and so on).
    #[must_use]
    pub fn jupyterhub() -> Profile {
        Profile {
            scheduler_name: "user-scheduler".into(),
            filters: FilterPlugin::ALL.to_vec(),
            scores: vec![
                (ScorePlugin::NodePurpose, 14641),
                (ScorePlugin::RealUserColocation, 1331),
                (ScorePlugin::NodeResourcesFit, 121),
                (ScorePlugin::ImageLocality, 11),
                (ScorePlugin::TaintToleration, 1),
            ],
            fit: FitArgs {
                strategy: ScoringStrategy::MostAllocated,
                ..FitArgs::default()
            },
            balanced: BalancedArgs::default(),
            spread: crate::plugins::pod_topology_spread::SpreadArgs::default(),
            hard_pod_affinity_weight: 1,
            added_affinity: AddedAffinity::default(),
            node_purpose: NodePurposeArgs::default(),
            roles: RoleSelectors::default(),
            packing_preemption: false,
            volume_bind_timeout_seconds: DEFAULT_VOLUME_BIND_TIMEOUT_SECONDS,
        }
    }

    /// The filters kube-scheduler's default profile enables, with kube's default
    /// score plugins and weights (TaintToleration 3, NodeAffinity 2,
    /// PodTopologySpread 2, InterPodAffinity 2, NodeResourcesFit 1,
    /// NodeResourcesBalancedAllocation 1, ImageLocality 1).
    /// A `KubeSchedulerConfiguration` profile starts from this.
    #[must_use]
    pub fn kube_default(scheduler_name: &str) -> Profile {
        Profile {
            scheduler_name: scheduler_name.into(),
            filters: FilterPlugin::ALL
                .into_iter()
                .filter(|f| *f != FilterPlugin::NodePurpose)
                .collect(),
            scores: vec![
                (ScorePlugin::TaintToleration, 3),
                (ScorePlugin::NodeAffinity, 2),
                (ScorePlugin::PodTopologySpread, 2),
                (ScorePlugin::InterPodAffinity, 2),
                (ScorePlugin::NodeResourcesFit, 1),
                (ScorePlugin::NodeResourcesBalancedAllocation, 1),
                (ScorePlugin::ImageLocality, 1),
            ],
            fit: FitArgs::default(),
            balanced: BalancedArgs::default(),
            spread: crate::plugins::pod_topology_spread::SpreadArgs::default(),
            hard_pod_affinity_weight: 1,
            added_affinity: AddedAffinity::default(),
            node_purpose: NodePurposeArgs {
                mode: NodePurposeMode::Ignore,
                ..NodePurposeArgs::default()
            },
            roles: RoleSelectors::default(),
            packing_preemption: false,
            volume_bind_timeout_seconds: DEFAULT_VOLUME_BIND_TIMEOUT_SECONDS,
        }
    }

    /// Whether a filter is enabled.
    #[must_use]
    pub fn filter_enabled(&self, f: FilterPlugin) -> bool {
        self.filters.contains(&f)
    }

    /// The weight of a score plugin, `None` when disabled.
    #[must_use]
    pub fn score_weight(&self, s: ScorePlugin) -> Option<i64> {
        self.scores.iter().find(|(p, _)| *p == s).map(|(_, w)| *w)
    }
}
