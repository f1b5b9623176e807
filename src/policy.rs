//! Policy model, store and compiled snapshot.
//!
//! The [`Store`] holds plain Kubernetes objects (Namespaces, Pods, Antrea and Kubernetes
//! policies) regardless of where they came from. [`Store::compile`] turns them into an
//! immutable [`Snapshot`] for the one Pod this proxy protects; the data path only ever
//! talks to a `Snapshot`.
//!
//! Decision order (Antrea's): Antrea rules outside the Baseline tier ordered by tier
//! priority (Emergency 50, SecurityOps 100, NetworkOps 150, Platform 200, Application
//! 250, custom `Tier`s; names case-insensitive), then policy priority, then rule position;
//! the first rule whose L3/L4 part matches decides. A rule with `l7Protocols` is final:
//! the connection is inspected and allowed only if the L7 part matches. `Pass` skips the
//! remaining Antrea tiers. Then the Kubernetes NetworkPolicy layer: a Pod selected by a
//! `networking.k8s.io/v1` policy for a direction is isolated and only that layer's rules
//! allow. Then Baseline rules, then allow.
//!
//! Sources: [`Store::load_manifests`] reads files; a Kubernetes watch calls
//! [`Store::apply_object`] / [`Store::delete_object`] and recompiles.
//!
//! CONTRACT (shared with the data path, events and CLI): the public items in this file
//! are what other modules rely on. Internals live in submodules.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;

use serde::Serialize;

pub mod cli;
mod compile;
mod load;
pub mod model;
mod rule_index;
mod select;
mod snapshot;
mod store;
mod update;
mod validate;

#[cfg(test)]
pub(crate) mod test_support;
#[cfg(test)]
mod tests;

/// Which way a connection crosses the protected Pod's boundary.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub enum Direction {
    /// Towards the protected Pod (captured by the inbound listener).
    Ingress,
    /// From the protected Pod (captured by the outbound listener).
    Egress,
}

/// Layer 4 protocol of a flow or a rule port.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub enum Protocol {
    Tcp,
    Udp,
    Sctp,
}

impl Protocol {
    /// `TCP`, `UDP` or `SCTP`, as Kubernetes and EVE spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Tcp => "TCP",
            Protocol::Udp => "UDP",
            Protocol::Sctp => "SCTP",
        }
    }
}

/// What the data path knows about a connection before reading a byte of it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Flow {
    pub direction: Direction,
    /// The connecting side (client).
    pub src: SocketAddr,
    /// The original destination (server).
    pub dst: SocketAddr,
    pub protocol: Protocol,
}

/// Kind of the object that owns a deciding rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub enum PolicyKind {
    /// `crd.antrea.io/v1beta1` `NetworkPolicy` (namespaced).
    AntreaNetworkPolicy,
    /// `crd.antrea.io/v1beta1` `ClusterNetworkPolicy`.
    AntreaClusterNetworkPolicy,
    /// `networking.k8s.io/v1` `NetworkPolicy`.
    K8sNetworkPolicy,
}

/// Names the rule that decided a connection, for events, logs and `explain`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RuleRef {
    pub kind: PolicyKind,
    /// `None` for cluster-scoped policies.
    pub namespace: Option<String>,
    pub name: String,
    /// Rule name, or `ingress-<i>`/`egress-<i>` when the rule has none.
    pub rule: String,
    /// Tier name (lower-case), empty for Kubernetes NetworkPolicy.
    pub tier: String,
    /// Policy priority (Antrea), 0 for Kubernetes NetworkPolicy.
    pub priority: f64,
    pub direction: Direction,
    /// `enableLogging` on the rule: the audit log (np.log) gets a line.
    pub enable_logging: bool,
    /// `logLabel` on the rule, if any.
    pub log_label: Option<String>,
}

impl RuleRef {
    /// Antrea's policy reference, as used in Suricata signatures:
    /// `AntreaNetworkPolicy:<ns>/<name>`, `AntreaClusterNetworkPolicy:<name>`,
    /// `K8sNetworkPolicy:<ns>/<name>`.
    pub fn policy_ref(&self) -> String {
        let kind = match self.kind {
            PolicyKind::AntreaNetworkPolicy => "AntreaNetworkPolicy",
            PolicyKind::AntreaClusterNetworkPolicy => "AntreaClusterNetworkPolicy",
            PolicyKind::K8sNetworkPolicy => "K8sNetworkPolicy",
        };
        match &self.namespace {
            Some(ns) => format!("{kind}:{ns}/{}", self.name),
            None => format!("{kind}:{}", self.name),
        }
    }
}

impl fmt::Display for RuleRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} rule {}", self.policy_ref(), self.rule)
    }
}

/// Opaque handle to the compiled L7 part of a rule inside one [`Snapshot`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct L7Id(pub u32);

/// How an L4 denial ends the connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum DenyAction {
    Drop,
    Reject,
}

/// Decision on the L3/L4 part of a flow.
#[derive(Clone, Debug, PartialEq)]
pub enum L4Verdict {
    /// Relay without reading. `None`: no rule selected the flow (default allow).
    Allow(Option<Arc<RuleRef>>),
    /// Reset the connection.
    Deny {
        rule: Arc<RuleRef>,
        action: DenyAction,
    },
    /// An L7 rule matched at L3/L4: classify the first bytes, then ask
    /// [`Snapshot::decide_http`] / [`Snapshot::check_tls`] with `l7`. The rule is final.
    Inspect { rule: Arc<RuleRef>, l7: L7Id },
}

/// The parts of an HTTP request an L7 rule looks at. Host and path are already
/// normalized by `classify::http` (host lower-case, no port, no trailing dot; path
/// decoded and dot-segments removed, no query).
#[derive(Clone, Copy, Debug)]
pub struct HttpRequestMeta<'a> {
    pub method: &'a str,
    pub host: Option<&'a str>,
    pub path: &'a str,
}

/// The parts of a TLS ClientHello an L7 rule looks at.
#[derive(Clone, Copy, Debug)]
pub struct TlsMeta<'a> {
    pub sni: Option<&'a str>,
}

/// Decision on the L7 part of a flow.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct L7Verdict {
    pub allowed: bool,
    /// Human-readable: which entry/field matched, or which field failed
    /// (`"host \"evil.com\" does not match \"*.bar.com\""`).
    pub detail: String,
}

/// Which application protocols the L7 part of a rule admits at all.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct L7Wants {
    pub http: bool,
    pub tls: bool,
}

/// Immutable, compiled policy for one protected Pod. Cheap to share (`Arc`), swapped
/// atomically on reload.
#[derive(Debug)]
pub struct Snapshot {
    generation: u64,
    /// `namespace/name` of the protected Pod.
    pod: String,
    ingress: snapshot::DirectionTable,
    egress: snapshot::DirectionTable,
    l7: Vec<snapshot::CompiledL7>,
}

// === impl Snapshot === (decisions live in `snapshot.rs`)

impl Snapshot {
    /// Monotonic generation number, for metrics and logs.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// `namespace/name` of the Pod this snapshot protects.
    pub fn pod(&self) -> &str {
        &self.pod
    }

    /// First rule (tier, priority, rule order) whose L3/L4 part matches decides; then the
    /// Kubernetes NetworkPolicy layer, then Baseline, then allow.
    pub fn decide(&self, flow: &Flow) -> L4Verdict {
        self.decide_flow(flow)
    }

    /// Which protocols the L7 part of `l7` admits (for classification). An unknown id
    /// (from another snapshot) admits nothing, so the connection is denied.
    pub fn l7_wants(&self, l7: L7Id) -> L7Wants {
        self.l7
            .get(l7.0 as usize)
            .map(|c| c.wants)
            .unwrap_or_default()
    }

    /// Checks an HTTP request (host and path already normalized) against the L7 part of
    /// the rule `l7`.
    pub fn check_http(&self, l7: L7Id, req: &HttpRequestMeta<'_>) -> L7Verdict {
        match self.l7.get(l7.0 as usize) {
            Some(c) => c.http.check(req.method, req.host, req.path).into(),
            None => unknown_l7(l7),
        }
    }

    /// [`check_http`](Self::check_http) without describing an allowed match (its
    /// `detail` is empty): for the data path, which only reports why a request was denied.
    pub fn decide_http(&self, l7: L7Id, req: &HttpRequestMeta<'_>) -> L7Verdict {
        match self.l7.get(l7.0 as usize) {
            Some(c) => c.http.decide(req.method, req.host, req.path).into(),
            None => unknown_l7(l7),
        }
    }

    /// Checks a TLS ClientHello's SNI against the L7 part of the rule `l7`.
    pub fn check_tls(&self, l7: L7Id, hello: &TlsMeta<'_>) -> L7Verdict {
        match self.l7.get(l7.0 as usize) {
            Some(c) => c.tls.check(hello.sni).into(),
            None => unknown_l7(l7),
        }
    }
}

fn unknown_l7(l7: L7Id) -> L7Verdict {
    L7Verdict {
        allowed: false,
        detail: format!("unknown L7 rule id {}", l7.0),
    }
}

impl From<crate::matcher::L7Outcome> for L7Verdict {
    fn from(o: crate::matcher::L7Outcome) -> Self {
        L7Verdict {
            allowed: o.allowed,
            detail: o.detail,
        }
    }
}

/// Errors of loading, validating and compiling policy. Every variant says where: the file
/// (or source), the object and the field.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file or directory could not be read.
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// A document is not valid YAML/JSON or not a Kubernetes object.
    #[error("{file}: document {doc}: {message}")]
    Parse {
        file: String,
        doc: usize,
        message: String,
    },
    /// An object is well-formed but invalid; `field` is a path such as
    /// `spec.ingress[0].l7Protocols[0].http.method`.
    #[error("{file}: {object}: {field}: {message}")]
    Invalid {
        file: String,
        object: String,
        field: String,
        message: String,
    },
    /// The protected Pod is not in the store.
    #[error("pod {namespace}/{name} not found in the loaded objects")]
    PodNotFound { namespace: String, name: String },
    /// A rule could not be compiled (e.g. its patterns exceed the regex size limit).
    #[error("{object}: {field}: {message}")]
    Compile {
        object: String,
        field: String,
        message: String,
    },
}

/// Kubernetes objects from any source; knows nothing about files or watches. Objects
/// enter through [`Store::apply_object`] (already validated) and leave through
/// [`Store::remove`]; [`Store::load_manifests`] is the file-based source.
#[derive(Debug, Default, Clone)]
pub struct Store {
    namespaces: BTreeMap<String, model::Namespace>,
    pods: BTreeMap<(String, String), model::Pod>,
    /// Custom tiers by lower-case name.
    tiers: BTreeMap<String, store::Tier>,
    antrea: BTreeMap<ObjectKey, store::AntreaPolicy>,
    k8s: BTreeMap<ObjectKey, store::K8sPolicy>,
    /// The version of each Antrea policy last put in force, to fall back on.
    enforced: BTreeMap<ObjectKey, compile::Enforced>,
}

/// Kinds of object the store keeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum ObjectKind {
    Namespace,
    Pod,
    Tier,
    AntreaNetworkPolicy,
    AntreaClusterNetworkPolicy,
    K8sNetworkPolicy,
}

impl ObjectKind {
    pub const ALL: [ObjectKind; 6] = [
        ObjectKind::Namespace,
        ObjectKind::Pod,
        ObjectKind::Tier,
        ObjectKind::AntreaNetworkPolicy,
        ObjectKind::AntreaClusterNetworkPolicy,
        ObjectKind::K8sNetworkPolicy,
    ];
}

/// Identity of a stored object: kind, namespace (namespaced kinds only) and name.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectKey {
    pub kind: ObjectKind,
    pub namespace: Option<String>,
    pub name: String,
}

pub use compile::{Compiled, Problem};
pub use load::{ManifestFile, read_manifests};
pub use model::BUILTIN_TIERS;
pub use store::object_key;
pub use update::{Failure, Update};

impl fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.namespace {
            Some(ns) => write!(f, "{:?} {ns}/{}", self.kind, self.name),
            None => write!(f, "{:?} {}", self.kind, self.name),
        }
    }
}
