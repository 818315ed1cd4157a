//! Cluster snapshot files: what `explain --cluster FILE` and `explain --pod FILE` read.
//!
//! A cluster file is YAML with one or more `---` documents; each document is a
//! Kubernetes object or a list of them (`kind: List`, `NodeList`, `PodList`,
//! ... with `items`), as
//! `kubectl get nodes,pods,pvc,pv,storageclass,pdb,csinode,csidriver,csistoragecapacity -A -o yaml`
//! prints. Nodes, Pods, PersistentVolumeClaims, PersistentVolumes,
//! StorageClasses, PodDisruptionBudgets, CSINodes, CSIDrivers,
//! CSIStorageCapacities and Namespaces are kept as
//! typed objects in input order, and so are Services, ReplicationControllers,
//! ReplicaSets and StatefulSets (they give a pod the selector of
//! PodTopologySpread's default constraints, see
//! [`convert::default_spread_selector`]); other kinds are skipped with one warning per
//! kind. Quantities written as bare YAML numbers (`cpu: 4`) are read as the
//! strings the API would print (`cpu: "4"`), so hand-written files work too.

use std::path::Path;

use k8s_openapi::api::apps::v1::{ReplicaSet, StatefulSet};
use k8s_openapi::api::core::v1::{
    Namespace, Node, PersistentVolume, PersistentVolumeClaim, Pod, ReplicationController, Service,
};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::storage::v1::{CSIDriver, CSINode, CSIStorageCapacity, StorageClass};
use score::schedule::Nominated;
use score::{Cluster, RoleSelectors};
use serde::Deserialize;
use serde_yaml_ng::Value;

use crate::convert::{self, ConvertError};
use crate::yaml_input;

/// The label the API server puts on every namespace with its own name.
const NAMESPACE_NAME_LABEL: &str = "kubernetes.io/metadata.name";

/// Mapping keys whose values are resource maps (quantities).
const QUANTITY_MAPS: &[&str] = &["allocatable", "capacity", "requests", "limits", "overhead"];

/// Why a cluster or pod file was rejected. Every message starts with the file.
#[derive(Debug, thiserror::Error)]
pub enum ClusterFileError {
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
    /// A document is not YAML.
    #[error("{source_name}: document {document}: invalid YAML: {error}")]
    Yaml {
        /// The file.
        source_name: String,
        /// 1-based document number.
        document: usize,
        /// The parser's error.
        error: serde_yaml_ng::Error,
    },
    /// An object is malformed or does not deserialize.
    #[error("{source_name}: {location}: {message}")]
    Invalid {
        /// The file.
        source_name: String,
        /// `document N`, `document N, items[i]`, with the object when known.
        location: String,
        /// What is wrong.
        message: String,
    },
    /// An object does not convert to the engine's types.
    #[error("{source_name}: {error}")]
    Convert {
        /// The file.
        source_name: String,
        /// The conversion error, naming the object and the field.
        error: Box<ConvertError>,
    },
}

/// The objects of a cluster file, each kind in input order.
#[derive(Clone, Debug, Default)]
pub struct ClusterFile {
    /// The file name, for messages.
    pub source: String,
    /// Nodes.
    pub nodes: Vec<Node>,
    /// Pods, assigned or not.
    pub pods: Vec<Pod>,
    /// PersistentVolumeClaims.
    pub pvcs: Vec<PersistentVolumeClaim>,
    /// PersistentVolumes.
    pub pvs: Vec<PersistentVolume>,
    /// StorageClasses.
    pub storage_classes: Vec<StorageClass>,
    /// PodDisruptionBudgets.
    pub pdbs: Vec<PodDisruptionBudget>,
    /// CSINodes.
    pub csi_nodes: Vec<CSINode>,
    /// CSIDrivers (which of them publish storage capacity).
    pub csi_drivers: Vec<CSIDriver>,
    /// CSIStorageCapacities.
    pub storage_capacities: Vec<CSIStorageCapacity>,
    /// Namespaces (their labels feed affinity namespace selectors).
    pub namespaces: Vec<Namespace>,
    /// Services, ReplicationControllers, ReplicaSets and StatefulSets: the
    /// selectors of PodTopologySpread's default constraints.
    pub owners: SpreadOwners,
    /// One line per skipped kind.
    pub warnings: Vec<String>,
}

/// The objects kube's PodTopologySpread reads to select the pods its default
/// constraints count (`helper.DefaultSelector`).
#[derive(Clone, Debug, Default)]
pub struct SpreadOwners {
    /// Services.
    pub services: Vec<Service>,
    /// ReplicationControllers.
    pub replication_controllers: Vec<ReplicationController>,
    /// ReplicaSets.
    pub replica_sets: Vec<ReplicaSet>,
    /// StatefulSets.
    pub stateful_sets: Vec<StatefulSet>,
}

/// Reads and parses a cluster file.
///
/// # Errors
/// See [`parse`]; also when the file cannot be read.
pub fn load(path: &Path) -> Result<ClusterFile, ClusterFileError> {
    let source = path.display().to_string();
    let text = read(path, &source, yaml_input::MAX_CLUSTER_BYTES)?;
    parse(&text, &source)
}

/// The file's text, when it is at most `limit` bytes.
fn read(path: &Path, source: &str, limit: u64) -> Result<String, ClusterFileError> {
    let io = |error| ClusterFileError::Io {
        source_name: source.to_string(),
        error,
    };
    let size = std::fs::metadata(path).map_err(io)?.len();
    yaml_input::check_size(size, limit).map_err(|error| input_error(source, error))?;
    std::fs::read_to_string(path).map_err(io)
}

fn input_error(source: &str, error: yaml_input::InputError) -> ClusterFileError {
    ClusterFileError::Input {
        source_name: source.to_string(),
        error,
    }
}

/// Parses the YAML documents of a cluster file. `source` names the file in
/// errors and warnings.
///
/// # Errors
/// Invalid YAML, a document or list item that is not a mapping or has no
/// `kind`, or an object of a used kind that does not deserialize.
pub fn parse(yaml: &str, source: &str) -> Result<ClusterFile, ClusterFileError> {
    let mut file = ClusterFile {
        source: source.to_string(),
        ..ClusterFile::default()
    };
    let mut skipped: Vec<(String, usize)> = Vec::new();
    let mut seen = Seen::default();
    for (i, value) in documents(yaml, source)? {
        let location = format!("document {i}");
        let kind = kind_of(&value, source, &location)?;
        if kind.ends_with("List") && value.get("items").is_some() {
            let list_api_version = value
                .get("apiVersion")
                .and_then(Value::as_str)
                .map(str::to_string);
            let item_kind = (kind != "List").then(|| kind.trim_end_matches("List").to_string());
            let items = match value.get("items") {
                Some(Value::Sequence(items)) => items.clone(),
                Some(Value::Null) => Vec::new(),
                Some(_) => {
                    return Err(invalid(source, &location, "items: expected a list"));
                }
                None => Vec::new(),
            };
            for (j, mut item) in items.into_iter().enumerate() {
                let location = format!("{location}, items[{j}]");
                // Items of typed lists (NodeList, ...) may omit kind and apiVersion.
                if let (Some(kind), Value::Mapping(map)) = (&item_kind, &mut item) {
                    if map.get("kind").is_none_or(Value::is_null) {
                        map.insert("kind".into(), Value::String(kind.clone()));
                    }
                    if let Some(v) = &list_api_version
                        && map.get("apiVersion").is_none_or(Value::is_null)
                    {
                        map.insert("apiVersion".into(), Value::String(v.clone()));
                    }
                }
                let kind = kind_of(&item, source, &location)?;
                add_object(&mut file, &mut skipped, &mut seen, &kind, item, &location)?;
            }
        } else {
            add_object(&mut file, &mut skipped, &mut seen, &kind, value, &location)?;
        }
    }
    for (kind, n) in skipped {
        file.warnings.push(format!(
            "{source}: skipped {n} {kind} object{}: not used by the scheduler",
            if n == 1 { "" } else { "s" }
        ));
    }
    Ok(file)
}

/// The non-empty documents of a YAML stream, numbered from 1.
fn documents(yaml: &str, source: &str) -> Result<Vec<(usize, Value)>, ClusterFileError> {
    let yaml = yaml_input::checked(yaml).map_err(|error| input_error(source, error))?;
    let mut out = Vec::new();
    for (i, doc) in serde_yaml_ng::Deserializer::from_str(yaml).enumerate() {
        let value = Value::deserialize(doc).map_err(|error| ClusterFileError::Yaml {
            source_name: source.to_string(),
            document: i + 1,
            error,
        })?;
        if !value.is_null() {
            out.push((i + 1, value));
        }
    }
    Ok(out)
}

fn invalid(source: &str, location: &str, message: impl Into<String>) -> ClusterFileError {
    ClusterFileError::Invalid {
        source_name: source.to_string(),
        location: location.to_string(),
        message: message.into(),
    }
}

fn kind_of(value: &Value, source: &str, location: &str) -> Result<String, ClusterFileError> {
    if !value.is_mapping() {
        return Err(invalid(
            source,
            location,
            "expected a Kubernetes object (a mapping)",
        ));
    }
    match value.get("kind") {
        Some(Value::String(k)) if !k.is_empty() => Ok(k.clone()),
        _ => Err(invalid(source, location, "missing kind")),
    }
}

/// `Kind namespace/name` (or `Kind name`) of an untyped object, for messages.
fn describe(kind: &str, value: &Value) -> String {
    let meta = value.get("metadata");
    let field = |k: &str| meta.and_then(|m| m.get(k)).and_then(Value::as_str);
    match (field("namespace"), field("name")) {
        (Some(ns), Some(name)) => format!("{kind} {ns}/{name}"),
        (None, Some(name)) => format!("{kind} {name}"),
        _ => kind.to_string(),
    }
}

/// Rewrites numbers in resource maps as strings, as the API prints them.
fn quantities_as_strings(value: &mut Value) {
    match value {
        Value::Mapping(map) => {
            for (k, v) in map.iter_mut() {
                if let (Some(key), Value::Mapping(inner)) = (k.as_str(), &mut *v)
                    && QUANTITY_MAPS.contains(&key)
                {
                    for q in inner.values_mut() {
                        if let Value::Number(n) = q {
                            *q = Value::String(n.to_string());
                        }
                    }
                }
                quantities_as_strings(v);
            }
        }
        Value::Sequence(items) => items.iter_mut().for_each(quantities_as_strings),
        _ => {}
    }
}

fn typed<T: serde::de::DeserializeOwned>(
    mut value: Value,
    kind: &str,
    source: &str,
    location: &str,
) -> Result<T, ClusterFileError> {
    let what = describe(kind, &value);
    quantities_as_strings(&mut value);
    serde_yaml_ng::from_value(value).map_err(|e| {
        invalid(
            source,
            &format!("{location} ({what})"),
            format!("does not deserialize: {e}"),
        )
    })
}

/// Where each named object of a cluster file was read (`Kind ns/name` → its
/// index in its kind's list and its location), so that a second copy is
/// named in a warning rather than merged silently.
#[derive(Default)]
struct Seen(std::collections::HashMap<String, (usize, String)>);

/// Puts `item` in `list`: at `index` when it replaces an earlier copy.
fn put<T>(list: &mut Vec<T>, index: Option<usize>, item: T) -> usize {
    match index {
        Some(i) if i < list.len() => {
            list[i] = item;
            i
        }
        _ => {
            list.push(item);
            list.len() - 1
        }
    }
}

fn add_object(
    file: &mut ClusterFile,
    skipped: &mut Vec<(String, usize)>,
    seen: &mut Seen,
    kind: &str,
    value: Value,
    location: &str,
) -> Result<(), ClusterFileError> {
    let source = file.source.clone();
    let s = source.as_str();
    let what = describe(kind, &value);
    // Objects without a name are kept as they are (the conversion names them).
    let named = what != kind;
    let earlier = if named {
        seen.0.get(&what).cloned()
    } else {
        None
    };
    if let Some((_, at)) = &earlier {
        file.warnings.push(format!(
            "{s}: {what} in {location} replaces the one in {at} (the same object twice)"
        ));
    }
    let index = earlier.map(|(i, _)| i);
    let slot = match kind {
        "Node" => put(&mut file.nodes, index, typed(value, kind, s, location)?),
        "Pod" => put(&mut file.pods, index, typed(value, kind, s, location)?),
        "PersistentVolumeClaim" => put(&mut file.pvcs, index, typed(value, kind, s, location)?),
        "PersistentVolume" => put(&mut file.pvs, index, typed(value, kind, s, location)?),
        "StorageClass" => put(
            &mut file.storage_classes,
            index,
            typed(value, kind, s, location)?,
        ),
        "PodDisruptionBudget" => put(&mut file.pdbs, index, typed(value, kind, s, location)?),
        "CSINode" => put(&mut file.csi_nodes, index, typed(value, kind, s, location)?),
        "CSIDriver" => put(
            &mut file.csi_drivers,
            index,
            typed(value, kind, s, location)?,
        ),
        "CSIStorageCapacity" => put(
            &mut file.storage_capacities,
            index,
            typed(value, kind, s, location)?,
        ),
        "Namespace" => put(
            &mut file.namespaces,
            index,
            typed(value, kind, s, location)?,
        ),
        "Service" => put(
            &mut file.owners.services,
            index,
            typed(value, kind, s, location)?,
        ),
        "ReplicationController" => put(
            &mut file.owners.replication_controllers,
            index,
            typed(value, kind, s, location)?,
        ),
        "ReplicaSet" => put(
            &mut file.owners.replica_sets,
            index,
            typed(value, kind, s, location)?,
        ),
        "StatefulSet" => put(
            &mut file.owners.stateful_sets,
            index,
            typed(value, kind, s, location)?,
        ),
        other => {
            match skipped.iter_mut().find(|(k, _)| k == other) {
                Some((_, n)) => *n += 1,
                None => skipped.push((other.to_string(), 1)),
            }
            return Ok(());
        }
    };
    if named {
        seen.0.insert(what, (slot, location.to_string()));
    }
    Ok(())
}

/// Builds the engine's cluster from a cluster file: namespaces' labels, then
/// every node in input order, then every pod with `spec.nodeName` that has not
/// finished (Succeeded and Failed pods occupy nothing). Pods without a node
/// are not added.
///
/// Returns the cluster and warnings (node taints skipped, pods bound to nodes
/// the file does not contain).
///
/// # Errors
/// A node or an assigned pod that does not convert (invalid quantity, unknown
/// operator, ...), naming the file, the object and the field.
pub fn build_cluster(
    file: &ClusterFile,
    roles: &RoleSelectors,
) -> Result<(Cluster, Vec<String>), ClusterFileError> {
    let convert_err = |error| ClusterFileError::Convert {
        source_name: file.source.clone(),
        error: Box::new(error),
    };
    let mut cluster = Cluster::new(roles.clone());
    let mut warnings = Vec::new();
    for ns in &file.namespaces {
        let Some(name) = ns.metadata.name.as_deref() else {
            continue;
        };
        let mut labels = convert::labels_of(&ns.metadata);
        labels
            .entry(NAMESPACE_NAME_LABEL.to_string())
            .or_insert_with(|| name.to_string());
        cluster.set_namespace_labels(name, labels);
    }
    // A cluster file holds every storage object there is: the volume
    // filters run (a claim it does not list does not exist).
    cluster.storage.set_tracked(true);
    for pvc in &file.pvcs {
        cluster
            .storage
            .upsert_claim(convert::claim(pvc).map_err(convert_err)?);
    }
    for pv in &file.pvs {
        cluster
            .storage
            .upsert_volume(convert::volume(pv).map_err(convert_err)?);
    }
    for sc in &file.storage_classes {
        cluster.storage.upsert_class(convert::storage_class(sc));
    }
    for csi_node in &file.csi_nodes {
        let (node, limits) = convert::csi_limits(csi_node);
        cluster.storage.set_csi_limits(&node, limits);
    }
    for driver in &file.csi_drivers {
        let (name, reports) = convert::csi_driver(driver);
        cluster.storage.set_driver_capacity(&name, reports);
    }
    for c in &file.storage_capacities {
        let capacity = convert::storage_capacity(c).map_err(convert_err)?;
        cluster.storage.upsert_capacity(
            c.metadata.namespace.as_deref().unwrap_or_default(),
            c.metadata.name.as_deref().unwrap_or_default(),
            capacity,
        );
    }
    for node in &file.nodes {
        let (spec, node_warnings) = convert::node_spec(node).map_err(convert_err)?;
        warnings.extend(
            node_warnings
                .into_iter()
                .map(|w| format!("{}: {w}", file.source)),
        );
        cluster.upsert_node(&spec);
    }
    for pod in &file.pods {
        let Some(node) = pod
            .spec
            .as_ref()
            .and_then(|s| s.node_name.as_deref())
            .filter(|n| !n.is_empty())
        else {
            continue;
        };
        if convert::is_terminal(pod) {
            continue;
        }
        // Counted even with requests too large for kube (as 2^63 − 1, with
        // a warning), as the daemon counts them: the node is full, not empty.
        let (spec, pod_warnings) = convert::assigned_pod_spec(pod).map_err(convert_err)?;
        warnings.extend(
            pod_warnings
                .into_iter()
                .map(|w| format!("{}: {w}", file.source)),
        );
        if cluster.node_index(node).is_none() {
            warnings.push(format!(
                "{}: pod {} is bound to node {node}, which is not in the file",
                file.source,
                spec.key()
            ));
        }
        cluster.add_pod(&spec, node);
    }
    Ok((cluster, warnings))
}

/// The room pods nominated to nodes by preemption hold (pending pods whose
/// `status.nominatedNodeName` names a node of `cluster`), as the daemon
/// holds it: against pods of lower or equal priority. A pod that does not
/// convert holds none, with a warning (the daemon skips it too).
#[must_use]
pub fn nominations(file: &ClusterFile, cluster: &Cluster) -> (Vec<Nominated>, Vec<String>) {
    let mut nominated = Vec::new();
    let mut warnings = Vec::new();
    for pod in &file.pods {
        if let Some(n) = nomination(pod, cluster, &file.source, &mut warnings) {
            nominated.push(n);
        }
    }
    (nominated, warnings)
}

/// `pod`'s nomination, when it is pending and nominated to a node of `cluster`.
pub fn nomination(
    pod: &Pod,
    cluster: &Cluster,
    source: &str,
    warnings: &mut Vec<String>,
) -> Option<Nominated> {
    let bound = pod
        .spec
        .as_ref()
        .and_then(|s| s.node_name.as_deref())
        .is_some_and(|n| !n.is_empty());
    if bound || convert::is_terminal(pod) || pod.metadata.deletion_timestamp.is_some() {
        return None;
    }
    let node = pod
        .status
        .as_ref()
        .and_then(|s| s.nominated_node_name.as_deref())
        .filter(|n| !n.is_empty())?;
    let index = cluster.node_index(node)?;
    match convert::pod_spec(pod) {
        Ok(spec) => {
            let r = score::pod::pod_requests(&spec);
            Some(Nominated {
                uid: spec.uid.clone(),
                priority: spec.priority,
                node: index,
                requests: [r.cpu_milli, r.memory, r.ephemeral_storage],
            })
        }
        Err(e) => {
            warnings.push(format!("{source}: not holding room on {node}: {e}"));
            None
        }
    }
}

/// Reads the pod to place (`explain --pod FILE`): a single Pod document.
///
/// The pod is also converted once, so a bad quantity or operator is reported
/// here with the file name.
///
/// # Errors
/// See [`parse_pod`]; also when the file cannot be read.
pub fn load_pod(path: &Path) -> Result<Pod, ClusterFileError> {
    let source = path.display().to_string();
    let text = read(path, &source, yaml_input::MAX_POD_BYTES)?;
    parse_pod(&text, &source)
}

/// Parses a single Pod document (`kind: Pod`; a missing kind is taken as Pod).
///
/// # Errors
/// Invalid YAML, no document or more than one, another kind, a pod that does
/// not deserialize or does not convert to the engine's types.
pub fn parse_pod(yaml: &str, source: &str) -> Result<Pod, ClusterFileError> {
    let mut docs = documents(yaml, source)?;
    if docs.len() != 1 {
        return Err(invalid(
            source,
            "file",
            format!("expected exactly one Pod document, found {}", docs.len()),
        ));
    }
    let (i, mut value) = docs.remove(0);
    let location = format!("document {i}");
    if let Value::Mapping(map) = &mut value
        && map.get("kind").is_none_or(Value::is_null)
    {
        map.insert("kind".into(), Value::String("Pod".into()));
    }
    let kind = kind_of(&value, source, &location)?;
    if kind != "Pod" {
        return Err(invalid(
            source,
            &location,
            format!("expected a Pod, found {kind}"),
        ));
    }
    let pod: Pod = typed(value, "Pod", source, &location)?;
    convert::pod_spec(&pod).map_err(|error| ClusterFileError::Convert {
        source_name: source.to_string(),
        error: Box::new(error),
    })?;
    Ok(pod)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MULTI_DOC: &str = "
apiVersion: v1
kind: Node
metadata: {name: n1, labels: {hub.jupyter.org/node-purpose: user}}
status: {allocatable: {cpu: 4, memory: 16Gi, pods: 110}}
---
apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Pod
  metadata: {name: alice, namespace: jhub, labels: {component: singleuser-server}}
  spec:
    nodeName: n1
    containers: [{name: c, resources: {requests: {cpu: 500m, memory: 1Gi}}}]
- apiVersion: v1
  kind: Pod
  metadata: {name: done, namespace: jhub}
  spec:
    nodeName: n1
    containers: [{name: c, resources: {requests: {cpu: '3'}}}]
  status: {phase: Succeeded}
- apiVersion: v1
  kind: Pod
  metadata: {name: pending, namespace: jhub}
  spec:
    containers: [{name: c}]
- apiVersion: v1
  kind: Service
  metadata: {name: hub, namespace: jhub}
- apiVersion: v1
  kind: Service
  metadata: {name: proxy, namespace: jhub}
- apiVersion: apps/v1
  kind: Deployment
  metadata: {name: hub, namespace: jhub}
---
apiVersion: v1
kind: NodeList
items:
- metadata: {name: n2}
  status: {allocatable: {cpu: '8', memory: 32Gi}}
---
";

    #[test]
    fn multi_doc_with_lists() {
        let f = parse(MULTI_DOC, "cluster.yaml").unwrap();
        let names = |v: Vec<Option<String>>| v.into_iter().map(Option::unwrap).collect::<Vec<_>>();
        assert_eq!(
            names(f.nodes.iter().map(|n| n.metadata.name.clone()).collect()),
            ["n1", "n2"]
        );
        assert_eq!(
            names(f.pods.iter().map(|p| p.metadata.name.clone()).collect()),
            ["alice", "done", "pending"]
        );
        // Services are kept (PodTopologySpread's default selectors).
        assert_eq!(
            f.warnings,
            ["cluster.yaml: skipped 1 Deployment object: not used by the scheduler"]
        );
        assert_eq!(f.owners.services.len(), 2);
        // Bare numbers became quantities.
        let alloc = f.nodes[0]
            .status
            .as_ref()
            .unwrap()
            .allocatable
            .as_ref()
            .unwrap();
        assert_eq!(alloc["cpu"].0, "4");
        assert_eq!(alloc["pods"].0, "110");
    }

    #[test]
    fn build_cluster_places_running_pods() {
        let f = parse(MULTI_DOC, "cluster.yaml").unwrap();
        let (cluster, warnings) = build_cluster(&f, &RoleSelectors::default()).unwrap();
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(cluster.node_count(), 2);
        assert_eq!(cluster.node_name(0), "n1");
        assert_eq!(cluster.node_name(1), "n2");
        // alice only: `done` has finished and `pending` has no node.
        assert_eq!(cluster.pod_count(), 1);
        assert_eq!(cluster.pods_on(0).count(), 1);
        assert_eq!(cluster.pods_on(1).count(), 0);
        assert!(cluster.pod("jhub/alice").is_some());
        assert!(cluster.pod("jhub/done").is_none());
    }

    #[test]
    fn all_used_kinds_are_kept() {
        let yaml = "
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: claim, namespace: jhub}
spec: {resources: {requests: {storage: 10}}}
---
apiVersion: v1
kind: PersistentVolume
metadata: {name: pv1}
spec: {capacity: {storage: 10Gi}}
---
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata: {name: standard}
provisioner: example.com/disk
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: hub, namespace: jhub}
spec: {maxUnavailable: 1}
---
apiVersion: storage.k8s.io/v1
kind: CSINode
metadata: {name: n1}
spec: {drivers: []}
---
apiVersion: v1
kind: Namespace
metadata: {name: jhub, labels: {team: data}}
";
        let f = parse(yaml, "c.yaml").unwrap();
        assert_eq!(f.pvcs.len(), 1);
        assert_eq!(f.pvs.len(), 1);
        assert_eq!(f.storage_classes.len(), 1);
        assert_eq!(f.pdbs.len(), 1);
        assert_eq!(f.csi_nodes.len(), 1);
        assert_eq!(f.namespaces.len(), 1);
        assert!(f.warnings.is_empty());
        let (cluster, _) = build_cluster(&f, &RoleSelectors::default()).unwrap();
        let labels = cluster.namespace_labels("jhub");
        assert_eq!(labels.get("team").map(String::as_str), Some("data"));
        assert_eq!(
            labels.get(NAMESPACE_NAME_LABEL).map(String::as_str),
            Some("jhub")
        );
    }

    #[test]
    fn csi_drivers_and_storage_capacities_steer_provisioning() {
        // The driver publishes capacity, and only zone a has room: a user
        // whose claim is still to be provisioned can only go to node a.
        let yaml = "
apiVersion: v1
kind: Node
metadata: {name: a, labels: {topology.kubernetes.io/zone: a}}
status: {allocatable: {cpu: 4, memory: 16Gi, pods: 110}}
---
apiVersion: v1
kind: Node
metadata: {name: b, labels: {topology.kubernetes.io/zone: b}}
status: {allocatable: {cpu: 4, memory: 16Gi, pods: 110}}
---
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata: {name: standard-rwo}
provisioner: pd.csi.storage.gke.io
volumeBindingMode: WaitForFirstConsumer
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: claim-alice, namespace: jhub}
spec: {storageClassName: standard-rwo, resources: {requests: {storage: 10Gi}}}
---
apiVersion: storage.k8s.io/v1
kind: CSIDriver
metadata: {name: pd.csi.storage.gke.io}
spec: {storageCapacity: true}
---
apiVersion: storage.k8s.io/v1
kind: CSIStorageCapacity
metadata: {name: cap-a, namespace: kube-system}
storageClassName: standard-rwo
nodeTopology: {matchLabels: {topology.kubernetes.io/zone: a}}
capacity: 100Gi
---
apiVersion: storage.k8s.io/v1
kind: CSIStorageCapacity
metadata: {name: cap-b, namespace: kube-system}
storageClassName: standard-rwo
nodeTopology: {matchLabels: {topology.kubernetes.io/zone: b}}
capacity: 5Gi
";
        let f = parse(yaml, "c.yaml").unwrap();
        assert_eq!((f.csi_drivers.len(), f.storage_capacities.len()), (1, 2));
        assert!(f.warnings.is_empty(), "{:?}", f.warnings);
        let (cluster, _) = build_cluster(&f, &RoleSelectors::default()).unwrap();
        let mut pod = score::testing::pod("alice").mem(1 << 30).build();
        pod.claims = vec!["claim-alice".into()];
        let e = score::explain(&cluster, &score::Profile::jupyterhub(), &pod);
        assert_eq!(e.selected.as_deref(), Some("a"));
        assert_eq!(
            e.nodes.iter().find(|n| n.name == "b").unwrap().reasons,
            vec!["node(s) did not have enough free storage"]
        );
    }

    #[test]
    fn parse_errors_name_file_and_document() {
        // (YAML, expected message prefix)
        let cases = [
            (
                "kind: Node\nmetadata: [",
                "c.yaml: document 1: invalid YAML: ",
            ),
            (
                "kind: Node\nmetadata: {name: a}\n---\nmetadata: {name: b}\n",
                "c.yaml: document 2: missing kind",
            ),
            (
                "- a\n- b\n",
                "c.yaml: document 1: expected a Kubernetes object (a mapping)",
            ),
            (
                "kind: List\nitems:\n- {kind: Node, metadata: {name: a}}\n- {metadata: {name: b}}\n",
                "c.yaml: document 1, items[1]: missing kind",
            ),
            (
                "kind: Pod\nmetadata: {name: p, namespace: jhub}\nspec: {containers: 3}\n",
                "c.yaml: document 1 (Pod jhub/p): does not deserialize: ",
            ),
            (
                "kind: PodList\nitems:\n- {metadata: {name: p}, spec: {containers: [{name: c, ports: x}]}}\n",
                "c.yaml: document 1, items[0] (Pod p): does not deserialize: ",
            ),
            (
                "kind: List\nitems: 3\n",
                "c.yaml: document 1: items: expected a list",
            ),
        ];
        for (yaml, want) in cases {
            let err = parse(yaml, "c.yaml").unwrap_err().to_string();
            assert!(err.starts_with(want), "{yaml:?}: {err}");
        }
    }

    #[test]
    fn bad_quantity_names_file_object_and_field() {
        let yaml = "
kind: Node
metadata: {name: n1}
---
kind: Pod
metadata: {name: jupyter-alice, namespace: jhub}
spec:
  nodeName: n1
  containers: [{name: c, resources: {requests: {cpu: 12x}}}]
";
        let f = parse(yaml, "cluster.yaml").unwrap();
        let err = build_cluster(&f, &RoleSelectors::default())
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "cluster.yaml: pod jhub/jupyter-alice: spec.containers[0].resources.requests[cpu]: invalid quantity \"12x\": unknown suffix \"x\""
        );
        let err = parse_pod(
            "kind: Pod\nmetadata: {name: p}\nspec: {containers: [{name: c, resources: {limits: {memory: 1Qi}}}]}",
            "pod.yaml",
        )
        .unwrap_err()
        .to_string();
        assert_eq!(
            err,
            "pod.yaml: pod default/p: spec.containers[0].resources.requests[memory]: invalid quantity \"1Qi\": unknown suffix \"Qi\""
        );
    }

    #[test]
    fn build_cluster_warnings() {
        let yaml = "
kind: Node
metadata: {name: n1}
spec: {taints: [{key: k, effect: Maybe}]}
---
kind: Pod
metadata: {name: p, namespace: ns}
spec: {nodeName: gone, containers: []}
";
        let f = parse(yaml, "c.yaml").unwrap();
        let (cluster, warnings) = build_cluster(&f, &RoleSelectors::default()).unwrap();
        assert_eq!(
            warnings,
            [
                "c.yaml: node n1: spec.taints[0].effect: unknown effect \"Maybe\"; taint \"k\" ignored",
                "c.yaml: pod ns/p is bound to node gone, which is not in the file",
            ]
        );
        assert_eq!(cluster.pod_count(), 1);
    }

    #[test]
    fn bound_pods_too_large_for_kube_fill_their_node() {
        // Issue 12: two pods on a 4-cpu node each asking for 2^63
        // millicores and 8Ei; the sums wrapped to 0 and a pod asking for the
        // whole node was placed there. Now each counts as 2^63 − 1 (8Ei is
        // capped to that when parsed, as kube does; 2^63m is above it and
        // clamped with a warning) and the node is full.
        let big = |name: &str| {
            format!(
                "kind: Pod
metadata: {{name: {name}, namespace: ns}}
spec:
  nodeName: n1
  containers: [{{name: c, resources: {{requests: {{cpu: 9223372036854775808m, memory: 8Ei}}}}}}]
"
            )
        };
        let yaml = format!(
            "kind: Node
metadata: {{name: n1}}
status: {{allocatable: {{cpu: '4', memory: 16Gi, pods: '110'}}}}
---
{}---
{}",
            big("a"),
            big("b")
        );
        let f = parse(&yaml, "c.yaml").unwrap();
        let (cluster, warnings) = build_cluster(&f, &RoleSelectors::default()).unwrap();
        assert_eq!(warnings.len(), 2, "{warnings:?}");
        assert!(warnings[0].starts_with(
            "c.yaml: pod ns/a: spec.containers[0].resources.requests[cpu]: quantity \"9223372036854775808m\" is too large"
        ));
        // (2^63 − 1) × 2 = 2^64 − 2: no wrap.
        let summary = cluster.summary(0);
        assert_eq!(summary.cpu_milli, (u64::MAX - 1, 4000));
        assert_eq!(summary.memory, (u64::MAX - 1, 16 << 30));
        let whole = score::testing::pod("whole").req(4000, 16 << 30).build();
        let e = score::explain(&cluster, &score::Profile::jupyterhub(), &whole);
        assert_eq!(e.selected, None);
        assert_eq!(
            e.nodes[0].reasons,
            ["Insufficient cpu", "Insufficient memory"]
        );
    }

    #[test]
    fn parse_pod_table() {
        // (YAML, Ok(name) or Err(message prefix))
        let cases: [(&str, Result<&str, &str>); 5] = [
            (
                "apiVersion: v1\nkind: Pod\nmetadata: {name: a}\nspec: {containers: []}",
                Ok("a"),
            ),
            ("metadata: {name: b}\nspec: {containers: []}", Ok("b")),
            (
                "kind: Node\nmetadata: {name: n}",
                Err("pod.yaml: document 1: expected a Pod, found Node"),
            ),
            (
                "kind: Pod\nmetadata: {name: a}\n---\nkind: Pod\nmetadata: {name: b}",
                Err("pod.yaml: file: expected exactly one Pod document, found 2"),
            ),
            (
                "",
                Err("pod.yaml: file: expected exactly one Pod document, found 0"),
            ),
        ];
        for (yaml, want) in cases {
            match (parse_pod(yaml, "pod.yaml"), want) {
                (Ok(pod), Ok(name)) => assert_eq!(pod.metadata.name.as_deref(), Some(name)),
                (Err(e), Err(msg)) => assert_eq!(e.to_string(), msg),
                (got, want) => panic!("{yaml:?}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn load_names_missing_files() {
        let err = load(Path::new("/nonexistent/cluster.yaml"))
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("/nonexistent/cluster.yaml: cannot read: "),
            "{err}"
        );
        let err = load_pod(Path::new("/nonexistent/pod.yaml"))
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("/nonexistent/pod.yaml: cannot read: "),
            "{err}"
        );
    }
}
