//! HTTP/1.x request and response heads: no panic; a parsed head fits in the input and
//! parsing only the head gives the same result.
#![no_main]

use l7proxy::classify::{BodyFraming, parse_request, parse_response};
use libfuzzer_sys::fuzz_target;

const MAX_HEAD: usize = 8192;

fuzz_target!(|data: &[u8]| {
    if let Ok(Some(head)) = parse_request(data, MAX_HEAD) {
        assert!(head.head_len <= data.len() && head.head_len <= MAX_HEAD);
        assert_ne!(head.framing, BodyFraming::CloseDelimited);
        assert!(head.path.is_empty() || head.path == "*" || head.path.starts_with('/'));
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
