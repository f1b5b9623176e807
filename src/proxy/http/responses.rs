//! The response half of the request loop: each response is paired with the oldest
//! request awaiting one and forwarded; upstream bytes that answer no checked request,
//! and a switch to a protocol that was not asked for, end the connection.

use tokio::io::{AsyncWrite, AsyncWriteExt};

use super::body::{BodyError, forward_body};
use super::framing::Body;
use super::pipeline::{CloseOnDrop, Pipeline};
use super::{End, Exchange, Pending, Stop};
use crate::classify::{BodyFraming, parse_response};
use crate::proxy::buf::{Fill, ReadBuf, Readable};
use crate::proxy::relay::Activity;

/// The response half: pair each response with its request and forward it.
pub(super) async fn responses<R, W>(
    ur: &mut R,
    cw: &mut W,
    pending: &Pipeline<Box<Pending>>,
    max_head: usize,
    activity: &Activity,
    report: &(dyn Fn(Exchange) + Sync),
) -> Result<End, Stop>
where
    R: Readable,
    W: AsyncWrite + Unpin,
{
    let mut buf = ReadBuf::new();
    let _close = CloseOnDrop(pending);
    loop {
        // Bytes after a complete response belong to the next request's response; with no
        // request pending they answer nothing the proxy checked (a request hidden in a
        // body the server read as a second request), and would be handed to the client's
        // next request.
        if !buf.is_empty() && pending.is_empty() {
            return Err(unsolicited(buf.len()));
        }
        // Between exchanges, also watch the upstream: a server closing an idle
        // keep-alive connection is passed on to the client at once.
        buf.release();
        let next = tokio::select! {
            biased;
            p = pending.pop() => p,
            r = buf.fill(ur, max_head), if buf.is_empty() => match r? {
                Fill::Eof => {
                    cw.shutdown().await?;
                    return Ok(End::Closed);
                }
                // `pop` is polled first and requests are queued before they are
                // written, so bytes read here arrived while nothing was asked.
                Fill::Read(_) | Fill::Full => return Err(unsolicited(buf.len())),
            },
        };
        let Some(mut p) = next else { break };
        let exchange = |p: Box<Pending>, status, content_type, length| Exchange {
            rule: p.rule,
            request: p.head,
            status,
            content_type,
            length,
            stream_id: None,
        };
        loop {
            let head = loop {
                match parse_response(buf.filled(), max_head, &p.head.method) {
                    Ok(Some(h)) => break h,
                    Ok(None) => match buf.fill(ur, max_head).await? {
                        Fill::Read(_) => activity.touch(),
                        Fill::Eof => {
                            report(exchange(p, None, None, 0));
                            cw.shutdown().await?;
                            return Ok(End::Closed);
                        }
                        Fill::Full => return Err(Stop::Failed("response head too large".into())),
                    },
                    Err(e) => return Err(Stop::Failed(format!("response: {e}"))),
                }
            };
            let status = head.status;
            let switched = (status == 101 && p.head.upgrade.is_some())
                || (p.head.is_connect() && (200..300).contains(&status));
            if status == 101 && !switched {
                return Err(Stop::Failed("101 without an upgrade request".into()));
            }
            if status == 101 && !head.upgrade_websocket {
                // The request asked for websocket only; a server switching to anything
                // else (h2c) would carry requests the proxy cannot inspect.
                return Err(Stop::Failed(
                    "101 response does not upgrade to websocket".into(),
                ));
            }
            if switched || (100..200).contains(&status) {
                cw.write_all(&buf.filled()[..head.head_len]).await?;
                buf.consume(head.head_len);
            }
            if switched {
                if let Some(s) = p.switch.take() {
                    let _ = s.send(true);
                }
                report(exchange(p, Some(status), head.content_type, 0));
                return Ok(End::Upgraded(buf));
            }
            if (100..200).contains(&status) {
                continue; // interim response; the final one follows
            }
            if let Some(s) = p.switch.take() {
                let _ = s.send(false);
            }
            let mut body = Body::new(head.framing);
            forward_body(head.head_len, &mut body, &mut buf, ur, cw, activity)
                .await
                .map_err(|e| match e {
                    BodyError::Malformed(m) => Stop::Failed(format!("response body: {m}")),
                    BodyError::Io(e) => Stop::Failed(format!("response body: {e}")),
                })?;
            let until_close = head.framing == BodyFraming::CloseDelimited;
            report(exchange(p, Some(status), head.content_type, body.payload));
            if until_close {
                return Ok(End::Closed);
            }
            break;
        }
    }
    // No more requests will come: every response was delivered, so the upstream may
    // only end the stream.
    if buf.is_empty() {
        buf.release();
        match buf.fill(ur, max_head).await? {
            Fill::Eof => {}
            Fill::Read(_) | Fill::Full => return Err(unsolicited(buf.len())),
        }
    } else {
        return Err(unsolicited(buf.len()));
    }
    cw.shutdown().await?;
    Ok(End::Closed)
}

/// Upstream bytes that answer no pending request: a protocol error, both sides reset.
fn unsolicited(n: usize) -> Stop {
    Stop::Failed(format!("upstream sent {n} bytes with no request pending"))
}
