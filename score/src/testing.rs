//! Fluent builders for nodes and pods, for tests and benchmarks
//! (in the spirit of kube's `st.MakePod().Req(..).Obj()`).

use crate::cluster::HOSTNAME_LABEL;
use crate::model::{
    Container, HostPort, LabelSelector, Labels, NodeImage, NodeSelectorOperator,
    NodeSelectorRequirement, NodeSelectorTerm, NodeSpec, PodAffinityTerm, PodSpec,
    PreferredSchedulingTerm, Protocol, ResourceList, Taint, TaintEffect, Toleration,
    TolerationOperator, WeightedPodAffinityTerm,
};

/// 2^30.
pub const GI: u64 = 1 << 30;

/// Starts a node with 110 allocatable pods and its hostname label.
#[must_use]
pub fn node(name: &str) -> NodeBuilder {
    NodeBuilder(NodeSpec {
        name: name.into(),
        labels: Labels::from([(HOSTNAME_LABEL.into(), name.into())]),
        allocatable: ResourceList {
            pods: Some(110),
            ..ResourceList::default()
        },
        ..NodeSpec::default()
    })
}

/// A node under construction.
#[derive(Clone, Debug)]
pub struct NodeBuilder(pub NodeSpec);

impl NodeBuilder {
    /// Allocatable cpu (millicores) and memory (bytes).
    #[must_use]
    pub fn capacity(mut self, cpu_milli: u64, memory: u64) -> Self {
        self.0.allocatable.cpu_milli = Some(cpu_milli);
        self.0.allocatable.memory = Some(memory);
        self
    }
    /// Allocatable pods.
    #[must_use]
    pub fn pods(mut self, pods: u64) -> Self {
        self.0.allocatable.pods = Some(pods);
        self
    }
    /// An allocatable extended resource.
    #[must_use]
    pub fn extended(mut self, name: &str, amount: u64) -> Self {
        self.0.allocatable.extended.push((name.into(), amount));
        self
    }
    /// A label.
    #[must_use]
    pub fn label(mut self, key: &str, value: &str) -> Self {
        self.0.labels.insert(key.into(), value.into());
        self
    }
    /// A taint.
    #[must_use]
    pub fn taint(mut self, key: &str, value: &str, effect: TaintEffect) -> Self {
        self.0.taints.push(Taint {
            key: key.into(),
            value: value.into(),
            effect,
        });
        self
    }
    /// `spec.unschedulable: true`.
    #[must_use]
    pub fn cordoned(mut self) -> Self {
        self.0.unschedulable = true;
        self
    }
    /// An image present on the node.
    #[must_use]
    pub fn image(mut self, name: &str, size_bytes: u64) -> Self {
        self.0.images.push(NodeImage {
            names: vec![name.into()],
            size_bytes,
        });
        self
    }
    /// The node.
    #[must_use]
    pub fn build(self) -> NodeSpec {
        self.0
    }
}

/// Starts a pod in namespace `jhub` with one container and no requests; its
/// uid is its name.
#[must_use]
pub fn pod(name: &str) -> PodBuilder {
    PodBuilder(PodSpec {
        namespace: "jhub".into(),
        name: name.into(),
        uid: name.into(),
        containers: vec![Container::default()],
        ..PodSpec::default()
    })
}

/// A pod under construction.
#[derive(Clone, Debug)]
pub struct PodBuilder(pub PodSpec);

impl PodBuilder {
    /// Requests of the first container: cpu (millicores) and memory (bytes).
    #[must_use]
    pub fn req(mut self, cpu_milli: u64, memory: u64) -> Self {
        let r = &mut self.0.containers[0].requests;
        r.cpu_milli = Some(cpu_milli);
        r.memory = Some(memory);
        self
    }
    /// A memory request only (z2jh's default user pod: no cpu request).
    #[must_use]
    pub fn mem(mut self, memory: u64) -> Self {
        self.0.containers[0].requests.memory = Some(memory);
        self
    }
    /// An extended resource request.
    #[must_use]
    pub fn extended(mut self, name: &str, amount: u64) -> Self {
        self.0.containers[0]
            .requests
            .extended
            .push((name.into(), amount));
        self
    }
    /// A label.
    #[must_use]
    pub fn label(mut self, key: &str, value: &str) -> Self {
        self.0.labels.insert(key.into(), value.into());
        self
    }
    /// `component=singleuser-server`.
    #[must_use]
    pub fn user(self) -> Self {
        self.label("component", "singleuser-server")
    }
    /// `component=user-placeholder`, priority −10.
    #[must_use]
    pub fn placeholder(self) -> Self {
        self.label("component", "user-placeholder").priority(-10)
    }
    /// Priority.
    #[must_use]
    pub fn priority(mut self, priority: i32) -> Self {
        self.0.priority = priority;
        self
    }
    /// Namespace.
    #[must_use]
    pub fn namespace(mut self, ns: &str) -> Self {
        self.0.namespace = ns.into();
        self
    }
    /// `spec.nodeName`.
    #[must_use]
    pub fn node_name(mut self, node: &str) -> Self {
        self.0.node_name = Some(node.into());
        self
    }
    /// A nodeSelector pair.
    #[must_use]
    pub fn node_selector(mut self, key: &str, value: &str) -> Self {
        self.0.node_selector.insert(key.into(), value.into());
        self
    }
    /// A required node affinity term with one expression.
    #[must_use]
    pub fn require_node(mut self, key: &str, op: NodeSelectorOperator, values: &[&str]) -> Self {
        self.0
            .required_node_affinity
            .get_or_insert_with(Vec::new)
            .push(term(key, op, values));
        self
    }
    /// A preferred node affinity term with one expression.
    #[must_use]
    pub fn prefer_node(
        mut self,
        weight: i32,
        key: &str,
        op: NodeSelectorOperator,
        values: &[&str],
    ) -> Self {
        self.0
            .preferred_node_affinity
            .push(PreferredSchedulingTerm {
                weight,
                preference: term(key, op, values),
            });
        self
    }
    /// A toleration `key=value:effect` (operator Equal).
    #[must_use]
    pub fn tolerate(mut self, key: &str, value: &str, effect: Option<TaintEffect>) -> Self {
        self.0.tolerations.push(Toleration {
            key: key.into(),
            operator: TolerationOperator::Equal,
            value: value.into(),
            effect,
        });
        self
    }
    /// The tolerations z2jh gives user pods (both dedicated keys, `user`, NoSchedule).
    #[must_use]
    pub fn z2jh_user_tolerations(self) -> Self {
        self.tolerate(
            "hub.jupyter.org/dedicated",
            "user",
            Some(TaintEffect::NoSchedule),
        )
        .tolerate(
            "hub.jupyter.org_dedicated",
            "user",
            Some(TaintEffect::NoSchedule),
        )
    }
    /// A host port on the first container.
    #[must_use]
    pub fn host_port(mut self, port: u16) -> Self {
        self.0.containers[0].host_ports.push(HostPort {
            ip: "0.0.0.0".into(),
            protocol: Protocol::Tcp,
            port,
        });
        self
    }
    /// The first container's image.
    #[must_use]
    pub fn image(mut self, image: &str) -> Self {
        self.0.containers[0].image = image.into();
        self
    }
    /// A required pod anti-affinity term: no pod labelled `key=value` in the same `topology_key` domain.
    #[must_use]
    pub fn anti_affinity(mut self, key: &str, value: &str, topology_key: &str) -> Self {
        self.0
            .pod_anti_affinity
            .required
            .push(pod_term(key, value, topology_key));
        self
    }
    /// A required pod affinity term.
    #[must_use]
    pub fn affinity(mut self, key: &str, value: &str, topology_key: &str) -> Self {
        self.0
            .pod_affinity
            .required
            .push(pod_term(key, value, topology_key));
        self
    }
    /// A preferred pod affinity term (negative weight: preferred anti-affinity).
    #[must_use]
    pub fn prefer_pods(mut self, weight: i32, key: &str, value: &str, topology_key: &str) -> Self {
        let w = WeightedPodAffinityTerm {
            weight: weight.abs(),
            term: pod_term(key, value, topology_key),
        };
        if weight >= 0 {
            self.0.pod_affinity.preferred.push(w);
        } else {
            self.0.pod_anti_affinity.preferred.push(w);
        }
        self
    }
    /// A topology spread constraint selecting the pods that have label
    /// `selector_key` (kube tests' `fooSelector`: `Exists(foo)`).
    #[must_use]
    pub fn spread(
        mut self,
        max_skew: i32,
        topology_key: &str,
        when: crate::model::WhenUnsatisfiable,
        selector_key: &str,
    ) -> Self {
        self.0
            .topology_spread
            .push(crate::model::TopologySpreadConstraint {
                max_skew,
                topology_key: topology_key.into(),
                when_unsatisfiable: when,
                label_selector: Some(exists(selector_key)),
                min_domains: None,
                node_affinity_policy: None,
                node_taints_policy: None,
                match_label_keys: Vec::new(),
            });
        self
    }
    /// The default spread selector (what kube derives from the pod's
    /// Services and owners): pods with label `key`.
    #[must_use]
    pub fn default_spread(mut self, key: &str) -> Self {
        self.0.default_spread_selector = Some(exists(key));
        self
    }
    /// The pod.
    #[must_use]
    pub fn build(self) -> PodSpec {
        self.0
    }
}

fn term(key: &str, op: NodeSelectorOperator, values: &[&str]) -> NodeSelectorTerm {
    NodeSelectorTerm {
        match_expressions: vec![NodeSelectorRequirement {
            key: key.into(),
            operator: op,
            values: values.iter().map(|v| (*v).to_string()).collect(),
        }],
        match_fields: Vec::new(),
    }
}

fn exists(key: &str) -> LabelSelector {
    LabelSelector {
        match_labels: Vec::new(),
        match_expressions: vec![crate::model::LabelSelectorRequirement {
            key: key.into(),
            operator: crate::model::LabelSelectorOperator::Exists,
            values: Vec::new(),
        }],
    }
}

fn pod_term(key: &str, value: &str, topology_key: &str) -> PodAffinityTerm {
    PodAffinityTerm {
        label_selector: Some(LabelSelector::equals(key, value)),
        namespaces: Vec::new(),
        namespace_selector: None,
        topology_key: topology_key.into(),
    }
}
