//! Validation of written objects: names, and quantities in a pod's resources.
//!
//! The quantity check is a grammar check only (accept or reject); the engine has the exact parser.

use serde_json::Value;

/// One rejected field, as reported in a `Status`'s `details.causes`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct FieldError {
    /// Path of the field (`spec.containers[0].resources.requests[cpu]`).
    pub field: String,
    /// Machine reason (`FieldValueInvalid`, `FieldValueRequired`).
    pub reason: &'static str,
    /// Human message, as the real API server words it.
    pub message: String,
}

const QUANTITY_REGEX: &str = "^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$";

/// The `reason` of a [`FieldError`] for a quantity that does not parse. kube-apiserver fails
/// to decode such a body (400 `BadRequest`) before it validates anything; see
/// [`unparsable`].
pub const UNPARSABLE: &str = "Unparsable";

/// The decoding error kube-apiserver answers for `errs`' first unparsable quantity (without
/// the `<Kind> in version "<v>" cannot be handled as a <Kind>: ` prefix), if any.
pub fn unparsable(errs: &[FieldError]) -> Option<String> {
    errs.iter().find(|e| e.reason == UNPARSABLE).map(|e| {
        if e.message.ends_with("must be strings") {
            "quantities must be strings".to_string()
        } else {
            format!("quantities must match the regular expression '{QUANTITY_REGEX}'")
        }
    })
}

/// Whether `s` follows the Kubernetes quantity grammar: an optional sign, digits with an optional
/// fraction, then an optional suffix (`n u m k M G T P E`, `Ki Mi Gi Ti Pi Ei`, or `e`/`E` with a
/// signed integer exponent).
pub fn is_quantity(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
        i += 1;
    }
    let int_start = i;
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
    }
    let mut digits = i - int_start;
    if i < b.len() && b[i] == b'.' {
        i += 1;
        let frac_start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        digits += i - frac_start;
    }
    if digits == 0 {
        return false;
    }
    let suffix = &s[i..];
    match suffix {
        "" | "n" | "u" | "m" | "k" | "M" | "G" | "T" | "P" | "E" | "Ki" | "Mi" | "Gi" | "Ti"
        | "Pi" | "Ei" => true,
        _ => {
            let Some(exp) = suffix.strip_prefix(['e', 'E']) else {
                return false;
            };
            let exp = exp.strip_prefix(['+', '-']).unwrap_or(exp);
            !exp.is_empty() && exp.len() <= 10 && exp.bytes().all(|c| c.is_ascii_digit())
        }
    }
}

fn quantity_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn check_resource_map(map: Option<&Value>, path: &str, errs: &mut Vec<FieldError>) {
    let Some(map) = map else { return };
    if map.is_null() {
        return;
    }
    let Some(obj) = map.as_object() else {
        errs.push(FieldError {
            field: path.to_string(),
            reason: "FieldValueInvalid",
            message: format!("Invalid value: {map}: must be a map of resource names to quantities"),
        });
        return;
    };
    for (name, q) in obj {
        let field = format!("{path}[{name}]");
        match quantity_text(q) {
            Some(text) if is_quantity(&text) => {
                if text.starts_with('-') && text.trim_start_matches(['-', '0', '.']).chars().any(|c| c.is_ascii_digit()) {
                    errs.push(FieldError {
                        field,
                        reason: "FieldValueInvalid",
                        message: format!("Invalid value: \"{text}\": must be greater than or equal to 0"),
                    });
                }
            }
            Some(text) => errs.push(FieldError {
                field,
                reason: UNPARSABLE,
                message: format!(
                    "Invalid value: \"{text}\": quantities must match the regular expression '{QUANTITY_REGEX}'"
                ),
            }),
            None => errs.push(FieldError {
                field,
                reason: UNPARSABLE,
                message: format!("Invalid value: {q}: quantities must be strings"),
            }),
        }
    }
}

/// Checks every quantity of a pod's resources: containers' and initContainers' requests and
/// limits, `spec.overhead` and pod-level `spec.resources`.
pub fn pod_resources(pod: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let Some(spec) = pod.get("spec") else {
        return errs;
    };
    for list in ["containers", "initContainers"] {
        if let Some(cs) = spec.get(list).and_then(Value::as_array) {
            for (i, c) in cs.iter().enumerate() {
                // Limits first, as kube-apiserver's validation reports them.
                for kind in ["limits", "requests"] {
                    check_resource_map(
                        c.pointer(&format!("/resources/{kind}")),
                        &format!("spec.{list}[{i}].resources.{kind}"),
                        &mut errs,
                    );
                }
            }
        }
    }
    check_resource_map(spec.get("overhead"), "spec.overhead", &mut errs);
    for kind in ["requests", "limits"] {
        check_resource_map(
            spec.pointer(&format!("/resources/{kind}")),
            &format!("spec.resources.{kind}"),
            &mut errs,
        );
    }
    errs
}

/// Whether `name` is a DNS-1123 subdomain (lowercase alphanumerics, `-` and `.`, at most 253).
pub fn is_dns_subdomain(name: &str) -> bool {
    let b = name.as_bytes();
    !b.is_empty()
        && b.len() <= 253
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-' || *c == b'.')
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
}

/// Checks `metadata.name` (present and a DNS subdomain, or a path segment name for kinds whose
/// names are looser, like events) and `metadata.namespace`.
pub fn metadata(obj: &Value, strict_names: bool) -> Vec<FieldError> {
    let mut errs = Vec::new();
    match obj.pointer("/metadata/name").and_then(Value::as_str) {
        None | Some("") => errs.push(FieldError {
            field: "metadata.name".into(),
            reason: "FieldValueRequired",
            message: "Required value: name or generateName is required".into(),
        }),
        Some(name) => {
            let ok = if strict_names {
                is_dns_subdomain(name)
            } else {
                name != "." && name != ".." && !name.contains(['/', '%'])
            };
            if !ok {
                errs.push(FieldError {
                    field: "metadata.name".into(),
                    reason: "FieldValueInvalid",
                    message: format!(
                        "Invalid value: \"{name}\": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character"
                    ),
                });
            }
        }
    }
    if let Some(labels) = obj.pointer("/metadata/labels") {
        match labels.as_object() {
            Some(m) => {
                for (k, v) in m {
                    if !v.is_string() {
                        errs.push(FieldError {
                            field: format!("metadata.labels[{k}]"),
                            reason: "FieldValueInvalid",
                            message: format!("Invalid value: {v}: label values must be strings"),
                        });
                    }
                }
            }
            None if labels.is_null() => {}
            None => errs.push(FieldError {
                field: "metadata.labels".into(),
                reason: "FieldValueInvalid",
                message: "Invalid value: must be a map of strings".into(),
            }),
        }
    }
    errs
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn quantity_grammar() {
        for ok in [
            "1", "0", "100m", "1.5", ".5", "5.", "+1", "-1", "1Ki", "128Mi", "2Gi", "1Ti", "1Pi",
            "1Ei", "1n", "1u", "1k", "1M", "1G", "1T", "1P", "1E", "1e3", "1E-3", "2e+10", "0.1m",
        ] {
            assert!(is_quantity(ok), "{ok} should be accepted");
        }
        for bad in [
            "", ".", "abc", "1KiB", "1K", "1mi", "1e", "1e+", "--1", "1.2.3", "Mi", "1 Gi", "1Gi ",
            "0x10", "1ee3",
        ] {
            assert!(!is_quantity(bad), "{bad} should be rejected");
        }
    }

    #[test]
    fn pod_resource_paths() {
        let pod = json!({"spec": {
            "containers": [
                {"name": "a", "resources": {"requests": {"cpu": "100m", "memory": "1Gi"}}},
                {"name": "b", "resources": {"requests": {"cpu": "lots"}, "limits": {"memory": "-1Gi"}}}
            ],
            "initContainers": [{"name": "i", "resources": {"limits": {"cpu": "1KiB"}}}],
            "overhead": {"cpu": "x"},
            "resources": {"requests": {"memory": 1.5}}
        }});
        let fields: Vec<String> = pod_resources(&pod).into_iter().map(|e| e.field).collect();
        assert_eq!(
            fields,
            vec![
                "spec.containers[1].resources.limits[memory]",
                "spec.containers[1].resources.requests[cpu]",
                "spec.initContainers[0].resources.limits[cpu]",
                "spec.overhead[cpu]",
            ]
        );
    }

    #[test]
    fn names() {
        assert!(is_dns_subdomain("a-b.c"));
        assert!(!is_dns_subdomain("A"));
        assert!(!is_dns_subdomain("-a"));
        assert_eq!(
            metadata(&json!({"metadata": {}}), true)[0].field,
            "metadata.name"
        );
        assert!(metadata(&json!({"metadata": {"name": "x.1"}}), true).is_empty());
        assert!(
            !metadata(
                &json!({"metadata": {"name": "a", "labels": {"x": 1}}}),
                true
            )
            .is_empty()
        );
    }
}
