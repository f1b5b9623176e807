//! The L7 part of one rule: its `http` entries and its `tls` entries, each entry an AND of
//! fields, the entries ORed.

#[cfg(test)]
use super::Glob;
use super::{BitSet, PatternIndex};

/// One `l7Protocols[i].http` entry. Host patterns are compared case-insensitively (they
/// are lower-cased here; the data path lower-cases the request's host).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HttpEntry {
    /// Position in the rule's `l7Protocols` list, for explanations.
    pub index: usize,
    pub method: Option<String>,
    pub host: Option<String>,
    pub path: Option<String>,
}

/// One `l7Protocols[i].tls` entry.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TlsEntry {
    pub index: usize,
    pub sni: Option<String>,
}

/// Result of an L7 check, with the reason in words.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct L7Outcome {
    pub allowed: bool,
    pub detail: String,
}

/// The method that turns an HTTP connection into an opaque tunnel once answered 2xx.
const CONNECT: &str = "CONNECT";

/// Compiled `http` entries of one rule.
#[derive(Debug)]
pub struct HttpMatcher {
    entries: Vec<HttpEntry>,
    method: PatternIndex,
    host: PatternIndex,
    path: PatternIndex,
    /// Entries that name `method: CONNECT`: the only ones that may allow a CONNECT,
    /// because after it nothing on the connection is inspected. An entry without a
    /// method (`http: {}`, host-only) admits every other method but never a tunnel.
    names_connect: BitSet,
}

impl HttpMatcher {
    pub fn new(entries: Vec<HttpEntry>) -> Result<Self, String> {
        let entries: Vec<HttpEntry> = entries
            .into_iter()
            .map(|mut e| {
                e.host = e.host.map(|h| h.to_ascii_lowercase());
                e
            })
            .collect();
        let (mut m, mut h, mut p) = (
            PatternIndex::builder(),
            PatternIndex::builder(),
            PatternIndex::builder(),
        );
        let mut names_connect = BitSet::new(entries.len());
        for (i, e) in entries.iter().enumerate() {
            if e.method.as_deref() == Some(CONNECT) {
                names_connect.insert(i);
            }
            let i = i as u32;
            // Methods are exact tokens: a `*` in one is a literal, never a wildcard.
            m.add_exact(i, e.method.as_deref());
            h.add(i, e.host.as_deref());
            p.add(i, e.path.as_deref());
        }
        Ok(HttpMatcher {
            method: m.build()?,
            host: h.build()?,
            path: p.build()?,
            entries,
            names_connect,
        })
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// `host` as policy matches it (without port; compared case-insensitively), `path` as
    /// sent without the query (the data path refuses non-canonical paths before asking).
    /// A `CONNECT` is allowed only by an entry that names the method.
    pub fn check(&self, method: &str, host: Option<&str>, path: &str) -> L7Outcome {
        self.check_explaining(method, host, path, true)
    }

    /// [`check`](Self::check) for the data path: an allowed request gets an empty
    /// `detail`. Nothing reads why a request was allowed there, and describing the match
    /// cost more formatting per request than deciding it.
    pub fn decide(&self, method: &str, host: Option<&str>, path: &str) -> L7Outcome {
        self.check_explaining(method, host, path, false)
    }

    fn check_explaining(
        &self,
        method: &str,
        host: Option<&str>,
        path: &str,
        explain_allow: bool,
    ) -> L7Outcome {
        if self.entries.is_empty() {
            return L7Outcome {
                allowed: false,
                detail: "HTTP is not allowed by this rule (its l7Protocols name only tls)"
                    .to_owned(),
            };
        }
        let lowered;
        let host = match host {
            Some(h) if h.bytes().any(|b| b.is_ascii_uppercase()) => {
                lowered = h.to_ascii_lowercase();
                Some(lowered.as_str())
            }
            other => other,
        };
        let n = self.entries.len();
        let ms = self.method.matching(Some(method), n);
        let hs = self.host.matching(host, n);
        let ps = self.path.matching(Some(path), n);
        let mut all = ms.clone();
        all.intersect_with(&hs);
        all.intersect_with(&ps);
        // Only a CONNECT pays for this: one string compare for every other request.
        if method == CONNECT
            && let Some(i) = all.first()
        {
            all.intersect_with(&self.names_connect);
            if all.first().is_none() {
                return L7Outcome {
                    allowed: false,
                    detail: format!(
                        "l7Protocols[{}].http matches but does not name method CONNECT: \
                         a tunnel needs an entry with method: CONNECT",
                        self.entries[i].index
                    ),
                };
            }
        }
        if let Some(i) = all.first() {
            return L7Outcome {
                allowed: true,
                detail: if explain_allow {
                    describe_http_match(&self.entries[i], method, host, path)
                } else {
                    String::new()
                },
            };
        }
        // Denied: explain with an entry that came closest (two fields matched, else one),
        // found with set intersections rather than a walk over every entry.
        let both = |a: &BitSet, b: &BitSet| {
            let mut x = a.clone();
            x.intersect_with(b);
            x.first()
        };
        let best = [both(&hs, &ps), both(&ms, &ps), both(&ms, &hs)]
            .into_iter()
            .flatten()
            .min()
            .or_else(|| {
                [hs.first(), ps.first(), ms.first()]
                    .into_iter()
                    .flatten()
                    .min()
            })
            .unwrap_or(0);
        let e = &self.entries[best];
        let why = if !ms.contains(best) {
            mismatch("method", method, e.method.as_deref())
        } else if !hs.contains(best) {
            match host {
                Some(h) => mismatch("host", h, e.host.as_deref()),
                None => format!(
                    "host is missing but must match \"{}\"",
                    e.host.as_deref().unwrap_or_default()
                ),
            }
        } else {
            mismatch("path", path, e.path.as_deref())
        };
        let detail = if n == 1 {
            format!("l7Protocols[{}].http: {why}", e.index)
        } else {
            format!(
                "no http entry matched; closest l7Protocols[{}].http: {why}",
                e.index
            )
        };
        L7Outcome {
            allowed: false,
            detail,
        }
    }
}

fn mismatch(field: &str, value: &str, pattern: Option<&str>) -> String {
    format!(
        "{field} \"{value}\" does not match \"{}\"",
        pattern.unwrap_or_default()
    )
}

fn describe_http_match(e: &HttpEntry, method: &str, host: Option<&str>, path: &str) -> String {
    let mut parts = Vec::new();
    if let Some(m) = &e.method {
        parts.push(format!("method \"{method}\" matches \"{m}\""));
    }
    if let Some(h) = &e.host {
        parts.push(format!(
            "host \"{}\" matches \"{h}\"",
            host.unwrap_or_default()
        ));
    }
    if let Some(p) = &e.path {
        parts.push(format!("path \"{path}\" matches \"{p}\""));
    }
    if parts.is_empty() {
        format!(
            "l7Protocols[{}].http {{}} matches any HTTP request",
            e.index
        )
    } else {
        format!("l7Protocols[{}].http: {}", e.index, parts.join(", "))
    }
}

/// Compiled `tls` entries of one rule.
#[derive(Debug)]
pub struct TlsMatcher {
    entries: Vec<TlsEntry>,
    sni: PatternIndex,
}

impl TlsMatcher {
    pub fn new(entries: Vec<TlsEntry>) -> Result<Self, String> {
        let entries: Vec<TlsEntry> = entries
            .into_iter()
            .map(|mut e| {
                e.sni = e.sni.map(|s| s.to_ascii_lowercase());
                e
            })
            .collect();
        let mut b = PatternIndex::builder();
        for (i, e) in entries.iter().enumerate() {
            b.add(i as u32, e.sni.as_deref());
        }
        Ok(TlsMatcher {
            sni: b.build()?,
            entries,
        })
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// `sni` as sent by the client; compared case-insensitively, a trailing dot ignored.
    pub fn check(&self, sni: Option<&str>) -> L7Outcome {
        if self.entries.is_empty() {
            return L7Outcome {
                allowed: false,
                detail: "TLS is not allowed by this rule (its l7Protocols name only http)"
                    .to_owned(),
            };
        }
        let sni = sni.map(|s| s.strip_suffix('.').unwrap_or(s).to_ascii_lowercase());
        let set = self.sni.matching(sni.as_deref(), self.entries.len());
        if let Some(i) = set.first() {
            let e = &self.entries[i];
            let detail = match (&e.sni, &sni) {
                (Some(p), Some(s)) => {
                    format!("l7Protocols[{}].tls: sni \"{s}\" matches \"{p}\"", e.index)
                }
                _ => format!(
                    "l7Protocols[{}].tls {{}} matches any TLS handshake",
                    e.index
                ),
            };
            return L7Outcome {
                allowed: true,
                detail,
            };
        }
        let e = &self.entries[0];
        let pattern = e.sni.as_deref().unwrap_or_default();
        let why = match &sni {
            Some(s) => format!("sni \"{s}\" does not match \"{pattern}\""),
            None => format!("sni is missing but must match \"{pattern}\""),
        };
        let detail = if self.entries.len() == 1 {
            format!("l7Protocols[{}].tls: {why}", e.index)
        } else {
            format!(
                "no tls entry matched; first l7Protocols[{}].tls: {why}",
                e.index
            )
        };
        L7Outcome {
            allowed: false,
            detail,
        }
    }
}

/// Reference matcher for tests: the same answer as the index, pattern by pattern.
#[cfg(test)]
pub(crate) fn naive_http(
    entries: &[HttpEntry],
    method: &str,
    host: Option<&str>,
    path: &str,
) -> bool {
    let field = |pat: Option<String>, v: Option<&str>| match (pat, v) {
        (None, _) => true,
        (Some(_), None) => false,
        (Some(p), Some(v)) => Glob::parse(&p).matches(v),
    };
    entries.iter().any(|e| {
        let method_ok = match e.method.as_deref() {
            Some(m) => m == method,
            None => method != "CONNECT",
        };
        method_ok
            && field(e.host.as_ref().map(|h| h.to_ascii_lowercase()), host)
            && field(e.path.clone(), Some(path))
    })
}
