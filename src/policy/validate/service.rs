//! `appliedTo: [{service: {namespace, name}}]`: accepted with Antrea's rules, reported as
//! not enforced.
//!
//! Antrea applies such a policy at the node, to traffic from external clients to a
//! NodePort Service, before it is load balanced to a Pod. The proxy sits inside a Pod and
//! never sees that traffic, so a Service-applied policy or rule selects nothing here. The
//! admission webhook of Antrea accepts it, so refusing it would make `check` disagree with
//! the cluster; it is a warning instead, so nobody takes it for enforced.

use serde_json::Value;

use super::super::model::{AntreaPeer, AntreaPolicySpec, AntreaRule};
use super::super::{ObjectKey, Store};
use super::Warning;
use super::check::Check;

/// Whether a list of appliedTo peers targets Services (Antrea looks at the first one; a
/// mix is refused separately).
fn targets_services(applied_to: &[AntreaPeer]) -> bool {
    applied_to.first().is_some_and(|p| p.service.is_some())
}

impl Check<'_> {
    /// Antrea's `validateAppliedTo` rules for Services in one appliedTo list. `egress`:
    /// the list applies egress rules (an egress rule's own, or a policy's with egress
    /// rules).
    pub(super) fn service_applied_to(
        &mut self,
        field: &str,
        applied_to: &[AntreaPeer],
        egress: bool,
    ) {
        let mut services = 0;
        for (i, p) in applied_to.iter().enumerate() {
            let Some(svc) = &p.service else { continue };
            services += 1;
            let f = format!("{field}[{i}]");
            let others = p.pod_selector.is_some()
                || p.namespace_selector.is_some()
                || p.namespaces.is_some()
                || p.ip_block.is_some()
                || p.group.is_some()
                || p.service_account.is_some()
                || p.node_selector.is_some()
                || p.external_entity_selector.is_some()
                || p.fqdn.is_some()
                || p.scope.is_some();
            if others {
                self.fail(&f, "service cannot be set with other peers in appliedTo");
            }
            if egress {
                self.fail(
                    format!("{f}.service"),
                    "egress rule cannot be applied to Services",
                );
            }
            self.namespaced_name(&format!("{f}.service"), svc);
        }
        if services > 0 && services < applied_to.len() {
            self.fail(
                field,
                "a rule/policy cannot be applied to Services and other peers at the same time",
            );
        }
    }

    /// `{namespace, name}`, both strings, nothing else (the CRD's `NamespacedName`).
    fn namespaced_name(&mut self, field: &str, v: &Value) {
        let Some(map) = v.as_object() else {
            self.fail(field, "must be an object with namespace and name");
            return;
        };
        for (k, v) in map {
            match k.as_str() {
                "namespace" | "name" if v.is_string() => {}
                "namespace" | "name" => self.fail(format!("{field}.{k}"), "must be a string"),
                other => self.fail(format!("{field}.{other}"), "unknown field"),
            }
        }
    }

    /// Antrea's `validateAppliedToServiceIngressPeer`: an ingress rule applied to
    /// Services may select its clients by `ipBlock` only.
    pub(super) fn service_ingress_peers(
        &mut self,
        field: &str,
        spec_applied: &[AntreaPeer],
        r: &AntreaRule,
    ) {
        if !(targets_services(spec_applied) || targets_services(&r.applied_to)) {
            return;
        }
        for (i, p) in r.from.iter().enumerate() {
            let only_ip_block = p.ip_block.is_some()
                && p.pod_selector.is_none()
                && p.namespace_selector.is_none()
                && p.namespaces.is_none()
                && p.group.is_none()
                && p.service_account.is_none()
                && p.node_selector.is_none()
                && p.external_entity_selector.is_none()
                && p.fqdn.is_none()
                && p.scope.is_none();
            if !only_ip_block {
                self.fail(
                    format!("{field}.from[{i}]"),
                    "a rule/policy that is applied to Services can only use ipBlock to select workloads",
                );
            }
        }
    }
}

/// The warnings of one Antrea policy: every appliedTo entry naming a Service.
pub(super) fn warnings(key: &ObjectKey, source: &str, spec: &AntreaPolicySpec) -> Vec<Warning> {
    let mut out = Vec::new();
    let mut warn = |field: String, svc: &Value| {
        let name = |k: &str| svc.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
        out.push(Warning {
            file: source.to_owned(),
            object: key.to_string(),
            field,
            message: format!(
                "applied to Service {}/{}: Antrea enforces Service-applied policies at the node \
                 (external traffic to a NodePort Service); l7proxy in the Pod never sees that \
                 traffic, so it does not enforce this",
                name("namespace"),
                name("name")
            ),
        });
    };
    for (i, p) in spec.applied_to.iter().enumerate() {
        if let Some(svc) = &p.service {
            warn(format!("spec.appliedTo[{i}].service"), svc);
        }
    }
    for (dir, rules) in [("ingress", &spec.ingress), ("egress", &spec.egress)] {
        for (j, r) in rules.iter().enumerate() {
            for (i, p) in r.applied_to.iter().enumerate() {
                if let Some(svc) = &p.service {
                    warn(format!("spec.{dir}[{j}].appliedTo[{i}].service"), svc);
                }
            }
        }
    }
    out
}

impl Store {
    /// What is valid (Antrea accepts it) but not enforced by l7proxy, for `check`,
    /// `explain` and the proxy's log. Not errors: the objects load and the rest of the
    /// policy is enforced.
    pub fn warnings(&self) -> Vec<Warning> {
        self.antrea
            .iter()
            .flat_map(|(key, p)| warnings(key, &p.source, &p.spec))
            .collect()
    }
}

#[cfg(test)]
mod tests;
