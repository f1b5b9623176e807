//! The header fields that decide framing, routing, switching and connection reuse,
//! collected in one pass with the duplicate/validity rules of RFC 9110/9112 applied.
//!
//! Every field read here to decide something is read exactly once: a repeated one is an
//! error, because servers disagree on which copy wins (the first, the last, or all of
//! them) and the proxy must decide on what the server acts on. The one exception is
//! `Connection`, whose tokens are a list: all copies are read and their tokens united,
//! which is what every server does.

use crate::classify::ParseError;

/// Transfer codings we can forward (we never decode them, only find the body's end).
const KNOWN_CODINGS: &[&str] = &[
    "chunked",
    "gzip",
    "x-gzip",
    "deflate",
    "compress",
    "x-compress",
];

#[derive(Clone, Copy, Debug, Default)]
pub(super) struct TransferEncoding {
    /// The final coding is `chunked` (and it appears only once).
    pub ends_chunked: bool,
}

#[derive(Debug, Default)]
pub(super) struct Fields<'a> {
    pub host: Option<&'a [u8]>,
    pub content_length: Option<u64>,
    pub transfer_encoding: Option<TransferEncoding>,
    pub conn_close: bool,
    pub conn_keep_alive: bool,
    pub conn_upgrade: bool,
    pub upgrade: Option<&'a [u8]>,
    /// `HTTP2-Settings` is present (the h2c upgrade's companion field).
    pub http2_settings: bool,
    pub user_agent: Option<&'a [u8]>,
    pub content_type: Option<&'a [u8]>,
    pub expect_continue: bool,
}

impl Fields<'_> {
    pub fn keep_alive(&self, minor: u8) -> bool {
        !self.conn_close && (minor >= 1 || self.conn_keep_alive)
    }
}

/// The tokens of a comma-separated list field, trimmed, empty elements skipped.
pub(super) fn tokens(v: &[u8]) -> impl Iterator<Item = &[u8]> {
    v.split(|&b| b == b',')
        .map(<[u8]>::trim_ascii)
        .filter(|t| !t.is_empty())
}

/// Request fields that make frameworks route to another URL or run another method than
/// the request line says (`X-Original-URL` in Symfony/Laravel/IIS, method overrides in
/// Express `method-override`, Rails, Spring). The rule was matched against the request
/// line, so a request carrying one is refused. Compared with `_` equal to `-`: CGI, WSGI
/// and PHP map both spellings to the same `HTTP_X_ORIGINAL_URL` variable.
const OVERRIDE_FIELDS: &[&str] = &[
    "X-Original-URL",
    "X-Rewrite-URL",
    "X-Override-URL",
    "X-HTTP-Method-Override",
    "X-HTTP-Method",
    "X-Method-Override",
];

/// `name` equals `want` ignoring ASCII case, with `_` in `name` read as `-`.
fn same_field_cgi(name: &[u8], want: &str) -> bool {
    name.len() == want.len()
        && name.iter().zip(want.bytes()).all(|(&a, b)| {
            let a = if a == b'_' { b'-' } else { a };
            a.eq_ignore_ascii_case(&b)
        })
}

/// The override field `name` is, if any. Only called for names of a length one of them
/// has, so ordinary fields cost one length compare.
fn override_field(name: &[u8]) -> Option<&'static str> {
    OVERRIDE_FIELDS
        .iter()
        .copied()
        .find(|want| same_field_cgi(name, want))
}

/// Fail with [`ParseError::DuplicateField`] when `seen` is already set.
fn once(seen: &mut bool, name: &'static str) -> Result<(), ParseError> {
    if std::mem::replace(seen, true) {
        return Err(ParseError::DuplicateField(name));
    }
    Ok(())
}

/// Collect the interesting fields. `request`: apply the request-only rules (Host, Expect,
/// `HTTP2-Settings`, override fields, unknown transfer codings refused); a response with
/// an unknown coding is simply read until close.
pub(super) fn scan_fields<'a>(
    headers: &[httparse::Header<'a>],
    request: bool,
) -> Result<Fields<'a>, ParseError> {
    let mut f = Fields::default();
    let (mut host_seen, mut expect_seen, mut upgrade_seen) = (false, false, false);
    let mut chunked_count = 0;
    let mut last_chunked = false;
    for h in headers {
        let name = h.name.as_bytes();
        let value = h.value.trim_ascii();
        let is = |want: &[u8]| name.eq_ignore_ascii_case(want);
        // Dispatch on length first: one integer compare rejects most headers.
        match name.len() {
            4 if request && is(b"host") => {
                once(&mut host_seen, "Host")?;
                f.host = Some(value);
            }
            14 if is(b"content-length") => {
                if f.content_length.is_some() || value.contains(&b',') {
                    return Err(ParseError::DuplicateContentLength);
                }
                f.content_length = Some(parse_length(value)?);
            }
            17 if is(b"transfer-encoding") => {
                if f.transfer_encoding.is_some() {
                    return Err(ParseError::DuplicateField("Transfer-Encoding"));
                }
                f.transfer_encoding = Some(TransferEncoding::default());
                for t in tokens(value) {
                    let chunked = t.eq_ignore_ascii_case(b"chunked");
                    let known = KNOWN_CODINGS
                        .iter()
                        .any(|k| t.eq_ignore_ascii_case(k.as_bytes()));
                    if request && !known {
                        return Err(ParseError::UnsupportedTransferCoding);
                    }
                    chunked_count += usize::from(chunked);
                    last_chunked = chunked;
                }
            }
            10 if is(b"connection") => {
                for t in tokens(value) {
                    f.conn_close |= t.eq_ignore_ascii_case(b"close");
                    f.conn_keep_alive |= t.eq_ignore_ascii_case(b"keep-alive");
                    f.conn_upgrade |= t.eq_ignore_ascii_case(b"upgrade");
                }
            }
            7 if is(b"upgrade") => {
                once(&mut upgrade_seen, "Upgrade")?;
                f.upgrade = Some(value);
            }
            14 if request && is(b"http2-settings") => f.http2_settings = true,
            10 if is(b"user-agent") => {
                f.user_agent.get_or_insert(value);
            }
            12 if is(b"content-type") => {
                f.content_type.get_or_insert(value);
            }
            6 if request && is(b"expect") => {
                once(&mut expect_seen, "Expect")?;
                f.expect_continue = value.eq_ignore_ascii_case(b"100-continue");
            }
            13 | 14 | 17 | 22 if request => {
                if let Some(field) = override_field(name) {
                    return Err(ParseError::OverrideField(field));
                }
            }
            _ => {}
        }
    }
    if let Some(te) = f.transfer_encoding.as_mut() {
        if chunked_count > 1 || (request && !last_chunked) {
            return Err(ParseError::TransferEncodingNotChunked);
        }
        te.ends_chunked = last_chunked;
    }
    Ok(f)
}

/// `1*DIGIT`, no sign, no spaces, fits in u64.
fn parse_length(v: &[u8]) -> Result<u64, ParseError> {
    if v.is_empty() || !v.iter().all(u8::is_ascii_digit) {
        return Err(ParseError::InvalidContentLength);
    }
    v.iter().try_fold(0u64, |acc, &d| {
        acc.checked_mul(10)
            .and_then(|a| a.checked_add(u64::from(d - b'0')))
            .ok_or(ParseError::InvalidContentLength)
    })
}
