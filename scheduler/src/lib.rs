//! The user-scheduler daemon and CLI.

pub mod cluster_file;
pub mod config;
pub mod convert;
pub mod daemon;
pub mod synthetic;
