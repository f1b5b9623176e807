//! Reading just enough of a connection to classify it: an HTTP/1.x request head, the
//! HTTP/2 connection preface or a complete TLS ClientHello (which may span several TCP
//! segments and TLS records).
//!
//! One deadline covers the whole classification, not each read, so a client trickling a
//! byte at a time cannot hold a task longer than the classification timeout. The buffer
//! is bounded by the maximum head size.

use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::classify::{self, ClientHello, Detection, HelloParse};
use crate::classify::{ParseError, RequestHead};
use crate::events::metrics::Classification;
use crate::proxy::buf::{Fill, ReadBuf};

/// What the first bytes are.
#[derive(Debug)]
pub enum Classified {
    Http(RequestHead),
    /// The HTTP/2 client connection preface, at the front of the bytes read: its requests
    /// are decided stream by stream ([`crate::proxy::h2`]).
    Http2,
    /// A complete ClientHello, whose records are the first `consumed` bytes read.
    Tls {
        hello: ClientHello,
        consumed: usize,
    },
}

/// Why a connection could not be classified (each is a denial).
#[derive(Debug, thiserror::Error)]
pub enum Unclassified {
    #[error("classification timeout")]
    Timeout,
    #[error("header block too large")]
    TooLarge,
    #[error("not http or tls")]
    Other,
    #[error("client closed before classification")]
    Closed,
    #[error("{0}")]
    Malformed(String),
    #[error("read error: {0}")]
    Io(#[from] std::io::Error),
}

impl Unclassified {
    /// Label for the classification metric.
    pub fn outcome(&self) -> Classification {
        match self {
            Unclassified::Timeout => Classification::Timeout,
            Unclassified::TooLarge => Classification::TooLarge,
            _ => Classification::Other,
        }
    }
}

/// Read from `client` into `buf` until the bytes classify, by `deadline`.
pub async fn classify(
    client: &mut TcpStream,
    buf: &mut ReadBuf,
    deadline: Instant,
    max: usize,
) -> Result<Classified, Unclassified> {
    loop {
        if !buf.is_empty() {
            match classify::detect(buf.filled()) {
                Detection::Tls => match classify::parse_client_hello(buf.filled()) {
                    Ok(HelloParse::Done { hello, consumed }) => {
                        return Ok(Classified::Tls { hello, consumed });
                    }
                    Ok(HelloParse::Incomplete { at_least }) if at_least > max => {
                        return Err(Unclassified::TooLarge);
                    }
                    Ok(HelloParse::Incomplete { .. }) => {}
                    Err(e) => return Err(Unclassified::Malformed(format!("tls: {e}"))),
                },
                Detection::Http1 => match classify::parse_request(buf.filled(), max) {
                    Ok(Some(head)) => return Ok(Classified::Http(head)),
                    Ok(None) => {}
                    Err(ParseError::HeadTooLarge { .. }) => return Err(Unclassified::TooLarge),
                    Err(e) => return Err(Unclassified::Malformed(e.to_string())),
                },
                Detection::Http2 => return Ok(Classified::Http2),
                Detection::Other => return Err(Unclassified::Other),
                Detection::NeedMore => {}
            }
        }
        match tokio::time::timeout_at(deadline, buf.fill(client, max)).await {
            Err(_) => return Err(Unclassified::Timeout),
            Ok(Ok(Fill::Read(_))) => {}
            Ok(Ok(Fill::Eof)) => return Err(Unclassified::Closed),
            Ok(Ok(Fill::Full)) => return Err(Unclassified::TooLarge),
            Ok(Err(e)) => return Err(Unclassified::Io(e)),
        }
    }
}
