//! The benchmark policy as Antrea NetworkPolicy manifests, with a chosen number of L7 rules,
//! plus the Kubernetes objects that tell l7proxy which Pod it protects.
//!
//! The policy matches the HAProxy template rule for rule: from 10.77.0.0/24, port 80 allows
//! HTTP with path `/api/v2/*` and Host `web.bench`, port 443 allows TLS with SNI `web.bench`,
//! port 9000 is allowed at L4, everything else is dropped. The scaling variant adds decoy
//! HTTP entries (exact, wildcard and suffix hosts, distinct path prefixes) *before* the one
//! that matches, so every request is checked against all of them.

use std::path::Path;

use super::topo::{WEB_HOST, WEB_IP};
use crate::error::Result;

/// The HTTP path every allowed benchmark request uses.
pub const ALLOWED_PATH: &str = "/api/v2/bench";
/// A path the policy denies.
pub const DENIED_PATH: &str = "/admin";

/// Write `objects.yaml` and `policy.yaml` with `http_rules` HTTP entries (≥ 1) into `dir`.
pub fn write(dir: &Path, http_rules: usize) -> Result<()> {
    std::fs::create_dir_all(dir)?;
    std::fs::write(dir.join("objects.yaml"), objects())?;
    std::fs::write(dir.join("policy.yaml"), manifest(http_rules))?;
    Ok(())
}

fn objects() -> String {
    format!(
        "apiVersion: v1
kind: Namespace
metadata:
  name: default
  labels:
    kubernetes.io/metadata.name: default
---
apiVersion: v1
kind: Pod
metadata:
  name: web
  namespace: default
  labels:
    app: web
spec:
  containers:
    - name: app
      image: bench
status:
  phase: Running
  podIP: {WEB_IP}
  podIPs:
    - ip: {WEB_IP}
"
    )
}

/// The policy text. `http_rules - 1` decoys come first, then the rule that matches.
pub fn manifest(http_rules: usize) -> String {
    let mut http = String::new();
    for i in 0..http_rules.saturating_sub(1) {
        let (host, path) = match i % 3 {
            0 => (format!("svc{i}.bench"), format!("/svc{i}/*")),
            1 => (format!("*.svc{i}.example"), format!("/api/v{i}/*")),
            _ => (format!("*svc{i}.internal"), format!("/s{i}/items/*")),
        };
        http.push_str(&format!(
            "        - http:\n            host: \"{host}\"\n            path: \"{path}\"\n"
        ));
    }
    http.push_str(&format!(
        "        - http:\n            host: \"{WEB_HOST}\"\n            path: \"/api/v2/*\"\n"
    ));
    format!(
        "apiVersion: crd.antrea.io/v1beta1
kind: NetworkPolicy
metadata:
  name: bench
  namespace: default
spec:
  priority: 5
  tier: application
  appliedTo:
    - podSelector:
        matchLabels:
          app: web
  ingress:
    - name: allow-api
      action: Allow
      from:
        - ipBlock:
            cidr: 10.77.0.0/24
      ports:
        - protocol: TCP
          port: 80
        - protocol: TCP
          port: 8080
      l7Protocols:
{http}    - name: allow-tls
      action: Allow
      from:
        - ipBlock:
            cidr: 10.77.0.0/24
      ports:
        - protocol: TCP
          port: 443
      l7Protocols:
        - tls:
            sni: \"{WEB_HOST}\"
    - name: allow-bulk
      action: Allow
      from:
        - ipBlock:
            cidr: 10.77.0.0/24
      ports:
        - protocol: TCP
          port: 9000
    - name: drop-other
      action: Drop
"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_has_the_requested_number_of_http_entries() {
        for n in [1, 10, 1000] {
            let text = manifest(n);
            assert_eq!(text.matches("- http:").count(), n);
            let doc: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
            let rules = doc["spec"]["ingress"].as_sequence().unwrap();
            assert_eq!(rules.len(), 4);
            let l7 = rules[0]["l7Protocols"].as_sequence().unwrap();
            assert_eq!(l7.last().unwrap()["http"]["host"], WEB_HOST);
        }
    }
}
