//! An HTTP/2 request (RFC 9113 8.3) as policy sees it: the head the HTTP/1.x parser would
//! have produced for the same request, from the fields the HTTP/2 implementation decoded,
//! with the same checks and normal forms. A request an HTTP/1.x head would be refused for
//! (a non-canonical path, an override field, two Hosts) is refused here too, so a rule
//! means the same whichever version the client speaks.

use super::fields::scan_fields;
use super::{BodyFraming, RequestHead, classify_target, lossy};
use crate::classify::ParseError;
use crate::classify::path::authority_host;

/// What the HTTP/2 implementation decoded of one request's header block.
#[derive(Clone, Copy, Debug)]
pub struct H2Request<'a> {
    /// `:method`.
    pub method: &'a str,
    /// `:authority`, when sent.
    pub authority: Option<&'a str>,
    /// `:path` (with the query); absent only for CONNECT.
    pub path: Option<&'a str>,
    /// The regular fields, in order, as (name, value).
    pub fields: &'a [(&'a str, &'a [u8])],
}

/// [`h2_request`] of a request as the HTTP/2 implementation (the `h2` crate, `http` types)
/// hands it over: `:authority` and `:path` from its URI, the regular fields from its map.
pub fn h2_head<B>(request: &http::Request<B>) -> Result<RequestHead, ParseError> {
    let fields: Vec<(&str, &[u8])> = request
        .headers()
        .iter()
        .map(|(name, value)| (name.as_str(), value.as_bytes()))
        .collect();
    let uri = request.uri();
    h2_request(&H2Request {
        method: request.method().as_str(),
        authority: uri.authority().map(|a| a.as_str()),
        path: uri.path_and_query().map(|p| p.as_str()),
        fields: &fields,
    })
}

/// The policy view of an HTTP/2 request, or why it is refused. `head_len` is 0 and
/// `framing` [`BodyFraming::None`]: HTTP/2 frames its own bodies.
pub fn h2_request(r: &H2Request<'_>) -> Result<RequestHead, ParseError> {
    if r.method == "CONNECT" {
        // A tunnel (or extended CONNECT) carries bytes no rule has looked at.
        return Err(ParseError::Http2Connect);
    }
    let target = r.path.ok_or(ParseError::InvalidTarget)?;
    if !(target.starts_with('/') || (target == "*" && r.method == "OPTIONS")) {
        // RFC 9113 8.3.1: origin-form or `*`; an absolute URI belongs in :authority.
        return Err(ParseError::InvalidTarget);
    }
    let (_, path) = classify_target(r.method, target)?;
    let headers: Vec<httparse::Header<'_>> = r
        .fields
        .iter()
        .map(|&(name, value)| httparse::Header { name, value })
        .collect();
    let f = scan_fields(&headers, true)?;
    if f.upgrade.is_some() || f.transfer_encoding.is_some() {
        // The HTTP/2 implementation refuses both; refuse them here as well should it not.
        return Err(ParseError::InvalidTarget);
    }
    let authority = r
        .authority
        .map(authority_host)
        .transpose()?
        .map(|a| a.into_owned());
    let header = match f.host {
        None | Some([]) => None,
        Some(v) => {
            let v = std::str::from_utf8(v).map_err(|_| ParseError::InvalidHost)?;
            Some(authority_host(v)?.into_owned())
        }
    };
    // RFC 9113 8.3.1: a Host naming another entity than :authority is malformed; servers
    // differ in which one they route on.
    let host = match (authority, header) {
        (Some(a), Some(h)) if a != h => return Err(ParseError::HostMismatch),
        (Some(a), _) => Some(a),
        (None, h) => h,
    };
    Ok(RequestHead {
        method: r.method.to_owned(),
        target: target.to_owned(),
        version_minor: 1,
        http2: true,
        head_len: 0,
        host,
        path: path.to_owned(),
        user_agent: f.user_agent.map(lossy),
        content_type: f.content_type.map(lossy),
        keep_alive: true,
        upgrade: None,
        h2c_offer: false,
        expect_continue: f.expect_continue,
        framing: BodyFraming::None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req<'a>(
        method: &'a str,
        authority: Option<&'a str>,
        path: &'a str,
        fields: &'a [(&'a str, &'a [u8])],
    ) -> Result<RequestHead, ParseError> {
        h2_request(&H2Request {
            method,
            authority,
            path: Some(path),
            fields,
        })
    }

    #[test]
    fn authority_path_and_method_as_policy_reads_them() {
        let h = req(
            "POST",
            Some("Greeter.Example:50051"),
            "/helloworld.Greeter/SayHello?x=1",
            &[
                ("content-type", b"application/grpc"),
                ("user-agent", b"grpc-python/1.6"),
            ],
        )
        .unwrap();
        assert_eq!(h.method, "POST");
        assert_eq!(h.host.as_deref(), Some("greeter.example"));
        assert_eq!(h.path, "/helloworld.Greeter/SayHello");
        assert_eq!(h.target, "/helloworld.Greeter/SayHello?x=1");
        assert_eq!(h.content_type.as_deref(), Some("application/grpc"));
        assert_eq!(h.protocol(), "HTTP/2");
    }

    #[test]
    fn host_field_stands_in_for_a_missing_authority() {
        let h = req("GET", None, "/", &[("host", b"Web.Example.")]).unwrap();
        assert_eq!(h.host.as_deref(), Some("web.example"));
        assert_eq!(req("GET", None, "/", &[]).unwrap().host, None);
    }

    #[test]
    fn refused_like_an_http1_head() {
        type Case<'a> = (&'a str, Option<&'a str>, &'a str, &'a [(&'a str, &'a [u8])]);
        let cases: [Case<'_>; 7] = [
            ("GET", Some("a.example"), "/api/../admin", &[]),
            ("GET", Some("a.example"), "/api/%2e%2e/admin", &[]),
            ("GET", Some("a.example"), "//admin", &[]),
            ("GET", Some("a.example"), "http://b.example/admin", &[]),
            ("GET", Some("a.example"), "/", &[("host", b"b.example")]),
            (
                "GET",
                Some("a.example"),
                "/",
                &[("x-http-method-override", b"DELETE")],
            ),
            (
                "GET",
                None,
                "/",
                &[("host", b"a.example"), ("host", b"b.example")],
            ),
        ];
        for (method, authority, path, fields) in cases {
            assert!(
                req(method, authority, path, fields).is_err(),
                "{method} {authority:?} {path} {fields:?} passed"
            );
        }
    }

    #[test]
    fn connect_is_refused() {
        let r = h2_request(&H2Request {
            method: "CONNECT",
            authority: Some("db.internal:5432"),
            path: None,
            fields: &[],
        });
        assert!(matches!(r, Err(ParseError::Http2Connect)), "{r:?}");
    }
}
