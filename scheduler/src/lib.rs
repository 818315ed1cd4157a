//! The user-scheduler daemon and CLI.
