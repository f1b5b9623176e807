//! One error type for every classifier: each variant names the exact rule that was broken,
//! because the event log shows it to the operator and the tests pin it.

/// Malformed or ambiguous input: the connection is denied.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum ParseError {
    // ---- TLS ----
    /// A record that is not a handshake record (22) where the ClientHello was expected.
    #[error("expected a TLS handshake record, got content type {0}")]
    TlsRecordType(u8),
    /// Record-layer version whose major byte is not 3.
    #[error("TLS record version {0:#06x} is not 3.x")]
    TlsRecordVersion(u16),
    /// A handshake record of length 0 (forbidden by RFC 8446 5.1).
    #[error("zero-length TLS handshake record")]
    TlsEmptyRecord,
    /// A plaintext record longer than 2^14 bytes.
    #[error("TLS record of {0} bytes exceeds 16384")]
    TlsRecordTooLong(usize),
    /// The first handshake message is not a ClientHello.
    #[error("expected a ClientHello (1), got handshake type {0}")]
    NotClientHello(u8),
    /// The ClientHello (with its record headers) would exceed the size cap.
    #[error("ClientHello needs {needed} bytes, more than the {max}-byte cap")]
    HelloTooLarge { needed: usize, max: usize },
    /// A length field points past the end of its enclosing structure.
    #[error("TLS length of {0} overruns its container")]
    TlsLength(&'static str),
    /// Bytes left over after a structure that must fill its container exactly.
    #[error("trailing bytes after TLS {0}")]
    TlsTrailing(&'static str),
    /// A field whose value breaks the protocol (odd cipher list, empty name...).
    #[error("invalid TLS {0}")]
    TlsInvalid(&'static str),
    /// The same extension type appears twice.
    #[error("duplicate TLS extension {0}")]
    TlsDuplicateExtension(u16),
    /// server_name host_name that is empty, repeated, or has bytes outside `[A-Za-z0-9._-]`.
    #[error("invalid SNI host_name")]
    InvalidSni,

    // ---- HTTP/1.x ----
    /// The head is larger than the configured limit and still not complete.
    #[error("HTTP head exceeds {max} bytes")]
    HeadTooLarge { max: usize },
    /// More header lines than the parser accepts.
    #[error("too many HTTP header fields")]
    TooManyHeaders,
    /// A control, NUL or non-ASCII byte in the request line.
    #[error("byte {0:#04x} not allowed in the request line")]
    RequestLineByte(u8),
    /// A header line starting with SP/HTAB (obsolete line folding).
    #[error("obsolete line folding in header block")]
    ObsFold,
    /// Any other syntax error reported by `httparse`.
    #[error("malformed HTTP head: {0}")]
    Syntax(httparse::Error),
    /// Both Content-Length and Transfer-Encoding.
    #[error("both Content-Length and Transfer-Encoding")]
    LengthAndChunked,
    /// More than one Content-Length value (even if equal).
    #[error("duplicate Content-Length")]
    DuplicateContentLength,
    /// A Content-Length that is not 1*DIGIT fitting in u64.
    #[error("invalid Content-Length")]
    InvalidContentLength,
    /// Transfer-Encoding whose final coding is not `chunked`, or `chunked` applied twice.
    #[error("Transfer-Encoding does not end in a single chunked coding")]
    TransferEncodingNotChunked,
    /// A transfer coding this proxy does not know.
    #[error("unsupported transfer coding")]
    UnsupportedTransferCoding,
    /// Transfer-Encoding in an HTTP/1.0 message (RFC 9112 6.1: framing is faulty).
    #[error("Transfer-Encoding in an HTTP/1.0 message")]
    TransferEncodingHttp10,
    /// HTTP/1.1 request without Host.
    #[error("HTTP/1.1 request without Host")]
    MissingHost,
    /// More than one Host header.
    #[error("duplicate Host header")]
    DuplicateHost,
    /// Host (or absolute-form authority) that is not a valid host\[:port\].
    #[error("invalid Host")]
    InvalidHost,
    /// Absolute-form target authority and Host header name different hosts.
    #[error("request target authority and Host header differ")]
    HostMismatch,
    /// A request target that is none of origin-, absolute-, authority- or asterisk-form,
    /// or has a malformed percent-escape.
    #[error("invalid request target")]
    InvalidTarget,
    /// A path whose dot-segments depend on how the server reads `%2F`, `\\` or `;`.
    #[error("ambiguous path: dot-segment hidden behind an encoded slash, backslash or ';'")]
    AmbiguousPath,
    /// A status code outside 100..=999 or another response-only violation.
    #[error("invalid HTTP response: {0}")]
    InvalidResponse(&'static str),

    // ---- chunked body ----
    /// A chunk-size line or trailer line longer than the limit.
    #[error("chunk-size or trailer line longer than {max} bytes")]
    ChunkLineTooLong { max: usize },
    /// Trailer section larger than the limit.
    #[error("chunked trailers exceed {max} bytes")]
    TrailersTooLarge { max: usize },
    /// A chunk-size that is not hex, overflows u64, or a malformed chunk extension.
    #[error("invalid chunk size line")]
    InvalidChunkSize,
    /// A trailer field line with a control byte or starting with whitespace.
    #[error("invalid chunked trailer line")]
    InvalidTrailer,
    /// A line in chunked framing not ended by CRLF (bare LF/CR, or data overrunning its size).
    #[error("chunked framing line not terminated by CRLF")]
    ChunkMissingCrlf,
}
