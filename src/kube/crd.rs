//! The `crd.antrea.io/v1beta1` custom resources l7proxy reads: `NetworkPolicy`,
//! `ClusterNetworkPolicy` and `Tier`.
//!
//! The specs ARE the policy model's wire types ([`crate::policy::model`]): a manifest on
//! disk and an object from the API server go through the same serde types, and the CRD
//! schemas installed by the chart are generated from those same types, so the three can
//! never disagree. `l7proxy crds` prints them; `charts/l7proxy/files/crds.yaml` is that
//! output, checked by a test.

use kube::CustomResource;
use kube::core::CustomResourceExt;
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Serialize};

use crate::policy::model::{AntreaPolicySpec, IntOrString, TierSpec};

/// `crd.antrea.io/v1beta1` `NetworkPolicy` (namespaced).
#[derive(CustomResource, Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[kube(
    group = "crd.antrea.io",
    version = "v1beta1",
    kind = "NetworkPolicy",
    doc = "Antrea-native policy in one namespace, with Layer 7 rules (l7Protocols).",
    plural = "networkpolicies",
    namespaced,
    shortname = "anp",
    printcolumn(name = "Tier", type_ = "string", json_path = ".spec.tier"),
    printcolumn(name = "Priority", type_ = "number", json_path = ".spec.priority"),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(transparent)]
pub struct NetworkPolicySpec(pub AntreaPolicySpec);

/// `crd.antrea.io/v1beta1` `ClusterNetworkPolicy` (cluster-scoped).
#[derive(CustomResource, Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[kube(
    group = "crd.antrea.io",
    version = "v1beta1",
    kind = "ClusterNetworkPolicy",
    doc = "Antrea-native cluster-wide policy, with Layer 7 rules (l7Protocols).",
    plural = "clusternetworkpolicies",
    shortname = "acnp",
    printcolumn(name = "Tier", type_ = "string", json_path = ".spec.tier"),
    printcolumn(name = "Priority", type_ = "number", json_path = ".spec.priority"),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(transparent)]
pub struct ClusterNetworkPolicySpec(pub AntreaPolicySpec);

/// `crd.antrea.io/v1beta1` `Tier` (cluster-scoped).
#[derive(CustomResource, Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[kube(
    group = "crd.antrea.io",
    version = "v1beta1",
    kind = "Tier",
    doc = "A named priority band that orders Antrea-native policies.",
    plural = "tiers",
    shortname = "tr",
    printcolumn(name = "Priority", type_ = "integer", json_path = ".spec.priority"),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(transparent)]
pub struct TierCrdSpec(pub TierSpec);

/// The three CRDs as one multi-document YAML stream (what `l7proxy crds` prints and the
/// chart installs).
pub fn crds_yaml() -> Result<String, serde_yaml::Error> {
    let mut out = String::new();
    for crd in [
        NetworkPolicy::crd(),
        ClusterNetworkPolicy::crd(),
        Tier::crd(),
    ] {
        out.push_str("---\n");
        out.push_str(&serde_yaml::to_string(&crd)?);
    }
    Ok(out)
}

/// A port number or a named port: Kubernetes' own `int-or-string` marker, the only
/// structural way to say "either" for a scalar.
impl JsonSchema for IntOrString {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "IntOrString".into()
    }

    fn inline_schema() -> bool {
        true
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({ "x-kubernetes-int-or-string": true })
    }
}

/// `l7proxy crds`: print [`crds_yaml`] to stdout.
pub fn print() -> anyhow::Result<std::process::ExitCode> {
    use std::io::Write;
    let yaml = crds_yaml()?;
    std::io::stdout().write_all(yaml.as_bytes())?;
    Ok(std::process::ExitCode::SUCCESS)
}
