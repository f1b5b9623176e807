//! Removing an `Upgrade: h2c` offer (RFC 7540 3.2) from a request head, so the server
//! answers in HTTP/1.1 and the connection stays one the proxy reads request by request.
//! Clients that offer h2c (`curl --http2` on an `http://` URL) carry on in HTTP/1.1 when
//! the server does not switch; upgrading instead would need the offer's `HTTP2-Settings`
//! and the proxy's own HTTP/2 session on both sides, for no gain over prior knowledge.

/// `head` (a complete request head the parser accepted with
/// [`super::RequestHead::h2c_offer`]) without its `Upgrade` and `HTTP2-Settings` fields and
/// without the `upgrade` and `http2-settings` tokens of `Connection` (the field dropped when
/// nothing else is left in it). Every other byte is forwarded as sent.
pub fn strip_h2c_offer(head: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(head.len());
    let mut in_fields = false;
    for line in head.split_inclusive(|&b| b == b'\n') {
        let body = line.strip_suffix(b"\n").unwrap_or(line);
        let body_no_cr = body.strip_suffix(b"\r").unwrap_or(body);
        let eol = &line[body_no_cr.len()..];
        if !in_fields {
            // Empty lines before the request line (skipped by the parser), then the line.
            in_fields = !body_no_cr.is_empty();
            out.extend_from_slice(line);
            continue;
        }
        let Some(colon) = body_no_cr.iter().position(|&b| b == b':') else {
            // The empty line that ends the head.
            out.extend_from_slice(line);
            continue;
        };
        let name = &body_no_cr[..colon];
        if name.eq_ignore_ascii_case(b"upgrade") || name.eq_ignore_ascii_case(b"http2-settings") {
            continue;
        }
        if name.eq_ignore_ascii_case(b"connection") {
            let kept: Vec<&[u8]> = body_no_cr[colon + 1..]
                .split(|&b| b == b',')
                .map(<[u8]>::trim_ascii)
                .filter(|t| {
                    !t.is_empty()
                        && !t.eq_ignore_ascii_case(b"upgrade")
                        && !t.eq_ignore_ascii_case(b"http2-settings")
                })
                .collect();
            if !kept.is_empty() {
                out.extend_from_slice(name);
                out.extend_from_slice(b": ");
                out.extend_from_slice(&kept.join(&b", "[..]));
                out.extend_from_slice(eol);
            }
            continue;
        }
        out.extend_from_slice(line);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classify::parse_request;

    const OFFER: &str = "GET /public/a HTTP/1.1\r\nHost: web\r\nUser-Agent: curl/8\r\n\
        Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n\
        HTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\nAccept: */*\r\n\r\n";

    #[test]
    fn the_offer_goes_and_everything_else_stays() {
        let head = parse_request(OFFER.as_bytes(), 8192).unwrap().unwrap();
        assert!(head.h2c_offer && head.upgrade.is_none());
        let out = strip_h2c_offer(OFFER.as_bytes());
        assert_eq!(
            String::from_utf8(out.clone()).unwrap(),
            "GET /public/a HTTP/1.1\r\nHost: web\r\nUser-Agent: curl/8\r\nAccept: */*\r\n\r\n"
        );
        let again = parse_request(&out, 8192).unwrap().unwrap();
        assert!(!again.h2c_offer && again.upgrade.is_none());
        assert_eq!((again.path, again.host), (head.path, head.host));
    }

    #[test]
    fn other_connection_tokens_and_bare_lf_are_kept() {
        let raw = "GET / HTTP/1.1\nHost: a\nconnection: keep-alive, upgrade,HTTP2-Settings\n\
            upgrade: H2C\nhttp2-settings: AAMA\n\n";
        assert!(
            parse_request(raw.as_bytes(), 8192)
                .unwrap()
                .unwrap()
                .h2c_offer
        );
        assert_eq!(
            String::from_utf8(strip_h2c_offer(raw.as_bytes())).unwrap(),
            "GET / HTTP/1.1\nHost: a\nconnection: keep-alive\n\n"
        );
    }
}
