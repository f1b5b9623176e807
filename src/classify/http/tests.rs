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

mod differential;
