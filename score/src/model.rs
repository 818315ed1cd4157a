//! The engine's input model: plain owned descriptions of nodes and pods.
//!
//! These are what the daemon and `explain` build from Kubernetes objects (the
//! conversion lives in the `scheduler` crate, the only place that knows the API
//! types). Everything here is already parsed: quantities are integers, enums are
//! closed. The [`Cluster`](crate::Cluster) interns these into compact records.

use std::collections::BTreeMap;

/// Labels of an object: key to value, sorted by key.
pub type Labels = BTreeMap<String, String>;

/// An amount of every resource the engine tracks. Absent keys matter (see
/// [`ResourceList::cpu_milli`]), so every field is optional.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ResourceList {
    /// CPU in millicores. `None` when the key is absent (then scoring substitutes
    /// the non-zero default of 100m for a container); `Some(0)` is an explicit 0.
    pub cpu_milli: Option<u64>,
    /// Memory in bytes. `None` when absent (scoring substitutes 200 MiB).
    pub memory: Option<u64>,
    /// Ephemeral storage in bytes.
    pub ephemeral_storage: Option<u64>,
    /// Pod count (only meaningful in a node's allocatable).
    pub pods: Option<u64>,
    /// Every other resource (`nvidia.com/gpu`, hugepages, ...), by name, as integers.
    pub extended: Vec<(String, u64)>,
}

impl ResourceList {
    /// The amount of an extended resource, 0 when absent.
    #[must_use]
    pub fn extended(&self, name: &str) -> u64 {
        self.extended
            .iter()
            .find(|(n, _)| n == name)
            .map_or(0, |(_, v)| *v)
    }
}

/// A taint's effect.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TaintEffect {
    /// New pods that do not tolerate it are not scheduled.
    NoSchedule,
    /// The scheduler tries to avoid the node.
    PreferNoSchedule,
    /// Not scheduled, and running pods are evicted.
    NoExecute,
}

impl TaintEffect {
    /// The API spelling.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            TaintEffect::NoSchedule => "NoSchedule",
            TaintEffect::PreferNoSchedule => "PreferNoSchedule",
            TaintEffect::NoExecute => "NoExecute",
        }
    }
}

/// A node taint.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Taint {
    /// Taint key.
    pub key: String,
    /// Taint value (may be empty).
    pub value: String,
    /// Taint effect.
    pub effect: TaintEffect,
}

/// How a toleration compares its value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TolerationOperator {
    /// Values must be equal (also the meaning of an empty operator).
    Equal,
    /// Any value.
    Exists,
    /// The taint's value, as an integer, is less than the toleration's.
    Lt,
    /// The taint's value, as an integer, is greater than the toleration's.
    Gt,
}

/// A pod toleration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Toleration {
    /// Key; empty matches every key (only with `Exists`).
    pub key: String,
    /// Operator.
    pub operator: TolerationOperator,
    /// Value compared by `Equal`, `Lt` and `Gt`.
    pub value: String,
    /// Effect; `None` matches every effect.
    pub effect: Option<TaintEffect>,
}

/// Operators of node selector requirements.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NodeSelectorOperator {
    /// Label present and its value in the list.
    In,
    /// Label absent, or its value not in the list.
    NotIn,
    /// Label present.
    Exists,
    /// Label absent.
    DoesNotExist,
    /// Label present and, as an integer, greater than the single value.
    Gt,
    /// Label present and, as an integer, less than the single value.
    Lt,
}

/// One requirement of a node selector term.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeSelectorRequirement {
    /// Label key (or field name for `match_fields`).
    pub key: String,
    /// Operator.
    pub operator: NodeSelectorOperator,
    /// Values.
    pub values: Vec<String>,
}

/// A node selector term: every expression and every field requirement must hold.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NodeSelectorTerm {
    /// Requirements on node labels.
    pub match_expressions: Vec<NodeSelectorRequirement>,
    /// Requirements on node fields (only `metadata.name` exists).
    pub match_fields: Vec<NodeSelectorRequirement>,
}

/// A weighted preferred node selector term.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PreferredSchedulingTerm {
    /// Weight, 1..=100 (0 is ignored, as kube does).
    pub weight: i32,
    /// The term.
    pub preference: NodeSelectorTerm,
}

/// Operators of label selector requirements (pod affinity, PDBs, config selectors).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LabelSelectorOperator {
    /// Label present and value in the list.
    In,
    /// Label absent or value not in the list.
    NotIn,
    /// Label present.
    Exists,
    /// Label absent.
    DoesNotExist,
}

/// A label selector requirement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LabelSelectorRequirement {
    /// Label key.
    pub key: String,
    /// Operator.
    pub operator: LabelSelectorOperator,
    /// Values for `In` / `NotIn`.
    pub values: Vec<String>,
}

/// A Kubernetes label selector. The empty selector matches everything.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LabelSelector {
    /// Exact key/value pairs.
    pub match_labels: Vec<(String, String)>,
    /// Requirements.
    pub match_expressions: Vec<LabelSelectorRequirement>,
}

impl LabelSelector {
    /// A selector `key=value`.
    #[must_use]
    pub fn equals(key: &str, value: &str) -> Self {
        LabelSelector {
            match_labels: vec![(key.to_string(), value.to_string())],
            match_expressions: Vec::new(),
        }
    }

    /// Whether the labels satisfy this selector.
    #[must_use]
    pub fn matches(&self, labels: &Labels) -> bool {
        self.match_labels
            .iter()
            .all(|(k, v)| labels.get(k) == Some(v))
            && self.match_expressions.iter().all(|r| {
                let value = labels.get(&r.key);
                match r.operator {
                    LabelSelectorOperator::In => value.is_some_and(|v| r.values.contains(v)),
                    LabelSelectorOperator::NotIn => value.is_none_or(|v| !r.values.contains(v)),
                    LabelSelectorOperator::Exists => value.is_some(),
                    LabelSelectorOperator::DoesNotExist => value.is_none(),
                }
            })
    }
}

/// A pod (anti-)affinity term.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PodAffinityTerm {
    /// Which pods the term is about; `None` matches no pod (kube: a nil selector
    /// selects nothing).
    pub label_selector: Option<LabelSelector>,
    /// Namespaces the matching pods may be in. Empty with no namespace selector
    /// means the namespace of the pod that owns the term.
    pub namespaces: Vec<String>,
    /// Namespace selector; `Some(empty)` means every namespace. Evaluated against
    /// the namespace labels the cluster knows (at least `kubernetes.io/metadata.name`).
    pub namespace_selector: Option<LabelSelector>,
    /// Node label whose value defines the topology domain.
    pub topology_key: String,
}

/// A weighted preferred pod (anti-)affinity term.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WeightedPodAffinityTerm {
    /// Weight 1..=100.
    pub weight: i32,
    /// The term.
    pub term: PodAffinityTerm,
}

/// Required and preferred terms of a pod affinity or anti-affinity.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PodAffinityRules {
    /// requiredDuringSchedulingIgnoredDuringExecution.
    pub required: Vec<PodAffinityTerm>,
    /// preferredDuringSchedulingIgnoredDuringExecution.
    pub preferred: Vec<WeightedPodAffinityTerm>,
}

impl PodAffinityRules {
    /// No terms at all.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.required.is_empty() && self.preferred.is_empty()
    }
}

/// Transport protocol of a host port.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Protocol {
    /// TCP (the default).
    Tcp,
    /// UDP.
    Udp,
    /// SCTP.
    Sctp,
}

/// A host port a container asks for.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct HostPort {
    /// Host IP; `0.0.0.0` when unset.
    pub ip: String,
    /// Protocol.
    pub protocol: Protocol,
    /// The port (> 0).
    pub port: u16,
}

/// One container's requests as written in the pod spec.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Container {
    /// `resources.requests` (keys absent stay `None`). When a container sets only
    /// limits, the API server defaults requests to limits; converters do the same.
    pub requests: ResourceList,
    /// Image reference.
    pub image: String,
    /// Host ports of this container.
    pub host_ports: Vec<HostPort>,
    /// An init container with `restartPolicy: Always` (a sidecar).
    pub restartable: bool,
}

/// A node as the engine sees it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NodeSpec {
    /// Node name.
    pub name: String,
    /// Labels.
    pub labels: Labels,
    /// Taints.
    pub taints: Vec<Taint>,
    /// `spec.unschedulable`.
    pub unschedulable: bool,
    /// `status.allocatable`.
    pub allocatable: ResourceList,
    /// `status.images`: every name of an image, and its size in bytes.
    pub images: Vec<NodeImage>,
}

/// An image present on a node.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NodeImage {
    /// The names the node reports for it.
    pub names: Vec<String>,
    /// Size in bytes.
    pub size_bytes: u64,
}

/// Whether a pod is being deleted. A terminating pod still holds its room
/// on its node until it is gone; preemption never evicts it again.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Terminating {
    /// No `metadata.deletionTimestamp`.
    #[default]
    No,
    /// `metadata.deletionTimestamp` is set (graceful termination).
    Yes,
    /// Being deleted because a scheduler preempted it: the deletionTimestamp
    /// and the condition DisruptionTarget=True with reason
    /// PreemptionByScheduler (what kube's `podTerminatingByPreemption` reads).
    ByPreemption,
}

/// What a topology spread constraint does when it cannot be met.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum WhenUnsatisfiable {
    /// A filter (PodTopologySpread's Filter).
    #[default]
    DoNotSchedule,
    /// A preference (PodTopologySpread's Score).
    ScheduleAnyway,
}

/// `nodeAffinityPolicy` / `nodeTaintsPolicy` of a spread constraint.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NodeInclusionPolicy {
    /// Count only the nodes the pod's node affinity (or tolerations) admit.
    Honor,
    /// Count every node.
    Ignore,
}

/// A `spec.topologySpreadConstraints` entry (or a default constraint of
/// PodTopologySpreadArgs, which has no selector).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TopologySpreadConstraint {
    /// `maxSkew` (≥ 1).
    pub max_skew: i32,
    /// `topologyKey`.
    pub topology_key: String,
    /// `whenUnsatisfiable`.
    pub when_unsatisfiable: WhenUnsatisfiable,
    /// `labelSelector`; none matches no pod.
    pub label_selector: Option<LabelSelector>,
    /// `minDomains` (kube: 1 when unset).
    pub min_domains: Option<i32>,
    /// `nodeAffinityPolicy` (kube: Honor when unset).
    pub node_affinity_policy: Option<NodeInclusionPolicy>,
    /// `nodeTaintsPolicy` (kube: Ignore when unset).
    pub node_taints_policy: Option<NodeInclusionPolicy>,
    /// `matchLabelKeys`: the pod's values of these keys are ANDed into the selector.
    pub match_label_keys: Vec<String>,
}

/// A pod as the engine sees it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PodSpec {
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// UID; the key of the pod in the cluster (converters fall back to
    /// `namespace/name` when an object has none).
    pub uid: String,
    /// Labels.
    pub labels: Labels,
    /// `spec.priority` (0 when unset).
    pub priority: i32,
    /// `spec.preemptionPolicy: Never`.
    pub preemption_never: bool,
    /// `spec.nodeName`, when set.
    pub node_name: Option<String>,
    /// `spec.nodeSelector`.
    pub node_selector: Labels,
    /// Required node affinity terms (ORed); `None` when absent.
    pub required_node_affinity: Option<Vec<NodeSelectorTerm>>,
    /// Preferred node affinity terms.
    pub preferred_node_affinity: Vec<PreferredSchedulingTerm>,
    /// Tolerations.
    pub tolerations: Vec<Toleration>,
    /// Pod affinity.
    pub pod_affinity: PodAffinityRules,
    /// Pod anti-affinity.
    pub pod_anti_affinity: PodAffinityRules,
    /// Regular containers.
    pub containers: Vec<Container>,
    /// Init containers, in order.
    pub init_containers: Vec<Container>,
    /// `spec.overhead`.
    pub overhead: ResourceList,
    /// Pod-level `spec.resources.requests`, when set.
    pub pod_requests: Option<ResourceList>,
    /// Start time (or creation time) in seconds since the epoch; orders victims
    /// of equal priority in preemption (earlier is more important).
    pub start_time: i64,
    /// The PersistentVolumeClaims the pod mounts (`persistentVolumeClaim`
    /// volumes, and `<pod>-<volume>` for generic ephemeral volumes).
    pub claims: Vec<String>,
    /// Whether it is being deleted.
    pub terminating: Terminating,
    /// `spec.topologySpreadConstraints`.
    pub topology_spread: Vec<TopologySpreadConstraint>,
    /// The selector kube's PodTopologySpread gives the default constraints
    /// of a pod without its own: the selectors of the Services,
    /// ReplicationControllers, ReplicaSets and StatefulSets that select or
    /// own the pod, merged (kube's `helper.DefaultSelector`). `None` when
    /// unknown (the daemon does not watch those objects; see README) or
    /// empty: then no default constraint applies.
    pub default_spread_selector: Option<LabelSelector>,
}

impl PodSpec {
    /// `namespace/name`.
    #[must_use]
    pub fn key(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }
}
