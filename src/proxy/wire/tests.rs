use super::*;

fn req(s: &str) -> Result<Option<RequestHead>, WireError> {
    parse_request(s.as_bytes())
}

#[test]
fn request_head_fields_and_length() {
    let raw = "GET /a?b HTTP/1.1\r\nHost: Foo.Bar.com:8080\r\nUser-Agent: curl/8\r\n\r\nNEXT";
    let h = req(raw).unwrap().unwrap();
    assert_eq!(h.method, "GET");
    assert_eq!(h.target, "/a?b");
    assert_eq!(h.protocol, "HTTP/1.1");
    assert_eq!(h.host.as_deref(), Some("Foo.Bar.com:8080"));
    assert_eq!(h.user_agent.as_deref(), Some("curl/8"));
    assert_eq!(h.framing, Framing::Empty);
    assert_eq!(&raw[h.len..], "NEXT");
    assert!(!h.upgrade);
}

#[test]
fn partial_head_needs_more() {
    assert_eq!(req("GET / HTTP/1.1\r\nHost: a\r\n"), Ok(None));
    assert_eq!(req("GE"), Ok(None));
}

#[test]
fn framing_is_strict() {
    let cl = req("POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\n")
        .unwrap()
        .unwrap();
    assert_eq!(cl.framing, Framing::Length(5));
    let ch = req("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n")
        .unwrap()
        .unwrap();
    assert_eq!(ch.framing, Framing::Chunked);
    for bad in [
        "POST / HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
        "POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n",
        "POST / HTTP/1.1\r\nContent-Length: 5, 5\r\n\r\n",
        "POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
        "POST / HTTP/1.1\r\nContent-Length: +5\r\n\r\n",
        "POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
        "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
        "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
    ] {
        assert!(
            matches!(req(bad), Err(WireError::Ambiguous(_))),
            "{bad:?} -> {:?}",
            req(bad)
        );
    }
    // obs-fold and a space before the colon are malformed.
    for bad in [
        "GET / HTTP/1.1\r\nX-A: 1\r\n  folded\r\n\r\n",
        "POST / HTTP/1.1\r\nTransfer-Encoding : chunked\r\n\r\n",
    ] {
        assert!(req(bad).is_err(), "{bad:?} accepted");
    }
}

#[test]
fn upgrade_needs_both_headers() {
    let h =
        req("GET /ws HTTP/1.1\r\nUpgrade: websocket\r\nConnection: keep-alive, Upgrade\r\n\r\n")
            .unwrap()
            .unwrap();
    assert!(h.upgrade);
    let h = req("GET /ws HTTP/1.1\r\nUpgrade: websocket\r\n\r\n")
        .unwrap()
        .unwrap();
    assert!(!h.upgrade);
    assert!(
        req("CONNECT a:443 HTTP/1.1\r\n\r\n")
            .unwrap()
            .unwrap()
            .is_connect()
    );
}

#[test]
fn response_framing_depends_on_request_and_status() {
    let r = parse_response(
        b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Type: text/plain\r\n\r\nabc",
        "GET",
    )
    .unwrap()
    .unwrap();
    assert_eq!((r.status, r.framing), (200, Framing::Length(3)));
    assert_eq!(r.content_type.as_deref(), Some("text/plain"));
    let head = parse_response(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n", "HEAD")
        .unwrap()
        .unwrap();
    assert_eq!(head.framing, Framing::Empty);
    let nc = parse_response(b"HTTP/1.1 304 Not Modified\r\n\r\n", "GET")
        .unwrap()
        .unwrap();
    assert_eq!(nc.framing, Framing::Empty);
    let ct = parse_response(b"HTTP/1.1 100 Continue\r\n\r\n", "POST")
        .unwrap()
        .unwrap();
    assert_eq!(ct.framing, Framing::Empty);
    let close = parse_response(b"HTTP/1.0 200 OK\r\n\r\n", "GET")
        .unwrap()
        .unwrap();
    assert_eq!(close.framing, Framing::UntilClose);
    let conn = parse_response(b"HTTP/1.1 200 Connection established\r\n\r\n", "CONNECT")
        .unwrap()
        .unwrap();
    assert_eq!(conn.framing, Framing::Empty);
    assert_eq!(parse_response(b"HTTP/1.1 200 OK\r\n", "GET"), Ok(None));
}

fn run_body(framing: Framing, input: &[u8], step: usize) -> (Result<usize, WireError>, bool, u64) {
    // Feed the input in `step`-sized slices, like reads would deliver it.
    let mut body = Body::new(framing);
    let mut consumed = 0;
    let mut end = 0;
    while end < input.len() && !body.is_done() {
        end = (end + step).min(input.len());
        match body.advance(&input[consumed..end]) {
            Ok(n) => consumed += n,
            Err(e) => return (Err(e), false, body.payload),
        }
    }
    (Ok(consumed), body.is_done(), body.payload)
}

#[test]
fn chunked_body_ends_exactly_in_any_split() {
    let body = b"5\r\nhello\r\n1;ext=1\r\n!\r\n0\r\nTrailer: x\r\n\r\n";
    let mut input = body.to_vec();
    input.extend_from_slice(b"GET /next HTTP/1.1\r\n\r\n");
    for step in [1, 2, 3, 7, 64] {
        let (r, done, payload) = run_body(Framing::Chunked, &input, step);
        assert_eq!(r, Ok(body.len()), "step {step}");
        assert!(done);
        assert_eq!(payload, 6);
    }
}

#[test]
fn malformed_chunks_are_errors() {
    for bad in [
        &b"zz\r\n"[..],
        b"5\r\nhelloXX",
        b"5\r\nhello\r\n0\r\n\r",
        b"5\r\nhello\r\n\r\n",
    ] {
        let (r, done, _) = run_body(Framing::Chunked, bad, 64);
        if bad.ends_with(b"\r") {
            // Incomplete, not wrong: needs more bytes.
            assert!(r.is_ok() && !done);
        } else {
            assert_eq!(r, Err(WireError::BadChunk), "{bad:?}");
        }
    }
    let long = vec![b'1'; 5000];
    assert_eq!(
        run_body(Framing::Chunked, &long, 5000).0,
        Err(WireError::BadChunk)
    );
}

#[test]
fn length_body_stops_at_its_end() {
    let (r, done, payload) = run_body(Framing::Length(4), b"abcdEXTRA", 3);
    assert_eq!((r, done, payload), (Ok(4), true, 4));
    let (r, done, _) = run_body(Framing::Length(10), b"abc", 3);
    assert_eq!((r, done), (Ok(3), false));
    let mut until = Body::new(Framing::UntilClose);
    assert_eq!(until.advance(b"anything"), Ok(8));
    assert!(until.until_close() && !until.is_done());
}
