//! The body tracker in every framing and every split of its input; head parsing as the
//! request loop relies on it (the parsers themselves are tested in `classify`).

use super::*;
use crate::classify::{RequestHead, parse_request};

fn req(s: &str) -> Result<Option<RequestHead>, ParseError> {
    parse_request(s.as_bytes(), 65536)
}

#[test]
fn request_head_fields_and_length() {
    let raw = "GET /b?q=/../ HTTP/1.1\r\nHost: Foo.Bar.com:8080\r\nUser-Agent: curl/8\r\n\r\nNEXT";
    let h = req(raw).unwrap().unwrap();
    assert_eq!(h.method, "GET");
    assert_eq!(h.target, "/b?q=/../");
    assert_eq!(h.path, "/b");
    assert_eq!(h.protocol(), "HTTP/1.1");
    assert_eq!(h.host.as_deref(), Some("foo.bar.com"));
    assert_eq!(&raw[h.head_len..], "NEXT");
    assert_eq!(h.framing, BodyFraming::None);
    assert!(!h.is_connect());
    assert_eq!(req("GET / HTTP/1.1\r\nHost: a\r\n"), Ok(None));
}

#[test]
fn smuggling_shapes_are_errors() {
    for bad in [
        "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n",
        "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: a\r\nX-A: 1\r\n  folded\r\n\r\n",
    ] {
        assert!(req(bad).is_err(), "{bad:?} accepted");
    }
}

fn run_body(
    framing: BodyFraming,
    input: &[u8],
    step: usize,
) -> (Result<usize, ParseError>, bool, u64) {
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
        let (r, done, payload) = run_body(BodyFraming::Chunked, &input, step);
        assert_eq!(r, Ok(body.len()), "step {step}");
        assert!(done);
        assert_eq!(payload, body.len() as u64);
    }
}

#[test]
fn malformed_chunks_are_errors() {
    for bad in [&b"zz\r\n"[..], b"5\r\nhelloXX", b"5\r\nhello\r\n\r\n"] {
        assert!(
            run_body(BodyFraming::Chunked, bad, 64).0.is_err(),
            "{bad:?}"
        );
    }
}

#[test]
fn length_and_close_delimited_bodies() {
    let (r, done, payload) = run_body(BodyFraming::Length(4), b"abcdEXTRA", 3);
    assert_eq!((r, done, payload), (Ok(4), true, 4));
    let (r, done, _) = run_body(BodyFraming::Length(10), b"abc", 3);
    assert_eq!((r, done), (Ok(3), false));
    let mut empty = Body::new(BodyFraming::None);
    assert!(empty.is_done());
    assert_eq!(empty.advance(b"GET"), Ok(0));
    let mut until = Body::new(BodyFraming::CloseDelimited);
    assert_eq!(until.advance(b"anything"), Ok(8));
    assert!(until.until_close() && !until.is_done());
}
