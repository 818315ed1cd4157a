//! API errors and the `metav1.Status` objects they are answered with.

use serde_json::{Value, json};

use crate::validation::FieldError;

/// An error answered to an API client as a `Status` with the real reason and code.
#[derive(Debug, Clone, thiserror::Error, PartialEq)]
pub enum ApiError {
    /// 404: the object (or the URL) does not exist.
    #[error("{message}")]
    NotFound {
        /// Human message.
        message: String,
        /// Name of the missing object.
        name: String,
        /// Resource (`pods`) of the missing object.
        kind: String,
        /// API group of the missing object.
        group: String,
    },
    /// 409 `AlreadyExists`.
    #[error("{message}")]
    AlreadyExists {
        /// Human message.
        message: String,
        /// Name of the object.
        name: String,
        /// Resource of the object.
        kind: String,
        /// API group.
        group: String,
    },
    /// 409 `Conflict` (stale resourceVersion, failed precondition, binding of a bound pod).
    #[error("{message}")]
    Conflict {
        /// Human message.
        message: String,
        /// Name of the object.
        name: String,
        /// Resource of the object.
        kind: String,
        /// API group.
        group: String,
    },
    /// 422 `Invalid`, with the rejected fields.
    #[error("{message}")]
    Invalid {
        /// Human message.
        message: String,
        /// Name of the object.
        name: String,
        /// Kind of the object.
        kind: String,
        /// API group.
        group: String,
        /// The rejected fields.
        causes: Vec<FieldError>,
    },
    /// 400 `BadRequest`.
    #[error("{0}")]
    BadRequest(String),
    /// 405 `MethodNotAllowed`.
    #[error("{0}")]
    MethodNotAllowed(String),
    /// 410 `Expired` (too old resourceVersion, expired continue token).
    #[error("{0}")]
    Expired(String),
    /// 415 `UnsupportedMediaType`.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// 429 `TooManyRequests`.
    #[error("{0}")]
    TooManyRequests(String),
    /// 500 `InternalError`.
    #[error("{0}")]
    Internal(String),
    /// Any status code and reason (fault injection).
    #[error("{message}")]
    Custom {
        /// HTTP status code.
        code: u16,
        /// Status reason.
        reason: String,
        /// Human message.
        message: String,
    },
}

impl ApiError {
    /// 404 for a named object.
    pub fn not_found(group: &str, resource: &str, name: &str) -> Self {
        let q = qualified(group, resource);
        ApiError::NotFound {
            message: format!("{q} \"{name}\" not found"),
            name: name.into(),
            kind: resource.into(),
            group: group.into(),
        }
    }

    /// 409 AlreadyExists for a named object.
    pub fn already_exists(group: &str, resource: &str, name: &str) -> Self {
        let q = qualified(group, resource);
        ApiError::AlreadyExists {
            message: format!("{q} \"{name}\" already exists"),
            name: name.into(),
            kind: resource.into(),
            group: group.into(),
        }
    }

    /// 409 Conflict: `Operation cannot be fulfilled on <resource> "<name>": <why>`.
    pub fn conflict(group: &str, resource: &str, name: &str, why: &str) -> Self {
        let q = qualified(group, resource);
        ApiError::Conflict {
            message: format!("Operation cannot be fulfilled on {q} \"{name}\": {why}"),
            name: name.into(),
            kind: resource.into(),
            group: group.into(),
        }
    }

    /// 422 Invalid for a kind and name with field errors.
    pub fn invalid(group: &str, kind: &str, name: &str, causes: Vec<FieldError>) -> Self {
        let list: Vec<String> = causes.iter().map(ToString::to_string).collect();
        let joined = if list.len() == 1 {
            list[0].clone()
        } else {
            format!("[{}]", list.join(", "))
        };
        ApiError::Invalid {
            message: format!("{kind} \"{name}\" is invalid: {joined}"),
            name: name.into(),
            kind: kind.into(),
            group: group.into(),
            causes,
        }
    }

    /// The HTTP status code.
    pub fn code(&self) -> u16 {
        match self {
            ApiError::NotFound { .. } => 404,
            ApiError::AlreadyExists { .. } | ApiError::Conflict { .. } => 409,
            ApiError::Invalid { .. } => 422,
            ApiError::BadRequest(_) => 400,
            ApiError::MethodNotAllowed(_) => 405,
            ApiError::Expired(_) => 410,
            ApiError::UnsupportedMediaType(_) => 415,
            ApiError::TooManyRequests(_) => 429,
            ApiError::Internal(_) => 500,
            ApiError::Custom { code, .. } => *code,
        }
    }

    /// The `Status.reason`.
    pub fn reason(&self) -> &str {
        match self {
            ApiError::NotFound { .. } => "NotFound",
            ApiError::AlreadyExists { .. } => "AlreadyExists",
            ApiError::Conflict { .. } => "Conflict",
            ApiError::Invalid { .. } => "Invalid",
            ApiError::BadRequest(_) => "BadRequest",
            ApiError::MethodNotAllowed(_) => "MethodNotAllowed",
            ApiError::Expired(_) => "Expired",
            ApiError::UnsupportedMediaType(_) => "UnsupportedMediaType",
            ApiError::TooManyRequests(_) => "TooManyRequests",
            ApiError::Internal(_) => "InternalError",
            ApiError::Custom { reason, .. } => reason,
        }
    }

    /// The `metav1.Status` object.
    pub fn to_status(&self) -> Value {
        let mut s = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.to_string(),
            "reason": self.reason(),
            "code": self.code(),
        });
        match self {
            ApiError::NotFound {
                name, kind, group, ..
            }
            | ApiError::AlreadyExists {
                name, kind, group, ..
            }
            | ApiError::Conflict {
                name, kind, group, ..
            } => {
                s["details"] = json!({"name": name, "group": group, "kind": kind});
            }
            ApiError::Invalid {
                name,
                kind,
                group,
                causes,
                ..
            } => {
                let causes: Vec<Value> = causes
                    .iter()
                    .map(|c| json!({"reason": c.reason, "message": c.message, "field": c.field}))
                    .collect();
                s["details"] =
                    json!({"name": name, "group": group, "kind": kind, "causes": causes});
            }
            ApiError::TooManyRequests(_) => {
                s["details"] = json!({"causes": [{"reason": "DisruptionBudget", "message": self.to_string()}]});
            }
            _ => {}
        }
        s
    }
}

fn qualified(group: &str, resource: &str) -> String {
    if group.is_empty() {
        resource.to_string()
    } else {
        format!("{resource}.{group}")
    }
}

/// A `Status` with `status: Success`.
pub fn success(code: u16) -> Value {
    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": code})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses() {
        let e = ApiError::not_found("", "pods", "p");
        assert_eq!(e.code(), 404);
        assert_eq!(e.to_status()["message"], "pods \"p\" not found");
        let e = ApiError::conflict("apps", "deployments", "d", "x");
        assert_eq!(
            e.to_status()["message"],
            "Operation cannot be fulfilled on deployments.apps \"d\": x"
        );
        let e = ApiError::invalid(
            "",
            "Pod",
            "p",
            vec![FieldError {
                field: "spec.x".into(),
                reason: "FieldValueInvalid",
                message: "bad".into(),
            }],
        );
        let s = e.to_status();
        assert_eq!(s["code"], 422);
        assert_eq!(s["details"]["causes"][0]["field"], "spec.x");
        assert_eq!(s["message"], "Pod \"p\" is invalid: spec.x: bad");
    }
}
