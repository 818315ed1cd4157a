//! Synthetic z2jh-like clusters, seeded and deterministic.
//!
//! The shape follows what zero-to-jupyterhub (z2jh) clusters really look like
//! (see `shared/research/z2jh-and-kube-scheduler.md`, sections 1.6, 1.8, 1.10):
//!
//! - **Core pool** (≈2% of nodes, at least 1): `hub.jupyter.org/node-purpose=core`,
//!   half of them tainted `hub.jupyter.org/dedicated=core:NoSchedule`. They
//!   carry the hub, the proxy and the two user-scheduler replicas.
//! - **User pools** (most nodes): `hub.jupyter.org/node-purpose=user`, tainted
//!   `hub.jupyter.org/dedicated=user:NoSchedule`, a quarter with the GKE
//!   variant key `hub.jupyter.org_dedicated`. One pool per machine type
//!   (`n2-standard-4` … `n2-standard-64`), weighted towards 16 and 32 CPUs.
//! - **GPU pool** (≈1% of nodes, at least 1 when there are 10 nodes or more):
//!   user nodes with 1–4 `nvidia.com/gpu` and the taint
//!   `nvidia.com/gpu=present:NoSchedule`.
//!
//! Every node has `kubernetes.io/hostname`, `kubernetes.io/os`,
//! `topology.kubernetes.io/zone` (three zones) and
//! `node.kubernetes.io/instance-type`; allocatable is capacity less GKE's
//! system reserve (cpu `3920m` for 4 cores, memory ≈ 4 GiB per CPU less the
//! reserve), ephemeral storage about 100 GiB, 110 pods. `status.images` lists
//! the pause image and system images everywhere, and the user images (about
//! 2 GB) on most user nodes.
//!
//! Each node gets a target of 20 to 60 pods: DaemonSet pods (kube-proxy,
//! calico-node, node-exporter, plus the z2jh continuous-image-puller on user
//! nodes and the NVIDIA device plugin on GPU nodes), then real users
//! (`component=singleuser-server`) and user placeholders
//! (`component=user-placeholder`, priority -10, pause image) until the target
//! is reached or the next pod would not fit. The node is never over-committed
//! by requests, so small nodes (4–8 CPUs), core nodes and GPU nodes (whose
//! taint only GPU users tolerate) carry fewer than 20 pods; with the default
//! weights about nine nodes in ten carry 20 to 60.
//!
//! Same seed, same cluster, byte for byte. The generator draws everything from
//! one [`SplitMix64`] stream and builds the typed objects directly (no
//! template cloning, strings allocated once at their final size). The
//! k8s-openapi types are large (a `Pod` is 2,176 bytes and each `Container`
//! 2,120 before any string), so a pod costs about 7 KiB: 10,000 nodes make
//! ~340,000 pods, ~2.4 GiB, in about 1.8 s of release build on a busy 2-core
//! machine. For that reason user pods leave out z2jh's `block-cloud-metadata`
//! init container (it requests nothing) and KubeSpawner's annotations.
//!
//! To feed `explain` or a YAML fixture, [`SyntheticCluster::to_json`] renders
//! a `kind: List` document; a single object serialises with
//! `serde_json::to_value`.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    Affinity, Container, ContainerImage, Node, NodeAddress, NodeAffinity, NodeCondition,
    NodeSelector, NodeSelectorRequirement, NodeSelectorTerm, NodeSpec, NodeStatus, Pod, PodSpec,
    PodStatus, PreferredSchedulingTerm, ResourceRequirements, Taint, Toleration,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference, Time};
use k8s_openapi::jiff::Timestamp;
use score::rng::SplitMix64;

/// The namespace of the JupyterHub release (user pods, placeholders, core pods).
pub const NAMESPACE: &str = "jhub";
/// The scheduler name the bound user pods and placeholders carry.
pub const USER_SCHEDULER: &str = "user-scheduler";
/// The main user image, present on most user nodes.
pub const USER_IMAGE: &str = "jupyter/datascience-notebook:2024-01-01";
/// A second user image (another profile), present on about half the user nodes.
pub const SCIPY_IMAGE: &str = "jupyter/scipy-notebook:2024-01-01";
/// The image of GPU users, present on every GPU node.
pub const GPU_IMAGE: &str = "quay.io/jupyter/pytorch-notebook:cuda12-2024-01-01";
/// The pause image: placeholders and the image puller run it.
pub const PAUSE_IMAGE: &str = "registry.k8s.io/pause:3.10";
/// The three zones nodes are spread over.
pub const ZONES: [&str; 3] = ["us-central1-a", "us-central1-b", "us-central1-c"];
/// Pending pods are numbered from here (`jupyter-user-1000000`,
/// `user-placeholder-1000000`, …), so they never collide with the pods of a
/// generated cluster of up to ~25,000 nodes (about 30 users per node).
pub const PENDING_BASE: usize = 1_000_000;
/// The memory request of every placeholder: z2jh copies the default singleuser
/// guarantee (1G, no CPU) into the placeholder StatefulSet.
pub const PLACEHOLDER_MEMORY: &str = "1G";

/// The node-purpose label key z2jh uses.
const NODE_PURPOSE: &str = "hub.jupyter.org/node-purpose";
/// The dedicated taint key, and its GKE-compatible variant.
const DEDICATED: &str = "hub.jupyter.org/dedicated";
const DEDICATED_GKE: &str = "hub.jupyter.org_dedicated";
const GPU_RESOURCE: &str = "nvidia.com/gpu";
/// 2024-06-01T00:00:00Z: "now" for the generated objects.
const NOW: i64 = 1_717_200_000;
const GIB: u64 = 1 << 30;
const KIB: u64 = 1 << 10;
/// Allocatable ephemeral storage, in bytes, on every node (capacity 100 GiB
/// less the kubelet's reserve and eviction threshold).
const EPHEMERAL_ALLOCATABLE: &str = "94580198622";
const EPHEMERAL_CAPACITY: &str = "101430960Ki";
/// Salt so that pending pods of seed s do not repeat the cluster of seed s.
const PENDING_SALT: u64 = 0x5EED_0F9E_D14E_u64;

/// Why a synthetic cluster could not be rendered.
#[derive(Debug, thiserror::Error)]
pub enum SyntheticError {
    /// A generated object did not serialise to JSON.
    #[error("cannot render the synthetic cluster as JSON: {0}")]
    Json(#[from] serde_json::Error),
}

/// A generated cluster: the nodes, then the pods bound to them.
#[derive(Debug, Clone, PartialEq)]
pub struct SyntheticCluster {
    /// Core nodes first, then user nodes, then GPU nodes.
    pub nodes: Vec<Node>,
    /// Every pod has `spec.nodeName` set to one of `nodes` and phase `Running`.
    pub pods: Vec<Pod>,
}

impl SyntheticCluster {
    /// The cluster as one `apiVersion: v1, kind: List` object with the nodes
    /// then the pods as `items`, the shape `kubectl get -o json` prints and
    /// `explain --cluster` reads (JSON is YAML).
    ///
    /// # Errors
    /// [`SyntheticError::Json`] if an object fails to serialise.
    pub fn to_json(&self) -> Result<serde_json::Value, SyntheticError> {
        let mut items = Vec::with_capacity(self.nodes.len() + self.pods.len());
        for node in &self.nodes {
            items.push(serde_json::to_value(node)?);
        }
        for pod in &self.pods {
            items.push(serde_json::to_value(pod)?);
        }
        Ok(serde_json::json!({ "apiVersion": "v1", "kind": "List", "items": items }))
    }
}

/// Generates a cluster of `nodes` nodes from `seed`.
///
/// Core ≈ 2% (at least 1), GPU ≈ 1% (at least 1 from 10 nodes on), the rest
/// user nodes; see the module docs for labels, taints, sizes and pods.
pub fn cluster(seed: u64, nodes: usize) -> SyntheticCluster {
    let mut g = Gen::new(seed);
    let (core, gpu) = pool_sizes(nodes);
    let user = nodes - core - gpu;
    let mut out = SyntheticCluster {
        nodes: Vec::with_capacity(nodes),
        pods: Vec::with_capacity(nodes * 40),
    };
    for index in 0..nodes {
        let plan = if index < core {
            g.core_plan(index)
        } else if index < core + user {
            g.user_plan(index - core)
        } else {
            g.gpu_plan(index - core - user)
        };
        let created = NOW - g.between(3_600, 30 * 86_400) as i64;
        out.nodes.push(g.node(&plan, index, created));
        g.fill(&plan, index, created, core, &mut out.pods);
    }
    out
}

/// `count` pending (unbound, phase `Pending`) real-user pods with
/// `schedulerName: scheduler_name`, numbered from [`PENDING_BASE`]. Requests,
/// images and timestamps are drawn from `seed` as for the bound users.
pub fn pending_user_pods(seed: u64, count: usize, scheduler_name: &str) -> Vec<Pod> {
    let mut g = Gen::new(seed ^ PENDING_SALT);
    (0..count)
        .map(|i| {
            let req = g.user_request();
            let image = g.user_image();
            let created = NOW - g.between(0, 120) as i64;
            g.user_pod(PENDING_BASE + i, &req, image, None, scheduler_name, created)
        })
        .collect()
}

/// `count` pending user placeholders (`user-placeholder-<n>` from
/// [`PENDING_BASE`], priority -10, memory [`PLACEHOLDER_MEMORY`]) with
/// `schedulerName: scheduler_name`.
pub fn pending_placeholders(seed: u64, count: usize, scheduler_name: &str) -> Vec<Pod> {
    let mut g = Gen::new(seed ^ PENDING_SALT.rotate_left(17));
    (0..count)
        .map(|i| {
            let created = NOW - g.between(0, 120) as i64;
            g.placeholder_pod(PENDING_BASE + i, None, scheduler_name, created)
        })
        .collect()
}

/// (core nodes, GPU nodes) for a cluster of `nodes`: core ≈ 2% rounded, at
/// least 1; GPU ≈ 1% rounded, at least 1 from 10 nodes on, none below.
fn pool_sizes(nodes: usize) -> (usize, usize) {
    if nodes == 0 {
        return (0, 0);
    }
    let core = ((nodes + 25) / 50).max(1).min(nodes);
    let gpu = if nodes >= 10 {
        ((nodes + 50) / 100).max(1)
    } else {
        0
    };
    (core, gpu.min(nodes - core))
}

/// Which pool a node belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pool {
    Core,
    User,
    Gpu,
}

/// What a node will be, decided before it is built.
struct NodePlan {
    pool: Pool,
    name: String,
    cpus: u64,
    gpus: u64,
    /// Allocatable CPU in millicores.
    cpu_milli: u64,
    /// Allocatable memory in KiB (rendered as `<n>Ki`).
    memory_ki: u64,
    /// Capacity memory in KiB.
    memory_capacity_ki: u64,
    /// Uses `hub.jupyter.org_dedicated` instead of `hub.jupyter.org/dedicated`.
    gke_taint_key: bool,
    /// Whether a core node carries the dedicated=core taint.
    core_tainted: bool,
    has_user_image: bool,
    has_scipy_image: bool,
}

/// A pod's requests, both as rendered quantities and as numbers.
struct Request {
    cpu: Option<&'static str>,
    cpu_milli: u64,
    memory: Option<&'static str>,
    memory_bytes: u64,
    gpus: u64,
}

/// What is left on a node, in the units the requests are counted in.
struct Budget {
    cpu_milli: u64,
    memory_bytes: u64,
    gpus: u64,
}

impl Budget {
    /// Subtracts `r` if it fits; says whether it did.
    fn take(&mut self, r: &Request) -> bool {
        if r.cpu_milli <= self.cpu_milli
            && r.memory_bytes <= self.memory_bytes
            && r.gpus <= self.gpus
        {
            self.cpu_milli -= r.cpu_milli;
            self.memory_bytes -= r.memory_bytes;
            self.gpus -= r.gpus;
            true
        } else {
            false
        }
    }
}

/// A DaemonSet every node (or every node of some pools) runs one pod of.
struct DaemonSet {
    name: &'static str,
    namespace: &'static str,
    image: &'static str,
    init_image: Option<&'static str>,
    cpu: Option<(&'static str, u64)>,
    memory: Option<(&'static str, u64)>,
    priority: i32,
    priority_class: &'static str,
    /// `true`: tolerates every taint (`operator: Exists`); `false`: the user
    /// tolerations only (the z2jh image puller).
    tolerate_all: bool,
}

const KUBE_PROXY: DaemonSet = DaemonSet {
    name: "kube-proxy",
    namespace: "kube-system",
    image: "registry.k8s.io/kube-proxy:v1.33.1",
    init_image: None,
    cpu: Some(("100m", 100)),
    memory: None,
    priority: 2_000_001_000,
    priority_class: "system-node-critical",
    tolerate_all: true,
};

const CALICO: DaemonSet = DaemonSet {
    name: "calico-node",
    namespace: "kube-system",
    image: "docker.io/calico/node:v3.29.3",
    init_image: Some("docker.io/calico/cni:v3.29.3"),
    cpu: Some(("250m", 250)),
    memory: None,
    priority: 2_000_001_000,
    priority_class: "system-node-critical",
    tolerate_all: true,
};

const NODE_EXPORTER: DaemonSet = DaemonSet {
    name: "prometheus-node-exporter",
    namespace: "kube-system",
    image: "quay.io/prometheus/node-exporter:v1.9.1",
    init_image: None,
    cpu: Some(("10m", 10)),
    memory: Some(("32Mi", 32 << 20)),
    priority: 0,
    priority_class: "",
    tolerate_all: true,
};

const NVIDIA_PLUGIN: DaemonSet = DaemonSet {
    name: "nvidia-gpu-device-plugin",
    namespace: "kube-system",
    image: "nvcr.io/nvidia/k8s-device-plugin:v0.17.1",
    init_image: None,
    cpu: Some(("50m", 50)),
    memory: Some(("50Mi", 50 << 20)),
    priority: 2_000_001_000,
    priority_class: "system-node-critical",
    tolerate_all: true,
};

const IMAGE_PULLER: DaemonSet = DaemonSet {
    name: "continuous-image-puller",
    namespace: NAMESPACE,
    image: PAUSE_IMAGE,
    init_image: Some(USER_IMAGE),
    cpu: None,
    memory: None,
    priority: -5,
    priority_class: "jhub-image-puller-priority",
    tolerate_all: false,
};

/// One of the hub's own pods.
struct CorePod {
    name: &'static str,
    component: &'static str,
    image: &'static str,
    /// The request as rendered, and in millicores.
    cpu: (&'static str, u64),
    /// The request as rendered, and in bytes.
    memory: (&'static str, u64),
}

/// The hub's own pods, spread round-robin over the core nodes.
const CORE_PODS: [CorePod; 5] = [
    CorePod {
        name: "hub-7d9c8b6f5-x2k4q",
        component: "hub",
        image: "quay.io/jupyterhub/k8s-hub:4.2.0",
        cpu: ("200m", 200),
        memory: ("512Mi", 512 << 20),
    },
    CorePod {
        name: "proxy-5f6d7c8b9-m8n2p",
        component: "proxy",
        image: "quay.io/jupyterhub/configurable-http-proxy:5.0.1",
        cpu: ("200m", 200),
        memory: ("512Mi", 512 << 20),
    },
    CorePod {
        name: "user-scheduler-6b8f9d7c4-h5j6k",
        component: "user-scheduler",
        image: "quay.io/jupyterhub/user-scheduler:0.1.0",
        cpu: ("50m", 50),
        memory: ("256Mi", 256 << 20),
    },
    CorePod {
        name: "user-scheduler-6b8f9d7c4-w9r3t",
        component: "user-scheduler",
        image: "quay.io/jupyterhub/user-scheduler:0.1.0",
        cpu: ("50m", 50),
        memory: ("256Mi", 256 << 20),
    },
    CorePod {
        name: "autohttps-84c7d5f6b-q4z7v",
        component: "autohttps",
        image: "traefik:v3.3.5",
        cpu: ("100m", 100),
        memory: ("128Mi", 128 << 20),
    },
];

/// The letters Kubernetes uses for generated name suffixes (no vowels, no
/// look-alikes): 27 of them.
const SUFFIX_ALPHABET: &[u8; 27] = b"bcdfghjklmnpqrstvwxz2456789";

/// The generator's state: one random stream and the running numbers.
struct Gen {
    rng: SplitMix64,
    next_user: usize,
    next_placeholder: usize,
    /// Per DaemonSet salt for the name suffixes, and its uid.
    ds_salt: u64,
    ds_uid: String,
    sts_uid: String,
}

impl Gen {
    fn new(seed: u64) -> Self {
        let mut rng = SplitMix64::new(seed);
        let ds_salt = rng.next_u64();
        let ds_uid = uid(&mut rng);
        let sts_uid = uid(&mut rng);
        Gen {
            rng,
            next_user: 1,
            next_placeholder: 0,
            ds_salt,
            ds_uid,
            sts_uid,
        }
    }

    fn between(&mut self, low: u64, high: u64) -> u64 {
        self.rng.between(low, high)
    }

    fn core_plan(&mut self, i: usize) -> NodePlan {
        let cpus = if self.rng.chance(1, 2) { 4 } else { 8 };
        let mut plan = NodePlan::sized(Pool::Core, format!("core-{i:05}"), cpus, 0);
        plan.core_tainted = self.rng.chance(1, 2);
        plan
    }

    fn user_plan(&mut self, i: usize) -> NodePlan {
        // Machine-type weights in percent: 4:3 8:12 16:35 32:30 48:12 64:8.
        let cpus = match self.rng.below(100) {
            0..3 => 4,
            3..15 => 8,
            15..50 => 16,
            50..80 => 32,
            80..92 => 48,
            _ => 64,
        };
        let mut plan = NodePlan::sized(Pool::User, format!("user-{i:05}"), cpus, 0);
        plan.gke_taint_key = self.rng.chance(1, 4);
        plan.has_user_image = self.rng.chance(9, 10);
        plan.has_scipy_image = self.rng.chance(1, 2);
        plan
    }

    fn gpu_plan(&mut self, i: usize) -> NodePlan {
        let cpus = if self.rng.chance(1, 2) { 8 } else { 16 };
        let gpus = self.between(1, 4);
        let mut plan = NodePlan::sized(Pool::Gpu, format!("gpu-{i:05}"), cpus, gpus);
        plan.gke_taint_key = self.rng.chance(1, 4);
        plan
    }

    fn node(&mut self, plan: &NodePlan, index: usize, created: i64) -> Node {
        let zone = ZONES[self.rng.below(3) as usize];
        let instance_type = match plan.pool {
            Pool::Gpu => format!("n1-standard-{}", plan.cpus),
            _ => format!("n2-standard-{}", plan.cpus),
        };
        let (purpose, pool_name) = match plan.pool {
            Pool::Core => ("core", "core-pool".to_string()),
            Pool::User => ("user", format!("user-{instance_type}")),
            Pool::Gpu => ("user", format!("gpu-{instance_type}")),
        };
        let mut labels = BTreeMap::from([
            ("kubernetes.io/hostname".to_string(), plan.name.clone()),
            ("kubernetes.io/os".to_string(), "linux".to_string()),
            ("kubernetes.io/arch".to_string(), "amd64".to_string()),
            ("topology.kubernetes.io/zone".to_string(), zone.to_string()),
            (
                "topology.kubernetes.io/region".to_string(),
                "us-central1".to_string(),
            ),
            (
                "node.kubernetes.io/instance-type".to_string(),
                instance_type,
            ),
            ("cloud.google.com/gke-nodepool".to_string(), pool_name),
            (NODE_PURPOSE.to_string(), purpose.to_string()),
        ]);
        if plan.pool == Pool::Gpu {
            labels.insert(
                "cloud.google.com/gke-accelerator".to_string(),
                "nvidia-tesla-t4".to_string(),
            );
        }

        let dedicated = if plan.gke_taint_key {
            DEDICATED_GKE
        } else {
            DEDICATED
        };
        let mut taints = Vec::new();
        match plan.pool {
            Pool::Core if plan.core_tainted => taints.push(taint(DEDICATED, "core")),
            Pool::Core => {}
            Pool::User => taints.push(taint(dedicated, "user")),
            Pool::Gpu => {
                taints.push(taint(dedicated, "user"));
                taints.push(taint(GPU_RESOURCE, "present"));
            }
        }

        let mut capacity = BTreeMap::from([
            ("cpu".to_string(), qty(plan.cpus.to_string())),
            (
                "memory".to_string(),
                qty(format!("{}Ki", plan.memory_capacity_ki)),
            ),
            ("ephemeral-storage".to_string(), qty(EPHEMERAL_CAPACITY)),
            ("pods".to_string(), qty("110")),
            ("hugepages-1Gi".to_string(), qty("0")),
            ("hugepages-2Mi".to_string(), qty("0")),
        ]);
        let mut allocatable = BTreeMap::from([
            ("cpu".to_string(), qty(format!("{}m", plan.cpu_milli))),
            ("memory".to_string(), qty(format!("{}Ki", plan.memory_ki))),
            ("ephemeral-storage".to_string(), qty(EPHEMERAL_ALLOCATABLE)),
            ("pods".to_string(), qty("110")),
            ("hugepages-1Gi".to_string(), qty("0")),
            ("hugepages-2Mi".to_string(), qty("0")),
        ]);
        if plan.gpus > 0 {
            capacity.insert(GPU_RESOURCE.to_string(), qty(plan.gpus.to_string()));
            allocatable.insert(GPU_RESOURCE.to_string(), qty(plan.gpus.to_string()));
        }

        let mut images = vec![
            image(PAUSE_IMAGE, 320_368),
            image(KUBE_PROXY.image, 31_251_456),
            image(CALICO.image, 155_472_617),
            image(CALICO.init_image.unwrap_or_default(), 94_127_232),
            image(NODE_EXPORTER.image, 12_287_104),
        ];
        match plan.pool {
            Pool::Core => {
                for core_pod in &CORE_PODS {
                    images.push(image(core_pod.image, 98_304_000));
                }
            }
            Pool::User => {
                if plan.has_user_image {
                    images.push(image_with_digest(USER_IMAGE, 2_018_470_912));
                }
                if plan.has_scipy_image {
                    images.push(image_with_digest(SCIPY_IMAGE, 1_254_115_328));
                }
            }
            Pool::Gpu => {
                images.push(image_with_digest(GPU_IMAGE, 6_442_450_944));
                images.push(image(NVIDIA_PLUGIN.image, 161_480_704));
            }
        }

        Node {
            metadata: ObjectMeta {
                name: Some(plan.name.clone()),
                uid: Some(uid(&mut self.rng)),
                labels: Some(labels),
                creation_timestamp: Some(time(created)),
                ..ObjectMeta::default()
            },
            spec: Some(NodeSpec {
                provider_id: Some(format!("gce://jhub-project/{zone}/{}", plan.name)),
                taints: (!taints.is_empty()).then_some(taints),
                ..NodeSpec::default()
            }),
            status: Some(NodeStatus {
                addresses: Some(vec![
                    NodeAddress {
                        type_: "InternalIP".to_string(),
                        address: format!(
                            "10.{}.{}.{}",
                            128 + (index >> 16),
                            (index >> 8) & 255,
                            index & 255
                        ),
                    },
                    NodeAddress {
                        type_: "Hostname".to_string(),
                        address: plan.name.clone(),
                    },
                ]),
                allocatable: Some(allocatable),
                capacity: Some(capacity),
                conditions: Some(vec![NodeCondition {
                    type_: "Ready".to_string(),
                    status: "True".to_string(),
                    reason: Some("KubeletReady".to_string()),
                    message: Some("kubelet is posting ready status".to_string()),
                    ..NodeCondition::default()
                }]),
                images: Some(images),
                ..NodeStatus::default()
            }),
        }
    }

    /// Puts the node's pods into `pods`: DaemonSet pods, then (core nodes)
    /// the hub's pods or (user and GPU nodes) users and placeholders up to a
    /// target of 20 to 60 pods, never beyond what is allocatable.
    fn fill(
        &mut self,
        plan: &NodePlan,
        index: usize,
        created: i64,
        core_nodes: usize,
        pods: &mut Vec<Pod>,
    ) {
        let mut budget = Budget {
            cpu_milli: plan.cpu_milli,
            memory_bytes: plan.memory_ki * KIB,
            gpus: plan.gpus,
        };
        let target = self.between(20, 60) as usize;
        let start = pods.len();
        let node = plan.name.as_str();

        let mut daemonsets = vec![&KUBE_PROXY, &CALICO, &NODE_EXPORTER];
        match plan.pool {
            Pool::User => daemonsets.push(&IMAGE_PULLER),
            Pool::Gpu => daemonsets.push(&NVIDIA_PLUGIN),
            Pool::Core => {}
        }
        for ds in daemonsets {
            let req = Request {
                cpu: ds.cpu.map(|c| c.0),
                cpu_milli: ds.cpu.map_or(0, |c| c.1),
                memory: ds.memory.map(|m| m.0),
                memory_bytes: ds.memory.map_or(0, |m| m.1),
                gpus: 0,
            };
            // System pods are tiny next to the smallest node; this never fails.
            if budget.take(&req) {
                let t = created + self.between(5, 90) as i64;
                pods.push(self.daemon_pod(ds, &req, index, node, t));
            }
        }

        match plan.pool {
            Pool::Core => {
                for (i, core_pod) in CORE_PODS.iter().enumerate() {
                    if i % core_nodes != index {
                        continue;
                    }
                    let req = Request {
                        cpu: Some(core_pod.cpu.0),
                        cpu_milli: core_pod.cpu.1,
                        memory: Some(core_pod.memory.0),
                        memory_bytes: core_pod.memory.1,
                        gpus: 0,
                    };
                    if budget.take(&req) {
                        let t = created + self.between(60, 600) as i64;
                        pods.push(self.core_pod(core_pod, &req, node, t));
                    }
                }
            }
            Pool::Gpu => {
                // GPU users each hold one GPU; some GPUs may be idle.
                let users = self.between(0, plan.gpus);
                for _ in 0..users {
                    let req = Request {
                        cpu: Some("1"),
                        cpu_milli: 1000,
                        memory: Some("4G"),
                        memory_bytes: 4_000_000_000,
                        gpus: 1,
                    };
                    if !budget.take(&req) {
                        break;
                    }
                    let n = self.next_user;
                    self.next_user += 1;
                    let t = NOW - self.between(60, 8 * 3600) as i64;
                    pods.push(self.user_pod(
                        n,
                        &req,
                        GPU_IMAGE,
                        Some(node),
                        USER_SCHEDULER,
                        t.max(created),
                    ));
                }
            }
            Pool::User => {
                // One user node in twenty holds only placeholders (the
                // headroom they keep for the next users); elsewhere about one
                // user-ish pod in ten is a placeholder.
                let placeholders_only = self.rng.chance(1, 20);
                while pods.len() - start < target {
                    let placeholder = placeholders_only || self.rng.chance(1, 10);
                    if placeholder {
                        if !budget.take(&placeholder_request()) {
                            break;
                        }
                        let n = self.next_placeholder;
                        self.next_placeholder += 1;
                        let t = created + self.between(60, 3600) as i64;
                        pods.push(self.placeholder_pod(n, Some(node), USER_SCHEDULER, t));
                        continue;
                    }
                    let mut req = self.user_request();
                    if !budget.take(&req) {
                        // Try the default guarantee (1G, no CPU) before giving up.
                        req = default_user_request();
                        if !budget.take(&req) {
                            break;
                        }
                    }
                    let image = self.user_image();
                    let n = self.next_user;
                    self.next_user += 1;
                    let t = NOW - self.between(60, 8 * 3600) as i64;
                    pods.push(self.user_pod(
                        n,
                        &req,
                        image,
                        Some(node),
                        USER_SCHEDULER,
                        t.max(created),
                    ));
                }
            }
        }
    }

    /// A user's requests: memory 1G–4G, CPU absent half the time, else 50m–1.
    fn user_request(&mut self) -> Request {
        // Memory weights in percent: 1G:45 1500M:10 2G:25 4G:20.
        let (memory, memory_bytes) = match self.rng.below(100) {
            0..45 => ("1G", 1_000_000_000),
            45..55 => ("1500M", 1_500_000_000),
            55..80 => ("2G", 2_000_000_000),
            _ => ("4G", 4_000_000_000),
        };
        // CPU weights in percent: none:50 50m:10 100m:10 250m:10 500m:10 1:10.
        let (cpu, cpu_milli) = match self.rng.below(100) {
            0..50 => (None, 0),
            50..60 => (Some("50m"), 50),
            60..70 => (Some("100m"), 100),
            70..80 => (Some("250m"), 250),
            80..90 => (Some("500m"), 500),
            _ => (Some("1"), 1000),
        };
        Request {
            cpu,
            cpu_milli,
            memory: Some(memory),
            memory_bytes,
            gpus: 0,
        }
    }

    /// The image a user picked: the datascience image four times in five.
    fn user_image(&mut self) -> &'static str {
        if self.rng.chance(4, 5) {
            USER_IMAGE
        } else {
            SCIPY_IMAGE
        }
    }

    fn user_pod(
        &mut self,
        n: usize,
        req: &Request,
        image: &'static str,
        node: Option<&str>,
        scheduler: &str,
        created: i64,
    ) -> Pod {
        let username = numbered("user-", n);
        let name = numbered("jupyter-user-", n);
        let mut labels = string_map(&[
            ("app", "jupyterhub"),
            ("release", "jhub"),
            ("component", "singleuser-server"),
            ("app.kubernetes.io/component", "singleuser-server"),
            ("app.kubernetes.io/managed-by", "kubespawner"),
            ("hub.jupyter.org/servername", ""),
        ]);
        labels.insert("hub.jupyter.org/username".to_string(), username);
        let mut tolerations = user_tolerations();
        if req.gpus > 0 {
            tolerations.push(Toleration {
                key: Some(GPU_RESOURCE.to_string()),
                operator: Some("Exists".to_string()),
                effect: Some("NoSchedule".to_string()),
                ..Toleration::default()
            });
        }
        let mut resources = requests(req);
        if req.gpus > 0 {
            // Extended resources need limits equal to requests.
            resources.limits = Some(BTreeMap::from([(
                GPU_RESOURCE.to_string(),
                qty(req.gpus.to_string()),
            )]));
        }
        Pod {
            metadata: ObjectMeta {
                name: Some(name),
                namespace: Some(NAMESPACE.to_string()),
                uid: Some(uid(&mut self.rng)),
                creation_timestamp: Some(time(created)),
                labels: Some(labels),
                ..ObjectMeta::default()
            },
            spec: Some(PodSpec {
                containers: vec![Container {
                    name: "notebook".to_string(),
                    image: Some(image.to_string()),
                    resources: Some(resources),
                    ..Container::default()
                }],
                node_name: node.map(str::to_string),
                scheduler_name: Some(scheduler.to_string()),
                priority: Some(0),
                priority_class_name: Some("jhub-default-priority".to_string()),
                restart_policy: Some("OnFailure".to_string()),
                tolerations: Some(tolerations),
                affinity: Some(prefer_purpose("user")),
                ..PodSpec::default()
            }),
            status: Some(pod_status(node.is_some(), created)),
        }
    }

    fn placeholder_pod(
        &mut self,
        n: usize,
        node: Option<&str>,
        scheduler: &str,
        created: i64,
    ) -> Pod {
        let name = numbered("user-placeholder-", n);
        Pod {
            metadata: ObjectMeta {
                namespace: Some(NAMESPACE.to_string()),
                uid: Some(uid(&mut self.rng)),
                creation_timestamp: Some(time(created)),
                labels: Some(string_map(&[
                    ("app", "jupyterhub"),
                    ("release", "jhub"),
                    ("component", "user-placeholder"),
                    ("app.kubernetes.io/component", "user-placeholder"),
                    ("statefulset.kubernetes.io/pod-name", &name),
                ])),
                name: Some(name),
                owner_references: Some(vec![owner(
                    "StatefulSet",
                    "user-placeholder",
                    &self.sts_uid,
                )]),
                ..ObjectMeta::default()
            },
            spec: Some(PodSpec {
                containers: vec![Container {
                    name: "pause".to_string(),
                    image: Some(PAUSE_IMAGE.to_string()),
                    resources: Some(requests(&placeholder_request())),
                    ..Container::default()
                }],
                node_name: node.map(str::to_string),
                scheduler_name: Some(scheduler.to_string()),
                priority: Some(-10),
                priority_class_name: Some("jhub-user-placeholder-priority".to_string()),
                termination_grace_period_seconds: Some(0),
                automount_service_account_token: Some(false),
                tolerations: Some(user_tolerations()),
                affinity: Some(prefer_purpose("user")),
                ..PodSpec::default()
            }),
            status: Some(pod_status(node.is_some(), created)),
        }
    }

    fn daemon_pod(
        &mut self,
        ds: &DaemonSet,
        req: &Request,
        index: usize,
        node: &str,
        created: i64,
    ) -> Pod {
        let mut name = String::with_capacity(ds.name.len() + 6);
        name.push_str(ds.name);
        name.push('-');
        self.push_name_suffix(&mut name, index);
        let tolerations = if ds.tolerate_all {
            vec![Toleration {
                operator: Some("Exists".to_string()),
                ..Toleration::default()
            }]
        } else {
            user_tolerations()
        };
        // The DaemonSet controller pins each pod with a required matchFields term.
        let pin = NodeSelectorTerm {
            match_fields: Some(vec![NodeSelectorRequirement {
                key: "metadata.name".to_string(),
                operator: "In".to_string(),
                values: Some(vec![node.to_string()]),
            }]),
            ..NodeSelectorTerm::default()
        };
        Pod {
            metadata: ObjectMeta {
                name: Some(name),
                namespace: Some(ds.namespace.to_string()),
                uid: Some(uid(&mut self.rng)),
                creation_timestamp: Some(time(created)),
                labels: Some(string_map(&[
                    ("app.kubernetes.io/name", ds.name),
                    ("component", ds.name),
                ])),
                owner_references: Some(vec![owner("DaemonSet", ds.name, &self.ds_uid)]),
                ..ObjectMeta::default()
            },
            spec: Some(PodSpec {
                init_containers: ds.init_image.map(|img| {
                    vec![Container {
                        name: "init".to_string(),
                        image: Some(img.to_string()),
                        ..Container::default()
                    }]
                }),
                containers: vec![Container {
                    name: ds.name.to_string(),
                    image: Some(ds.image.to_string()),
                    resources: Some(requests(req)),
                    ..Container::default()
                }],
                node_name: Some(node.to_string()),
                scheduler_name: Some("default-scheduler".to_string()),
                priority: Some(ds.priority),
                priority_class_name: (!ds.priority_class.is_empty())
                    .then(|| ds.priority_class.to_string()),
                tolerations: Some(tolerations),
                affinity: Some(Affinity {
                    node_affinity: Some(NodeAffinity {
                        required_during_scheduling_ignored_during_execution: Some(NodeSelector {
                            node_selector_terms: vec![pin],
                        }),
                        ..NodeAffinity::default()
                    }),
                    ..Affinity::default()
                }),
                ..PodSpec::default()
            }),
            status: Some(pod_status(true, created)),
        }
    }

    fn core_pod(&mut self, core_pod: &CorePod, req: &Request, node: &str, created: i64) -> Pod {
        let CorePod {
            name,
            component,
            image,
            ..
        } = *core_pod;
        Pod {
            metadata: ObjectMeta {
                name: Some(name.to_string()),
                namespace: Some(NAMESPACE.to_string()),
                uid: Some(uid(&mut self.rng)),
                creation_timestamp: Some(time(created)),
                labels: Some(string_map(&[
                    ("app", "jupyterhub"),
                    ("release", "jhub"),
                    ("component", component),
                    ("app.kubernetes.io/component", component),
                ])),
                ..ObjectMeta::default()
            },
            spec: Some(PodSpec {
                containers: vec![Container {
                    name: component.to_string(),
                    image: Some(image.to_string()),
                    resources: Some(requests(req)),
                    ..Container::default()
                }],
                node_name: Some(node.to_string()),
                scheduler_name: Some("default-scheduler".to_string()),
                priority: Some(0),
                priority_class_name: Some("jhub-default-priority".to_string()),
                tolerations: Some(vec![
                    toleration(DEDICATED, "core"),
                    toleration(DEDICATED_GKE, "core"),
                ]),
                affinity: Some(prefer_purpose("core")),
                ..PodSpec::default()
            }),
            status: Some(pod_status(true, created)),
        }
    }

    /// A 5-letter name suffix unique per node index (below 27^5 = 14,348,907
    /// nodes): the index times a unit modulo 3^15 (7,654,321 is not a multiple
    /// of 3), plus a per-seed salt, written in [`SUFFIX_ALPHABET`].
    fn push_name_suffix(&self, out: &mut String, index: usize) {
        const M: u64 = 27 * 27 * 27 * 27 * 27;
        let mut v = ((index as u64 % M) * 7_654_321 + self.ds_salt % M) % M;
        for _ in 0..5 {
            out.push(SUFFIX_ALPHABET[(v % 27) as usize] as char);
            v /= 27;
        }
    }
}

impl NodePlan {
    /// A node of `cpus` cores with GKE's reserves:
    /// CPU 6% of the first core, 1% of the second, 0.5% of cores 3–4, 0.25%
    /// above (4 cores → 60 + 10 + 2 × 5 = 80m reserved, 3920m allocatable);
    /// memory 4 GiB per CPU, of which the kernel keeps 2.3%, less 25% of the
    /// first 4 GiB, 20% of the next 4, 10% of the next 8, 6% of the next 112,
    /// 2% above 128 GiB, and a 100 MiB eviction threshold.
    fn sized(pool: Pool, name: String, cpus: u64, gpus: u64) -> Self {
        let cpu_reserved = match cpus {
            0 => 0,
            1 => 60,
            2 => 70,
            c @ 3..=4 => 70 + (c - 2) * 5,
            c => 80 + (c - 4) * 5 / 2,
        };
        let nominal_ki = cpus * 4 * GIB / KIB;
        let capacity_ki = nominal_ki * 977 / 1000;
        let gib_ki = GIB / KIB;
        let tiers: [(u64, u64); 5] = [
            (4 * gib_ki, 250),
            (4 * gib_ki, 200),
            (8 * gib_ki, 100),
            (112 * gib_ki, 60),
            (u64::MAX, 20),
        ];
        let mut rest = nominal_ki;
        let mut reserved_ki = 100 * 1024; // eviction threshold
        for (size, permille) in tiers {
            let part = rest.min(size);
            reserved_ki += part * permille / 1000;
            rest -= part;
        }
        NodePlan {
            pool,
            name,
            cpus,
            gpus,
            cpu_milli: cpus * 1000 - cpu_reserved,
            memory_ki: capacity_ki - reserved_ki,
            memory_capacity_ki: capacity_ki,
            gke_taint_key: false,
            core_tainted: false,
            has_user_image: false,
            has_scipy_image: false,
        }
    }
}

fn placeholder_request() -> Request {
    Request {
        cpu: None,
        cpu_milli: 0,
        memory: Some(PLACEHOLDER_MEMORY),
        memory_bytes: 1_000_000_000,
        gpus: 0,
    }
}

/// z2jh's default singleuser guarantee: memory 1G, no CPU.
fn default_user_request() -> Request {
    placeholder_request()
}

/// A label or annotation map, built by insertion (no temporary array sort).
fn string_map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    let mut map = BTreeMap::new();
    for (k, v) in pairs {
        map.insert((*k).to_string(), (*v).to_string());
    }
    map
}

fn qty(s: impl Into<String>) -> Quantity {
    Quantity(s.into())
}

/// `resources.requests` for `r` (no entry for an absent CPU or memory, GPUs
/// included).
fn requests(r: &Request) -> ResourceRequirements {
    let mut map = BTreeMap::new();
    if let Some(cpu) = r.cpu {
        map.insert("cpu".to_string(), qty(cpu));
    }
    if let Some(memory) = r.memory {
        map.insert("memory".to_string(), qty(memory));
    }
    if r.gpus > 0 {
        map.insert(GPU_RESOURCE.to_string(), qty(r.gpus.to_string()));
    }
    ResourceRequirements {
        requests: (!map.is_empty()).then_some(map),
        ..ResourceRequirements::default()
    }
}

fn taint(key: &str, value: &str) -> Taint {
    Taint {
        key: key.to_string(),
        value: Some(value.to_string()),
        effect: "NoSchedule".to_string(),
        ..Taint::default()
    }
}

fn toleration(key: &str, value: &str) -> Toleration {
    Toleration {
        key: Some(key.to_string()),
        operator: Some("Equal".to_string()),
        value: Some(value.to_string()),
        effect: Some("NoSchedule".to_string()),
        ..Toleration::default()
    }
}

/// What z2jh sets on user pods and placeholders: both dedicated keys,
/// `Equal user`, `NoSchedule`.
fn user_tolerations() -> Vec<Toleration> {
    vec![
        toleration(DEDICATED, "user"),
        toleration(DEDICATED_GKE, "user"),
    ]
}

/// `matchNodePurpose: prefer`: weight 100 to `node-purpose In [purpose]`.
fn prefer_purpose(purpose: &str) -> Affinity {
    Affinity {
        node_affinity: Some(NodeAffinity {
            preferred_during_scheduling_ignored_during_execution: Some(vec![
                PreferredSchedulingTerm {
                    weight: 100,
                    preference: NodeSelectorTerm {
                        match_expressions: Some(vec![NodeSelectorRequirement {
                            key: NODE_PURPOSE.to_string(),
                            operator: "In".to_string(),
                            values: Some(vec![purpose.to_string()]),
                        }]),
                        ..NodeSelectorTerm::default()
                    },
                },
            ]),
            ..NodeAffinity::default()
        }),
        ..Affinity::default()
    }
}

fn owner(kind: &str, name: &str, uid: &str) -> OwnerReference {
    OwnerReference {
        api_version: "apps/v1".to_string(),
        kind: kind.to_string(),
        name: name.to_string(),
        uid: uid.to_string(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }
}

fn pod_status(bound: bool, created: i64) -> PodStatus {
    if bound {
        PodStatus {
            phase: Some("Running".to_string()),
            start_time: Some(time(created + 2)),
            ..PodStatus::default()
        }
    } else {
        PodStatus {
            phase: Some("Pending".to_string()),
            ..PodStatus::default()
        }
    }
}

fn image(name: &str, size: i64) -> ContainerImage {
    ContainerImage {
        names: Some(vec![name.to_string()]),
        size_bytes: Some(size),
    }
}

/// An image listed by digest and by tag, as the kubelet reports pulled images.
fn image_with_digest(name: &str, size: i64) -> ContainerImage {
    let repo = name.split_once(':').map_or(name, |(r, _)| r);
    // A made-up digest: the FNV-1a hash of the name, four times over.
    let hash = name.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    let digest = format!("{repo}@sha256:{hash:016x}{hash:016x}{hash:016x}{hash:016x}");
    ContainerImage {
        names: Some(vec![digest, name.to_string()]),
        size_bytes: Some(size),
    }
}

fn time(seconds: i64) -> Time {
    // Every generated time lies within a few weeks of NOW, well inside
    // jiff's range (years -9999 to 9999).
    Time(Timestamp::from_second(seconds).unwrap_or(Timestamp::UNIX_EPOCH))
}

/// A random version-4 UUID.
///
/// Written digit by digit into an exactly sized string: `format!` would grow
/// and free a buffer per call, which glibc's allocator pays for dearly at
/// hundreds of thousands of pods.
fn uid(rng: &mut SplitMix64) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let a = rng.next_u64();
    let b = rng.next_u64();
    // 8-4-4-4-12 hex digits: a's high 32 bits, a's next 16, "4" and a's low
    // 12 (version 4), "8"–"b" and b's next 14 bits (variant), b's low 48.
    let groups: [(u64, usize); 5] = [
        (a >> 32, 8),
        ((a >> 16) & 0xffff, 4),
        (0x4000 | (a & 0xfff), 4),
        (0x8000 | ((b >> 48) & 0x3fff), 4),
        (b & 0xffff_ffff_ffff, 12),
    ];
    let mut out = String::with_capacity(36);
    for (i, (value, digits)) in groups.into_iter().enumerate() {
        if i > 0 {
            out.push('-');
        }
        for d in (0..digits).rev() {
            out.push(HEX[((value >> (4 * d)) & 0xf) as usize] as char);
        }
    }
    out
}

/// `prefix` followed by `n` in decimal, allocated once at its final size.
fn numbered(prefix: &str, n: usize) -> String {
    use std::fmt::Write as _;
    let mut out = String::with_capacity(prefix.len() + 20);
    out.push_str(prefix);
    // Writing to a String cannot fail.
    let _ = write!(out, "{n}");
    out
}

#[cfg(test)]
mod tests {
    use std::collections::{HashMap, HashSet};

    use score::quantity::parse;

    use super::*;

    fn label<'a>(meta: &'a ObjectMeta, key: &str) -> Option<&'a str> {
        meta.labels.as_ref()?.get(key).map(String::as_str)
    }

    fn name(meta: &ObjectMeta) -> &str {
        meta.name.as_deref().unwrap_or_default()
    }

    fn taints(node: &Node) -> &[Taint] {
        node.spec
            .as_ref()
            .and_then(|s| s.taints.as_deref())
            .unwrap_or_default()
    }

    fn allocatable<'a>(node: &'a Node, resource: &str) -> Option<&'a str> {
        let status = node.status.as_ref()?;
        Some(status.allocatable.as_ref()?.get(resource)?.0.as_str())
    }

    fn spec(pod: &Pod) -> &PodSpec {
        pod.spec.as_ref().expect("every generated pod has a spec")
    }

    /// kube's toleration match, enough for the generated objects.
    fn tolerates(t: &Toleration, taint: &Taint) -> bool {
        let effect_ok = t
            .effect
            .as_deref()
            .is_none_or(|e| e.is_empty() || e == taint.effect);
        let key = t.key.as_deref().unwrap_or_default();
        let key_ok = key.is_empty() || key == taint.key;
        let value_ok = match t.operator.as_deref().unwrap_or("Equal") {
            "Exists" => true,
            _ => !key.is_empty() && t.value.as_deref() == taint.value.as_deref(),
        };
        effect_ok && key_ok && value_ok
    }

    /// The pod's requests per resource as kube counts them: containers
    /// summed, init containers as a running maximum; CPU in millicores,
    /// everything else in whole units.
    fn pod_requests(pod: &Pod) -> HashMap<String, u64> {
        let parse_one = |resource: &str, q: &Quantity| {
            let parsed = parse(&q.0).unwrap_or_else(|e| panic!("{}: {e}", name(&pod.metadata)));
            if resource == "cpu" {
                parsed.to_milli_ceil().unwrap()
            } else {
                parsed.to_int_ceil().unwrap()
            }
        };
        let of = |c: &Container| -> Vec<(String, u64)> {
            c.resources
                .as_ref()
                .and_then(|r| r.requests.as_ref())
                .map(|m| {
                    m.iter()
                        .map(|(k, q)| (k.clone(), parse_one(k, q)))
                        .collect()
                })
                .unwrap_or_default()
        };
        let mut total = HashMap::new();
        for c in &spec(pod).containers {
            for (k, v) in of(c) {
                *total.entry(k).or_insert(0) += v;
            }
        }
        for c in spec(pod).init_containers.iter().flatten() {
            for (k, v) in of(c) {
                let e = total.entry(k).or_insert(0);
                *e = (*e).max(v);
            }
        }
        total
    }

    fn component(pod: &Pod) -> Option<&str> {
        label(&pod.metadata, "component")
    }

    #[test]
    fn same_seed_same_cluster() {
        assert_eq!(cluster(7, 120), cluster(7, 120));
        assert_ne!(cluster(7, 120), cluster(8, 120));
        assert_eq!(pending_user_pods(3, 20, "s"), pending_user_pods(3, 20, "s"));
        assert_ne!(pending_user_pods(3, 20, "s"), pending_user_pods(4, 20, "s"));
        assert_eq!(
            pending_placeholders(3, 20, "s"),
            pending_placeholders(3, 20, "s")
        );
        // The JSON is identical too, byte for byte.
        let a = serde_json::to_string(&cluster(9, 30).to_json().unwrap()).unwrap();
        let b = serde_json::to_string(&cluster(9, 30).to_json().unwrap()).unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn uids_are_version_4() {
        let mut rng = SplitMix64::new(0);
        let u = uid(&mut rng);
        // SplitMix64(0) starts 0xe220a8397b1dcdaf, 0x6e789e6aa1b965f4:
        // e220a839-7b1d-4daf (version nibble replaces the first of "cdaf"),
        // then 0x8000 | (0x6e78 & 0x3fff) = 0xae78, then 0x9e6aa1b965f4.
        assert_eq!(u, "e220a839-7b1d-4daf-ae78-9e6aa1b965f4");
        assert_eq!(numbered("user-", 42), "user-42");
    }

    #[test]
    fn pool_sizes_follow_the_percentages() {
        // (nodes, core, gpu): core = max(1, round(2% of nodes)),
        // gpu = max(1, round(1% of nodes)) from 10 nodes on, else 0.
        let table = [
            (0, 0, 0),
            (1, 1, 0),
            (2, 1, 0),
            (9, 1, 0),
            (10, 1, 1),  // 2% of 10 = 0.2 → at least 1; 1% → at least 1
            (74, 1, 1),  // 1.48 → 1; 0.74 → 1
            (75, 2, 1),  // 1.5 → 2
            (100, 2, 1), // 2; 1
            (150, 3, 2), // 3; 1.5 → 2
            (1000, 20, 10),
            (10_000, 200, 100),
        ];
        for (nodes, core, gpu) in table {
            assert_eq!(pool_sizes(nodes), (core, gpu), "{nodes} nodes");
        }
    }

    #[test]
    fn pools_labels_and_taints() {
        let c = cluster(11, 1000);
        assert_eq!(c.nodes.len(), 1000);
        let purpose = |n: &Node| {
            label(&n.metadata, NODE_PURPOSE)
                .unwrap_or_default()
                .to_string()
        };
        let is_gpu = |n: &Node| allocatable(n, GPU_RESOURCE).is_some();
        let core: Vec<_> = c.nodes.iter().filter(|n| purpose(n) == "core").collect();
        let gpu: Vec<_> = c.nodes.iter().filter(|n| is_gpu(n)).collect();
        let user: Vec<_> = c
            .nodes
            .iter()
            .filter(|n| purpose(n) == "user" && !is_gpu(n))
            .collect();
        // 2% of 1000 = 20 core, 1% = 10 GPU, the other 970 user nodes.
        assert_eq!((core.len(), gpu.len(), user.len()), (20, 10, 970));

        let mut zones = HashSet::new();
        let mut gke_keys = 0;
        for node in &c.nodes {
            let meta = &node.metadata;
            assert_eq!(label(meta, "kubernetes.io/hostname"), Some(name(meta)));
            assert_eq!(label(meta, "kubernetes.io/os"), Some("linux"));
            assert!(label(meta, "node.kubernetes.io/instance-type").is_some());
            let zone = label(meta, "topology.kubernetes.io/zone").unwrap();
            assert!(ZONES.contains(&zone));
            zones.insert(zone);
            assert_eq!(allocatable(node, "pods"), Some("110"));
            // Allocatable CPU is below capacity: 4 cores → 3920m.
            let cpus: u64 = label(meta, "node.kubernetes.io/instance-type")
                .and_then(|t| t.rsplit('-').next())
                .and_then(|c| c.parse().ok())
                .unwrap();
            if cpus == 4 {
                assert_eq!(allocatable(node, "cpu"), Some("3920m"));
            }
            let cpu = parse(allocatable(node, "cpu").unwrap()).unwrap();
            assert!(cpu.to_milli_ceil().unwrap() < cpus * 1000);
            // ≈ 4 GiB per CPU less the reserve: between 3 and 4 GiB per CPU.
            let memory = parse(allocatable(node, "memory").unwrap()).unwrap();
            let per_cpu = memory.to_int_ceil().unwrap() / cpus;
            assert!(
                (3 * GIB..4 * GIB).contains(&per_cpu),
                "{}: {per_cpu}",
                name(meta)
            );
            gke_keys += usize::from(taints(node).iter().any(|t| t.key == DEDICATED_GKE));
        }
        assert_eq!(zones.len(), 3);

        for node in &core {
            let t = taints(node);
            assert!(t.is_empty() || (t.len() == 1 && t[0].key == DEDICATED));
        }
        assert!(
            core.iter().any(|n| !taints(n).is_empty()),
            "some core nodes are tainted"
        );
        for node in user.iter().chain(&gpu) {
            assert!(
                taints(node)
                    .iter()
                    .any(|t| (t.key == DEDICATED || t.key == DEDICATED_GKE)
                        && t.value.as_deref() == Some("user")
                        && t.effect == "NoSchedule"),
                "{}",
                name(&node.metadata)
            );
        }
        // A quarter of the 980 user and GPU nodes use the GKE key: ~245.
        assert!((150..350).contains(&gke_keys), "{gke_keys}");
        for node in &gpu {
            let gpus = parse(allocatable(node, GPU_RESOURCE).unwrap()).unwrap();
            assert!((1..=4).contains(&gpus.to_int_ceil().unwrap()));
            assert!(taints(node).iter().any(|t| t.key == GPU_RESOURCE
                && t.value.as_deref() == Some("present")
                && t.effect == "NoSchedule"));
        }

        // Images: pause everywhere, the user image on most user nodes (90%).
        let has = |n: &Node, img: &str| {
            n.status
                .as_ref()
                .unwrap()
                .images
                .iter()
                .flatten()
                .any(|i| i.names.iter().flatten().any(|name| name == img))
        };
        assert!(c.nodes.iter().all(|n| has(n, PAUSE_IMAGE)));
        let with_user_image = user.iter().filter(|n| has(n, USER_IMAGE)).count();
        assert!(
            with_user_image * 100 >= user.len() * 80,
            "{with_user_image}"
        );
    }

    #[test]
    fn gpu_nodes_exist_at_100_nodes() {
        let c = cluster(1, 100);
        let gpu: Vec<_> = c
            .nodes
            .iter()
            .filter(|n| allocatable(n, GPU_RESOURCE).is_some())
            .collect();
        assert_eq!(gpu.len(), 1);
        assert!(
            cluster(1, 9)
                .nodes
                .iter()
                .all(|n| allocatable(n, GPU_RESOURCE).is_none())
        );
    }

    #[test]
    fn no_node_is_over_committed() {
        for seed in 0..4 {
            let c = cluster(seed, 300);
            let mut used: HashMap<&str, HashMap<String, u64>> = HashMap::new();
            for pod in &c.pods {
                let node = spec(pod).node_name.as_deref().unwrap();
                let entry = used.entry(node).or_default();
                for (resource, v) in pod_requests(pod) {
                    *entry.entry(resource).or_insert(0) += v;
                }
                *entry.entry("pods".to_string()).or_insert(0) += 1;
            }
            for node in &c.nodes {
                let node_name = name(&node.metadata);
                let Some(requested) = used.get(node_name) else {
                    panic!("{node_name} has no pods");
                };
                for (resource, amount) in requested {
                    let alloc = allocatable(node, resource)
                        .unwrap_or_else(|| panic!("{node_name} has no {resource}"));
                    let alloc = parse(alloc).unwrap();
                    let alloc = if resource == "cpu" {
                        alloc.to_milli_ceil().unwrap()
                    } else {
                        alloc.to_int_ceil().unwrap()
                    };
                    assert!(
                        *amount <= alloc,
                        "seed {seed}: {node_name} {resource}: {amount} > {alloc}"
                    );
                }
            }
        }
    }

    #[test]
    fn pods_per_node_and_references() {
        let c = cluster(5, 500);
        let nodes: HashMap<&str, &Node> = c.nodes.iter().map(|n| (name(&n.metadata), n)).collect();
        assert_eq!(nodes.len(), c.nodes.len(), "node names are unique");
        let mut per_node: HashMap<&str, usize> = HashMap::new();
        let mut names = HashSet::new();
        let mut uids = HashSet::new();
        for node in &c.nodes {
            assert!(uids.insert(node.metadata.uid.clone().unwrap()));
        }
        for pod in &c.pods {
            let node_name = spec(pod).node_name.as_deref().expect("bound");
            let node = nodes.get(node_name).expect("the node exists");
            *per_node.entry(node_name).or_default() += 1;
            let key = (
                pod.metadata.namespace.clone().unwrap(),
                name(&pod.metadata).to_string(),
            );
            assert!(names.insert(key.clone()), "duplicate pod {key:?}");
            assert!(
                uids.insert(pod.metadata.uid.clone().unwrap()),
                "duplicate uid"
            );
            assert!(pod.metadata.creation_timestamp.is_some());
            let status = pod.status.as_ref().unwrap();
            assert_eq!(status.phase.as_deref(), Some("Running"));
            assert!(!spec(pod).containers.is_empty());
            for c in &spec(pod).containers {
                assert!(c.image.is_some() && c.resources.is_some());
            }
            // Every NoSchedule taint of the node is tolerated by its pods.
            let tolerations = spec(pod).tolerations.as_deref().unwrap_or_default();
            for taint in taints(node) {
                assert!(
                    tolerations.iter().any(|t| tolerates(t, taint)),
                    "{} on {node_name} does not tolerate {}",
                    name(&pod.metadata),
                    taint.key
                );
            }
        }
        let counts: Vec<usize> = c
            .nodes
            .iter()
            .map(|n| per_node[name(&n.metadata)])
            .collect();
        assert!(counts.iter().all(|&n| n <= 60));
        for (node, &count) in c.nodes.iter().zip(&counts) {
            let big_user_node = label(&node.metadata, NODE_PURPOSE) == Some("user")
                && allocatable(node, GPU_RESOURCE).is_none()
                && parse(allocatable(node, "cpu").unwrap())
                    .unwrap()
                    .to_milli_ceil()
                    .unwrap()
                    > 31_000;
            if big_user_node {
                assert!(count >= 20, "{}: {count}", name(&node.metadata));
            }
        }
        let in_range = counts.iter().filter(|&&n| (20..=60).contains(&n)).count();
        assert!(
            in_range * 10 >= counts.len() * 8,
            "{in_range} of {}",
            counts.len()
        );
        // ~35 pods per node on average.
        assert!(
            (25 * 500..45 * 500).contains(&c.pods.len()),
            "{}",
            c.pods.len()
        );
    }

    #[test]
    fn pods_look_like_z2jh() {
        let c = cluster(2, 200);
        let mut seen = HashMap::new();
        for pod in &c.pods {
            let s = spec(pod);
            let kind = component(pod).unwrap_or_default();
            *seen.entry(kind.to_string()).or_insert(0) += 1;
            match kind {
                "singleuser-server" => {
                    let meta = &pod.metadata;
                    assert_eq!(meta.namespace.as_deref(), Some(NAMESPACE));
                    assert_eq!(
                        label(meta, "app.kubernetes.io/component"),
                        Some("singleuser-server")
                    );
                    let user = label(meta, "hub.jupyter.org/username").unwrap();
                    assert!(user.starts_with("user-"));
                    assert_eq!(name(meta), format!("jupyter-{user}"));
                    assert_eq!(s.priority, Some(0));
                    assert_eq!(s.scheduler_name.as_deref(), Some(USER_SCHEDULER));
                    let req = pod_requests(pod);
                    let gpu = req.contains_key(GPU_RESOURCE);
                    // memory 1G–4G; cpu absent or 50m–1
                    assert!((1_000_000_000..=4_000_000_000).contains(&req["memory"]));
                    assert!(req.get("cpu").is_none_or(|&m| (50..=1000).contains(&m)));
                    let keys: Vec<_> = s
                        .tolerations
                        .iter()
                        .flatten()
                        .filter(|t| t.value.as_deref() == Some("user"))
                        .map(|t| t.key.clone().unwrap())
                        .collect();
                    assert_eq!(keys, [DEDICATED, DEDICATED_GKE]);
                    let preferred = s
                        .affinity
                        .as_ref()
                        .and_then(|a| a.node_affinity.as_ref())
                        .and_then(|n| {
                            n.preferred_during_scheduling_ignored_during_execution
                                .as_ref()
                        })
                        .unwrap();
                    assert_eq!(preferred[0].weight, 100);
                    let expr = &preferred[0].preference.match_expressions.as_ref().unwrap()[0];
                    assert_eq!(
                        (
                            expr.key.as_str(),
                            expr.operator.as_str(),
                            expr.values.as_deref()
                        ),
                        (NODE_PURPOSE, "In", Some(&["user".to_string()][..]))
                    );
                    if gpu {
                        assert_eq!(req[GPU_RESOURCE], 1);
                    }
                }
                "user-placeholder" => {
                    assert!(name(&pod.metadata).starts_with("user-placeholder-"));
                    assert_eq!(s.priority, Some(-10));
                    assert_eq!(s.containers[0].image.as_deref(), Some(PAUSE_IMAGE));
                    assert_eq!(s.scheduler_name.as_deref(), Some(USER_SCHEDULER));
                    assert_eq!(pod_requests(pod)["memory"], 1_000_000_000);
                    assert_eq!(s.tolerations, Some(user_tolerations()));
                    assert_eq!(s.affinity, Some(prefer_purpose("user")));
                    let owner = &pod.metadata.owner_references.as_ref().unwrap()[0];
                    assert_eq!(
                        (owner.kind.as_str(), owner.name.as_str()),
                        ("StatefulSet", "user-placeholder")
                    );
                }
                "kube-proxy"
                | "calico-node"
                | "prometheus-node-exporter"
                | "nvidia-gpu-device-plugin" => {
                    assert_eq!(pod.metadata.namespace.as_deref(), Some("kube-system"));
                    let t = &s.tolerations.as_ref().unwrap()[0];
                    assert_eq!(
                        (t.key.as_deref(), t.operator.as_deref()),
                        (None, Some("Exists"))
                    );
                }
                "continuous-image-puller" | "hub" | "proxy" | "user-scheduler" | "autohttps" => {
                    assert_eq!(pod.metadata.namespace.as_deref(), Some(NAMESPACE));
                }
                other => panic!("unexpected component {other:?}"),
            }
        }
        // 200 nodes: 4 core, 2 GPU, 194 user nodes, each with one pod of
        // every DaemonSet that runs there.
        assert_eq!(seen["kube-proxy"], 200);
        assert_eq!(seen["continuous-image-puller"], 194);
        assert_eq!(seen["nvidia-gpu-device-plugin"], 2);
        assert_eq!(
            (seen["hub"], seen["proxy"], seen["user-scheduler"]),
            (1, 1, 2)
        );
        // Users outnumber placeholders several times over.
        assert!(seen["singleuser-server"] > 3 * seen["user-placeholder"]);
        assert!(seen["user-placeholder"] > 0);
    }

    #[test]
    fn pending_pods_are_unbound() {
        let users = pending_user_pods(1, 50, "my-scheduler");
        let placeholders = pending_placeholders(1, 50, "my-scheduler");
        assert_eq!((users.len(), placeholders.len()), (50, 50));
        let bound: HashSet<String> = cluster(1, 100)
            .pods
            .iter()
            .map(|p| name(&p.metadata).to_string())
            .collect();
        let mut names = HashSet::new();
        for pod in users.iter().chain(&placeholders) {
            let s = spec(pod);
            assert_eq!(s.node_name, None);
            assert_eq!(s.scheduler_name.as_deref(), Some("my-scheduler"));
            assert_eq!(
                pod.status.as_ref().unwrap().phase.as_deref(),
                Some("Pending")
            );
            let n = name(&pod.metadata).to_string();
            assert!(!bound.contains(&n), "{n} collides with a bound pod");
            assert!(names.insert(n));
        }
        assert!(
            users
                .iter()
                .all(|p| component(p) == Some("singleuser-server"))
        );
        assert!(
            placeholders
                .iter()
                .all(|p| component(p) == Some("user-placeholder"))
        );
        assert_eq!(name(&users[0].metadata), "jupyter-user-1000000");
        assert_eq!(name(&placeholders[0].metadata), "user-placeholder-1000000");
    }

    #[test]
    fn json_is_a_kube_list() {
        let c = cluster(4, 12);
        let json = c.to_json().unwrap();
        assert_eq!(json["kind"], "List");
        let items = json["items"].as_array().unwrap();
        assert_eq!(items.len(), c.nodes.len() + c.pods.len());
        assert_eq!(items[0]["kind"], "Node");
        assert_eq!(items[c.nodes.len()]["kind"], "Pod");
        assert_eq!(items[0]["status"]["allocatable"]["pods"], "110");
        // It reads back into the same objects.
        let node: Node = serde_json::from_value(items[0].clone()).unwrap();
        assert_eq!(node, c.nodes[0]);
        let pod: Pod = serde_json::from_value(items[c.nodes.len()].clone()).unwrap();
        assert_eq!(pod, c.pods[0]);
    }
}
