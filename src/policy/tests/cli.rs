//! `explain`: verdict, deciding tier/policy/rule and the L7 field, as text and JSON.

use std::path::PathBuf;

use super::super::cli::{ExplainArgs, OutputFormat, explain_flow, render};
use super::super::test_support::CLUSTER;

fn spec_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("integration/manifests/spec")
}

fn args(dir: &std::path::Path, spec: &str) -> ExplainArgs {
    ExplainArgs {
        manifests: vec![dir.join("cluster.yaml"), spec_dir().join(spec)],
        pod: "default/web".parse().unwrap(),
        from: None,
        to: None,
        port: 443,
        protocol: "TCP".into(),
        http: None,
        host: None,
        http2: false,
        sni: None,
        no_sni: false,
        output: OutputFormat::Text,
    }
}

fn cluster() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("cluster.yaml"), CLUSTER).unwrap();
    dir
}

#[test]
fn explain_l7_tls_verdicts() {
    let dir = cluster();
    let cases: &[(&str, Option<&str>, &str, &str)] = &[
        (
            "10.0.0.2",
            Some("foo.bar.com"),
            "allow",
            "sni \"foo.bar.com\" matches \"foo.bar.com\"",
        ),
        (
            "10.0.0.2",
            Some("evil.com"),
            "deny",
            "sni \"evil.com\" does not match \"foo.bar.com\"",
        ),
        (
            "10.0.0.2",
            None,
            "depends-on-l7",
            "pass --http, --sni or --no-sni",
        ),
        ("10.0.0.3", Some("foo.bar.com"), "deny", ""),
    ];
    for (from, sni, verdict, detail) in cases {
        let mut a = args(dir.path(), "5-ingress-allow-tls-handshake.yaml");
        a.from = Some(from.parse().unwrap());
        a.sni = sni.map(Into::into);
        let e = explain_flow(&a).unwrap();
        assert_eq!(e.verdict, *verdict, "{from} {sni:?}");
        let text = render(&e);
        assert!(text.contains(detail), "{text}");
        assert!(text.contains("tier:    application"), "{text}");
        assert!(
            text.contains("AntreaNetworkPolicy:default/ingress-allow-tls-handshake"),
            "{text}"
        );
    }
}

#[test]
fn explain_tls_without_sni() {
    let dir = cluster();
    let mut a = args(dir.path(), "7-allow-tls-only.yaml");
    a.from = Some("10.0.0.2".parse().unwrap());
    a.no_sni = true;
    assert_eq!(explain_flow(&a).unwrap().verdict, "allow");
    let mut a = args(dir.path(), "5-ingress-allow-tls-handshake.yaml");
    a.from = Some("10.0.0.2".parse().unwrap());
    a.no_sni = true;
    let e = explain_flow(&a).unwrap();
    assert_eq!(e.verdict, "deny");
    assert!(render(&e).contains("sni is missing"), "{}", render(&e));
}

#[test]
fn explain_json_and_default_allow() {
    let dir = cluster();
    let mut a = args(dir.path(), "3-allow-web-access-to-internal-domain.yaml");
    a.pod = "default/restricted".parse().unwrap();
    a.to = Some("10.96.0.10".parse().unwrap());
    a.port = 53;
    a.protocol = "udp".into();
    let e = explain_flow(&a).unwrap();
    let json = serde_json::to_value(&e).unwrap();
    assert_eq!(json["verdict"], "allow");
    assert_eq!(json["direction"], "Egress");
    assert_eq!(json["rule"]["rule"], "allow-dns");
    assert_eq!(json["rule"]["tier"], "securityops");
    // A Pod no policy applies to: allowed, no rule.
    a.pod = "default/client".parse().unwrap();
    let e = explain_flow(&a).unwrap();
    assert!(e.rule.is_none());
    assert!(render(&e).contains("default allow"));
    // Unknown Pod and bad protocol are errors, not panics.
    a.pod = "default/nope".parse().unwrap();
    assert!(explain_flow(&a).is_err());
}

#[test]
fn explain_http_checks_like_the_data_path() {
    let dir = cluster();
    let cases: &[(&str, &str, Option<&str>, &str, &str)] = &[
        (
            "1-ingress-allow-http-request-to-api-v2.yaml",
            "GET http://FOO.bar.com:8080/api/v2/users?q=/../x",
            None,
            "allow",
            "path \"/api/v2/users\" matches \"/api/v2/*\"",
        ),
        (
            "1-ingress-allow-http-request-to-api-v2.yaml",
            "GET http://foo.bar.com/api/v2/x/../users",
            None,
            "deny",
            "path has a dot-segment",
        ),
        (
            "1-ingress-allow-http-request-to-api-v2.yaml",
            "GET /api/v2/users",
            Some("foo.bar.com.."),
            "deny",
            "host has an empty label",
        ),
        (
            "1-ingress-allow-http-request-to-api-v2.yaml",
            "CONNECT foo.bar.com:443",
            None,
            "deny",
            "method \"CONNECT\" does not match \"GET\"",
        ),
        (
            "1-ingress-allow-http-request-to-api-v2.yaml",
            "GET /api/v2/users",
            Some("foo.bar.com."),
            "allow",
            "host \"foo.bar.com\" matches",
        ),
        (
            "1-ingress-allow-http-request-to-api-v2.yaml",
            "GET /api/v2/users",
            None,
            "deny",
            "host is missing",
        ),
        (
            "1-ingress-allow-http-request-to-api-v2.yaml",
            "POST http://foo.bar.com/api/v2/users",
            None,
            "deny",
            "method \"POST\" does not match \"GET\"",
        ),
        (
            "2-allow-privileged-url-to-admin-role.yaml",
            "GET /public/../admin/x",
            None,
            "deny",
            "path has a dot-segment",
        ),
        (
            "2-allow-privileged-url-to-admin-role.yaml",
            "GET /%70ublic/a",
            None,
            "deny",
            "path has a percent-encoded unreserved character",
        ),
        (
            "2-allow-privileged-url-to-admin-role.yaml",
            "GET /admin/x",
            None,
            "deny",
            "path \"/admin/x\" does not match \"/public/*\"",
        ),
    ];
    for (spec, req, host, verdict, detail) in cases {
        let mut a = args(dir.path(), spec);
        a.from = Some("10.0.0.2".parse().unwrap());
        a.port = 80;
        a.http = Some((*req).into());
        a.host = host.map(Into::into);
        let e = explain_flow(&a).unwrap();
        let text = render(&e);
        assert_eq!(e.verdict, *verdict, "{req}: {text}");
        assert!(text.contains(detail), "{req}: {text}");
    }
    let mut a = args(dir.path(), "4-allow-http-only.yaml");
    a.from = Some("10.0.0.2".parse().unwrap());
    a.http = Some("GET".into());
    assert!(explain_flow(&a).is_err());
}

#[test]
fn explain_http2_decides_a_stream_like_the_data_path() {
    let dir = cluster();
    let cases: &[(&str, Option<&str>, &str, &str)] = &[
        (
            "GET http://foo.bar.com/api/v2/users?q=1",
            None,
            "allow",
            "path \"/api/v2/users\" matches \"/api/v2/*\"",
        ),
        // No :authority: the host field stands in.
        ("GET /api/v2/users", Some("FOO.bar.com"), "allow", "matches"),
        (
            "GET http://foo.bar.com/api/v2/x/../users",
            None,
            "deny",
            "path has a dot-segment",
        ),
        (
            "GET http://foo.bar.com/api/v2/users",
            Some("evil.com"),
            "deny",
            "request target authority and Host header differ",
        ),
        (
            "CONNECT foo.bar.com:443",
            None,
            "deny",
            "CONNECT over HTTP/2 is not supported",
        ),
    ];
    for (req, host, verdict, detail) in cases {
        let mut a = args(dir.path(), "1-ingress-allow-http-request-to-api-v2.yaml");
        a.from = Some("10.0.0.2".parse().unwrap());
        a.port = 80;
        a.http = Some((*req).into());
        a.host = host.map(Into::into);
        a.http2 = true;
        let e = explain_flow(&a).unwrap();
        let text = render(&e);
        assert_eq!(e.verdict, *verdict, "{req}: {text}");
        assert!(text.contains(detail), "{req}: {text}");
    }
}

#[test]
fn explain_keeps_to_the_peers_address_family() {
    let dir = cluster();
    // default/web has 10.0.0.10 and fd00::10: the address of the peer's family is used.
    let mut a = args(dir.path(), "5-ingress-allow-tls-handshake.yaml");
    a.from = Some("fd00::2".parse().unwrap());
    assert_eq!(
        explain_flow(&a).unwrap().dst,
        "[fd00::10]:443".parse().unwrap()
    );
    a.from = Some("10.0.0.2".parse().unwrap());
    assert_eq!(
        explain_flow(&a).unwrap().dst,
        "10.0.0.10:443".parse().unwrap()
    );
    // default/client has only 10.0.0.2: an IPv6 peer is an error that says why, both ways.
    a.pod = "default/client".parse().unwrap();
    a.from = Some("fd00::10".parse().unwrap());
    let err = explain_flow(&a).unwrap_err().to_string();
    assert_eq!(
        err,
        "--from fd00::10 is IPv6 but Pod default/client has only IPv4 addresses (10.0.0.2): give an IPv4 address"
    );
    a.from = None;
    a.to = Some("fd00::10".parse().unwrap());
    let err = explain_flow(&a).unwrap_err().to_string();
    assert!(err.starts_with("--to fd00::10 is IPv6"), "{err}");
}
