//! Peers, selectors, appliedTo, ports and named ports, L7 finality and wildcards, and
//! store updates, each checked through a compiled snapshot.

use super::super::test_support::*;
use super::super::*;

#[test]
fn peer_selectors() {
    let rule = |from: &str| {
        annp(
            "p",
            "application",
            1.0,
            &format!("[{{name: r, action: Drop, from: [{from}]}}]"),
        )
    };
    let cluster_rule = |from: &str| {
        acnp(
            "c",
            "application",
            1.0,
            &format!("[{{name: r, action: Drop, from: [{from}]}}]"),
        )
    };
    // (policy, source IP, dropped?)
    let cases: Vec<(String, &str, bool)> = vec![
        (
            rule("{podSelector: {matchLabels: {app: client}}}"),
            "10.0.0.2",
            true,
        ),
        (
            rule("{podSelector: {matchLabels: {app: client}}}"),
            "10.0.1.2",
            false,
        ),
        (rule("{podSelector: {}}"), "10.0.0.3", true),
        (rule("{podSelector: {}}"), "10.0.1.2", false),
        (rule("{namespaceSelector: {}}"), "10.0.1.2", true),
        (
            rule("{namespaceSelector: {matchLabels: {team: other}}}"),
            "10.0.1.2",
            true,
        ),
        (
            rule("{namespaceSelector: {matchLabels: {team: other}}}"),
            "10.0.0.2",
            false,
        ),
        (
            rule("{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: default}}}"),
            "10.0.0.2",
            true,
        ),
        (
            rule(
                "{namespaceSelector: {matchLabels: {team: other}}, podSelector: {matchLabels: {app: db}}}",
            ),
            "10.0.1.2",
            false,
        ),
        (
            rule(
                "{namespaceSelector: {matchLabels: {team: other}}, podSelector: {matchLabels: {app: db}}}",
            ),
            "10.0.1.30",
            true,
        ),
        (
            rule(
                "{podSelector: {matchExpressions: [{key: app, operator: In, values: [client, db]}]}}",
            ),
            "10.0.0.30",
            true,
        ),
        (
            rule(
                "{podSelector: {matchExpressions: [{key: app, operator: NotIn, values: [client]}]}}",
            ),
            "10.0.0.3",
            true,
        ),
        (
            rule(
                "{podSelector: {matchExpressions: [{key: app, operator: NotIn, values: [client]}]}}",
            ),
            "10.0.0.2",
            false,
        ),
        (
            rule("{podSelector: {matchExpressions: [{key: role, operator: Exists}]}}"),
            "10.0.0.3",
            true,
        ),
        (
            rule("{podSelector: {matchExpressions: [{key: role, operator: Exists}]}}"),
            "10.0.0.2",
            false,
        ),
        (
            rule("{podSelector: {matchExpressions: [{key: role, operator: DoesNotExist}]}}"),
            "10.0.0.2",
            true,
        ),
        (
            rule(
                "{podSelector: {matchLabels: {app: client}, matchExpressions: [{key: role, operator: Exists}]}}",
            ),
            "10.0.0.2",
            false,
        ),
        (
            rule("{podSelector: {matchLabels: {app: nobody}}}"),
            "10.0.0.2",
            false,
        ),
        (
            rule("{ipBlock: {cidr: 192.168.0.0/16, except: [192.168.1.0/24]}}"),
            "192.168.2.1",
            true,
        ),
        (
            rule("{ipBlock: {cidr: 192.168.0.0/16, except: [192.168.1.0/24]}}"),
            "192.168.1.1",
            false,
        ),
        (rule("{ipBlock: {cidr: 10.0.0.2/32}}"), "10.0.0.2", true),
        (rule("{ipBlock: {cidr: 'fd00::/64'}}"), "fd00::5", true),
        // ACNP: a lone podSelector selects in every namespace.
        (
            cluster_rule("{podSelector: {matchLabels: {app: client}}}"),
            "10.0.1.2",
            true,
        ),
        // namespaces.match Self: only the protected Pod's namespace.
        (
            cluster_rule("{namespaces: {match: Self}}"),
            "10.0.0.2",
            true,
        ),
        (
            cluster_rule("{namespaces: {match: Self}}"),
            "10.0.1.2",
            false,
        ),
        (
            cluster_rule("{namespaces: {match: Self}, podSelector: {matchLabels: {role: admin}}}"),
            "10.0.0.2",
            false,
        ),
        (
            cluster_rule("{namespaces: {match: Self}, podSelector: {matchLabels: {role: admin}}}"),
            "10.0.0.3",
            true,
        ),
    ];
    for (policy, from, dropped) in cases {
        let got = decide_web(&policy, from, 80);
        assert_eq!(
            got.starts_with("drop"),
            dropped,
            "{from}: {got} with\n{policy}"
        );
    }
}

#[test]
fn applied_to_policy_and_rule_level() {
    // Rule-level appliedTo: only the rules applied to the protected Pod are kept.
    let p = "apiVersion: crd.antrea.io/v1beta1
kind: ClusterNetworkPolicy
metadata: {name: rl}
spec:
  priority: 1
  ingress:
  - {name: to-db, action: Drop, appliedTo: [{podSelector: {matchLabels: {app: db}}}]}
  - {name: to-web, action: Reject, appliedTo: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: default}}, podSelector: {matchLabels: {tier: frontend}}}]}
";
    let s = store(p);
    assert_eq!(
        short(
            &s.compile("default", "web", 1)
                .unwrap()
                .decide(&ingress("1.1.1.1", 80))
        ),
        "reject:rl/to-web"
    );
    let db = s.compile("default", "db", 1).unwrap();
    assert_eq!(short(&db.decide(&ingress("1.1.1.1", 80))), "drop:rl/to-db");
    let other_db = s.compile("other", "db", 1).unwrap();
    assert_eq!(
        short(&other_db.decide(&ingress("1.1.1.1", 80))),
        "drop:rl/to-db"
    );
    assert_eq!(
        short(
            &s.compile("default", "client", 1)
                .unwrap()
                .decide(&ingress("1.1.1.1", 80))
        ),
        "allow"
    );
    // A namespaced policy applies only in its namespace even with an empty podSelector.
    let ns = "apiVersion: crd.antrea.io/v1beta1\nkind: NetworkPolicy\nmetadata: {name: n, namespace: other}\nspec: {priority: 1, appliedTo: [{podSelector: {}}], ingress: [{action: Drop}]}\n";
    let s = store(ns);
    assert_eq!(
        short(
            &s.compile("default", "web", 1)
                .unwrap()
                .decide(&ingress("1.1.1.1", 80))
        ),
        "allow"
    );
    assert_eq!(
        short(
            &s.compile("other", "db", 1)
                .unwrap()
                .decide(&ingress("1.1.1.1", 80))
        ),
        "drop:n/ingress-0"
    );
    assert!(matches!(
        s.compile("default", "nope", 1),
        Err(Error::PodNotFound { .. })
    ));
}

#[test]
fn ports_protocols_and_named_ports() {
    let rule = |ports: &str| {
        annp(
            "p",
            "application",
            1.0,
            &format!("[{{name: r, action: Drop, ports: {ports}}}]"),
        )
    };
    // (policy, port, protocol, dropped?)
    let cases: Vec<(String, u16, Protocol, bool)> = vec![
        (rule("[{port: 80}]"), 80, Protocol::Tcp, true),
        (rule("[{port: 80}]"), 80, Protocol::Udp, false),
        (rule("[{protocol: UDP, port: 80}]"), 80, Protocol::Udp, true),
        (rule("[{protocol: SCTP}]"), 9, Protocol::Sctp, true),
        (rule("[{protocol: TCP}]"), 9, Protocol::Udp, false),
        (
            rule("[{port: 8000, endPort: 8010}]"),
            8005,
            Protocol::Tcp,
            true,
        ),
        (
            rule("[{port: 8000, endPort: 8010}]"),
            8011,
            Protocol::Tcp,
            false,
        ),
        (
            rule("[{port: 1000, endPort: 60000}]"),
            59999,
            Protocol::Tcp,
            true,
        ),
        // Ingress named ports are the protected Pod's container ports.
        (rule("[{port: http}]"), 80, Protocol::Tcp, true),
        (rule("[{port: metrics}]"), 9090, Protocol::Tcp, true),
        (rule("[{port: metrics}]"), 80, Protocol::Tcp, false),
        (rule("[{port: pg}]"), 5432, Protocol::Tcp, false),
        (
            rule("[{protocol: UDP, port: http}]"),
            80,
            Protocol::Udp,
            false,
        ),
    ];
    for (policy, port, protocol, dropped) in cases {
        let snap = store(&policy).compile("default", "web", 1).unwrap();
        let flow = Flow {
            protocol,
            ..ingress("10.0.0.2", port)
        };
        let got = short(&snap.decide(&flow));
        assert_eq!(
            got.starts_with("drop"),
            dropped,
            "{port}/{protocol:?}: {got} with {policy}"
        );
    }
    // ICMP-only rules never match a TCP connection.
    let icmp = rule("[]").replace("ports: []", "protocols: [{icmp: {}}]");
    assert_eq!(decide_web(&icmp, "10.0.0.2", 80), "allow");
}

#[test]
fn egress_named_ports_resolve_per_peer_pod() {
    let p = "apiVersion: crd.antrea.io/v1beta1
kind: ClusterNetworkPolicy
metadata: {name: e}
spec:
  priority: 1
  appliedTo: [{podSelector: {matchLabels: {egress-restriction: internal-domain-only}}}]
  egress:
  - {name: pg, action: Drop, to: [{podSelector: {matchLabels: {app: db}}}], ports: [{port: pg}]}
  - {name: any-pg, action: Reject, ports: [{port: pg}]}
";
    let snap = store(p).compile("default", "restricted", 1).unwrap();
    let cases: &[(&str, u16, &str)] = &[
        ("10.0.0.30", 5432, "drop:e/pg"),
        ("10.0.1.30", 5433, "drop:e/pg"),
        ("10.0.1.30", 5432, "allow"),
        ("10.0.0.10", 5432, "allow"),
        ("10.0.0.30", 5433, "allow"),
    ];
    for (to, port, want) in cases {
        assert_eq!(
            short(&snap.decide(&egress(to, *port, Protocol::Tcp))),
            *want,
            "{to}:{port}"
        );
    }
}

#[test]
fn l7_rule_is_final() {
    let p = annp(
        "p",
        "application",
        1.0,
        "[{name: l7, action: Allow, ports: [{port: 80}], l7Protocols: [{http: {path: /ok}}]}, {name: all, action: Allow}]",
    );
    let snap = store(&p).compile("default", "web", 1).unwrap();
    let v = snap.decide(&ingress("10.0.0.2", 80));
    assert_eq!(short(&v), "inspect:p/l7");
    let l7 = l7_of(&v);
    assert!(snap.check_http(l7, &http("GET", None, "/ok")).allowed);
    assert!(!snap.check_http(l7, &http("GET", None, "/nope")).allowed);
    // Other ports reach the next rule.
    assert_eq!(short(&snap.decide(&ingress("10.0.0.2", 81))), "allow:p/all");
    // An id from elsewhere admits nothing.
    assert_eq!(snap.l7_wants(L7Id(99)), L7Wants::default());
    assert!(!snap.check_tls(L7Id(99), &TlsMeta { sni: None }).allowed);
}

#[test]
fn wildcards_through_the_store() {
    let p = annp(
        "w",
        "application",
        1.0,
        "[{name: r, action: Allow, l7Protocols: [
            {http: {host: '*.foo.*', path: '*/v2/*'}},
            {http: {host: 'api.*.example.com', method: PUT}},
            {http: {path: '/index.html'}},
            {tls: {sni: 'mail.*'}}]}]",
    );
    let snap = store(&p).compile("default", "web", 1).unwrap();
    let l7 = l7_of(&snap.decide(&ingress("10.0.0.2", 80)));
    assert_eq!(
        snap.l7_wants(l7),
        L7Wants {
            http: true,
            tls: true
        }
    );
    let cases: &[(HttpRequestMeta<'_>, bool)] = &[
        (http("GET", Some("a.foo.org"), "/api/v2/x"), true),
        (http("GET", Some("foo.org"), "/api/v2/x"), false),
        (http("GET", Some("a.foo.org"), "/api/v3/x"), false),
        (http("PUT", Some("api.eu.example.com"), "/"), true),
        (http("PUT", Some("api.example.com"), "/"), false),
        (http("POST", Some("api.eu.example.com"), "/"), false),
        (http("HEAD", None, "/index.html"), true),
        (http("HEAD", None, "/index.html/"), false),
    ];
    for (req, allowed) in cases {
        let v = snap.check_http(l7, req);
        assert_eq!(v.allowed, *allowed, "{req:?}: {}", v.detail);
    }
    assert!(
        snap.check_tls(
            l7,
            &TlsMeta {
                sni: Some("mail.corp")
            }
        )
        .allowed
    );
    assert!(
        !snap
            .check_tls(
                l7,
                &TlsMeta {
                    sni: Some("smtp.corp")
                }
            )
            .allowed
    );
}

#[test]
fn store_upsert_and_remove() {
    let mut s = store(&annp("d", "application", 1.0, DROP_ALL));
    assert_eq!(
        short(
            &s.compile("default", "web", 1)
                .unwrap()
                .decide(&ingress("10.0.0.2", 80))
        ),
        "drop:d/r"
    );
    // Replacing an object by key.
    apply(&mut s, &annp("d", "application", 1.0, ALLOW_ALL)).unwrap();
    let snap = s.compile("default", "web", 7).unwrap();
    assert_eq!(short(&snap.decide(&ingress("10.0.0.2", 80))), "allow:d/r");
    assert_eq!(snap.generation(), 7);
    assert_eq!(snap.pod(), "default/web");
    let key = ObjectKey {
        kind: ObjectKind::AntreaNetworkPolicy,
        namespace: Some("default".into()),
        name: "d".into(),
    };
    assert!(s.keys().contains(&key));
    assert_eq!(s.keys().len(), s.len());
    assert!(s.remove(&key));
    assert!(!s.remove(&key));
    assert!(!s.keys().contains(&key));
    // Every listed key can be removed.
    let mut copy = s.clone();
    for k in copy.keys() {
        assert!(copy.remove(&k), "{k}");
    }
    assert!(copy.is_empty());
    assert_eq!(
        short(
            &s.compile("default", "web", 8)
                .unwrap()
                .decide(&ingress("10.0.0.2", 80))
        ),
        "allow"
    );
    // Pod IPs change: selectors follow at the next compile.
    apply(
        &mut s,
        &annp(
            "c",
            "application",
            1.0,
            "[{name: r, action: Drop, from: [{podSelector: {matchLabels: {app: client}}}]}]",
        ),
    )
    .unwrap();
    apply(&mut s, "apiVersion: v1\nkind: Pod\nmetadata: {name: client, namespace: default, labels: {app: client}}\nstatus: {podIP: 10.0.0.99}\n").unwrap();
    let snap = s.compile("default", "web", 9).unwrap();
    assert_eq!(short(&snap.decide(&ingress("10.0.0.99", 80))), "drop:c/r");
    assert_eq!(short(&snap.decide(&ingress("10.0.0.2", 80))), "allow");
    // A deleted object as a watch delivers it.
    let pod = serde_json::json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web", "namespace": "default"}});
    assert!(s.delete_object(&pod));
    assert!(matches!(
        s.compile("default", "web", 10),
        Err(Error::PodNotFound { .. })
    ));
}

#[test]
fn finished_pods_select_nothing() {
    let mut s = store(&annp(
        "c",
        "application",
        1.0,
        "[{name: r, action: Drop, from: [{podSelector: {matchLabels: {app: client}}}]}]",
    ));
    let pod = |name: &str, ip: &str, phase: &str| {
        format!(
            "apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}, labels: {{app: client}}}}\nstatus: {{phase: {phase}, podIP: {ip}}}\n"
        )
    };
    apply(&mut s, &pod("done", "10.0.0.77", "Succeeded")).unwrap();
    apply(&mut s, &pod("failed", "10.0.0.78", "Failed")).unwrap();
    apply(&mut s, &pod("running", "10.0.0.79", "Running")).unwrap();
    let snap = s.compile("default", "web", 1).unwrap();
    let cases: &[(&str, &str)] = &[
        ("10.0.0.77", "allow"),
        ("10.0.0.78", "allow"),
        ("10.0.0.79", "drop:c/r"),
    ];
    for (from, want) in cases {
        assert_eq!(short(&snap.decide(&ingress(from, 80))), *want, "{from}");
    }
}
