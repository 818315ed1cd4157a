//! TokenReview and SubjectAccessReview: the two questions a component delegating its
//! authentication and authorization (kube-scheduler's secure port, and ours) asks the API
//! server.
//!
//! The sandbox authenticates no client of its own; it only answers these reviews:
//! - a **TokenReview** knows the tokens registered with [`crate::Sandbox::add_token`] (or
//!   `POST /sandbox/tokens`); any other token is not authenticated, with the real server's
//!   error text;
//! - a **SubjectAccessReview** is decided by the RBAC objects in the store, as the real RBAC
//!   authorizer decides: ClusterRoleBindings grant their ClusterRole everywhere (non-resource
//!   URLs included), RoleBindings grant their Role or ClusterRole in their namespace, for
//!   resource requests only. The group `system:masters` is allowed everything, as the real
//!   server's privileged-group authorizer does. No aggregated ClusterRoles, no default roles.
//!
//! Neither review is stored; both answer 201 with the review and its `status`.

use serde_json::{Map, Value, json};

use crate::api::Shared;
use crate::status::ApiError;
use crate::validation::FieldError;

/// Who a bearer token stands for: a TokenReview's `status.user`.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TokenUser {
    /// `system:serviceaccount:monitoring:prometheus`, `alice`, ...
    pub username: String,
    /// The user's uid (may be empty).
    #[serde(default)]
    pub uid: String,
    /// The user's groups; the real server includes `system:authenticated`.
    #[serde(default)]
    pub groups: Vec<String>,
}

impl TokenUser {
    /// A user with these groups and `system:authenticated`, as the real server reports
    /// every authenticated user.
    pub fn new(username: &str, groups: &[&str]) -> Self {
        let mut groups: Vec<String> = groups.iter().map(|g| (*g).to_string()).collect();
        if !groups.iter().any(|g| g == "system:authenticated") {
            groups.push("system:authenticated".into());
        }
        Self {
            username: username.into(),
            uid: String::new(),
            groups,
        }
    }

    /// The identity of a service account's token, as the real server reports it.
    pub fn service_account(namespace: &str, name: &str) -> Self {
        Self::new(
            &format!("system:serviceaccount:{namespace}:{name}"),
            &[
                "system:serviceaccounts",
                &format!("system:serviceaccounts:{namespace}"),
            ],
        )
    }
}

/// Answers a TokenReview (`body` already parsed and type-checked).
pub(crate) fn token_review(shared: &Shared, mut body: Value) -> Result<Value, ApiError> {
    let token = body
        .pointer("/spec/token")
        .and_then(Value::as_str)
        .unwrap_or("");
    let user = shared
        .tokens
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(token)
        .cloned();
    let mut status = Map::new();
    match user {
        Some(user) if !token.is_empty() => {
            status.insert("authenticated".into(), json!(true));
            status.insert("user".into(), json!(user));
            if let Some(audiences) = body.pointer("/spec/audiences").filter(|a| a.is_array()) {
                status.insert("audiences".into(), audiences.clone());
            }
        }
        _ => {
            status.insert("user".into(), json!({}));
            status.insert("error".into(), json!("invalid bearer token"));
        }
    }
    body["metadata"] = json!({"creationTimestamp": null});
    body["status"] = Value::Object(status);
    Ok(body)
}

fn str_at<'a>(v: &'a Value, pointer: &str) -> &'a str {
    v.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

/// What a SubjectAccessReview asks about.
enum Asked<'a> {
    NonResource {
        path: &'a str,
        verb: &'a str,
    },
    Resource {
        namespace: &'a str,
        verb: &'a str,
        group: &'a str,
        resource: &'a str,
        subresource: &'a str,
        name: &'a str,
    },
}

/// Answers a SubjectAccessReview (`body` already parsed and type-checked); 422 as the real
/// server when it names no user or group, or not exactly one kind of attributes.
pub(crate) fn subject_access_review(shared: &Shared, mut body: Value) -> Result<Value, ApiError> {
    let spec = body.get("spec").cloned().unwrap_or(Value::Null);
    let user = str_at(&spec, "/user");
    let groups: Vec<String> = spec
        .get("groups")
        .and_then(Value::as_array)
        .map(|g| {
            g.iter()
                .filter_map(|x| x.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    let mut causes = Vec::new();
    let non_resource = spec.get("nonResourceAttributes").filter(|v| v.is_object());
    let resource = spec.get("resourceAttributes").filter(|v| v.is_object());
    if non_resource.is_some() == resource.is_some() {
        causes.push(FieldError {
            field: "spec.resourceAttributes".into(),
            reason: "FieldValueInvalid",
            message: "exactly one of nonResourceAttributes or resourceAttributes must be specified"
                .into(),
        });
    }
    if user.is_empty() && groups.is_empty() {
        causes.push(FieldError {
            field: "spec.user".into(),
            reason: "FieldValueInvalid",
            message: "at least one of user or group must be specified".into(),
        });
    }
    if !causes.is_empty() {
        return Err(ApiError::invalid(
            "authorization.k8s.io",
            "SubjectAccessReview",
            "",
            causes,
        ));
    }
    let asked = match (non_resource, resource) {
        (Some(n), _) => Asked::NonResource {
            path: str_at(n, "/path"),
            verb: str_at(n, "/verb"),
        },
        (None, Some(r)) => Asked::Resource {
            namespace: str_at(r, "/namespace"),
            verb: str_at(r, "/verb"),
            group: str_at(r, "/group"),
            resource: str_at(r, "/resource"),
            subresource: str_at(r, "/subresource"),
            name: str_at(r, "/name"),
        },
        // Both absent was refused above.
        (None, None) => return Err(ApiError::Internal("no attributes".into())),
    };
    let reason = authorize(shared, user, &groups, &asked);
    let mut status = Map::new();
    status.insert("allowed".into(), json!(reason.is_some()));
    if let Some(reason) = reason.filter(|r| !r.is_empty()) {
        status.insert("reason".into(), json!(reason));
    }
    body["metadata"] = json!({"creationTimestamp": null});
    body["status"] = Value::Object(status);
    Ok(body)
}

/// `Some(reason)` when allowed, as the RBAC authorizer words it.
fn authorize(shared: &Shared, user: &str, groups: &[String], asked: &Asked<'_>) -> Option<String> {
    if groups.iter().any(|g| g == "system:masters") {
        return Some(String::new());
    }
    let rules_of = |kind: &str, namespace: &str, name: &str| -> Vec<Value> {
        let (store, ns) = match kind {
            "ClusterRole" => ("clusterroles", ""),
            "Role" => ("roles", namespace),
            _ => return Vec::new(),
        };
        shared
            .store
            .get(store, ns, name)
            .and_then(|r| r.get("rules").and_then(Value::as_array).cloned())
            .unwrap_or_default()
    };
    let (bindings, _) = shared.store.list("clusterrolebindings", None);
    for b in &bindings {
        if b.pointer("/roleRef/kind").and_then(Value::as_str) != Some("ClusterRole") {
            continue;
        }
        let role = b
            .pointer("/roleRef/name")
            .and_then(Value::as_str)
            .unwrap_or("");
        let Some(subject) = matching_subject(b, "", user, groups) else {
            continue;
        };
        if rules_of("ClusterRole", "", role)
            .iter()
            .any(|rule| rule_allows(rule, asked))
        {
            let name = b
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or("");
            return Some(format!(
                "RBAC: allowed by ClusterRoleBinding \"{name}\" of ClusterRole \"{role}\" to {subject}"
            ));
        }
    }
    let Asked::Resource { namespace, .. } = asked else {
        return None;
    };
    if namespace.is_empty() {
        return None;
    }
    let (bindings, _) = shared.store.list("rolebindings", Some(namespace));
    for b in &bindings {
        let kind = b
            .pointer("/roleRef/kind")
            .and_then(Value::as_str)
            .unwrap_or("");
        let role = b
            .pointer("/roleRef/name")
            .and_then(Value::as_str)
            .unwrap_or("");
        let Some(subject) = matching_subject(b, namespace, user, groups) else {
            continue;
        };
        if rules_of(kind, namespace, role)
            .iter()
            .any(|rule| rule_allows(rule, asked))
        {
            let name = b
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or("");
            return Some(format!(
                "RBAC: allowed by RoleBinding \"{name}/{namespace}\" of {kind} \"{role}\" to {subject}"
            ));
        }
    }
    None
}

/// The first of a binding's subjects that is this user, described as RBAC describes it
/// (`User "alice"`, `Group "g"`, `ServiceAccount "name/namespace"`). A service account subject
/// without a namespace takes the binding's.
fn matching_subject(
    binding: &Value,
    namespace: &str,
    user: &str,
    groups: &[String],
) -> Option<String> {
    let subjects = binding.get("subjects").and_then(Value::as_array)?;
    subjects.iter().find_map(|s| {
        let name = s.get("name").and_then(Value::as_str).unwrap_or("");
        match s.get("kind").and_then(Value::as_str) {
            Some("User") if name == user => Some(format!("User \"{name}\"")),
            Some("Group") if groups.iter().any(|g| g == name) => Some(format!("Group \"{name}\"")),
            Some("ServiceAccount") => {
                let ns = s
                    .get("namespace")
                    .and_then(Value::as_str)
                    .filter(|n| !n.is_empty())
                    .unwrap_or(namespace);
                (!ns.is_empty() && user == format!("system:serviceaccount:{ns}:{name}"))
                    .then(|| format!("ServiceAccount \"{name}/{ns}\""))
            }
            _ => None,
        }
    })
}

fn strings<'a>(rule: &'a Value, field: &str) -> Vec<&'a str> {
    rule.get(field)
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

/// Whether one PolicyRule allows the request, by RBAC's matching rules: `*` matches any verb,
/// group, resource or URL; `*/sub` any resource's subresource `sub`; a URL ending in `*` is a
/// prefix; resourceNames, when given, must name the object.
fn rule_allows(rule: &Value, asked: &Asked<'_>) -> bool {
    let verbs = strings(rule, "verbs");
    let verb_ok = |verb: &str| verbs.iter().any(|v| *v == "*" || *v == verb);
    match *asked {
        Asked::NonResource { path, verb } => {
            verb_ok(verb)
                && strings(rule, "nonResourceURLs").iter().any(|u| {
                    *u == "*"
                        || *u == path
                        || u.strip_suffix('*').is_some_and(|p| path.starts_with(p))
                })
        }
        Asked::Resource {
            verb,
            group,
            resource,
            subresource,
            name,
            ..
        } => {
            let combined = if subresource.is_empty() {
                resource.to_string()
            } else {
                format!("{resource}/{subresource}")
            };
            let names = strings(rule, "resourceNames");
            verb_ok(verb)
                && strings(rule, "apiGroups")
                    .iter()
                    .any(|g| *g == "*" || *g == group)
                && strings(rule, "resources").iter().any(|r| {
                    *r == "*"
                        || *r == combined
                        || (!subresource.is_empty() && r.strip_prefix("*/") == Some(subresource))
                })
                && (names.is_empty() || names.contains(&name))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_match_as_rbac_matches_them() {
        let metrics = json!({"nonResourceURLs": ["/metrics"], "verbs": ["get"]});
        let get = |path| Asked::NonResource { path, verb: "get" };
        assert!(rule_allows(&metrics, &get("/metrics")));
        assert!(!rule_allows(&metrics, &get("/metrics/extra")));
        assert!(!rule_allows(
            &metrics,
            &Asked::NonResource {
                path: "/metrics",
                verb: "post"
            }
        ));
        let prefix = json!({"nonResourceURLs": ["/debug/*"], "verbs": ["*"]});
        assert!(rule_allows(&prefix, &get("/debug/pprof")));
        assert!(!rule_allows(&prefix, &get("/metrics")));

        let pods = |sub, name| Asked::Resource {
            namespace: "jhub",
            verb: "get",
            group: "",
            resource: "pods",
            subresource: sub,
            name,
        };
        let rule = json!({"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]});
        assert!(rule_allows(&rule, &pods("", "a")));
        assert!(!rule_allows(&rule, &pods("status", "a")));
        let any_status = json!({"apiGroups": ["*"], "resources": ["*/status"], "verbs": ["get"]});
        assert!(rule_allows(&any_status, &pods("status", "a")));
        let named = json!({"apiGroups": [""], "resources": ["pods"], "resourceNames": ["b"], "verbs": ["get"]});
        assert!(!rule_allows(&named, &pods("", "a")));
        assert!(rule_allows(&named, &pods("", "b")));
        // A non-resource rule grants no resource and the reverse.
        assert!(!rule_allows(&metrics, &pods("", "a")));
        assert!(!rule_allows(&rule, &get("/metrics")));
    }

    #[test]
    fn service_account_identities() {
        let u = TokenUser::service_account("monitoring", "prometheus");
        assert_eq!(u.username, "system:serviceaccount:monitoring:prometheus");
        assert_eq!(
            u.groups,
            [
                "system:serviceaccounts",
                "system:serviceaccounts:monitoring",
                "system:authenticated"
            ]
        );
        let binding = json!({"subjects": [
            {"kind": "Group", "name": "ops"},
            {"kind": "ServiceAccount", "name": "prometheus", "namespace": "monitoring"}]});
        assert_eq!(
            matching_subject(&binding, "", &u.username, &u.groups).as_deref(),
            Some("ServiceAccount \"prometheus/monitoring\"")
        );
        assert_eq!(
            matching_subject(&binding, "", "bob", &["ops".into()]).as_deref(),
            Some("Group \"ops\"")
        );
        assert_eq!(matching_subject(&binding, "", "bob", &[]), None);
        // A service account subject without a namespace takes the RoleBinding's.
        let local = json!({"subjects": [{"kind": "ServiceAccount", "name": "prometheus"}]});
        assert!(matching_subject(&local, "monitoring", &u.username, &u.groups).is_some());
        assert!(matching_subject(&local, "", &u.username, &u.groups).is_none());
    }
}
