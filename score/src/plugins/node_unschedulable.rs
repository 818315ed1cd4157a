//! NodeUnschedulable: a cordoned node (`spec.unschedulable`) only takes pods
//! that tolerate the `node.kubernetes.io/unschedulable:NoSchedule` taint.
//! Reason: "node(s) were unschedulable" (UnschedulableAndUnresolvable).

use super::taint_toleration::{CompiledToleration, tolerates};
use crate::cluster::TaintRec;
use crate::symbols::Symbols;

/// The taint key a cordoned node is treated as having.
pub const UNSCHEDULABLE_TAINT_KEY: &str = "node.kubernetes.io/unschedulable";

/// Whether a pod with these tolerations may go to an unschedulable node.
pub(crate) fn tolerates_unschedulable(
    tolerations: &[CompiledToleration],
    taint: &TaintRec,
    symbols: &Symbols,
) -> bool {
    tolerations.iter().any(|t| tolerates(t, taint, symbols))
}
