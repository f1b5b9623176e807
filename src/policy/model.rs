//! Wire types of the policy objects, as they appear in manifests and in the Kubernetes
//! API. Policy specs reject unknown fields: a typo such as `l7Protocol` must fail loudly
//! instead of silently dropping a constraint and allowing traffic. For the same reason
//! the CRD schemas generated from them keep unknown fields in every object of an Antrea
//! policy's spec (`x-kubernetes-preserve-unknown-fields`): the API server would otherwise
//! prune the typo (with `kubectl apply --validate=warn|false`) before the admission
//! webhook or the proxy could see it, and store a rule without its constraint.
//!
//! Fields of Antrea's API that l7proxy does not implement (groups, service accounts, FQDN
//! peers, ...) are still declared, so that using them gives a clear "not supported"
//! validation error rather than an "unknown field" one.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// `metav1.LabelSelector`.
#[derive(Clone, Debug, Default, Deserialize, Serialize, schemars::JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(extend("x-kubernetes-preserve-unknown-fields" = true))]
pub struct LabelSelector {
    #[serde(default)]
    pub match_labels: BTreeMap<String, String>,
    #[serde(default)]
    pub match_expressions: Vec<LabelRequirement>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize, schemars::JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(extend("x-kubernetes-preserve-unknown-fields" = true))]
pub struct LabelRequirement {
    pub key: String,
    pub operator: String,
    #[serde(default)]
    pub values: Vec<String>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize, schemars::JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(extend("x-kubernetes-preserve-unknown-fields" = true))]
pub struct IpBlock {
    pub cidr: String,
    #[serde(default)]
    pub except: Vec<String>,
}

/// A port number or a container port name.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(untagged)]
pub enum IntOrString {
    Int(i64),
    String(String),
}

/// `namespaces` of an ACNP peer.
#[derive(Clone, Debug, Default, Deserialize, Serialize, schemars::JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(extend("x-kubernetes-preserve-unknown-fields" = true))]
pub struct PeerNamespaces {
    #[serde(rename = "match")]
    pub match_: Option<String>,
    #[schemars(with = "Option<AnyValue>")]
    pub same_labels: Option<serde_json::Value>,
}

/// An Antrea `appliedTo` entry or rule peer (`from`/`to`).
#[derive(Clone, Debug, Default, Deserialize, Serialize, schemars::JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(extend("x-kubernetes-preserve-unknown-fields" = true))]
pub struct AntreaPeer {
    pub pod_selector: Option<LabelSelector>,
    pub namespace_selector: Option<LabelSelector>,
    pub namespaces: Option<PeerNamespaces>,
    pub ip_block: Option<IpBlock>,
    // Declared so they are reported as unsupported, not as unknown.
    #[schemars(with = "Option<AnyValue>")]
    pub group: Option<serde_json::Value>,
    #[schemars(with = "Option<AnyValue>")]
    pub service_account: Option<serde_json::Value>,
    #[schemars(with = "Option<AnyValue>")]
    pub service: Option<serde_json::Value>,
    #[schemars(with = "Option<AnyValue>")]
    pub node_selector: Option<serde_json::Value>,
    #[schemars(with = "Option<AnyValue>")]
    pub external_entity_selector: Option<serde_json::Value>,
    #[schemars(with = "Option<AnyValue>")]
    pub fqdn: Option<serde_json::Value>,
    #[schemars(with = "Option<AnyValue>")]
    pub scope: Option<serde_json::Value>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize, schemars::JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(extend("x-kubernetes-preserve-unknown-fields" = true))]
pub struct AntreaPort {
    pub protocol: Option<String>,
    pub port: Option<IntOrString>,
    pub end_port: Option<i64>,
    pub source_port: Option<i64>,
    pub source_end_port: Option<i64>,
}

/// `protocols[]` of an Antrea rule (ICMP/IGMP; never a TCP connection).
#[derive(Clone, Debug, Default, Deserialize, Serialize, schemars::JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(extend("x-kubernetes-preserve-unknown-fields" = true))]
pub struct AntreaProtocol {
    #[schemars(with = "Option<AnyValue>")]
    pub icmp: Option<serde_json::Value>,
    #[schemars(with = "Option<AnyValue>")]
    pub igmp: Option<serde_json::Value>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize, schemars::JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(extend("x-kubernetes-preserve-unknown-fields" = true))]
pub struct HttpProtocol {
    pub host: Option<String>,
    pub method: Option<String>,
    pub path: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize, schemars::JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(extend("x-kubernetes-preserve-unknown-fields" = true))]
pub struct TlsProtocol {
    pub sni: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize, schemars::JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(extend("x-kubernetes-preserve-unknown-fields" = true))]
pub struct L7Protocol {
    pub http: Option<HttpProtocol>,
    pub tls: Option<TlsProtocol>,
}

/// One ingress or egress rule of an Antrea policy.
#[derive(Clone, Debug, Default, Deserialize, Serialize, schemars::JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(extend("x-kubernetes-preserve-unknown-fields" = true))]
pub struct AntreaRule {
    pub name: Option<String>,
    pub action: Option<String>,
    #[serde(default)]
    pub ports: Vec<AntreaPort>,
    #[serde(default)]
    pub protocols: Vec<AntreaProtocol>,
    #[serde(default)]
    pub l7_protocols: Vec<L7Protocol>,
    #[serde(default)]
    pub from: Vec<AntreaPeer>,
    #[serde(default)]
    pub to: Vec<AntreaPeer>,
    #[serde(default)]
    #[schemars(with = "Vec<AnyValue>")]
    pub to_services: Vec<serde_json::Value>,
    #[serde(default)]
    pub applied_to: Vec<AntreaPeer>,
    #[serde(default)]
    pub enable_logging: bool,
    pub log_label: Option<String>,
}

/// Spec of both `NetworkPolicy` and `ClusterNetworkPolicy` (`crd.antrea.io/v1beta1`).
#[derive(Clone, Debug, Default, Deserialize, Serialize, schemars::JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(extend("x-kubernetes-preserve-unknown-fields" = true))]
pub struct AntreaPolicySpec {
    pub tier: Option<String>,
    pub priority: Option<f64>,
    #[serde(default)]
    pub applied_to: Vec<AntreaPeer>,
    #[serde(default)]
    pub ingress: Vec<AntreaRule>,
    #[serde(default)]
    pub egress: Vec<AntreaRule>,
}

/// Spec of a `Tier`.
#[derive(Clone, Debug, Default, Deserialize, Serialize, schemars::JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TierSpec {
    pub priority: i64,
    pub description: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize, schemars::JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct K8sPeer {
    pub pod_selector: Option<LabelSelector>,
    pub namespace_selector: Option<LabelSelector>,
    pub ip_block: Option<IpBlock>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize, schemars::JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct K8sPort {
    pub protocol: Option<String>,
    pub port: Option<IntOrString>,
    pub end_port: Option<i64>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize, schemars::JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct K8sIngressRule {
    #[serde(default)]
    pub from: Vec<K8sPeer>,
    #[serde(default)]
    pub ports: Vec<K8sPort>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize, schemars::JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct K8sEgressRule {
    #[serde(default)]
    pub to: Vec<K8sPeer>,
    #[serde(default)]
    pub ports: Vec<K8sPort>,
}

/// Spec of `networking.k8s.io/v1` `NetworkPolicy`.
#[derive(Clone, Debug, Default, Deserialize, Serialize, schemars::JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct K8sPolicySpec {
    pub pod_selector: LabelSelector,
    pub policy_types: Option<Vec<String>>,
    #[serde(default)]
    pub ingress: Vec<K8sIngressRule>,
    #[serde(default)]
    pub egress: Vec<K8sEgressRule>,
}

/// The parts of a Pod the policy engine needs (everything else is ignored).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Pod {
    pub namespace: String,
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub ips: Vec<std::net::IpAddr>,
    pub ports: Vec<ContainerPort>,
}

/// A named container port, for named-port rules.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContainerPort {
    pub name: String,
    pub port: u16,
    pub protocol: crate::policy::Protocol,
}

/// A Namespace's labels (`kubernetes.io/metadata.name` is always present).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Namespace {
    pub name: String,
    pub labels: BTreeMap<String, String>,
}

/// Built-in Antrea tiers and their priorities (lower is evaluated first).
pub const BUILTIN_TIERS: &[(&str, i64)] = &[
    ("emergency", 50),
    ("securityops", 100),
    ("networkops", 150),
    ("platform", 200),
    ("application", 250),
    ("baseline", 253),
];

/// Any JSON value, kept as is: the schema of Antrea fields l7proxy declares only to
/// reject them with a clear message. A structural schema needs the explicit marker.
pub struct AnyValue;

impl schemars::JsonSchema for AnyValue {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "AnyValue".into()
    }

    fn inline_schema() -> bool {
        true
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({ "nullable": true, "x-kubernetes-preserve-unknown-fields": true })
    }
}
