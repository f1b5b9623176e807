//! Why a TLS connection is cut after its first ClientHello was allowed, and whose doing
//! that was: the client's cuts are denials under the rule, the server's are not.
//!
//! Its own file, below both [`super`] (which cuts) and `proxy::outcome` (which reports),
//! so neither depends on the other.

use crate::classify::ParseError;

/// Why a TLS connection is cut before or during its relay.
#[derive(Debug, thiserror::Error)]
pub enum TlsCut {
    #[error("tls: second ClientHello: {0}")]
    SecondHello(ParseError),
    #[error("tls: second ClientHello: {0}")]
    SecondDenied(String),
    #[error("tls: second ClientHello changes the SNI from {first} to {second}")]
    SniChanged { first: String, second: String },
    #[error("tls: client record framing: {0}")]
    Framing(ParseError),
    #[error("tls: the server's first handshake message: {0}")]
    ServerFirst(ParseError),
    #[error("tls: a second HelloRetryRequest")]
    SecondRetry,
    #[error("tls: timeout waiting for {0}")]
    Timeout(&'static str),
    #[error("tls: {0} exceeds {1} bytes")]
    TooLarge(&'static str, usize),
    #[error("tls: client closed before its second ClientHello")]
    ClientClosed,
}

impl TlsCut {
    /// Cuts the client caused are denials under the rule; the others say what the server
    /// did.
    pub fn is_client(&self) -> bool {
        !matches!(
            self,
            TlsCut::ServerFirst(_)
                | TlsCut::SecondRetry
                | TlsCut::Timeout(WAIT_SERVER)
                | TlsCut::TooLarge(WAIT_SERVER, _)
        )
    }
}

pub(super) const WAIT_SERVER: &str = "the server's first handshake message";
pub(super) const WAIT_CLIENT: &str = "the second ClientHello";
