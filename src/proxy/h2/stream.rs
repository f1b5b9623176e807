//! One allowed HTTP/2 stream: opened to the server as a new stream with the same header
//! block, then DATA and trailers copied both ways under both connections' flow control.
//!
//! Flow control carries backpressure end to end: a chunk's window is given back to the
//! sender only once the chunk was handed to the other side, so a stream never buffers
//! more than its window however slow the receiver is.

use bytes::Bytes;
use futures::future::poll_fn;
use h2::client::SendRequest;
use h2::server::SendResponse;
use h2::{Reason, RecvStream, SendStream};
use http::{Request, Response};

/// How an allowed stream ended.
#[derive(Debug)]
pub(super) struct Forwarded {
    /// The response status, `None` when the stream ended before a response.
    pub status: Option<u16>,
    pub content_type: Option<String>,
    /// Response DATA bytes.
    pub length: u64,
    /// Why the stream was reset, if it was.
    pub error: Option<h2::Error>,
    /// The client reset the stream before its response came: what a rapid-reset flood
    /// is made of (the server did the work, nobody reads the answer).
    pub reset_early: bool,
}

/// Forward `request` to the server over `up` and its response back over `respond`.
pub(super) async fn forward(
    up: SendRequest<Bytes>,
    request: Request<RecvStream>,
    mut respond: SendResponse<Bytes>,
) -> Forwarded {
    let mut out = Forwarded {
        status: None,
        content_type: None,
        length: 0,
        error: None,
        reset_early: false,
    };
    if let Err(e) = exchange(up, request, &mut respond, &mut out).await {
        // Tell the client the stream is over; the server side was reset where it failed.
        respond.send_reset(e.reason().unwrap_or(Reason::INTERNAL_ERROR));
        out.error = Some(e);
    }
    out
}

async fn exchange(
    up: SendRequest<Bytes>,
    request: Request<RecvStream>,
    respond: &mut SendResponse<Bytes>,
    out: &mut Forwarded,
) -> Result<(), h2::Error> {
    let (parts, body) = request.into_parts();
    let ends = body.is_end_stream();
    // Waits while the server's SETTINGS_MAX_CONCURRENT_STREAMS are all in use.
    let mut up = up.ready().await?;
    let (response, to_server) = up.send_request(Request::from_parts(parts, ()), ends)?;
    let request_body = async {
        if ends {
            return Ok(());
        }
        copy(body, to_server).await.map(|_| ())
    };
    let response = async {
        // The client may give up (RST_STREAM) while the server thinks: stop waiting.
        let response = tokio::select! {
            r = response => r?,
            reset = poll_fn(|cx| respond.poll_reset(cx)) => {
                out.reset_early = true;
                return Err(h2::Error::from(reset.unwrap_or(Reason::CANCEL)));
            }
        };
        let (parts, body) = response.into_parts();
        out.status = Some(parts.status.as_u16());
        out.content_type = parts
            .headers
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let ends = body.is_end_stream();
        let to_client = respond.send_response(Response::from_parts(parts, ()), ends)?;
        if !ends {
            out.length = copy(body, to_client).await?;
        }
        Ok(())
    };
    let (sent, answered) = futures::future::join(request_body, response).await;
    answered.and(sent)
}

/// Copy DATA and trailers from `from` to `to`; the byte count of the DATA. On an error
/// from either side `to` is reset, so the peer behind it stops too.
async fn copy(mut from: RecvStream, mut to: SendStream<Bytes>) -> Result<u64, h2::Error> {
    let copied = async {
        let mut n = 0u64;
        while let Some(chunk) = from.data().await {
            let mut chunk = chunk?;
            let len = chunk.len();
            while !chunk.is_empty() {
                to.reserve_capacity(chunk.len());
                let granted = poll_fn(|cx| to.poll_capacity(cx))
                    .await
                    .ok_or_else(|| h2::Error::from(Reason::CANCEL))??;
                if granted == 0 {
                    continue;
                }
                let part = chunk.split_to(granted.min(chunk.len()));
                to.send_data(part, false)?;
            }
            from.flow_control().release_capacity(len)?;
            n += len as u64;
        }
        match from.trailers().await? {
            Some(trailers) => to.send_trailers(trailers)?,
            None => to.send_data(Bytes::new(), true)?,
        }
        Ok(n)
    };
    let r: Result<u64, h2::Error> = copied.await;
    if let Err(e) = &r {
        to.send_reset(e.reason().unwrap_or(Reason::CANCEL));
    }
    r
}
