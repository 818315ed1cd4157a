//! Whether a pod may go to a node or a pool's new node, as the autoscaler model asks it
//! ([`capacity::autoscaler::Admission`]): NoSchedule/NoExecute taints against tolerations, and
//! `nodeSelector` plus required node affinity; and pod requests and node allocatable as the
//! model's [`Resources`]. The scheduler's own filters live in the `score` crate behind the
//! `scheduler` crate's converters; the autoscaler only needs the predicates that decide which
//! node pool can hold a pod, so the sandbox keeps this small copy over plain JSON.

use std::collections::BTreeMap;

use serde_json::Value;

use super::str_at;

pub use capacity::autoscaler::Resources;

fn quantity(v: Option<&Value>, milli: bool) -> u64 {
    let Some(s) = v.and_then(Value::as_str) else {
        return v
            .and_then(Value::as_u64)
            .map_or(0, |n| if milli { n.saturating_mul(1000) } else { n });
    };
    score::quantity::parse(s)
        .ok()
        .and_then(|q| {
            if milli {
                q.to_milli_ceil().ok()
            } else {
                q.to_int_ceil().ok()
            }
        })
        .unwrap_or(0)
}

fn list_resources(map: Option<&Value>) -> Resources {
    Resources {
        cpu_milli: quantity(map.and_then(|m| m.get("cpu")), true),
        memory: quantity(map.and_then(|m| m.get("memory")), false),
        pods: quantity(map.and_then(|m| m.get("pods")), false),
    }
}

/// A pod's requests as the scheduler counts them: the sum over containers, at least the largest
/// init container, plus the pod overhead; one pod slot.
pub fn pod_requests(pod: &Value) -> Resources {
    let containers = |field: &str| {
        pod.pointer(&format!("/spec/{field}"))
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    let mut sum = Resources::default();
    for c in containers("containers") {
        sum.add(list_resources(c.pointer("/resources/requests")));
    }
    for c in containers("initContainers") {
        let r = list_resources(c.pointer("/resources/requests"));
        sum.cpu_milli = sum.cpu_milli.max(r.cpu_milli);
        sum.memory = sum.memory.max(r.memory);
    }
    sum.add(list_resources(pod.pointer("/spec/overhead")));
    sum.pods = 1;
    sum
}

/// A node's allocatable resources (its capacity when allocatable is missing).
pub fn node_allocatable(node: &Value) -> Resources {
    let status = node.get("status");
    let map = status
        .and_then(|s| s.get("allocatable"))
        .or_else(|| status.and_then(|s| s.get("capacity")));
    list_resources(map)
}

fn tolerates(toleration: &Value, taint: &Value) -> bool {
    let t_effect = str_at(toleration, "/effect").unwrap_or("");
    if !t_effect.is_empty() && Some(t_effect) != str_at(taint, "/effect") {
        return false;
    }
    let key = str_at(toleration, "/key").unwrap_or("");
    let op = str_at(toleration, "/operator").unwrap_or("Equal");
    if key.is_empty() {
        return op == "Exists";
    }
    if Some(key) != str_at(taint, "/key") {
        return false;
    }
    match op {
        "Exists" => true,
        "Equal" | "" => {
            str_at(toleration, "/value").unwrap_or("") == str_at(taint, "/value").unwrap_or("")
        }
        _ => false,
    }
}

/// Whether the pod tolerates every NoSchedule and NoExecute taint of `taints`.
pub fn tolerates_taints(pod: &Value, taints: &[Value]) -> bool {
    let tolerations = pod
        .pointer("/spec/tolerations")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    taints
        .iter()
        .filter(|t| matches!(str_at(t, "/effect"), Some("NoSchedule" | "NoExecute")))
        .all(|t| tolerations.iter().any(|tol| tolerates(tol, t)))
}

fn requirement_matches(req: &Value, labels: &BTreeMap<String, String>) -> bool {
    let key = str_at(req, "/key").unwrap_or("");
    let values: Vec<&str> = req
        .get("values")
        .and_then(Value::as_array)
        .map(|vs| vs.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let label = labels.get(key).map(String::as_str);
    let int = |s: &str| s.parse::<i64>().ok();
    match str_at(req, "/operator").unwrap_or("") {
        "In" => label.is_some_and(|l| values.contains(&l)),
        "NotIn" => label.is_none_or(|l| !values.contains(&l)),
        "Exists" => label.is_some(),
        "DoesNotExist" => label.is_none(),
        "Gt" => {
            matches!((label.and_then(int), values.first().and_then(|v| int(v))), (Some(l), Some(v)) if l > v)
        }
        "Lt" => {
            matches!((label.and_then(int), values.first().and_then(|v| int(v))), (Some(l), Some(v)) if l < v)
        }
        _ => false,
    }
}

/// Whether the node's labels satisfy the pod's `nodeSelector` and required node affinity
/// (terms ORed, expressions within a term ANDed).
pub fn node_selector_matches(pod: &Value, labels: &BTreeMap<String, String>) -> bool {
    if let Some(sel) = pod.pointer("/spec/nodeSelector").and_then(Value::as_object)
        && !sel
            .iter()
            .all(|(k, v)| labels.get(k).map(String::as_str) == v.as_str())
    {
        return false;
    }
    let Some(terms) = pod
        .pointer("/spec/affinity/nodeAffinity/requiredDuringSchedulingIgnoredDuringExecution/nodeSelectorTerms")
        .and_then(Value::as_array)
    else {
        return true;
    };
    terms.iter().any(|term| {
        let exprs = term
            .get("matchExpressions")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        // An empty term matches nothing, as in kube.
        !exprs.is_empty() && exprs.iter().all(|r| requirement_matches(r, labels))
    })
}

/// The labels of an object.
pub fn labels_of(v: &Value) -> BTreeMap<String, String> {
    v.pointer("/metadata/labels")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                .collect()
        })
        .unwrap_or_default()
}

/// The taints of a node.
pub fn taints_of(node: &Value) -> Vec<Value> {
    node.pointer("/spec/taints")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn requests_sum_containers_and_take_the_largest_init_container() {
        let pod = json!({"spec": {
            "containers": [
                {"resources": {"requests": {"cpu": "100m", "memory": "1G"}}},
                {"resources": {"requests": {"cpu": "1", "memory": "512Mi"}}}],
            "initContainers": [{"resources": {"requests": {"cpu": "2", "memory": "1Mi"}}}],
            "overhead": {"memory": "10"}}});
        assert_eq!(
            pod_requests(&pod),
            Resources {
                cpu_milli: 2000,
                memory: 1_000_000_000 + 536_870_912 + 10,
                pods: 1
            }
        );
    }

    #[test]
    fn taints_need_matching_tolerations() {
        let user = json!({"spec": {"tolerations": [
            {"key": "hub.jupyter.org/dedicated", "operator": "Equal", "value": "user", "effect": "NoSchedule"}]}});
        let user_taint =
            json!({"key": "hub.jupyter.org/dedicated", "value": "user", "effect": "NoSchedule"});
        let core_taint =
            json!({"key": "hub.jupyter.org/dedicated", "value": "core", "effect": "NoSchedule"});
        let soft = json!({"key": "x", "effect": "PreferNoSchedule"});
        assert!(tolerates_taints(&user, &[user_taint.clone(), soft]));
        assert!(!tolerates_taints(&user, &[core_taint]));
        assert!(!tolerates_taints(&json!({}), &[user_taint]));
        let all = json!({"spec": {"tolerations": [{"operator": "Exists"}]}});
        assert!(tolerates_taints(
            &all,
            &[json!({"key": "k", "effect": "NoExecute"})]
        ));
    }

    #[test]
    fn selectors_and_required_affinity() {
        let labels: BTreeMap<String, String> = [("purpose".to_string(), "user".to_string())].into();
        let sel = json!({"spec": {"nodeSelector": {"purpose": "user"}}});
        assert!(node_selector_matches(&sel, &labels));
        assert!(!node_selector_matches(&sel, &BTreeMap::new()));
        let aff = json!({"spec": {"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [
                {"matchExpressions": [{"key": "purpose", "operator": "In", "values": ["core"]}]},
                {"matchExpressions": [{"key": "purpose", "operator": "Exists"}]}]}}}}});
        assert!(node_selector_matches(&aff, &labels));
        assert!(!node_selector_matches(&aff, &BTreeMap::new()));
        let preferred_only = json!({"spec": {"affinity": {"nodeAffinity": {
            "preferredDuringSchedulingIgnoredDuringExecution": [{"weight": 1, "preference": {}}]}}}});
        assert!(node_selector_matches(&preferred_only, &BTreeMap::new()));
    }
}
