//! String interning: label keys and values, taint keys, image names and
//! resource names become small integers so that the hot path compares `u32`s.
//!
//! A decision may meet a name the cluster has never seen, such as an extended
//! resource only the pending pod asks for (a GPU pool scaled to zero). Such a
//! name gets a *decision-local* symbol ([`Sym::local`]), kept with the
//! decision's other names, and is printed through [`Names`]: a reason never
//! loses the name it is about.

use std::collections::HashMap;

/// An interned string.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Sym(pub u32);

impl Sym {
    /// Stands for a string the cluster has never seen: it equals no interned symbol.
    pub const UNKNOWN: Sym = Sym(u32::MAX);

    /// The first decision-local symbol; interned symbols stay below it.
    const LOCAL: u32 = u32::MAX - (1 << 16);

    /// The `k`-th name of a decision that the cluster has not interned
    /// (see [`Names`]); equals no interned symbol. [`Sym::UNKNOWN`] when
    /// `k ≥ 2^16`.
    #[must_use]
    pub fn local(k: usize) -> Sym {
        u32::try_from(k)
            .ok()
            .and_then(|k| Sym::LOCAL.checked_add(k))
            .filter(|&s| s < Sym::UNKNOWN.0)
            .map_or(Sym::UNKNOWN, Sym)
    }

    /// Which decision-local name this is, if it is one.
    fn local_index(self) -> Option<usize> {
        self.0
            .checked_sub(Sym::LOCAL)
            .filter(|_| self != Sym::UNKNOWN)
            .map(|k| k as usize)
    }
}

/// What a symbol prints as when nothing knows it. Never reached by the
/// engine's own reasons (their names are interned or decision-local); it
/// keeps a bug visible instead of printing an empty name.
pub const UNKNOWN_NAME: &str = "<unknown>";

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
        // 2^32 − 2^16 distinct strings would need far more memory than any
        // cluster cache has; should it ever be reached, further strings are
        // not interned (they read as unknown) rather than panicking.
        let Some(sym) = u32::try_from(self.strings.len())
            .ok()
            .filter(|&n| n < Sym::LOCAL)
            .map(Sym)
        else {
            return Sym::UNKNOWN;
        };
        self.strings.push(s.into());
        self.index.insert(s.into(), sym);
        sym
    }

    /// Looks `s` up without interning it; [`Sym::UNKNOWN`] when never seen.
    #[must_use]
    pub fn lookup(&self, s: &str) -> Sym {
        self.index.get(s).copied().unwrap_or(Sym::UNKNOWN)
    }

    /// The string of an interned symbol ([`UNKNOWN_NAME`] for any other:
    /// never empty; decision-local names resolve through [`Names`]).
    #[must_use]
    pub fn resolve(&self, sym: Sym) -> &str {
        self.strings.get(sym.0 as usize).map_or(UNKNOWN_NAME, |s| s)
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

/// The names a decision's reasons print: the cluster's interned symbols and
/// the decision-local ones ([`Sym::local`]).
#[derive(Clone, Copy, Debug)]
pub struct Names<'a> {
    symbols: &'a Symbols,
    local: &'a [Box<str>],
}

impl<'a> Names<'a> {
    /// Interned symbols, and `local[k]` for [`Sym::local`]`(k)`.
    #[must_use]
    pub fn new(symbols: &'a Symbols, local: &'a [Box<str>]) -> Names<'a> {
        Names { symbols, local }
    }

    /// The cluster's symbols only.
    #[must_use]
    pub fn interned(symbols: &'a Symbols) -> Names<'a> {
        Names::new(symbols, &[])
    }

    /// The string of a symbol; [`UNKNOWN_NAME`] when neither side knows it.
    #[must_use]
    pub fn resolve(&self, sym: Sym) -> &'a str {
        match sym.local_index() {
            Some(k) => self.local.get(k).map_or(UNKNOWN_NAME, |s| s),
            None => self.symbols.resolve(sym),
        }
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
        assert_eq!(s.resolve(Sym::UNKNOWN), "<unknown>");
    }

    #[test]
    fn decision_local_names_resolve_beside_interned_ones() {
        let mut s = Symbols::default();
        let a = s.intern("a");
        let local: Vec<Box<str>> = vec!["nvidia.com/gpu".into()];
        let names = Names::new(&s, &local);
        // (symbol, what it prints as)
        let cases = [
            (a, "a"),
            (Sym::local(0), "nvidia.com/gpu"),
            (Sym::local(1), "<unknown>"), // no second local name
            (Sym::UNKNOWN, "<unknown>"),
            (Sym(7), "<unknown>"), // never interned
        ];
        for (sym, want) in cases {
            assert_eq!(names.resolve(sym), want, "{sym:?}");
        }
        assert_ne!(Sym::local(0), a);
        assert_eq!(Sym::local(usize::MAX), Sym::UNKNOWN);
        assert_eq!(Sym::local((1 << 16) - 1), Sym(u32::MAX - 1));
        assert_eq!(Sym::local(1 << 16), Sym::UNKNOWN);
    }
}
