//! How many bytes of a stream belong to one message body, whatever its framing
//! (`Content-Length`, chunked, until close), counted as they pass. The chunked parser is
//! `classify`'s: any framing it could read two ways is an error, and errors deny.

use crate::classify::{BodyFraming, BodyTracker, ParseError};

/// Incremental tracker of one body: says how many buffered bytes belong to it.
#[derive(Clone, Debug)]
pub struct Body {
    tracker: BodyTracker,
    /// Body bytes seen on the wire (chunked framing included).
    pub payload: u64,
}

impl Body {
    pub fn new(framing: BodyFraming) -> Body {
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
    pub fn advance(&mut self, data: &[u8]) -> Result<usize, ParseError> {
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
