use proptest::prelude::*;

use super::l7::naive_http;
use super::*;

#[test]
fn glob_shapes() {
    let cases: &[(&str, Glob)] = &[
        ("*", Glob::Any),
        ("**", Glob::Any),
        ("foo.bar.com", Glob::Exact("foo.bar.com".into())),
        ("/api/v2/*", Glob::Prefix("/api/v2/".into())),
        ("/api/v2/**", Glob::Prefix("/api/v2/".into())),
        ("*.foo.com", Glob::Suffix(".foo.com".into())),
        ("*/v2/*", Glob::Contains("/v2/".into())),
        ("*.foo.*", Glob::Contains(".foo.".into())),
    ];
    for (p, want) in cases {
        assert_eq!(&Glob::parse(p), want, "{p}");
    }
    assert!(matches!(Glob::parse("a*b"), Glob::General { .. }));
    assert!(matches!(Glob::parse("*a*b*"), Glob::General { .. }));
}

#[test]
fn glob_matching_table() {
    let cases: &[(&str, &str, bool)] = &[
        ("/api/v2/*", "/api/v2/users", true),
        ("/api/v2/*", "/api/v2/", true),
        ("/api/v2/*", "/api/v2", false),
        ("/api/v2/*", "/api/v1/users", false),
        ("*/v2/*", "/api/v2/x", true),
        ("*/v2/*", "/api/v3/x", false),
        ("/index.html", "/index.html", true),
        ("/index.html", "/index.htm", false),
        ("*.foo.com", "a.foo.com", true),
        ("*.foo.com", "foo.com", false),
        ("*.foo.*", "a.foo.org", true),
        ("*.foo.*", "foo.org", false),
        ("/a*b/c", "/a/x/b/c", true),
        ("/a*b/c", "/ab/c", true),
        ("/a*b/c", "/a/c", false),
        ("a*a", "a", false),
        ("a*a", "aa", true),
        ("*a*b*c*", "xaybzc", true),
        ("*a*b*c*", "xcybza", false),
        ("*", "", true),
    ];
    for (p, v, want) in cases {
        assert_eq!(Glob::parse(p).matches(v), *want, "{p} vs {v}");
    }
}

fn entry(i: usize, m: Option<&str>, h: Option<&str>, p: Option<&str>) -> HttpEntry {
    HttpEntry {
        index: i,
        method: m.map(Into::into),
        host: h.map(Into::into),
        path: p.map(Into::into),
    }
}

#[test]
fn http_fields_and_entries_or() {
    let m = HttpMatcher::new(vec![
        entry(0, Some("GET"), Some("foo.bar.com"), Some("/api/v2/*")),
        entry(1, None, Some("*.Example.com"), None),
    ])
    .unwrap();
    let cases: &[(&str, Option<&str>, &str, bool, &str)] = &[
        (
            "GET",
            Some("foo.bar.com"),
            "/api/v2/x",
            true,
            "l7Protocols[0]",
        ),
        (
            "POST",
            Some("foo.bar.com"),
            "/api/v2/x",
            false,
            "method \"POST\"",
        ),
        (
            "GET",
            Some("evil.com"),
            "/api/v2/x",
            false,
            "host \"evil.com\" does not match",
        ),
        (
            "GET",
            Some("foo.bar.com"),
            "/admin",
            false,
            "path \"/admin\"",
        ),
        ("GET", None, "/api/v2/x", false, "host is missing"),
        (
            "DELETE",
            Some("www.example.com"),
            "/",
            true,
            "l7Protocols[1]",
        ),
        (
            "DELETE",
            Some("WWW.EXAMPLE.COM"),
            "/",
            true,
            "l7Protocols[1]",
        ),
        ("get", Some("foo.bar.com"), "/api/v2/x", false, "method"),
    ];
    for (method, host, path, allowed, detail) in cases {
        let got = m.check(method, *host, path);
        assert_eq!(
            got.allowed, *allowed,
            "{method} {host:?} {path}: {}",
            got.detail
        );
        assert!(got.detail.contains(detail), "{} lacks {detail}", got.detail);
    }
}

#[test]
fn http_empty_entry_matches_anything_and_tls_only_rule_denies_http() {
    let any = HttpMatcher::new(vec![entry(0, None, None, None)]).unwrap();
    assert!(any.check("PATCH", None, "/whatever").allowed);
    let none = HttpMatcher::new(vec![]).unwrap();
    let got = none.check("GET", Some("a"), "/");
    assert!(!got.allowed);
    assert!(got.detail.contains("only tls"));
}

#[test]
fn path_is_case_sensitive_host_is_not() {
    let m = HttpMatcher::new(vec![entry(0, None, Some("Foo.COM"), Some("/Admin/*"))]).unwrap();
    assert!(m.check("GET", Some("foo.com"), "/Admin/x").allowed);
    assert!(!m.check("GET", Some("foo.com"), "/admin/x").allowed);
}

#[test]
fn tls_sni() {
    let t = TlsMatcher::new(vec![TlsEntry {
        index: 0,
        sni: Some("*.bar.com".into()),
    }])
    .unwrap();
    let cases: &[(Option<&str>, bool)] = &[
        (Some("www.bar.com"), true),
        (Some("WWW.Bar.Com"), true),
        (Some("www.bar.com."), true),
        (Some("bar.com"), false),
        (Some("evil.com"), false),
        (None, false),
    ];
    for (sni, want) in cases {
        assert_eq!(t.check(*sni).allowed, *want, "{sni:?}");
    }
    let any = TlsMatcher::new(vec![TlsEntry {
        index: 3,
        sni: None,
    }])
    .unwrap();
    assert!(any.check(None).allowed);
    assert!(
        any.check(Some("x"))
            .detail
            .contains("l7Protocols[3].tls {}")
    );
    let none = TlsMatcher::new(vec![]).unwrap();
    assert!(!none.check(Some("x")).allowed);
}

fn pattern() -> impl Strategy<Value = Option<String>> {
    prop::option::of("[ab*/.]{0,5}")
}

proptest! {
    /// The index gives exactly the answer of trying each pattern in turn.
    #[test]
    fn index_agrees_with_naive(
        pats in prop::collection::vec((pattern(), pattern(), prop::option::of("GET|POST|CONNECT")), 1..12),
        host in prop::option::of("[ab/.]{0,6}"),
        path in "[ab/.]{0,6}",
        method in "GET|POST|PUT|CONNECT",
    ) {
        let entries: Vec<HttpEntry> = pats
            .iter()
            .enumerate()
            .map(|(i, (h, p, m))| entry(i, m.as_deref(), h.as_deref(), p.as_deref()))
            .collect();
        let m = HttpMatcher::new(entries.clone()).unwrap();
        let full = m.check(&method, host.as_deref(), &path);
        prop_assert_eq!(full.allowed, naive_http(&entries, &method, host.as_deref(), &path));
        // The data path's variant: same verdict, same reason for a denial, none for an allow.
        let fast = m.decide(&method, host.as_deref(), &path);
        prop_assert_eq!(fast.allowed, full.allowed);
        if full.allowed {
            prop_assert!(fast.detail.is_empty());
        } else {
            prop_assert_eq!(fast.detail, full.detail);
        }
    }
}

/// Many entries sharing keys (dense buckets) give the same answers as the naive matcher.
#[test]
fn dense_buckets_agree_with_naive() {
    let hosts = ["x.com", "*.x.com", "api.*", "*.mid.*", "a*b.com", "*"];
    let paths = ["/p", "/p/*", "*.json", "*/v2/*", "/a/*/b/*", "/a*c"];
    let entries: Vec<HttpEntry> = (0..300)
        .map(|i| {
            entry(
                i,
                (i % 3 == 0).then_some("GET"),
                (i % 7 != 6).then_some(hosts[i % hosts.len()]),
                (i % 5 != 4).then_some(paths[(i / 6) % paths.len()]),
            )
        })
        .collect();
    let m = HttpMatcher::new(entries.clone()).unwrap();
    let values_h = [
        None,
        Some("x.com"),
        Some("w.x.com"),
        Some("api.io"),
        Some("q.mid.r"),
        Some("ab.com"),
        Some("azzb.com"),
        Some("none"),
    ];
    let values_p = [
        "/p", "/p/q", "/f.json", "/x/v2/y", "/a/1/b/2", "/abc", "/zzz",
    ];
    for method in ["GET", "POST", "CONNECT"] {
        for h in values_h {
            for p in values_p {
                assert_eq!(
                    m.check(method, h, p).allowed,
                    naive_http(&entries, method, h, p),
                    "{method} {h:?} {p}"
                );
            }
        }
    }
}

/// A CONNECT turns the connection into an unchecked tunnel: only an entry that names the
/// method allows it, never `http: {}` or a host-only entry that would otherwise match.
#[test]
fn connect_needs_an_entry_naming_it() {
    let any = HttpMatcher::new(vec![entry(0, None, None, None)]).unwrap();
    assert!(any.check("GET", Some("a.com"), "/").allowed);
    let v = any.check("CONNECT", Some("a.com"), "");
    assert!(!v.allowed);
    assert!(
        v.detail.contains("does not name method CONNECT"),
        "{}",
        v.detail
    );
    assert_eq!(any.decide("CONNECT", Some("a.com"), "").detail, v.detail);

    let host_only = HttpMatcher::new(vec![
        entry(0, None, Some("a.com"), None),
        entry(1, Some("CONNECT"), Some("b.com"), None),
    ])
    .unwrap();
    assert!(!host_only.check("CONNECT", Some("a.com"), "").allowed);
    assert!(host_only.check("CONNECT", Some("b.com"), "").allowed);
    assert!(!host_only.check("CONNECT", Some("c.com"), "").allowed);
    assert!(host_only.check("GET", Some("a.com"), "/").allowed);
}
