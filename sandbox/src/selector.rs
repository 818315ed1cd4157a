//! Label and field selectors, as in `labelSelector=` and `fieldSelector=` query parameters,
//! and the `matchLabels`/`matchExpressions` form used by PodDisruptionBudgets.

use serde_json::Value;

/// Why a selector could not be parsed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SelectorError {
    /// The selector text does not follow the grammar.
    #[error("unable to parse requirement: {0}")]
    Syntax(String),
    /// The field selector names a field that is not supported.
    #[error("field label not supported: {0}")]
    UnsupportedField(String),
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum LabelOp {
    Eq(String),
    NotEq(String),
    In(Vec<String>),
    NotIn(Vec<String>),
    Exists,
    NotExists,
}

/// A parsed label selector; all requirements must hold.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LabelSelector {
    reqs: Vec<(String, LabelOp)>,
}

fn valid_label_key(k: &str) -> bool {
    !k.is_empty()
        && k.len() <= 317
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/'))
}

fn valid_label_value(v: &str) -> bool {
    v.len() <= 63
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// Splits on commas that are not inside parentheses.
fn split_top_level(s: &str) -> Result<Vec<&str>, SelectorError> {
    let mut out = Vec::new();
    let mut depth = 0i32;
    let mut start = 0;
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth < 0 {
                    return Err(SelectorError::Syntax(s.to_string()));
                }
            }
            ',' if depth == 0 => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    if depth != 0 {
        return Err(SelectorError::Syntax(s.to_string()));
    }
    out.push(&s[start..]);
    Ok(out)
}

fn parse_set(term: &str, rest: &str) -> Result<Vec<String>, SelectorError> {
    let rest = rest.trim();
    let inner = rest
        .strip_prefix('(')
        .and_then(|r| r.strip_suffix(')'))
        .ok_or_else(|| SelectorError::Syntax(term.to_string()))?;
    let values: Vec<String> = inner.split(',').map(|v| v.trim().to_string()).collect();
    if values.iter().any(|v| !valid_label_value(v)) {
        return Err(SelectorError::Syntax(term.to_string()));
    }
    Ok(values)
}

impl LabelSelector {
    /// Parses `a=b,c!=d,e in (f,g),h notin (i),j,!k`.
    pub fn parse(s: &str) -> Result<Self, SelectorError> {
        let mut reqs = Vec::new();
        if s.trim().is_empty() {
            return Ok(Self { reqs });
        }
        for term in split_top_level(s)? {
            let t = term.trim();
            let bad = || SelectorError::Syntax(t.to_string());
            if t.is_empty() {
                return Err(bad());
            }
            let (key, op) = if let Some(k) = t.strip_prefix('!') {
                (k.trim().to_string(), LabelOp::NotExists)
            } else if let Some((k, v)) = t.split_once("!=") {
                (k.trim().to_string(), LabelOp::NotEq(v.trim().to_string()))
            } else if let Some((k, v)) = t.split_once("==") {
                (k.trim().to_string(), LabelOp::Eq(v.trim().to_string()))
            } else if let Some((k, v)) = t.split_once('=') {
                (k.trim().to_string(), LabelOp::Eq(v.trim().to_string()))
            } else if let Some(idx) = t.find(" notin ").or_else(|| t.find(" notin(")) {
                (
                    t[..idx].trim().to_string(),
                    LabelOp::NotIn(parse_set(t, &t[idx + 6..])?),
                )
            } else if let Some(idx) = t.find(" in ").or_else(|| t.find(" in(")) {
                (
                    t[..idx].trim().to_string(),
                    LabelOp::In(parse_set(t, &t[idx + 3..])?),
                )
            } else {
                (t.to_string(), LabelOp::Exists)
            };
            if !valid_label_key(&key) {
                return Err(bad());
            }
            if let LabelOp::Eq(v) | LabelOp::NotEq(v) = &op
                && !valid_label_value(v)
            {
                return Err(bad());
            }
            reqs.push((key, op));
        }
        Ok(Self { reqs })
    }

    /// Builds a selector from a `metav1.LabelSelector` object (`matchLabels`, `matchExpressions`).
    /// `None` or `{}` selects everything; a malformed selector selects nothing.
    pub fn from_object(sel: Option<&Value>) -> Option<Self> {
        let Some(sel) = sel else {
            return Some(Self::default());
        };
        let mut reqs = Vec::new();
        if let Some(m) = sel.get("matchLabels").and_then(Value::as_object) {
            for (k, v) in m {
                reqs.push((k.clone(), LabelOp::Eq(v.as_str()?.to_string())));
            }
        }
        if let Some(exprs) = sel.get("matchExpressions").and_then(Value::as_array) {
            for e in exprs {
                let key = e.get("key")?.as_str()?.to_string();
                let values: Vec<String> = e
                    .get("values")
                    .and_then(Value::as_array)
                    .map(|a| {
                        a.iter()
                            .filter_map(|v| v.as_str().map(String::from))
                            .collect()
                    })
                    .unwrap_or_default();
                let op = match e.get("operator")?.as_str()? {
                    "In" => LabelOp::In(values),
                    "NotIn" => LabelOp::NotIn(values),
                    "Exists" => LabelOp::Exists,
                    "DoesNotExist" => LabelOp::NotExists,
                    _ => return None,
                };
                reqs.push((key, op));
            }
        }
        Some(Self { reqs })
    }

    /// Whether the selector has no requirement.
    pub fn is_empty(&self) -> bool {
        self.reqs.is_empty()
    }

    /// Whether an object's `metadata.labels` satisfy the selector.
    pub fn matches(&self, obj: &Value) -> bool {
        if self.reqs.is_empty() {
            return true;
        }
        let labels = obj
            .get("metadata")
            .and_then(|m| m.get("labels"))
            .and_then(Value::as_object);
        let get = |k: &str| labels.and_then(|l| l.get(k)).and_then(Value::as_str);
        self.reqs.iter().all(|(k, op)| match op {
            LabelOp::Eq(v) => get(k) == Some(v.as_str()),
            LabelOp::NotEq(v) => get(k) != Some(v.as_str()),
            LabelOp::In(vs) => get(k).is_some_and(|x| vs.iter().any(|v| v == x)),
            LabelOp::NotIn(vs) => get(k).is_none_or(|x| vs.iter().all(|v| v != x)),
            LabelOp::Exists => get(k).is_some(),
            LabelOp::NotExists => get(k).is_none(),
        })
    }
}

/// Fields every resource can be selected on, with their JSON pointers.
const COMMON_FIELDS: &[(&str, &str)] = &[
    ("metadata.name", "/metadata/name"),
    ("metadata.namespace", "/metadata/namespace"),
];

/// Extra fields per storage key.
fn kind_fields(store: &str) -> &'static [(&'static str, &'static str)] {
    match store {
        "pods" => &[
            ("spec.nodeName", "/spec/nodeName"),
            ("spec.schedulerName", "/spec/schedulerName"),
            ("spec.restartPolicy", "/spec/restartPolicy"),
            ("spec.serviceAccountName", "/spec/serviceAccountName"),
            ("status.phase", "/status/phase"),
            ("status.nominatedNodeName", "/status/nominatedNodeName"),
            ("status.podIP", "/status/podIP"),
        ],
        "nodes" => &[("spec.unschedulable", "/spec/unschedulable")],
        "namespaces" => &[("status.phase", "/status/phase")],
        "persistentvolumeclaims" | "persistentvolumes" => &[("status.phase", "/status/phase")],
        "events" => &[
            ("involvedObject.kind", "/involvedObject/kind"),
            ("involvedObject.name", "/involvedObject/name"),
            ("involvedObject.namespace", "/involvedObject/namespace"),
            ("involvedObject.uid", "/involvedObject/uid"),
            // `kubectl events --for` selects on the apiVersion too.
            ("involvedObject.apiVersion", "/involvedObject/apiVersion"),
            (
                "involvedObject.resourceVersion",
                "/involvedObject/resourceVersion",
            ),
            ("involvedObject.fieldPath", "/involvedObject/fieldPath"),
            ("source", "/source/component"),
            ("reason", "/reason"),
            ("type", "/type"),
            ("reportingComponent", "/reportingComponent"),
        ],
        _ => &[],
    }
}

/// A parsed field selector; all terms must hold.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FieldSelector {
    terms: Vec<(&'static str, bool, String)>,
}

impl FieldSelector {
    /// Parses `spec.nodeName=n1,status.phase!=Failed` for objects of the given storage key.
    pub fn parse(s: &str, store: &str) -> Result<Self, SelectorError> {
        let mut terms = Vec::new();
        if s.trim().is_empty() {
            return Ok(Self { terms });
        }
        for term in s.split(',') {
            let t = term.trim();
            let (field, eq, value) = if let Some((f, v)) = t.split_once("!=") {
                (f, false, v)
            } else if let Some((f, v)) = t.split_once("==") {
                (f, true, v)
            } else if let Some((f, v)) = t.split_once('=') {
                (f, true, v)
            } else {
                return Err(SelectorError::Syntax(t.to_string()));
            };
            let field = field.trim();
            let pointer = COMMON_FIELDS
                .iter()
                .chain(kind_fields(store))
                .find(|(name, _)| *name == field)
                .map(|(_, p)| *p)
                .ok_or_else(|| SelectorError::UnsupportedField(field.to_string()))?;
            terms.push((pointer, eq, value.trim().to_string()));
        }
        Ok(Self { terms })
    }

    /// Whether the selector has no term.
    pub fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }

    /// Whether an object (in storage form) satisfies the selector. Absent fields read as `""`.
    pub fn matches(&self, obj: &Value) -> bool {
        self.terms.iter().all(|(pointer, eq, want)| {
            // The pointers are the constants above: no escapes to undo, so
            // no `Value::pointer` (which copies every token).
            let field = pointer
                .split('/')
                .skip(1)
                .try_fold(obj, |v, token| v.get(token));
            let same = match field {
                Some(Value::String(s)) => s == want,
                Some(Value::Bool(b)) => b.to_string() == *want,
                Some(Value::Number(n)) => n.to_string() == *want,
                _ => want.is_empty(),
            };
            same == *eq
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(labels: Value) -> Value {
        json!({"metadata": {"name": "p", "namespace": "ns", "labels": labels}, "spec": {"nodeName": "n1"}, "status": {"phase": "Running"}})
    }

    #[test]
    fn label_operators() {
        let o = obj(json!({"app": "web", "tier": "front"}));
        let m = |s: &str| LabelSelector::parse(s).unwrap().matches(&o);
        assert!(m(""));
        assert!(m("app=web"));
        assert!(m("app==web"));
        assert!(!m("app!=web"));
        assert!(m("app!=db"));
        assert!(m("app in (db, web)"));
        assert!(!m("app notin (db,web)"));
        assert!(m("zone notin (a)"));
        assert!(!m("zone in (a)"));
        assert!(m("tier"));
        assert!(!m("!tier"));
        assert!(m("!zone,app=web,tier in (front)"));
        assert!(!m("app=web,tier=back"));
    }

    #[test]
    fn label_syntax_errors() {
        assert!(LabelSelector::parse("app in web").is_err());
        assert!(LabelSelector::parse("a=b,,c").is_err());
        assert!(LabelSelector::parse("app in (a").is_err());
        assert!(LabelSelector::parse("a b=c").is_err());
    }

    #[test]
    fn label_selector_objects() {
        let o = obj(json!({"app": "web"}));
        let s = LabelSelector::from_object(Some(&json!({"matchLabels": {"app": "web"}}))).unwrap();
        assert!(s.matches(&o));
        let s = LabelSelector::from_object(Some(
            &json!({"matchExpressions": [{"key": "app", "operator": "NotIn", "values": ["web"]}]}),
        ))
        .unwrap();
        assert!(!s.matches(&o));
        assert!(LabelSelector::from_object(None).unwrap().matches(&o));
        assert!(
            LabelSelector::from_object(Some(
                &json!({"matchExpressions": [{"key": "a", "operator": "Bad"}]})
            ))
            .is_none()
        );
    }

    #[test]
    fn field_selectors() {
        let o = obj(json!({}));
        let m = |s: &str| FieldSelector::parse(s, "pods").unwrap().matches(&o);
        assert!(m("spec.nodeName=n1"));
        assert!(m("spec.nodeName==n1,status.phase!=Failed"));
        assert!(!m("spec.nodeName!=n1"));
        assert!(m("metadata.name=p,metadata.namespace=ns"));
        assert!(m("spec.schedulerName="));
        assert!(!m("spec.schedulerName!="));
        assert_eq!(
            FieldSelector::parse("spec.foo=1", "pods"),
            Err(SelectorError::UnsupportedField("spec.foo".into()))
        );
        assert!(FieldSelector::parse("spec.nodeName", "pods").is_err());
        assert!(FieldSelector::parse("spec.nodeName=x", "nodes").is_err());
    }
}
