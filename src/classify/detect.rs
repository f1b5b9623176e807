//! First-bytes protocol detection. It looks only at a prefix and answers `NeedMore` while
//! that prefix could still become a recognised protocol, so a slow or split first segment
//! never gets misclassified; the data path bounds the wait with its own timeout and buffer.

use super::Detection;

/// The HTTP/2 client connection preface (RFC 9113 3.4).
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
/// Longest method token accepted as HTTP/1 (real methods are short; this bounds the scan).
const MAX_METHOD: usize = 32;

/// Look at the first bytes without consuming them.
pub fn detect(buf: &[u8]) -> Detection {
    let Some(&first) = buf.first() else {
        return Detection::NeedMore;
    };
    if first == 0x16 {
        return detect_tls(buf);
    }
    if buf.starts_with(H2_PREFACE) {
        return Detection::Http2;
    }
    match detect_http1(buf) {
        // A prefix of the preface is also a plausible `PRI ...` HTTP/1 request line.
        Detection::Other if H2_PREFACE.starts_with(buf) => Detection::NeedMore,
        d => d,
    }
}

/// Record type 22, version 3.x (x <= 4), handshake type 1.
fn detect_tls(buf: &[u8]) -> Detection {
    type Check = fn(u8) -> bool;
    let checks: [(usize, Check); 3] = [(1, |b| b == 3), (2, |b| b <= 4), (5, |b| b == 1)];
    for (idx, ok) in checks {
        match buf.get(idx) {
            None => return Detection::NeedMore,
            Some(&b) if !ok(b) => return Detection::Other,
            Some(_) => {}
        }
    }
    Detection::Tls
}

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// `token SP 1*VCHAR SP "HTTP/1."`, answering as soon as the prefix decides it.
fn detect_http1(buf: &[u8]) -> Detection {
    const VERSION: &[u8] = b"HTTP/1.";
    let method_len = buf.iter().take_while(|&&b| is_tchar(b)).count();
    if method_len > MAX_METHOD {
        return Detection::Other;
    }
    let rest = &buf[method_len..];
    let Some((&sp, rest)) = rest.split_first() else {
        return Detection::NeedMore;
    };
    if method_len == 0 || sp != b' ' {
        return Detection::Other;
    }
    let target_len = rest
        .iter()
        .take_while(|&&b| (0x21..=0x7e).contains(&b))
        .count();
    let after = &rest[target_len..];
    let Some((&sp, version)) = after.split_first() else {
        return Detection::NeedMore;
    };
    if target_len == 0 || sp != b' ' {
        return Detection::Other;
    }
    let n = version.len().min(VERSION.len());
    if version[..n] != VERSION[..n] {
        Detection::Other
    } else if n < VERSION.len() {
        Detection::NeedMore
    } else {
        Detection::Http1
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Detection::*;

    #[test]
    fn table() {
        let cases: &[(&[u8], Detection)] = &[
            (b"", NeedMore),
            (b"G", NeedMore),
            (b"GET", NeedMore),
            (b"GET ", NeedMore),
            (b"GET /a", NeedMore),
            (b"GET /a ", NeedMore),
            (b"GET /a HTTP/1", NeedMore),
            (b"GET /a HTTP/1.", Http1),
            (b"GET /a HTTP/1.1\r\n", Http1),
            (b"OPTIONS * HTTP/1.0\r\n", Http1),
            (b"CONNECT a:443 HTTP/1.1\r\n", Http1),
            (b"GET /a HTTP/2.0\r\n", Other),
            (b"GET  /a HTTP/1.1", Other),
            (b"GET /a\0 HTTP/1.1", Other),
            (b"GET /a\tHTTP/1.1", Other),
            (b" GET /", Other),
            (b"\r\nGET / HTTP/1.1", Other),
            (b"G\xffT / HTTP/1.1", Other),
            (b"SSH-2.0-OpenSSH_9.6\r\n", Other),
            (b"PRI", NeedMore),
            (b"PRI * HTTP/2.0\r\n", NeedMore),
            (H2_PREFACE, Http2),
            (b"PRI * HTTP/1.1\r\n", Http1),
            (b"\x16", NeedMore),
            (b"\x16\x03\x01\x02\x00", NeedMore),
            (b"\x16\x03\x01\x02\x00\x01", Tls),
            (b"\x16\x03\x01\x02\x00\x02", Other),
            (b"\x16\x02", Other),
            (b"\x16\x03\x09", Other),
            (b"\x17\x03\x03\x00\x10", Other),
        ];
        for (input, want) in cases {
            assert_eq!(detect(input), *want, "{:?}", String::from_utf8_lossy(input));
        }
    }

    #[test]
    fn long_method_is_other() {
        let mut buf = vec![b'A'; MAX_METHOD + 1];
        buf.extend_from_slice(b" / HTTP/1.1");
        assert_eq!(detect(&buf), Other);
        assert_eq!(detect(&buf[..MAX_METHOD]), NeedMore);
    }

    #[test]
    fn prefixes_never_flip_to_other() {
        let full: &[&[u8]] = &[b"DELETE /x/y?z=1 HTTP/1.", H2_PREFACE];
        for f in full {
            for i in 0..f.len() {
                assert_eq!(detect(&f[..i]), NeedMore, "{i}");
            }
        }
    }
}
