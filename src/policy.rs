//! Policy model, store and compiled snapshot.
//!
//! The [`Store`] holds plain Kubernetes objects (Namespaces, Pods, Antrea and Kubernetes
//! policies) regardless of where they came from. [`Store::compile`] turns them into an
//! immutable [`Snapshot`] for the one Pod this proxy protects; the data path only ever
//! talks to a `Snapshot`.
//!
//! CONTRACT (shared with the data path, events and CLI): the public items in this file
//! are what other modules rely on. Internals live in submodules.

use std::fmt;
use std::net::SocketAddr;

use serde::Serialize;

pub mod cli;

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
    Allow(Option<RuleRef>),
    /// Reset the connection.
    Deny { rule: RuleRef, action: DenyAction },
    /// An L7 rule matched at L3/L4: classify the first bytes, then ask
    /// [`Snapshot::check_http`] / [`Snapshot::check_tls`] with `l7`. The rule is final.
    Inspect { rule: RuleRef, l7: L7Id },
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
    _private: (),
}

impl Snapshot {
    /// Monotonic generation number, for metrics and logs.
    pub fn generation(&self) -> u64 {
        todo!()
    }

    /// First rule (tier, priority, rule order) whose L3/L4 part matches decides; then the
    /// Kubernetes NetworkPolicy layer, then Baseline, then allow.
    pub fn decide(&self, _flow: &Flow) -> L4Verdict {
        todo!()
    }

    /// Which protocols the L7 part of `l7` admits (for classification).
    pub fn l7_wants(&self, _l7: L7Id) -> L7Wants {
        todo!()
    }

    pub fn check_http(&self, _l7: L7Id, _req: &HttpRequestMeta<'_>) -> L7Verdict {
        todo!()
    }

    pub fn check_tls(&self, _l7: L7Id, _hello: &TlsMeta<'_>) -> L7Verdict {
        todo!()
    }
}

/// Errors of loading, validating and compiling policy.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Todo(String),
}

/// Kubernetes objects from any source; knows nothing about files or watches.
#[derive(Debug, Default)]
pub struct Store {
    _private: (),
}

impl Store {
    /// Load every manifest under `paths` (files or directories, recursive,
    /// `*.yaml`/`*.yml`/`*.json`, multi-document). All errors are collected; each names
    /// file, object (kind, namespace/name) and field path.
    pub fn load_manifests(_paths: &[std::path::PathBuf]) -> Result<Store, Vec<Error>> {
        todo!()
    }

    /// Compile for the protected Pod `namespace/name`.
    pub fn compile(
        &self,
        _namespace: &str,
        _name: &str,
        _generation: u64,
    ) -> Result<Snapshot, Error> {
        todo!()
    }
}
