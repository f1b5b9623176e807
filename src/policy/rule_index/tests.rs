use std::net::IpAddr;

use proptest::prelude::*;

use super::super::snapshot::{Action, CompiledRule, PeerSet, PortSet};
use super::super::{Direction, PolicyKind, RuleRef};
use super::*;

fn rule(i: usize, peers: PeerSet, ports: PortSet) -> CompiledRule {
    CompiledRule {
        rule: std::sync::Arc::new(RuleRef {
            kind: PolicyKind::AntreaClusterNetworkPolicy,
            namespace: None,
            name: format!("p{i}"),
            rule: "r".into(),
            tier: "application".into(),
            priority: 1.0,
            direction: Direction::Ingress,
            enable_logging: false,
            log_label: None,
        }),
        action: Action::Allow,
        peers,
        ports,
        l7: None,
    }
}

fn ip(n: u8) -> IpAddr {
    IpAddr::from([10, 0, 0, n])
}

fn peers() -> impl Strategy<Value = PeerSet> {
    prop_oneof![
        Just(PeerSet {
            any: true,
            ..PeerSet::default()
        }),
        prop::collection::vec(0u8..6, 0..3).prop_map(|v| PeerSet {
            ips: v.into_iter().map(ip).collect(),
            ..PeerSet::default()
        }),
        (0u8..6).prop_map(|n| PeerSet {
            nets: vec![(format!("10.0.0.{n}/32").parse().unwrap(), vec![])],
            ..PeerSet::default()
        }),
        Just(PeerSet {
            nets: vec![(
                "10.0.0.0/30".parse().unwrap(),
                vec!["10.0.0.2/32".parse().unwrap()]
            )],
            ..PeerSet::default()
        }),
    ]
}

fn ports() -> impl Strategy<Value = PortSet> {
    let proto = prop_oneof![Just(Protocol::Tcp), Just(Protocol::Udp)];
    prop_oneof![
        Just(PortSet {
            any: true,
            ..PortSet::default()
        }),
        prop::collection::vec((proto, 1u16..5, 0u16..3), 0..3).prop_map(|v| PortSet {
            ranges: v.into_iter().map(|(p, lo, w)| (p, lo, lo + w)).collect(),
            ..PortSet::default()
        }),
        Just(PortSet {
            ranges: vec![(Protocol::Tcp, 0, 1000)],
            ..PortSet::default()
        }),
        (0u8..6, 1u16..5).prop_map(|(n, p)| PortSet {
            named: [(ip(n), Protocol::Tcp, p)].into_iter().collect(),
            ..PortSet::default()
        }),
    ]
}

proptest! {
    /// The index finds exactly the first rule a linear walk would.
    #[test]
    fn index_agrees_with_linear_walk(
        specs in prop::collection::vec((peers(), ports()), 0..12),
        peer in 0u8..6,
        port in 0u16..8,
        udp in any::<bool>(),
    ) {
        let rules: Vec<CompiledRule> = specs
            .into_iter()
            .enumerate()
            .map(|(i, (pe, po))| rule(i, pe, po))
            .collect();
        let proto = if udp { Protocol::Udp } else { Protocol::Tcp };
        let want = rules.iter().find(|r| r.matches(ip(peer), proto, port)).map(|r| r.rule.name.clone());
        let table = RuleTable::new(rules);
        let got = table.first_match(ip(peer), proto, port).map(|r| r.rule.name.clone());
        prop_assert_eq!(got, want);
    }
}
