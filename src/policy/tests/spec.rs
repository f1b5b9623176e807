//! Each example of the user spec, loaded verbatim, behaves as its prose says.

use super::super::test_support::*;
use super::super::*;

const SPEC1: &str =
    include_str!("../../../integration/manifests/spec/1-ingress-allow-http-request-to-api-v2.yaml");
const SPEC2: &str =
    include_str!("../../../integration/manifests/spec/2-allow-privileged-url-to-admin-role.yaml");
const SPEC3: &str =
    include_str!("../../../integration/manifests/spec/3-allow-web-access-to-internal-domain.yaml");
const SPEC4: &str = include_str!("../../../integration/manifests/spec/4-allow-http-only.yaml");
const SPEC5: &str =
    include_str!("../../../integration/manifests/spec/5-ingress-allow-tls-handshake.yaml");
const SPEC6: &str =
    include_str!("../../../integration/manifests/spec/6-allow-tls-handshake-to-internal.yaml");
const SPEC7: &str = include_str!("../../../integration/manifests/spec/7-allow-tls-only.yaml");

/// Inbound HTTP GET to "/api/v2/*" on host foo.bar.com from app=client; everything else
/// from those Pods dropped by the L7 rule; all other inbound traffic dropped by drop-other.
#[test]
fn spec1_ingress_allow_http_request_to_api_v2() {
    let snap = store(SPEC1).compile("default", "web", 1).unwrap();
    let l4: &[(&str, u16, &str)] = &[
        (
            "10.0.0.2",
            80,
            "inspect:ingress-allow-http-request-to-api-v2/allow-http",
        ),
        (
            "10.0.0.2",
            8080,
            "inspect:ingress-allow-http-request-to-api-v2/allow-http",
        ),
        (
            "10.0.0.3",
            80,
            "drop:ingress-allow-http-request-to-api-v2/drop-other",
        ),
        (
            "192.168.1.1",
            80,
            "drop:ingress-allow-http-request-to-api-v2/drop-other",
        ),
        // An app=client Pod of another namespace is not selected by a namespaced policy.
        (
            "10.0.1.2",
            80,
            "drop:ingress-allow-http-request-to-api-v2/drop-other",
        ),
        (
            "::ffff:10.0.0.2",
            80,
            "inspect:ingress-allow-http-request-to-api-v2/allow-http",
        ),
    ];
    for (from, port, want) in l4 {
        assert_eq!(
            short(&snap.decide(&ingress(from, *port))),
            *want,
            "{from}:{port}"
        );
    }
    let l7 = l7_of(&snap.decide(&ingress("10.0.0.2", 80)));
    assert_eq!(
        snap.l7_wants(l7),
        L7Wants {
            http: true,
            tls: false
        }
    );
    let cases: &[(HttpRequestMeta<'_>, bool, &str)] = &[
        (
            http("GET", Some("foo.bar.com"), "/api/v2/users"),
            true,
            "path \"/api/v2/users\" matches \"/api/v2/*\"",
        ),
        (
            http("POST", Some("foo.bar.com"), "/api/v2/users"),
            false,
            "method \"POST\" does not match \"GET\"",
        ),
        (
            http("GET", Some("evil.com"), "/api/v2/users"),
            false,
            "host \"evil.com\"",
        ),
        (http("GET", None, "/api/v2/users"), false, "host is missing"),
        (
            http("GET", Some("foo.bar.com"), "/api/v1/users"),
            false,
            "path \"/api/v1/users\"",
        ),
        (http("GET", Some("foo.bar.com"), "/api/v2"), false, "path"),
    ];
    for (req, allowed, detail) in cases {
        let v = snap.check_http(l7, req);
        assert_eq!(v.allowed, *allowed, "{req:?}: {}", v.detail);
        assert!(v.detail.contains(detail), "{} lacks {detail}", v.detail);
    }
    assert!(
        !snap
            .check_tls(
                l7,
                &TlsMeta {
                    sni: Some("foo.bar.com")
                }
            )
            .allowed
    );
    // The policy applies to app=web only.
    let client = store(SPEC1).compile("default", "client", 1).unwrap();
    assert_eq!(short(&client.decide(&ingress("10.0.0.3", 80))), "allow");
}

/// role=admin may GET /admin/* and /public/*; everyone else only /public/*.
#[test]
fn spec2_allow_privileged_url_to_admin_role() {
    let snap = store(SPEC2).compile("default", "web", 1).unwrap();
    let admin = snap.decide(&ingress("10.0.0.3", 80));
    assert_eq!(
        short(&admin),
        "inspect:allow-privileged-url-to-admin-role/for-admin"
    );
    let L4Verdict::Inspect { rule, .. } = &admin else {
        unreachable!()
    };
    assert_eq!(rule.tier, "securityops");
    assert_eq!(
        rule.policy_ref(),
        "AntreaNetworkPolicy:default/allow-privileged-url-to-admin-role"
    );
    let public = snap.decide(&ingress("10.0.0.2", 80));
    assert_eq!(
        short(&public),
        "inspect:allow-privileged-url-to-admin-role/for-public"
    );
    let external = snap.decide(&ingress("203.0.113.9", 443));
    assert_eq!(
        short(&external),
        "inspect:allow-privileged-url-to-admin-role/for-public"
    );
    let (a, p) = (l7_of(&admin), l7_of(&public));
    let cases: &[(L7Id, &str, bool)] = &[
        (a, "/admin/users", true),
        (a, "/public/index.html", true),
        (a, "/private", false),
        (p, "/public/index.html", true),
        (p, "/admin/users", false),
        (p, "/", false),
    ];
    for (l7, path, allowed) in cases {
        let v = snap.check_http(*l7, &http("GET", Some("10.0.0.10"), path));
        assert_eq!(v.allowed, *allowed, "{path}: {}", v.detail);
    }
    let v = snap.check_http(a, &http("GET", None, "/public/x"));
    assert!(v.detail.contains("l7Protocols[1]"), "{}", v.detail);
}

/// egress-restriction=internal-domain-only: DNS allowed; HTTP only to *.bar.com; anything
/// else (other hosts, non-HTTP) dropped by the L7 rule.
#[test]
fn spec3_allow_web_access_to_internal_domain() {
    let s = store(SPEC3);
    let snap = s.compile("default", "restricted", 1).unwrap();
    let cases: &[(&str, u16, Protocol, &str)] = &[
        (
            "10.96.0.10",
            53,
            Protocol::Tcp,
            "allow:allow-web-access-to-internal-domain/allow-dns",
        ),
        (
            "10.96.0.10",
            53,
            Protocol::Udp,
            "allow:allow-web-access-to-internal-domain/allow-dns",
        ),
        (
            "1.2.3.4",
            80,
            Protocol::Tcp,
            "inspect:allow-web-access-to-internal-domain/allow-http-only",
        ),
        (
            "10.0.0.10",
            5432,
            Protocol::Tcp,
            "inspect:allow-web-access-to-internal-domain/allow-http-only",
        ),
        (
            "1.2.3.4",
            54,
            Protocol::Udp,
            "inspect:allow-web-access-to-internal-domain/allow-http-only",
        ),
    ];
    for (to, port, proto, want) in cases {
        assert_eq!(
            short(&snap.decide(&egress(to, *port, *proto))),
            *want,
            "{to}:{port}"
        );
    }
    let l7 = l7_of(&snap.decide(&egress("1.2.3.4", 80, Protocol::Tcp)));
    assert_eq!(
        snap.l7_wants(l7),
        L7Wants {
            http: true,
            tls: false
        }
    );
    for (host, allowed) in [
        ("www.bar.com", true),
        ("a.b.bar.com", true),
        ("bar.com", false),
        ("evil.com", false),
    ] {
        let v = snap.check_http(l7, &http("GET", Some(host), "/"));
        assert_eq!(v.allowed, allowed, "{host}: {}", v.detail);
    }
    assert!(
        !snap
            .check_tls(
                l7,
                &TlsMeta {
                    sni: Some("www.bar.com")
                }
            )
            .allowed
    );
    // A Pod without the label is not restricted.
    let web = s.compile("default", "web", 1).unwrap();
    assert_eq!(
        short(&web.decide(&egress("1.2.3.4", 80, Protocol::Tcp))),
        "allow"
    );
}

/// Inbound HTTP only, on any port, from anyone.
#[test]
fn spec4_allow_http_only() {
    let snap = store(SPEC4).compile("default", "web", 1).unwrap();
    for (from, port) in [("10.0.0.2", 80), ("192.168.9.9", 22), ("10.0.1.2", 443)] {
        let v = snap.decide(&ingress(from, port));
        assert_eq!(short(&v), "inspect:allow-http-only/http-only");
        let l7 = l7_of(&v);
        assert_eq!(
            snap.l7_wants(l7),
            L7Wants {
                http: true,
                tls: false
            }
        );
        assert!(
            snap.check_http(l7, &http("DELETE", None, "/anything"))
                .allowed
        );
        assert!(!snap.check_tls(l7, &TlsMeta { sni: None }).allowed);
    }
}

/// TLS to SNI foo.bar.com from app=client; all other inbound traffic dropped.
#[test]
fn spec5_ingress_allow_tls_handshake() {
    let snap = store(SPEC5).compile("default", "web", 1).unwrap();
    let v = snap.decide(&ingress("10.0.0.2", 443));
    assert_eq!(short(&v), "inspect:ingress-allow-tls-handshake/allow-tls");
    assert_eq!(
        short(&snap.decide(&ingress("10.0.0.3", 443))),
        "drop:ingress-allow-tls-handshake/drop-other"
    );
    let l7 = l7_of(&v);
    assert_eq!(
        snap.l7_wants(l7),
        L7Wants {
            http: false,
            tls: true
        }
    );
    let cases: &[(Option<&str>, bool)] = &[
        (Some("foo.bar.com"), true),
        (Some("FOO.Bar.com"), true),
        (Some("bar.com"), false),
        (Some("x.foo.bar.com"), false),
        (None, false),
    ];
    for (sni, allowed) in cases {
        assert_eq!(
            snap.check_tls(l7, &TlsMeta { sni: *sni }).allowed,
            *allowed,
            "{sni:?}"
        );
    }
    assert!(
        !snap
            .check_http(l7, &http("GET", Some("foo.bar.com"), "/"))
            .allowed
    );
}

/// egress-restriction=internal-tls-only: DNS allowed; TLS only to *.bar.com.
#[test]
fn spec6_allow_tls_handshake_to_internal() {
    let snap = store(SPEC6)
        .compile("default", "tls-restricted", 1)
        .unwrap();
    let flow = |to: &str, port, proto| Flow {
        src: "10.0.0.21:40000".parse().unwrap(),
        ..egress(to, port, proto)
    };
    assert_eq!(
        short(&snap.decide(&flow("10.96.0.10", 53, Protocol::Udp))),
        "allow:allow-tls-handshake-to-internal/allow-dns"
    );
    let v = snap.decide(&flow("1.2.3.4", 443, Protocol::Tcp));
    assert_eq!(
        short(&v),
        "inspect:allow-tls-handshake-to-internal/allow-tls-only"
    );
    let l7 = l7_of(&v);
    assert!(
        snap.check_tls(
            l7,
            &TlsMeta {
                sni: Some("api.bar.com")
            }
        )
        .allowed
    );
    let denied = snap.check_tls(
        l7,
        &TlsMeta {
            sni: Some("api.evil.com"),
        },
    );
    assert!(!denied.allowed);
    assert!(
        denied
            .detail
            .contains("sni \"api.evil.com\" does not match \"*.bar.com\""),
        "{}",
        denied.detail
    );
    assert!(
        !snap
            .check_http(l7, &http("GET", Some("api.bar.com"), "/"))
            .allowed
    );
}

/// Inbound TLS only, any SNI (or none).
#[test]
fn spec7_allow_tls_only() {
    let snap = store(SPEC7).compile("default", "web", 1).unwrap();
    let v = snap.decide(&ingress("198.51.100.1", 8443));
    assert_eq!(short(&v), "inspect:allow-tls-only/tls-only");
    let l7 = l7_of(&v);
    assert_eq!(
        snap.l7_wants(l7),
        L7Wants {
            http: false,
            tls: true
        }
    );
    assert!(snap.check_tls(l7, &TlsMeta { sni: None }).allowed);
    assert!(
        snap.check_tls(
            l7,
            &TlsMeta {
                sni: Some("anything.example")
            }
        )
        .allowed
    );
    assert!(!snap.check_http(l7, &http("GET", None, "/")).allowed);
}

/// All seven together: the securityops policy comes first, then application policies by
/// priority and name.
#[test]
fn all_spec_examples_load_together() {
    let all = [SPEC1, SPEC2, SPEC3, SPEC4, SPEC5, SPEC6, SPEC7].join("\n---\n");
    let snap = store(&all).compile("default", "web", 1).unwrap();
    assert_eq!(
        short(&snap.decide(&ingress("10.0.0.3", 80))),
        "inspect:allow-privileged-url-to-admin-role/for-admin"
    );
}
