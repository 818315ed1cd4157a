//! The user-scheduler daemon and CLI.

pub mod cli;
pub mod cluster_file;
pub mod config;
pub mod convert;
pub mod daemon;
pub mod demo;
pub mod explain;
pub mod run;
pub mod synthetic;
pub mod yaml_input;
