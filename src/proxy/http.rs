//! The HTTP/1.x request loop: every request of a keep-alive or pipelined connection is
//! checked, not only the first.
//!
//! Two halves run concurrently in the connection's task. The request half parses each
//! request head from the client, asks the [`Gate`], forwards the head and its body
//! unchanged (framed by `Content-Length` or chunked), and queues the request for the
//! response half, which parses each response head (status, length, 1xx interim
//! responses) and forwards it, so requests and responses stay paired. A denied request
//! stops both halves before a byte of it reaches the upstream; the caller then resets
//! both connections. An accepted `101 Switching Protocols` or `CONNECT` 2xx ends the loop
//! and the caller relays opaque bytes.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;

use crate::policy::RuleRef;
use crate::proxy::buf::{Fill, ReadBuf, Readable};
use crate::proxy::drain::DrainWatch;
use crate::proxy::relay::Activity;
use body::{BodyError, forward_body, read_head};
use pipeline::{CloseOnDrop, Pipeline};
use responses::responses;

use crate::classify::{RequestHead, parse_request, strip_h2c_offer};
use framing::Body;

mod body;
mod framing;
mod pipeline;
mod responses;

/// Largest unconsumed body data buffered at once (the buffer grows to this size).
const BODY_BUF: usize = 64 * 1024;
/// Requests forwarded but not yet answered (pipelining depth).
const MAX_PIPELINED: usize = 32;

/// The policy decision on one request.
#[derive(Clone, Debug)]
pub struct Decision {
    pub allowed: bool,
    /// The deciding rule (for events).
    pub rule: Option<Arc<RuleRef>>,
    /// Why, for logs and alerts.
    pub detail: String,
}

/// Bounds on request heads after the first (the first is read by classification).
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub max_head: usize,
    /// Time from the first byte of a head to its end.
    pub head_timeout: Duration,
}

/// What the loop watches besides the two sockets.
pub struct Watch<'a> {
    pub limits: Limits,
    /// When draining starts, an idle keep-alive connection is closed at the request
    /// boundary (the client sees a clean end after its last response).
    pub drain: Option<&'a mut DrainWatch>,
    /// Touched whenever bytes move, for the caller's idle timeout.
    pub activity: &'a Activity,
}

/// The first request of the connection, read and allowed before the loop starts.
pub struct First {
    /// The client's bytes read so far, the request head at their start.
    pub buf: ReadBuf,
    pub head: RequestHead,
    /// The rule that allowed it.
    pub rule: Option<Arc<RuleRef>>,
}

/// Decides each request with the policy in force when it arrives.
pub trait Gate: Send {
    fn check(&mut self, head: &RequestHead) -> Decision;

    /// The rule a request is refused under when it cannot be read well enough to ask
    /// [`Gate::check`] (an HTTP/2 stream with a malformed path, say).
    fn rule(&self) -> Option<Arc<RuleRef>> {
        None
    }
}

/// One allowed request and what answered it.
#[derive(Clone, Debug)]
pub struct Exchange {
    pub rule: Option<Arc<RuleRef>>,
    pub request: RequestHead,
    /// `None` when the upstream closed before answering.
    pub status: Option<u16>,
    pub content_type: Option<String>,
    /// Response body bytes on the wire (chunked framing included; DATA payload for
    /// HTTP/2).
    pub length: u64,
    /// The HTTP/2 stream the request came on; `None` for HTTP/1.x.
    pub stream_id: Option<u32>,
}

/// A denied request.
#[derive(Clone, Debug)]
pub struct Denial {
    pub rule: Option<Arc<RuleRef>>,
    pub reason: String,
    /// The bytes read of the denied request (never forwarded).
    pub bytes: Vec<u8>,
}

/// How the loop ended.
#[derive(Debug)]
pub enum Outcome {
    /// Both sides finished normally. `reset_upstream`: the upstream had already closed
    /// and everything it sent was delivered when the client finished, so the upstream
    /// connection is best ended with a reset (see [`End::AfterUpstream`]).
    Closed { reset_upstream: bool },
    /// Protocol switched: relay opaque bytes, after writing what each side has buffered.
    Upgraded {
        client_buf: ReadBuf,
        upstream_buf: ReadBuf,
    },
    /// A request was denied: reset both connections.
    Denied(Denial),
    /// I/O error or protocol violation: reset both connections.
    Failed(String),
}

enum Stop {
    Denied(Denial),
    Failed(String),
}

impl From<io::Error> for Stop {
    fn from(e: io::Error) -> Stop {
        Stop::Failed(e.to_string())
    }
}

enum End {
    Closed,
    /// The client finished after the upstream had: its FIN is not passed on. Like
    /// HAProxy, the upstream connection then ends with a reset instead of a FIN
    /// exchange: no data can be lost (the upstream sent its end, every request byte was
    /// written), the server's socket is freed at once instead of lingering in
    /// TIME_WAIT, and a connection-per-request load costs one packet and one syscall
    /// less per connection.
    AfterUpstream,
    Upgraded(ReadBuf),
}

/// A forwarded request awaiting its response. Queued boxed: the queue's futures and the
/// response half's locals then hold a pointer, not ~350 bytes each, in every connection's
/// task for its whole life.
struct Pending {
    head: RequestHead,
    rule: Option<Arc<RuleRef>>,
    switch: Option<oneshot::Sender<bool>>,
}

/// Serve an HTTP connection whose `first` request was already allowed. `report` sees
/// each completed exchange.
pub async fn serve<G: Gate>(
    client: &mut TcpStream,
    upstream: &mut TcpStream,
    first: First,
    gate: &mut G,
    watch: Watch<'_>,
    report: &(dyn Fn(Exchange) + Sync),
) -> Outcome {
    let (max_head, activity) = (watch.limits.max_head, watch.activity);
    let (mut cr, mut cw) = client.split();
    let (mut ur, mut uw) = upstream.split();
    let pending = Pipeline::new(MAX_PIPELINED);
    let req = requests(&mut cr, &mut uw, first, gate, &pending, watch);
    let resp = responses(&mut ur, &mut cw, &pending, max_head, activity, report);
    match tokio::try_join!(req, resp) {
        Ok((End::Upgraded(client_buf), End::Upgraded(upstream_buf))) => Outcome::Upgraded {
            client_buf,
            upstream_buf,
        },
        Ok((End::AfterUpstream, _)) => Outcome::Closed {
            reset_upstream: true,
        },
        Ok(_) => Outcome::Closed {
            reset_upstream: false,
        },
        Err(Stop::Denied(d)) => Outcome::Denied(d),
        Err(Stop::Failed(f)) => Outcome::Failed(f),
    }
}

/// The request half: forward allowed requests, stop at the first denied one.
async fn requests<R, W, G>(
    cr: &mut R,
    uw: &mut W,
    first: First,
    gate: &mut G,
    pending: &Pipeline<Box<Pending>>,
    mut watch: Watch<'_>,
) -> Result<End, Stop>
where
    R: Readable,
    W: AsyncWrite + Unpin,
    G: Gate,
{
    let First {
        mut buf,
        mut head,
        mut rule,
    } = first;
    let activity = watch.activity;
    let _close = CloseOnDrop(pending);
    loop {
        let (mut head_len, framing, h2c_offer) = (head.head_len, head.framing, head.h2c_offer);
        let (switch, switched) = if head.upgrade.is_some() || head.is_connect() {
            let (a, b) = oneshot::channel();
            (Some(a), Some(b))
        } else {
            (None, None)
        };
        // Queue before writing, so a response can never arrive for a request the
        // response half does not know about yet.
        if pending
            .push(Box::new(Pending { head, rule, switch }))
            .await
            .is_err()
        {
            // The response half ended (upstream closed): nothing more can be answered.
            return Ok(End::Closed);
        }
        if h2c_offer {
            // The rare rewritten head goes out on its own; its body follows as usual.
            uw.write_all(&strip_h2c_offer(&buf.filled()[..head_len]))
                .await?;
            buf.consume(head_len);
            head_len = 0;
        }
        let mut body = Body::new(framing);
        forward_body(head_len, &mut body, &mut buf, cr, uw, activity)
            .await
            .map_err(|e| match e {
                BodyError::Malformed(m) => Stop::Denied(Denial {
                    rule: None,
                    reason: m,
                    bytes: buf.filled().to_vec(),
                }),
                BodyError::Io(e) => Stop::from(e),
            })?;
        if let Some(switched) = switched
            && switched.await == Ok(true)
        {
            return Ok(End::Upgraded(buf));
        }
        // Once a head has started it must complete within the head timeout (no
        // slowloris on later requests); an idle keep-alive wait arms no timer.
        let mut head_deadline = None;
        let next = loop {
            match parse_request(buf.filled(), watch.limits.max_head) {
                Ok(Some(h)) => break h,
                Ok(None) => match read_head(cr, &mut buf, &mut watch, &mut head_deadline).await? {
                    Fill::Read(_) => activity.touch(),
                    Fill::Eof => {
                        // Bytes of an incomplete head were never checked: not forwarded.
                        // A closed queue here means the response half ended, which it
                        // does only at the upstream's end of stream.
                        if buf.is_empty() && pending.is_closed() {
                            return Ok(End::AfterUpstream);
                        }
                        uw.shutdown().await?;
                        return Ok(End::Closed);
                    }
                    Fill::Full => {
                        return Err(Stop::Denied(Denial {
                            rule: None,
                            reason: "request head too large".into(),
                            bytes: buf.filled().to_vec(),
                        }));
                    }
                },
                Err(e) => {
                    return Err(Stop::Denied(Denial {
                        rule: None,
                        reason: e.to_string(),
                        bytes: buf.filled().to_vec(),
                    }));
                }
            }
        };
        let d = gate.check(&next);
        if !d.allowed {
            return Err(Stop::Denied(Denial {
                rule: d.rule,
                reason: d.detail,
                bytes: buf.filled()[..next.head_len].to_vec(),
            }));
        }
        head = next;
        rule = d.rule;
    }
}

#[cfg(test)]
mod tests;
