use super::*;
use proptest::prelude::*;

const MAX: usize = 8192;

fn req(s: &str) -> Result<Option<RequestHead>, ParseError> {
    parse_request(s.as_bytes(), MAX)
}

fn ok(s: &str) -> RequestHead {
    match req(s) {
        Ok(Some(h)) => h,
        other => panic!("{s:?}: {other:?}"),
    }
}

#[test]
fn simple_get() {
    let raw = "GET /b?x=/../1 HTTP/1.1\r\nHost: Foo.Bar.com:8080\r\nUser-Agent: curl/8\r\nAccept: */*\r\n\r\nNEXT";
    let h = ok(raw);
    assert_eq!(h.method, "GET");
    assert_eq!(h.target, "/b?x=/../1");
    assert_eq!(h.version_minor, 1);
    assert_eq!(h.head_len, raw.len() - 4);
    assert_eq!(h.host.as_deref(), Some("foo.bar.com"));
    assert_eq!(h.path, "/b");
    assert_eq!(h.user_agent.as_deref(), Some("curl/8"));
    assert_eq!(h.content_type, None);
    assert!(h.keep_alive);
    assert_eq!(h.upgrade, None);
    assert_eq!(h.framing, BodyFraming::None);
}

#[test]
fn every_prefix_is_incomplete() {
    let raw =
        "POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Type: text/plain\r\n\r\n";
    for i in 0..raw.len() {
        assert_eq!(req(&raw[..i]), Ok(None), "prefix {i}");
    }
    let h = ok(raw);
    assert_eq!(h.framing, BodyFraming::Length(3));
    assert_eq!(h.content_type.as_deref(), Some("text/plain"));
    assert_eq!(h.head_len, raw.len());
}

#[test]
fn framing_and_connection_table() {
    let cases: &[(&str, BodyFraming, bool)] = &[
        ("GET / HTTP/1.1\r\nHost: a\r\n\r\n", BodyFraming::None, true),
        (
            "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
            BodyFraming::None,
            false,
        ),
        (
            "GET / HTTP/1.1\r\nHost: a\r\nConnection: TE, Close\r\n\r\n",
            BodyFraming::None,
            false,
        ),
        ("GET / HTTP/1.0\r\n\r\n", BodyFraming::None, false),
        (
            "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
            BodyFraming::None,
            true,
        ),
        (
            "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n",
            BodyFraming::Length(0),
            true,
        ),
        (
            "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 18446744073709551615\r\n\r\n",
            BodyFraming::Length(u64::MAX),
            true,
        ),
        (
            "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n",
            BodyFraming::Chunked,
            true,
        ),
        (
            "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, CHUNKED\r\n\r\n",
            BodyFraming::Chunked,
            true,
        ),
        (
            "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
            BodyFraming::Chunked,
            true,
        ),
    ];
    for (raw, framing, keep_alive) in cases {
        let h = ok(raw);
        assert_eq!(
            (h.framing, h.keep_alive),
            (*framing, *keep_alive),
            "{raw:?}"
        );
    }
}

#[test]
fn rejected_requests_table() {
    use ParseError::*;
    let cases: &[(&str, ParseError)] = &[
        (
            "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
            LengthAndChunked,
        ),
        (
            "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n",
            LengthAndChunked,
        ),
        (
            "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\n",
            DuplicateContentLength,
        ),
        (
            "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n",
            DuplicateContentLength,
        ),
        (
            "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3, 3\r\n\r\n",
            DuplicateContentLength,
        ),
        (
            "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +3\r\n\r\n",
            InvalidContentLength,
        ),
        (
            "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n",
            InvalidContentLength,
        ),
        (
            "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x10\r\n\r\n",
            InvalidContentLength,
        ),
        (
            "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1 0\r\n\r\n",
            InvalidContentLength,
        ),
        (
            "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: \r\n\r\n",
            InvalidContentLength,
        ),
        (
            "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 18446744073709551616\r\n\r\n",
            InvalidContentLength,
        ),
        (
            "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
            TransferEncodingNotChunked,
        ),
        (
            "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n",
            TransferEncodingNotChunked,
        ),
        (
            "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, chunked\r\n\r\n",
            TransferEncodingNotChunked,
        ),
        (
            "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: \r\n\r\n",
            TransferEncodingNotChunked,
        ),
        (
            "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n",
            UnsupportedTransferCoding,
        ),
        (
            "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked;q=1\r\n\r\n",
            UnsupportedTransferCoding,
        ),
        (
            "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
            TransferEncodingHttp10,
        ),
        ("GET / HTTP/1.1\r\nHost: a\r\nX-A: b\r\n c\r\n\r\n", ObsFold),
        (
            "GET / HTTP/1.1\r\nHost: a\r\nX-A: b\r\n\tc\r\n\r\n",
            ObsFold,
        ),
        ("GET / HTTP/1.1\r\n Host: a\r\n\r\n", ObsFold),
        ("GET / HTTP/1.1\r\n\r\n", MissingHost),
        (
            "GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n",
            DuplicateField("Host"),
        ),
        ("GET / HTTP/1.1\r\nHost: a b\r\n\r\n", InvalidHost),
        ("GET / HTTP/1.1\r\nHost: user@a\r\n\r\n", InvalidHost),
        ("GET / HTTP/1.1\r\nHost: a:99999\r\n\r\n", InvalidHost),
        ("GET http://u@a/ HTTP/1.1\r\nHost: a\r\n\r\n", InvalidHost),
        (
            "GET http://evil.com/ HTTP/1.1\r\nHost: good.com\r\n\r\n",
            HostMismatch,
        ),
        ("GET /a\0b HTTP/1.1\r\nHost: a\r\n\r\n", RequestLineByte(0)),
        (
            "GET /a\x01b HTTP/1.1\r\nHost: a\r\n\r\n",
            RequestLineByte(1),
        ),
        (
            "GET /a\x7fb HTTP/1.1\r\nHost: a\r\n\r\n",
            RequestLineByte(0x7f),
        ),
        (
            "GET /caf\u{e9} HTTP/1.1\r\nHost: a\r\n\r\n",
            RequestLineByte(0xc3),
        ),
        (
            "GET /a\tb HTTP/1.1\r\nHost: a\r\n\r\n",
            RequestLineByte(b'\t'),
        ),
        (
            "GET /a\rb HTTP/1.1\r\nHost: a\r\n\r\n",
            RequestLineByte(b'\r'),
        ),
        ("GET /a%zz HTTP/1.1\r\nHost: a\r\n\r\n", MalformedEscape),
        ("GET /a?q=%zz HTTP/1.1\r\nHost: a\r\n\r\n", MalformedEscape),
        (
            "GET http://a/p/..;/x HTTP/1.1\r\nHost: a\r\n\r\n",
            PathDotSegment,
        ),
        ("GET * HTTP/1.1\r\nHost: a\r\n\r\n", InvalidTarget),
        ("GET a/b HTTP/1.1\r\nHost: a\r\n\r\n", InvalidTarget),
        ("CONNECT a HTTP/1.1\r\nHost: a\r\n\r\n", InvalidTarget),
        ("CONNECT /x HTTP/1.1\r\nHost: a\r\n\r\n", InvalidTarget),
        (
            "GET / HTTP/2.0\r\nHost: a\r\n\r\n",
            Syntax(httparse::Error::Version),
        ),
        (
            "GET / HTTP/1.1\r\nHost : a\r\n\r\n",
            Syntax(httparse::Error::HeaderName),
        ),
        (
            "GET / HTTP/1.1\r\nHost: a\0\r\n\r\n",
            Syntax(httparse::Error::HeaderValue),
        ),
    ];
    for (raw, err) in cases {
        assert_eq!(req(raw), Err(err.clone()), "{raw:?}");
    }
}

#[test]
fn request_line_bytes_rejected_before_line_completes() {
    assert_eq!(req("GET /a\0"), Err(ParseError::RequestLineByte(0)));
    assert_eq!(
        parse_request(b"GET /\xff HTTP/1.1\r\n", MAX),
        Err(ParseError::RequestLineByte(0xff))
    );
    assert_eq!(req("GET / HTTP/1.1\r"), Ok(None));
}

#[test]
fn target_forms() {
    let h = ok("GET http://Foo.com:80/x/y/ HTTP/1.1\r\nHost: foo.com\r\n\r\n");
    assert_eq!(
        (h.host.as_deref(), h.path.as_str()),
        (Some("foo.com"), "/x/y/")
    );
    let h = ok("GET http://foo.com?a=/../b HTTP/1.1\r\nHost: foo.com\r\n\r\n");
    assert_eq!(h.path, "/");
    let h = ok("GET https://foo.com HTTP/1.1\r\nHost: foo.com\r\n\r\n");
    assert_eq!(h.path, "/");
    let h = ok("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!(h.path, "*");
    let h = ok("CONNECT Foo.com:443 HTTP/1.1\r\nHost: foo.com:443\r\n\r\n");
    assert_eq!((h.host.as_deref(), h.path.as_str()), (Some("foo.com"), ""));
    let h = ok("GET / HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n");
    assert_eq!(h.host.as_deref(), Some("[::1]"));
    let h = ok("GET / HTTP/1.1\r\nHost:\r\n\r\n");
    assert_eq!(h.host, None);
    let h = ok("GET /x HTTP/1.0\r\n\r\n");
    assert_eq!(h.host, None);
    let h = ok("\r\nGET /x HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!(h.head_len, 2 + "GET /x HTTP/1.1\r\nHost: a\r\n\r\n".len());
}

#[test]
fn upgrade_and_expect() {
    let h = ok("GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n");
    assert_eq!(h.upgrade.as_deref(), Some("websocket"));
    let h = ok(
        "GET /ws HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, Upgrade\r\nUpgrade: WebSocket\r\n\r\n",
    );
    assert_eq!(h.upgrade.as_deref(), Some("WebSocket"));
    // Connection tokens of several fields are united.
    let h = ok(
        "GET /ws HTTP/1.1\r\nHost: a\r\nConnection: keep-alive\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n",
    );
    assert_eq!(h.upgrade.as_deref(), Some("websocket"));
    let h = ok("PUT / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n");
    assert!(h.expect_continue);
}

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
        (
            "Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n",
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
fn head_size_limit() {
    let big = format!(
        "GET / HTTP/1.1\r\nHost: a\r\nX: {}\r\n\r\n",
        "a".repeat(200)
    );
    assert_eq!(
        parse_request(big.as_bytes(), 100),
        Err(ParseError::HeadTooLarge { max: 100 })
    );
    assert_eq!(
        parse_request(&big.as_bytes()[..150], 100),
        Err(ParseError::HeadTooLarge { max: 100 })
    );
    assert_eq!(parse_request(&big.as_bytes()[..99], 100), Ok(None));
    assert!(parse_request(big.as_bytes(), big.len()).is_ok());
    let many: String = (0..DEFAULT_MAX_HEADERS + 1)
        .map(|i| format!("X-{i}: v\r\n"))
        .collect();
    let raw = format!("GET / HTTP/1.1\r\nHost: a\r\n{many}\r\n");
    assert_eq!(
        parse_request(raw.as_bytes(), 1 << 20),
        Err(ParseError::TooManyHeaders)
    );
}

#[test]
fn responses() {
    let cases: &[(&str, &str, u16, BodyFraming, bool)] = &[
        (
            "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n",
            "GET",
            200,
            BodyFraming::Length(5),
            true,
        ),
        (
            "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n",
            "HEAD",
            200,
            BodyFraming::None,
            true,
        ),
        (
            "HTTP/1.1 204 No Content\r\n\r\n",
            "GET",
            204,
            BodyFraming::None,
            true,
        ),
        (
            "HTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\n\r\n",
            "GET",
            304,
            BodyFraming::None,
            true,
        ),
        (
            "HTTP/1.1 100 Continue\r\n\r\n",
            "PUT",
            100,
            BodyFraming::None,
            true,
        ),
        (
            "HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n",
            "GET",
            101,
            BodyFraming::None,
            true,
        ),
        (
            "HTTP/1.1 200 Connection established\r\n\r\n",
            "CONNECT",
            200,
            BodyFraming::None,
            true,
        ),
        (
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
            "GET",
            200,
            BodyFraming::Chunked,
            true,
        ),
        (
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: br\r\n\r\n",
            "GET",
            200,
            BodyFraming::CloseDelimited,
            false,
        ),
        (
            "HTTP/1.1 200 OK\r\n\r\n",
            "GET",
            200,
            BodyFraming::CloseDelimited,
            false,
        ),
        (
            "HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\n",
            "GET",
            200,
            BodyFraming::Length(1),
            false,
        ),
        (
            "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 1\r\n\r\n",
            "GET",
            200,
            BodyFraming::Length(1),
            false,
        ),
    ];
    for (raw, method, status, framing, keep_alive) in cases {
        let h = match parse_response(raw.as_bytes(), MAX, method) {
            Ok(Some(h)) => h,
            other => panic!("{raw:?}: {other:?}"),
        };
        assert_eq!(
            (h.status, h.framing, h.keep_alive, h.head_len),
            (*status, *framing, *keep_alive, raw.len()),
            "{raw:?}"
        );
    }
    let h = parse_response(b"HTTP/1.1 103 Early Hints\r\n\r\n", MAX, "GET")
        .unwrap()
        .unwrap();
    assert!(h.is_interim() && !h.is_switching_protocols());
    let h = parse_response(b"HTTP/1.1 101 Switching\r\n\r\n", MAX, "GET")
        .unwrap()
        .unwrap();
    assert!(!h.is_interim() && h.is_switching_protocols());
    assert!(!h.upgrade_websocket);
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

#[test]
fn rejected_responses() {
    use ParseError::*;
    let cases: &[(&str, ParseError)] = &[
        (
            "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
            LengthAndChunked,
        ),
        (
            "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n",
            DuplicateContentLength,
        ),
        (
            "HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n",
            InvalidContentLength,
        ),
        (
            "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
            TransferEncodingHttp10,
        ),
        ("HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n", ObsFold),
        (
            "HTTP/1.1 099 Odd\r\n\r\n",
            InvalidResponse("status code below 100"),
        ),
    ];
    for (raw, err) in cases {
        assert_eq!(
            parse_response(raw.as_bytes(), MAX, "GET"),
            Err(err.clone()),
            "{raw:?}"
        );
    }
    assert_eq!(parse_response(b"HTTP/1.1 200 OK\r\n", MAX, "GET"), Ok(None));
}

proptest! {
    #[test]
    fn parsers_never_panic(buf in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = parse_request(&buf, 256);
        let _ = parse_response(&buf, 256, "GET");
    }

    #[test]
    fn structured_requests_never_panic(
        method in "(GET|POST|CONNECT|OPTIONS|[A-Z]{1,6})",
        target in "[ -~]{0,30}",
        headers in proptest::collection::vec(("(Host|Content-Length|Transfer-Encoding|Connection|X-[a-z]{1,4})", "[ -~\t]{0,20}"), 0..6),
    ) {
        let mut raw = format!("{method} {target} HTTP/1.1\r\n");
        for (n, v) in &headers {
            raw.push_str(&format!("{n}: {v}\r\n"));
        }
        raw.push_str("\r\n");
        if let Ok(Some(h)) = parse_request(raw.as_bytes(), 4096) {
            prop_assert_eq!(h.head_len, raw.len());
            prop_assert!(h.path.is_empty() || h.path == "*" || h.path.starts_with('/'));
        }
    }
}

#[test]
fn unusual_but_unambiguous_paths_pass() {
    for target in [
        "/a;v=1/b",
        "/repo/group%3Aproject",
        "/a.b/..c/c..",
        "/%C3%A9t%C3%A9",
    ] {
        let h = ok(&format!("GET {target} HTTP/1.1\r\nHost: a\r\n\r\n"));
        assert_eq!(h.path, target);
    }
}

#[test]
fn response_every_prefix_is_incomplete() {
    let raw = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nTransfer-Encoding: chunked\r\n\r\n";
    for i in 0..raw.len() {
        assert_eq!(
            parse_response(&raw[..i], MAX, "GET"),
            Ok(None),
            "prefix {i}"
        );
    }
    let h = parse_response(raw, MAX, "GET").unwrap().unwrap();
    assert_eq!(h.content_type.as_deref(), Some("text/html"));
    assert_eq!((h.framing, h.head_len), (BodyFraming::Chunked, raw.len()));
}
