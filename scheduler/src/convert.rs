//! Kubernetes API objects to engine types: the one place that knows both.
//!
//! [`node_spec`] and [`pod_spec`] turn a `Node` and a `Pod` into the engine's
//! [`NodeSpec`] and [`PodSpec`]. Quantities are parsed exactly with
//! [`score::quantity`]: CPU rounds up to millicores, everything else rounds up
//! to an integer. A value the engine cannot use is an error naming the object
//! and the field, for example
//! `pod jhub/jupyter-alice: spec.containers[0].resources.requests[cpu]: invalid quantity "12x": unknown suffix "x"`;
//! a node taint with an unknown effect is skipped with a warning instead, since
//! the rest of the node is still usable.
//!
//! Quantities above 2^63 − 1 in the engine's unit (millicores for cpu, bytes
//! or units for the rest: [`quantity::MAX`]) are errors, as kube-scheduler's
//! int64 arithmetic cannot hold them: a pending pod asking for one is
//! reported, a node offering one is skipped. A pod already *on* a node is
//! the exception ([`assigned_pod_spec`]): it occupies the node whatever its
//! numbers say, so such a request counts as 2^63 − 1 (the node looks full)
//! with a warning, instead of the pod not being counted at all (the node
//! would look empty).

use std::cell::RefCell;
use std::collections::BTreeMap;

use k8s_openapi::api::core::v1 as core;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity as ApiQuantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1 as meta;
use score::model::{
    Container, HostPort, LabelSelector, LabelSelectorOperator, LabelSelectorRequirement, Labels,
    NodeImage, NodeInclusionPolicy, NodeSelectorOperator, NodeSelectorRequirement,
    NodeSelectorTerm, NodeSpec, PodAffinityRules, PodAffinityTerm, PodSpec,
    PreferredSchedulingTerm, Protocol, ResourceList, Taint, TaintEffect, Terminating, Toleration,
    TolerationOperator, TopologySpreadConstraint, WeightedPodAffinityTerm, WhenUnsatisfiable,
};
use score::quantity::{self, QuantityError};

/// Why an object could not be converted. Every message starts with the object
/// (`node n1`, `pod ns/name`) and the field path.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConvertError {
    /// A quantity that does not parse or does not fit.
    #[error("{object}: {field}: {source}")]
    Quantity {
        /// `node NAME` or `pod NAMESPACE/NAME`.
        object: String,
        /// Field path, e.g. `spec.containers[0].resources.requests[cpu]`.
        field: String,
        /// The quantity error.
        source: QuantityError,
    },
    /// Any other invalid or missing value.
    #[error("{object}: {field}: {message}")]
    Invalid {
        /// `node NAME` or `pod NAMESPACE/NAME`.
        object: String,
        /// Field path.
        field: String,
        /// What is wrong.
        message: String,
    },
}

/// The object being converted, for error messages.
struct Ctx {
    object: String,
    /// `Some` for a pod already on a node: a quantity above
    /// [`quantity::MAX`] counts as `MAX`, with a warning here.
    clamped: Option<RefCell<Vec<String>>>,
}

impl Ctx {
    /// The context of `object`: quantities too large for kube are errors.
    fn new(object: String) -> Ctx {
        Ctx {
            object,
            clamped: None,
        }
    }

    fn invalid(&self, field: impl Into<String>, message: impl Into<String>) -> ConvertError {
        ConvertError::Invalid {
            object: self.object.clone(),
            field: field.into(),
            message: message.into(),
        }
    }

    fn quantity(&self, field: String, source: QuantityError) -> ConvertError {
        ConvertError::Quantity {
            object: self.object.clone(),
            field,
            source,
        }
    }

    /// A conversion's result: a value too large for kube is an error, or,
    /// for a pod already on a node, [`quantity::MAX`] with a warning.
    fn amount(
        &self,
        field: impl FnOnce() -> String,
        result: Result<u64, QuantityError>,
    ) -> Result<u64, ConvertError> {
        match (result, &self.clamped) {
            (Ok(v), _) => Ok(v),
            (Err(e @ QuantityError::TooLarge { .. }), Some(warnings)) => {
                warnings.borrow_mut().push(format!(
                    "{}: {}: {e}; counted as {}",
                    self.object,
                    field(),
                    quantity::MAX
                ));
                Ok(quantity::MAX)
            }
            (Err(e), _) => Err(self.quantity(field(), e)),
        }
    }
}

/// The parse of a node selector operator (`In`, `NotIn`, `Exists`,
/// `DoesNotExist`, `Gt`, `Lt`), `None` for anything else.
#[must_use]
pub fn node_selector_operator(op: &str) -> Option<NodeSelectorOperator> {
    Some(match op {
        "In" => NodeSelectorOperator::In,
        "NotIn" => NodeSelectorOperator::NotIn,
        "Exists" => NodeSelectorOperator::Exists,
        "DoesNotExist" => NodeSelectorOperator::DoesNotExist,
        "Gt" => NodeSelectorOperator::Gt,
        "Lt" => NodeSelectorOperator::Lt,
        _ => return None,
    })
}

/// The parse of a label selector operator (`In`, `NotIn`, `Exists`,
/// `DoesNotExist`), `None` for anything else.
#[must_use]
pub fn label_selector_operator(op: &str) -> Option<LabelSelectorOperator> {
    Some(match op {
        "In" => LabelSelectorOperator::In,
        "NotIn" => LabelSelectorOperator::NotIn,
        "Exists" => LabelSelectorOperator::Exists,
        "DoesNotExist" => LabelSelectorOperator::DoesNotExist,
        _ => return None,
    })
}

/// The parse of a taint effect, `None` for anything else.
#[must_use]
pub fn taint_effect(effect: &str) -> Option<TaintEffect> {
    Some(match effect {
        "NoSchedule" => TaintEffect::NoSchedule,
        "PreferNoSchedule" => TaintEffect::PreferNoSchedule,
        "NoExecute" => TaintEffect::NoExecute,
        _ => return None,
    })
}

/// A resource map (`requests`, `limits`, `allocatable`, `overhead`) as a
/// [`ResourceList`]: `cpu` in millicores, everything else rounded up to an
/// integer; keys other than cpu, memory, ephemeral-storage and pods are
/// extended resources (hugepages included). `field` is the path of the map.
fn resource_list(
    ctx: &Ctx,
    field: &str,
    map: &BTreeMap<String, ApiQuantity>,
) -> Result<ResourceList, ConvertError> {
    let mut list = ResourceList::default();
    for (name, value) in map {
        let converted = quantity::parse(&value.0).and_then(|q| {
            if name == "cpu" {
                q.to_milli_ceil()
            } else {
                q.to_int_ceil()
            }
        });
        let v = ctx.amount(|| format!("{field}[{name}]"), converted)?;
        match name.as_str() {
            "cpu" => list.cpu_milli = Some(v),
            "memory" => list.memory = Some(v),
            "ephemeral-storage" => list.ephemeral_storage = Some(v),
            "pods" => list.pods = Some(v),
            _ => list.extended.push((name.clone(), v)),
        }
    }
    Ok(list)
}

/// `requests` with every resource that only `limits` names defaulted to its
/// limit, as the API server's defaulting does. `keep` selects which limit keys
/// may be copied.
fn requests_with_limits(
    requirements: &core::ResourceRequirements,
    keep: impl Fn(&str) -> bool,
) -> BTreeMap<String, ApiQuantity> {
    let mut requests = requirements.requests.clone().unwrap_or_default();
    for (name, limit) in requirements.limits.iter().flatten() {
        if keep(name) && !requests.contains_key(name) {
            requests.insert(name.clone(), limit.clone());
        }
    }
    requests
}

/// Converts a Node.
///
/// Returns the node and warnings (taints with an unknown effect, which are
/// skipped).
///
/// # Errors
/// A missing name, or an allocatable quantity that does not parse, is negative
/// or is too large.
pub fn node_spec(node: &core::Node) -> Result<(NodeSpec, Vec<String>), ConvertError> {
    let name = node.metadata.name.clone().unwrap_or_default();
    let ctx = Ctx::new(format!(
        "node {}",
        if name.is_empty() { "<unnamed>" } else { &name }
    ));
    if name.is_empty() {
        return Err(ctx.invalid("metadata.name", "missing"));
    }
    let mut warnings = Vec::new();
    let spec = node.spec.as_ref();
    let mut taints = Vec::new();
    for (i, t) in spec
        .and_then(|s| s.taints.as_ref())
        .into_iter()
        .flatten()
        .enumerate()
    {
        match taint_effect(&t.effect) {
            Some(effect) => taints.push(Taint {
                key: t.key.clone(),
                value: t.value.clone().unwrap_or_default(),
                effect,
            }),
            None => warnings.push(format!(
                "{}: spec.taints[{i}].effect: unknown effect {:?}; taint {:?} ignored",
                ctx.object, t.effect, t.key
            )),
        }
    }
    let status = node.status.as_ref();
    let allocatable = match status.and_then(|s| s.allocatable.as_ref()) {
        Some(map) => resource_list(&ctx, "status.allocatable", map)?,
        None => ResourceList::default(),
    };
    let images = status
        .and_then(|s| s.images.as_ref())
        .into_iter()
        .flatten()
        .map(|img| NodeImage {
            names: img.names.clone().unwrap_or_default(),
            size_bytes: img
                .size_bytes
                .and_then(|s| u64::try_from(s).ok())
                .unwrap_or(0),
        })
        .collect();
    Ok((
        NodeSpec {
            name,
            labels: node.metadata.labels.clone().unwrap_or_default(),
            taints,
            unschedulable: spec.and_then(|s| s.unschedulable).unwrap_or(false),
            allocatable,
            images,
        },
        warnings,
    ))
}

fn node_selector_requirements(
    ctx: &Ctx,
    field: &str,
    reqs: Option<&Vec<core::NodeSelectorRequirement>>,
) -> Result<Vec<NodeSelectorRequirement>, ConvertError> {
    reqs.into_iter()
        .flatten()
        .enumerate()
        .map(|(i, r)| {
            let operator = node_selector_operator(&r.operator).ok_or_else(|| {
                ctx.invalid(
                    format!("{field}[{i}].operator"),
                    format!("unknown operator {:?}", r.operator),
                )
            })?;
            Ok(NodeSelectorRequirement {
                key: r.key.clone(),
                operator,
                values: r.values.clone().unwrap_or_default(),
            })
        })
        .collect()
}

fn node_selector_term(
    ctx: &Ctx,
    field: &str,
    term: &core::NodeSelectorTerm,
) -> Result<NodeSelectorTerm, ConvertError> {
    Ok(NodeSelectorTerm {
        match_expressions: node_selector_requirements(
            ctx,
            &format!("{field}.matchExpressions"),
            term.match_expressions.as_ref(),
        )?,
        match_fields: node_selector_requirements(
            ctx,
            &format!("{field}.matchFields"),
            term.match_fields.as_ref(),
        )?,
    })
}

fn label_selector(
    ctx: &Ctx,
    field: &str,
    sel: &meta::LabelSelector,
) -> Result<LabelSelector, ConvertError> {
    let match_labels = sel
        .match_labels
        .iter()
        .flatten()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let match_expressions = sel
        .match_expressions
        .iter()
        .flatten()
        .enumerate()
        .map(|(i, r)| {
            let operator = label_selector_operator(&r.operator).ok_or_else(|| {
                ctx.invalid(
                    format!("{field}.matchExpressions[{i}].operator"),
                    format!("unknown operator {:?}", r.operator),
                )
            })?;
            Ok(LabelSelectorRequirement {
                key: r.key.clone(),
                operator,
                values: r.values.clone().unwrap_or_default(),
            })
        })
        .collect::<Result<_, ConvertError>>()?;
    Ok(LabelSelector {
        match_labels,
        match_expressions,
    })
}

/// `spec.topologySpreadConstraints`. The API server validates these
/// (maxSkew ≥ 1, whenUnsatisfiable, policies); a value it would not accept
/// is reported here rather than guessed.
fn topology_spread(
    ctx: &Ctx,
    list: Option<&Vec<core::TopologySpreadConstraint>>,
) -> Result<Vec<TopologySpreadConstraint>, ConvertError> {
    list.into_iter()
        .flatten()
        .enumerate()
        .map(|(i, c)| {
            let field = format!("spec.topologySpreadConstraints[{i}]");
            if c.max_skew < 1 {
                return Err(ctx.invalid(
                    format!("{field}.maxSkew"),
                    format!("must be at least 1, not {}", c.max_skew),
                ));
            }
            let when_unsatisfiable = match c.when_unsatisfiable.as_str() {
                "DoNotSchedule" => WhenUnsatisfiable::DoNotSchedule,
                "ScheduleAnyway" => WhenUnsatisfiable::ScheduleAnyway,
                other => {
                    return Err(ctx.invalid(
                        format!("{field}.whenUnsatisfiable"),
                        format!("unknown value {other:?}"),
                    ));
                }
            };
            let policy = |name: &str, v: Option<&String>| match v.map(String::as_str) {
                None => Ok(None),
                Some("Honor") => Ok(Some(NodeInclusionPolicy::Honor)),
                Some("Ignore") => Ok(Some(NodeInclusionPolicy::Ignore)),
                Some(other) => Err(ctx.invalid(
                    format!("{field}.{name}"),
                    format!("unknown policy {other:?}"),
                )),
            };
            Ok(TopologySpreadConstraint {
                max_skew: c.max_skew,
                topology_key: c.topology_key.clone(),
                when_unsatisfiable,
                label_selector: c
                    .label_selector
                    .as_ref()
                    .map(|s| label_selector(ctx, &format!("{field}.labelSelector"), s))
                    .transpose()?,
                min_domains: c.min_domains,
                node_affinity_policy: policy(
                    "nodeAffinityPolicy",
                    c.node_affinity_policy.as_ref(),
                )?,
                node_taints_policy: policy("nodeTaintsPolicy", c.node_taints_policy.as_ref())?,
                match_label_keys: c.match_label_keys.clone().unwrap_or_default(),
            })
        })
        .collect()
}

fn pod_affinity_term(
    ctx: &Ctx,
    field: &str,
    term: &core::PodAffinityTerm,
) -> Result<PodAffinityTerm, ConvertError> {
    Ok(PodAffinityTerm {
        label_selector: term
            .label_selector
            .as_ref()
            .map(|s| label_selector(ctx, &format!("{field}.labelSelector"), s))
            .transpose()?,
        namespaces: term.namespaces.clone().unwrap_or_default(),
        namespace_selector: term
            .namespace_selector
            .as_ref()
            .map(|s| label_selector(ctx, &format!("{field}.namespaceSelector"), s))
            .transpose()?,
        topology_key: term.topology_key.clone(),
    })
}

fn pod_affinity_rules(
    ctx: &Ctx,
    field: &str,
    required: Option<&Vec<core::PodAffinityTerm>>,
    preferred: Option<&Vec<core::WeightedPodAffinityTerm>>,
) -> Result<PodAffinityRules, ConvertError> {
    let required = required
        .into_iter()
        .flatten()
        .enumerate()
        .map(|(i, t)| {
            pod_affinity_term(
                ctx,
                &format!("{field}.requiredDuringSchedulingIgnoredDuringExecution[{i}]"),
                t,
            )
        })
        .collect::<Result<_, _>>()?;
    let preferred = preferred
        .into_iter()
        .flatten()
        .enumerate()
        .map(|(i, t)| {
            Ok(WeightedPodAffinityTerm {
                weight: t.weight,
                term: pod_affinity_term(
                    ctx,
                    &format!(
                        "{field}.preferredDuringSchedulingIgnoredDuringExecution[{i}].podAffinityTerm"
                    ),
                    &t.pod_affinity_term,
                )?,
            })
        })
        .collect::<Result<_, ConvertError>>()?;
    Ok(PodAffinityRules {
        required,
        preferred,
    })
}

fn toleration(ctx: &Ctx, field: &str, t: &core::Toleration) -> Result<Toleration, ConvertError> {
    let operator = match t.operator.as_deref().unwrap_or("") {
        "" | "Equal" => TolerationOperator::Equal,
        "Exists" => TolerationOperator::Exists,
        "Lt" => TolerationOperator::Lt,
        "Gt" => TolerationOperator::Gt,
        other => {
            return Err(ctx.invalid(
                format!("{field}.operator"),
                format!("unknown operator {other:?}"),
            ));
        }
    };
    let effect = match t.effect.as_deref().unwrap_or("") {
        "" => None,
        e => Some(taint_effect(e).ok_or_else(|| {
            ctx.invalid(format!("{field}.effect"), format!("unknown effect {e:?}"))
        })?),
    };
    Ok(Toleration {
        key: t.key.clone().unwrap_or_default(),
        operator,
        value: t.value.clone().unwrap_or_default(),
        effect,
    })
}

fn container(
    ctx: &Ctx,
    field: &str,
    c: &core::Container,
    init: bool,
) -> Result<Container, ConvertError> {
    let requests = match &c.resources {
        Some(r) => resource_list(
            ctx,
            &format!("{field}.resources.requests"),
            &requests_with_limits(r, |_| true),
        )?,
        None => ResourceList::default(),
    };
    let mut host_ports = Vec::new();
    for (i, p) in c.ports.iter().flatten().enumerate() {
        let Some(port) = p.host_port.filter(|&p| p != 0) else {
            continue;
        };
        let port = u16::try_from(port).ok().filter(|&p| p > 0).ok_or_else(|| {
            ctx.invalid(
                format!("{field}.ports[{i}].hostPort"),
                format!("{port} is not a valid port number"),
            )
        })?;
        let protocol = match p.protocol.as_deref().unwrap_or("") {
            "" | "TCP" => Protocol::Tcp,
            "UDP" => Protocol::Udp,
            "SCTP" => Protocol::Sctp,
            other => {
                return Err(ctx.invalid(
                    format!("{field}.ports[{i}].protocol"),
                    format!("unknown protocol {other:?}"),
                ));
            }
        };
        let ip = match p.host_ip.as_deref() {
            None | Some("") => "0.0.0.0".to_string(),
            Some(ip) => ip.to_string(),
        };
        host_ports.push(HostPort { ip, protocol, port });
    }
    Ok(Container {
        requests,
        image: c.image.clone().unwrap_or_default(),
        host_ports,
        restartable: init && c.restart_policy.as_deref() == Some("Always"),
    })
}

/// The resources pod-level `spec.resources` may name (kube's PodLevelResources).
fn pod_level_resource(name: &str) -> bool {
    name == "cpu" || name == "memory" || name.starts_with("hugepages-")
}

fn time_seconds(t: Option<&meta::Time>) -> Option<i64> {
    t.map(|t| t.0.as_second())
}

/// Converts a Pod.
///
/// # Errors
/// A missing name, an unknown operator (tolerations, affinity selectors), an
/// unknown taint effect or port protocol in the spec, a host port out of
/// range, or a quantity that does not parse, is negative or is too large
/// (above [`quantity::MAX`]).
pub fn pod_spec(pod: &core::Pod) -> Result<PodSpec, ConvertError> {
    convert_pod(pod, false).map(|(spec, _)| spec)
}

/// Converts a pod already bound to a node: as
/// [`pod_spec`], except that a request above [`quantity::MAX`] counts as
/// `MAX` and is reported in the warnings instead of failing. The pod
/// occupies its node whatever its numbers say; not counting it would make
/// the node look emptier than it is.
///
/// # Errors
/// As [`pod_spec`], except for quantities that are only too large.
pub fn assigned_pod_spec(pod: &core::Pod) -> Result<(PodSpec, Vec<String>), ConvertError> {
    convert_pod(pod, true)
}

fn convert_pod(pod: &core::Pod, clamp: bool) -> Result<(PodSpec, Vec<String>), ConvertError> {
    let namespace = pod
        .metadata
        .namespace
        .clone()
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| "default".to_string());
    let name = pod.metadata.name.clone().unwrap_or_default();
    let ctx = Ctx {
        object: format!(
            "pod {namespace}/{}",
            if name.is_empty() { "<unnamed>" } else { &name }
        ),
        clamped: clamp.then(RefCell::default),
    };
    if name.is_empty() {
        return Err(ctx.invalid("metadata.name", "missing"));
    }
    let uid = pod
        .metadata
        .uid
        .clone()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| format!("{namespace}/{name}"));
    let empty = core::PodSpec::default();
    let spec = pod.spec.as_ref().unwrap_or(&empty);

    let node_affinity = spec
        .affinity
        .as_ref()
        .and_then(|a| a.node_affinity.as_ref());
    let na_field = "spec.affinity.nodeAffinity";
    let required_node_affinity = node_affinity
        .and_then(|na| na.required_during_scheduling_ignored_during_execution.as_ref())
        .map(|sel| {
            sel.node_selector_terms
                .iter()
                .enumerate()
                .map(|(i, t)| {
                    node_selector_term(
                        &ctx,
                        &format!(
                            "{na_field}.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[{i}]"
                        ),
                        t,
                    )
                })
                .collect::<Result<Vec<_>, _>>()
        })
        .transpose()?;
    let preferred_node_affinity = node_affinity
        .and_then(|na| {
            na.preferred_during_scheduling_ignored_during_execution
                .as_ref()
        })
        .into_iter()
        .flatten()
        .enumerate()
        .map(|(i, p)| {
            Ok(PreferredSchedulingTerm {
                weight: p.weight,
                preference: node_selector_term(
                    &ctx,
                    &format!(
                        "{na_field}.preferredDuringSchedulingIgnoredDuringExecution[{i}].preference"
                    ),
                    &p.preference,
                )?,
            })
        })
        .collect::<Result<Vec<_>, ConvertError>>()?;

    let tolerations = spec
        .tolerations
        .iter()
        .flatten()
        .enumerate()
        .map(|(i, t)| toleration(&ctx, &format!("spec.tolerations[{i}]"), t))
        .collect::<Result<Vec<_>, _>>()?;

    let affinity = spec.affinity.as_ref();
    let pod_affinity = match affinity.and_then(|a| a.pod_affinity.as_ref()) {
        Some(pa) => pod_affinity_rules(
            &ctx,
            "spec.affinity.podAffinity",
            pa.required_during_scheduling_ignored_during_execution
                .as_ref(),
            pa.preferred_during_scheduling_ignored_during_execution
                .as_ref(),
        )?,
        None => PodAffinityRules::default(),
    };
    let pod_anti_affinity = match affinity.and_then(|a| a.pod_anti_affinity.as_ref()) {
        Some(pa) => pod_affinity_rules(
            &ctx,
            "spec.affinity.podAntiAffinity",
            pa.required_during_scheduling_ignored_during_execution
                .as_ref(),
            pa.preferred_during_scheduling_ignored_during_execution
                .as_ref(),
        )?,
        None => PodAffinityRules::default(),
    };

    let containers = spec
        .containers
        .iter()
        .enumerate()
        .map(|(i, c)| container(&ctx, &format!("spec.containers[{i}]"), c, false))
        .collect::<Result<Vec<_>, _>>()?;
    let init_containers = spec
        .init_containers
        .iter()
        .flatten()
        .enumerate()
        .map(|(i, c)| container(&ctx, &format!("spec.initContainers[{i}]"), c, true))
        .collect::<Result<Vec<_>, _>>()?;
    let overhead = match &spec.overhead {
        Some(map) => resource_list(&ctx, "spec.overhead", map)?,
        None => ResourceList::default(),
    };
    let pod_requests = match &spec.resources {
        Some(r) => {
            let map = requests_with_limits(r, pod_level_resource);
            if map.is_empty() {
                None
            } else {
                Some(resource_list(&ctx, "spec.resources.requests", &map)?)
            }
        }
        None => None,
    };
    let start_time = time_seconds(pod.status.as_ref().and_then(|s| s.start_time.as_ref()))
        .or_else(|| time_seconds(pod.metadata.creation_timestamp.as_ref()))
        .unwrap_or(0);
    // The claims it mounts: persistentVolumeClaim volumes, and the claim a
    // generic ephemeral volume gets (named `<pod>-<volume>`).
    let claims = spec
        .volumes
        .iter()
        .flatten()
        .filter_map(|v| {
            if let Some(pvc) = &v.persistent_volume_claim {
                Some(pvc.claim_name.clone())
            } else {
                v.ephemeral.as_ref().map(|_| format!("{name}-{}", v.name))
            }
        })
        .collect();

    let spec = PodSpec {
        namespace,
        name,
        uid,
        labels: pod.metadata.labels.clone().unwrap_or_default(),
        priority: spec.priority.unwrap_or(0),
        preemption_never: spec.preemption_policy.as_deref() == Some("Never"),
        node_name: spec.node_name.clone().filter(|n| !n.is_empty()),
        node_selector: spec.node_selector.clone().unwrap_or_default(),
        required_node_affinity,
        preferred_node_affinity,
        tolerations,
        pod_affinity,
        pod_anti_affinity,
        containers,
        init_containers,
        overhead,
        pod_requests,
        start_time,
        claims,
        terminating: terminating(pod),
        topology_spread: topology_spread(&ctx, spec.topology_spread_constraints.as_ref())?,
        // Built from Services and owners, which the daemon does not watch
        // (see `explain` for the cluster-file case).
        default_spread_selector: None,
    };
    Ok((
        spec,
        ctx.clamped.map(RefCell::into_inner).unwrap_or_default(),
    ))
}

/// The selector kube's PodTopologySpread gives a pod's default constraints
/// (`helper.DefaultSelector`): the `spec.selector` labels of every Service in
/// the pod's namespace that selects it, merged, plus the selector of the
/// pod's controller when that is a ReplicationController, ReplicaSet or
/// StatefulSet found in `owners`. `None` when that leaves nothing to select
/// (kube then applies no default constraint). The second value names a
/// controller of those kinds that `owners` lacks.
///
/// # Errors
/// An owner's selector with an unknown operator.
pub fn default_spread_selector(
    pod: &core::Pod,
    owners: &crate::cluster_file::SpreadOwners,
) -> Result<(Option<LabelSelector>, Option<String>), ConvertError> {
    let namespace = pod.metadata.namespace.as_deref().unwrap_or("default");
    let pod_labels = pod.metadata.labels.clone().unwrap_or_default();
    let in_namespace =
        |meta: &meta::ObjectMeta| meta.namespace.as_deref().unwrap_or("default") == namespace;
    let mut match_labels: Vec<(String, String)> = Vec::new();
    let mut merge = |set: &std::collections::BTreeMap<String, String>| {
        for (k, v) in set {
            match match_labels.iter_mut().find(|(key, _)| key == k) {
                Some(entry) => entry.1.clone_from(v),
                None => match_labels.push((k.clone(), v.clone())),
            }
        }
    };
    for service in &owners.services {
        let Some(selector) = service.spec.as_ref().and_then(|s| s.selector.as_ref()) else {
            continue;
        };
        if in_namespace(&service.metadata)
            && selector.iter().all(|(k, v)| pod_labels.get(k) == Some(v))
        {
            merge(selector);
        }
    }
    let mut match_expressions = Vec::new();
    let mut missing = None;
    let controller = pod
        .metadata
        .owner_references
        .iter()
        .flatten()
        .find(|o| o.controller == Some(true));
    if let Some(owner) = controller {
        let named = |meta: &meta::ObjectMeta| {
            in_namespace(meta) && meta.name.as_deref() == Some(owner.name.as_str())
        };
        let ctx = Ctx::new(format!("{} {namespace}/{}", owner.kind, owner.name));
        let mut add = |sel: Option<&meta::LabelSelector>| -> Result<(), ConvertError> {
            if let Some(sel) = sel {
                let sel = label_selector(&ctx, "spec.selector", sel)?;
                match_expressions.extend(sel.match_labels.into_iter().map(|(key, value)| {
                    LabelSelectorRequirement {
                        key,
                        operator: LabelSelectorOperator::In,
                        values: vec![value],
                    }
                }));
                match_expressions.extend(sel.match_expressions);
            }
            Ok(())
        };
        match (owner.api_version.as_str(), owner.kind.as_str()) {
            ("v1", "ReplicationController") => {
                match owners
                    .replication_controllers
                    .iter()
                    .find(|rc| named(&rc.metadata))
                {
                    Some(rc) => {
                        if let Some(sel) = rc.spec.as_ref().and_then(|s| s.selector.as_ref()) {
                            merge(sel);
                        }
                    }
                    None => {
                        missing = Some(format!("ReplicationController {namespace}/{}", owner.name))
                    }
                }
            }
            ("apps/v1", "ReplicaSet") => {
                match owners.replica_sets.iter().find(|rs| named(&rs.metadata)) {
                    Some(rs) => add(rs.spec.as_ref().map(|s| &s.selector))?,
                    None => missing = Some(format!("ReplicaSet {namespace}/{}", owner.name)),
                }
            }
            ("apps/v1", "StatefulSet") => {
                match owners.stateful_sets.iter().find(|ss| named(&ss.metadata)) {
                    Some(ss) => add(ss.spec.as_ref().map(|s| &s.selector))?,
                    None => missing = Some(format!("StatefulSet {namespace}/{}", owner.name)),
                }
            }
            _ => {}
        }
    }
    let selector = LabelSelector {
        match_labels,
        match_expressions,
    };
    let empty = selector.match_labels.is_empty() && selector.match_expressions.is_empty();
    Ok(((!empty).then_some(selector), missing))
}

/// Whether a pod is being deleted, and whether a scheduler's preemption is
/// why (kube's `podTerminatingByPreemption`: a deletionTimestamp and the
/// condition DisruptionTarget=True with reason PreemptionByScheduler).
#[must_use]
pub fn terminating(pod: &core::Pod) -> Terminating {
    if pod.metadata.deletion_timestamp.is_none() {
        return Terminating::No;
    }
    let preempted = pod
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|c| c.iter().find(|c| c.type_ == "DisruptionTarget"))
        .is_some_and(|c| {
            c.status == "True" && c.reason.as_deref() == Some("PreemptionByScheduler")
        });
    if preempted {
        Terminating::ByPreemption
    } else {
        Terminating::Yes
    }
}

/// Whether a pod has finished (phase `Succeeded` or `Failed`); such pods
/// occupy nothing on their node.
#[must_use]
pub fn is_terminal(pod: &core::Pod) -> bool {
    matches!(
        pod.status.as_ref().and_then(|s| s.phase.as_deref()),
        Some("Succeeded" | "Failed")
    )
}

/// Why this scheduler must not place a pending pod that converts fine: a
/// feature it would ignore at the pod's expense. Pods already on nodes are
/// counted all the same.
///
/// - `spec.resourceClaims` (dynamic resource allocation): kube's
///   DynamicResources plugin allocates and reserves the claims before
///   binding; binding without that leaves the pod unable to start.
///
/// # Errors
/// The field and what to do, as a [`ConvertError::Invalid`].
pub fn check_schedulable(pod: &core::Pod) -> Result<(), ConvertError> {
    let claims = pod
        .spec
        .as_ref()
        .and_then(|s| s.resource_claims.as_ref())
        .is_some_and(|c| !c.is_empty());
    if claims {
        return Err(ConvertError::Invalid {
            object: format!(
                "pod {}/{}",
                pod.metadata.namespace.as_deref().unwrap_or("default"),
                pod.metadata.name.as_deref().unwrap_or("<unnamed>")
            ),
            field: "spec.resourceClaims".into(),
            message: "dynamic resource allocation is not supported by user-scheduler; \
                      schedule this pod with kube-scheduler"
                .into(),
        });
    }
    Ok(())
}

/// Whether a pod still has scheduling gates (`spec.schedulingGates`), so it
/// must not be scheduled yet.
#[must_use]
pub fn scheduling_gated(pod: &core::Pod) -> bool {
    pod.spec
        .as_ref()
        .and_then(|s| s.scheduling_gates.as_ref())
        .is_some_and(|g| !g.is_empty())
}

/// Labels of an object's metadata, empty when absent.
#[must_use]
pub fn labels_of(meta: &meta::ObjectMeta) -> Labels {
    meta.labels.clone().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(yaml: &str) -> core::Pod {
        serde_yaml_ng::from_str(yaml).expect("test pod YAML")
    }

    fn node(yaml: &str) -> core::Node {
        serde_yaml_ng::from_str(yaml).expect("test node YAML")
    }

    /// Each case's YAML fails to convert, with exactly the error text given.
    fn assert_errors<T: std::fmt::Debug>(
        cases: &[(&str, &str)],
        convert: impl Fn(&str) -> Result<T, ConvertError>,
    ) {
        for &(yaml, want) in cases {
            let err = convert(yaml).unwrap_err();
            assert_eq!(err.to_string(), want);
        }
    }

    const BASE_POD: &str = "
metadata: {name: p, namespace: ns}
spec:
  containers: [{name: c}]
";

    #[test]
    fn node_allocatable_table() {
        // (allocatable YAML, expected ResourceList)
        let cases: Vec<(&str, ResourceList)> = vec![
            (
                "{cpu: '4', memory: 16Gi, ephemeral-storage: 100Gi, pods: '110'}",
                ResourceList {
                    cpu_milli: Some(4000),
                    memory: Some(16 << 30),
                    ephemeral_storage: Some(100 << 30),
                    pods: Some(110),
                    extended: vec![],
                },
            ),
            // 3.5m rounds up to 4m; 1.5 bytes rounds up to 2.
            (
                "{cpu: 3.5m, memory: '1.5'}",
                ResourceList {
                    cpu_milli: Some(4),
                    memory: Some(2),
                    ..ResourceList::default()
                },
            ),
            (
                "{cpu: 3920m, hugepages-2Mi: '0', nvidia.com/gpu: '2'}",
                ResourceList {
                    cpu_milli: Some(3920),
                    extended: vec![("hugepages-2Mi".into(), 0), ("nvidia.com/gpu".into(), 2)],
                    ..ResourceList::default()
                },
            ),
            ("{}", ResourceList::default()),
        ];
        for (alloc, want) in cases {
            let n = node(&format!(
                "metadata: {{name: n1}}\nstatus: {{allocatable: {alloc}}}"
            ));
            let (spec, warnings) = node_spec(&n).unwrap();
            assert_eq!(spec.allocatable, want, "{alloc}");
            assert!(warnings.is_empty());
        }
    }

    #[test]
    fn node_fields() {
        let n = node(
            "
metadata: {name: n1, labels: {a: b}}
spec:
  unschedulable: true
  taints:
  - {key: k1, value: v1, effect: NoSchedule}
  - {key: k2, effect: PreferNoSchedule}
  - {key: k3, effect: Bogus}
  - {key: k4, effect: NoExecute}
status:
  images:
  - {names: [img:1, img@sha256:x], sizeBytes: 1000}
  - {names: [other]}
",
        );
        let (spec, warnings) = node_spec(&n).unwrap();
        assert_eq!(spec.name, "n1");
        assert_eq!(spec.labels.get("a").map(String::as_str), Some("b"));
        assert!(spec.unschedulable);
        assert_eq!(
            spec.taints,
            vec![
                Taint {
                    key: "k1".into(),
                    value: "v1".into(),
                    effect: TaintEffect::NoSchedule
                },
                Taint {
                    key: "k2".into(),
                    value: String::new(),
                    effect: TaintEffect::PreferNoSchedule
                },
                Taint {
                    key: "k4".into(),
                    value: String::new(),
                    effect: TaintEffect::NoExecute
                },
            ]
        );
        assert_eq!(
            warnings,
            vec!["node n1: spec.taints[2].effect: unknown effect \"Bogus\"; taint \"k3\" ignored"]
        );
        assert_eq!(
            spec.images,
            vec![
                NodeImage {
                    names: vec!["img:1".into(), "img@sha256:x".into()],
                    size_bytes: 1000
                },
                NodeImage {
                    names: vec!["other".into()],
                    size_bytes: 0
                },
            ]
        );
    }

    #[test]
    fn node_errors() {
        let cases = [
            (
                "metadata: {name: n1}\nstatus: {allocatable: {cpu: 12x}}",
                "node n1: status.allocatable[cpu]: invalid quantity \"12x\": unknown suffix \"x\"",
            ),
            (
                "metadata: {name: n1}\nstatus: {allocatable: {memory: '-1'}}",
                "node n1: status.allocatable[memory]: quantity \"-1\" is negative",
            ),
            // 2^63 millicores: above kube's int64 maximum.
            (
                "metadata: {name: n1}\nstatus: {allocatable: {cpu: 9223372036854775808m}}",
                "node n1: status.allocatable[cpu]: quantity \"9223372036854775808m\" is too large (above 2^63-1, kube's int64 maximum)",
            ),
            (
                "metadata: {}\nstatus: {}",
                "node <unnamed>: metadata.name: missing",
            ),
        ];
        assert_errors(&cases, |yaml| node_spec(&node(yaml)));
    }

    #[test]
    fn pod_identity_table() {
        // (metadata + spec extra YAML, namespace, uid, priority, never, node, start)
        let cases = [
            (
                "metadata: {name: p}\nspec: {containers: []}",
                "default",
                "default/p",
                0,
                false,
                None,
                0,
            ),
            (
                "metadata: {name: p, namespace: jhub, uid: u-1, creationTimestamp: '1970-01-01T00:01:40Z'}
spec: {containers: [], priority: -10, preemptionPolicy: Never, nodeName: n1}",
                "jhub",
                "u-1",
                -10,
                true,
                Some("n1"),
                100,
            ),
            (
                "metadata: {name: p, creationTimestamp: '1970-01-01T00:01:40Z'}
spec: {containers: [], priority: 5, preemptionPolicy: PreemptLowerPriority}
status: {startTime: '1970-01-01T00:02:00Z'}",
                "default",
                "default/p",
                5,
                false,
                None,
                120,
            ),
        ];
        for (yaml, ns, uid, prio, never, node, start) in cases {
            let p = pod_spec(&pod(yaml)).unwrap();
            assert_eq!(p.namespace, ns, "{yaml}");
            assert_eq!(p.name, "p");
            assert_eq!(p.uid, uid, "{yaml}");
            assert_eq!(p.priority, prio, "{yaml}");
            assert_eq!(p.preemption_never, never, "{yaml}");
            assert_eq!(p.node_name.as_deref(), node, "{yaml}");
            assert_eq!(p.start_time, start, "{yaml}");
        }
    }

    #[test]
    fn container_requests_table() {
        // (resources YAML, expected requests)
        let cases: Vec<(&str, ResourceList)> = vec![
            ("{}", ResourceList::default()),
            (
                "{requests: {cpu: 100m, memory: 1e9}}",
                ResourceList {
                    cpu_milli: Some(100),
                    memory: Some(1_000_000_000),
                    ..ResourceList::default()
                },
            ),
            // Limits only: the API server copies them into requests.
            (
                "{limits: {cpu: '2', nvidia.com/gpu: '1'}}",
                ResourceList {
                    cpu_milli: Some(2000),
                    extended: vec![("nvidia.com/gpu".into(), 1)],
                    ..ResourceList::default()
                },
            ),
            // A request wins over the limit of the same resource; other limits fill in.
            (
                "{requests: {cpu: 500m}, limits: {cpu: '2', memory: 1Gi}}",
                ResourceList {
                    cpu_milli: Some(500),
                    memory: Some(1 << 30),
                    ..ResourceList::default()
                },
            ),
            // An explicit zero stays Some(0).
            (
                "{requests: {cpu: '0', ephemeral-storage: 1Gi}}",
                ResourceList {
                    cpu_milli: Some(0),
                    ephemeral_storage: Some(1 << 30),
                    ..ResourceList::default()
                },
            ),
        ];
        for (res, want) in cases {
            let p = pod(&format!(
                "metadata: {{name: p}}\nspec: {{containers: [{{name: c, image: i, resources: {res}}}]}}"
            ));
            let spec = pod_spec(&p).unwrap();
            assert_eq!(spec.containers[0].requests, want, "{res}");
            assert_eq!(spec.containers[0].image, "i");
        }
    }

    #[test]
    fn init_containers_overhead_and_pod_level() {
        let p = pod("
metadata: {name: p}
spec:
  containers: [{name: c}]
  initContainers:
  - {name: i1, resources: {requests: {cpu: '1'}}}
  - {name: i2, restartPolicy: Always, resources: {requests: {memory: 1Mi}}}
  overhead: {cpu: 250m}
  resources: {requests: {cpu: '3'}, limits: {memory: 2Gi, nvidia.com/gpu: '1'}}
");
        let spec = pod_spec(&p).unwrap();
        assert_eq!(spec.init_containers.len(), 2);
        assert!(!spec.init_containers[0].restartable);
        assert!(spec.init_containers[1].restartable);
        assert_eq!(spec.init_containers[0].requests.cpu_milli, Some(1000));
        assert_eq!(spec.init_containers[1].requests.memory, Some(1 << 20));
        assert_eq!(spec.overhead.cpu_milli, Some(250));
        // Pod-level limits default pod-level requests only for cpu, memory, hugepages.
        assert_eq!(
            spec.pod_requests,
            Some(ResourceList {
                cpu_milli: Some(3000),
                memory: Some(2 << 30),
                ..ResourceList::default()
            })
        );
        assert_eq!(pod_spec(&pod(BASE_POD)).unwrap().pod_requests, None);
    }

    #[test]
    fn host_ports_table() {
        // (ports YAML, expected host ports)
        let cases: Vec<(&str, Vec<HostPort>)> = vec![
            ("[{containerPort: 80}]", vec![]),
            ("[{containerPort: 80, hostPort: 0}]", vec![]),
            (
                "[{containerPort: 80, hostPort: 8080}]",
                vec![HostPort {
                    ip: "0.0.0.0".into(),
                    protocol: Protocol::Tcp,
                    port: 8080,
                }],
            ),
            (
                "[{containerPort: 53, hostPort: 53, protocol: UDP, hostIP: 10.0.0.1}, {containerPort: 9, hostPort: 9, protocol: SCTP, hostIP: ''}]",
                vec![
                    HostPort {
                        ip: "10.0.0.1".into(),
                        protocol: Protocol::Udp,
                        port: 53,
                    },
                    HostPort {
                        ip: "0.0.0.0".into(),
                        protocol: Protocol::Sctp,
                        port: 9,
                    },
                ],
            ),
        ];
        for (ports, want) in cases {
            let p = pod(&format!(
                "metadata: {{name: p}}\nspec: {{containers: [{{name: c, ports: {ports}}}]}}"
            ));
            assert_eq!(
                pod_spec(&p).unwrap().containers[0].host_ports,
                want,
                "{ports}"
            );
        }
    }

    #[test]
    fn tolerations_table() {
        // (toleration YAML, expected)
        let cases = [
            (
                "{key: k, value: v, effect: NoSchedule}",
                Toleration {
                    key: "k".into(),
                    operator: TolerationOperator::Equal,
                    value: "v".into(),
                    effect: Some(TaintEffect::NoSchedule),
                },
            ),
            (
                "{key: k, operator: Equal, value: v}",
                Toleration {
                    key: "k".into(),
                    operator: TolerationOperator::Equal,
                    value: "v".into(),
                    effect: None,
                },
            ),
            (
                "{operator: Exists}",
                Toleration {
                    key: String::new(),
                    operator: TolerationOperator::Exists,
                    value: String::new(),
                    effect: None,
                },
            ),
            (
                "{key: k, operator: Lt, value: '5', effect: NoExecute}",
                Toleration {
                    key: "k".into(),
                    operator: TolerationOperator::Lt,
                    value: "5".into(),
                    effect: Some(TaintEffect::NoExecute),
                },
            ),
            (
                "{key: k, operator: Gt, value: '5', effect: PreferNoSchedule}",
                Toleration {
                    key: "k".into(),
                    operator: TolerationOperator::Gt,
                    value: "5".into(),
                    effect: Some(TaintEffect::PreferNoSchedule),
                },
            ),
        ];
        for (tol, want) in cases {
            let p = pod(&format!(
                "metadata: {{name: p}}\nspec: {{containers: [], tolerations: [{tol}]}}"
            ));
            assert_eq!(pod_spec(&p).unwrap().tolerations, vec![want], "{tol}");
        }
    }

    #[test]
    fn node_affinity_and_selector() {
        let p = pod("
metadata: {name: p}
spec:
  containers: []
  nodeSelector: {disk: ssd}
  affinity:
    nodeAffinity:
      requiredDuringSchedulingIgnoredDuringExecution:
        nodeSelectorTerms:
        - matchExpressions:
          - {key: a, operator: In, values: [x, y]}
          - {key: b, operator: NotIn, values: [z]}
          - {key: c, operator: Exists}
        - matchExpressions:
          - {key: d, operator: DoesNotExist}
          - {key: e, operator: Gt, values: ['3']}
          - {key: f, operator: Lt, values: ['9']}
          matchFields:
          - {key: metadata.name, operator: In, values: [n1]}
      preferredDuringSchedulingIgnoredDuringExecution:
      - weight: 100
        preference:
          matchExpressions:
          - {key: hub.jupyter.org/node-purpose, operator: In, values: [user]}
");
        let spec = pod_spec(&p).unwrap();
        assert_eq!(
            spec.node_selector.get("disk").map(String::as_str),
            Some("ssd")
        );
        let req = |key: &str, operator, values: &[&str]| NodeSelectorRequirement {
            key: key.into(),
            operator,
            values: values.iter().map(|s| s.to_string()).collect(),
        };
        use NodeSelectorOperator as Op;
        assert_eq!(
            spec.required_node_affinity,
            Some(vec![
                NodeSelectorTerm {
                    match_expressions: vec![
                        req("a", Op::In, &["x", "y"]),
                        req("b", Op::NotIn, &["z"]),
                        req("c", Op::Exists, &[]),
                    ],
                    match_fields: vec![],
                },
                NodeSelectorTerm {
                    match_expressions: vec![
                        req("d", Op::DoesNotExist, &[]),
                        req("e", Op::Gt, &["3"]),
                        req("f", Op::Lt, &["9"]),
                    ],
                    match_fields: vec![req("metadata.name", Op::In, &["n1"])],
                },
            ])
        );
        assert_eq!(
            spec.preferred_node_affinity,
            vec![PreferredSchedulingTerm {
                weight: 100,
                preference: NodeSelectorTerm {
                    match_expressions: vec![req("hub.jupyter.org/node-purpose", Op::In, &["user"])],
                    match_fields: vec![],
                },
            }]
        );
        // No affinity at all: None, not Some(empty).
        assert_eq!(
            pod_spec(&pod(BASE_POD)).unwrap().required_node_affinity,
            None
        );
    }

    #[test]
    fn pod_affinity_terms() {
        let p = pod("
metadata: {name: p, namespace: jhub}
spec:
  containers: []
  affinity:
    podAffinity:
      requiredDuringSchedulingIgnoredDuringExecution:
      - labelSelector: {matchLabels: {app: db}}
        topologyKey: kubernetes.io/hostname
      preferredDuringSchedulingIgnoredDuringExecution:
      - weight: 50
        podAffinityTerm:
          labelSelector:
            matchExpressions:
            - {key: component, operator: In, values: [singleuser-server]}
          namespaces: [jhub, other]
          topologyKey: topology.kubernetes.io/zone
    podAntiAffinity:
      requiredDuringSchedulingIgnoredDuringExecution:
      - namespaceSelector: {}
        topologyKey: kubernetes.io/hostname
");
        let spec = pod_spec(&p).unwrap();
        assert_eq!(
            spec.pod_affinity.required,
            vec![PodAffinityTerm {
                label_selector: Some(LabelSelector::equals("app", "db")),
                namespaces: vec![],
                namespace_selector: None,
                topology_key: "kubernetes.io/hostname".into(),
            }]
        );
        assert_eq!(
            spec.pod_affinity.preferred,
            vec![WeightedPodAffinityTerm {
                weight: 50,
                term: PodAffinityTerm {
                    label_selector: Some(LabelSelector {
                        match_labels: vec![],
                        match_expressions: vec![LabelSelectorRequirement {
                            key: "component".into(),
                            operator: LabelSelectorOperator::In,
                            values: vec!["singleuser-server".into()],
                        }],
                    }),
                    namespaces: vec!["jhub".into(), "other".into()],
                    namespace_selector: None,
                    topology_key: "topology.kubernetes.io/zone".into(),
                },
            }]
        );
        assert_eq!(
            spec.pod_anti_affinity.required,
            vec![PodAffinityTerm {
                label_selector: None,
                namespaces: vec![],
                namespace_selector: Some(LabelSelector::default()),
                topology_key: "kubernetes.io/hostname".into(),
            }]
        );
        assert!(spec.pod_anti_affinity.preferred.is_empty());
    }

    #[test]
    fn topology_spread_constraints() {
        let p = pod_spec(&pod("metadata: {name: p, namespace: ns, labels: {app: x}}
spec:
  containers: [{name: c}]
  topologySpreadConstraints:
  - {maxSkew: 1, topologyKey: topology.kubernetes.io/zone, whenUnsatisfiable: DoNotSchedule, labelSelector: {matchLabels: {app: x}}, minDomains: 2, nodeAffinityPolicy: Ignore, nodeTaintsPolicy: Honor, matchLabelKeys: [pod-template-hash]}
  - {maxSkew: 3, topologyKey: kubernetes.io/hostname, whenUnsatisfiable: ScheduleAnyway}
"))
        .unwrap();
        assert_eq!(
            p.topology_spread,
            vec![
                TopologySpreadConstraint {
                    max_skew: 1,
                    topology_key: "topology.kubernetes.io/zone".into(),
                    when_unsatisfiable: WhenUnsatisfiable::DoNotSchedule,
                    label_selector: Some(LabelSelector::equals("app", "x")),
                    min_domains: Some(2),
                    node_affinity_policy: Some(NodeInclusionPolicy::Ignore),
                    node_taints_policy: Some(NodeInclusionPolicy::Honor),
                    match_label_keys: vec!["pod-template-hash".into()],
                },
                TopologySpreadConstraint {
                    max_skew: 3,
                    topology_key: "kubernetes.io/hostname".into(),
                    when_unsatisfiable: WhenUnsatisfiable::ScheduleAnyway,
                    label_selector: None,
                    min_domains: None,
                    node_affinity_policy: None,
                    node_taints_policy: None,
                    match_label_keys: vec![],
                },
            ]
        );
        // The daemon does not know the pod's Services and owners.
        assert_eq!(p.default_spread_selector, None);
    }

    #[test]
    fn default_spread_selectors_come_from_services_and_the_controller() {
        use crate::cluster_file::SpreadOwners;
        let owners = SpreadOwners {
            services: vec![
                serde_yaml_ng::from_str("metadata: {name: web, namespace: ns}\nspec: {selector: {app: web}}").unwrap(),
                // Another namespace, no selector, or not matching: ignored.
                serde_yaml_ng::from_str("metadata: {name: x, namespace: other}\nspec: {selector: {app: web}}").unwrap(),
                serde_yaml_ng::from_str("metadata: {name: y, namespace: ns}\nspec: {}").unwrap(),
                serde_yaml_ng::from_str("metadata: {name: z, namespace: ns}\nspec: {selector: {app: db}}").unwrap(),
            ],
            stateful_sets: vec![serde_yaml_ng::from_str(
                "metadata: {name: ss, namespace: ns}\nspec: {serviceName: s, selector: {matchLabels: {app: web}, matchExpressions: [{key: tier, operator: Exists}]}, template: {}}",
            )
            .unwrap()],
            ..SpreadOwners::default()
        };
        let with_owner = |kind: &str, name: &str| {
            pod(&format!(
                "metadata:
  name: p
  namespace: ns
  labels: {{app: web, tier: a}}
  ownerReferences: [{{apiVersion: apps/v1, kind: {kind}, name: {name}, uid: u, controller: true}}]
spec: {{containers: [{{name: c}}]}}"
            ))
        };
        let (sel, missing) =
            default_spread_selector(&with_owner("StatefulSet", "ss"), &owners).unwrap();
        let exists = LabelSelectorRequirement {
            key: "tier".into(),
            operator: LabelSelectorOperator::Exists,
            values: vec![],
        };
        let app_in = LabelSelectorRequirement {
            key: "app".into(),
            operator: LabelSelectorOperator::In,
            values: vec!["web".into()],
        };
        assert_eq!(
            sel,
            Some(LabelSelector {
                match_labels: vec![("app".into(), "web".into())],
                match_expressions: vec![app_in, exists],
            })
        );
        assert_eq!(missing, None);
        // A ReplicaSet the file lacks: the Service's selector alone, and
        // the missing owner named.
        let (sel, missing) =
            default_spread_selector(&with_owner("ReplicaSet", "rs"), &owners).unwrap();
        assert_eq!(sel, Some(LabelSelector::equals("app", "web")));
        assert_eq!(missing.as_deref(), Some("ReplicaSet ns/rs"));
        // Nothing selects a bare pod in another namespace: no selector.
        let bare = pod(
            "metadata: {name: p, namespace: other2, labels: {app: web}}\nspec: {containers: [{name: c}]}",
        );
        assert_eq!(
            default_spread_selector(&bare, &owners).unwrap(),
            (None, None)
        );
    }

    #[test]
    fn pod_errors_name_the_field() {
        let cases = [
            (
                "metadata: {name: jupyter-alice, namespace: jhub}
spec: {containers: [{name: c, resources: {requests: {cpu: 12x}}}]}",
                "pod jhub/jupyter-alice: spec.containers[0].resources.requests[cpu]: invalid quantity \"12x\": unknown suffix \"x\"",
            ),
            (
                "metadata: {name: p}
spec: {containers: [{name: a}, {name: c, resources: {limits: {memory: 1Gx}}}]}",
                "pod default/p: spec.containers[1].resources.requests[memory]: invalid quantity \"1Gx\": unknown suffix \"Gx\"",
            ),
            (
                "metadata: {name: p}
spec: {containers: [], initContainers: [{name: i, resources: {requests: {cpu: '-1'}}}]}",
                "pod default/p: spec.initContainers[0].resources.requests[cpu]: quantity \"-1\" is negative",
            ),
            // 10^19 bytes > 2^63 − 1 ≈ 9.2 × 10^18.
            (
                "metadata: {name: p}\nspec: {containers: [{name: c, resources: {requests: {memory: 10E}}}]}",
                "pod default/p: spec.containers[0].resources.requests[memory]: quantity \"10E\" is too large (above 2^63-1, kube's int64 maximum)",
            ),
            (
                "metadata: {name: p}\nspec: {containers: [], overhead: {cpu: abc}}",
                "pod default/p: spec.overhead[cpu]: invalid quantity \"abc\": expected a number",
            ),
            (
                "metadata: {name: p}\nspec: {containers: [], tolerations: [{key: k}, {key: k, operator: Like}]}",
                "pod default/p: spec.tolerations[1].operator: unknown operator \"Like\"",
            ),
            (
                "metadata: {name: p}\nspec: {containers: [], topologySpreadConstraints: [{maxSkew: 1, topologyKey: z, whenUnsatisfiable: Maybe}]}",
                "pod default/p: spec.topologySpreadConstraints[0].whenUnsatisfiable: unknown value \"Maybe\"",
            ),
            (
                "metadata: {name: p}\nspec: {containers: [], topologySpreadConstraints: [{maxSkew: 0, topologyKey: z, whenUnsatisfiable: DoNotSchedule}]}",
                "pod default/p: spec.topologySpreadConstraints[0].maxSkew: must be at least 1, not 0",
            ),
            (
                "metadata: {name: p}\nspec: {containers: [], topologySpreadConstraints: [{maxSkew: 1, topologyKey: z, whenUnsatisfiable: DoNotSchedule, nodeTaintsPolicy: Maybe}]}",
                "pod default/p: spec.topologySpreadConstraints[0].nodeTaintsPolicy: unknown policy \"Maybe\"",
            ),
            (
                "metadata: {name: p}\nspec: {containers: [], tolerations: [{key: k, effect: Sometimes}]}",
                "pod default/p: spec.tolerations[0].effect: unknown effect \"Sometimes\"",
            ),
            (
                "metadata: {name: p}
spec:
  containers: []
  affinity: {nodeAffinity: {requiredDuringSchedulingIgnoredDuringExecution: {nodeSelectorTerms: [{matchExpressions: [{key: a, operator: Has}]}]}}}",
                "pod default/p: spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].operator: unknown operator \"Has\"",
            ),
            (
                "metadata: {name: p}
spec:
  containers: []
  affinity: {podAntiAffinity: {requiredDuringSchedulingIgnoredDuringExecution: [{topologyKey: h, labelSelector: {matchExpressions: [{key: a, operator: Gt}]}}]}}",
                "pod default/p: spec.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution[0].labelSelector.matchExpressions[0].operator: unknown operator \"Gt\"",
            ),
            (
                "metadata: {name: p}\nspec: {containers: [{name: c, ports: [{containerPort: 1, hostPort: 70000}]}]}",
                "pod default/p: spec.containers[0].ports[0].hostPort: 70000 is not a valid port number",
            ),
            (
                "metadata: {name: p}\nspec: {containers: [{name: c, ports: [{containerPort: 1, hostPort: 7, protocol: QUIC}]}]}",
                "pod default/p: spec.containers[0].ports[0].protocol: unknown protocol \"QUIC\"",
            ),
            (
                "metadata: {namespace: x}\nspec: {containers: []}",
                "pod x/<unnamed>: metadata.name: missing",
            ),
        ];
        assert_errors(&cases, |yaml| pod_spec(&pod(yaml)));
    }

    #[test]
    fn assigned_pods_count_too_large_requests_as_the_maximum() {
        // Requests kube-scheduler's int64 arithmetic cannot hold: a pending
        // pod is rejected (above), a pod already on a node counts as
        // 2^63 − 1 so that its node looks full.
        let p = pod("
metadata: {name: big, namespace: ns}
spec:
  nodeName: n1
  containers:
  - name: c
    resources: {requests: {cpu: 9223372036854775808m, memory: 8Ei, nvidia.com/gpu: '1e30'}}
");
        assert!(pod_spec(&p).is_err());
        let (spec, warnings) = assigned_pod_spec(&p).unwrap();
        let requests = &spec.containers[0].requests;
        assert_eq!(requests.cpu_milli, Some(quantity::MAX));
        // 8Ei = 2^63 is capped at 2^63 − 1 when parsed, as kube caps it: no warning.
        assert_eq!(requests.memory, Some(quantity::MAX));
        assert_eq!(requests.extended("nvidia.com/gpu"), quantity::MAX);
        assert_eq!(
            warnings,
            vec![
                "pod ns/big: spec.containers[0].resources.requests[cpu]: quantity \"9223372036854775808m\" is too large (above 2^63-1, kube's int64 maximum); counted as 9223372036854775807",
                "pod ns/big: spec.containers[0].resources.requests[nvidia.com/gpu]: quantity \"1e30\" is too large (above 2^63-1, kube's int64 maximum); counted as 9223372036854775807",
            ]
        );
        // Other errors stay errors.
        let bad = pod(
            "metadata: {name: p}\nspec: {nodeName: n1, containers: [{name: c, resources: {requests: {cpu: 12x}}}]}",
        );
        assert!(assigned_pod_spec(&bad).is_err());
    }

    #[test]
    fn terminating_table() {
        // kube's podTerminatingByPreemption: a deletionTimestamp and the
        // condition DisruptionTarget=True, reason PreemptionByScheduler.
        let deleting = "deletionTimestamp: '2025-01-01T00:00:00Z'";
        let condition = |status: &str, reason: &str| {
            format!(
                "status: {{conditions: [{{type: DisruptionTarget, status: '{status}', reason: {reason}}}]}}"
            )
        };
        let preempted = condition("True", "PreemptionByScheduler");
        let cases = [
            ("", String::new(), Terminating::No),
            (deleting, String::new(), Terminating::Yes),
            (deleting, preempted.clone(), Terminating::ByPreemption),
            // Evicted through the API, or a condition not (yet) true: deleted
            // for another reason.
            (
                deleting,
                condition("True", "EvictionByEvictionAPI"),
                Terminating::Yes,
            ),
            (
                deleting,
                condition("False", "PreemptionByScheduler"),
                Terminating::Yes,
            ),
            // Marked but not deleted (yet): not terminating.
            ("", preempted, Terminating::No),
        ];
        for (meta, status, want) in cases {
            let p = pod(&format!(
                "metadata: {{name: p, {meta}}}\nspec: {{containers: []}}\n{status}"
            ));
            assert_eq!(terminating(&p), want, "{meta} {status}");
            assert_eq!(pod_spec(&p).unwrap().terminating, want);
        }
    }

    #[test]
    fn terminal_and_gated_table() {
        // (YAML, terminal, gated)
        let cases = [
            (BASE_POD.to_string(), false, false),
            (
                format!("{BASE_POD}status: {{phase: Running}}"),
                false,
                false,
            ),
            (
                format!("{BASE_POD}status: {{phase: Succeeded}}"),
                true,
                false,
            ),
            (format!("{BASE_POD}status: {{phase: Failed}}"), true, false),
            (
                "metadata: {name: p}\nspec: {containers: [], schedulingGates: [{name: g}]}"
                    .to_string(),
                false,
                true,
            ),
            (
                "metadata: {name: p}\nspec: {containers: [], schedulingGates: []}".to_string(),
                false,
                false,
            ),
        ];
        for (yaml, terminal, gated) in cases {
            let p = pod(&yaml);
            assert_eq!(is_terminal(&p), terminal, "{yaml}");
            assert_eq!(scheduling_gated(&p), gated, "{yaml}");
        }
    }

    #[test]
    fn pods_with_resource_claims_convert_but_are_not_schedulable() {
        let claims = pod(
            "metadata: {name: p, namespace: hub}\nspec: {containers: [{name: c}], resourceClaims: [{name: gpu, resourceClaimTemplateName: one-gpu}]}",
        );
        // Counted where it runs...
        assert!(pod_spec(&claims).is_ok());
        // ...but not placed by us.
        assert_eq!(
            check_schedulable(&claims).unwrap_err().to_string(),
            "pod hub/p: spec.resourceClaims: dynamic resource allocation is not supported by \
             user-scheduler; schedule this pod with kube-scheduler"
        );
        let none = pod("metadata: {name: p}\nspec: {containers: [{name: c}], resourceClaims: []}");
        assert!(check_schedulable(&none).is_ok());
    }
}

/// Converts a PodDisruptionBudget into what preemption counts: its selector,
/// `status.disruptionsAllowed` (0 when the status is missing, as a budget the
/// disruption controller has not processed yet allows nothing) and
/// `status.disruptedPods`.
///
/// # Errors
/// A selector with an unknown operator.
pub fn pdb(
    pdb: &k8s_openapi::api::policy::v1::PodDisruptionBudget,
) -> Result<score::Pdb, ConvertError> {
    let namespace = pdb
        .metadata
        .namespace
        .clone()
        .unwrap_or_else(|| "default".into());
    let name = pdb.metadata.name.clone().unwrap_or_default();
    let ctx = Ctx::new(format!("poddisruptionbudget {namespace}/{name}"));
    let selector = pdb
        .spec
        .as_ref()
        .and_then(|s| s.selector.as_ref())
        .map(|s| label_selector(&ctx, "spec.selector", s))
        .transpose()?;
    let status = pdb.status.as_ref();
    Ok(score::Pdb {
        namespace,
        name,
        selector,
        disruptions_allowed: status.map_or(0, |s| s.disruptions_allowed),
        disrupted_pods: status
            .and_then(|s| s.disrupted_pods.as_ref())
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default(),
    })
}

#[cfg(test)]
mod pdb_tests {
    use super::*;

    #[test]
    fn pdbs_convert_with_their_status() {
        let p: k8s_openapi::api::policy::v1::PodDisruptionBudget = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "user-placeholder", "namespace": "jhub"},
            "spec": {"minAvailable": 0, "selector": {"matchLabels": {"component": "user-placeholder"}}},
            "status": {"disruptionsAllowed": 3, "currentHealthy": 3, "desiredHealthy": 0, "expectedPods": 3,
                       "disruptedPods": {"user-placeholder-0": "2026-11-24T10:00:00Z"}}
        }))
        .unwrap();
        let got = pdb(&p).unwrap();
        assert_eq!(got.disruptions_allowed, 3);
        assert_eq!(got.disrupted_pods, vec!["user-placeholder-0".to_string()]);
        assert_eq!(
            got.selector,
            Some(score::model::LabelSelector::equals(
                "component",
                "user-placeholder"
            ))
        );
        let bad: k8s_openapi::api::policy::v1::PodDisruptionBudget =
            serde_json::from_value(serde_json::json!({
                "metadata": {"name": "x", "namespace": "jhub"},
                "spec": {"selector": {"matchExpressions": [{"key": "a", "operator": "Near"}]}}
            }))
            .unwrap();
        let err = pdb(&bad).unwrap_err().to_string();
        assert!(
            err.contains("poddisruptionbudget jhub/x")
                && err.contains("spec.selector.matchExpressions[0].operator"),
            "{err}"
        );
    }
}

// === storage ===

fn access_modes(modes: Option<&Vec<String>>) -> Vec<score::volumes::AccessMode> {
    use score::volumes::AccessMode;
    modes
        .into_iter()
        .flatten()
        .filter_map(|m| match m.as_str() {
            "ReadWriteOnce" => Some(AccessMode::ReadWriteOnce),
            "ReadOnlyMany" => Some(AccessMode::ReadOnlyMany),
            "ReadWriteMany" => Some(AccessMode::ReadWriteMany),
            "ReadWriteOncePod" => Some(AccessMode::ReadWriteOncePod),
            _ => None,
        })
        .collect()
}

fn storage_bytes(
    ctx: &Ctx,
    field: &str,
    map: Option<&BTreeMap<String, ApiQuantity>>,
) -> Result<u64, ConvertError> {
    match map.and_then(|m| m.get("storage")) {
        Some(q) => {
            let err = |e| ctx.quantity(format!("{field}[storage]"), e);
            quantity::parse(&q.0)
                .map_err(err)?
                .to_int_ceil()
                .map_err(err)
        }
        None => Ok(0),
    }
}

/// Converts a PersistentVolumeClaim.
///
/// # Errors
/// A storage request that is not a valid quantity.
pub fn claim(pvc: &core::PersistentVolumeClaim) -> Result<score::volumes::Claim, ConvertError> {
    let namespace = pvc
        .metadata
        .namespace
        .clone()
        .unwrap_or_else(|| "default".into());
    let name = pvc.metadata.name.clone().unwrap_or_default();
    let ctx = Ctx::new(format!("persistentvolumeclaim {namespace}/{name}"));
    let annotations = pvc.metadata.annotations.as_ref();
    let spec = pvc.spec.as_ref();
    Ok(score::volumes::Claim {
        storage_class: spec.and_then(|s| s.storage_class_name.clone()),
        volume_name: spec
            .and_then(|s| s.volume_name.clone())
            .filter(|v| !v.is_empty()),
        bind_completed: annotations
            .is_some_and(|a| a.contains_key("pv.kubernetes.io/bind-completed")),
        request_bytes: storage_bytes(
            &ctx,
            "spec.resources.requests",
            spec.and_then(|s| s.resources.as_ref())
                .and_then(|r| r.requests.as_ref()),
        )?,
        access_modes: access_modes(spec.and_then(|s| s.access_modes.as_ref())),
        selected_node: annotations
            .and_then(|a| a.get("volume.kubernetes.io/selected-node").cloned()),
        namespace,
        name,
    })
}

/// Converts a PersistentVolume.
///
/// # Errors
/// A capacity that is not a valid quantity, or a node affinity with an
/// unknown operator.
pub fn volume(pv: &core::PersistentVolume) -> Result<score::volumes::Volume, ConvertError> {
    let name = pv.metadata.name.clone().unwrap_or_default();
    let ctx = Ctx::new(format!("persistentvolume {name}"));
    let spec = pv.spec.as_ref();
    let node_affinity = spec
        .and_then(|s| s.node_affinity.as_ref())
        .and_then(|a| a.required.as_ref())
        .map(|r| {
            r.node_selector_terms
                .iter()
                .enumerate()
                .map(|(i, t)| {
                    node_selector_term(
                        &ctx,
                        &format!("spec.nodeAffinity.required.nodeSelectorTerms[{i}]"),
                        t,
                    )
                })
                .collect::<Result<Vec<_>, _>>()
        })
        .transpose()?;
    let csi = spec.and_then(|s| s.csi.as_ref());
    Ok(score::volumes::Volume {
        storage_class: spec
            .and_then(|s| s.storage_class_name.clone())
            .unwrap_or_default(),
        capacity_bytes: storage_bytes(
            &ctx,
            "spec.capacity",
            spec.and_then(|s| s.capacity.as_ref()),
        )?,
        access_modes: access_modes(spec.and_then(|s| s.access_modes.as_ref())),
        node_affinity,
        claim_ref: spec.and_then(|s| s.claim_ref.as_ref()).map(|r| {
            (
                r.namespace.clone().unwrap_or_default(),
                r.name.clone().unwrap_or_default(),
            )
        }),
        available: pv.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Available"),
        labels: labels_of(&pv.metadata),
        csi_driver: csi.map(|c| c.driver.clone()),
        handle: csi.map(|c| c.volume_handle.clone()),
        name,
    })
}

/// Converts a StorageClass (`allowedTopologies` become node selector terms).
#[must_use]
pub fn storage_class(
    sc: &k8s_openapi::api::storage::v1::StorageClass,
) -> score::volumes::StorageClass {
    use score::model::{NodeSelectorRequirement, NodeSelectorTerm};
    score::volumes::StorageClass {
        name: sc.metadata.name.clone().unwrap_or_default(),
        provisioner: sc.provisioner.clone(),
        binding_mode: if sc.volume_binding_mode.as_deref() == Some("WaitForFirstConsumer") {
            score::volumes::BindingMode::WaitForFirstConsumer
        } else {
            score::volumes::BindingMode::Immediate
        },
        allowed_topologies: sc
            .allowed_topologies
            .iter()
            .flatten()
            .map(|t| NodeSelectorTerm {
                match_expressions: t
                    .match_label_expressions
                    .iter()
                    .flatten()
                    .map(|r| NodeSelectorRequirement {
                        key: r.key.clone(),
                        operator: NodeSelectorOperator::In,
                        values: r.values.clone(),
                    })
                    .collect(),
                match_fields: Vec::new(),
            })
            .collect(),
    }
}

/// A CSINode's node name and attach limits per driver (drivers without a
/// count are unlimited and left out).
#[must_use]
pub fn csi_limits(node: &k8s_openapi::api::storage::v1::CSINode) -> (String, Vec<(String, u64)>) {
    let limits = node
        .spec
        .drivers
        .iter()
        .filter_map(|d| {
            let count = d.allocatable.as_ref()?.count?;
            Some((d.name.clone(), u64::try_from(count).unwrap_or(0)))
        })
        .collect();
    (node.metadata.name.clone().unwrap_or_default(), limits)
}

/// Converts a CSIDriver: its name and whether it publishes storage capacity
/// (`spec.storageCapacity`).
#[must_use]
pub fn csi_driver(driver: &k8s_openapi::api::storage::v1::CSIDriver) -> (String, bool) {
    (
        driver.metadata.name.clone().unwrap_or_default(),
        driver.spec.storage_capacity == Some(true),
    )
}

/// Converts a CSIStorageCapacity.
///
/// # Errors
/// A capacity or maximum volume size that is not a valid quantity, or a node
/// topology selector with an unknown operator.
pub fn storage_capacity(
    c: &k8s_openapi::api::storage::v1::CSIStorageCapacity,
) -> Result<score::volumes::StorageCapacity, ConvertError> {
    let ctx = Ctx::new(format!(
        "csistoragecapacity {}/{}",
        c.metadata.namespace.as_deref().unwrap_or_default(),
        c.metadata.name.as_deref().unwrap_or_default()
    ));
    let bytes = |field: &str, q: Option<&ApiQuantity>| -> Result<Option<u64>, ConvertError> {
        q.map(|q| {
            let err = |e| ctx.quantity(field.to_string(), e);
            quantity::parse(&q.0)
                .map_err(err)?
                .to_int_ceil()
                .map_err(err)
        })
        .transpose()
    };
    Ok(score::volumes::StorageCapacity {
        storage_class: c.storage_class_name.clone(),
        node_topology: c
            .node_topology
            .as_ref()
            .map(|sel| label_selector(&ctx, "nodeTopology", sel))
            .transpose()?,
        capacity: bytes("capacity", c.capacity.as_ref())?,
        maximum_volume_size: bytes("maximumVolumeSize", c.maximum_volume_size.as_ref())?,
    })
}

#[cfg(test)]
mod storage_tests {
    use super::*;

    #[test]
    fn csi_drivers_and_storage_capacities_convert() {
        use k8s_openapi::api::storage::v1::{CSIDriver, CSIStorageCapacity};
        let d: CSIDriver = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "pd.csi.storage.gke.io"},
            "spec": {"storageCapacity": true}
        }))
        .unwrap();
        assert_eq!(csi_driver(&d), ("pd.csi.storage.gke.io".into(), true));
        let plain: CSIDriver =
            serde_json::from_value(serde_json::json!({"metadata": {"name": "x"}, "spec": {}}))
                .unwrap();
        assert_eq!(csi_driver(&plain), ("x".into(), false));
        let c: CSIStorageCapacity = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "cap-a", "namespace": "kube-system"},
            "storageClassName": "standard-rwo",
            "nodeTopology": {"matchLabels": {"topology.kubernetes.io/zone": "a"}},
            "capacity": "100Gi"
        }))
        .unwrap();
        let got = storage_capacity(&c).unwrap();
        assert_eq!(got.storage_class, "standard-rwo");
        assert_eq!(got.capacity, Some(100 << 30));
        assert_eq!(got.maximum_volume_size, None);
        assert!(got.node_topology.is_some());
        let mut bad = c.clone();
        bad.maximum_volume_size = Some(ApiQuantity("lots".into()));
        let err = storage_capacity(&bad).unwrap_err().to_string();
        assert!(
            err.contains("csistoragecapacity kube-system/cap-a")
                && err.contains("maximumVolumeSize"),
            "{err}"
        );
    }

    #[test]
    fn storage_objects_convert() {
        let pvc: core::PersistentVolumeClaim = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "claim-alice", "namespace": "jhub", "annotations": {
                "pv.kubernetes.io/bind-completed": "yes", "volume.kubernetes.io/selected-node": "user-1"}},
            "spec": {"storageClassName": "standard-rwo", "volumeName": "pv-1", "accessModes": ["ReadWriteOnce"],
                     "resources": {"requests": {"storage": "10Gi"}}}
        }))
        .unwrap();
        let c = claim(&pvc).unwrap();
        assert_eq!((c.request_bytes, c.bind_completed), (10 << 30, true));
        assert_eq!(c.selected_node.as_deref(), Some("user-1"));
        let bad: core::PersistentVolumeClaim = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "x", "namespace": "jhub"},
            "spec": {"resources": {"requests": {"storage": "10Gx"}}}
        }))
        .unwrap();
        let err = claim(&bad).unwrap_err().to_string();
        assert!(
            err.contains("persistentvolumeclaim jhub/x")
                && err.contains("spec.resources.requests[storage]"),
            "{err}"
        );
        let pv: core::PersistentVolume = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "pv-1", "labels": {"topology.kubernetes.io/zone": "a"}},
            "spec": {"storageClassName": "standard-rwo", "capacity": {"storage": "10Gi"},
                     "csi": {"driver": "pd.csi.storage.gke.io", "volumeHandle": "disk-1"},
                     "nodeAffinity": {"required": {"nodeSelectorTerms": [{"matchExpressions": [
                         {"key": "topology.kubernetes.io/zone", "operator": "In", "values": ["a"]}]}]}},
                     "claimRef": {"namespace": "jhub", "name": "claim-alice"}},
            "status": {"phase": "Bound"}
        }))
        .unwrap();
        let v = volume(&pv).unwrap();
        assert_eq!(v.node_affinity.as_ref().map(Vec::len), Some(1));
        assert_eq!(v.csi_driver.as_deref(), Some("pd.csi.storage.gke.io"));
        assert!(!v.available);
        let sc: k8s_openapi::api::storage::v1::StorageClass = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "standard-rwo"}, "provisioner": "pd.csi.storage.gke.io",
            "volumeBindingMode": "WaitForFirstConsumer",
            "allowedTopologies": [{"matchLabelExpressions": [{"key": "topology.kubernetes.io/zone", "values": ["a", "b"]}]}]
        }))
        .unwrap();
        let s = storage_class(&sc);
        assert_eq!(
            s.binding_mode,
            score::volumes::BindingMode::WaitForFirstConsumer
        );
        assert_eq!(
            s.allowed_topologies[0].match_expressions[0].values,
            ["a", "b"]
        );
    }
}
