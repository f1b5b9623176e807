//! The compiled form the data path queries: per direction, the ordered Antrea rules, the
//! Kubernetes NetworkPolicy layer and the Baseline rules, each indexed by port so a
//! decision only looks at rules that can match the destination port.

use std::collections::HashSet;
use std::net::IpAddr;
use std::sync::Arc;

use ipnet::IpNet;

pub use super::rule_index::RuleTable;
use super::{DenyAction, Direction, Flow, L4Verdict, L7Id, L7Wants, Protocol, RuleRef, Snapshot};
use crate::matcher::{HttpMatcher, TlsMatcher};

/// What a matching rule does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Allow,
    Deny(DenyAction),
    /// Skip the remaining (non-Baseline) Antrea tiers.
    Pass,
}

/// Which peer addresses a rule accepts.
#[derive(Clone, Debug, Default)]
pub struct PeerSet {
    /// No `from`/`to`: every peer.
    pub any: bool,
    pub ips: HashSet<IpAddr>,
    /// ipBlock `cidr` and its `except` list.
    pub nets: Vec<(IpNet, Vec<IpNet>)>,
}

impl PeerSet {
    pub fn contains(&self, ip: IpAddr) -> bool {
        self.any
            || self.ips.contains(&ip)
            || self
                .nets
                .iter()
                .any(|(net, except)| net.contains(&ip) && !except.iter().any(|e| e.contains(&ip)))
    }
}

/// Which destination ports a rule accepts.
#[derive(Clone, Debug, Default)]
pub struct PortSet {
    /// No `ports`: every port of every protocol.
    pub any: bool,
    /// Inclusive ranges.
    pub ranges: Vec<(Protocol, u16, u16)>,
    /// Egress named ports, resolved per peer Pod: (peer IP, protocol, port).
    pub named: HashSet<(IpAddr, Protocol, u16)>,
}

impl PortSet {
    fn contains(&self, peer: IpAddr, proto: Protocol, port: u16) -> bool {
        self.any
            || self
                .ranges
                .iter()
                .any(|(p, lo, hi)| *p == proto && (*lo..=*hi).contains(&port))
            || self.named.contains(&(peer, proto, port))
    }
}

/// One rule, compiled.
#[derive(Clone, Debug)]
pub struct CompiledRule {
    /// Shared with every verdict, request and event it decides: cloned per request.
    pub rule: Arc<RuleRef>,
    pub action: Action,
    pub peers: PeerSet,
    pub ports: PortSet,
    pub l7: Option<L7Id>,
}

impl CompiledRule {
    pub(super) fn matches(&self, peer: IpAddr, proto: Protocol, port: u16) -> bool {
        self.ports.contains(peer, proto, port) && self.peers.contains(peer)
    }

    pub(super) fn verdict(&self) -> L4Verdict {
        match (self.action, self.l7) {
            (Action::Allow, Some(l7)) => L4Verdict::Inspect {
                rule: self.rule.clone(),
                l7,
            },
            (Action::Deny(action), _) => L4Verdict::Deny {
                rule: self.rule.clone(),
                action,
            },
            _ => L4Verdict::Allow(Some(self.rule.clone())),
        }
    }
}

/// Kubernetes NetworkPolicy layer for one direction.
#[derive(Debug, Default)]
pub struct K8sLayer {
    /// Policies that select the protected Pod for this direction (it is isolated).
    pub isolating: Vec<Arc<RuleRef>>,
    /// Their rules (all Allow).
    pub allow: RuleTable,
}

/// Everything that decides flows in one direction.
#[derive(Debug, Default)]
pub struct DirectionTable {
    pub antrea: RuleTable,
    pub k8s: K8sLayer,
    pub baseline: RuleTable,
}

/// The L7 part of one rule.
#[derive(Debug)]
pub struct CompiledL7 {
    pub wants: L7Wants,
    pub http: HttpMatcher,
    pub tls: TlsMatcher,
}

impl Snapshot {
    pub(super) fn table(&self, d: Direction) -> &DirectionTable {
        match d {
            Direction::Ingress => &self.ingress,
            Direction::Egress => &self.egress,
        }
    }

    pub(super) fn decide_flow(&self, flow: &Flow) -> L4Verdict {
        let peer = match flow.direction {
            Direction::Ingress => flow.src.ip(),
            Direction::Egress => flow.dst.ip(),
        }
        .to_canonical();
        let (proto, port) = (flow.protocol, flow.dst.port());
        let table = self.table(flow.direction);
        if let Some(r) = table.antrea.first_match(peer, proto, port)
            && r.action != Action::Pass
        {
            return r.verdict();
        }
        if let Some(first) = table.k8s.isolating.first() {
            return match table.k8s.allow.first_match(peer, proto, port) {
                Some(r) => r.verdict(),
                None => L4Verdict::Deny {
                    rule: first.clone(),
                    action: DenyAction::Drop,
                },
            };
        }
        match table.baseline.first_match(peer, proto, port) {
            Some(r) if r.action != Action::Pass => r.verdict(),
            _ => L4Verdict::Allow(None),
        }
    }
}

/// The data path shares one snapshot between connection tasks behind an `Arc`.
const _: fn() = || {
    fn shareable<T: Send + Sync>() {}
    shareable::<Snapshot>();
    shareable::<super::Store>();
};
