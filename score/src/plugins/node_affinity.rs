//! NodeAffinity (kube `plugins/nodeaffinity`, component-helpers `nodeaffinity`).
//!
//! Filter: `spec.nodeSelector` (every pair must equal a node label) AND the
//! required node affinity (terms ORed; within a term every expression and every
//! field requirement ANDed; a term with neither matches nothing) AND the
//! profile's `addedAffinity`. Reasons: "node(s) didn't match Pod's node
//! affinity/selector", and "node(s) didn't match scheduler-enforced node
//! affinity" for `addedAffinity`. Both UnschedulableAndUnresolvable.
//!
//! Score: the sum of the weights of the preferred terms a node matches,
//! normalized with `DefaultNormalizeScore` (the best node gets 100).

use crate::model::{
    NodeSelectorOperator, NodeSelectorRequirement, NodeSelectorTerm, PreferredSchedulingTerm,
};
use crate::symbols::{Sym, Symbols};

/// A node label lookup: the value of a key on one node, or on a node class.
pub(crate) trait NodeLabels {
    fn label(&self, key: Sym) -> Option<Sym>;
    /// The node's name (for `matchFields`), when known.
    fn name(&self) -> Option<&str>;
}

#[derive(Clone, Debug)]
pub(crate) struct CompiledRequirement {
    key: Sym,
    operator: NodeSelectorOperator,
    values: Vec<Sym>,
    /// The single value of Gt/Lt, parsed; `None` if it is not an integer (matches nothing).
    bound: Option<i64>,
}

#[derive(Clone, Debug)]
pub(crate) struct CompiledTerm {
    expressions: Vec<CompiledRequirement>,
    /// `metadata.name` requirements: (In?, names).
    fields: Vec<(bool, Vec<String>)>,
    /// A field requirement on something other than `metadata.name`, or an
    /// operator other than In/NotIn: the term matches nothing.
    invalid: bool,
}

impl CompiledRequirement {
    fn compile(r: &NodeSelectorRequirement, symbols: &Symbols) -> Self {
        let bound = match r.operator {
            NodeSelectorOperator::Gt | NodeSelectorOperator::Lt if r.values.len() == 1 => {
                r.values[0].parse().ok()
            }
            _ => None,
        };
        CompiledRequirement {
            key: symbols.lookup(&r.key),
            operator: r.operator,
            values: r.values.iter().map(|v| symbols.lookup(v)).collect(),
            bound,
        }
    }

    fn matches(&self, node: &impl NodeLabels, symbols: &Symbols) -> bool {
        let value = node.label(self.key);
        match self.operator {
            NodeSelectorOperator::In => value.is_some_and(|v| self.values.contains(&v)),
            NodeSelectorOperator::NotIn => value.is_none_or(|v| !self.values.contains(&v)),
            NodeSelectorOperator::Exists => value.is_some(),
            NodeSelectorOperator::DoesNotExist => value.is_none(),
            NodeSelectorOperator::Gt | NodeSelectorOperator::Lt => {
                let (Some(v), Some(bound)) = (value, self.bound) else {
                    return false;
                };
                let Ok(v) = symbols.resolve(v).parse::<i64>() else {
                    return false;
                };
                if self.operator == NodeSelectorOperator::Gt {
                    v > bound
                } else {
                    v < bound
                }
            }
        }
    }
}

impl CompiledTerm {
    pub fn compile(term: &NodeSelectorTerm, symbols: &Symbols) -> Self {
        let mut invalid = false;
        let fields = term
            .match_fields
            .iter()
            .filter_map(|f| {
                let op_in = match f.operator {
                    NodeSelectorOperator::In => true,
                    NodeSelectorOperator::NotIn => false,
                    _ => {
                        invalid = true;
                        return None;
                    }
                };
                if f.key != "metadata.name" {
                    invalid = true;
                    return None;
                }
                Some((op_in, f.values.clone()))
            })
            .collect();
        CompiledTerm {
            expressions: term
                .match_expressions
                .iter()
                .map(|r| CompiledRequirement::compile(r, symbols))
                .collect(),
            fields,
            invalid,
        }
    }

    /// Whether the term looks at anything unique to one node (the hostname
    /// label or the node name), so it cannot be decided per node class.
    pub fn per_node(&self, hostname_key: Sym) -> bool {
        !self.fields.is_empty() || self.expressions.iter().any(|e| e.key == hostname_key)
    }

    pub fn matches(&self, node: &impl NodeLabels, symbols: &Symbols) -> bool {
        if self.invalid || (self.expressions.is_empty() && self.fields.is_empty()) {
            return false;
        }
        self.expressions.iter().all(|e| e.matches(node, symbols))
            && self.fields.iter().all(|(op_in, names)| {
                let Some(name) = node.name() else {
                    return false;
                };
                names.iter().any(|n| n == name) == *op_in
            })
    }
}

/// Required node affinity: nodeSelector pairs AND any of the terms.
#[derive(Clone, Debug, Default)]
pub(crate) struct CompiledRequired {
    selector: Vec<(Sym, Sym)>,
    /// `None`: no required terms (everything passes).
    terms: Option<Vec<CompiledTerm>>,
}

impl CompiledRequired {
    pub fn compile<'a>(
        selector: impl IntoIterator<Item = (&'a String, &'a String)>,
        terms: Option<&[NodeSelectorTerm]>,
        symbols: &Symbols,
    ) -> Self {
        CompiledRequired {
            selector: selector
                .into_iter()
                .map(|(k, v)| (symbols.lookup(k), symbols.lookup(v)))
                .collect(),
            terms: terms.map(|t| {
                t.iter()
                    .map(|t| CompiledTerm::compile(t, symbols))
                    .collect()
            }),
        }
    }

    pub fn per_node(&self, hostname_key: Sym) -> bool {
        self.selector.iter().any(|(k, _)| *k == hostname_key)
            || self
                .terms
                .iter()
                .flatten()
                .any(|t| t.per_node(hostname_key))
    }

    pub fn matches(&self, node: &impl NodeLabels, symbols: &Symbols) -> bool {
        self.selector
            .iter()
            .all(|&(k, v)| v != Sym::UNKNOWN && node.label(k) == Some(v))
            && self
                .terms
                .as_ref()
                .is_none_or(|terms| terms.iter().any(|t| t.matches(node, symbols)))
    }
}

/// Preferred terms with their weights (weight-0 terms dropped, as kube does).
#[derive(Clone, Debug, Default)]
pub(crate) struct CompiledPreferred {
    terms: Vec<(i64, CompiledTerm)>,
}

impl CompiledPreferred {
    pub fn compile<'a>(
        terms: impl IntoIterator<Item = &'a PreferredSchedulingTerm>,
        symbols: &Symbols,
    ) -> Self {
        CompiledPreferred {
            terms: terms
                .into_iter()
                .filter(|t| t.weight != 0)
                .map(|t| {
                    (
                        i64::from(t.weight),
                        CompiledTerm::compile(&t.preference, symbols),
                    )
                })
                .collect(),
        }
    }

    pub fn per_node(&self, hostname_key: Sym) -> bool {
        self.terms.iter().any(|(_, t)| t.per_node(hostname_key))
    }

    /// Raw score: the sum of the weights of matching terms.
    pub fn score(&self, node: &impl NodeLabels, symbols: &Symbols) -> i64 {
        self.terms
            .iter()
            .filter(|(_, t)| t.matches(node, symbols))
            .map(|(w, _)| *w)
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Labels;

    struct TestNode<'a> {
        labels: Vec<(Sym, Sym)>,
        name: &'a str,
    }

    impl NodeLabels for TestNode<'_> {
        fn label(&self, key: Sym) -> Option<Sym> {
            self.labels.iter().find(|(k, _)| *k == key).map(|(_, v)| *v)
        }
        fn name(&self) -> Option<&str> {
            Some(self.name)
        }
    }

    fn req(key: &str, op: NodeSelectorOperator, values: &[&str]) -> NodeSelectorRequirement {
        NodeSelectorRequirement {
            key: key.into(),
            operator: op,
            values: values.iter().map(|v| (*v).to_string()).collect(),
        }
    }

    fn setup() -> (Symbols, TestNode<'static>) {
        let mut symbols = Symbols::default();
        let labels = [
            ("hub.jupyter.org/node-purpose", "user"),
            ("cpus", "16"),
            ("zone", "a"),
        ]
        .iter()
        .map(|(k, v)| (symbols.intern(k), symbols.intern(v)))
        .collect();
        (
            symbols,
            TestNode {
                labels,
                name: "node-1",
            },
        )
    }

    #[test]
    fn requirement_table() {
        use NodeSelectorOperator::*;
        let (symbols, node) = setup();
        let cases = [
            (
                "In matches",
                req("hub.jupyter.org/node-purpose", In, &["user", "core"]),
                true,
            ),
            (
                "In with other values",
                req("hub.jupyter.org/node-purpose", In, &["core"]),
                false,
            ),
            ("In on a missing label", req("gpu", In, &["yes"]), false),
            ("NotIn with other values", req("zone", NotIn, &["b"]), true),
            (
                "NotIn on a missing label",
                req("gpu", NotIn, &["yes"]),
                true,
            ),
            ("NotIn with the value", req("zone", NotIn, &["a"]), false),
            ("Exists", req("zone", Exists, &[]), true),
            ("Exists missing", req("gpu", Exists, &[]), false),
            ("DoesNotExist", req("gpu", DoesNotExist, &[]), true),
            (
                "DoesNotExist present",
                req("zone", DoesNotExist, &[]),
                false,
            ),
            // 16 > 8
            ("Gt", req("cpus", Gt, &["8"]), true),
            // 16 < 8 is false
            ("Lt", req("cpus", Lt, &["8"]), false),
            ("Gt on a missing label", req("gpus", Gt, &["0"]), false),
            ("Gt on a non-integer label", req("zone", Gt, &["0"]), false),
            (
                "Gt with two values is invalid",
                req("cpus", Gt, &["1", "2"]),
                false,
            ),
        ];
        for (name, r, want) in cases {
            let term = NodeSelectorTerm {
                match_expressions: vec![r],
                match_fields: vec![],
            };
            let c = CompiledTerm::compile(&term, &symbols);
            assert_eq!(c.matches(&node, &symbols), want, "{name}");
        }
    }

    #[test]
    fn terms_are_ored_and_expressions_anded() {
        use NodeSelectorOperator::*;
        let (symbols, node) = setup();
        let both = NodeSelectorTerm {
            match_expressions: vec![req("zone", In, &["a"]), req("gpu", Exists, &[])],
            match_fields: vec![],
        };
        let other = NodeSelectorTerm {
            match_expressions: vec![req("zone", In, &["a"])],
            match_fields: vec![],
        };
        let empty = NodeSelectorTerm::default();
        let required = |terms: &[NodeSelectorTerm]| {
            CompiledRequired::compile(&Labels::new(), Some(terms), &symbols)
                .matches(&node, &symbols)
        };
        assert!(!required(std::slice::from_ref(&both)), "AND within a term");
        assert!(required(&[both.clone(), other]), "OR across terms");
        assert!(!required(&[empty]), "an empty term matches nothing");
        assert!(!required(&[]), "no terms at all: nothing matches");
        let none = CompiledRequired::compile(&Labels::new(), None, &symbols);
        assert!(none.matches(&node, &symbols));
    }

    #[test]
    fn node_selector_and_match_fields() {
        use NodeSelectorOperator::*;
        let (symbols, node) = setup();
        let sel = |pairs: &[(&str, &str)]| {
            let labels: Labels = pairs
                .iter()
                .map(|(k, v)| ((*k).into(), (*v).into()))
                .collect();
            CompiledRequired::compile(&labels, None, &symbols).matches(&node, &symbols)
        };
        assert!(sel(&[("zone", "a"), ("cpus", "16")]));
        assert!(!sel(&[("zone", "b")]));
        assert!(!sel(&[("zone", "never-seen")]));
        let by_name = |op, name: &str| {
            let term = NodeSelectorTerm {
                match_expressions: vec![],
                match_fields: vec![req("metadata.name", op, &[name])],
            };
            CompiledTerm::compile(&term, &symbols).matches(&node, &symbols)
        };
        assert!(by_name(In, "node-1"));
        assert!(!by_name(In, "node-2"));
        assert!(by_name(NotIn, "node-2"));
        let bad_field = NodeSelectorTerm {
            match_expressions: vec![],
            match_fields: vec![req("metadata.uid", In, &["x"])],
        };
        assert!(!CompiledTerm::compile(&bad_field, &symbols).matches(&node, &symbols));
    }

    #[test]
    fn preferred_score_sums_matching_weights() {
        use NodeSelectorOperator::*;
        let (symbols, node) = setup();
        let term = |w, r| PreferredSchedulingTerm {
            weight: w,
            preference: NodeSelectorTerm {
                match_expressions: vec![r],
                match_fields: vec![],
            },
        };
        let terms = [
            term(100, req("hub.jupyter.org/node-purpose", In, &["user"])),
            term(20, req("zone", In, &["a"])),
            term(7, req("zone", In, &["b"])),
            term(0, req("zone", In, &["a"])),
        ];
        // 100 + 20 match; 7 does not; weight 0 is ignored: 120.
        assert_eq!(
            CompiledPreferred::compile(&terms, &symbols).score(&node, &symbols),
            120
        );
    }
}
