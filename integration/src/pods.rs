//! The lab's Pods and hosts: names, labels and addresses, and the Kubernetes objects
//! (Namespace `default`, Pods with `status.podIPs`) that tell the policy engine which
//! address is which Pod. One client namespace holds several Pod addresses, so selecting a
//! source address selects a Pod.

use std::collections::BTreeMap;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

/// Address family of a probe.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Family {
    V4,
    V6,
}

impl Family {
    pub const BOTH: [Family; 2] = [Family::V4, Family::V6];
}

/// Which lab namespace an endpoint lives in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Host {
    Web,
    Client,
    External,
}

/// A Pod (or the external host) with its addresses.
#[derive(Clone, Debug)]
pub struct Endpoint {
    pub name: &'static str,
    pub host: Host,
    pub v4: &'static str,
    pub v6: &'static str,
    /// Labels of the Pod; `None` for the external host, which is not a Pod.
    pub labels: Option<BTreeMap<String, String>>,
    /// The namespace's source address when nothing is bound (tools that cannot bind, like
    /// `openssl s_client`, can only probe from a primary endpoint).
    pub primary: bool,
}

impl Endpoint {
    pub fn ip(&self, family: Family) -> IpAddr {
        let s = match family {
            Family::V4 => self.v4,
            Family::V6 => self.v6,
        };
        // The table below is constant and valid.
        s.parse().unwrap_or(IpAddr::from([0, 0, 0, 0]))
    }
}

fn labels(pairs: &[(&str, &str)]) -> Option<BTreeMap<String, String>> {
    Some(
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    )
}

/// The lab's endpoints. `web` is the protected Pod; `client`, `admin` and `other` share the
/// client namespace; `external` is a host outside the cluster (egress target).
pub fn endpoints() -> Vec<Endpoint> {
    vec![
        Endpoint {
            name: "web",
            host: Host::Web,
            v4: "10.77.0.10",
            v6: "fd77::10",
            labels: labels(&[("app", "web")]),
            primary: true,
        },
        Endpoint {
            name: "client",
            host: Host::Client,
            v4: "10.77.0.21",
            v6: "fd77::21",
            labels: labels(&[("app", "client")]),
            primary: true,
        },
        Endpoint {
            name: "admin",
            host: Host::Client,
            v4: "10.77.0.22",
            v6: "fd77::22",
            labels: labels(&[("role", "admin")]),
            primary: false,
        },
        Endpoint {
            name: "other",
            host: Host::Client,
            v4: "10.77.0.23",
            v6: "fd77::23",
            labels: labels(&[]),
            primary: false,
        },
        Endpoint {
            name: "external",
            host: Host::External,
            v4: "10.77.0.100",
            v6: "fd77::100",
            labels: None,
            primary: true,
        },
    ]
}

/// Prefix lengths of the lab segment.
pub const V4_PREFIX: u8 = 24;
pub const V6_PREFIX: u8 = 64;

/// Container ports declared on every lab Pod (named ports in policies resolve against them).
pub const POD_PORTS: &[(&str, u16)] = &[("http", 80), ("https", 443), ("echo", 7), ("bulk", 9000)];

/// YAML for Namespace `default` and every Pod, with `extra_web_labels` added to `web`.
pub fn objects_yaml(
    extra_web_labels: &BTreeMap<String, String>,
) -> Result<String, serde_yaml::Error> {
    let mut docs = vec![serde_yaml::to_string(&serde_json::json!({
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": "default", "labels": {"kubernetes.io/metadata.name": "default"}},
    }))?];
    for ep in endpoints() {
        let Some(mut labels) = ep.labels.clone() else {
            continue;
        };
        if ep.name == "web" {
            labels.extend(extra_web_labels.clone());
        }
        let ports: Vec<_> = POD_PORTS
            .iter()
            .map(|(name, port)| serde_json::json!({"name": name, "containerPort": port, "protocol": "TCP"}))
            .collect();
        docs.push(serde_yaml::to_string(&serde_json::json!({
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": ep.name, "namespace": "default", "labels": labels},
            "spec": {"containers": [{"name": "app", "image": "lab", "ports": ports}]},
            "status": {
                "phase": "Running",
                "podIP": ep.v4,
                "podIPs": [{"ip": ep.v4}, {"ip": ep.v6}],
            },
        }))?);
    }
    Ok(docs.join("---\n"))
}

/// Look an endpoint up by name.
pub fn endpoint(name: &str) -> Option<Endpoint> {
    endpoints().into_iter().find(|e| e.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_describe_every_pod_with_both_addresses() {
        let mut extra = BTreeMap::new();
        extra.insert(
            "egress-restriction".to_string(),
            "internal-domain-only".to_string(),
        );
        let yaml = objects_yaml(&extra).unwrap();
        let docs: Vec<serde_yaml::Value> = serde_yaml::Deserializer::from_str(&yaml)
            .map(|d| serde_yaml::Value::deserialize(d).unwrap())
            .collect();
        assert_eq!(docs.len(), 5, "namespace + 4 pods");
        let web = &docs[1];
        assert_eq!(
            web["metadata"]["labels"]["egress-restriction"],
            "internal-domain-only"
        );
        assert_eq!(web["metadata"]["labels"]["app"], "web");
        assert_eq!(web["status"]["podIPs"][1]["ip"], "fd77::10");
        let other = &docs[4];
        assert_eq!(other["metadata"]["name"], "other");
        assert!(other["metadata"]["labels"].as_mapping().unwrap().is_empty());
    }
}
