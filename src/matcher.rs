//! Compiled L7 matchers: host, path, method and SNI patterns with `*` wildcards, compiled
//! once per policy snapshot so matching stays nearly flat in the number of rules.
//!
//! A pattern is split by shape ([`Glob`]): exact names go into hash maps, prefixes and
//! suffixes into byte tries, `*middle*` substrings into one Aho-Corasick automaton, and
//! every other glob is found through its longest literal piece (a second automaton) and
//! then confirmed. A [`PatternIndex`] answers "which entries accept
//! this value" as a bit set, and [`HttpMatcher`] / [`TlsMatcher`] AND the per-field sets
//! of one L7 rule's entries together. No request ever walks the list of patterns.

mod bits;
mod glob;
mod index;
mod l7;

pub use bits::BitSet;
pub use glob::Glob;
pub use index::PatternIndex;
pub use l7::{HttpEntry, HttpMatcher, L7Outcome, TlsEntry, TlsMatcher};

#[cfg(test)]
mod tests;
