//! The policies the end-to-end tests install, written once: an Antrea NetworkPolicy in
//! `default` on the `web` Pod (tier `application`, priority 5) around each test's own rules,
//! and the rules several tests share. A test that needs another shape writes its manifest
//! itself; the point is that the common one is not copied into every file.

/// Ingress on port 80: HTTP only under `/public/`.
pub const HTTP_PUBLIC: &str = r#"  - name: http-public
    action: Allow
    ports: [{protocol: TCP, port: 80}]
    l7Protocols: [{http: {path: "/public/*"}}]
"#;

/// Ingress on port 443: TLS only with a server name under `allowed.test`.
pub const TLS_ALLOWED_SNI: &str = r#"  - name: tls-sni
    action: Allow
    ports: [{protocol: TCP, port: 443}]
    l7Protocols: [{tls: {sni: "*.allowed.test"}}]
"#;

/// Ingress on port 9000 (the bulk server), at layer 4 only.
pub const BULK_L4: &str = r#"  - name: bulk-l4
    action: Allow
    ports: [{protocol: TCP, port: 9000}]
"#;

/// Ingress: drop everything no earlier rule allowed.
pub const DROP_OTHER: &str = r#"  - name: drop-other
    action: Drop
"#;

/// Egress to port 80: HTTP only under `/public/`.
pub const EGRESS_HTTP_PUBLIC: &str = r#"  - name: egress-http-public
    action: Allow
    ports: [{protocol: TCP, port: 80}]
    l7Protocols: [{http: {path: "/public/*"}}]
"#;

/// The NetworkPolicy `name` on the `web` Pod with these rules, in order. Each rule is a
/// YAML list item indented by two spaces (`  - name: ...`), as the constants here are.
pub fn web_policy(name: &str, ingress: &[&str], egress: &[&str]) -> String {
    let mut yaml = format!(
        "apiVersion: crd.antrea.io/v1beta1
kind: NetworkPolicy
metadata: {{name: {name}, namespace: default}}
spec:
  priority: 5
  tier: application
  appliedTo: [{{podSelector: {{matchLabels: {{app: web}}}}}}]
"
    );
    for (section, rules) in [("ingress", ingress), ("egress", egress)] {
        if !rules.is_empty() {
            yaml.push_str(&format!("  {section}:\n"));
            yaml.extend(rules.iter().copied());
        }
    }
    yaml
}

#[cfg(test)]
mod tests;
