//! A TLS connection whose first ClientHello was allowed, from forwarding that hello to the
//! end of the relay.
//!
//! Deciding on the first hello alone is not enough:
//! - A TLS 1.3 server may answer with a HelloRetryRequest; the client then sends a second
//!   hello, which could name another server (RFC 8446 4.1.2 forbids changing it, and a
//!   server need not check). So after the first hello the client is not read until the
//!   server's first handshake message has been seen; after a retry, the second hello is
//!   decided with the same policy call as the first and must keep the first one's SNI. A
//!   second retry is a protocol error.
//! - After the hello the proxy cannot read the (encrypted) stream, but every client byte
//!   must still keep TLS record framing ([`TlsFraming`]) for the whole connection, or a
//!   client could follow a valid hello with plaintext for a server that speaks another
//!   protocol on the port.
//!
//! The server's bytes reach the client as they arrive; only its first handshake message is
//! looked at, and only its direction is never checked. One deadline (the classification
//! timeout) covers waiting for the server's answer and for the second hello; both are
//! bounded by the head size limit.

use std::io;

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::classify::{
    self, ClientHello, HelloParse, ParseError, ServerFirst, TlsFraming, parse_retried_hello,
};
use crate::policy::{L7Id, TlsMeta};
use crate::proxy::buf::{Fill, ReadBuf};
use crate::proxy::relay::Check;
use crate::proxy::session::Streams;
use crate::proxy::state::Policy;
use cut::{TlsCut, WAIT_CLIENT, WAIT_SERVER};

pub mod cut;

/// The first ClientHello, as it was allowed.
pub struct FirstHello<'a, P> {
    pub hello: &'a ClientHello,
    /// Its bytes at the front of the client buffer.
    pub consumed: usize,
    /// The policy it was decided with; a second hello is decided with the same.
    pub snapshot: &'a P,
    pub l7: L7Id,
}

/// How a TLS connection ended badly.
#[derive(Debug)]
pub enum End {
    /// Reported as an alert: the reason, the hello it is about (`None`: the first) and
    /// the client's bytes.
    Cut {
        cut: TlsCut,
        hello: Option<ClientHello>,
        bytes: Vec<u8>,
    },
    /// A socket failed (a peer reset): nothing to report but a debug line.
    Io(io::Error),
}

impl End {
    fn cut(cut: TlsCut) -> End {
        End::Cut {
            cut,
            hello: None,
            bytes: Vec::new(),
        }
    }
}

impl From<io::Error> for End {
    fn from(e: io::Error) -> End {
        End::Io(e)
    }
}

/// The relay's check of the client's bytes: TLS framing, keeping what it refused for the
/// alert.
struct Framed {
    framing: TlsFraming,
    refused: Option<(ParseError, Vec<u8>)>,
}

/// Denied bytes kept for the alert's packet.
const REFUSED_KEEP: usize = 512;

impl Check for Framed {
    const INSPECTS: bool = true;

    fn accept(&mut self, chunk: &[u8]) -> bool {
        match self.framing.feed(chunk) {
            Ok(()) => true,
            Err(e) => {
                self.refused = Some((e, chunk[..chunk.len().min(REFUSED_KEEP)].to_vec()));
                false
            }
        }
    }
}

/// Forward the allowed first hello, follow the handshake to the server's first message
/// (and through a retry), then relay with the client's framing checked. What cut the
/// connection is the caller's to report; the sockets are to be reset.
pub async fn serve<P: Policy>(
    s: &mut Streams<'_, '_, P>,
    buf: ReadBuf,
    first: FirstHello<'_, P>,
) -> Result<(), End> {
    let deadline = Instant::now() + s.shared.config.classify_timeout;
    let max = s.shared.config.max_head_bytes;
    let mut framing = TlsFraming::new();
    // Boxed: its buffers are dead weight once the relay runs, which may be for hours.
    let watched = Box::pin(handshake(
        s.client,
        s.up,
        buf,
        &mut framing,
        &first,
        deadline,
        max,
    ))
    .await;
    if let Err(End::Io(e)) = &watched {
        tracing::debug!(flow.id = s.rep.flow.flow_id, error = %e, "tls handshake ended");
    }
    watched?;
    let mut check = Framed {
        framing,
        refused: None,
    };
    s.relay(&mut check).await;
    match check.refused {
        // The relay set both sockets to reset.
        Some((e, bytes)) => Err(End::Cut {
            cut: TlsCut::Framing(e),
            hello: None,
            bytes,
        }),
        None => Ok(()),
    }
}

/// Everything before the relay: write the first hello, watch the server's answer, and
/// after a retry decide and write the second hello and watch again. Client bytes past the
/// hellos are framing-checked and written too.
async fn handshake<P: Policy>(
    client: &mut TcpStream,
    up: &mut TcpStream,
    mut buf: ReadBuf,
    framing: &mut TlsFraming,
    first: &FirstHello<'_, P>,
    deadline: Instant,
    max: usize,
) -> Result<(), End> {
    let hello1 = &buf.filled()[..first.consumed];
    framing.feed(hello1).map_err(|e| End::Cut {
        cut: TlsCut::Framing(e),
        hello: None,
        bytes: hello1.to_vec(),
    })?;
    up.write_all(hello1).await?;
    buf.consume(first.consumed);
    let mut server = ReadBuf::new();
    if watch_server(up, client, &mut server, deadline, max).await? == ServerFirst::NotRetry {
        return forward_rest(up, &buf, framing).await;
    }
    let (hello2, consumed) = read_second_hello(client, &mut buf, deadline, max).await?;
    let wire = &buf.filled()[..consumed];
    let deny = |cut| End::Cut {
        cut,
        hello: Some(hello2.clone()),
        bytes: wire.to_vec(),
    };
    framing.feed(wire).map_err(|e| deny(TlsCut::Framing(e)))?;
    let sni = hello2.normalized_sni();
    let verdict = first.snapshot.check_tls(
        first.l7,
        &TlsMeta {
            sni: sni.as_deref(),
        },
    );
    if !verdict.allowed {
        return Err(deny(TlsCut::SecondDenied(verdict.detail)));
    }
    if hello2.sni != first.hello.sni {
        let show = |h: &ClientHello| h.sni.clone().unwrap_or_else(|| "(none)".into());
        return Err(deny(TlsCut::SniChanged {
            first: show(first.hello),
            second: show(&hello2),
        }));
    }
    up.write_all(wire).await?;
    buf.consume(consumed);
    if watch_server(up, client, &mut server, deadline, max).await? != ServerFirst::NotRetry {
        return Err(End::cut(TlsCut::SecondRetry));
    }
    forward_rest(up, &buf, framing).await
}

/// Client bytes read past the hellos (early data, a pipelined record): checked like the
/// relay's, then written.
async fn forward_rest(
    up: &mut TcpStream,
    buf: &ReadBuf,
    framing: &mut TlsFraming,
) -> Result<(), End> {
    if buf.is_empty() {
        return Ok(());
    }
    framing.feed(buf.filled()).map_err(|e| End::Cut {
        cut: TlsCut::Framing(e),
        hello: None,
        bytes: buf.filled()[..buf.len().min(REFUSED_KEEP)].to_vec(),
    })?;
    up.write_all(buf.filled()).await?;
    Ok(())
}

/// Read the server, forwarding every byte to the client, until its first handshake
/// message says whether it is a retry. Returns `Retry` (with `server` holding what
/// followed it, already forwarded) or `NotRetry` (also when the server closed: the relay
/// passes the end on).
async fn watch_server(
    up: &mut TcpStream,
    client: &mut TcpStream,
    server: &mut ReadBuf,
    deadline: Instant,
    max: usize,
) -> Result<ServerFirst, End> {
    loop {
        if !server.is_empty() {
            match classify::parse_server_first(server.filled()) {
                Ok(ServerFirst::Incomplete { at_least }) if at_least > max => {
                    return Err(End::cut(TlsCut::TooLarge(WAIT_SERVER, max)));
                }
                Ok(ServerFirst::Incomplete { .. }) => {}
                Ok(ServerFirst::Retry { consumed }) => {
                    server.consume(consumed);
                    return Ok(ServerFirst::Retry { consumed });
                }
                Ok(ServerFirst::NotRetry) => return Ok(ServerFirst::NotRetry),
                Err(e) => return Err(End::cut(TlsCut::ServerFirst(e))),
            }
        }
        match tokio::time::timeout_at(deadline, server.fill(up, max)).await {
            Err(_) => return Err(End::cut(TlsCut::Timeout(WAIT_SERVER))),
            Ok(Ok(Fill::Read(n))) => {
                let new = &server.filled()[server.len() - n..];
                client.write_all(new).await?;
            }
            Ok(Ok(Fill::Eof)) => return Ok(ServerFirst::NotRetry),
            Ok(Ok(Fill::Full)) => return Err(End::cut(TlsCut::TooLarge(WAIT_SERVER, max))),
            Ok(Err(e)) => return Err(End::Io(e)),
        }
    }
}

/// Read the client's answer to a retry (optional CCS, second hello) into `buf`.
async fn read_second_hello(
    client: &mut TcpStream,
    buf: &mut ReadBuf,
    deadline: Instant,
    max: usize,
) -> Result<(ClientHello, usize), End> {
    loop {
        if !buf.is_empty() {
            match parse_retried_hello(buf.filled()) {
                Ok(HelloParse::Done { hello, consumed }) => return Ok((hello, consumed)),
                Ok(HelloParse::Incomplete { at_least }) if at_least > max => {
                    return Err(End::cut(TlsCut::TooLarge(WAIT_CLIENT, max)));
                }
                Ok(HelloParse::Incomplete { .. }) => {}
                Err(e) => {
                    return Err(End::Cut {
                        cut: TlsCut::SecondHello(e),
                        hello: None,
                        bytes: buf.filled().to_vec(),
                    });
                }
            }
        }
        match tokio::time::timeout_at(deadline, buf.fill(client, max)).await {
            Err(_) => return Err(End::cut(TlsCut::Timeout(WAIT_CLIENT))),
            Ok(Ok(Fill::Read(_))) => {}
            Ok(Ok(Fill::Eof)) => return Err(End::cut(TlsCut::ClientClosed)),
            Ok(Ok(Fill::Full)) => return Err(End::cut(TlsCut::TooLarge(WAIT_CLIENT, max))),
            Ok(Err(e)) => return Err(End::Io(e)),
        }
    }
}
