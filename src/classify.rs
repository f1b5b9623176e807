//! Classify the first bytes of a connection and parse just enough of HTTP/1.x and TLS to
//! enforce policy: incremental parsers that say "need more" instead of guessing.
//!
//! CONTRACT (shared with the data path): the public items in this file are what the proxy
//! relies on. Parsers live in submodules `tls`, `http`, `path`.

/// What the first bytes of a connection look like.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Detection {
    /// A TLS handshake record (content type 22) carrying a ClientHello.
    Tls,
    /// An HTTP/1.x request line (token method, SP, target, SP, `HTTP/1.`).
    Http1,
    /// The HTTP/2 connection preface `PRI * HTTP/2.0`.
    Http2,
    /// Not enough bytes to tell yet.
    NeedMore,
    /// Anything else.
    Other,
}

/// Look at the first bytes without consuming them.
pub fn detect(_buf: &[u8]) -> Detection {
    todo!()
}

/// Fields of a TLS ClientHello.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct ClientHello {
    /// `server_name` host_name, as sent (not lower-cased).
    pub sni: Option<String>,
    /// ALPN protocol names, in order.
    pub alpn: Vec<String>,
    /// Highest version offered: from `supported_versions` if present, else legacy_version.
    /// e.g. 0x0304 for TLS 1.3.
    pub version: u16,
}

/// Result of parsing the TLS bytes read so far.
#[derive(Debug, PartialEq, Eq)]
pub enum HelloParse {
    /// Need more bytes; `at_least` is the total buffer length required to make progress.
    Incomplete { at_least: usize },
    /// The ClientHello, and how many bytes of `buf` it (its records) occupied.
    Done { hello: ClientHello, consumed: usize },
}

/// Malformed input: the connection is denied.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ParseError {
    #[error("{0}")]
    Todo(String),
}

/// Parse a ClientHello that may span several TLS records and TCP segments.
pub fn parse_client_hello(_buf: &[u8]) -> Result<HelloParse, ParseError> {
    todo!()
}

/// Normalize an HTTP request target's path for matching: take the path of an origin- or
/// absolute-form target, drop query and fragment, decode percent-encoded unreserved
/// characters, remove dot-segments (RFC 3986 5.2.4) and merge repeated slashes, so
/// `/public/../admin` and `/%61dmin` both become `/admin`.
pub fn normalize_path(_target: &str) -> String {
    todo!()
}

/// Normalize a host for matching: lower-case, without port, without trailing dot
/// (IPv6 literals keep their brackets).
pub fn normalize_host(_host: &str) -> String {
    todo!()
}
