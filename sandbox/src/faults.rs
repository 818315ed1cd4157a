//! Fault injection: failing requests, latency, dropped watches, compaction, paused writes.
//!
//! Reached through [`crate::Sandbox::faults`] or the admin routes under `/sandbox/faults/`.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::api::Shared;
use crate::status::ApiError;

/// Why a fault request was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FaultError {
    /// The status code is not an HTTP error code.
    #[error("status {0} is not an error code (400..=599)")]
    NotAnError(u16),
}

#[derive(Debug, Clone)]
struct FailRule {
    method: Option<String>,
    path: String,
    status: u16,
    remaining: usize,
}

/// Fault state shared by the server.
#[derive(Debug)]
pub(crate) struct FaultState {
    rules: Mutex<Vec<FailRule>>,
    latency: Mutex<Duration>,
    paused: tokio::sync::watch::Sender<bool>,
}

impl FaultState {
    pub(crate) fn new() -> Self {
        Self {
            rules: Mutex::new(Vec::new()),
            latency: Mutex::new(Duration::ZERO),
            paused: tokio::sync::watch::channel(false).0,
        }
    }

    /// The latency to add to every request.
    pub(crate) fn latency(&self) -> Duration {
        *self.latency.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The injected failure for this request, if a rule matches (consuming one of its uses).
    pub(crate) fn take_failure(&self, method: &str, path_and_query: &str) -> Option<ApiError> {
        let mut rules = self.rules.lock().unwrap_or_else(|e| e.into_inner());
        let idx = rules.iter().position(|r| {
            r.method
                .as_deref()
                .is_none_or(|m| m.eq_ignore_ascii_case(method))
                && path_and_query.contains(&r.path)
        })?;
        let status = rules[idx].status;
        rules[idx].remaining -= 1;
        if rules[idx].remaining == 0 {
            rules.remove(idx);
        }
        Some(injected(status, method, path_and_query))
    }

    /// Waits while writes are paused.
    pub(crate) async fn wait_writable(&self) {
        let mut rx = self.paused.subscribe();
        // The sender lives as long as `self`, so `wait_for` only fails if it is dropped.
        let _ = rx.wait_for(|paused| !*paused).await;
    }
}

fn injected(status: u16, method: &str, path: &str) -> ApiError {
    let reason = match status {
        400 => "BadRequest",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "NotFound",
        405 => "MethodNotAllowed",
        409 => "Conflict",
        410 => "Expired",
        422 => "Invalid",
        429 => "TooManyRequests",
        500 => "InternalError",
        503 => "ServiceUnavailable",
        504 => "Timeout",
        _ => "Unknown",
    };
    ApiError::Custom {
        code: status,
        reason: reason.into(),
        message: format!("injected fault: {method} {path} failed with {status}"),
    }
}

/// Handle for injecting faults into a running sandbox.
#[derive(Clone)]
pub struct Faults {
    pub(crate) shared: Arc<Shared>,
}

impl Faults {
    /// Fails the next `count` requests whose method is `method` (`""` or `"*"` for any) and whose
    /// path and query contain `path_contains`, answering a `Status` with code `status`.
    pub fn fail_next(
        &self,
        method: &str,
        path_contains: &str,
        status: u16,
        count: usize,
    ) -> Result<(), FaultError> {
        if !(400..=599).contains(&status) {
            return Err(FaultError::NotAnError(status));
        }
        if count == 0 {
            return Ok(());
        }
        let method = (!method.is_empty() && method != "*").then(|| method.to_ascii_uppercase());
        self.shared
            .faults
            .rules
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(FailRule {
                method,
                path: path_contains.into(),
                status,
                remaining: count,
            });
        Ok(())
    }

    /// Adds `latency` before every API request is handled (zero to stop).
    pub fn set_latency(&self, latency: Duration) {
        *self
            .shared
            .faults
            .latency
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = latency;
    }

    /// Ends every open watch (clients see the stream end and re-watch from their last RV).
    pub fn close_watches(&self) {
        self.shared.close_watches.send_modify(|g| *g += 1);
    }

    /// Drops the event log, so that every watch resuming from an earlier resourceVersion gets an
    /// in-stream 410 Expired error and relists; open watches get that error at once.
    pub fn compact(&self) {
        self.shared.store.compact();
    }

    /// Makes every write wait until [`Faults::resume_writes`].
    pub fn pause_writes(&self) {
        self.shared.faults.paused.send_replace(true);
    }

    /// Lets paused writes proceed.
    pub fn resume_writes(&self) {
        self.shared.faults.paused.send_replace(false);
    }

    /// Removes every failure rule and the latency, and resumes writes.
    pub fn clear(&self) {
        self.shared
            .faults
            .rules
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
        self.set_latency(Duration::ZERO);
        self.resume_writes();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_are_consumed() {
        let f = FaultState::new();
        f.rules.lock().unwrap().push(FailRule {
            method: Some("POST".into()),
            path: "/binding".into(),
            status: 500,
            remaining: 2,
        });
        assert!(
            f.take_failure("GET", "/api/v1/namespaces/d/pods/p/binding")
                .is_none()
        );
        assert!(f.take_failure("POST", "/api/v1/nodes").is_none());
        let e = f
            .take_failure("post", "/api/v1/namespaces/d/pods/p/binding")
            .unwrap();
        assert_eq!((e.code(), e.reason()), (500, "InternalError"));
        assert!(f.take_failure("POST", "/x/binding").is_some());
        assert!(f.take_failure("POST", "/x/binding").is_none());
    }
}
