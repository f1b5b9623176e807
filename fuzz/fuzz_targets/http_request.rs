//! HTTP/1.x request and response heads: no panic; a parsed head fits in the input and
//! parsing only the head gives the same result; an accepted request never repeats a field
//! the proxy decides on, carries no URL/method override field, and has a canonical path.
#![no_main]

use l7proxy::classify::{BodyFraming, canonical_path, parse_request, parse_response};
use libfuzzer_sys::fuzz_target;

const MAX_HEAD: usize = 8192;

/// Read at most once in an accepted request.
const ONCE: &[&str] = &["host", "content-length", "transfer-encoding", "upgrade", "expect"];
/// Never in an accepted request (`_` read as `-`).
const OVERRIDES: &[&str] = &[
    "x-original-url",
    "x-rewrite-url",
    "x-override-url",
    "x-http-method-override",
    "x-http-method",
    "x-method-override",
    "http2-settings",
];

/// Field names of a complete head, lower-cased, `_` as `-`.
fn field_names(head: &[u8]) -> Vec<String> {
    head.split(|&b| b == b'\n')
        .skip_while(|l| matches!(*l, b"" | b"\r"))
        .skip(1)
        .filter_map(|l| {
            let colon = l.iter().position(|&b| b == b':')?;
            let name = String::from_utf8_lossy(&l[..colon]).to_ascii_lowercase();
            Some(name.replace('_', "-"))
        })
        .collect()
}

fuzz_target!(|data: &[u8]| {
    if let Ok(Some(head)) = parse_request(data, MAX_HEAD) {
        assert!(head.head_len <= data.len() && head.head_len <= MAX_HEAD);
        assert_ne!(head.framing, BodyFraming::CloseDelimited);
        assert!(head.path.is_empty() || head.path == "*" || head.path.starts_with('/'));
        if head.method != "CONNECT" {
            assert_eq!(canonical_path(&head.target), Ok(head.path.as_str()));
        }
        assert!(
            head.upgrade
                .as_deref()
                .is_none_or(|u| u.trim().eq_ignore_ascii_case("websocket")),
            "{:?}",
            head.upgrade
        );
        if let Some(host) = &head.host {
            assert!(!host.contains("..") && !host.ends_with('.'), "{host:?}");
        }
        let names = field_names(&data[..head.head_len]);
        for once in ONCE {
            let n = names.iter().filter(|n| n.as_str() == *once).count();
            assert!(n <= 1, "{once} x{n} accepted");
        }
        for o in OVERRIDES {
            assert!(!names.iter().any(|n| n == o), "{o} accepted");
        }
        assert_eq!(
            parse_request(&data[..head.head_len], MAX_HEAD),
            Ok(Some(head))
        );
    }
    for method in ["GET", "HEAD", "CONNECT"] {
        if let Ok(Some(head)) = parse_response(data, MAX_HEAD, method) {
            assert!(head.head_len <= data.len());
        }
    }
});
