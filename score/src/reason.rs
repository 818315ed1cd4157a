//! Why a node was rejected: kube's reason strings, exactly.
//!
//! A rejection is a value, not an error. Each reason also says whether removing
//! pods from the node could ever help (kube's `Unschedulable`) or not
//! (`UnschedulableAndUnresolvable`), which decides where preemption may look.

use crate::symbols::{Names, Sym};

/// A resource named in an "Insufficient ..." reason.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ResourceName {
    /// cpu
    Cpu,
    /// memory
    Memory,
    /// ephemeral-storage
    EphemeralStorage,
    /// An extended resource such as `nvidia.com/gpu`.
    Extended(Sym),
}

/// Why one filter rejected one node.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Reason {
    /// NodePurpose in `require` mode: the node lacks the purpose label.
    NodePurpose,
    /// NodeUnschedulable.
    Unschedulable,
    /// NodeName.
    NodeName,
    /// TaintToleration: the first untolerated NoSchedule/NoExecute taint.
    UntoleratedTaint {
        /// Taint key.
        key: Sym,
        /// Taint value.
        value: Sym,
    },
    /// NodeAffinity: nodeSelector or required affinity.
    NodeAffinity,
    /// NodeAffinity: the profile's `addedAffinity`.
    EnforcedNodeAffinity,
    /// NodePorts.
    NodePorts,
    /// NodeResourcesFit: pod count.
    TooManyPods,
    /// NodeResourcesFit: a resource.
    Insufficient {
        /// Which resource.
        resource: ResourceName,
        /// The request exceeds the node's whole allocatable (no eviction helps).
        exceeds_allocatable: bool,
    },
    /// InterPodAffinity: required affinity.
    PodAffinity,
    /// InterPodAffinity: the pod's required anti-affinity.
    PodAntiAffinity,
    /// InterPodAffinity: an existing pod's required anti-affinity.
    ExistingPodsAntiAffinity,
    /// NodeVolumeLimits: too many CSI volumes of a driver.
    TooManyVolumes,
    /// VolumeBinding: a bound volume's node affinity excludes the node.
    VolumeNodeAffinityConflict,
    /// VolumeBinding: no static volume and no provisioning for a delayed claim.
    NoVolumeToBind,
    /// VolumeBinding: the CSI driver reports too little capacity there.
    NotEnoughStorage,
    /// VolumeZone.
    NoVolumeZone,
    /// PodTopologySpread: a DoNotSchedule constraint's skew would exceed maxSkew.
    SpreadConstraints,
    /// PodTopologySpread: the node lacks a constraint's topology key.
    SpreadMissingLabel,
}

impl Reason {
    /// Whether evicting pods from the node can never make the pod fit
    /// (kube's `UnschedulableAndUnresolvable`).
    #[must_use]
    pub fn unresolvable(self) -> bool {
        match self {
            Reason::NodePurpose
            | Reason::Unschedulable
            | Reason::NodeName
            | Reason::UntoleratedTaint { .. }
            | Reason::NodeAffinity
            | Reason::EnforcedNodeAffinity
            | Reason::PodAffinity
            | Reason::VolumeNodeAffinityConflict
            | Reason::NoVolumeToBind
            | Reason::NotEnoughStorage
            | Reason::NoVolumeZone
            | Reason::SpreadMissingLabel => true,
            Reason::Insufficient {
                exceeds_allocatable,
                ..
            } => exceeds_allocatable,
            Reason::NodePorts
            | Reason::TooManyPods
            | Reason::PodAntiAffinity
            | Reason::ExistingPodsAntiAffinity
            | Reason::TooManyVolumes
            | Reason::SpreadConstraints => false,
        }
    }

    /// The reason as kube-scheduler words it, with names from `names`.
    #[must_use]
    pub fn render(self, names: &Names<'_>, purpose: (&str, &str)) -> String {
        match self {
            Reason::NodePurpose => format!(
                "node(s) didn't have the node-purpose label {{{}: {}}}",
                purpose.0, purpose.1
            ),
            Reason::Unschedulable => "node(s) were unschedulable".into(),
            Reason::NodeName => "node(s) didn't match the requested node name".into(),
            Reason::UntoleratedTaint { key, value } => format!(
                "node(s) had untolerated taint {{{}: {}}}",
                names.resolve(key),
                names.resolve(value)
            ),
            Reason::NodeAffinity => "node(s) didn't match Pod's node affinity/selector".into(),
            Reason::EnforcedNodeAffinity => {
                "node(s) didn't match scheduler-enforced node affinity".into()
            }
            Reason::NodePorts => {
                "node(s) didn't have free ports for the requested pod ports".into()
            }
            Reason::TooManyPods => "Too many pods".into(),
            Reason::Insufficient { resource, .. } => match resource {
                ResourceName::Cpu => "Insufficient cpu".into(),
                ResourceName::Memory => "Insufficient memory".into(),
                ResourceName::EphemeralStorage => "Insufficient ephemeral-storage".into(),
                ResourceName::Extended(name) => format!("Insufficient {}", names.resolve(name)),
            },
            Reason::PodAffinity => "node(s) didn't match pod affinity rules".into(),
            Reason::PodAntiAffinity => "node(s) didn't match pod anti-affinity rules".into(),
            Reason::ExistingPodsAntiAffinity => {
                "node(s) didn't satisfy existing pods anti-affinity rules".into()
            }
            Reason::TooManyVolumes => "node(s) exceed max volume count".into(),
            Reason::VolumeNodeAffinityConflict => {
                "node(s) had volume node affinity conflict".into()
            }
            Reason::NoVolumeToBind => {
                "node(s) didn't find available persistent volumes to bind".into()
            }
            Reason::NotEnoughStorage => "node(s) did not have enough free storage".into(),
            Reason::NoVolumeZone => "node(s) had no available volume zone".into(),
            Reason::SpreadConstraints => {
                "node(s) didn't match pod topology spread constraints".into()
            }
            Reason::SpreadMissingLabel => {
                "node(s) didn't match pod topology spread constraints (missing required label)"
                    .into()
            }
        }
    }
}
