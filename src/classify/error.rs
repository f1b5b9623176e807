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
    /// The server's first handshake message is not a ServerHello.
    #[error("expected a ServerHello (2), got handshake type {0}")]
    NotServerHello(u8),
    /// A record whose content type is none of change_cipher_spec (20), alert (21),
    /// handshake (22) and application_data (23); heartbeat (24) included.
    #[error("TLS record content type {0} is not 20..=23")]
    TlsContentType(u8),
    /// A record-layer version other than 0x0301..=0x0303 (what every TLS 1.0-1.3 stack
    /// writes there).
    #[error("TLS record version {0:#06x} is not 0x0301..=0x0303")]
    TlsLegacyVersion(u16),
    /// A record longer than any protected record may be (2^14 + 2048, RFC 5246 6.2.3).
    #[error("TLS record of {0} bytes exceeds 18432")]
    TlsCiphertextTooLong(usize),
    /// A zero-length record that is not application data (RFC 8446 5.1 forbids empty
    /// handshake and alert records; an empty change_cipher_spec is malformed).
    #[error("zero-length TLS record of content type {0}")]
    TlsEmptyRecordOf(u8),
    /// A change_cipher_spec record that is not the single byte 1.
    #[error("malformed TLS change_cipher_spec record")]
    TlsChangeCipherSpec,

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
    /// A field the proxy decides, frames or switches on (Host, Upgrade,
    /// Transfer-Encoding, Expect) appears more than once: servers disagree on which
    /// copy counts.
    #[error("duplicate {0} header")]
    DuplicateField(&'static str),
    /// Host (or absolute-form authority) that is not a valid host\[:port\].
    #[error("invalid Host")]
    InvalidHost,
    /// A host name with an empty label (`a..b`, `.a`, or more than one trailing dot):
    /// resolvers and servers trim or reject these differently.
    #[error("host has an empty label")]
    HostEmptyLabel,
    /// Absolute-form target authority and Host header name different hosts.
    #[error("request target authority and Host header differ")]
    HostMismatch,
    /// A request target that is none of origin-, absolute-, authority- or asterisk-form
    /// (or `*` with a method other than OPTIONS).
    #[error("invalid request target")]
    InvalidTarget,
    /// A `%` not followed by two hex digits.
    #[error("target has a malformed percent-escape")]
    MalformedEscape,
    /// A `#` in the request target: fragments are never sent, and readers disagree on
    /// whether what follows is path, query or dropped.
    #[error("target has a fragment")]
    TargetFragment,
    /// A `.` or `..` segment, also spelled `%2e`, or as `..;x` / `.;x` (Tomcat and Spring
    /// drop `;params` before resolving dot-segments).
    #[error("path has a dot-segment")]
    PathDotSegment,
    /// `//` in the path: some readers merge it, others resolve `..` against it.
    #[error("path has an empty segment")]
    PathEmptySegment,
    /// `%41`, `%7E`, `%2E`...: decoded by some readers before routing, by others not.
    #[error("path has a percent-encoded unreserved character")]
    PathEncodedUnreserved,
    /// `\` or `%5C` in the path: WHATWG URL and IIS read it as `/`.
    #[error("path has a backslash")]
    PathBackslash,
    /// `%2F` in the path: some servers decode it into a separator before routing.
    #[error("path has an encoded slash")]
    PathEncodedSlash,
    /// A field that makes frameworks route or dispatch differently from the request line.
    #[error("request carries {0}, which can override the URL or method")]
    OverrideField(&'static str),
    /// An `Upgrade` other than a single `websocket` token.
    #[error("upgrade to {0} is not supported")]
    UpgradeNotSupported(String),
    /// `Upgrade` that is empty or repeats `websocket`.
    #[error("Upgrade must name exactly one protocol")]
    UpgradeList,
    /// `Upgrade` without the `upgrade` token in `Connection`: servers disagree on
    /// whether to switch.
    #[error("Upgrade header without Connection: upgrade")]
    UpgradeWithoutConnection,
    /// CONNECT (or extended CONNECT) on an HTTP/2 stream: a tunnel of unchecked bytes.
    #[error("CONNECT over HTTP/2 is not supported")]
    Http2Connect,
    /// `HTTP2-Settings` (the h2c upgrade's companion field).
    #[error("HTTP2-Settings header: upgrade to h2c is not supported")]
    Http2Settings,
    /// A non-empty body on a method whose body servers ignore or read as the next
    /// request (GET, HEAD, TRACE, CONNECT).
    #[error("body on a {0} request is not allowed")]
    BodyNotAllowed(&'static str),
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
    /// A trailer line that is not `token ":" field-value` (control byte, obs-fold,
    /// whitespace before the colon, empty name).
    #[error("invalid chunked trailer line")]
    InvalidTrailer,
    /// More trailer fields than the limit.
    #[error("more than {max} chunked trailer fields")]
    TooManyTrailers { max: usize },
    /// A line in chunked framing not ended by CRLF (bare LF/CR, or data overrunning its size).
    #[error("chunked framing line not terminated by CRLF")]
    ChunkMissingCrlf,
}
