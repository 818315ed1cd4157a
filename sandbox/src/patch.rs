//! Patches: JSON merge patch (RFC 7386), strategic merge patch (Kubernetes), JSON patch (RFC 6902).
//!
//! The strategic merge patch knows the merge keys of the lists a scheduler and kubectl touch
//! (`conditions` by `type`, `containers` by `name`, ...) by field name, and honours the `$patch`
//! (`replace`, `delete`, `merge`), `$retainKeys`, `$deleteFromPrimitiveList/<field>` and
//! `$setElementOrder/<field>` (accepted, order not enforced) directives.

use serde_json::{Map, Value};

/// Why a patch could not be applied.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PatchError {
    /// The patch document is not of the expected shape.
    #[error("invalid patch: {0}")]
    Malformed(String),
    /// A JSON patch operation could not be applied (missing path, failed `test`).
    #[error("{0}")]
    Failed(String),
}

/// Applies a JSON merge patch (RFC 7386) to `target`.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    match patch {
        Value::Object(p) => {
            if !target.is_object() {
                *target = Value::Object(Map::new());
            }
            if let Value::Object(t) = target {
                for (k, v) in p {
                    if v.is_null() {
                        t.remove(k);
                    } else {
                        merge_patch(t.entry(k.clone()).or_insert(Value::Null), v);
                    }
                }
            }
        }
        other => *target = other.clone(),
    }
}

/// Merge key of a list field, by field name; `None` means the list is replaced whole.
fn merge_key(field: &str) -> Option<&'static str> {
    Some(match field {
        "conditions" | "addresses" => "type",
        "containers"
        | "initContainers"
        | "ephemeralContainers"
        | "volumes"
        | "env"
        | "imagePullSecrets"
        | "resourceClaims"
        | "schedulingGates" => "name",
        "ports" => "containerPort",
        "volumeMounts" => "mountPath",
        "volumeDevices" => "devicePath",
        "ownerReferences" => "uid",
        "hostAliases" | "podIPs" | "hostIPs" => "ip",
        "taints" => "key",
        "topologySpreadConstraints" => "topologyKey",
        _ => return None,
    })
}

/// Primitive lists merged as sets.
fn merges_primitives(field: &str) -> bool {
    field == "finalizers"
}

/// Applies a strategic merge patch to `target`.
pub fn strategic_merge_patch(target: &mut Value, patch: &Value) -> Result<(), PatchError> {
    let Value::Object(p) = patch else {
        return Err(PatchError::Malformed(
            "a strategic merge patch must be a JSON object".into(),
        ));
    };
    if let Some(result) = merge_map(target.as_object(), p)? {
        *target = Value::Object(result);
    } else {
        *target = Value::Object(Map::new());
    }
    Ok(())
}

/// Merges a patch map into an original map; `None` means "delete this map".
fn merge_map(
    orig: Option<&Map<String, Value>>,
    patch: &Map<String, Value>,
) -> Result<Option<Map<String, Value>>, PatchError> {
    match patch.get("$patch").map(|v| v.as_str()) {
        None | Some(Some("merge")) => {}
        Some(Some("replace")) => {
            let mut out = patch.clone();
            out.remove("$patch");
            strip_directives(&mut out);
            return Ok(Some(out));
        }
        Some(Some("delete")) => return Ok(None),
        Some(other) => {
            return Err(PatchError::Malformed(format!(
                "unknown $patch directive {other:?}"
            )));
        }
    }
    let mut out = orig.cloned().unwrap_or_default();
    for (k, v) in patch {
        if k == "$patch" || k.starts_with("$setElementOrder/") {
            continue;
        }
        if k == "$retainKeys" {
            continue;
        }
        if let Some(field) = k.strip_prefix("$deleteFromPrimitiveList/") {
            let remove = v
                .as_array()
                .ok_or_else(|| PatchError::Malformed(format!("{k} must be a list")))?;
            if let Some(Value::Array(items)) = out.get_mut(field) {
                items.retain(|i| !remove.contains(i));
            }
            continue;
        }
        match v {
            Value::Null => {
                out.remove(k);
            }
            Value::Object(pm) => {
                let merged = merge_map(out.get(k).and_then(Value::as_object), pm)?;
                match merged {
                    Some(m) => {
                        out.insert(k.clone(), Value::Object(m));
                    }
                    None => {
                        out.remove(k);
                    }
                }
            }
            Value::Array(pl) => {
                let merged = merge_list(k, out.get(k).and_then(Value::as_array), pl)?;
                out.insert(k.clone(), Value::Array(merged));
            }
            other => {
                out.insert(k.clone(), other.clone());
            }
        }
    }
    if let Some(retain) = patch.get("$retainKeys") {
        let keep: Vec<&str> = retain
            .as_array()
            .ok_or_else(|| PatchError::Malformed("$retainKeys must be a list".into()))?
            .iter()
            .filter_map(Value::as_str)
            .collect();
        out.retain(|k, _| keep.contains(&k.as_str()));
    }
    Ok(Some(out))
}

fn strip_directives(m: &mut Map<String, Value>) {
    m.retain(|k, _| !k.starts_with('$'));
    for v in m.values_mut() {
        match v {
            Value::Object(inner) => strip_directives(inner),
            Value::Array(items) => {
                for i in items {
                    if let Value::Object(inner) = i {
                        strip_directives(inner);
                    }
                }
            }
            _ => {}
        }
    }
}

fn merge_list(
    field: &str,
    orig: Option<&Vec<Value>>,
    patch: &[Value],
) -> Result<Vec<Value>, PatchError> {
    // A `{"$patch": "replace"}` element replaces the whole list with the other elements.
    if patch
        .iter()
        .any(|i| i.get("$patch").and_then(Value::as_str) == Some("replace"))
    {
        let mut out: Vec<Value> = patch
            .iter()
            .filter(|i| i.get("$patch").is_none())
            .cloned()
            .collect();
        for i in &mut out {
            if let Value::Object(m) = i {
                strip_directives(m);
            }
        }
        return Ok(out);
    }
    let orig = orig.cloned().unwrap_or_default();
    if merges_primitives(field) {
        let mut out = orig.clone();
        for i in patch {
            if !out.contains(i) {
                out.push(i.clone());
            }
        }
        return Ok(kube_order(out, patch, &orig, |v| Some(v.clone())));
    }
    let Some(key) = merge_key(field) else {
        let mut out = patch.to_vec();
        for i in &mut out {
            if let Value::Object(m) = i {
                strip_directives(m);
            }
        }
        return Ok(out);
    };
    let mut out = orig.clone();
    for item in patch {
        let Value::Object(pm) = item else {
            return Err(PatchError::Malformed(format!(
                "list {field} must hold objects with key {key}"
            )));
        };
        let Some(kv) = pm.get(key) else {
            return Err(PatchError::Malformed(format!(
                "map in list {field} is missing the merge key {key}"
            )));
        };
        let pos = out.iter().position(|o| o.get(key) == Some(kv));
        let delete = pm.get("$patch").and_then(Value::as_str) == Some("delete");
        match (pos, delete) {
            (Some(i), true) => {
                out.remove(i);
            }
            (None, true) => {}
            (Some(i), false) => match merge_map(out[i].as_object(), pm)? {
                Some(m) => out[i] = Value::Object(m),
                None => {
                    out.remove(i);
                }
            },
            (None, false) => {
                let mut m = pm.clone();
                strip_directives(&mut m);
                out.push(Value::Object(m));
            }
        }
    }
    let named: Vec<Value> = patch
        .iter()
        .filter(|i| i.get("$patch").is_none())
        .cloned()
        .collect();
    Ok(kube_order(out, &named, &orig, |v| v.get(key).cloned()))
}

/// Orders a merged list as kube-apiserver's strategic merge does (`normalizeElementOrder` in
/// apimachinery): the items the patch names, in patch order, interleaved with the others in
/// their original order; an item the patch does not name goes first only when both it and the
/// next patch item were in the original list and it came first there. So a new condition
/// patched into `[Ready, ContainersReady]` comes first, not last.
fn kube_order(
    merged: Vec<Value>,
    patch: &[Value],
    orig: &[Value],
    id: impl Fn(&Value) -> Option<Value>,
) -> Vec<Value> {
    let ids = |list: &[Value]| list.iter().map(&id).collect::<Vec<_>>();
    let (patch_ids, orig_ids) = (ids(patch), ids(orig));
    let pos = |ids: &[Option<Value>], v: &Value| {
        let v = id(v);
        ids.iter().position(|i| *i == v)
    };
    let (mut named, server): (Vec<Value>, Vec<Value>) = merged
        .into_iter()
        .partition(|v| pos(&patch_ids, v).is_some());
    named.sort_by_key(|v| pos(&patch_ids, v));
    let mut out = Vec::with_capacity(named.len() + server.len());
    let (mut left, mut right) = (server.into_iter().peekable(), named.into_iter().peekable());
    loop {
        let take_left = match (left.peek(), right.peek()) {
            (None, None) => break,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (Some(l), Some(r)) => {
                matches!((pos(&orig_ids, l), pos(&orig_ids, r)), (Some(i), Some(j)) if i < j)
            }
        };
        out.extend(if take_left { left.next() } else { right.next() });
    }
    out
}

fn unescape(token: &str) -> String {
    token.replace("~1", "/").replace("~0", "~")
}

fn split_pointer(path: &str) -> Result<Vec<String>, PatchError> {
    if path.is_empty() {
        return Ok(Vec::new());
    }
    let rest = path
        .strip_prefix('/')
        .ok_or_else(|| PatchError::Malformed(format!("path {path:?} must start with /")))?;
    Ok(rest.split('/').map(unescape).collect())
}

fn parent_mut<'a>(
    doc: &'a mut Value,
    tokens: &[String],
    path: &str,
) -> Result<&'a mut Value, PatchError> {
    let mut cur = doc;
    for t in tokens {
        cur = match cur {
            Value::Object(m) => m.get_mut(t),
            Value::Array(a) => t.parse::<usize>().ok().and_then(move |i| a.get_mut(i)),
            _ => None,
        }
        .ok_or_else(|| PatchError::Failed(format!("doc is missing path: {path:?}")))?;
    }
    Ok(cur)
}

fn add(doc: &mut Value, path: &str, value: Value) -> Result<(), PatchError> {
    let tokens = split_pointer(path)?;
    let Some((last, parents)) = tokens.split_last() else {
        *doc = value;
        return Ok(());
    };
    match parent_mut(doc, parents, path)? {
        Value::Object(m) => {
            m.insert(last.clone(), value);
            Ok(())
        }
        Value::Array(a) => {
            let idx = if last == "-" {
                a.len()
            } else {
                last.parse::<usize>()
                    .ok()
                    .filter(|i| *i <= a.len())
                    .ok_or_else(|| PatchError::Failed(format!("invalid index in path {path:?}")))?
            };
            a.insert(idx, value);
            Ok(())
        }
        _ => Err(PatchError::Failed(format!("doc is missing path: {path:?}"))),
    }
}

fn remove(doc: &mut Value, path: &str) -> Result<Value, PatchError> {
    let tokens = split_pointer(path)?;
    let Some((last, parents)) = tokens.split_last() else {
        return Err(PatchError::Failed(
            "cannot remove the whole document".into(),
        ));
    };
    let missing = || PatchError::Failed(format!("doc is missing path: {path:?}"));
    match parent_mut(doc, parents, path)? {
        Value::Object(m) => m.remove(last).ok_or_else(missing),
        Value::Array(a) => {
            let i = last
                .parse::<usize>()
                .ok()
                .filter(|i| *i < a.len())
                .ok_or_else(missing)?;
            Ok(a.remove(i))
        }
        _ => Err(missing()),
    }
}

fn get<'a>(doc: &'a Value, path: &str) -> Result<&'a Value, PatchError> {
    let pointer = if path.is_empty() { "" } else { path };
    doc.pointer(pointer)
        .ok_or_else(|| PatchError::Failed(format!("doc is missing path: {path:?}")))
}

/// Applies a JSON patch (RFC 6902: add, remove, replace, move, copy, test).
pub fn json_patch(doc: &mut Value, patch: &Value) -> Result<(), PatchError> {
    let ops = patch
        .as_array()
        .ok_or_else(|| PatchError::Malformed("a JSON patch must be a list of operations".into()))?;
    for op in ops {
        let name = op
            .get("op")
            .and_then(Value::as_str)
            .ok_or_else(|| PatchError::Malformed("operation without \"op\"".into()))?;
        let path = op
            .get("path")
            .and_then(Value::as_str)
            .ok_or_else(|| PatchError::Malformed(format!("{name} operation without \"path\"")))?;
        let value = || {
            op.get("value")
                .cloned()
                .ok_or_else(|| PatchError::Malformed(format!("{name} operation without \"value\"")))
        };
        let from = || {
            op.get("from")
                .and_then(Value::as_str)
                .ok_or_else(|| PatchError::Malformed(format!("{name} operation without \"from\"")))
        };
        match name {
            "add" => add(doc, path, value()?)?,
            "remove" => {
                remove(doc, path)?;
            }
            "replace" if path.is_empty() => *doc = value()?,
            "replace" => {
                let v = value()?;
                remove(doc, path)?;
                add(doc, path, v)?;
            }
            "move" => {
                let v = remove(doc, from()?)?;
                add(doc, path, v)?;
            }
            "copy" => {
                let v = get(doc, from()?)?.clone();
                add(doc, path, v)?;
            }
            "test" => {
                if *get(doc, path)? != value()? {
                    return Err(PatchError::Failed(format!("testing value {path} failed")));
                }
            }
            other => {
                return Err(PatchError::Malformed(format!(
                    "unexpected operation {other:?}"
                )));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merge_patch_rfc7386() {
        let mut t = json!({"a": "b", "c": {"d": "e", "f": "g"}, "l": [1, 2]});
        merge_patch(&mut t, &json!({"a": "z", "c": {"f": null}, "l": [3]}));
        assert_eq!(t, json!({"a": "z", "c": {"d": "e"}, "l": [3]}));
    }

    #[test]
    fn strategic_conditions_by_type() {
        let mut pod = json!({"status": {"conditions": [
            {"type": "Ready", "status": "True"},
            {"type": "PodScheduled", "status": "False", "reason": "Unschedulable"}
        ]}});
        strategic_merge_patch(
            &mut pod,
            &json!({"status": {"conditions": [{"type": "PodScheduled", "status": "True", "reason": null}, {"type": "DisruptionTarget", "status": "True"}]}}),
        )
        .unwrap();
        assert_eq!(
            pod["status"]["conditions"],
            json!([
                {"type": "Ready", "status": "True"},
                {"type": "PodScheduled", "status": "True"},
                {"type": "DisruptionTarget", "status": "True"}
            ])
        );
    }

    #[test]
    fn strategic_directives() {
        let mut o = json!({"metadata": {"finalizers": ["a"], "labels": {"x": "1", "y": "2"}},
            "spec": {"containers": [{"name": "c1", "image": "i1"}, {"name": "c2", "image": "i2"}], "tolerations": [{"key": "a"}]}});
        strategic_merge_patch(
            &mut o,
            &json!({"metadata": {"finalizers": ["b"], "labels": {"$patch": "replace", "z": "3"}},
                "spec": {"containers": [{"name": "c1", "$patch": "delete"}, {"name": "c2", "image": "new"}],
                         "tolerations": [{"key": "b"}], "$setElementOrder/containers": [{"name": "c2"}]}}),
        )
        .unwrap();
        // Patched items first, as kube-apiserver orders them.
        assert_eq!(o["metadata"]["finalizers"], json!(["b", "a"]));
        assert_eq!(o["metadata"]["labels"], json!({"z": "3"}));
        assert_eq!(
            o["spec"]["containers"],
            json!([{"name": "c2", "image": "new"}])
        );
        assert_eq!(o["spec"]["tolerations"], json!([{"key": "b"}]));
        strategic_merge_patch(
            &mut o,
            &json!({"metadata": {"$deleteFromPrimitiveList/finalizers": ["a"]}}),
        )
        .unwrap();
        assert_eq!(o["metadata"]["finalizers"], json!(["b"]));
        strategic_merge_patch(
            &mut o,
            &json!({"status": {"conditions": [{"type": "Ready"}, {"type": "ContainersReady"}]}}),
        )
        .unwrap();
        strategic_merge_patch(
            &mut o,
            &json!({"status": {"conditions": [{"type": "PodScheduled"}, {"type": "Ready", "status": "True"}]}}),
        )
        .unwrap();
        assert_eq!(
            o["status"]["conditions"],
            json!([{"type": "PodScheduled"}, {"type": "Ready", "status": "True"}, {"type": "ContainersReady"}]),
            "kube-apiserver's order"
        );
        strategic_merge_patch(
            &mut o,
            &json!({"spec": {"containers": [{"$patch": "replace"}, {"name": "c9"}]}}),
        )
        .unwrap();
        assert_eq!(o["spec"]["containers"], json!([{"name": "c9"}]));
        assert!(
            strategic_merge_patch(&mut o, &json!({"spec": {"containers": [{"image": "x"}]}}))
                .is_err()
        );
        assert!(strategic_merge_patch(&mut o, &json!([1])).is_err());
    }

    #[test]
    fn json_patch_ops() {
        let mut d = json!({"a": {"b": [1, 2]}, "c": "x"});
        json_patch(
            &mut d,
            &json!([
                {"op": "add", "path": "/a/b/-", "value": 3},
                {"op": "add", "path": "/a/b/0", "value": 0},
                {"op": "replace", "path": "/c", "value": "y"},
                {"op": "copy", "from": "/c", "path": "/d"},
                {"op": "move", "from": "/d", "path": "/e"},
                {"op": "remove", "path": "/a/b/1"},
                {"op": "test", "path": "/e", "value": "y"},
                {"op": "add", "path": "/f~1g", "value": true}
            ]),
        )
        .unwrap();
        assert_eq!(
            d,
            json!({"a": {"b": [0, 2, 3]}, "c": "y", "e": "y", "f/g": true})
        );
        assert!(matches!(
            json_patch(&mut d, &json!([{"op": "test", "path": "/c", "value": "z"}])),
            Err(PatchError::Failed(_))
        ));
        assert!(matches!(
            json_patch(&mut d, &json!([{"op": "remove", "path": "/nope"}])),
            Err(PatchError::Failed(_))
        ));
        assert!(matches!(
            json_patch(&mut d, &json!({"op": "add"})),
            Err(PatchError::Malformed(_))
        ));
        assert!(matches!(
            json_patch(&mut d, &json!([{"op": "frob", "path": "/c"}])),
            Err(PatchError::Malformed(_))
        ));
    }
}
