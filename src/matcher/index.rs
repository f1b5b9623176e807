//! Which entries of one field accept a value, without looking at each pattern.
//!
//! Exact literals are hash lookups, prefixes and suffixes are trie walks, `*middle*`
//! substrings come out of one Aho-Corasick pass, and other globs are found through their
//! longest literal piece (in a second Aho-Corasick automaton) and then confirmed. Entry
//! lists that are long are kept as bit sets, so marking them costs words, not entries.

use std::collections::HashMap;

use aho_corasick::AhoCorasick;

use super::{BitSet, Glob};

/// Entry lists longer than this are stored as a bit set.
const DENSE: usize = 32;

/// The entries behind one key.
#[derive(Debug)]
enum Bucket {
    Few(Vec<u32>),
    Many(BitSet),
}

impl Bucket {
    fn new(entries: Vec<u32>, len: usize) -> Bucket {
        if entries.len() > DENSE {
            let mut set = BitSet::new(len);
            for e in entries {
                set.insert(e as usize);
            }
            Bucket::Many(set)
        } else {
            Bucket::Few(entries)
        }
    }

    fn mark(&self, out: &mut BitSet) {
        match self {
            Bucket::Few(v) => {
                for &e in v {
                    out.insert(e as usize);
                }
            }
            Bucket::Many(set) => out.union_with(set),
        }
    }
}

/// A trie node under construction: sorted children and the entries ending here.
type Node = (Vec<(u8, u32)>, Vec<u32>);

/// General globs sharing one literal piece: (entry, glob) pairs to confirm.
type Candidates = Vec<(u32, Glob)>;

/// A byte trie; a node's bucket holds the entries whose literal ends there.
#[derive(Debug, Default)]
struct Trie {
    /// `nodes[0]` is the root. Children sorted by byte for binary search.
    nodes: Vec<Node>,
    buckets: Vec<Option<Bucket>>,
}

impl Trie {
    fn insert(&mut self, key: impl Iterator<Item = u8>, entry: u32) {
        if self.nodes.is_empty() {
            self.nodes.push(Default::default());
        }
        let mut at = 0usize;
        for b in key {
            at = match self.nodes[at].0.binary_search_by_key(&b, |c| c.0) {
                Ok(i) => self.nodes[at].0[i].1 as usize,
                Err(i) => {
                    let next = self.nodes.len();
                    self.nodes.push(Default::default());
                    self.nodes[at].0.insert(i, (b, next as u32));
                    next
                }
            };
        }
        self.nodes[at].1.push(entry);
    }

    fn finish(&mut self, len: usize) {
        self.buckets = self
            .nodes
            .iter_mut()
            .map(|(_, e)| (!e.is_empty()).then(|| Bucket::new(std::mem::take(e), len)))
            .collect();
    }

    /// Marks the entries of every node on the path spelled by `key`.
    fn walk(&self, key: impl Iterator<Item = u8>, out: &mut BitSet) {
        if self.nodes.is_empty() {
            return;
        }
        let mut at = 0usize;
        for b in key {
            let children = &self.nodes[at].0;
            match children.binary_search_by_key(&b, |c| c.0) {
                Ok(i) => at = children[i].1 as usize,
                Err(_) => return,
            }
            if let Some(bucket) = &self.buckets[at] {
                bucket.mark(out);
            }
        }
    }
}

/// Patterns of one field (host, path, method or SNI) over the entries of one rule.
#[derive(Debug)]
pub struct PatternIndex {
    len: usize,
    /// Entries that do not constrain this field (match even an absent value).
    unset: BitSet,
    /// Entries whose pattern is only stars (any present value).
    any: BitSet,
    exact: HashMap<Box<str>, Bucket>,
    prefix: Trie,
    suffix: Trie,
    contains: Option<(AhoCorasick, Vec<Bucket>)>,
    /// Other globs, found by their longest literal piece, then confirmed.
    general: Option<(AhoCorasick, Vec<Candidates>)>,
}

/// Collects patterns, then builds a [`PatternIndex`].
#[derive(Debug, Default)]
pub struct PatternIndexBuilder {
    len: usize,
    unset: Vec<u32>,
    any: Vec<u32>,
    exact: HashMap<Box<str>, Vec<u32>>,
    prefix: Trie,
    suffix: Trie,
    contains: HashMap<String, Vec<u32>>,
    general: HashMap<String, Candidates>,
}

impl PatternIndexBuilder {
    /// Entry number `entry` constrains this field with `pattern` (`None`: unconstrained).
    pub fn add(&mut self, entry: u32, pattern: Option<&str>) {
        self.len = self.len.max(entry as usize + 1);
        let Some(pattern) = pattern else {
            self.unset.push(entry);
            return;
        };
        match Glob::parse(pattern) {
            Glob::Any => self.any.push(entry),
            Glob::Exact(e) => self.exact.entry(e.into()).or_default().push(entry),
            Glob::Prefix(p) => self.prefix.insert(p.bytes(), entry),
            Glob::Suffix(s) => self.suffix.insert(s.bytes().rev(), entry),
            Glob::Contains(c) => self.contains.entry(c).or_default().push(entry),
            g @ Glob::General { .. } => {
                let Glob::General { pieces, .. } = &g else {
                    return;
                };
                // A general glob has at least two pieces, one of them non-empty.
                let key = pieces
                    .iter()
                    .max_by_key(|p| p.len())
                    .cloned()
                    .unwrap_or_default();
                self.general.entry(key).or_default().push((entry, g));
            }
        }
    }

    /// Like [`Self::add`], but the pattern is a literal even if it contains `*`.
    pub fn add_exact(&mut self, entry: u32, value: Option<&str>) {
        self.len = self.len.max(entry as usize + 1);
        match value {
            None => self.unset.push(entry),
            Some(v) => self.exact.entry(v.into()).or_default().push(entry),
        }
    }

    /// Compiles the automata. Fails only if an automaton cannot be built (size limits).
    pub fn build(mut self) -> Result<PatternIndex, String> {
        let len = self.len;
        let set = |v: Vec<u32>| {
            let mut s = BitSet::new(len);
            v.into_iter().for_each(|e| s.insert(e as usize));
            s
        };
        let contains = if self.contains.is_empty() {
            None
        } else {
            let (needles, entries): (Vec<String>, Vec<Vec<u32>>) =
                self.contains.into_iter().unzip();
            let ac = AhoCorasick::new(&needles).map_err(|e| e.to_string())?;
            Some((
                ac,
                entries.into_iter().map(|e| Bucket::new(e, len)).collect(),
            ))
        };
        let general = if self.general.is_empty() {
            None
        } else {
            let (needles, globs): (Vec<String>, Vec<_>) = self.general.into_iter().unzip();
            let ac = AhoCorasick::new(&needles).map_err(|e| e.to_string())?;
            Some((ac, globs))
        };
        self.prefix.finish(len);
        self.suffix.finish(len);
        Ok(PatternIndex {
            len,
            unset: set(self.unset),
            any: set(self.any),
            exact: self
                .exact
                .into_iter()
                .map(|(k, v)| (k, Bucket::new(v, len)))
                .collect(),
            prefix: self.prefix,
            suffix: self.suffix,
            contains,
            general,
        })
    }
}

impl PatternIndex {
    pub fn builder() -> PatternIndexBuilder {
        PatternIndexBuilder::default()
    }

    /// Entries (numbered `0..len`) that accept `value`; `None` is an absent value, which
    /// only unconstrained entries accept.
    pub fn matching(&self, value: Option<&str>, len: usize) -> BitSet {
        let mut out = if len == self.len {
            self.unset.clone()
        } else {
            let mut out = BitSet::new(len.max(self.len));
            out.union_with(&self.unset);
            out
        };
        let Some(value) = value else {
            return out;
        };
        out.union_with(&self.any);
        if let Some(b) = self.exact.get(value) {
            b.mark(&mut out);
        }
        self.prefix.walk(value.bytes(), &mut out);
        self.suffix.walk(value.bytes().rev(), &mut out);
        if let Some((ac, buckets)) = &self.contains {
            for m in ac.find_overlapping_iter(value) {
                buckets[m.pattern().as_usize()].mark(&mut out);
            }
        }
        if let Some((ac, globs)) = &self.general {
            for m in ac.find_overlapping_iter(value) {
                for (entry, glob) in &globs[m.pattern().as_usize()] {
                    if !out.contains(*entry as usize) && glob.matches(value) {
                        out.insert(*entry as usize);
                    }
                }
            }
        }
        out
    }
}
