//! The verdict counter family with an allocation-free hot path.
//!
//! `prometheus-client` 0.22 looks series up by an owned label set, so every call would
//! build `policy_ref()` and clone the rule name. Verdicts are counted per HTTP request, so
//! we keep our own map from the rule's identity to its counter and look it up with a
//! borrowed key (std's `Borrow` to a trait object: the classic compound-key trick); only
//! the first verdict of each (rule, verdict, app_proto) allocates and touches the family.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::RwLock;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;

use crate::policy::{PolicyKind, RuleRef};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct VerdictLabels {
    policy: String,
    rule: String,
    verdict: &'static str,
    app_proto: &'static str,
}

/// What identifies a series, borrowed from either the owned cache key or a [`RuleRef`].
#[derive(Hash, PartialEq, Eq)]
struct Parts<'a> {
    kind: Option<PolicyKind>,
    namespace: Option<&'a str>,
    name: &'a str,
    rule: &'a str,
    verdict: &'static str,
    app_proto: &'static str,
}

trait KeyView {
    fn parts(&self) -> Parts<'_>;
}

/// Cache key, owned.
#[derive(Debug)]
struct OwnedKey {
    kind: Option<PolicyKind>,
    namespace: Option<String>,
    name: String,
    rule: String,
    verdict: &'static str,
    app_proto: &'static str,
}

impl KeyView for OwnedKey {
    fn parts(&self) -> Parts<'_> {
        Parts {
            kind: self.kind,
            namespace: self.namespace.as_deref(),
            name: &self.name,
            rule: &self.rule,
            verdict: self.verdict,
            app_proto: self.app_proto,
        }
    }
}

impl KeyView for Parts<'_> {
    fn parts(&self) -> Parts<'_> {
        Parts { ..*self }
    }
}

impl<'a> Borrow<dyn KeyView + 'a> for OwnedKey {
    fn borrow(&self) -> &(dyn KeyView + 'a) {
        self
    }
}

// Owned and borrowed forms hash and compare through the same `Parts`, as `Borrow` requires.
impl Hash for OwnedKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.parts().hash(state)
    }
}
impl PartialEq for OwnedKey {
    fn eq(&self, other: &Self) -> bool {
        self.parts() == other.parts()
    }
}
impl Eq for OwnedKey {}
impl Hash for dyn KeyView + '_ {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.parts().hash(state)
    }
}
impl PartialEq for dyn KeyView + '_ {
    fn eq(&self, other: &Self) -> bool {
        self.parts() == other.parts()
    }
}
impl Eq for dyn KeyView + '_ {}

/// Verdict counters by policy, rule, verdict and app_proto.
#[derive(Debug, Default)]
pub(super) struct Verdicts {
    family: Family<VerdictLabels, Counter>,
    /// Hashed with foldhash, not SipHash: the key is looked up on every request, and its
    /// labels are the operator's policy names, not anything a client sends.
    cache: RwLock<HashMap<OwnedKey, Counter, foldhash::fast::RandomState>>,
}

impl Verdicts {
    /// The family, for registration.
    pub(super) fn family(&self) -> Family<VerdictLabels, Counter> {
        self.family.clone()
    }

    pub(super) fn inc(
        &self,
        rule: Option<&RuleRef>,
        verdict: &'static str,
        app_proto: &'static str,
    ) {
        let parts = Parts {
            kind: rule.map(|r| r.kind),
            namespace: rule.and_then(|r| r.namespace.as_deref()),
            name: rule.map_or("", |r| r.name.as_str()),
            rule: rule.map_or("", |r| r.rule.as_str()),
            verdict,
            app_proto,
        };
        // A poisoned lock only means another thread panicked mid-insert; the map is still
        // a valid cache, so keep counting.
        let cache = self.cache.read().unwrap_or_else(|e| e.into_inner());
        if let Some(c) = cache.get(&parts as &dyn KeyView) {
            c.inc();
            return;
        }
        drop(cache);
        let labels = VerdictLabels {
            policy: rule.map(RuleRef::policy_ref).unwrap_or_default(),
            rule: parts.rule.to_owned(),
            verdict,
            app_proto,
        };
        let counter = self.family.get_or_create(&labels).clone();
        counter.inc();
        let key = OwnedKey {
            kind: parts.kind,
            namespace: parts.namespace.map(str::to_owned),
            name: parts.name.to_owned(),
            rule: parts.rule.to_owned(),
            verdict,
            app_proto,
        };
        let mut cache = self.cache.write().unwrap_or_else(|e| e.into_inner());
        cache.entry(key).or_insert(counter);
    }
}
