//! HTTP/1.x heads and body framing as the request loop uses them: a thin adapter over
//! `classify` (httparse plus the smuggling checks), so the loop depends on one narrow
//! surface.
//!
//! Anything that could be framed two ways is a [`WireError`], and errors deny.

use crate::classify::{self, BodyTracker};

pub use crate::classify::{
    BodyFraming as Framing, ParseError as WireError, RequestHead, ResponseHead,
};

/// Parse a request head from the start of `buf`; `Ok(None)` until it is complete. A head
/// not complete within `max` bytes is an error.
pub fn parse_request(buf: &[u8], max: usize) -> Result<Option<RequestHead>, WireError> {
    classify::parse_request(buf, max)
}

/// Parse a response head to a request made with `method`; `Ok(None)` until complete.
pub fn parse_response(
    buf: &[u8],
    max: usize,
    method: &str,
) -> Result<Option<ResponseHead>, WireError> {
    classify::parse_response(buf, max, method)
}

pub fn is_connect(head: &RequestHead) -> bool {
    head.method == "CONNECT"
}

/// `HTTP/1.0` or `HTTP/1.1`, for events.
pub fn protocol(head: &RequestHead) -> &'static str {
    if head.version_minor == 0 {
        "HTTP/1.0"
    } else {
        "HTTP/1.1"
    }
}

/// Incremental tracker of one body: says how many buffered bytes belong to it.
#[derive(Clone, Debug)]
pub struct Body {
    tracker: BodyTracker,
    /// Body bytes seen on the wire (chunked framing included).
    pub payload: u64,
}

impl Body {
    pub fn new(framing: Framing) -> Body {
        Body {
            tracker: BodyTracker::new(framing),
            payload: 0,
        }
    }

    pub fn is_done(&self) -> bool {
        self.tracker.is_done()
    }

    /// Only the end of the stream ends this body.
    pub fn until_close(&self) -> bool {
        matches!(self.tracker, BodyTracker::UntilClose)
    }

    /// Consume as much of `data` as belongs to the body; returns the count.
    pub fn advance(&mut self, data: &[u8]) -> Result<usize, WireError> {
        if self.is_done() {
            return Ok(0);
        }
        let (n, _) = self.tracker.advance(data)?;
        self.payload += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests;
