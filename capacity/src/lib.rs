//! Capacity: how many nodes a hub needs, and for how long.
//!
//! Pure, like `score`: no I/O, no async, no clock (time is a number the
//! caller advances). The sandbox's autoscaler controller and
//! `user-scheduler simulate` both use these models, so the project has one
//! autoscaler model.

pub mod trace;
