//! String interning: label keys and values, taint keys, image names and
//! resource names become small integers so that the hot path compares `u32`s.

use std::collections::HashMap;

/// An interned string.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Sym(pub u32);

impl Sym {
    /// Stands for a string the cluster has never seen: it equals no interned symbol.
    pub const UNKNOWN: Sym = Sym(u32::MAX);
}

/// The interner. Strings are never removed: the set of distinct label keys,
/// values and image names in a cluster is small and stable.
#[derive(Debug, Default, Clone)]
pub struct Symbols {
    index: HashMap<Box<str>, Sym>,
    strings: Vec<Box<str>>,
}

impl Symbols {
    /// Interns `s`.
    pub fn intern(&mut self, s: &str) -> Sym {
        if let Some(&sym) = self.index.get(s) {
            return sym;
        }
        let sym = Sym(u32::try_from(self.strings.len()).expect("fewer than 2^32 distinct strings"));
        self.strings.push(s.into());
        self.index.insert(s.into(), sym);
        sym
    }

    /// Looks `s` up without interning it; [`Sym::UNKNOWN`] when never seen.
    #[must_use]
    pub fn lookup(&self, s: &str) -> Sym {
        self.index.get(s).copied().unwrap_or(Sym::UNKNOWN)
    }

    /// The string of a symbol (empty for [`Sym::UNKNOWN`]).
    #[must_use]
    pub fn resolve(&self, sym: Sym) -> &str {
        self.strings.get(sym.0 as usize).map_or("", |s| s)
    }

    /// Number of interned strings.
    #[must_use]
    pub fn len(&self) -> usize {
        self.strings.len()
    }

    /// Whether nothing is interned.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.strings.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interning_is_stable_and_lookup_does_not_insert() {
        let mut s = Symbols::default();
        let a = s.intern("a");
        assert_eq!(s.intern("a"), a);
        assert_ne!(s.intern("b"), a);
        assert_eq!(s.lookup("c"), Sym::UNKNOWN);
        assert_eq!(s.len(), 2);
        assert_eq!(s.resolve(a), "a");
        assert_eq!(s.resolve(Sym::UNKNOWN), "");
    }
}
