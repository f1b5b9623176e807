//! HTTP/1.x message heads and body framing, as the request loop needs them.
//!
//! A small adapter over `httparse`: heads are parsed from the bytes buffered so far
//! (`Ok(None)` means "need more"), and bodies are tracked incrementally so the proxy can
//! forward them unchanged and know exactly where the next message starts. Anything that
//! could be framed two ways (the request-smuggling family) is an error, and errors deny.

/// Headers parsed per message; more is an error (denied), not a silent truncation.
const MAX_HEADERS: usize = 100;

/// How a message body is delimited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framing {
    /// No body.
    Empty,
    /// `Content-Length` bytes.
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
    /// Until the server closes (responses only).
    UntilClose,
}

/// A parsed request head (owned: it outlives the buffer it came from).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestHead {
    pub method: String,
    /// Request target as sent.
    pub target: String,
    /// `HTTP/1.0` or `HTTP/1.1`.
    pub protocol: &'static str,
    pub host: Option<String>,
    pub user_agent: Option<String>,
    pub framing: Framing,
    /// `Upgrade` requested (`Upgrade` header and `Connection: upgrade`).
    pub upgrade: bool,
    /// Bytes of the head, including the final empty line.
    pub len: usize,
}

impl RequestHead {
    pub fn is_connect(&self) -> bool {
        self.method.eq_ignore_ascii_case("CONNECT")
    }
}

/// A parsed response head.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResponseHead {
    pub status: u16,
    pub content_type: Option<String>,
    pub framing: Framing,
    pub len: usize,
}

/// Why a message cannot be forwarded.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    #[error("malformed http: {0}")]
    Malformed(String),
    #[error("ambiguous framing: {0}")]
    Ambiguous(&'static str),
    #[error("malformed chunked body")]
    BadChunk,
}

fn malformed(e: httparse::Error) -> WireError {
    WireError::Malformed(e.to_string())
}

fn protocol(version: Option<u8>) -> &'static str {
    match version {
        Some(0) => "HTTP/1.0",
        _ => "HTTP/1.1",
    }
}

/// Header value as text; non-UTF-8 values are kept lossily for logs only.
fn text(v: &[u8]) -> String {
    String::from_utf8_lossy(v).into_owned()
}

fn has_token(v: &[u8], token: &str) -> bool {
    v.split(|&b| b == b',')
        .any(|t| t.trim_ascii().eq_ignore_ascii_case(token.as_bytes()))
}

/// Body framing from `Content-Length` / `Transfer-Encoding` headers, strictly: both
/// present, several or invalid lengths, or a transfer coding other than a lone
/// `chunked` are errors.
fn framing(headers: &[httparse::Header<'_>], http10: bool) -> Result<Option<Framing>, WireError> {
    let mut length: Option<u64> = None;
    let mut chunked = false;
    let mut te_seen = false;
    for h in headers {
        if h.name.eq_ignore_ascii_case("content-length") {
            let v = h.value.trim_ascii();
            if v.is_empty() || !v.iter().all(u8::is_ascii_digit) || v.len() > 18 {
                return Err(WireError::Ambiguous("invalid Content-Length"));
            }
            if length.is_some() {
                return Err(WireError::Ambiguous("duplicate Content-Length"));
            }
            let n = std::str::from_utf8(v)
                .ok()
                .and_then(|s| s.parse().ok())
                .ok_or(WireError::Ambiguous("invalid Content-Length"))?;
            length = Some(n);
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            if te_seen || !h.value.trim_ascii().eq_ignore_ascii_case(b"chunked") {
                return Err(WireError::Ambiguous("unsupported Transfer-Encoding"));
            }
            te_seen = true;
            chunked = true;
        }
    }
    match (length, chunked) {
        (Some(_), true) => Err(WireError::Ambiguous(
            "both Content-Length and Transfer-Encoding",
        )),
        (_, true) if http10 => Err(WireError::Ambiguous("Transfer-Encoding in HTTP/1.0")),
        (_, true) => Ok(Some(Framing::Chunked)),
        (Some(n), false) => Ok(Some(Framing::Length(n))),
        (None, false) => Ok(None),
    }
}

/// Parse a request head from the start of `buf`; `Ok(None)` until it is complete.
pub fn parse_request(buf: &[u8]) -> Result<Option<RequestHead>, WireError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    let len = match req.parse(buf).map_err(malformed)? {
        httparse::Status::Partial => return Ok(None),
        httparse::Status::Complete(n) => n,
    };
    let http10 = req.version == Some(0);
    let framing = framing(req.headers, http10)?.unwrap_or(Framing::Empty);
    let mut host = None;
    let mut user_agent = None;
    let mut upgrade_header = false;
    let mut connection_upgrade = false;
    for h in req.headers.iter() {
        if h.name.eq_ignore_ascii_case("host") {
            if host.is_some() {
                return Err(WireError::Ambiguous("duplicate Host"));
            }
            host = Some(text(h.value.trim_ascii()));
        } else if h.name.eq_ignore_ascii_case("user-agent") {
            user_agent = Some(text(h.value));
        } else if h.name.eq_ignore_ascii_case("upgrade") {
            upgrade_header = true;
        } else if h.name.eq_ignore_ascii_case("connection") {
            connection_upgrade |= has_token(h.value, "upgrade");
        }
    }
    Ok(Some(RequestHead {
        method: req.method.unwrap_or_default().to_owned(),
        target: req.path.unwrap_or_default().to_owned(),
        protocol: protocol(req.version),
        host,
        user_agent,
        framing,
        upgrade: upgrade_header && connection_upgrade,
        len,
    }))
}

/// Parse a response head to a request made with `method`; `Ok(None)` until complete.
pub fn parse_response(buf: &[u8], method: &str) -> Result<Option<ResponseHead>, WireError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut resp = httparse::Response::new(&mut headers);
    let len = match resp.parse(buf).map_err(malformed)? {
        httparse::Status::Partial => return Ok(None),
        httparse::Status::Complete(n) => n,
    };
    let status = resp.code.unwrap_or_default();
    let content_type = resp
        .headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("content-type"))
        .map(|h| text(h.value));
    let no_body = method.eq_ignore_ascii_case("HEAD")
        || (100..200).contains(&status)
        || status == 204
        || status == 304
        || (method.eq_ignore_ascii_case("CONNECT") && (200..300).contains(&status));
    let framing = if no_body {
        Framing::Empty
    } else {
        framing(resp.headers, false)?.unwrap_or(Framing::UntilClose)
    };
    Ok(Some(ResponseHead {
        status,
        content_type,
        framing,
        len,
    }))
}

/// Incremental tracker of one body: says how many buffered bytes belong to it.
#[derive(Clone, Debug)]
pub struct Body {
    state: State,
    /// Payload bytes seen (without chunk framing).
    pub payload: u64,
}

#[derive(Clone, Copy, Debug)]
enum State {
    Length(u64),
    ChunkSize,
    ChunkData(u64),
    ChunkDataEnd,
    Trailer,
    UntilClose,
    Done,
}

/// Longest chunk-size or trailer line accepted while waiting for its end.
const MAX_LINE: usize = 4096;

impl Body {
    pub fn new(framing: Framing) -> Body {
        let state = match framing {
            Framing::Empty | Framing::Length(0) => State::Done,
            Framing::Length(n) => State::Length(n),
            Framing::Chunked => State::ChunkSize,
            Framing::UntilClose => State::UntilClose,
        };
        Body { state, payload: 0 }
    }

    pub fn is_done(&self) -> bool {
        matches!(self.state, State::Done)
    }

    /// Only the end of the stream ends this body.
    pub fn until_close(&self) -> bool {
        matches!(self.state, State::UntilClose)
    }

    /// Consume as much of `data` as belongs to the body; returns the count. Stops early
    /// when the body is complete or a chunk line is still incomplete.
    pub fn advance(&mut self, data: &[u8]) -> Result<usize, WireError> {
        let mut used = 0;
        loop {
            let rest = &data[used..];
            match self.state {
                State::Done => return Ok(used),
                State::UntilClose => {
                    self.payload += rest.len() as u64;
                    return Ok(data.len());
                }
                State::Length(n) | State::ChunkData(n) => {
                    let take = (rest.len() as u64).min(n);
                    used += take as usize;
                    self.payload += take;
                    let left = n - take;
                    self.state = match (self.state, left) {
                        (State::Length(_), 0) => State::Done,
                        (State::Length(_), l) => State::Length(l),
                        (_, 0) => State::ChunkDataEnd,
                        (_, l) => State::ChunkData(l),
                    };
                    if left > 0 {
                        return Ok(used);
                    }
                }
                // httparse takes an empty line as size 0; a size must have a digit.
                State::ChunkSize if rest.first().is_some_and(|b| !b.is_ascii_hexdigit()) => {
                    return Err(WireError::BadChunk);
                }
                State::ChunkSize => match httparse::parse_chunk_size(rest) {
                    Ok(httparse::Status::Complete((n, size))) => {
                        used += n;
                        self.state = if size == 0 {
                            State::Trailer
                        } else {
                            State::ChunkData(size)
                        };
                    }
                    Ok(httparse::Status::Partial) if rest.len() < MAX_LINE => return Ok(used),
                    _ => return Err(WireError::BadChunk),
                },
                State::ChunkDataEnd => match rest {
                    [b'\r', b'\n', ..] => {
                        used += 2;
                        self.state = State::ChunkSize;
                    }
                    [] | [b'\r'] => return Ok(used),
                    _ => return Err(WireError::BadChunk),
                },
                State::Trailer => match rest.windows(2).position(|w| w == b"\r\n") {
                    Some(0) => {
                        used += 2;
                        self.state = State::Done;
                    }
                    Some(i) => used += i + 2,
                    None if rest.len() < MAX_LINE => return Ok(used),
                    None => return Err(WireError::BadChunk),
                },
            }
        }
    }
}

#[cfg(test)]
#[path = "wire/tests.rs"]
mod tests;
