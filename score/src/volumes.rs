//! Volumes, as the scheduler must see them for users' home-directory claims:
//! PersistentVolumeClaims, PersistentVolumes, StorageClasses, CSINodes,
//! CSIDrivers and CSIStorageCapacities, and the four volume filters kube runs
//! (`plugins/volumebinding`, `volumezone`, `volumerestrictions`,
//! `nodevolumelimits`):
//!
//! - **VolumeRestrictions**: a ReadWriteOncePod claim already used by another
//!   pod rejects every node.
//! - **NodeVolumeLimits**: the unique CSI volumes of a driver on the node, plus
//!   the pod's new ones, may not exceed `CSINode.spec.drivers[].allocatable.count`.
//! - **VolumeBinding**: a bound claim's volume must have node affinity matching
//!   the node; an unbound claim of an Immediate class rejects the pod; an
//!   unbound claim of a WaitForFirstConsumer class needs an Available static
//!   volume of its class on the node (smallest fitting first, each used once)
//!   or dynamic provisioning the class allows there (provisioner,
//!   `allowedTopologies`, and, when the CSI driver reports capacity, a
//!   CSIStorageCapacity large enough); a claim whose `selected-node`
//!   annotation names another node rejects the node.
//! - **VolumeZone**: a bound volume's zone and region labels must match the node's.

use std::collections::{BTreeMap, HashMap};

use crate::model::{LabelSelector, Labels, NodeSelectorTerm};

/// A volume access mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AccessMode {
    /// ReadWriteOnce.
    ReadWriteOnce,
    /// ReadOnlyMany.
    ReadOnlyMany,
    /// ReadWriteMany.
    ReadWriteMany,
    /// ReadWriteOncePod.
    ReadWriteOncePod,
}

/// When a class's claims are bound.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BindingMode {
    /// At once, wherever the provisioner likes.
    Immediate,
    /// When the first pod using the claim is scheduled (the scheduler picks the node).
    WaitForFirstConsumer,
}

/// A StorageClass.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StorageClass {
    /// Name.
    pub name: String,
    /// Provisioner (`kubernetes.io/no-provisioner` for static volumes only).
    pub provisioner: String,
    /// Binding mode.
    pub binding_mode: BindingMode,
    /// `allowedTopologies`: terms ORed; empty allows every node.
    pub allowed_topologies: Vec<NodeSelectorTerm>,
}

/// A PersistentVolumeClaim.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Claim {
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// `spec.storageClassName`.
    pub storage_class: Option<String>,
    /// `spec.volumeName`.
    pub volume_name: Option<String>,
    /// The `pv.kubernetes.io/bind-completed` annotation.
    pub bind_completed: bool,
    /// `spec.resources.requests.storage` in bytes.
    pub request_bytes: u64,
    /// Access modes.
    pub access_modes: Vec<AccessMode>,
    /// The `volume.kubernetes.io/selected-node` annotation.
    pub selected_node: Option<String>,
}

/// A PersistentVolume.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Volume {
    /// Name.
    pub name: String,
    /// `spec.storageClassName`.
    pub storage_class: String,
    /// `spec.capacity.storage` in bytes.
    pub capacity_bytes: u64,
    /// Access modes.
    pub access_modes: Vec<AccessMode>,
    /// `spec.nodeAffinity.required` terms (ORed), when set.
    pub node_affinity: Option<Vec<NodeSelectorTerm>>,
    /// `spec.claimRef` (namespace, name), when set.
    pub claim_ref: Option<(String, String)>,
    /// `status.phase == Available`.
    pub available: bool,
    /// Labels (zone and region labels matter to VolumeZone).
    pub labels: Labels,
    /// `spec.csi.driver`.
    pub csi_driver: Option<String>,
    /// `spec.csi.volumeHandle`.
    pub handle: Option<String>,
}

/// A CSIStorageCapacity.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StorageCapacity {
    /// Storage class it is about.
    pub storage_class: String,
    /// Which nodes it covers; `None` covers none.
    pub node_topology: Option<LabelSelector>,
    /// `capacity` in bytes.
    pub capacity: Option<u64>,
    /// `maximumVolumeSize` in bytes (preferred over capacity when set).
    pub maximum_volume_size: Option<u64>,
}

/// How one unbound WaitForFirstConsumer claim of a pod is bound on the chosen
/// node: to a static volume (PreBind writes the volume's `claimRef`) or by
/// dynamic provisioning (PreBind writes the claim's selected-node annotation).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClaimBinding {
    /// The claim's namespace.
    pub namespace: String,
    /// The claim's name.
    pub claim: String,
    /// The static volume chosen for it; `None`: to be provisioned.
    pub volume: Option<String>,
}

pub use crate::plugins::volumes::{claim_bindings, volume_admits_node};

/// Everything about storage the filters read.
///
/// The volume filters run only once storage is *tracked*
/// ([`Storage::set_tracked`]): a cache that does not hold claims (a daemon
/// without storage watches) must not reject every pod that mounts one as
/// "persistentvolumeclaim not found".
#[derive(Clone, Debug, Default)]
pub struct Storage {
    tracked: bool,
    claims: HashMap<(String, String), Claim>,
    volumes: BTreeMap<String, Volume>,
    classes: HashMap<String, StorageClass>,
    /// Per node: attach limits per CSI driver.
    csi_limits: HashMap<String, Vec<(String, u64)>>,
    /// CSI drivers that publish storage capacity.
    capacity_drivers: Vec<String>,
    /// CSIStorageCapacity objects by (namespace, name).
    capacities: BTreeMap<(String, String), StorageCapacity>,
}

impl Storage {
    /// Declares that this cache holds every claim, volume and class (the
    /// volume filters run).
    pub fn set_tracked(&mut self, tracked: bool) {
        self.tracked = tracked;
    }

    /// Whether the volume filters run.
    #[must_use]
    pub fn is_tracked(&self) -> bool {
        self.tracked
    }

    /// Adds or replaces a claim.
    pub fn upsert_claim(&mut self, claim: Claim) {
        self.claims
            .insert((claim.namespace.clone(), claim.name.clone()), claim);
    }
    /// Removes a claim.
    pub fn remove_claim(&mut self, namespace: &str, name: &str) {
        self.claims
            .remove(&(namespace.to_string(), name.to_string()));
    }
    /// A claim.
    #[must_use]
    pub fn claim(&self, namespace: &str, name: &str) -> Option<&Claim> {
        self.claims.get(&(namespace.to_string(), name.to_string()))
    }
    /// Adds or replaces a volume.
    pub fn upsert_volume(&mut self, volume: Volume) {
        self.volumes.insert(volume.name.clone(), volume);
    }
    /// Removes a volume.
    pub fn remove_volume(&mut self, name: &str) {
        self.volumes.remove(name);
    }
    /// A volume.
    #[must_use]
    pub fn volume(&self, name: &str) -> Option<&Volume> {
        self.volumes.get(name)
    }
    /// Adds or replaces a storage class.
    pub fn upsert_class(&mut self, class: StorageClass) {
        self.classes.insert(class.name.clone(), class);
    }
    /// Removes a storage class.
    pub fn remove_class(&mut self, name: &str) {
        self.classes.remove(name);
    }
    /// A storage class.
    #[must_use]
    pub fn class(&self, name: &str) -> Option<&StorageClass> {
        self.classes.get(name)
    }
    /// Sets a node's CSI attach limits (`CSINode.spec.drivers[].allocatable.count`).
    pub fn set_csi_limits(&mut self, node: &str, limits: Vec<(String, u64)>) {
        self.csi_limits.insert(node.to_string(), limits);
    }
    /// Forgets a node's CSI limits.
    pub fn remove_csi_limits(&mut self, node: &str) {
        self.csi_limits.remove(node);
    }
    /// A node's attach limit for a driver (`None`: unlimited).
    #[must_use]
    pub fn csi_limit(&self, node: &str, driver: &str) -> Option<u64> {
        self.csi_limits
            .get(node)?
            .iter()
            .find(|(d, _)| d == driver)
            .map(|(_, n)| *n)
    }
    /// Declares whether a CSI driver publishes storage capacity.
    pub fn set_driver_capacity(&mut self, driver: &str, reports_capacity: bool) {
        self.capacity_drivers.retain(|d| d != driver);
        if reports_capacity {
            self.capacity_drivers.push(driver.to_string());
        }
    }
    /// Whether a driver publishes storage capacity.
    #[must_use]
    pub fn driver_reports_capacity(&self, driver: &str) -> bool {
        self.capacity_drivers.iter().any(|d| d == driver)
    }
    /// Replaces the CSIStorageCapacity objects (named by their position).
    pub fn set_capacities(&mut self, capacities: Vec<StorageCapacity>) {
        self.capacities = capacities
            .into_iter()
            .enumerate()
            .map(|(i, c)| ((String::new(), i.to_string()), c))
            .collect();
    }
    /// Adds or replaces the CSIStorageCapacity `namespace/name`.
    pub fn upsert_capacity(&mut self, namespace: &str, name: &str, capacity: StorageCapacity) {
        self.capacities
            .insert((namespace.to_string(), name.to_string()), capacity);
    }
    /// Removes the CSIStorageCapacity `namespace/name`.
    pub fn remove_capacity(&mut self, namespace: &str, name: &str) {
        self.capacities
            .remove(&(namespace.to_string(), name.to_string()));
    }
    /// The CSIStorageCapacity objects.
    pub fn capacities(&self) -> impl Iterator<Item = &StorageCapacity> {
        self.capacities.values()
    }
    /// Every volume, by name.
    pub fn volumes(&self) -> impl Iterator<Item = &Volume> {
        self.volumes.values()
    }
}
