//! Shared fixtures for the policy tests: a small cluster of Namespaces and Pods.

use std::net::SocketAddr;

use super::*;

/// Namespaces `default`, `other` (team=other), and Pods:
/// default/web app=web 10.0.0.10 (ports http 80, https 443, metrics 9090),
/// default/client app=client 10.0.0.2, default/admin role=admin 10.0.0.3,
/// other/client app=client 10.0.1.2, default/restricted
/// egress-restriction=internal-domain-only 10.0.0.20, default/tls-restricted
/// egress-restriction=internal-tls-only 10.0.0.21, default/db app=db 10.0.0.30 (port pg 5432),
/// other/db app=db 10.0.1.30 (port pg 5433).
pub const CLUSTER: &str = r#"
apiVersion: v1
kind: Namespace
metadata: {name: default}
---
apiVersion: v1
kind: Namespace
metadata: {name: other, labels: {team: other}}
---
apiVersion: v1
kind: Pod
metadata: {name: web, namespace: default, labels: {app: web, tier: frontend}}
spec:
  containers:
  - name: web
    ports:
    - {name: http, containerPort: 80}
    - {name: https, containerPort: 443, protocol: TCP}
    - {name: metrics, containerPort: 9090}
status: {podIP: 10.0.0.10, podIPs: [{ip: 10.0.0.10}, {ip: "fd00::10"}]}
---
apiVersion: v1
kind: Pod
metadata: {name: client, namespace: default, labels: {app: client}}
status: {podIP: 10.0.0.2}
---
apiVersion: v1
kind: Pod
metadata: {name: admin, namespace: default, labels: {role: admin}}
status: {podIP: 10.0.0.3}
---
apiVersion: v1
kind: Pod
metadata: {name: client, namespace: other, labels: {app: client}}
status: {podIP: 10.0.1.2}
---
apiVersion: v1
kind: Pod
metadata: {name: restricted, namespace: default, labels: {egress-restriction: internal-domain-only}}
status: {podIP: 10.0.0.20}
---
apiVersion: v1
kind: Pod
metadata: {name: tls-restricted, namespace: default, labels: {egress-restriction: internal-tls-only}}
status: {podIP: 10.0.0.21}
---
apiVersion: v1
kind: Pod
metadata: {name: db, namespace: default, labels: {app: db}}
spec:
  containers:
  - name: pg
    ports: [{name: pg, containerPort: 5432}]
status: {podIP: 10.0.0.30}
---
apiVersion: v1
kind: Pod
metadata: {name: db, namespace: other, labels: {app: db}}
spec:
  containers:
  - name: pg
    ports: [{name: pg, containerPort: 5433}]
status: {podIP: 10.0.1.30}
"#;

/// Apply every document of `yaml` to `store`.
pub fn apply(store: &mut Store, yaml: &str) -> Result<(), Vec<Error>> {
    use serde::Deserialize;
    let mut errors = Vec::new();
    for de in serde_yaml::Deserializer::from_str(yaml) {
        let v = serde_json::Value::deserialize(de).expect("test YAML parses");
        if v.is_null() {
            continue;
        }
        if let Err(mut e) = store.apply_object("test.yaml", &v) {
            errors.append(&mut e);
        }
    }
    errors.extend(store.check_references());
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

/// The cluster plus `policies`.
pub fn store(policies: &str) -> Store {
    let mut s = Store::new();
    apply(&mut s, CLUSTER).unwrap();
    if let Err(e) = apply(&mut s, policies) {
        panic!("policies invalid: {e:#?}");
    }
    s
}

/// Errors from applying `yaml` on top of the cluster, as strings.
pub fn errors(yaml: &str) -> Vec<String> {
    let mut s = Store::new();
    apply(&mut s, CLUSTER).unwrap();
    match apply(&mut s, yaml) {
        Ok(()) => Vec::new(),
        Err(e) => e.iter().map(ToString::to_string).collect(),
    }
}

pub fn ingress(from: &str, port: u16) -> Flow {
    Flow {
        direction: Direction::Ingress,
        src: SocketAddr::new(from.parse().unwrap(), 40000),
        dst: SocketAddr::new("10.0.0.10".parse().unwrap(), port),
        protocol: Protocol::Tcp,
    }
}

pub fn egress(to: &str, port: u16, protocol: Protocol) -> Flow {
    Flow {
        direction: Direction::Egress,
        src: SocketAddr::new("10.0.0.20".parse().unwrap(), 40000),
        dst: SocketAddr::new(to.parse().unwrap(), port),
        protocol,
    }
}

/// Short form of a verdict for table tests: `allow`, `allow:<policy>/<rule>`,
/// `drop:<policy>/<rule>`, `reject:...`, `inspect:<policy>/<rule>`.
pub fn short(v: &L4Verdict) -> String {
    let r = |r: &RuleRef| format!("{}/{}", r.name, r.rule);
    match v {
        L4Verdict::Allow(None) => "allow".to_owned(),
        L4Verdict::Allow(Some(rule)) => format!("allow:{}", r(rule)),
        L4Verdict::Deny {
            rule,
            action: DenyAction::Drop,
        } => format!("drop:{}", r(rule)),
        L4Verdict::Deny {
            rule,
            action: DenyAction::Reject,
        } => format!("reject:{}", r(rule)),
        L4Verdict::Inspect { rule, .. } => format!("inspect:{}", r(rule)),
    }
}

/// The L7 id of an `Inspect` verdict.
pub fn l7_of(v: &L4Verdict) -> L7Id {
    match v {
        L4Verdict::Inspect { l7, .. } => *l7,
        other => panic!("expected inspect, got {other:?}"),
    }
}

pub fn http(
    method: &'static str,
    host: Option<&'static str>,
    path: &'static str,
) -> HttpRequestMeta<'static> {
    HttpRequestMeta { method, host, path }
}

/// An ANNP in `default` applied to app=web.
pub fn annp(name: &str, tier: &str, priority: f64, rules: &str) -> String {
    format!(
        "apiVersion: crd.antrea.io/v1beta1
kind: NetworkPolicy
metadata: {{name: {name}, namespace: default}}
spec:
  tier: {tier}
  priority: {priority}
  appliedTo: [{{podSelector: {{matchLabels: {{app: web}}}}}}]
  ingress: {rules}
---
"
    )
}

/// An ACNP applied to app=web in any namespace.
pub fn acnp(name: &str, tier: &str, priority: f64, rules: &str) -> String {
    format!(
        "apiVersion: crd.antrea.io/v1beta1
kind: ClusterNetworkPolicy
metadata: {{name: {name}}}
spec:
  tier: {tier}
  priority: {priority}
  appliedTo: [{{podSelector: {{matchLabels: {{app: web}}}}}}]
  ingress: {rules}
---
"
    )
}

pub const ALLOW_ALL: &str = "[{name: r, action: Allow}]";
pub const DROP_ALL: &str = "[{name: r, action: Drop}]";

pub fn decide_web(policies: &str, from: &str, port: u16) -> String {
    let snap = store(policies).compile("default", "web", 1).unwrap();
    short(&snap.decide(&ingress(from, port)))
}
