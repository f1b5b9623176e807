//! The rules that keep what the proxy checks equal to what a server executes: fields
//! read once, upgrades, override fields, host labels, canonical targets, bodies that
//! servers would read as a second request.

use super::super::*;
use super::{MAX, ok, req};

/// Only a single `websocket` token in a single `Upgrade` field with `Connection: upgrade`
/// passes; every other upgrade is refused with a reason naming it.
#[test]
fn upgrades_other_than_one_websocket_are_refused() {
    use ParseError::*;
    let head = |fields: &str| format!("GET / HTTP/1.1\r\nHost: a\r\n{fields}\r\n");
    let cases: &[(&str, ParseError)] = &[
        (
            "Connection: upgrade\r\nUpgrade: websocket\r\nUpgrade: h2c\r\n",
            DuplicateField("Upgrade"),
        ),
        (
            "Connection: upgrade\r\nUpgrade: h2c\r\nUpgrade: websocket\r\n",
            DuplicateField("Upgrade"),
        ),
        // h2c without its companions, or next to another protocol.
        (
            "Connection: Upgrade\r\nUpgrade: h2c\r\n",
            UpgradeNotSupported("h2c".into()),
        ),
        (
            "Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n",
            UpgradeNotSupported("h2c".into()),
        ),
        (
            "Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c, websocket\r\nHTTP2-Settings: AAMA\r\n",
            UpgradeNotSupported("h2c".into()),
        ),
        (
            "Connection: upgrade\r\nUpgrade: websocket, h2c\r\n",
            UpgradeNotSupported("h2c".into()),
        ),
        (
            "Connection: upgrade\r\nUpgrade: TLS/1.2\r\n",
            UpgradeNotSupported("TLS/1.2".into()),
        ),
        (
            "Connection: upgrade\r\nUpgrade: websocket, websocket\r\n",
            UpgradeList,
        ),
        ("Connection: upgrade\r\nUpgrade:\r\n", UpgradeList),
        ("Upgrade: websocket\r\n", UpgradeWithoutConnection),
        (
            "Connection: close\r\nUpgrade: websocket\r\n",
            UpgradeWithoutConnection,
        ),
        (
            "Connection: upgrade\r\nUpgrade: websocket\r\nHTTP2-Settings: AAMA\r\n",
            Http2Settings,
        ),
        ("HTTP2-Settings: AAMA\r\n", Http2Settings),
    ];
    for (fields, err) in cases {
        assert_eq!(req(&head(fields)), Err(err.clone()), "{fields:?}");
    }
    // An empty list element is no second protocol; the head carries the token alone.
    let ws = req(&head("Connection: upgrade\r\nUpgrade: websocket, \r\n"))
        .unwrap()
        .unwrap();
    assert_eq!(ws.upgrade.as_deref(), Some("websocket"));
    // A well-formed offer is accepted, to be removed before forwarding.
    let offer = req(&head(
        "Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n",
    ))
    .unwrap()
    .unwrap();
    assert!(offer.h2c_offer && offer.upgrade.is_none());
    assert_eq!(
        UpgradeNotSupported("h2c".into()).to_string(),
        "upgrade to h2c is not supported"
    );
}

/// Every field the proxy decides, frames or switches on is read once.
#[test]
fn repeated_deciding_fields_are_refused() {
    use ParseError::*;
    let cases: &[(&str, ParseError)] = &[
        ("Host: a\r\nHost: b\r\n", DuplicateField("Host")),
        ("Host: a\r\nhost: a\r\n", DuplicateField("Host")),
        (
            "Host: a\r\nExpect: 100-continue\r\nExpect: 100-continue\r\nContent-Length: 1\r\n",
            DuplicateField("Expect"),
        ),
        (
            "Host: a\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n",
            DuplicateField("Transfer-Encoding"),
        ),
        (
            "Host: a\r\nContent-Length: 1\r\nContent-Length: 1\r\n",
            DuplicateContentLength,
        ),
    ];
    for (fields, err) in cases {
        let raw = format!("POST / HTTP/1.1\r\n{fields}\r\n");
        assert_eq!(req(&raw), Err(err.clone()), "{fields:?}");
    }
    assert_eq!(
        DuplicateField("Upgrade").to_string(),
        "duplicate Upgrade header"
    );
}

/// Fields that make frameworks route or dispatch elsewhere than the request line says.
#[test]
fn routing_and_method_override_fields_are_refused() {
    for (sent, named) in [
        ("X-Original-URL: /admin", "X-Original-URL"),
        ("x-rewrite-url: /admin", "X-Rewrite-URL"),
        ("X-Override-URL: /admin", "X-Override-URL"),
        ("X-HTTP-Method-Override: DELETE", "X-HTTP-Method-Override"),
        ("X-HTTP-Method: DELETE", "X-HTTP-Method"),
        ("X-Method-Override: DELETE", "X-Method-Override"),
        ("X_Original_URL: /admin", "X-Original-URL"),
    ] {
        let raw = format!("GET / HTTP/1.1\r\nHost: a\r\n{sent}\r\n\r\n");
        let err = req(&raw).unwrap_err();
        assert_eq!(err, ParseError::OverrideField(named), "{sent}");
        assert!(err.to_string().contains(named), "{err}");
    }
    // Neighbours of the same length are ordinary fields.
    ok("GET / HTTP/1.1\r\nHost: a\r\nX-Original-Foo: 1\r\nX-Forwarded-For: 1.2.3.4\r\n\r\n");
    // A response carrying one is not a request: nothing to refuse.
    assert!(
        parse_response(
            b"HTTP/1.1 200 OK\r\nX-HTTP-Method: GET\r\nContent-Length: 0\r\n\r\n",
            MAX,
            "GET"
        )
        .is_ok()
    );
}

#[test]
fn host_labels() {
    use ParseError::*;
    let host = |h: &str| req(&format!("GET / HTTP/1.1\r\nHost: {h}\r\n\r\n"));
    assert_eq!(
        ok("GET / HTTP/1.1\r\nHost: foo.bar.com.\r\n\r\n")
            .host
            .as_deref(),
        Some("foo.bar.com")
    );
    assert_eq!(
        ok("GET / HTTP/1.1\r\nHost: Foo.Bar.com.:80\r\n\r\n")
            .host
            .as_deref(),
        Some("foo.bar.com")
    );
    for bad in [
        "foo.bar.com..",
        "foo..bar.com",
        ".foo.bar.com",
        ".",
        "..",
        "a..:80",
    ] {
        assert_eq!(host(bad), Err(HostEmptyLabel), "{bad}");
    }
    assert_eq!(
        req("GET http://foo.bar.com../ HTTP/1.1\r\nHost: foo.bar.com\r\n\r\n"),
        Err(HostEmptyLabel)
    );
    assert_eq!(
        req("CONNECT foo..bar.com:443 HTTP/1.1\r\nHost: foo.bar.com:443\r\n\r\n"),
        Err(HostEmptyLabel)
    );
    // One trailing dot in the target and none in Host name the same host.
    let h = ok("GET http://foo.bar.com./x HTTP/1.1\r\nHost: foo.bar.com\r\n\r\n");
    assert_eq!(h.host.as_deref(), Some("foo.bar.com"));
}

#[test]
fn non_canonical_targets_are_refused() {
    use ParseError::*;
    let cases: &[(&str, ParseError)] = &[
        ("/admin/x/../../api/v2/x", PathDotSegment),
        ("/admin/x/%2e%2e/%2E%2E/api/v2/x", PathDotSegment),
        ("/public/..;/admin", PathDotSegment),
        ("/public/.;x/admin", PathDotSegment),
        // Left to right: the empty segment is met first.
        ("/secret//../api/v2/x", PathEmptySegment),
        ("/secret//api/v2/x", PathEmptySegment),
        ("//api", PathEmptySegment),
        ("/%41pi", PathEncodedUnreserved),
        ("/%7Euser", PathEncodedUnreserved),
        ("/a#frag", TargetFragment),
        ("/a?q#frag", TargetFragment),
        ("/public\\..\\admin", PathBackslash),
        ("/public/..%5Cadmin", PathBackslash),
        ("/public%2F..%2Fadmin", PathEncodedSlash),
    ];
    for (target, err) in cases {
        let raw = format!("GET {target} HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_eq!(req(&raw), Err(err.clone()), "{target}");
    }
    for target in [
        "/",
        "/api/",
        "/api/v2/x",
        "/a%20b",
        "/a/b.json",
        "/a?x=/../%41",
        "/~u/a-b_c.d",
        "/a;v=1/b",
        "/a/...",
        "/%E2%82%AC",
    ] {
        let raw = format!("GET {target} HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_eq!(ok(&raw).path, target.split('?').next().unwrap(), "{target}");
    }
    assert_eq!(ok("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n").path, "*");
}

#[test]
fn bodies_on_get_head_trace_connect() {
    let head = |m: &str, f: &str| ok(&format!("{m} / HTTP/1.1\r\nHost: a:1\r\n{f}\r\n"));
    for m in ["GET", "HEAD"] {
        assert_eq!(
            head(m, "Content-Length: 5\r\n").body_refusal(false),
            Some(ParseError::BodyNotAllowed(if m == "GET" {
                "GET"
            } else {
                "HEAD"
            }))
        );
        assert_eq!(
            head(m, "Transfer-Encoding: chunked\r\n")
                .body_refusal(false)
                .map(|e| e.to_string()),
            Some(format!("body on a {m} request is not allowed"))
        );
        assert_eq!(head(m, "Content-Length: 5\r\n").body_refusal(true), None);
        assert_eq!(head(m, "Content-Length: 0\r\n").body_refusal(false), None);
        assert_eq!(head(m, "").body_refusal(false), None);
    }
    let trace = head("TRACE", "Content-Length: 1\r\n");
    assert_eq!(
        trace.body_refusal(true),
        Some(ParseError::BodyNotAllowed("TRACE"))
    );
    let connect = ok("CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\nContent-Length: 3\r\n\r\n");
    assert_eq!(
        connect.body_refusal(true),
        Some(ParseError::BodyNotAllowed("CONNECT"))
    );
    for m in ["POST", "PUT", "DELETE", "OPTIONS", "PATCH"] {
        assert_eq!(
            head(m, "Content-Length: 5\r\n").body_refusal(false),
            None,
            "{m}"
        );
    }
}

#[test]
fn switching_response_names_its_protocol() {
    let resp = |up: &str| {
        let raw = format!("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n{up}\r\n");
        parse_response(raw.as_bytes(), MAX, "GET")
    };
    assert!(
        resp("Upgrade: websocket\r\n")
            .unwrap()
            .unwrap()
            .upgrade_websocket
    );
    assert!(
        resp("Upgrade: WebSocket\r\n")
            .unwrap()
            .unwrap()
            .upgrade_websocket
    );
    for other in ["Upgrade: h2c\r\n", "Upgrade: websocket, h2c\r\n", ""] {
        assert!(
            !resp(other).unwrap().unwrap().upgrade_websocket,
            "{other:?}"
        );
    }
    assert_eq!(
        resp("Upgrade: websocket\r\nUpgrade: h2c\r\n"),
        Err(ParseError::DuplicateField("Upgrade"))
    );
}
