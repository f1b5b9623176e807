//! Ordering, Pass, Baseline, Kubernetes NetworkPolicy isolation, selectors, peers, ports
//! and the finality of L7 rules.

use super::super::test_support::*;
use super::super::*;

#[test]
fn tier_then_priority_then_rule_order() {
    let cases: Vec<(String, &str)> = vec![
        // Lower tier priority wins regardless of policy priority.
        (annp("a", "application", 1.0, ALLOW_ALL) + &annp("d", "securityops", 100.0, DROP_ALL), "drop:d/r"),
        (annp("a", "emergency", 9000.0, ALLOW_ALL) + &annp("d", "securityops", 1.0, DROP_ALL), "allow:a/r"),
        (annp("a", "Platform", 1.0, ALLOW_ALL) + &annp("d", "NetworkOps", 9.0, DROP_ALL), "drop:d/r"),
        // Tier names are case-insensitive; a missing tier means Application.
        (annp("a", "SecurityOps", 5.0, ALLOW_ALL) + &annp("d", "securityops", 6.0, DROP_ALL), "allow:a/r"),
        // Same tier: the lower (float) priority first.
        (annp("a", "application", 2.5, ALLOW_ALL) + &annp("d", "application", 2.25, DROP_ALL), "drop:d/r"),
        // Same policy: rule order.
        (annp("p", "application", 1.0, "[{name: first, action: Reject}, {name: second, action: Allow}]"), "reject:p/first"),
        // Same tier and priority: ACNP before ANNP.
        (annp("a", "application", 3.0, ALLOW_ALL) + &acnp("z", "application", 3.0, DROP_ALL), "drop:z/r"),
        // A copy of a built-in Tier object is accepted and changes nothing.
        (
            "apiVersion: crd.antrea.io/v1beta1\nkind: Tier\nmetadata: {name: application}\nspec: {priority: 250}\n---\n".to_owned()
                + &annp("a", "application", 1.0, ALLOW_ALL)
                + &annp("d", "platform", 1.0, DROP_ALL),
            "drop:d/r",
        ),
        // Custom tier with priority 20 comes before SecurityOps (100).
        (
            "apiVersion: crd.antrea.io/v1beta1\nkind: Tier\nmetadata: {name: MyTier}\nspec: {priority: 20}\n---\n".to_owned()
                + &annp("d", "securityops", 1.0, DROP_ALL)
                + &annp("a", "mytier", 50.0, ALLOW_ALL),
            "allow:a/r",
        ),
    ];
    for (policies, want) in cases {
        assert_eq!(decide_web(&policies, "10.0.0.2", 80), want, "{policies}");
    }
}

#[test]
fn unnamed_rules_are_numbered_per_direction() {
    let p = "apiVersion: crd.antrea.io/v1beta1
kind: NetworkPolicy
metadata: {name: n, namespace: default}
spec:
  priority: 1
  appliedTo: [{podSelector: {}}]
  egress: [{action: Drop, ports: [{port: 1}]}]
  ingress: [{action: Drop, ports: [{port: 1}]}, {action: Reject}]
";
    let snap = store(p).compile("default", "web", 1).unwrap();
    assert_eq!(
        short(&snap.decide(&ingress("10.0.0.2", 80))),
        "reject:n/ingress-1"
    );
    assert_eq!(
        short(&snap.decide(&ingress("10.0.0.2", 1))),
        "drop:n/ingress-0"
    );
    let snap = store(p).compile("default", "restricted", 1).unwrap();
    assert_eq!(
        short(&snap.decide(&egress("1.1.1.1", 1, Protocol::Tcp))),
        "drop:n/egress-0"
    );
}

const K8S_ALLOW_CLIENT_80: &str = "apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: k, namespace: default}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress:
  - from: [{podSelector: {matchLabels: {app: client}}}]
    ports: [{port: 80}]
---
";

#[test]
fn pass_baseline_and_kubernetes_isolation() {
    let pass_client = acnp(
        "pass",
        "securityops",
        1.0,
        "[{name: r, action: Pass, from: [{podSelector: {matchLabels: {app: client}}}]}]",
    );
    let app_drop = annp("appdrop", "application", 1.0, DROP_ALL);
    let base_drop = acnp("base", "baseline", 2.0, DROP_ALL);
    let base_allow_admin = acnp(
        "basea",
        "baseline",
        1.0,
        "[{name: r, action: Allow, from: [{podSelector: {matchLabels: {role: admin}}}]}]",
    );
    let cases: Vec<(String, &str, u16, &str)> = vec![
        // No policy at all: allowed without a rule.
        (String::new(), "10.0.0.2", 80, "allow"),
        // Pass skips the remaining Antrea tiers (the Application drop) ...
        (pass_client.clone() + &app_drop, "10.0.0.2", 80, "allow"),
        (
            pass_client.clone() + &app_drop,
            "10.0.0.3",
            80,
            "drop:appdrop/r",
        ),
        // ... but not Baseline.
        (
            pass_client.clone() + &app_drop + &base_drop,
            "10.0.0.2",
            80,
            "drop:base/r",
        ),
        // Pass lands on the Kubernetes layer, which allows client:80 ...
        (
            pass_client.clone() + &app_drop + K8S_ALLOW_CLIENT_80,
            "10.0.0.2",
            80,
            "allow:k/ingress-0",
        ),
        // ... and isolates otherwise (Baseline is never reached for an isolated Pod).
        (
            pass_client.clone() + &app_drop + K8S_ALLOW_CLIENT_80 + &base_drop,
            "10.0.0.2",
            81,
            "drop:k/default-deny",
        ),
        (
            K8S_ALLOW_CLIENT_80.to_owned() + &base_allow_admin,
            "10.0.0.3",
            80,
            "drop:k/default-deny",
        ),
        (
            K8S_ALLOW_CLIENT_80.to_owned() + &base_drop,
            "10.0.0.2",
            80,
            "allow:k/ingress-0",
        ),
        // Baseline applies when no Kubernetes policy isolates the Pod.
        (
            base_allow_admin.clone() + &base_drop,
            "10.0.0.3",
            80,
            "allow:basea/r",
        ),
        (
            base_allow_admin.clone() + &base_drop,
            "10.0.0.2",
            80,
            "drop:base/r",
        ),
        // Any Antrea rule outside Baseline beats the Kubernetes layer.
        (
            annp("a", "application", 9.0, ALLOW_ALL) + K8S_ALLOW_CLIENT_80,
            "10.0.0.3",
            22,
            "allow:a/r",
        ),
    ];
    for (policies, from, port, want) in cases {
        assert_eq!(
            decide_web(&policies, from, port),
            want,
            "{from}:{port} with\n{policies}"
        );
    }
}

#[test]
fn kubernetes_policy_types_and_scoping() {
    let egress_only = "apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: e, namespace: default}
spec:
  podSelector: {}
  policyTypes: [Egress]
  egress:
  - to: [{ipBlock: {cidr: 10.0.0.0/8, except: [10.0.1.0/24]}}]
";
    let s = store(egress_only);
    let web = s.compile("default", "web", 1).unwrap();
    // Ingress is not isolated by an Egress-only policy.
    assert_eq!(short(&web.decide(&ingress("1.1.1.1", 80))), "allow");
    let cases: &[(&str, &str)] = &[
        ("10.2.3.4", "allow:e/egress-0"),
        ("10.0.1.9", "drop:e/default-deny"),
        ("8.8.8.8", "drop:e/default-deny"),
    ];
    for (to, want) in cases {
        assert_eq!(
            short(&web.decide(&egress(to, 443, Protocol::Tcp))),
            *want,
            "{to}"
        );
    }
    // A Kubernetes policy only selects Pods of its own namespace.
    let other_ns = K8S_ALLOW_CLIENT_80.replace("namespace: default", "namespace: other");
    assert_eq!(decide_web(&other_ns, "10.0.0.3", 80), "allow");
    // Ingress rules with no `from` allow every source; empty ingress list denies all.
    let deny_all = "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: d}\nspec: {podSelector: {}}\n";
    assert_eq!(decide_web(deny_all, "10.0.0.2", 80), "drop:d/default-deny");
    let allow_all = "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: a}\nspec: {podSelector: {}, ingress: [{}]}\n";
    assert_eq!(decide_web(allow_all, "10.0.0.2", 80), "allow:a/ingress-0");
    // Kubernetes peers: a lone podSelector is namespace-local, namespaceSelector crosses.
    let k8s_ns = "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: n}\nspec: {podSelector: {}, ingress: [{from: [{namespaceSelector: {matchLabels: {team: other}}, podSelector: {matchLabels: {app: client}}}]}]}\n";
    assert_eq!(decide_web(k8s_ns, "10.0.1.2", 80), "allow:n/ingress-0");
    assert_eq!(decide_web(k8s_ns, "10.0.0.2", 80), "drop:n/default-deny");
}
