//! The daemon: watches, cache, queue, scheduling cycle, binding, events,
//! leader election, admin server and metrics.

pub mod admin;
pub mod leader;
pub mod metrics;
pub mod queue;
