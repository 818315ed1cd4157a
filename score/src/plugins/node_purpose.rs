//! NodePurpose: z2jh's `matchNodePurpose` as a scheduler policy, so that it
//! applies to every pod of the profile without each pod carrying the affinity.
//!
//! `require`: only nodes labelled `<key>=<value>` (default
//! `hub.jupyter.org/node-purpose=user`) pass the filter; reason
//! "node(s) didn't have the node-purpose label {key: value}"
//! (unresolvable). `prefer`: such nodes score 100 and others 0. `ignore`:
//! neither. (z2jh expresses the same rule as a node affinity with weight 100;
//! this plugin's score is that affinity's normalized score.)

use crate::symbols::Sym;

/// The purpose label, interned.
#[derive(Clone, Copy, Debug)]
pub(crate) struct PurposeLabel {
    pub key: Sym,
    pub value: Sym,
}

impl PurposeLabel {
    /// Whether a node with this label value (for the key) has the purpose.
    pub fn matches(self, value: Option<Sym>) -> bool {
        self.value != Sym::UNKNOWN && value == Some(self.value)
    }

    /// The score in `prefer` mode.
    pub fn score(self, value: Option<Sym>) -> i64 {
        if self.matches(value) { 100 } else { 0 }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn purpose_table() {
        let label = PurposeLabel {
            key: Sym(1),
            value: Sym(2),
        };
        // (node's value for the key, matches, prefer score)
        let cases = [
            (Some(Sym(2)), true, 100),
            (Some(Sym(3)), false, 0),
            (None, false, 0),
        ];
        for (value, matches, score) in cases {
            assert_eq!(label.matches(value), matches, "{value:?}");
            assert_eq!(label.score(value), score, "{value:?}");
        }
        let unknown = PurposeLabel {
            key: Sym(1),
            value: Sym::UNKNOWN,
        };
        assert!(!unknown.matches(Some(Sym::UNKNOWN)));
    }
}
