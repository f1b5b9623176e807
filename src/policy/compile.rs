//! Store → [`Snapshot`] for one protected Pod: keep the rules that apply to it, resolve
//! selectors to Pod IPs and named ports to numbers, order everything by tier, priority and
//! rule position, and compile each L7 part once.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::sync::Arc;

use ipnet::IpNet;

use super::model::{AntreaPeer, AntreaPort, AntreaRule, IntOrString, IpBlock};
use super::select::{PodView, Selection, namespace_labels};
use super::snapshot::{
    Action, CompiledL7, CompiledRule, DirectionTable, PeerSet, PortSet, RuleTable,
};
use super::store::AntreaPolicy;
use super::{
    DenyAction, Direction, Error, L7Id, L7Wants, ObjectKey, PolicyKind, Protocol, RuleRef,
    Snapshot, Store,
};
use crate::matcher::{HttpEntry, HttpMatcher, TlsEntry, TlsMatcher};

mod k8s;
mod resolve;

use resolve::Candidate;
pub use resolve::{Compiled, Enforced, Problem};

struct Compiler<'a> {
    pods: Vec<PodView<'a>>,
    me: PodView<'a>,
    l7: Vec<CompiledL7>,
}

fn protocol(p: Option<&str>) -> Protocol {
    match p {
        Some("UDP") => Protocol::Udp,
        Some("SCTP") => Protocol::Sctp,
        _ => Protocol::Tcp,
    }
}

fn nets(b: &IpBlock) -> Option<(IpNet, Vec<IpNet>)> {
    let cidr = b.cidr.parse::<IpNet>().ok()?.trunc();
    let except = b
        .except
        .iter()
        .filter_map(|e| e.parse::<IpNet>().ok().map(|n| n.trunc()))
        .collect();
    Some((cidr, except))
}

impl<'a> Compiler<'a> {
    fn add_selected(&self, sel: Selection<'_>, set: &mut PeerSet) {
        for p in self.pods.iter().filter(|p| sel.selects(**p)) {
            set.ips.extend(p.pod.ips.iter().map(|ip| ip.to_canonical()));
        }
    }

    fn antrea_peers(&self, policy: &AntreaPolicy, peers: &[AntreaPeer]) -> PeerSet {
        let mut set = PeerSet {
            any: peers.is_empty(),
            ..PeerSet::default()
        };
        for peer in peers {
            if let Some(b) = &peer.ip_block {
                set.nets.extend(nets(b));
                continue;
            }
            let namespace = if peer.namespaces.is_some() {
                // `namespaces.match: Self`: the namespace of the Pod the rule applies to.
                Some(self.me.pod.namespace.as_str())
            } else if peer.namespace_selector.is_none() {
                // A lone podSelector: the policy's namespace (ANNP) or every namespace (ACNP).
                policy.namespace.as_deref()
            } else {
                None
            };
            self.add_selected(
                Selection {
                    pod_selector: peer.pod_selector.as_ref(),
                    namespace_selector: peer.namespace_selector.as_ref(),
                    namespace,
                },
                &mut set,
            );
        }
        set
    }

    fn applies(&self, policy: &AntreaPolicy, applied_to: &[AntreaPeer]) -> bool {
        applied_to.iter().any(|a| {
            (a.pod_selector.is_some() || a.namespace_selector.is_some())
                && Selection {
                    pod_selector: a.pod_selector.as_ref(),
                    namespace_selector: a.namespace_selector.as_ref(),
                    namespace: policy.namespace.as_deref(),
                }
                .selects(self.me)
        })
    }

    /// Ports of a rule. Named ports resolve against the protected Pod for ingress and
    /// against each peer Pod for egress.
    fn ports<'p>(
        &self,
        dir: Direction,
        ports: impl Iterator<Item = (Option<&'p str>, Option<&'p IntOrString>, Option<i64>)>,
        peers: &PeerSet,
    ) -> PortSet {
        let mut set = PortSet::default();
        let mut n = 0;
        for (proto, port, end) in ports {
            n += 1;
            let proto = protocol(proto);
            match port {
                None => set.ranges.push((proto, 0, u16::MAX)),
                Some(IntOrString::Int(p)) => {
                    let lo = u16::try_from(*p).unwrap_or(0);
                    let hi = end.and_then(|e| u16::try_from(e).ok()).unwrap_or(lo);
                    if lo > 0 {
                        set.ranges.push((proto, lo, hi));
                    }
                }
                Some(IntOrString::String(name)) => {
                    let found = |pod: &PodView<'_>| {
                        pod.pod
                            .ports
                            .iter()
                            .find(|cp| cp.name == *name && cp.protocol == proto)
                            .map(|cp| cp.port)
                    };
                    match dir {
                        Direction::Ingress => {
                            if let Some(p) = found(&self.me) {
                                set.ranges.push((proto, p, p));
                            }
                        }
                        Direction::Egress => {
                            for pod in &self.pods {
                                let Some(p) = found(pod) else { continue };
                                for ip in &pod.pod.ips {
                                    let ip = ip.to_canonical();
                                    if peers.contains(ip) {
                                        set.named.insert((ip, proto, p));
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        set.any = n == 0;
        set
    }

    fn l7(&mut self, object: &str, field: &str, r: &AntreaRule) -> Result<Option<L7Id>, Error> {
        if r.l7_protocols.is_empty() {
            return Ok(None);
        }
        let nonempty = |s: &Option<String>| s.clone().filter(|s| !s.is_empty());
        let mut http = Vec::new();
        let mut tls = Vec::new();
        for (index, p) in r.l7_protocols.iter().enumerate() {
            if let Some(h) = &p.http {
                http.push(HttpEntry {
                    index,
                    method: nonempty(&h.method),
                    host: nonempty(&h.host),
                    path: nonempty(&h.path),
                });
            }
            if let Some(t) = &p.tls {
                tls.push(TlsEntry {
                    index,
                    sni: nonempty(&t.sni),
                });
            }
        }
        let err = |message: String| Error::Compile {
            object: object.to_owned(),
            field: format!("{field}.l7Protocols"),
            message,
        };
        let compiled = CompiledL7 {
            wants: L7Wants {
                http: !http.is_empty(),
                tls: !tls.is_empty(),
            },
            http: HttpMatcher::new(http).map_err(err)?,
            tls: TlsMatcher::new(tls).map_err(err)?,
        };
        self.l7.push(compiled);
        Ok(Some(L7Id((self.l7.len() - 1) as u32)))
    }

    fn antrea_rule(
        &mut self,
        key: &ObjectKey,
        policy: &AntreaPolicy,
        tier: &str,
        dir: Direction,
        index: usize,
        r: &AntreaRule,
    ) -> Result<CompiledRule, Error> {
        let dir_name = match dir {
            Direction::Ingress => "ingress",
            Direction::Egress => "egress",
        };
        let peers = self.antrea_peers(
            policy,
            if dir == Direction::Ingress {
                &r.from
            } else {
                &r.to
            },
        );
        let mut ports = self.ports(
            dir,
            r.ports
                .iter()
                .map(|p: &AntreaPort| (p.protocol.as_deref(), p.port.as_ref(), p.end_port)),
            &peers,
        );
        if r.ports.is_empty() && !r.protocols.is_empty() {
            // ICMP/IGMP only: never a TCP/UDP/SCTP flow.
            ports.any = false;
        }
        let action = match r.action.as_deref() {
            Some("Drop") => Action::Deny(DenyAction::Drop),
            Some("Reject") => Action::Deny(DenyAction::Reject),
            Some("Pass") => Action::Pass,
            _ => Action::Allow,
        };
        let l7 = self.l7(&key.to_string(), &format!("spec.{dir_name}[{index}]"), r)?;
        Ok(CompiledRule {
            rule: Arc::new(RuleRef {
                kind: policy.kind,
                namespace: policy.namespace.clone(),
                name: policy.name.clone(),
                rule: r
                    .name
                    .clone()
                    .unwrap_or_else(|| format!("{dir_name}-{index}")),
                tier: tier.to_owned(),
                priority: policy.spec.priority.unwrap_or(0.0),
                direction: dir,
                enable_logging: r.enable_logging,
                log_label: r.log_label.clone(),
            }),
            action,
            peers,
            ports,
            l7,
        })
    }
}

impl<'a> Compiler<'a> {
    /// Every rule of one version of a policy that applies to the protected Pod, or the
    /// first that cannot be compiled (then nothing of this version is kept).
    fn policy_rules<'s>(
        &mut self,
        key: &'s ObjectKey,
        v: &Candidate<'s>,
    ) -> Result<Vec<(Order<'s>, bool, CompiledRule)>, Error> {
        let p = v.policy;
        let mut out = Vec::new();
        if !p.spec.applied_to.is_empty() && !self.applies(p, &p.spec.applied_to) {
            return Ok(out);
        }
        let l7_before = self.l7.len();
        let rank = u8::from(p.kind != PolicyKind::AntreaClusterNetworkPolicy);
        let prio = p.spec.priority.unwrap_or(0.0);
        let rules = p
            .spec
            .ingress
            .iter()
            .map(|r| (Direction::Ingress, r))
            .chain(p.spec.egress.iter().map(|r| (Direction::Egress, r)));
        let mut counters = [0usize; 2];
        for (pos, (dir, r)) in rules.enumerate() {
            let index = counters[dir as usize];
            counters[dir as usize] += 1;
            if !r.applied_to.is_empty() && !self.applies(p, &r.applied_to) {
                continue;
            }
            match self.antrea_rule(key, p, &v.tier, dir, index, r) {
                Ok(rule) => out.push((
                    (v.tier_priority, prio, rank, key, pos),
                    v.tier == "baseline",
                    rule,
                )),
                Err(e) => {
                    self.l7.truncate(l7_before);
                    return Err(e);
                }
            }
        }
        Ok(out)
    }
}

/// Sort key of an Antrea rule: tier priority, policy priority, ACNP before ANNP, name,
/// then rule position.
type Order<'a> = (i64, f64, u8, &'a ObjectKey, usize);

fn order(a: &Order<'_>, b: &Order<'_>) -> Ordering {
    a.0.cmp(&b.0)
        .then(a.1.total_cmp(&b.1))
        .then(a.2.cmp(&b.2))
        .then(a.3.cmp(b.3))
        .then(a.4.cmp(&b.4))
}

impl Store {
    /// Compile for the protected Pod `namespace/name`, strictly: any policy that cannot be
    /// compiled is an error (for `explain` and tests; the live sources use
    /// [`Store::compile_lenient`]).
    pub fn compile(&self, namespace: &str, name: &str, generation: u64) -> Result<Snapshot, Error> {
        let compiled = self.compile_lenient(namespace, name, generation)?;
        match compiled.problems.into_iter().next() {
            Some(p) => Err(p.error),
            None => Ok(compiled.snapshot),
        }
    }

    /// Compile for the protected Pod `namespace/name`. A policy that cannot be compiled
    /// is left out (its last enforced version, if any, compiled instead) and listed in
    /// [`Compiled::problems`]; only a missing protected Pod fails the whole compile.
    pub fn compile_lenient(
        &self,
        namespace: &str,
        name: &str,
        generation: u64,
    ) -> Result<Compiled, Error> {
        let me_pod = self
            .pods
            .get(&(namespace.to_owned(), name.to_owned()))
            .ok_or_else(|| Error::PodNotFound {
                namespace: namespace.to_owned(),
                name: name.to_owned(),
            })?;
        let mut ns_labels: BTreeMap<&str, BTreeMap<String, String>> = BTreeMap::new();
        for pod in self.pods.values() {
            ns_labels
                .entry(pod.namespace.as_str())
                .or_insert_with(|| namespace_labels(&self.namespaces, &pod.namespace));
        }
        fn view_of<'v>(
            ns_labels: &'v BTreeMap<&str, BTreeMap<String, String>>,
            pod: &'v super::model::Pod,
        ) -> Option<PodView<'v>> {
            Some(PodView {
                pod,
                ns_labels: ns_labels.get(pod.namespace.as_str())?,
            })
        }
        let view = |pod| view_of(&ns_labels, pod);
        let me = view(me_pod).ok_or_else(|| Error::PodNotFound {
            namespace: namespace.to_owned(),
            name: name.to_owned(),
        })?;
        let mut c = Compiler {
            pods: self.pods.values().filter_map(view).collect(),
            me,
            l7: Vec::new(),
        };

        let mut antrea: Vec<(Order<'_>, bool, CompiledRule)> = Vec::new();
        let mut problems = Vec::new();
        for (key, p) in &self.antrea {
            let versions = self.versions(key, p);
            let mut error = versions.current_error;
            let mut compiled = None;
            for (i, v) in versions.candidates.iter().enumerate() {
                match c.policy_rules(key, v) {
                    Ok(rules) => {
                        compiled = Some((i, rules));
                        break;
                    }
                    Err(e) => {
                        error.get_or_insert(e);
                    }
                }
            }
            // The current version is the first candidate unless its tier is missing.
            let current_ok = matches!(compiled, Some((0, _))) && error.is_none();
            if !current_ok {
                problems.push(Problem {
                    key: key.clone(),
                    error: error.unwrap_or_else(|| Error::Compile {
                        object: key.to_string(),
                        field: "spec".to_owned(),
                        message: "cannot be compiled".to_owned(),
                    }),
                    kept_previous: compiled.is_some(),
                });
            }
            if let Some((_, rules)) = compiled {
                antrea.extend(rules);
            }
        }
        antrea.sort_by(|a, b| order(&a.0, &b.0));

        let mut snapshot = Snapshot {
            generation,
            pod: format!("{namespace}/{name}"),
            ingress: DirectionTable::default(),
            egress: DirectionTable::default(),
            l7: Vec::new(),
        };
        for dir in [Direction::Ingress, Direction::Egress] {
            let pick = |baseline: bool| {
                antrea
                    .iter()
                    .filter(|(_, b, r)| *b == baseline && r.rule.direction == dir)
                    .map(|(_, _, r)| r.clone())
                    .collect::<Vec<_>>()
            };
            let table = DirectionTable {
                antrea: RuleTable::new(pick(false)),
                k8s: self.k8s_layer(&c, dir),
                baseline: RuleTable::new(pick(true)),
            };
            match dir {
                Direction::Ingress => snapshot.ingress = table,
                Direction::Egress => snapshot.egress = table,
            }
        }
        snapshot.l7 = c.l7;
        tracing::debug!(
            pod = %snapshot.pod,
            generation,
            antrea.rules = antrea.len(),
            l7.rules = snapshot.l7.len(),
            k8s.isolating.ingress = snapshot.ingress.k8s.isolating.len(),
            k8s.isolating.egress = snapshot.egress.k8s.isolating.len(),
            problems = problems.len(),
            "compiled policy snapshot"
        );
        Ok(Compiled { snapshot, problems })
    }
}
