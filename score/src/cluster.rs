//! The cluster the engine decides on: every node and every pod assigned to one,
//! kept as compact records and updated incrementally.
//!
//! Layout, for scanning: the per-node numbers the filter and score loop reads
//! for every node live in one dense `Vec<NodeHot>` (88 bytes a node); what is
//! read rarely (names, extended resources, ports, pods) lives in a parallel
//! `Vec<NodeCold>`. Labels, taints and `spec.unschedulable` are interned as a
//! *node class*: nodes of one pool share a class, so a pod's label and taint
//! verdicts are computed once per class rather than once per node. The
//! `kubernetes.io/hostname` label is unique per node, so it is kept out of the
//! class and stored on the node.
//!
//! # Sums cannot wrap
//!
//! Every per-node sum of pod requests (fit, non-zero, real users,
//! ephemeral storage, extended resources) is kept as `min(true sum,
//! u64::MAX)`: adding saturates, so a node whose pods ask for more than a
//! `u64` holds looks full, never empty. Taking a pod off is exact while the
//! sum is below `u64::MAX`; once it reached `u64::MAX` the true sum is not
//! known, so the node's sums are counted again from its remaining pods
//! (`Cluster::recount`, private) — rare (only absurd requests saturate), and it keeps
//! the hot record at 88 bytes and its updates at one saturating add each.
//! Converters keep every amount at most 2^63 − 1 (kube's int64 maximum), but
//! the engine does not rely on it.

use std::collections::HashMap;

use crate::model::{
    HostPort, LabelSelector, Labels, NodeSpec, PodAffinityRules, PodSpec, Protocol, TaintEffect,
    Terminating,
};
use crate::plugins::node_resources_fit::Reciprocal;
use crate::plugins::real_user_colocation;
use crate::pod::{PodRequests, pod_requests};
use crate::symbols::{Sym, Symbols};

/// The label every node carries with its own name.
pub const HOSTNAME_LABEL: &str = "kubernetes.io/hostname";

/// What kind of pod a pod is, for packing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PodRole {
    /// A JupyterHub user server (`component=singleuser-server` by default).
    RealUser,
    /// A placeholder that only holds headroom (`component=user-placeholder` by default).
    Placeholder,
    /// Anything else (system pods, hub pods, image pullers, ...).
    Other,
}

/// The selectors that classify pods into [`PodRole`]s.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoleSelectors {
    /// Selects real user pods.
    pub real_user: LabelSelector,
    /// Selects placeholder pods.
    pub placeholder: LabelSelector,
}

impl Default for RoleSelectors {
    fn default() -> Self {
        RoleSelectors {
            real_user: LabelSelector::equals("component", "singleuser-server"),
            placeholder: LabelSelector::equals("component", "user-placeholder"),
        }
    }
}

impl RoleSelectors {
    /// The role of a pod with these labels. A pod matching both selectors is a real user.
    #[must_use]
    pub fn classify(&self, labels: &Labels) -> PodRole {
        if self.real_user.matches(labels) {
            PodRole::RealUser
        } else if self.placeholder.matches(labels) {
            PodRole::Placeholder
        } else {
            PodRole::Other
        }
    }
}

/// An interned taint.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct TaintRec {
    pub key: Sym,
    pub value: Sym,
    pub effect: TaintEffect,
}

/// Labels (without the hostname), taints and `spec.unschedulable` shared by many nodes.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct ClassKey {
    pub labels: Box<[(Sym, Sym)]>,
    pub taints: Box<[TaintRec]>,
    pub unschedulable: bool,
}

#[derive(Debug)]
pub(crate) struct NodeClass {
    pub key: ClassKey,
    refs: u32,
}

/// The numbers read for every node on every decision: what the resource
/// filter and the scores need, nothing else (88 bytes). Ephemeral storage and
/// the real-user totals live in the cold record: the common pod requests no
/// ephemeral storage, and RealUserColocation's score is kept up to date here
/// instead of being recomputed on every decision.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct NodeHot {
    pub alloc_cpu: u64,
    pub alloc_mem: u64,
    /// Sum of the real requests of the pods on the node (fit).
    pub req_cpu: u64,
    pub req_mem: u64,
    /// Sum of the non-zero requests (scoring).
    pub nz_cpu: u64,
    pub nz_mem: u64,
    /// Reciprocals of `alloc_cpu` and `alloc_mem` (see [`Reciprocal`]):
    /// percentages of allocatable become a multiplication in the hot loop.
    pub magic_cpu: u64,
    pub magic_mem: u64,
    pub alloc_pods: u32,
    pub pods: u32,
    pub class: u32,
    /// Number of pods on the node that use host ports.
    pub port_pods: u32,
    pub shift_cpu: u8,
    pub shift_mem: u8,
    /// RealUserColocation's score of the node (0..=100), updated whenever
    /// the node's allocatable or its real-user pods change.
    pub colocation: u8,
}

impl NodeHot {
    /// Sets cpu and memory allocatable and their reciprocals.
    pub(crate) fn set_allocatable(&mut self, cpu: u64, mem: u64) {
        self.alloc_cpu = cpu;
        self.alloc_mem = mem;
        let (c, m) = (Reciprocal::of(cpu), Reciprocal::of(mem));
        (self.magic_cpu, self.shift_cpu) = (c.magic, c.shift);
        (self.magic_mem, self.shift_mem) = (m.magic, m.shift);
    }

    pub(crate) fn rcp_cpu(&self) -> Reciprocal {
        Reciprocal {
            magic: self.magic_cpu,
            shift: self.shift_cpu,
        }
    }

    pub(crate) fn rcp_mem(&self) -> Reciprocal {
        Reciprocal {
            magic: self.magic_mem,
            shift: self.shift_mem,
        }
    }
}

/// What is read rarely.
#[derive(Clone, Debug, Default)]
pub(crate) struct NodeCold {
    pub name: Box<str>,
    pub hostname: Option<Sym>,
    pub alloc_eph: u64,
    /// Sum of the ephemeral-storage requests of the pods on the node.
    pub req_eph: u64,
    /// Non-zero requests of real user pods only (RealUserColocation).
    pub real_cpu: u64,
    pub real_mem: u64,
    pub extended_alloc: Vec<(Sym, u64)>,
    pub extended_req: Vec<(Sym, u64)>,
    /// Host ports in use, one entry per container port (a multiset).
    pub ports: Vec<HostPortRec>,
    /// Every name of every image, sorted by symbol, with the image size.
    pub images: Box<[(Sym, u64)]>,
    /// Slab ids of the pods on the node.
    pub pods: Vec<u32>,
    pub real_users: u32,
    pub placeholders: u32,
}

/// An interned host port.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct HostPortRec {
    pub ip: Sym,
    pub protocol: Protocol,
    pub port: u16,
}

/// Which nodes hold an image: one bit per node, plus the size when every node
/// reports the same one.
#[derive(Clone, Debug, Default)]
pub(crate) struct ImageColumn {
    pub nodes: u32,
    pub bits: Vec<u64>,
    /// The size every node reports, `None` when nodes disagree (then the node's
    /// own entry is read).
    pub uniform_size: Option<u64>,
}

/// A pod assigned to a node, as compactly as the engine needs it.
#[derive(Clone, Debug)]
pub struct PodRecord {
    pub(crate) uid: Box<str>,
    pub(crate) namespace: Sym,
    pub(crate) name: Box<str>,
    pub(crate) node_name: Box<str>,
    /// Node index, or `u32::MAX` while the node is unknown.
    pub(crate) node: u32,
    pub(crate) role: PodRole,
    pub(crate) priority: i32,
    pub(crate) req: [u64; 3],
    pub(crate) nz: [u64; 2],
    pub(crate) extended: Box<[(Sym, u64)]>,
    pub(crate) ports: Box<[HostPortRec]>,
    pub(crate) labels: Box<[(Sym, Sym)]>,
    /// Affinity terms, kept only for the pods that have any.
    pub(crate) affinity: Option<Box<(PodAffinityRules, PodAffinityRules)>>,
    /// The claims the pod mounts (few pods have any).
    pub(crate) claims: Box<[Box<str>]>,
    pub(crate) start_time: i64,
    /// Being deleted: it holds its room until gone, and is no victim.
    pub(crate) terminating: Terminating,
}

impl PodRecord {
    /// UID.
    #[must_use]
    pub fn uid(&self) -> &str {
        &self.uid
    }
    /// Name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }
    /// Role.
    #[must_use]
    pub fn role(&self) -> PodRole {
        self.role
    }
    /// Priority.
    #[must_use]
    pub fn priority(&self) -> i32 {
        self.priority
    }
    /// The node the pod is on.
    #[must_use]
    pub fn node_name(&self) -> &str {
        &self.node_name
    }
    /// Start time, seconds since the epoch.
    #[must_use]
    pub fn start_time(&self) -> i64 {
        self.start_time
    }
    /// Real requests: cpu millicores, memory bytes, ephemeral storage bytes.
    #[must_use]
    pub fn requests(&self) -> [u64; 3] {
        self.req
    }
    /// Whether it is being deleted.
    #[must_use]
    pub fn terminating(&self) -> Terminating {
        self.terminating
    }
}

/// Per-node figures for reports (`demo`, `explain --format text`, metrics).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeSummary {
    /// Node name.
    pub name: String,
    /// Pods on the node.
    pub pods: u32,
    /// Real user pods on the node.
    pub real_users: u32,
    /// Placeholder pods on the node.
    pub placeholders: u32,
    /// Requested cpu (millicores) and allocatable.
    pub cpu_milli: (u64, u64),
    /// Requested memory (bytes) and allocatable.
    pub memory: (u64, u64),
}

const NO_NODE: u32 = u32::MAX;

/// Every node and every assigned pod.
#[derive(Debug)]
pub struct Cluster {
    pub(crate) symbols: Symbols,
    roles: RoleSelectors,
    pub(crate) hot: Vec<NodeHot>,
    pub(crate) cold: Vec<NodeCold>,
    node_index: HashMap<Box<str>, u32>,
    pub(crate) classes: Vec<NodeClass>,
    class_index: HashMap<ClassKey, u32>,
    free_classes: Vec<u32>,
    pub(crate) pods: Vec<Option<PodRecord>>,
    free_pods: Vec<u32>,
    pod_index: HashMap<Box<str>, u32>,
    /// Pods whose node is not (yet) known, by node name.
    orphans: HashMap<Box<str>, Vec<u32>>,
    pub(crate) images: HashMap<Sym, ImageColumn>,
    namespaces: HashMap<String, Labels>,
    /// Assigned pods that carry pod affinity or anti-affinity terms.
    pub(crate) affinity_pods: u32,
    pub(crate) hostname_key: Sym,
    pub(crate) any_ip: Sym,
    /// Claims, volumes, classes and CSI limits.
    pub storage: crate::volumes::Storage,
    /// The taint a cordoned node is treated as having.
    pub(crate) unschedulable_taint: TaintRec,
    /// Which nodes changed, for caches of per-node results.
    pub(crate) changes: Changes,
}

/// Which nodes changed since a point in time, so that a cache of per-node
/// results (the decision cache in [`crate::schedule`]) can redo only those.
/// Changes that move or renumber nodes or classes start a new epoch: what a
/// cache holds from an earlier epoch is void.
#[derive(Debug)]
pub(crate) struct Changes {
    /// Distinguishes clusters, so a cache never mixes two.
    pub cluster: u64,
    pub epoch: u64,
    /// Indices of the nodes whose records changed in this epoch, in order,
    /// repeats included.
    pub touched: Vec<u32>,
}

impl Changes {
    fn new() -> Changes {
        static CLUSTERS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        Changes {
            cluster: CLUSTERS.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            epoch: 0,
            touched: Vec::new(),
        }
    }

    /// Node `i`'s record changed.
    fn touch(&mut self, i: usize) {
        // Past this length a cache recomputes everything anyway; a new epoch
        // keeps the log bounded.
        const MAX_TOUCHED: usize = 1 << 16;
        if self.touched.len() >= MAX_TOUCHED {
            self.renumbered();
        } else {
            self.touched.push(u32_of(i));
        }
    }

    /// Nodes or classes were added, removed or renumbered.
    fn renumbered(&mut self) {
        self.epoch += 1;
        self.touched.clear();
    }
}

impl Default for Cluster {
    fn default() -> Self {
        Cluster::new(RoleSelectors::default())
    }
}

impl Cluster {
    /// An empty cluster that classifies pods with `roles`.
    #[must_use]
    pub fn new(roles: RoleSelectors) -> Self {
        let mut symbols = Symbols::default();
        let hostname_key = symbols.intern(HOSTNAME_LABEL);
        let any_ip = symbols.intern("0.0.0.0");
        let unschedulable_taint = TaintRec {
            key: symbols.intern(crate::plugins::node_unschedulable::UNSCHEDULABLE_TAINT_KEY),
            value: symbols.intern(""),
            effect: TaintEffect::NoSchedule,
        };
        Cluster {
            symbols,
            roles,
            hot: Vec::new(),
            cold: Vec::new(),
            node_index: HashMap::new(),
            classes: Vec::new(),
            class_index: HashMap::new(),
            free_classes: Vec::new(),
            pods: Vec::new(),
            free_pods: Vec::new(),
            pod_index: HashMap::new(),
            orphans: HashMap::new(),
            images: HashMap::new(),
            namespaces: HashMap::new(),
            affinity_pods: 0,
            hostname_key,
            any_ip,
            storage: crate::volumes::Storage::default(),
            unschedulable_taint,
            changes: Changes::new(),
        }
    }

    /// The role selectors.
    #[must_use]
    pub fn roles(&self) -> &RoleSelectors {
        &self.roles
    }

    /// Number of nodes.
    #[must_use]
    pub fn node_count(&self) -> usize {
        self.hot.len()
    }

    /// Number of assigned pods (including those on nodes not yet known).
    #[must_use]
    pub fn pod_count(&self) -> usize {
        self.pod_index.len()
    }

    /// The name of node `index` (indices are `0..node_count()`; removing a node
    /// moves the last node into its slot).
    #[must_use]
    pub fn node_name(&self, index: usize) -> &str {
        &self.cold[index].name
    }

    /// The index of a node.
    #[must_use]
    pub fn node_index(&self, name: &str) -> Option<usize> {
        self.node_index.get(name).map(|&i| i as usize)
    }

    /// The UIDs of every known pod.
    pub fn pod_uids(&self) -> impl Iterator<Item = &str> {
        self.pod_index.keys().map(|k| &**k)
    }

    /// A pod by UID.
    #[must_use]
    pub fn pod(&self, uid: &str) -> Option<&PodRecord> {
        self.pod_index
            .get(uid)
            .and_then(|&slot| self.pods[slot as usize].as_ref())
    }

    /// The pods on node `index`.
    pub fn pods_on(&self, index: usize) -> impl Iterator<Item = &PodRecord> {
        self.cold[index]
            .pods
            .iter()
            .filter_map(|&slot| self.pods[slot as usize].as_ref())
    }

    /// How many real users node `index` holds (no allocation, unlike
    /// [`Cluster::summary`]).
    #[must_use]
    pub fn real_users(&self, index: usize) -> u32 {
        self.cold[index].real_users
    }

    /// Figures of node `index`.
    #[must_use]
    pub fn summary(&self, index: usize) -> NodeSummary {
        let hot = &self.hot[index];
        let cold = &self.cold[index];
        NodeSummary {
            name: cold.name.to_string(),
            pods: hot.pods,
            real_users: cold.real_users,
            placeholders: cold.placeholders,
            cpu_milli: (hot.req_cpu, hot.alloc_cpu),
            memory: (hot.req_mem, hot.alloc_mem),
        }
    }

    /// The labels of node `index`, hostname included.
    #[must_use]
    pub fn node_labels(&self, index: usize) -> Labels {
        let class = &self.classes[self.hot[index].class as usize].key;
        let mut labels: Labels = class
            .labels
            .iter()
            .map(|&(k, v)| {
                (
                    self.symbols.resolve(k).to_string(),
                    self.symbols.resolve(v).to_string(),
                )
            })
            .collect();
        if let Some(h) = self.cold[index].hostname {
            labels.insert(
                HOSTNAME_LABEL.to_string(),
                self.symbols.resolve(h).to_string(),
            );
        }
        labels
    }

    /// Records the labels of a namespace (used by affinity namespace selectors).
    /// Unknown namespaces carry only `kubernetes.io/metadata.name`, which the API
    /// server sets on every namespace.
    pub fn set_namespace_labels(&mut self, namespace: &str, labels: Labels) {
        self.namespaces.insert(namespace.to_string(), labels);
    }

    /// The labels of a namespace.
    #[must_use]
    pub fn namespace_labels(&self, namespace: &str) -> Labels {
        self.namespaces.get(namespace).cloned().unwrap_or_else(|| {
            Labels::from([(
                "kubernetes.io/metadata.name".to_string(),
                namespace.to_string(),
            )])
        })
    }

    /// Sums every node's allocatable cpu: one pass over the node table and
    /// nothing else. Benchmarks use it as the memory-scan floor a decision
    /// cannot beat.
    #[must_use]
    pub fn scan_allocatable_cpu(&self) -> u64 {
        self.hot
            .iter()
            .fold(0, |sum, h| sum.saturating_add(h.alloc_cpu))
    }

    // === nodes ===

    /// Adds a node, or updates it in place (its pods stay).
    pub fn upsert_node(&mut self, spec: &NodeSpec) {
        let class = self.intern_class(spec);
        let hostname = spec
            .labels
            .get(HOSTNAME_LABEL)
            .map(|h| self.symbols.intern(h));
        let mut images: Vec<(Sym, u64)> = spec
            .images
            .iter()
            .flat_map(|img| img.names.iter().map(move |n| (n, img.size_bytes)))
            .map(|(n, size)| (self.symbols.intern(n), size))
            .collect();
        images.sort_unstable();
        images.dedup_by_key(|(s, _)| *s);
        let extended_alloc: Vec<(Sym, u64)> = spec
            .allocatable
            .extended
            .iter()
            .map(|(n, v)| (self.symbols.intern(n), *v))
            .collect();
        let alloc = &spec.allocatable;

        let index = if let Some(&i) = self.node_index.get(spec.name.as_str()) {
            let i = i as usize;
            let old_class = self.hot[i].class;
            self.release_class(old_class);
            self.unindex_images(i);
            self.changes.touch(i);
            i
        } else {
            let i = self.hot.len();
            self.changes.renumbered();
            self.hot.push(NodeHot::default());
            self.cold.push(NodeCold {
                name: spec.name.as_str().into(),
                ..NodeCold::default()
            });
            self.node_index.insert(spec.name.as_str().into(), u32_of(i));
            for column in self.images.values_mut() {
                column.bits.resize(self.hot.len().div_ceil(64), 0);
            }
            i
        };
        {
            let hot = &mut self.hot[index];
            hot.set_allocatable(alloc.cpu_milli.unwrap_or(0), alloc.memory.unwrap_or(0));
            hot.alloc_pods = u32::try_from(alloc.pods.unwrap_or(0)).unwrap_or(u32::MAX);
            hot.class = class;
        }
        let cold = &mut self.cold[index];
        cold.alloc_eph = alloc.ephemeral_storage.unwrap_or(0);
        cold.hostname = hostname;
        cold.extended_alloc = extended_alloc;
        cold.images = images.into_boxed_slice();
        self.hot[index].colocation = colocation(&self.hot[index], cold);
        self.index_images(index);

        if let Some(orphans) = self.orphans.remove(spec.name.as_str()) {
            for slot in orphans {
                self.attach(slot, index);
            }
        }
    }

    /// Removes a node. Its pods stay known and come back if the node does.
    pub fn remove_node(&mut self, name: &str) -> bool {
        let Some(i) = self.node_index.remove(name) else {
            return false;
        };
        let i = i as usize;
        // Detach the node's pods.
        let slots = std::mem::take(&mut self.cold[i].pods);
        for &slot in &slots {
            if let Some(p) = self.pods[slot as usize].as_mut() {
                p.node = NO_NODE;
            }
        }
        self.orphans.entry(name.into()).or_default().extend(slots);
        self.changes.renumbered();
        self.unindex_images(i);
        let class = self.hot[i].class;
        self.release_class(class);

        let last = self.hot.len() - 1;
        if i != last {
            // Move the last node into slot i.
            self.unindex_images(last);
            self.hot.swap(i, last);
            self.cold.swap(i, last);
            self.hot.pop();
            self.cold.pop();
            self.index_images(i);
            self.node_index.insert(self.cold[i].name.clone(), u32_of(i));
            for &slot in &self.cold[i].pods {
                if let Some(p) = self.pods[slot as usize].as_mut() {
                    p.node = u32_of(i);
                }
            }
        } else {
            self.hot.pop();
            self.cold.pop();
        }
        for column in self.images.values_mut() {
            column.bits.truncate(self.hot.len().div_ceil(64));
        }
        true
    }

    fn intern_class(&mut self, spec: &NodeSpec) -> u32 {
        let mut labels: Vec<(Sym, Sym)> = spec
            .labels
            .iter()
            .filter(|(k, _)| k.as_str() != HOSTNAME_LABEL)
            .map(|(k, v)| (self.symbols.intern(k), self.symbols.intern(v)))
            .collect();
        labels.sort_unstable();
        let taints: Vec<TaintRec> = spec
            .taints
            .iter()
            .map(|t| TaintRec {
                key: self.symbols.intern(&t.key),
                value: self.symbols.intern(&t.value),
                effect: t.effect,
            })
            .collect();
        let key = ClassKey {
            labels: labels.into_boxed_slice(),
            taints: taints.into_boxed_slice(),
            unschedulable: spec.unschedulable,
        };
        if let Some(&id) = self.class_index.get(&key) {
            self.classes[id as usize].refs += 1;
            return id;
        }
        // A new class, or a new meaning for a freed class id.
        self.changes.renumbered();
        let class = NodeClass {
            key: key.clone(),
            refs: 1,
        };
        let id = if let Some(id) = self.free_classes.pop() {
            self.classes[id as usize] = class;
            id
        } else {
            self.classes.push(class);
            u32_of(self.classes.len() - 1)
        };
        self.class_index.insert(key, id);
        id
    }

    fn release_class(&mut self, id: u32) {
        let class = &mut self.classes[id as usize];
        class.refs -= 1;
        if class.refs == 0 {
            self.class_index.remove(&class.key);
            self.free_classes.push(id);
        }
    }

    fn index_images(&mut self, i: usize) {
        let words = self.hot.len().div_ceil(64);
        for &(sym, size) in &self.cold[i].images {
            let column = self.images.entry(sym).or_insert_with(|| ImageColumn {
                nodes: 0,
                bits: vec![0; words],
                uniform_size: Some(size),
            });
            column.bits.resize(words, 0);
            column.bits[i / 64] |= 1 << (i % 64);
            column.nodes += 1;
            if column.uniform_size != Some(size) {
                column.uniform_size = None;
            }
        }
    }

    fn unindex_images(&mut self, i: usize) {
        for &(sym, _) in &self.cold[i].images {
            if let Some(column) = self.images.get_mut(&sym) {
                column.bits[i / 64] &= !(1 << (i % 64));
                column.nodes -= 1;
                if column.nodes == 0 {
                    self.images.remove(&sym);
                }
            }
        }
    }

    // === pods ===

    /// Adds a pod to `node` (replacing any pod with the same UID). A pod on a
    /// node the cluster does not know yet is kept and counted once the node
    /// arrives.
    pub fn add_pod(&mut self, spec: &PodSpec, node: &str) {
        let requests = pod_requests(spec);
        self.add_pod_with_requests(spec, &requests, node);
    }

    /// [`add_pod`](Self::add_pod) with requests already computed.
    pub fn add_pod_with_requests(&mut self, spec: &PodSpec, requests: &PodRequests, node: &str) {
        self.remove_pod(&spec.uid);
        let record = self.record(spec, requests, node);
        let slot = if let Some(slot) = self.free_pods.pop() {
            self.pods[slot as usize] = Some(record);
            slot
        } else {
            self.pods.push(Some(record));
            u32_of(self.pods.len() - 1)
        };
        self.pod_index.insert(spec.uid.as_str().into(), slot);
        match self.node_index.get(node) {
            Some(&i) => self.attach(slot, i as usize),
            None => self.orphans.entry(node.into()).or_default().push(slot),
        }
    }

    /// Records whether a known pod is being deleted (the watch saw its
    /// deletionTimestamp, or a preemption just chose it); returns whether
    /// the pod is known. Its room stays counted until it is removed; only
    /// preemption reads this, so no node record changes.
    pub fn set_terminating(&mut self, uid: &str, terminating: Terminating) -> bool {
        let Some(&slot) = self.pod_index.get(uid) else {
            return false;
        };
        match self.pods[slot as usize].as_mut() {
            Some(p) => {
                p.terminating = terminating;
                true
            }
            None => false,
        }
    }

    /// Removes a pod; returns whether it was known.
    pub fn remove_pod(&mut self, uid: &str) -> bool {
        let Some(slot) = self.pod_index.remove(uid) else {
            return false;
        };
        let node = self.pods[slot as usize]
            .as_ref()
            .map_or(NO_NODE, |p| p.node);
        if node == NO_NODE {
            let name = self.pods[slot as usize]
                .as_ref()
                .map(|p| p.node_name.clone())
                .unwrap_or_default();
            if let Some(list) = self.orphans.get_mut(&name) {
                list.retain(|&s| s != slot);
                if list.is_empty() {
                    self.orphans.remove(&name);
                }
            }
        } else {
            self.detach(slot, node as usize);
        }
        if let Some(p) = self.pods[slot as usize].take()
            && p.affinity.is_some()
        {
            self.affinity_pods -= 1;
        }
        self.free_pods.push(slot);
        true
    }

    fn record(&mut self, spec: &PodSpec, requests: &PodRequests, node: &str) -> PodRecord {
        let mut labels: Vec<(Sym, Sym)> = spec
            .labels
            .iter()
            .map(|(k, v)| (self.symbols.intern(k), self.symbols.intern(v)))
            .collect();
        labels.sort_unstable();
        let ports: Vec<HostPortRec> = spec
            .containers
            .iter()
            .chain(&spec.init_containers)
            .flat_map(|c| &c.host_ports)
            .map(|p: &HostPort| HostPortRec {
                ip: self.symbols.intern(&p.ip),
                protocol: p.protocol,
                port: p.port,
            })
            .collect();
        let extended: Vec<(Sym, u64)> = requests
            .extended
            .iter()
            .map(|(n, v)| (self.symbols.intern(n), *v))
            .collect();
        let affinity = if spec.pod_affinity.is_empty() && spec.pod_anti_affinity.is_empty() {
            None
        } else {
            self.affinity_pods += 1;
            Some(Box::new((
                spec.pod_affinity.clone(),
                spec.pod_anti_affinity.clone(),
            )))
        };
        PodRecord {
            uid: spec.uid.as_str().into(),
            namespace: self.symbols.intern(&spec.namespace),
            name: spec.name.as_str().into(),
            node_name: node.into(),
            node: NO_NODE,
            role: self.roles.classify(&spec.labels),
            priority: spec.priority,
            req: [
                requests.cpu_milli,
                requests.memory,
                requests.ephemeral_storage,
            ],
            nz: [requests.nonzero_cpu_milli, requests.nonzero_memory],
            extended: extended.into_boxed_slice(),
            ports: ports.into_boxed_slice(),
            labels: labels.into_boxed_slice(),
            affinity,
            start_time: spec.start_time,
            claims: spec.claims.iter().map(|c| c.as_str().into()).collect(),
            terminating: spec.terminating,
        }
    }

    // The counts below (pods, port pods, real users, placeholders) count
    // pod records, of which there are fewer than 2^32 (slab ids are u32):
    // they cannot overflow, and detach only undoes what attach did.

    fn attach(&mut self, slot: u32, i: usize) {
        let Some(p) = self.pods[slot as usize].as_mut() else {
            return;
        };
        p.node = u32_of(i);
        self.changes.touch(i);
        let hot = &mut self.hot[i];
        let cold = &mut self.cold[i];
        add_sums(hot, cold, p);
        hot.pods = hot.pods.saturating_add(1);
        if !p.ports.is_empty() {
            hot.port_pods = hot.port_pods.saturating_add(1);
        }
        match p.role {
            PodRole::RealUser => {
                cold.real_users = cold.real_users.saturating_add(1);
                hot.colocation = colocation(hot, cold);
            }
            PodRole::Placeholder => cold.placeholders = cold.placeholders.saturating_add(1),
            PodRole::Other => {}
        }
        cold.ports.extend_from_slice(&p.ports);
        cold.pods.push(slot);
    }

    fn detach(&mut self, slot: u32, i: usize) {
        let Some(p) = self.pods[slot as usize].as_mut() else {
            return;
        };
        p.node = NO_NODE;
        self.changes.touch(i);
        let hot = &mut self.hot[i];
        let cold = &mut self.cold[i];
        let exact = take_sums(hot, cold, p);
        let real_user = p.role == PodRole::RealUser;
        hot.pods = hot.pods.saturating_sub(1);
        if !p.ports.is_empty() {
            hot.port_pods = hot.port_pods.saturating_sub(1);
        }
        match p.role {
            PodRole::RealUser => cold.real_users = cold.real_users.saturating_sub(1),
            PodRole::Placeholder => cold.placeholders = cold.placeholders.saturating_sub(1),
            PodRole::Other => {}
        }
        for port in &p.ports {
            if let Some(pos) = cold.ports.iter().position(|q| q == port) {
                cold.ports.swap_remove(pos);
            }
        }
        if let Some(pos) = cold.pods.iter().position(|&s| s == slot) {
            cold.pods.swap_remove(pos);
        }
        if !exact {
            self.recount(i);
        }
        // The real-user totals changed (or were counted again).
        if real_user || !exact {
            self.hot[i].colocation = colocation(&self.hot[i], &self.cold[i]);
        }
    }

    /// Counts node `i`'s sums again from the pods on it, after taking a pod
    /// off a saturated sum (see the module docs): each sum is `min(true
    /// sum, u64::MAX)` again.
    fn recount(&mut self, i: usize) {
        let hot = &mut self.hot[i];
        let cold = &mut self.cold[i];
        (hot.req_cpu, hot.req_mem, hot.nz_cpu, hot.nz_mem) = (0, 0, 0, 0);
        (cold.req_eph, cold.real_cpu, cold.real_mem) = (0, 0, 0);
        cold.extended_req.clear();
        let slots = std::mem::take(&mut cold.pods);
        for &slot in &slots {
            if let Some(p) = self.pods[slot as usize].as_ref() {
                add_sums(hot, cold, p);
            }
        }
        cold.pods = slots;
    }

    // === lookups used by the plugins ===

    /// The value of label `key` on node `i` (the hostname label included).
    pub(crate) fn node_label(&self, i: usize, key: Sym) -> Option<Sym> {
        if key == self.hostname_key {
            return self.cold[i].hostname;
        }
        class_label(&self.classes[self.hot[i].class as usize].key, key)
    }
}

/// The value of `key` among a class's labels.
pub(crate) fn class_label(class: &ClassKey, key: Sym) -> Option<Sym> {
    class
        .labels
        .binary_search_by_key(&key, |&(k, _)| k)
        .ok()
        .map(|pos| class.labels[pos].1)
}

/// Adds a pod's requests to its node's sums, saturating (module docs).
fn add_sums(hot: &mut NodeHot, cold: &mut NodeCold, p: &PodRecord) {
    hot.req_cpu = hot.req_cpu.saturating_add(p.req[0]);
    hot.req_mem = hot.req_mem.saturating_add(p.req[1]);
    hot.nz_cpu = hot.nz_cpu.saturating_add(p.nz[0]);
    hot.nz_mem = hot.nz_mem.saturating_add(p.nz[1]);
    cold.req_eph = cold.req_eph.saturating_add(p.req[2]);
    if p.role == PodRole::RealUser {
        cold.real_cpu = cold.real_cpu.saturating_add(p.nz[0]);
        cold.real_mem = cold.real_mem.saturating_add(p.nz[1]);
    }
    for &(name, v) in &p.extended {
        match cold.extended_req.iter_mut().find(|(n, _)| *n == name) {
            Some((_, total)) => *total = total.saturating_add(v),
            None => cold.extended_req.push((name, v)),
        }
    }
}

/// Takes a pod's requests off its node's sums; `false` when a sum cannot be
/// brought down exactly (it saturated) and the node must be counted again.
fn take_sums(hot: &mut NodeHot, cold: &mut NodeCold, p: &PodRecord) -> bool {
    let mut exact = take(&mut hot.req_cpu, p.req[0])
        & take(&mut hot.req_mem, p.req[1])
        & take(&mut hot.nz_cpu, p.nz[0])
        & take(&mut hot.nz_mem, p.nz[1])
        & take(&mut cold.req_eph, p.req[2]);
    if p.role == PodRole::RealUser {
        exact &= take(&mut cold.real_cpu, p.nz[0]) & take(&mut cold.real_mem, p.nz[1]);
    }
    for &(name, v) in &p.extended {
        exact &= match cold.extended_req.iter_mut().find(|(n, _)| *n == name) {
            Some((_, total)) => take(total, v),
            None => v == 0,
        };
    }
    exact
}

/// Takes `v` off a sum kept as `min(true sum, u64::MAX)`: exact while the
/// sum is below `u64::MAX`. `false`, leaving the sum as it is, when the sum
/// saturated (the true sum is unknown) or is below `v` (which the sums'
/// invariant rules out; counting again repairs it either way).
fn take(sum: &mut u64, v: u64) -> bool {
    if v == 0 {
        return true;
    }
    match sum.checked_sub(v) {
        Some(left) if *sum != u64::MAX => {
            *sum = left;
            true
        }
        _ => false,
    }
}

/// RealUserColocation's score of a node, as [`NodeHot::colocation`] keeps it.
fn colocation(hot: &NodeHot, cold: &NodeCold) -> u8 {
    let score = real_user_colocation::score_with(
        (cold.real_cpu, hot.alloc_cpu, hot.rcp_cpu()),
        (cold.real_mem, hot.alloc_mem, hot.rcp_mem()),
    );
    u8::try_from(score).expect("a score is 0..=100")
}

fn u32_of(i: usize) -> u32 {
    u32::try_from(i).expect("fewer than 2^32 nodes and pods")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Container, NodeImage, ResourceList};

    pub(crate) fn node(name: &str, cpu: u64, mem: u64) -> NodeSpec {
        NodeSpec {
            name: name.into(),
            labels: Labels::from([(HOSTNAME_LABEL.into(), name.into())]),
            allocatable: ResourceList {
                cpu_milli: Some(cpu),
                memory: Some(mem),
                pods: Some(110),
                ..ResourceList::default()
            },
            ..NodeSpec::default()
        }
    }

    fn pod(uid: &str, component: &str, cpu: u64, mem: u64) -> PodSpec {
        PodSpec {
            namespace: "jhub".into(),
            name: uid.into(),
            uid: uid.into(),
            labels: Labels::from([("component".into(), component.into())]),
            containers: vec![Container {
                requests: ResourceList {
                    cpu_milli: Some(cpu),
                    memory: Some(mem),
                    ..ResourceList::default()
                },
                ..Container::default()
            }],
            ..PodSpec::default()
        }
    }

    #[test]
    fn adding_and_removing_pods_updates_node_totals() {
        let mut c = Cluster::default();
        c.upsert_node(&node("n1", 4000, 16 << 30));
        c.add_pod(&pod("u1", "singleuser-server", 500, 1 << 30), "n1");
        c.add_pod(&pod("p1", "user-placeholder", 500, 1 << 30), "n1");
        let s = c.summary(0);
        assert_eq!((s.pods, s.real_users, s.placeholders), (2, 1, 1));
        assert_eq!(s.cpu_milli, (1000, 4000));
        assert_eq!(c.cold[0].real_cpu, 500);
        // 500 of 4000m = 12 (12.5 truncated), 1 of 16 GiB = 6 (6.25) → 9.
        assert_eq!(c.hot[0].colocation, 9);
        assert!(c.remove_pod("u1"));
        assert!(!c.remove_pod("u1"));
        let s = c.summary(0);
        assert_eq!((s.pods, s.real_users, s.placeholders), (1, 0, 1));
        assert_eq!(c.cold[0].real_cpu, 0);
        assert_eq!(c.hot[0].colocation, 0);
        assert_eq!(s.cpu_milli, (500, 4000));
    }

    #[test]
    fn readding_a_pod_replaces_it() {
        let mut c = Cluster::default();
        c.upsert_node(&node("n1", 4000, 16 << 30));
        c.upsert_node(&node("n2", 4000, 16 << 30));
        c.add_pod(&pod("u1", "singleuser-server", 500, 0), "n1");
        c.add_pod(&pod("u1", "singleuser-server", 700, 0), "n2");
        assert_eq!(c.hot[0].req_cpu, 0);
        assert_eq!(c.hot[1].req_cpu, 700);
        assert_eq!(c.pod_count(), 1);
    }

    #[test]
    fn pods_wait_for_their_node_and_survive_its_removal() {
        let mut c = Cluster::default();
        c.add_pod(&pod("u1", "singleuser-server", 500, 0), "n1");
        assert_eq!(c.node_count(), 0);
        c.upsert_node(&node("n1", 4000, 1 << 30));
        assert_eq!(c.hot[0].req_cpu, 500);
        assert!(c.remove_node("n1"));
        c.upsert_node(&node("n1", 4000, 1 << 30));
        assert_eq!(c.hot[0].req_cpu, 500);
        assert!(c.remove_pod("u1"));
        assert_eq!(c.hot[0].req_cpu, 0);
    }

    #[test]
    fn removing_a_node_moves_the_last_one_and_keeps_its_pods() {
        let mut c = Cluster::default();
        for n in ["a", "b", "c"] {
            c.upsert_node(&node(n, 4000, 1 << 30));
        }
        c.add_pod(&pod("u1", "singleuser-server", 300, 0), "c");
        c.remove_node("a");
        assert_eq!(c.node_index("c"), Some(0));
        assert_eq!(c.hot[0].req_cpu, 300);
        assert!(c.remove_pod("u1"));
        assert_eq!(c.hot[0].req_cpu, 0);
    }

    #[test]
    fn nodes_of_a_pool_share_a_class_and_classes_are_released() {
        let mut c = Cluster::default();
        let mut a = node("a", 1, 1);
        a.labels.insert("pool".into(), "user".into());
        let mut b = node("b", 1, 1);
        b.labels.insert("pool".into(), "user".into());
        c.upsert_node(&a);
        c.upsert_node(&b);
        assert_eq!(c.hot[0].class, c.hot[1].class);
        b.unschedulable = true;
        c.upsert_node(&b);
        assert_ne!(c.hot[0].class, c.hot[1].class);
        c.remove_node("a");
        c.remove_node("b");
        assert_eq!(c.class_index.len(), 0);
        assert_eq!(c.node_count(), 0);
    }

    #[test]
    fn image_columns_follow_nodes() {
        let mut c = Cluster::default();
        for n in ["a", "b"] {
            let mut spec = node(n, 1, 1);
            spec.images = vec![NodeImage {
                names: vec!["img:1".into()],
                size_bytes: 100,
            }];
            c.upsert_node(&spec);
        }
        let sym = c.symbols.lookup("img:1");
        assert_eq!(c.images[&sym].nodes, 2);
        c.remove_node("a");
        assert_eq!(c.images[&sym].nodes, 1);
        assert_eq!(c.images[&sym].bits[0], 1, "node b moved to slot 0");
        c.remove_node("b");
        assert!(!c.images.contains_key(&sym));
    }

    /// A pod of `role` requesting cpu, memory, ephemeral storage and GPUs.
    fn heavy(uid: &str, role: PodRole, [cpu, mem, eph, gpu]: [u64; 4]) -> PodSpec {
        let component = match role {
            PodRole::RealUser => "singleuser-server",
            PodRole::Placeholder => "user-placeholder",
            PodRole::Other => "hub",
        };
        let mut p = pod(uid, component, cpu, mem);
        let requests = &mut p.containers[0].requests;
        requests.ephemeral_storage = Some(eph);
        requests.extended = vec![(GPU.into(), gpu)];
        p
    }

    const GPU: &str = "example.com/gpu";
    /// 2^63 − 1: the most a converter lets through (kube's int64 maximum).
    const KUBE_MAX: u64 = i64::MAX as u64;

    /// Whether the node may take the pod, per the scheduler.
    fn placed(c: &Cluster, p: &PodSpec) -> bool {
        let profile = crate::Profile::jupyterhub();
        let mut scratch = crate::Scratch::default();
        crate::schedule(c, &profile, p, &mut scratch, None).selected == Some(0)
    }

    #[test]
    fn sums_beyond_u64_keep_a_full_node_full() {
        // Issue 12: two pods each asking for 2^63 millicores and 8Ei (2^63)
        // bytes on a 4-cpu node; 2^63 + 2^63 = 2^64 wrapped to 0, the node
        // looked empty and a pod asking for all of it was placed there.
        let mut c = Cluster::default();
        c.upsert_node(&node("n1", 4000, 16 << 30));
        let huge = [1 << 63, 1 << 63, 0, 0];
        c.add_pod(&heavy("a", PodRole::Other, huge), "n1");
        c.add_pod(&heavy("b", PodRole::RealUser, huge), "n1");
        let whole = pod("whole", "singleuser-server", 4000, 16 << 30);
        // 2^64 saturates at u64::MAX: full.
        assert_eq!(c.summary(0).cpu_milli, (u64::MAX, 4000));
        assert_eq!(c.summary(0).memory.0, u64::MAX);
        assert!(!placed(&c, &whole));
        // One leaves: 2^63 is left (counted again, as the sum had saturated).
        assert!(c.remove_pod("a"));
        assert_eq!(c.summary(0).cpu_milli, (1 << 63, 4000));
        assert_eq!(c.cold[0].real_cpu, 1 << 63);
        assert!(!placed(&c, &whole));
        // Both gone: empty.
        assert!(c.remove_pod("b"));
        assert_eq!(c.summary(0).cpu_milli, (0, 4000));
        assert_eq!(c.cold[0].real_cpu, 0);
        assert!(placed(&c, &whole));
    }

    mod sums {
        use super::*;
        use proptest::prelude::*;

        /// Amounts at the edges: what converters let through at most
        /// (2^63 − 1, also 8Ei as kube caps it), 2^63 (2^63 millicores),
        /// and up to u64::MAX, which the engine must take as well.
        fn amount() -> impl Strategy<Value = u64> {
            prop_oneof![
                prop::sample::select(vec![
                    0,
                    1,
                    4000,
                    512 << 20,
                    KUBE_MAX,
                    1 << 63,
                    u64::MAX - 1,
                    u64::MAX,
                ]),
                any::<u64>(),
            ]
        }

        fn amounts() -> impl Strategy<Value = [u64; 4]> {
            [amount(), amount(), amount(), amount()]
        }

        fn role() -> impl Strategy<Value = PodRole> {
            prop::sample::select(vec![
                PodRole::RealUser,
                PodRole::Placeholder,
                PodRole::Other,
            ])
        }

        #[derive(Clone, Debug)]
        enum Op {
            /// Add (or replace) pod `k`.
            Add(u8, PodRole, [u64; 4]),
            /// Remove pod `k`.
            Remove(u8),
        }

        fn op() -> impl Strategy<Value = Op> {
            prop_oneof![
                (0..6_u8, role(), amounts()).prop_map(|(k, r, a)| Op::Add(k, r, a)),
                (0..6_u8).prop_map(Op::Remove),
            ]
        }

        /// `min(v, u64::MAX)`.
        fn sat(v: u128) -> u64 {
            u64::try_from(v).unwrap_or(u64::MAX)
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(512))]

            #[test]
            fn sums_never_wrap_and_never_look_freer_than_they_are(
                alloc in amounts(),
                ops in prop::collection::vec(op(), 1..40),
                probe in amounts(),
            ) {
                let [cpu, mem, eph, gpu] = alloc;
                let mut spec = node("n1", cpu, mem);
                spec.allocatable.ephemeral_storage = Some(eph);
                spec.allocatable.extended = vec![(GPU.into(), gpu)];
                let mut c = Cluster::default();
                c.upsert_node(&spec);
                let mut model: HashMap<u8, (PodRole, [u64; 4])> = HashMap::new();
                for op in ops {
                    match op {
                        Op::Add(k, role, a) => {
                            c.add_pod(&heavy(&format!("p{k}"), role, a), "n1");
                            model.insert(k, (role, a));
                        }
                        Op::Remove(k) => {
                            prop_assert_eq!(c.remove_pod(&format!("p{k}")), model.remove(&k).is_some());
                        }
                    }
                    // The true sums, which cannot wrap a u128.
                    let total = |r: usize, only: Option<PodRole>| -> u128 {
                        model
                            .values()
                            .filter(|(role, _)| only.is_none_or(|o| o == *role))
                            .map(|(_, a)| u128::from(a[r]))
                            .sum()
                    };
                    let (hot, cold) = (&c.hot[0], &c.cold[0]);
                    // Every sum is exactly min(true sum, u64::MAX): never
                    // below the truth (a freer node), never wrapped.
                    prop_assert_eq!(hot.req_cpu, sat(total(0, None)));
                    prop_assert_eq!(hot.nz_cpu, sat(total(0, None)));
                    prop_assert_eq!(hot.req_mem, sat(total(1, None)));
                    prop_assert_eq!(hot.nz_mem, sat(total(1, None)));
                    prop_assert_eq!(cold.req_eph, sat(total(2, None)));
                    prop_assert_eq!(lookup_gpu(&c), sat(total(3, None)));
                    prop_assert_eq!(cold.real_cpu, sat(total(0, Some(PodRole::RealUser))));
                    prop_assert_eq!(cold.real_mem, sat(total(1, Some(PodRole::RealUser))));
                    prop_assert_eq!(hot.pods as usize, model.len());
                    // The scheduler places a pod only where the true sums
                    // leave room for every non-zero request.
                    let fits = |r: usize, want: u64| {
                        want == 0 || total(r, None) + u128::from(want) <= u128::from(alloc[r])
                    };
                    let truly_fits = (0..4).all(|r| fits(r, probe[r]));
                    let p = heavy("probe", PodRole::RealUser, probe);
                    prop_assert_eq!(placed(&c, &p), truly_fits, "model {:?}", model);
                }
            }
        }

        fn lookup_gpu(c: &Cluster) -> u64 {
            let gpu = c.symbols.lookup(GPU);
            c.cold[0]
                .extended_req
                .iter()
                .find(|(n, _)| *n == gpu)
                .map_or(0, |(_, v)| *v)
        }
    }
}
