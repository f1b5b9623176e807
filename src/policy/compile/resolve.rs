//! Which version of each Antrea policy goes into a snapshot.
//!
//! One object must never decide whether the others are enforced. A policy that cannot be
//! compiled (its tier does not exist, or was deleted while the policy still named it; its
//! patterns exceed the matcher's limits) is left out of the snapshot on its own, and its
//! last enforced version, with the priority its tier had then, stays in force instead. A
//! policy that never compiled is simply absent. Every such case is a [`Problem`] for the
//! source to report.

use super::super::store::AntreaPolicy;
use super::super::{Error, ObjectKey, Store};

/// The version of an Antrea policy last compiled into a snapshot.
#[derive(Clone, Debug)]
pub struct Enforced {
    pub policy: AntreaPolicy,
    /// Lower-case tier name and its priority at the time.
    pub tier: String,
    pub tier_priority: i64,
}

/// An object whose current version is not in the snapshot.
#[derive(Debug)]
pub struct Problem {
    pub key: ObjectKey,
    pub error: Error,
    /// `true` when its last enforced version is in the snapshot instead; `false` when the
    /// object is left out entirely.
    pub kept_previous: bool,
}

/// A compiled snapshot and the objects it had to leave out or keep at an older version.
#[derive(Debug)]
pub struct Compiled {
    pub snapshot: super::super::Snapshot,
    pub problems: Vec<Problem>,
}

/// One version of a policy to try, with its resolved tier.
pub(super) struct Candidate<'a> {
    pub policy: &'a AntreaPolicy,
    pub tier: String,
    pub tier_priority: i64,
}

/// The versions to try for one policy, best first, and why the current one is not
/// among them (if it is not).
pub(super) struct Versions<'a> {
    pub candidates: Vec<Candidate<'a>>,
    pub current_error: Option<Error>,
}

fn tier_of(p: &AntreaPolicy) -> String {
    p.spec
        .tier
        .as_deref()
        .unwrap_or("application")
        .to_ascii_lowercase()
}

impl Store {
    /// The current version (if its tier exists), then the last enforced one (if it is a
    /// different version or its tier is gone).
    pub(super) fn versions<'a>(&'a self, key: &ObjectKey, p: &'a AntreaPolicy) -> Versions<'a> {
        let tier = tier_of(p);
        let mut candidates = Vec::new();
        let current_error = match self.tier_priority(&tier) {
            Some(tier_priority) => {
                candidates.push(Candidate {
                    policy: p,
                    tier,
                    tier_priority,
                });
                None
            }
            None => Some(Error::Compile {
                object: key.to_string(),
                field: "spec.tier".to_owned(),
                message: format!("tier {tier} does not exist"),
            }),
        };
        if let Some(e) = self.enforced.get(key) {
            let same = candidates.first().is_some_and(|c| {
                c.tier_priority == e.tier_priority && c.policy.spec == e.policy.spec
            });
            if !same {
                candidates.push(Candidate {
                    policy: &e.policy,
                    tier: e.tier.clone(),
                    tier_priority: e.tier_priority,
                });
            }
        }
        Versions {
            candidates,
            current_error,
        }
    }

    /// Carry the last enforced versions over from the store this one replaces (a
    /// source that rebuilds its store on every change, such as the manifest source).
    pub fn inherit_enforced(&mut self, previous: &mut Store) {
        self.enforced = std::mem::take(&mut previous.enforced);
    }

    /// After a snapshot compiled with `problems` was put in force: every policy not among
    /// them is enforced in its current version, which becomes the one to fall back on.
    /// Deleted policies are forgotten.
    pub fn remember_enforced(&mut self, problems: &[Problem]) {
        let antrea = &self.antrea;
        self.enforced.retain(|k, _| antrea.contains_key(k));
        for (key, p) in &self.antrea {
            if problems.iter().any(|pr| &pr.key == key) {
                continue;
            }
            let tier = tier_of(p);
            let Some(tier_priority) = self.tier_priority(&tier) else {
                continue;
            };
            let unchanged = self
                .enforced
                .get(key)
                .is_some_and(|e| e.tier_priority == tier_priority && e.policy.spec == p.spec);
            if !unchanged {
                self.enforced.insert(
                    key.clone(),
                    Enforced {
                        policy: p.clone(),
                        tier,
                        tier_priority,
                    },
                );
            }
        }
    }
}
