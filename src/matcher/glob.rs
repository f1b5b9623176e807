//! One `*`-wildcard pattern, classified by shape so it can be indexed cheaply.

use std::fmt;

/// A pattern where `*` matches any run of characters (including none) at any position.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Glob {
    /// Only stars: any value.
    Any,
    /// No star.
    Exact(String),
    /// `abc*`.
    Prefix(String),
    /// `*abc`.
    Suffix(String),
    /// `*abc*`.
    Contains(String),
    /// Stars elsewhere (`a*b`, `*a*b*`): the literal pieces between stars, in order.
    General {
        pattern: String,
        pieces: Vec<String>,
    },
}

impl Glob {
    /// Classifies `pattern`; runs of `*` collapse into one.
    pub fn parse(pattern: &str) -> Glob {
        let mut collapsed = String::with_capacity(pattern.len());
        for c in pattern.chars() {
            if !(c == '*' && collapsed.ends_with('*')) {
                collapsed.push(c);
            }
        }
        let stars = collapsed.matches('*').count();
        let lead = collapsed.starts_with('*');
        let trail = collapsed.ends_with('*') && collapsed.len() > 1;
        match (stars, lead, trail) {
            (0, _, _) => Glob::Exact(collapsed),
            (1, true, false) if collapsed.len() == 1 => Glob::Any,
            (1, true, false) => Glob::Suffix(collapsed[1..].to_owned()),
            (1, false, true) => Glob::Prefix(collapsed[..collapsed.len() - 1].to_owned()),
            (2, true, true) => Glob::Contains(collapsed[1..collapsed.len() - 1].to_owned()),
            _ => Glob::General {
                pieces: collapsed.split('*').map(str::to_owned).collect(),
                pattern: collapsed,
            },
        }
    }

    /// Direct match of one value. The indexed path ([`crate::matcher::PatternIndex`])
    /// calls it only to confirm a general glob found through its longest piece.
    pub fn matches(&self, value: &str) -> bool {
        match self {
            Glob::Any => true,
            Glob::Exact(e) => value == e,
            Glob::Prefix(p) => value.starts_with(p.as_str()),
            Glob::Suffix(s) => value.ends_with(s.as_str()),
            Glob::Contains(c) => value.contains(c.as_str()),
            Glob::General { pieces, .. } => general_match(pieces, value),
        }
    }
}

/// First piece anchored at the start, last at the end, the middle ones found greedily
/// left to right (leftmost placement is always optimal for `*` globs).
fn general_match(pieces: &[String], value: &str) -> bool {
    let (Some(first), Some(last)) = (pieces.first(), pieces.last()) else {
        return true;
    };
    if pieces.len() == 1 {
        return value == first;
    }
    if value.len() < first.len() + last.len()
        || !value.starts_with(first.as_str())
        || !value.ends_with(last.as_str())
    {
        return false;
    }
    let mut rest = &value[first.len()..value.len() - last.len()];
    for piece in &pieces[1..pieces.len() - 1] {
        match rest.find(piece.as_str()) {
            Some(at) => rest = &rest[at + piece.len()..],
            None => return false,
        }
    }
    true
}

impl fmt::Display for Glob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Glob::Any => f.write_str("*"),
            Glob::Exact(e) => f.write_str(e),
            Glob::Prefix(p) => write!(f, "{p}*"),
            Glob::Suffix(s) => write!(f, "*{s}"),
            Glob::Contains(c) => write!(f, "*{c}*"),
            Glob::General { pattern, .. } => f.write_str(pattern),
        }
    }
}
