//! TaintToleration (kube `plugins/tainttoleration`, `core/v1/toleration.go`).
//!
//! Filter: the first NoSchedule or NoExecute taint no toleration tolerates
//! rejects the node, "node(s) had untolerated taint {key: value}"
//! (UnschedulableAndUnresolvable). Score: the number of PreferNoSchedule taints
//! not tolerated by the pod's PreferNoSchedule (or effect-less) tolerations,
//! normalized in reverse (fewest such taints → 100).

use crate::cluster::TaintRec;
use crate::model::{TaintEffect, Toleration, TolerationOperator};
use crate::symbols::{Sym, Symbols};

/// A toleration with its key and value interned.
#[derive(Clone, Debug)]
pub(crate) struct CompiledToleration {
    /// `None`: the empty key, which matches every key.
    pub key: Option<Sym>,
    pub operator: TolerationOperator,
    pub value: Sym,
    pub value_str: String,
    pub effect: Option<TaintEffect>,
}

impl CompiledToleration {
    pub fn compile(t: &Toleration, symbols: &Symbols) -> Self {
        CompiledToleration {
            key: (!t.key.is_empty()).then(|| symbols.lookup(&t.key)),
            operator: t.operator,
            value: symbols.lookup(&t.value),
            value_str: t.value.clone(),
            effect: t.effect,
        }
    }
}

/// kube's `Toleration.ToleratesTaint`.
pub(crate) fn tolerates(t: &CompiledToleration, taint: &TaintRec, symbols: &Symbols) -> bool {
    if t.effect.is_some_and(|e| e != taint.effect) {
        return false;
    }
    if t.key.is_some_and(|k| k != taint.key) {
        return false;
    }
    match t.operator {
        TolerationOperator::Equal => t.value == taint.value,
        TolerationOperator::Exists => true,
        TolerationOperator::Lt | TolerationOperator::Gt => {
            let (Ok(mine), Ok(theirs)) = (
                t.value_str.parse::<i64>(),
                symbols.resolve(taint.value).parse::<i64>(),
            ) else {
                return false;
            };
            if t.operator == TolerationOperator::Lt {
                theirs < mine
            } else {
                theirs > mine
            }
        }
    }
}

/// The first NoSchedule/NoExecute taint none of `tolerations` tolerates.
pub(crate) fn first_untolerated<'a>(
    taints: &'a [TaintRec],
    tolerations: &[CompiledToleration],
    symbols: &Symbols,
) -> Option<&'a TaintRec> {
    taints.iter().find(|taint| {
        matches!(
            taint.effect,
            TaintEffect::NoSchedule | TaintEffect::NoExecute
        ) && !tolerations.iter().any(|t| tolerates(t, taint, symbols))
    })
}

/// Raw score: PreferNoSchedule taints not tolerated by the tolerations whose
/// effect is PreferNoSchedule or empty.
pub(crate) fn intolerable_prefer_no_schedule(
    taints: &[TaintRec],
    tolerations: &[CompiledToleration],
    symbols: &Symbols,
) -> i64 {
    let count = taints
        .iter()
        .filter(|taint| taint.effect == TaintEffect::PreferNoSchedule)
        .filter(|taint| {
            !tolerations
                .iter()
                .filter(|t| t.effect.is_none_or(|e| e == TaintEffect::PreferNoSchedule))
                .any(|t| tolerates(t, taint, symbols))
        })
        .count();
    i64::try_from(count).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tol(
        key: &str,
        op: TolerationOperator,
        value: &str,
        effect: Option<TaintEffect>,
    ) -> Toleration {
        Toleration {
            key: key.into(),
            operator: op,
            value: value.into(),
            effect,
        }
    }

    #[test]
    fn toleration_table() {
        use TaintEffect::*;
        use TolerationOperator::*;
        let mut symbols = Symbols::default();
        let taint = |symbols: &mut Symbols, k: &str, v: &str, e| TaintRec {
            key: symbols.intern(k),
            value: symbols.intern(v),
            effect: e,
        };
        let dedicated = taint(
            &mut symbols,
            "hub.jupyter.org/dedicated",
            "user",
            NoSchedule,
        );
        let gke = taint(
            &mut symbols,
            "hub.jupyter.org_dedicated",
            "user",
            NoSchedule,
        );
        let numeric = taint(&mut symbols, "size", "5", NoSchedule);
        // (toleration, taint, tolerated)
        let cases = [
            (
                "Equal with same key/value/effect",
                tol("hub.jupyter.org/dedicated", Equal, "user", Some(NoSchedule)),
                dedicated,
                true,
            ),
            (
                "Equal with other value",
                tol("hub.jupyter.org/dedicated", Equal, "core", Some(NoSchedule)),
                dedicated,
                false,
            ),
            (
                "Equal with empty effect matches any effect",
                tol("hub.jupyter.org/dedicated", Equal, "user", None),
                dedicated,
                true,
            ),
            (
                "other effect",
                tol("hub.jupyter.org/dedicated", Equal, "user", Some(NoExecute)),
                dedicated,
                false,
            ),
            (
                "the / key does not tolerate the _ key",
                tol("hub.jupyter.org/dedicated", Equal, "user", None),
                gke,
                false,
            ),
            (
                "Exists ignores the value",
                tol("hub.jupyter.org_dedicated", Exists, "", None),
                gke,
                true,
            ),
            (
                "empty key with Exists tolerates everything",
                tol("", Exists, "", None),
                gke,
                true,
            ),
            (
                "key unknown to the cluster",
                tol("nope", Exists, "", None),
                gke,
                false,
            ),
            // 5 > 3
            (
                "Gt: taint value greater",
                tol("size", Gt, "3", None),
                numeric,
                true,
            ),
            // 5 < 3 is false
            (
                "Lt: taint value not less",
                tol("size", Lt, "3", None),
                numeric,
                false,
            ),
            (
                "Gt with a non-integer",
                tol("size", Gt, "x", None),
                numeric,
                false,
            ),
        ];
        for (name, t, taint, want) in cases {
            let c = CompiledToleration::compile(&t, &symbols);
            assert_eq!(tolerates(&c, &taint, &symbols), want, "{name}");
        }
    }

    #[test]
    fn filter_and_score_consider_the_right_effects() {
        use TaintEffect::*;
        let mut symbols = Symbols::default();
        let taints = [
            TaintRec {
                key: symbols.intern("a"),
                value: symbols.intern("1"),
                effect: PreferNoSchedule,
            },
            TaintRec {
                key: symbols.intern("b"),
                value: symbols.intern("1"),
                effect: NoExecute,
            },
            TaintRec {
                key: symbols.intern("c"),
                value: symbols.intern("1"),
                effect: PreferNoSchedule,
            },
        ];
        let tolerate_a = CompiledToleration::compile(
            &tol("a", TolerationOperator::Exists, "", Some(PreferNoSchedule)),
            &symbols,
        );
        // The NoExecute taint b is the first untolerated one; PreferNoSchedule ones never filter.
        let first = first_untolerated(&taints, std::slice::from_ref(&tolerate_a), &symbols);
        assert_eq!(first.map(|t| symbols.resolve(t.key)), Some("b"));
        // Score: a is tolerated, c is not → 1.
        assert_eq!(
            intolerable_prefer_no_schedule(&taints, &[tolerate_a], &symbols),
            1
        );
        // A NoSchedule-only toleration does not count for scoring.
        let no_schedule_only = CompiledToleration::compile(
            &tol("c", TolerationOperator::Exists, "", Some(NoSchedule)),
            &symbols,
        );
        assert_eq!(
            intolerable_prefer_no_schedule(&taints, &[no_schedule_only], &symbols),
            2
        );
    }
}
