//! Reading request heads and forwarding bodies for the request loop.

use std::io;

use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::time::Instant;

use super::framing::Body;
use super::{BODY_BUF, Denial, Stop, Watch};
use crate::proxy::buf::{Fill, ReadBuf, Readable};
use crate::proxy::relay::Activity;

/// Read more of a request head: unbounded while nothing of it has arrived (an idle
/// keep-alive connection), by `deadline` once it has started.
/// Draining ends an idle connection like a client end of stream would.
pub(super) async fn read_head<R: Readable>(
    cr: &mut R,
    buf: &mut ReadBuf,
    watch: &mut Watch<'_>,
    deadline: &mut Option<Instant>,
) -> Result<Fill, Stop> {
    let limits = watch.limits;
    if buf.is_empty() {
        // Between requests: hold no buffer while the connection idles.
        buf.release();
        return match watch.drain.as_deref_mut() {
            Some(drain) => tokio::select! {
                r = buf.fill(cr, limits.max_head) => Ok(r?),
                () = drain.draining() => Ok(Fill::Eof),
            },
            None => Ok(buf.fill(cr, limits.max_head).await?),
        };
    }
    let d = *deadline.get_or_insert_with(|| Instant::now() + limits.head_timeout);
    match tokio::time::timeout_at(d, buf.fill(cr, limits.max_head)).await {
        Ok(r) => Ok(r?),
        Err(_) => Err(Stop::Denied(Denial {
            rule: None,
            reason: "request head timeout".into(),
            bytes: buf.filled().to_vec(),
        })),
    }
}

pub(super) enum BodyError {
    Malformed(String),
    Io(io::Error),
}

impl From<io::Error> for BodyError {
    fn from(e: io::Error) -> BodyError {
        BodyError::Io(e)
    }
}

/// Forward a message's first `head` bytes (its head, at the start of `buf`) and then its
/// body from `rd` to `wr`; leaves any bytes after the body (the next message) in `buf`.
/// An until-close body ends with the stream, and the end is passed on with `shutdown`.
///
/// The head goes out in the same write as the body bytes already buffered: with
/// `TCP_NODELAY`, separate writes are separate segments, and a small response would cost
/// the peer an extra packet, wakeup and ACK.
pub(super) async fn forward_body<R, W>(
    mut head: usize,
    body: &mut Body,
    buf: &mut ReadBuf,
    rd: &mut R,
    wr: &mut W,
    activity: &Activity,
) -> Result<(), BodyError>
where
    R: Readable,
    W: AsyncWrite + Unpin,
{
    loop {
        let n = body
            .advance(&buf.filled()[head..])
            .map_err(|e| BodyError::Malformed(e.to_string()))?;
        if head + n > 0 {
            wr.write_all(&buf.filled()[..head + n]).await?;
            buf.consume(head + n);
            head = 0;
        }
        if body.is_done() {
            return Ok(());
        }
        match buf.fill(rd, BODY_BUF).await? {
            Fill::Read(_) => {
                activity.touch();
                // A read that filled the buffer: the body is streaming, read bigger.
                if buf.len() == buf.capacity() {
                    buf.grow(BODY_BUF);
                }
            }
            Fill::Eof if body.until_close() => {
                wr.shutdown().await?;
                return Ok(());
            }
            Fill::Eof => return Err(BodyError::Io(io::ErrorKind::UnexpectedEof.into())),
            Fill::Full => return Err(BodyError::Malformed("chunk line too long".into())),
        }
    }
}
