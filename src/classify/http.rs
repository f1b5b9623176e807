//! HTTP/1.x request and response heads: `httparse` does the syntax, this module adds the
//! checks a policy-enforcing intermediary needs on top (RFC 9112 message framing, Host
//! rules, request-line bytes) so that we and the server can never disagree on where a
//! request ends or what it is for — no request smuggling through us.
//!
//! Hot path: headers are parsed into a stack array; the only allocations are the owned
//! strings of the returned head.

use super::ParseError;
use super::path::{authority_host, check_authority, normalize_host, split_target};

mod fields;
mod h2;
mod h2c;

use fields::{Fields, scan_fields, tokens};
pub use h2::{H2Request, h2_head, h2_request};
pub use h2c::strip_h2c_offer;

/// Header fields accepted per head; more is [`ParseError::TooManyHeaders`].
pub const DEFAULT_MAX_HEADERS: usize = 100;

/// Where a message body ends (RFC 9112 6.3). The bytes are forwarded unchanged; this only
/// says how to find the end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodyFraming {
    /// No body.
    None,
    /// Exactly this many bytes (may be 0).
    Length(u64),
    /// `Transfer-Encoding: ..., chunked`: track with [`super::ChunkedDecoder`].
    Chunked,
    /// Responses only: the body runs until the server closes the connection.
    CloseDelimited,
}

/// A parsed HTTP/1.x request head.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestHead {
    /// Method token as sent (case-sensitive, e.g. `GET`).
    pub method: String,
    /// Request target exactly as sent.
    pub target: String,
    /// `1` for HTTP/1.1, `0` for HTTP/1.0 (and `1` for HTTP/2).
    pub version_minor: u8,
    /// An HTTP/2 stream ([`h2_request`]), not an HTTP/1.x head.
    pub http2: bool,
    /// Bytes of the head including the final empty line; the body starts here.
    pub head_len: usize,
    /// Host as policy matches it ([`super::normalize_host`]) from the absolute-form or
    /// authority-form target, else from Host; `None` when Host is absent (HTTP/1.0) or
    /// empty.
    pub host: Option<String>,
    /// The path exactly as sent, without the query, checked canonical
    /// ([`super::canonical_path`]); `/` for an absolute-form target with an empty path;
    /// `*` for asterisk-form; empty for CONNECT.
    pub path: String,
    pub user_agent: Option<String>,
    pub content_type: Option<String>,
    /// The client allows the connection to stay open after this exchange
    /// (HTTP/1.1 unless `Connection: close`; HTTP/1.0 only with `keep-alive`).
    pub keep_alive: bool,
    /// The `Upgrade` token: only ever a single `websocket` token (as sent, without list
    /// punctuation) sent with `Connection: upgrade` (any other upgrade is refused by the
    /// parser, or removed: [`RequestHead::h2c_offer`]).
    pub upgrade: Option<String>,
    /// A well-formed `Upgrade: h2c` offer (a single `h2c` token, `Connection: upgrade` and
    /// `HTTP2-Settings`): forwarded without it ([`strip_h2c_offer`]), so the server
    /// answers in HTTP/1.1.
    pub h2c_offer: bool,
    /// `Expect: 100-continue` was sent.
    pub expect_continue: bool,
    /// Request body framing: never [`BodyFraming::CloseDelimited`].
    pub framing: BodyFraming,
}

/// A parsed HTTP/1.x response head.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResponseHead {
    pub status: u16,
    pub version_minor: u8,
    /// Bytes of the head including the final empty line.
    pub head_len: usize,
    pub content_type: Option<String>,
    /// `Upgrade` is a single `websocket` token (what a 101 must switch to).
    pub upgrade_websocket: bool,
    /// The server keeps the connection open after this response.
    pub keep_alive: bool,
    /// Body framing given the status and the request method.
    pub framing: BodyFraming,
}

impl RequestHead {
    pub fn is_connect(&self) -> bool {
        self.method == "CONNECT"
    }

    /// `HTTP/1.0`, `HTTP/1.1` or `HTTP/2`, as events name it.
    pub fn protocol(&self) -> &'static str {
        if self.http2 {
            "HTTP/2"
        } else if self.version_minor == 0 {
            "HTTP/1.0"
        } else {
            "HTTP/1.1"
        }
    }

    /// Why this request's body is refused, if it is: a non-empty body (`Content-Length`
    /// above 0, or chunked) on GET, HEAD, TRACE or CONNECT. Servers that ignore such a
    /// body (Python `http.server`) read it as the next request, one the proxy never
    /// checked; a CONNECT body would be tunnel data. `allow_get_body` lets bodies on GET
    /// and HEAD through (framed as usual); TRACE and CONNECT never carry one (RFC 9110
    /// 9.3.8, 9.3.6).
    pub fn body_refusal(&self, allow_get_body: bool) -> Option<ParseError> {
        if matches!(self.framing, BodyFraming::None | BodyFraming::Length(0)) {
            return None;
        }
        match self.method.as_str() {
            "GET" if !allow_get_body => Some(ParseError::BodyNotAllowed("GET")),
            "HEAD" if !allow_get_body => Some(ParseError::BodyNotAllowed("HEAD")),
            "TRACE" => Some(ParseError::BodyNotAllowed("TRACE")),
            "CONNECT" => Some(ParseError::BodyNotAllowed("CONNECT")),
            _ => None,
        }
    }
}

impl ResponseHead {
    /// 1xx other than 101: the real response for the same request follows.
    pub fn is_interim(&self) -> bool {
        (100..200).contains(&self.status) && self.status != 101
    }

    /// `101 Switching Protocols`: after this head the connection carries opaque bytes.
    pub fn is_switching_protocols(&self) -> bool {
        self.status == 101
    }
}

/// The head length from httparse's answer: `None` while the head is incomplete and still
/// within `max_head`; a head that ends (or would end) beyond `max_head` is too large.
fn head_len(
    parsed: httparse::Result<usize>,
    buf: &[u8],
    max_head: usize,
) -> Result<Option<usize>, ParseError> {
    match parsed {
        Ok(httparse::Status::Complete(n)) if n <= max_head => Ok(Some(n)),
        Ok(httparse::Status::Complete(_)) => Err(ParseError::HeadTooLarge { max: max_head }),
        Ok(httparse::Status::Partial) if buf.len() >= max_head => {
            Err(ParseError::HeadTooLarge { max: max_head })
        }
        Ok(httparse::Status::Partial) => Ok(None),
        Err(e) => Err(diagnose(buf, e)),
    }
}

/// Parse a request head from the start of `buf` (which may also hold body or pipelined
/// bytes after it). `Ok(None)`: need more bytes. A head that is not complete within
/// `max_head` bytes is [`ParseError::HeadTooLarge`].
pub fn parse_request(buf: &[u8], max_head: usize) -> Result<Option<RequestHead>, ParseError> {
    check_request_line(buf)?;
    let mut headers = [httparse::EMPTY_HEADER; DEFAULT_MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    let Some(head_len) = head_len(req.parse(buf), buf, max_head)? else {
        return Ok(None);
    };
    // httparse guarantees these on Complete; the defaults are unreachable.
    let method = req.method.unwrap_or_default();
    let target = req.path.unwrap_or_default();
    let version_minor = req.version.unwrap_or_default();
    let f = scan_fields(req.headers, true)?;

    let (authority, path) = classify_target(method, target)?;
    let host = resolve_host(authority, &f, version_minor)?;
    let upgrade = check_upgrade(&f)?;
    let framing = match (f.transfer_encoding, f.content_length) {
        (Some(_), _) if version_minor == 0 => return Err(ParseError::TransferEncodingHttp10),
        (Some(_), Some(_)) => return Err(ParseError::LengthAndChunked),
        (Some(te), None) if te.ends_chunked => BodyFraming::Chunked,
        (Some(_), None) => return Err(ParseError::TransferEncodingNotChunked),
        (None, Some(n)) => BodyFraming::Length(n),
        (None, None) => BodyFraming::None,
    };
    Ok(Some(RequestHead {
        method: method.to_owned(),
        target: target.to_owned(),
        version_minor,
        http2: false,
        head_len,
        host,
        path: path.to_owned(),
        user_agent: f.user_agent.map(lossy),
        content_type: f.content_type.map(lossy),
        keep_alive: f.keep_alive(version_minor),
        upgrade: match upgrade {
            Upgrade::WebSocket(v) => Some(lossy(v)),
            Upgrade::None | Upgrade::H2cOffer => None,
        },
        h2c_offer: matches!(upgrade, Upgrade::H2cOffer),
        expect_continue: f.expect_continue,
        framing,
    }))
}

/// Parse a response head. `request_method` is the method of the request it answers
/// (HEAD and CONNECT change the framing).
pub fn parse_response(
    buf: &[u8],
    max_head: usize,
    request_method: &str,
) -> Result<Option<ResponseHead>, ParseError> {
    let mut headers = [httparse::EMPTY_HEADER; DEFAULT_MAX_HEADERS];
    let mut resp = httparse::Response::new(&mut headers);
    let Some(head_len) = head_len(resp.parse(buf), buf, max_head)? else {
        return Ok(None);
    };
    let status = resp.code.unwrap_or_default();
    let version_minor = resp.version.unwrap_or_default();
    if status < 100 {
        return Err(ParseError::InvalidResponse("status code below 100"));
    }
    let f = scan_fields(resp.headers, false)?;
    let bodiless = (100..200).contains(&status)
        || status == 204
        || status == 304
        || request_method == "HEAD"
        || (request_method == "CONNECT" && (200..300).contains(&status));
    let framing = match (f.transfer_encoding, f.content_length) {
        (Some(_), _) if version_minor == 0 => return Err(ParseError::TransferEncodingHttp10),
        (Some(_), Some(_)) => return Err(ParseError::LengthAndChunked),
        _ if bodiless => BodyFraming::None,
        (Some(te), None) if te.ends_chunked => BodyFraming::Chunked,
        (Some(_), None) => BodyFraming::CloseDelimited,
        (None, Some(n)) => BodyFraming::Length(n),
        (None, None) => BodyFraming::CloseDelimited,
    };
    let keep_alive = f.keep_alive(version_minor) && framing != BodyFraming::CloseDelimited;
    Ok(Some(ResponseHead {
        status,
        version_minor,
        head_len,
        content_type: f.content_type.map(lossy),
        upgrade_websocket: f.upgrade.is_some_and(single_websocket),
        keep_alive,
        framing,
    }))
}

fn lossy(v: &[u8]) -> String {
    String::from_utf8_lossy(v).into_owned()
}

fn is_websocket(token: &[u8]) -> bool {
    token.eq_ignore_ascii_case(b"websocket")
}

fn single_websocket(v: &[u8]) -> bool {
    let mut t = tokens(v);
    t.next().is_some_and(is_websocket) && t.next().is_none()
}

/// What a request's `Upgrade` asks for, once checked.
enum Upgrade<'a> {
    None,
    /// The single `websocket` token, as sent.
    WebSocket(&'a [u8]),
    /// A well-formed h2c offer, removed before forwarding.
    H2cOffer,
}

/// The only upgrade allowed through an `http` rule is WebSocket: a single `websocket`
/// token in a single `Upgrade` field, with `upgrade` in `Connection`. A well-formed h2c
/// offer (a single `h2c` token, `Connection: upgrade` and `HTTP2-Settings`) is accepted to
/// be removed: the server then answers in HTTP/1.1. Anything else — several protocols,
/// `h2c` next to another token or without its companions, after which a server might
/// switch to HTTP/2 the proxy would relay unchecked — is refused, as is `HTTP2-Settings`
/// on its own.
fn check_upgrade<'a>(f: &Fields<'a>) -> Result<Upgrade<'a>, ParseError> {
    let Some(v) = f.upgrade else {
        return match f.http2_settings {
            true => Err(ParseError::Http2Settings),
            false => Ok(Upgrade::None),
        };
    };
    let mut t = tokens(v);
    if t.next().is_some_and(|t| t.eq_ignore_ascii_case(b"h2c"))
        && t.next().is_none()
        && f.http2_settings
        && f.conn_upgrade
    {
        return Ok(Upgrade::H2cOffer);
    }
    if let Some(other) = tokens(v).find(|t| !is_websocket(t)) {
        // Bounded: the reason goes into events.
        let other = String::from_utf8_lossy(&other[..other.len().min(32)]).into_owned();
        return Err(ParseError::UpgradeNotSupported(other));
    }
    if !single_websocket(v) {
        return Err(ParseError::UpgradeList);
    }
    if f.http2_settings {
        return Err(ParseError::Http2Settings);
    }
    if !f.conn_upgrade {
        return Err(ParseError::UpgradeWithoutConnection);
    }
    // The token itself, without the empty list elements (`websocket,`) a list may carry.
    Ok(Upgrade::WebSocket(tokens(v).next().unwrap_or(v)))
}

/// Reject control, NUL and non-ASCII bytes in the request line (httparse tolerates some
/// of them in the target), even before the line is complete.
fn check_request_line(buf: &[u8]) -> Result<(), ParseError> {
    // httparse skips empty lines before the request line; do the same.
    let mut start = 0;
    while let Some(rest) = buf.get(start..) {
        if rest.starts_with(b"\r\n") {
            start += 2;
        } else if rest.starts_with(b"\n") {
            start += 1;
        } else {
            break;
        }
    }
    let line = buf.get(start..).unwrap_or_default();
    let line = match line.iter().position(|&b| b == b'\n') {
        Some(end) => line[..end].strip_suffix(b"\r").unwrap_or(&line[..end]),
        None => line,
    };
    match line
        .iter()
        .find(|&&b| !(b == b' ' || (0x21..=0x7e).contains(&b)))
    {
        // A lone trailing CR of a partial line is the start of its CRLF.
        Some(b'\r') if line.last() == Some(&b'\r') && !line[..line.len() - 1].contains(&b'\r') => {
            Ok(())
        }
        Some(&b) => Err(ParseError::RequestLineByte(b)),
        None => Ok(()),
    }
}

/// Give httparse's generic error a precise name where we can.
fn diagnose(buf: &[u8], e: httparse::Error) -> ParseError {
    let folded = buf
        .split(|&b| b == b'\n')
        .skip(1)
        .take_while(|l| !matches!(*l, b"" | b"\r"));
    if folded
        .into_iter()
        .any(|l| matches!(l.first(), Some(b' ' | b'\t')))
    {
        return ParseError::ObsFold;
    }
    match e {
        httparse::Error::TooManyHeaders => ParseError::TooManyHeaders,
        e => ParseError::Syntax(e),
    }
}

/// Check the target's form against the method; return its authority (absolute- and
/// authority-form) and the path policy matches ([`split_target`]).
fn classify_target<'t>(
    method: &str,
    target: &'t str,
) -> Result<(Option<&'t str>, &'t str), ParseError> {
    if method == "CONNECT" {
        let has_port = target.rsplit_once(':').is_some_and(|(_, p)| !p.is_empty());
        check_authority(target).map_err(|e| match e {
            ParseError::HostEmptyLabel => e,
            _ => ParseError::InvalidTarget,
        })?;
        if !has_port {
            return Err(ParseError::InvalidTarget);
        }
        return Ok((Some(target), ""));
    }
    let (authority, path) = split_target(target)?;
    if path == "*" && method != "OPTIONS" {
        return Err(ParseError::InvalidTarget);
    }
    if let Some(a) = authority {
        check_authority(a)?;
    }
    Ok((authority, path))
}

/// RFC 9112 3.2: exactly one valid Host in HTTP/1.1 (a second one is refused while the
/// fields are read); a target authority wins but must name the same host as Host
/// (servers disagree on which one they use).
fn resolve_host(
    authority: Option<&str>,
    f: &Fields<'_>,
    minor: u8,
) -> Result<Option<String>, ParseError> {
    let header = match f.host {
        None if minor >= 1 => return Err(ParseError::MissingHost),
        None | Some([]) => None,
        Some(v) => {
            let v = std::str::from_utf8(v).map_err(|_| ParseError::InvalidHost)?;
            Some(authority_host(v)?)
        }
    };
    match (authority.map(normalize_host), header) {
        (Some(a), Some(h)) if a != h => Err(ParseError::HostMismatch),
        (Some(a), _) => Ok(Some(a.into_owned())),
        (None, h) => Ok(h.map(|h| h.into_owned())),
    }
}

#[cfg(test)]
mod tests;
