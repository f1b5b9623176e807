//! Whole-conversation tests on bytes captured from real clients: detection, then the
//! parser for what was detected, then body framing, as the data path chains them.

use super::*;
use proptest::prelude::*;

const CURL_HELLO: &[u8] = include_bytes!("testdata/curl_openssl3.bin");
const RUSTLS_HELLO: &[u8] = include_bytes!("testdata/rustls_pq.bin");
const CURL_GET: &[u8] = include_bytes!("testdata/curl_get.http");
const CURL_POST_CHUNKED: &[u8] = include_bytes!("testdata/curl_post_chunked.http");

#[test]
fn curl_tls_hello() {
    assert_eq!(detect(CURL_HELLO), Detection::Tls);
    let Ok(HelloParse::Done { hello, consumed }) = parse_client_hello(CURL_HELLO) else {
        panic!("curl hello did not parse");
    };
    assert_eq!(consumed, 517);
    assert_eq!(hello.sni.as_deref(), Some("foo.bar.com"));
    assert_eq!(hello.alpn, ["h2", "http/1.1"]);
    assert_eq!(hello.version, 0x0304);
}

/// The fixture was sent with `curl --path-as-is`: its dot-segment is refused, not resolved.
#[test]
fn curl_get_with_dot_segments() {
    assert_eq!(detect(CURL_GET), Detection::Http1);
    assert_eq!(
        parse_request(CURL_GET, 8192),
        Err(ParseError::PathDotSegment)
    );
    let get = curl_get_canonical();
    let h = parse_request(&get, 8192).unwrap().unwrap();
    assert_eq!(h.method, "GET");
    assert_eq!(h.target, "/v1/items?x=1");
    assert_eq!(h.path, "/v1/items");
    assert_eq!(h.host.as_deref(), Some("127.0.0.1"));
    assert_eq!(h.user_agent.as_deref(), Some("curl/fixture"));
    assert_eq!(h.head_len, get.len());
    assert_eq!(h.framing, BodyFraming::None);
}

/// The GET fixture as curl sends it without `--path-as-is` (it resolves `..` itself).
fn curl_get_canonical() -> Vec<u8> {
    let text = std::str::from_utf8(CURL_GET).unwrap();
    text.replacen("/api/../v1/items", "/v1/items", 1)
        .into_bytes()
}

#[test]
fn curl_chunked_post_then_pipelined_get() {
    let mut conn = CURL_POST_CHUNKED.to_vec();
    conn.extend_from_slice(&curl_get_canonical());
    let h = parse_request(&conn, 8192).unwrap().unwrap();
    assert_eq!((h.method.as_str(), h.path.as_str()), ("POST", "/upload"));
    assert_eq!(h.content_type.as_deref(), Some("text/plain"));
    assert_eq!(h.framing, BodyFraming::Chunked);
    let mut body = BodyTracker::new(h.framing);
    // Feed the rest byte by byte, as a slow client would send it.
    let mut at = h.head_len;
    loop {
        let (n, done) = body.advance(&conn[at..at + 1]).unwrap();
        at += n;
        if done {
            break;
        }
    }
    assert_eq!(at, CURL_POST_CHUNKED.len());
    let next = parse_request(&conn[at..], 8192).unwrap().unwrap();
    assert_eq!(next.path, "/v1/items");
}

#[test]
fn keep_alive_sequence_with_lengths() {
    let conn = b"POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhelloGET /b HTTP/1.1\r\nHost: h\r\n\r\nGET /c HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n";
    let mut at = 0;
    let mut seen = Vec::new();
    while at < conn.len() {
        let h = parse_request(&conn[at..], 8192).unwrap().unwrap();
        at += h.head_len;
        let (n, done) = BodyTracker::new(h.framing).advance(&conn[at..]).unwrap();
        assert!(done);
        at += n;
        seen.push((h.path, h.keep_alive));
    }
    assert_eq!(
        seen,
        [
            ("/a".into(), true),
            ("/b".into(), true),
            ("/c".into(), false)
        ]
    );
}

#[test]
fn rustls_hello_written_in_two_segments() {
    // A PQ hello arrives as 1448 + rest bytes (lab finding): the first read has no SNI.
    let first = &RUSTLS_HELLO[..1448];
    assert_eq!(detect(first), Detection::Tls);
    assert_eq!(
        parse_client_hello(first),
        Ok(HelloParse::Incomplete {
            at_least: RUSTLS_HELLO.len()
        })
    );
    assert!(matches!(
        parse_client_hello(RUSTLS_HELLO),
        Ok(HelloParse::Done { .. })
    ));
}

fn decisive(d: Detection) -> bool {
    d != Detection::NeedMore
}

proptest! {
    /// Once `detect` answers, more bytes never change the answer.
    #[test]
    fn detection_is_stable_under_appending(
        pieces in proptest::collection::vec(
            prop_oneof![
                Just(b"GET".to_vec()), Just(b" ".to_vec()), Just(b"/x".to_vec()),
                Just(b"HTTP/1.".to_vec()), Just(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec()),
                Just(vec![0x16, 3, 1]), Just(vec![1]), Just(b"\r\n".to_vec()),
                proptest::collection::vec(any::<u8>(), 0..4),
            ],
            0..6,
        ),
    ) {
        let buf = pieces.concat();
        let mut answer = None;
        for i in 0..=buf.len() {
            let d = detect(&buf[..i]);
            if let Some(a) = answer {
                prop_assert_eq!(d, a, "prefix {}", i);
            } else if decisive(d) {
                answer = Some(d);
            }
        }
    }

    #[test]
    fn detect_never_panics(buf in proptest::collection::vec(any::<u8>(), 0..64)) {
        let _ = detect(&buf);
    }
}
