//! The user-scheduler daemon and CLI.

pub mod synthetic;
