//! Field-level checks shared by the policy kinds: selectors, peers, ports, rules.

use ipnet::IpNet;

use super::super::model::{
    AntreaPeer, AntreaPort, AntreaRule, IntOrString, IpBlock, K8sPeer, K8sPort, LabelSelector,
};
use super::super::{Error, PolicyKind};
use super::Ctx;
use super::{HTTP_METHODS, valid_port_name};

const ACTIONS: &[&str] = &["Allow", "Drop", "Reject", "Pass"];

pub(super) struct Check<'a> {
    pub ctx: &'a Ctx<'a>,
    pub errors: Vec<Error>,
}

impl Check<'_> {
    pub(super) fn fail(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.errors.push(self.ctx.err(field, message));
    }

    pub(super) fn selector(&mut self, field: &str, sel: &LabelSelector) {
        for (i, r) in sel.match_expressions.iter().enumerate() {
            let f = format!("{field}.matchExpressions[{i}]");
            match r.operator.as_str() {
                "In" | "NotIn" if r.values.is_empty() => self.fail(
                    format!("{f}.values"),
                    format!("values must be non-empty for operator {}", r.operator),
                ),
                "Exists" | "DoesNotExist" if !r.values.is_empty() => self.fail(
                    format!("{f}.values"),
                    format!("values must be empty for operator {}", r.operator),
                ),
                "In" | "NotIn" | "Exists" | "DoesNotExist" => {}
                other => self.fail(
                    format!("{f}.operator"),
                    format!("operator {other:?} is not one of In, NotIn, Exists, DoesNotExist"),
                ),
            }
        }
    }

    pub(super) fn ip_block(&mut self, field: &str, b: &IpBlock) {
        let cidr = match b.cidr.parse::<IpNet>() {
            Ok(c) => Some(c.trunc()),
            Err(_) => {
                self.fail(
                    format!("{field}.cidr"),
                    format!("invalid CIDR address: {}", b.cidr),
                );
                None
            }
        };
        for (i, e) in b.except.iter().enumerate() {
            let f = format!("{field}.except[{i}]");
            match (e.parse::<IpNet>(), cidr) {
                (Err(_), _) => self.fail(
                    f,
                    format!("invalid except CIDR value: invalid CIDR address: {e}"),
                ),
                (Ok(n), Some(c))
                    if !(c.contains(&n.trunc()) && n.prefix_len() > c.prefix_len()) =>
                {
                    self.fail(
                        f,
                        format!("except CIDR {e} is not a strict subset of CIDR {}", b.cidr),
                    )
                }
                _ => {}
            }
        }
    }

    pub(super) fn port(
        &mut self,
        field: &str,
        protocol: Option<&str>,
        port: Option<&IntOrString>,
        end: Option<i64>,
    ) {
        if let Some(p) = protocol
            && !matches!(p, "TCP" | "UDP" | "SCTP")
        {
            self.fail(
                format!("{field}.protocol"),
                format!("protocol {p:?} is not one of TCP, UDP, SCTP"),
            );
        }
        match port {
            Some(IntOrString::Int(n)) if !(1..=65535).contains(n) => {
                self.fail(format!("{field}.port"), format!("port {n} must be between 1 and 65535"))
            }
            Some(IntOrString::String(s)) if !valid_port_name(s) => self.fail(
                format!("{field}.port"),
                format!("{s:?} is not a valid port name (1-15 lower-case letters, digits or '-', at least one letter)"),
            ),
            _ => {}
        }
        if let Some(end) = end {
            let f = format!("{field}.endPort");
            match port {
                None => self.fail(f, "if `endPort` is specified `port` must be specified"),
                Some(IntOrString::String(_)) => {
                    self.fail(f, "if `port` is a string `endPort` cannot be specified")
                }
                Some(IntOrString::Int(p)) if end < *p => {
                    self.fail(f, "`endPort` should be greater than or equal to `port`")
                }
                Some(IntOrString::Int(_)) if end > 65535 => {
                    self.fail(f, format!("endPort {end} must be at most 65535"))
                }
                Some(IntOrString::Int(_)) => {}
            }
        }
    }

    pub(super) fn antrea_peer(
        &mut self,
        field: &str,
        p: &AntreaPeer,
        kind: PolicyKind,
        applied_to: bool,
    ) {
        let unsupported = [
            ("group", p.group.is_some()),
            ("serviceAccount", p.service_account.is_some()),
            // In appliedTo a Service is valid (see `service.rs`); as a rule peer it is not.
            ("service", p.service.is_some() && !applied_to),
            ("nodeSelector", p.node_selector.is_some()),
            (
                "externalEntitySelector",
                p.external_entity_selector.is_some(),
            ),
            ("fqdn", p.fqdn.is_some()),
            ("scope", p.scope.is_some()),
        ];
        for (name, set) in unsupported {
            if set {
                self.fail(
                    format!("{field}.{name}"),
                    format!("{name} is not supported by l7proxy"),
                );
            }
        }
        if let Some(s) = &p.pod_selector {
            self.selector(&format!("{field}.podSelector"), s);
        }
        if let Some(s) = &p.namespace_selector {
            self.selector(&format!("{field}.namespaceSelector"), s);
        }
        if let Some(ns) = &p.namespaces {
            let f = format!("{field}.namespaces");
            if applied_to || kind != PolicyKind::AntreaClusterNetworkPolicy {
                self.fail(
                    &f,
                    "namespaces can only be used in peers of a ClusterNetworkPolicy",
                );
            }
            if p.namespace_selector.is_some() {
                self.fail(
                    &f,
                    "namespaces and namespaceSelector cannot be set at the same time for a single NetworkPolicyPeer",
                );
            }
            if ns.same_labels.is_some() {
                self.fail(
                    format!("{f}.sameLabels"),
                    "sameLabels is not supported by l7proxy",
                );
            }
            match ns.match_.as_deref() {
                Some("Self") => {}
                Some(other) => self.fail(
                    format!("{f}.match"),
                    format!("match {other:?} must be Self"),
                ),
                None if ns.same_labels.is_none() => {
                    self.fail(format!("{f}.match"), "match must be Self")
                }
                None => {}
            }
        }
        if let Some(b) = &p.ip_block {
            if applied_to {
                self.fail(
                    format!("{field}.ipBlock"),
                    "ipBlock cannot be used in appliedTo",
                );
            }
            if p.pod_selector.is_some() || p.namespace_selector.is_some() || p.namespaces.is_some()
            {
                self.fail(
                    format!("{field}.ipBlock"),
                    "ipBlock cannot be set with podSelector, namespaceSelector or namespaces",
                );
            }
            self.ip_block(&format!("{field}.ipBlock"), b);
        }
        let selects = p.pod_selector.is_some()
            || p.namespace_selector.is_some()
            || p.namespaces.is_some()
            || p.ip_block.is_some()
            || (applied_to && p.service.is_some());
        let any_unsupported = unsupported.iter().any(|(_, s)| *s);
        if !selects && !any_unsupported {
            self.fail(
                field,
                "must set one of podSelector, namespaceSelector, namespaces or ipBlock",
            );
        }
    }

    pub(super) fn antrea_ports(&mut self, field: &str, ports: &[AntreaPort]) {
        for (i, p) in ports.iter().enumerate() {
            let f = format!("{field}.ports[{i}]");
            self.port(&f, p.protocol.as_deref(), p.port.as_ref(), p.end_port);
            if p.source_port.is_some() || p.source_end_port.is_some() {
                self.fail(
                    format!("{f}.sourcePort"),
                    "sourcePort is not supported by l7proxy",
                );
            }
        }
    }

    /// Antrea's `validateL7Protocols`, in its order, then the schema's checks.
    pub(super) fn l7(&mut self, field: &str, r: &AntreaRule) {
        if r.l7_protocols.is_empty() {
            return;
        }
        if r.action.as_deref() != Some("Allow") {
            self.fail(
                format!("{field}.action"),
                "layer 7 protocols only support Allow",
            );
        }
        if !r.to_services.is_empty() {
            self.fail(
                format!("{field}.toServices"),
                "layer 7 protocols can not be used with toServices",
            );
        }
        let has_http = r.l7_protocols.iter().any(|p| p.http.is_some());
        if has_http {
            for (i, p) in r.ports.iter().enumerate() {
                if p.protocol.as_deref().is_some_and(|p| p != "TCP") {
                    self.fail(
                        format!("{field}.ports[{i}].protocol"),
                        "HTTP protocol can only be used when layer 4 protocol is TCP or unset",
                    );
                }
            }
            if !r.protocols.is_empty() {
                self.fail(
                    format!("{field}.protocols"),
                    "HTTP protocol can not be used with protocol IGMP or ICMP",
                );
            }
        }
        for (i, p) in r.l7_protocols.iter().enumerate() {
            let f = format!("{field}.l7Protocols[{i}]");
            if p.http.is_some() == p.tls.is_some() {
                self.fail(&f, "exactly one of http or tls must be set");
            }
            if let Some(m) = p.http.as_ref().and_then(|h| h.method.as_deref())
                && !HTTP_METHODS.contains(&m)
            {
                self.fail(
                    format!("{f}.http.method"),
                    format!("method {m:?} is not one of {}", HTTP_METHODS.join(", ")),
                );
            }
        }
    }

    pub(super) fn antrea_rule(
        &mut self,
        field: &str,
        r: &AntreaRule,
        kind: PolicyKind,
        ingress: bool,
    ) {
        match r.action.as_deref() {
            None => self.fail(format!("{field}.action"), "action is required"),
            Some(a) if !ACTIONS.contains(&a) => self.fail(
                format!("{field}.action"),
                format!("action {a:?} is not one of {}", ACTIONS.join(", ")),
            ),
            _ => {}
        }
        self.l7(field, r);
        if !r.to_services.is_empty()
            && (!r.to.is_empty() || !r.ports.is_empty() || !r.protocols.is_empty())
        {
            self.fail(
                format!("{field}.toServices"),
                "`toServices` cannot be used with `to`, `ports` or `protocols`",
            );
        }
        if !r.to_services.is_empty() && r.l7_protocols.is_empty() {
            self.fail(
                format!("{field}.toServices"),
                "toServices is not supported by l7proxy",
            );
        }
        let (peers, wrong, wrong_name) = if ingress {
            (&r.from, &r.to, "to")
        } else {
            (&r.to, &r.from, "from")
        };
        let peers_name = if ingress { "from" } else { "to" };
        if !wrong.is_empty() {
            self.fail(
                format!("{field}.{wrong_name}"),
                format!(
                    "{wrong_name} cannot be used in an {} rule",
                    if ingress { "ingress" } else { "egress" }
                ),
            );
        }
        for (i, p) in peers.iter().enumerate() {
            self.antrea_peer(&format!("{field}.{peers_name}[{i}]"), p, kind, false);
        }
        for (i, p) in r.applied_to.iter().enumerate() {
            self.antrea_peer(&format!("{field}.appliedTo[{i}]"), p, kind, true);
        }
        self.antrea_ports(field, &r.ports);
        for (i, p) in r.protocols.iter().enumerate() {
            if p.icmp.is_some() == p.igmp.is_some() {
                self.fail(
                    format!("{field}.protocols[{i}]"),
                    "exactly one of icmp or igmp must be set",
                );
            }
        }
    }

    pub(super) fn k8s_peer(&mut self, field: &str, p: &K8sPeer) {
        if let Some(s) = &p.pod_selector {
            self.selector(&format!("{field}.podSelector"), s);
        }
        if let Some(s) = &p.namespace_selector {
            self.selector(&format!("{field}.namespaceSelector"), s);
        }
        match (
            &p.ip_block,
            p.pod_selector.is_some() || p.namespace_selector.is_some(),
        ) {
            (Some(_), true) => self.fail(
                field,
                "ipBlock cannot be set with podSelector or namespaceSelector",
            ),
            (Some(b), false) => self.ip_block(&format!("{field}.ipBlock"), b),
            (None, false) => self.fail(
                field,
                "must set one of podSelector, namespaceSelector or ipBlock",
            ),
            (None, true) => {}
        }
    }

    pub(super) fn k8s_ports(&mut self, field: &str, ports: &[K8sPort]) {
        for (i, p) in ports.iter().enumerate() {
            self.port(
                &format!("{field}.ports[{i}]"),
                p.protocol.as_deref(),
                p.port.as_ref(),
                p.end_port,
            );
        }
    }
}
