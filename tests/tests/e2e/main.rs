//! The end-to-end tests, one module per concern, linked into one test binary:
//! each file used to be its own binary, and every one of them linked kube,
//! the sandbox and the scheduler again (ten links per CI run for one).
//! Run one file's tests with its module path as the filter, e.g.
//! `cargo test -p e2e --test e2e daemon_leader::`.

mod support;

mod daemon_admin;
mod daemon_faults;
mod daemon_handover;
mod daemon_leader;
mod daemon_preemption;
mod daemon_scheduling;
mod daemon_volumes;
mod demo;
mod rbac_coverage;
mod real_control_plane;
