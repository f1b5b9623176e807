//! The Kubernetes NetworkPolicy layer: isolation per direction and its allow rules.

use std::sync::Arc;

use super::super::model::{K8sPeer, K8sPort};
use super::super::select::Selection;
use super::super::snapshot::{Action, CompiledRule, K8sLayer, PeerSet, RuleTable};
use super::super::{Direction, PolicyKind, RuleRef, Store};
use super::{Compiler, nets};

impl Compiler<'_> {
    fn k8s_peers(&self, namespace: &str, peers: &[K8sPeer]) -> PeerSet {
        let mut set = PeerSet {
            any: peers.is_empty(),
            ..PeerSet::default()
        };
        for peer in peers {
            if let Some(b) = &peer.ip_block {
                set.nets.extend(nets(b));
                continue;
            }
            self.add_selected(
                Selection {
                    pod_selector: peer.pod_selector.as_ref(),
                    namespace_selector: peer.namespace_selector.as_ref(),
                    namespace: peer.namespace_selector.is_none().then_some(namespace),
                },
                &mut set,
            );
        }
        set
    }
}

impl Store {
    pub(super) fn k8s_layer(&self, c: &Compiler<'_>, dir: Direction) -> K8sLayer {
        let mut isolating = Vec::new();
        let mut rules = Vec::new();
        for p in self.k8s.values() {
            if p.namespace != c.me.pod.namespace
                || !super::super::select::matches(&p.spec.pod_selector, &c.me.pod.labels)
            {
                continue;
            }
            let wanted = match dir {
                Direction::Ingress => "Ingress",
                Direction::Egress => "Egress",
            };
            let applies = match &p.spec.policy_types {
                Some(types) => types.iter().any(|t| t == wanted),
                None => dir == Direction::Ingress || !p.spec.egress.is_empty(),
            };
            if !applies {
                continue;
            }
            let rref = |rule: String| RuleRef {
                kind: PolicyKind::K8sNetworkPolicy,
                namespace: Some(p.namespace.clone()),
                name: p.name.clone(),
                rule,
                tier: String::new(),
                priority: 0.0,
                direction: dir,
                enable_logging: false,
                log_label: None,
            };
            isolating.push(Arc::new(rref("default-deny".to_owned())));
            let k8s_rules: Vec<(&[K8sPeer], &[K8sPort])> = match dir {
                Direction::Ingress => p
                    .spec
                    .ingress
                    .iter()
                    .map(|r| (&r.from[..], &r.ports[..]))
                    .collect(),
                Direction::Egress => p
                    .spec
                    .egress
                    .iter()
                    .map(|r| (&r.to[..], &r.ports[..]))
                    .collect(),
            };
            for (i, (peers, ports)) in k8s_rules.into_iter().enumerate() {
                let peers = c.k8s_peers(&p.namespace, peers);
                let ports = c.ports(
                    dir,
                    ports
                        .iter()
                        .map(|p| (p.protocol.as_deref(), p.port.as_ref(), p.end_port)),
                    &peers,
                );
                rules.push(CompiledRule {
                    rule: Arc::new(rref(format!("{wanted}-{i}").to_ascii_lowercase())),
                    action: Action::Allow,
                    peers,
                    ports,
                    l7: None,
                });
            }
        }
        K8sLayer {
            isolating,
            allow: RuleTable::new(rules),
        }
    }
}
