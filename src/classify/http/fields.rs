//! The header fields that decide framing, routing and connection reuse, collected in one
//! pass with the duplicate/validity rules of RFC 9110/9112 applied.

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
    pub host_count: usize,
    pub host: Option<&'a [u8]>,
    pub content_length: Option<u64>,
    pub transfer_encoding: Option<TransferEncoding>,
    pub conn_close: bool,
    pub conn_keep_alive: bool,
    pub conn_upgrade: bool,
    pub upgrade: Option<&'a [u8]>,
    pub user_agent: Option<&'a [u8]>,
    pub content_type: Option<&'a [u8]>,
    pub expect_continue: bool,
}

impl Fields<'_> {
    pub fn keep_alive(&self, minor: u8) -> bool {
        !self.conn_close && (minor >= 1 || self.conn_keep_alive)
    }
}

fn tokens(v: &[u8]) -> impl Iterator<Item = &[u8]> {
    v.split(|&b| b == b',')
        .map(<[u8]>::trim_ascii)
        .filter(|t| !t.is_empty())
}

/// Collect the interesting fields. `strict_codings`: refuse unknown transfer codings
/// (requests; a response with one is simply read until close).
pub(super) fn scan_fields<'a>(
    headers: &[httparse::Header<'a>],
    strict_codings: bool,
) -> Result<Fields<'a>, ParseError> {
    let mut f = Fields::default();
    let mut chunked_count = 0;
    let mut last_chunked = false;
    for h in headers {
        let name = h.name.as_bytes();
        let value = h.value.trim_ascii();
        let is = |want: &[u8]| name.eq_ignore_ascii_case(want);
        // Dispatch on length first: one integer compare rejects most headers.
        match name.len() {
            4 if is(b"host") => {
                f.host_count += 1;
                f.host = Some(value);
            }
            14 if is(b"content-length") => {
                if f.content_length.is_some() || value.contains(&b',') {
                    return Err(ParseError::DuplicateContentLength);
                }
                f.content_length = Some(parse_length(value)?);
            }
            17 if is(b"transfer-encoding") => {
                f.transfer_encoding = Some(TransferEncoding::default());
                for t in tokens(value) {
                    let chunked = t.eq_ignore_ascii_case(b"chunked");
                    let known = KNOWN_CODINGS
                        .iter()
                        .any(|k| t.eq_ignore_ascii_case(k.as_bytes()));
                    if strict_codings && !known {
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
                f.upgrade.get_or_insert(value);
            }
            10 if is(b"user-agent") => {
                f.user_agent.get_or_insert(value);
            }
            12 if is(b"content-type") => {
                f.content_type.get_or_insert(value);
            }
            6 if is(b"expect") => {
                f.expect_continue |= value.eq_ignore_ascii_case(b"100-continue");
            }
            _ => {}
        }
    }
    if let Some(te) = f.transfer_encoding.as_mut() {
        if chunked_count > 1 || (strict_codings && !last_chunked) {
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
