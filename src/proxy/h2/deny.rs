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

/// Whether a request with this `content-type` is a gRPC call.
pub fn is_grpc(content_type: Option<&str>) -> bool {
    content_type.is_some_and(|ct| {
        ct.get(..16)
            .is_some_and(|p| p.eq_ignore_ascii_case("application/grpc"))
    })
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
        assert!(is_grpc(Some("application/grpc")));
        assert!(is_grpc(Some("application/grpc+proto")));
        assert!(is_grpc(Some("Application/GRPC-Web")));
        assert!(!is_grpc(Some("application/json")));
        assert!(!is_grpc(Some("application/grp")));
        assert!(!is_grpc(None));
    }

    #[test]
    fn message_is_percent_encoded() {
        assert_eq!(
            grpc_message("denied by default/allow-greet: 100% ünsafe\n"),
            "denied by default/allow-greet: 100%25 %C3%BCnsafe%0A"
        );
    }
}
