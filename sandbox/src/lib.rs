//! An in-memory Kubernetes API server.
#![forbid(unsafe_code)]
pub mod clock;
pub mod patch;
pub mod resources;
pub mod selector;
pub mod status;
pub mod store;
pub mod validation;
