//! Label selectors compiled against the cluster's interned labels.

use crate::model::{LabelSelector, LabelSelectorOperator};
use crate::symbols::{Sym, Symbols};

/// A label selector over interned labels.
#[derive(Clone, Debug)]
pub(crate) struct CompiledSelector {
    requirements: Vec<(Sym, LabelSelectorOperator, Vec<Sym>)>,
}

impl CompiledSelector {
    pub(crate) fn compile(selector: &LabelSelector, symbols: &Symbols) -> Self {
        let mut requirements: Vec<_> = selector
            .match_labels
            .iter()
            .map(|(k, v)| {
                (
                    symbols.lookup(k),
                    LabelSelectorOperator::In,
                    vec![symbols.lookup(v)],
                )
            })
            .collect();
        requirements.extend(selector.match_expressions.iter().map(|r| {
            (
                symbols.lookup(&r.key),
                r.operator,
                r.values.iter().map(|v| symbols.lookup(v)).collect(),
            )
        }));
        CompiledSelector { requirements }
    }

    pub(crate) fn matches(&self, labels: &[(Sym, Sym)]) -> bool {
        self.requirements.iter().all(|(key, op, values)| {
            let value = labels
                .binary_search_by_key(key, |&(k, _)| k)
                .ok()
                .map(|i| labels[i].1);
            match op {
                LabelSelectorOperator::In => {
                    value.is_some_and(|v| v != Sym::UNKNOWN && values.contains(&v))
                }
                LabelSelectorOperator::NotIn => value.is_none_or(|v| !values.contains(&v)),
                LabelSelectorOperator::Exists => value.is_some(),
                LabelSelectorOperator::DoesNotExist => value.is_none(),
            }
        })
    }
}
