//! Capacity: how many nodes a hub needs, and for how long.
//!
//! Pure, like `score`: no I/O, no async, no clock (time is a number the
//! caller advances). The sandbox's autoscaler controller and
//! `user-scheduler simulate` both use these models, so the project has one
//! autoscaler model.
//!
//! - [`autoscaler`]: the cluster autoscaler and Karpenter (`WhenEmpty`) as
//!   decision models. The caller hands a compact snapshot (pools, nodes and
//!   their pods, pending pods) and says which pods a node or pool admits;
//!   [`autoscaler::Autoscaler::step`] returns the actions (scale a pool up,
//!   drain and remove a node, give up a node that never registered). The
//!   sandbox performs them through its API server; the simulator applies them
//!   to its own cluster.
//! - [`trace`]: hub traces — the CSV contract operators export from their hub,
//!   and seeded campus and mybinder generators with the published lifetime
//!   distribution.
//! - [`sim`]: the discrete-event simulation of a hub behind
//!   `user-scheduler simulate`; every placement is `score::decide`'s.

pub mod autoscaler;
pub mod sim;
pub mod trace;
