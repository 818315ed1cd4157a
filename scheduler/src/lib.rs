//! The user-scheduler daemon and CLI.
//!
//! The `sandbox` feature (on by default) adds the test world: the `demo` and
//! `sandbox` subcommands and the `sandbox` crate behind them. The production
//! image builds without it (`--no-default-features`), so it ships no
//! in-memory API server, kubelet stand-in or autoscaler model.

pub mod cli;
pub mod cluster_file;
pub mod config;
pub mod convert;
pub mod daemon;
#[cfg(feature = "sandbox")]
pub mod demo;
pub mod explain;
pub mod run;
#[cfg(feature = "simulate")]
pub mod simulate;
pub mod yaml_input;
