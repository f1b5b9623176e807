//! Validation as Antrea's admission webhook does it (same messages for the layer 7
//! checks), plus what the CRD schema would reject and what l7proxy cannot enforce.
//! Everything found is reported, not just the first problem.

use std::collections::HashSet;

use super::model::{AntreaPolicySpec, AntreaRule, BUILTIN_TIERS, K8sPolicySpec, TierSpec};
use super::{Error, PolicyKind};

mod check;
mod service;
use check::Check;

/// Where a problem was found (file and object), to build [`Error::Invalid`]: what every
/// check is handed, and what the store decodes with.
pub(crate) struct Ctx<'a> {
    pub source: &'a str,
    pub object: String,
}

impl Ctx<'_> {
    pub fn err(&self, field: impl Into<String>, message: impl Into<String>) -> Error {
        Error::Invalid {
            file: self.source.to_owned(),
            object: self.object.clone(),
            field: field.into(),
            message: message.into(),
        }
    }
}

/// Something valid that l7proxy does not enforce, reported by `check`, `explain` and the
/// proxy's log, named like an [`Error::Invalid`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{file}: {object}: {field}: {message}")]
pub struct Warning {
    pub file: String,
    pub object: String,
    pub field: String,
    pub message: String,
}

/// Methods the CRD's enum admits.
pub const HTTP_METHODS: &[&str] = &[
    "GET", "POST", "PUT", "HEAD", "DELETE", "TRACE", "OPTIONS", "CONNECT", "PATCH",
];

/// IANA service name rules, as Kubernetes applies them to container port names.
pub fn valid_port_name(s: &str) -> bool {
    (1..=15).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && s.bytes().any(|b| b.is_ascii_lowercase())
        && !s.starts_with('-')
        && !s.ends_with('-')
        && !s.contains("--")
}

pub fn tier(ctx: &Ctx<'_>, name: &str, spec: &TierSpec) -> Vec<Error> {
    let mut c = Check {
        ctx,
        errors: Vec::new(),
    };
    let builtin = BUILTIN_TIERS
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name));
    match builtin {
        // A copy of a built-in Tier (e.g. exported from a cluster) is harmless.
        Some((_, p)) if *p == spec.priority => {}
        Some(_) => c.fail("metadata.name", format!("tier name {name} is reserved")),
        None if !(1..=255).contains(&spec.priority) => {
            c.fail("spec.priority", "tier priority must be between 1 and 255")
        }
        None if [251, 252, 254, 255].contains(&spec.priority) => c.fail(
            "spec.priority",
            format!("tier {name} priority {} is reserved", spec.priority),
        ),
        None => {}
    }
    c.errors
}

pub fn antrea_policy(ctx: &Ctx<'_>, kind: PolicyKind, spec: &AntreaPolicySpec) -> Vec<Error> {
    let mut c = Check {
        ctx,
        errors: Vec::new(),
    };
    match spec.priority {
        None => c.fail("spec.priority", "priority is required"),
        Some(p) if !(1.0..=10000.0).contains(&p) => c.fail(
            "spec.priority",
            format!("priority {p} must be between 1.0 and 10000.0"),
        ),
        Some(_) => {}
    }
    let rules: Vec<(&str, usize, &AntreaRule)> = spec
        .ingress
        .iter()
        .enumerate()
        .map(|(i, r)| ("ingress", i, r))
        .chain(
            spec.egress
                .iter()
                .enumerate()
                .map(|(i, r)| ("egress", i, r)),
        )
        .collect();
    let with_applied_to = rules
        .iter()
        .filter(|(_, _, r)| !r.applied_to.is_empty())
        .count();
    if !spec.applied_to.is_empty() && with_applied_to > 0 {
        c.fail(
            "spec.appliedTo",
            "appliedTo should not be set in both spec and rules",
        );
    } else if spec.applied_to.is_empty() && with_applied_to == 0 {
        c.fail(
            "spec.appliedTo",
            "appliedTo needs to be set in either spec or rules",
        );
    } else if spec.applied_to.is_empty() && with_applied_to < rules.len() {
        c.fail(
            "spec.appliedTo",
            "appliedTo field should either be set in all rules or in none of them",
        );
    }
    for (i, p) in spec.applied_to.iter().enumerate() {
        c.antrea_peer(&format!("spec.appliedTo[{i}]"), p, kind, true);
    }
    c.service_applied_to("spec.appliedTo", &spec.applied_to, !spec.egress.is_empty());
    let mut names = HashSet::new();
    for (dir, i, r) in &rules {
        let field = format!("spec.{dir}[{i}]");
        if let Some(n) = &r.name
            && !names.insert(n.as_str())
        {
            c.fail(
                format!("{field}.name"),
                "rules names must be unique within the policy",
            );
        }
        if r.action.as_deref() == Some("Pass")
            && spec
                .tier
                .as_deref()
                .is_some_and(|t| t.eq_ignore_ascii_case("baseline"))
        {
            c.fail(
                format!("{field}.action"),
                "`Pass` action should not be set for Baseline Tier policy rules",
            );
        }
        c.antrea_rule(&field, r, kind, *dir == "ingress");
        c.service_applied_to(
            &format!("{field}.appliedTo"),
            &r.applied_to,
            *dir == "egress",
        );
        if *dir == "ingress" {
            c.service_ingress_peers(&field, &spec.applied_to, r);
        }
    }
    c.errors
}

pub fn k8s_policy(ctx: &Ctx<'_>, spec: &K8sPolicySpec) -> Vec<Error> {
    let mut c = Check {
        ctx,
        errors: Vec::new(),
    };
    c.selector("spec.podSelector", &spec.pod_selector);
    for (i, t) in spec.policy_types.iter().flatten().enumerate() {
        if t != "Ingress" && t != "Egress" {
            c.fail(
                format!("spec.policyTypes[{i}]"),
                format!("{t:?} is not one of Ingress, Egress"),
            );
        }
    }
    for (i, r) in spec.ingress.iter().enumerate() {
        let f = format!("spec.ingress[{i}]");
        for (j, p) in r.from.iter().enumerate() {
            c.k8s_peer(&format!("{f}.from[{j}]"), p);
        }
        c.k8s_ports(&f, &r.ports);
    }
    for (i, r) in spec.egress.iter().enumerate() {
        let f = format!("spec.egress[{i}]");
        for (j, p) in r.to.iter().enumerate() {
            c.k8s_peer(&format!("{f}.to[{j}]"), p);
        }
        c.k8s_ports(&f, &r.ports);
    }
    c.errors
}
