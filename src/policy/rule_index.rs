//! Ordered rules with an index on (destination port, peer IP), so that a decision only
//! checks the few rules that can match instead of walking every rule.

use std::collections::HashMap;
use std::net::IpAddr;

use super::Protocol;
use super::snapshot::CompiledRule;

/// Port ranges wider than this are not expanded into the index.
const MAX_EXPANDED_RANGE: u32 = 64;
/// A rule is indexed under at most this many (port, IP) pairs.
const MAX_PAIRS: usize = 4096;

/// Rules in evaluation order, bucketed by what can be looked up exactly.
#[derive(Debug, Default)]
pub struct RuleTable {
    rules: Vec<CompiledRule>,
    /// Exact port and exact peer IP.
    by_port_ip: HashMap<(Protocol, u16, IpAddr), Vec<u32>>,
    /// Exact port, any/CIDR peer.
    by_port: HashMap<(Protocol, u16), Vec<u32>>,
    /// Exact peer IP, any/wide/named port.
    by_ip: HashMap<IpAddr, Vec<u32>>,
    /// Neither: checked for every flow.
    scanned: Vec<u32>,
}

fn port_keys(r: &CompiledRule) -> Option<Vec<(Protocol, u16)>> {
    let ports = &r.ports;
    if ports.any
        || !ports.named.is_empty()
        || ports
            .ranges
            .iter()
            .any(|(_, lo, hi)| u32::from(hi.saturating_sub(*lo)) >= MAX_EXPANDED_RANGE)
    {
        return None;
    }
    let mut keys: Vec<(Protocol, u16)> = ports
        .ranges
        .iter()
        .flat_map(|(p, lo, hi)| (*lo..=*hi).map(move |n| (*p, n)))
        .collect();
    keys.sort_by_key(|(p, n)| (*p as u8, *n));
    keys.dedup();
    Some(keys)
}

/// Exact peer addresses, when the peer set is nothing but addresses (host-length CIDRs
/// without exceptions count as addresses).
fn ip_keys(r: &CompiledRule) -> Option<Vec<IpAddr>> {
    let peers = &r.peers;
    if peers.any {
        return None;
    }
    let mut ips: Vec<IpAddr> = peers.ips.iter().copied().collect();
    for (net, except) in &peers.nets {
        if net.prefix_len() != net.max_prefix_len() || !except.is_empty() {
            return None;
        }
        ips.push(net.addr());
    }
    ips.sort();
    ips.dedup();
    Some(ips)
}

impl RuleTable {
    pub fn new(rules: Vec<CompiledRule>) -> Self {
        let mut t = RuleTable::default();
        for (i, r) in rules.iter().enumerate() {
            let i = i as u32;
            match (port_keys(r), ip_keys(r)) {
                (Some(ports), Some(ips)) if ports.len() * ips.len() <= MAX_PAIRS => {
                    for &(p, n) in &ports {
                        for &ip in &ips {
                            t.by_port_ip.entry((p, n, ip)).or_default().push(i);
                        }
                    }
                }
                (Some(ports), _) => {
                    for k in ports {
                        t.by_port.entry(k).or_default().push(i);
                    }
                }
                (None, Some(ips)) => {
                    for ip in ips {
                        t.by_ip.entry(ip).or_default().push(i);
                    }
                }
                (None, None) => t.scanned.push(i),
            }
        }
        t.rules = rules;
        t
    }

    /// The first rule (in order) matching the peer and destination port: the candidate
    /// lists of the four buckets are walked in merged (rule) order.
    pub fn first_match(&self, peer: IpAddr, proto: Protocol, port: u16) -> Option<&CompiledRule> {
        let empty: &[u32] = &[];
        let mut lists: [&[u32]; 4] = [
            self.by_port_ip
                .get(&(proto, port, peer))
                .map_or(empty, Vec::as_slice),
            self.by_port
                .get(&(proto, port))
                .map_or(empty, Vec::as_slice),
            self.by_ip.get(&peer).map_or(empty, Vec::as_slice),
            &self.scanned,
        ];
        loop {
            let (which, &next) = lists
                .iter()
                .enumerate()
                .filter_map(|(w, l)| l.first().map(|n| (w, n)))
                .min_by_key(|(_, n)| **n)?;
            lists[which] = &lists[which][1..];
            let rule = &self.rules[next as usize];
            if rule.matches(peer, proto, port) {
                return Some(rule);
            }
        }
    }
}

#[cfg(test)]
mod tests;
