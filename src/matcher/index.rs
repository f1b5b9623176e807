//! Which entries of one field accept a value, without looking at each pattern.

use std::collections::HashMap;

use aho_corasick::AhoCorasick;
use regex::RegexSet;

use super::{BitSet, Glob};

/// A byte trie; every node lists the entries whose literal ends there.
#[derive(Debug, Default)]
struct Trie {
    /// `nodes[0]` is the root. Children sorted by byte for binary search.
    nodes: Vec<TrieNode>,
}

#[derive(Debug, Default)]
struct TrieNode {
    children: Vec<(u8, u32)>,
    entries: Vec<u32>,
}

impl Trie {
    fn insert(&mut self, key: impl Iterator<Item = u8>, entry: u32) {
        if self.nodes.is_empty() {
            self.nodes.push(TrieNode::default());
        }
        let mut at = 0usize;
        for b in key {
            at = match self.nodes[at].children.binary_search_by_key(&b, |c| c.0) {
                Ok(i) => self.nodes[at].children[i].1 as usize,
                Err(i) => {
                    let next = self.nodes.len();
                    self.nodes.push(TrieNode::default());
                    self.nodes[at].children.insert(i, (b, next as u32));
                    next
                }
            };
        }
        self.nodes[at].entries.push(entry);
    }

    /// Marks the entries of every node on the path spelled by `key`.
    fn walk(&self, key: impl Iterator<Item = u8>, out: &mut BitSet) {
        let Some(root) = self.nodes.first() else {
            return;
        };
        let mut node = root;
        mark(&node.entries, out);
        for b in key {
            match node.children.binary_search_by_key(&b, |c| c.0) {
                Ok(i) => node = &self.nodes[node.children[i].1 as usize],
                Err(_) => return,
            }
            mark(&node.entries, out);
        }
    }
}

fn mark(entries: &[u32], out: &mut BitSet) {
    for &e in entries {
        out.insert(e as usize);
    }
}

/// Patterns of one field (host, path, method or SNI) over the entries of one rule.
#[derive(Debug)]
pub struct PatternIndex {
    len: usize,
    /// Entries that do not constrain this field (match even an absent value).
    unset: Vec<u32>,
    /// Entries whose pattern is only stars (any present value).
    any: Vec<u32>,
    exact: HashMap<Box<str>, Vec<u32>>,
    prefix: Trie,
    suffix: Trie,
    contains: Option<(AhoCorasick, Vec<Vec<u32>>)>,
    general: Option<(RegexSet, Vec<Vec<u32>>)>,
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
    general: HashMap<String, Vec<u32>>,
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
            Glob::General { pieces, .. } => self
                .general
                .entry(Glob::to_regex(&pieces))
                .or_default()
                .push(entry),
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

    /// Compiles the automata. Fails only if the regex engine refuses the set (size limit).
    pub fn build(self) -> Result<PatternIndex, String> {
        let contains = if self.contains.is_empty() {
            None
        } else {
            let (needles, entries): (Vec<String>, Vec<Vec<u32>>) =
                self.contains.into_iter().unzip();
            let ac = AhoCorasick::new(&needles).map_err(|e| e.to_string())?;
            Some((ac, entries))
        };
        let general = if self.general.is_empty() {
            None
        } else {
            let (res, entries): (Vec<String>, Vec<Vec<u32>>) = self.general.into_iter().unzip();
            let set = regex::RegexSetBuilder::new(&res)
                .size_limit(256 << 20)
                .dfa_size_limit(64 << 20)
                .build()
                .map_err(|e| e.to_string())?;
            Some((set, entries))
        };
        Ok(PatternIndex {
            len: self.len,
            unset: self.unset,
            any: self.any,
            exact: self.exact,
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
        let mut out = BitSet::new(len.max(self.len));
        mark(&self.unset, &mut out);
        let Some(value) = value else {
            return out;
        };
        mark(&self.any, &mut out);
        if let Some(e) = self.exact.get(value) {
            mark(e, &mut out);
        }
        self.prefix.walk(value.bytes(), &mut out);
        self.suffix.walk(value.bytes().rev(), &mut out);
        if let Some((ac, entries)) = &self.contains {
            for m in ac.find_overlapping_iter(value) {
                mark(&entries[m.pattern().as_usize()], &mut out);
            }
        }
        if let Some((set, entries)) = &self.general {
            for i in set.matches(value).iter() {
                mark(&entries[i], &mut out);
            }
        }
        out
    }
}
