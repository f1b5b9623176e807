//! What the client gets for a denied HTTP/2 stream (`--http2-deny stream`).
//!
//! A gRPC call (`content-type: application/grpc*`) gets what a gRPC server sends for a
//! refused call: a trailers-only response, `:status 200` with `grpc-status: 7`
//! (PERMISSION_DENIED) and a `grpc-message` naming the policy, so the client's stub
//! raises a clear error instead of an opaque transport failure. Any other request gets
//! `RST_STREAM` with `CANCEL`: not `REFUSED_STREAM`, which tells a client the request was
//! not processed and may be retried as is (it would be denied again, forever).

use bytes::Bytes;
use h2::Reason;
use h2::server::SendResponse;
use http::{HeaderValue, Response};

/// gRPC's PERMISSION_DENIED.
pub const GRPC_PERMISSION_DENIED: &str = "7";

/// Whether a request with these fields is a gRPC call (its `content-type`).
pub fn is_grpc(headers: &http::HeaderMap) -> bool {
    headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|ct| ct.as_bytes().get(..16))
        .is_some_and(|p| p.eq_ignore_ascii_case(b"application/grpc"))
}

/// Answer the denied stream; `message` says which policy denied it.
pub fn refuse(respond: &mut SendResponse<Bytes>, grpc: bool, message: &str) {
    if !grpc {
        respond.send_reset(Reason::CANCEL);
        return;
    }
    let mut response = Response::new(());
    let headers = response.headers_mut();
    headers.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/grpc"),
    );
    headers.insert(
        "grpc-status",
        HeaderValue::from_static(GRPC_PERMISSION_DENIED),
    );
    if let Ok(v) = HeaderValue::from_str(&grpc_message(message)) {
        headers.insert("grpc-message", v);
    }
    // Trailers-only: the one HEADERS frame ends the stream. Should the client have reset
    // it meanwhile, there is nobody left to tell.
    if respond.send_response(response, true).is_err() {
        respond.send_reset(Reason::CANCEL);
    }
}

/// gRPC's `grpc-message` encoding: printable ASCII except `%` as is, every other byte
/// percent-encoded (of its UTF-8 form).
fn grpc_message(message: &str) -> String {
    use std::fmt::Write as _;
    let mut out = String::with_capacity(message.len());
    for &b in message.as_bytes() {
        if (0x20..=0x7e).contains(&b) && b != b'%' {
            out.push(b as char);
        } else {
            // Writing into a String cannot fail.
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_content_types() {
        let with = |ct: Option<&'static str>| {
            let mut h = http::HeaderMap::new();
            if let Some(ct) = ct {
                h.insert(http::header::CONTENT_TYPE, HeaderValue::from_static(ct));
            }
            is_grpc(&h)
        };
        assert!(with(Some("application/grpc")));
        assert!(with(Some("application/grpc+proto")));
        assert!(with(Some("Application/GRPC-Web")));
        assert!(!with(Some("application/json")));
        assert!(!with(Some("application/grp")));
        assert!(!with(None));
    }

    #[test]
    fn message_is_percent_encoded() {
        assert_eq!(
            grpc_message("denied by default/allow-greet: 100% ünsafe\n"),
            "denied by default/allow-greet: 100%25 %C3%BCnsafe%0A"
        );
    }
}
