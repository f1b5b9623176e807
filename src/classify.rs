//! Classify the first bytes of a connection and parse just enough of HTTP/1.x and TLS to
//! enforce policy: incremental parsers that say "need more" instead of guessing.
//!
//! CONTRACT (shared with the data path): the public items in this file are what the proxy
//! relies on. Parsers live in submodules `tls`, `http`, `chunked`, `path`.
//!
//! Every parser here is stateless over "all bytes read so far" (except the body trackers,
//! which are explicitly incremental), never panics on input, and fails closed: anything
//! ambiguous is a [`ParseError`], which the data path turns into a reset.
//!
//! Use on a connection: [`detect`] the buffered prefix until it is not `NeedMore`; for
//! `Tls` call [`parse_client_hello`] after each read until `Done` (match on
//! [`ClientHello::normalized_sni`]); for `Http1` call [`parse_request`] until `Some`,
//! check the head, forward `head_len` bytes, then feed the body to a [`BodyTracker`] built
//! from `framing` until it is done — the next request starts right after. Responses go
//! through [`parse_response`] (given the request method) and their own tracker.
//!
//! After an allowed ClientHello: [`parse_server_first`] on the server's first bytes says
//! whether it asked for a second hello (HelloRetryRequest), which [`parse_retried_hello`]
//! reads from the client; [`TlsFraming`] checks every later client byte for TLS record
//! framing.

mod chunked;
mod detect;
mod error;
mod http;
mod path;
mod tls;

pub use chunked::{
    BodyTracker, ChunkedDecoder, DEFAULT_MAX_CHUNK_LINE, DEFAULT_MAX_TRAILERS, LengthDecoder,
};
pub use detect::detect;
pub use error::ParseError;
pub use http::{
    BodyFraming, DEFAULT_MAX_HEADERS, H2Request, RequestHead, ResponseHead, h2_head, h2_request,
    parse_request, parse_response, strip_h2c_offer,
};
pub use path::{authority_host, canonical_path, normalize_host};
pub use tls::{
    HRR_RANDOM, MAX_CIPHERTEXT, MAX_HELLO_LEN, ServerFirst, TlsFraming, parse_client_hello,
    parse_retried_hello, parse_server_first,
};

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

/// Fields of a TLS ClientHello.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct ClientHello {
    /// `server_name` host_name, as sent (not lower-cased). Only `[A-Za-z0-9._-]` bytes are
    /// accepted, so it is always ASCII.
    pub sni: Option<String>,
    /// ALPN protocol names, in order (non-UTF-8 bytes replaced by U+FFFD: logging only).
    pub alpn: Vec<String>,
    /// Highest version offered: from `supported_versions` if present, else legacy_version.
    /// e.g. 0x0304 for TLS 1.3. GREASE values are ignored.
    pub version: u16,
}

impl ClientHello {
    /// The SNI in the form policy matches hosts ([`normalize_host`]: lower-case, no
    /// trailing dot). Borrowed when already canonical.
    pub fn normalized_sni(&self) -> Option<std::borrow::Cow<'_, str>> {
        self.sni.as_deref().map(normalize_host)
    }
}

/// Result of parsing the TLS bytes read so far.
#[derive(Debug, PartialEq, Eq)]
pub enum HelloParse {
    /// Need more bytes; `at_least` is the total buffer length required to make progress.
    Incomplete { at_least: usize },
    /// The ClientHello, and how many bytes of `buf` it (its records) occupied.
    Done { hello: ClientHello, consumed: usize },
}

#[cfg(test)]
mod tests;
