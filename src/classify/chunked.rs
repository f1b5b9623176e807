//! Body trackers: they find where a message body ends without changing a byte of it.
//!
//! The chunked tracker is a byte-level state machine, so any split of the input across
//! reads gives the same answer; chunk data is skipped in bulk (and can be skipped
//! without being read at all, for `splice(2)`, via [`ChunkedDecoder::skip_data`]).
//! CRLF is required everywhere: bare LF/CR and garbage after the size are where
//! chunked-parsing disagreements (and so smuggling) come from.

use super::{BodyFraming, ParseError};

/// Default cap on one chunk-size line (size + extensions).
pub const DEFAULT_MAX_CHUNK_LINE: usize = 4096;
/// Default cap on the whole trailer section.
pub const DEFAULT_MAX_TRAILERS: usize = 16 * 1024;
/// Cap on the number of trailer fields (the same as on header fields).
pub const MAX_TRAILER_FIELDS: usize = super::DEFAULT_MAX_HEADERS;
/// u64 has 16 hex digits; more (even leading zeros) is refused.
const MAX_SIZE_DIGITS: u32 = 16;

#[derive(Clone, Debug, PartialEq, Eq)]
enum State {
    Size {
        value: u64,
        digits: u32,
    },
    /// After the size: optional whitespace, then `;` or CR.
    ExtBws {
        value: u64,
    },
    /// Inside `;ext=...` until CR.
    Ext {
        value: u64,
    },
    SizeLf {
        value: u64,
    },
    Data {
        remaining: u64,
    },
    DataCr,
    DataLf,
    /// At the start of a trailer line: CR ends the section, else a field name starts.
    TrailerStart,
    /// Inside a field name (`token`), until `:`.
    TrailerName,
    /// After the colon: field-value bytes until CR.
    TrailerValue,
    TrailerLf,
    EndLf,
    Done,
    Failed(ParseError),
}

/// Incremental tracker of a `Transfer-Encoding: chunked` body, trailers included.
#[derive(Clone, Debug)]
pub struct ChunkedDecoder {
    state: State,
    line_len: usize,
    trailer_len: usize,
    trailer_fields: usize,
    max_line: usize,
    max_trailers: usize,
}

impl Default for ChunkedDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl ChunkedDecoder {
    pub fn new() -> Self {
        Self::with_limits(DEFAULT_MAX_CHUNK_LINE, DEFAULT_MAX_TRAILERS)
    }

    pub fn with_limits(max_line: usize, max_trailers: usize) -> Self {
        Self {
            state: State::Size {
                value: 0,
                digits: 0,
            },
            line_len: 0,
            trailer_len: 0,
            trailer_fields: 0,
            max_line,
            max_trailers,
        }
    }

    /// Feed the next bytes. Returns how many belong to the body (the rest, if `done`, is
    /// the next message) and whether the body (with its trailers) is complete. After an
    /// error every call returns the same error.
    pub fn advance(&mut self, buf: &[u8]) -> Result<(usize, bool), ParseError> {
        let mut i = 0;
        while i < buf.len() {
            match &mut self.state {
                State::Done => return Ok((i, true)),
                State::Failed(e) => return Err(e.clone()),
                State::Data { remaining } => {
                    let take = usize::try_from(*remaining)
                        .unwrap_or(usize::MAX)
                        .min(buf.len() - i);
                    i += take;
                    *remaining -= take as u64;
                    if *remaining == 0 {
                        self.state = State::DataCr;
                    }
                }
                _ => {
                    if let Err(e) = self.step(buf[i]) {
                        self.state = State::Failed(e.clone());
                        return Err(e);
                    }
                    i += 1;
                }
            }
        }
        match &self.state {
            State::Failed(e) => Err(e.clone()),
            s => Ok((i, *s == State::Done)),
        }
    }

    /// True once the whole body has been seen.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Chunk-data bytes that may be forwarded without inspection right now.
    pub fn data_remaining(&self) -> u64 {
        match self.state {
            State::Data { remaining } => remaining,
            _ => 0,
        }
    }

    /// Account for up to `n` chunk-data bytes forwarded without being read; returns how
    /// many were accounted (never more than [`Self::data_remaining`]).
    pub fn skip_data(&mut self, n: u64) -> u64 {
        let State::Data { remaining } = &mut self.state else {
            return 0;
        };
        let n = n.min(*remaining);
        *remaining -= n;
        if *remaining == 0 {
            self.state = State::DataCr;
        }
        n
    }

    fn size_line_byte(&mut self) -> Result<(), ParseError> {
        self.line_len += 1;
        if self.line_len > self.max_line {
            return Err(ParseError::ChunkLineTooLong { max: self.max_line });
        }
        Ok(())
    }

    fn step(&mut self, b: u8) -> Result<(), ParseError> {
        let expect = |want: u8, next: State| {
            if b == want {
                Ok(next)
            } else {
                Err(ParseError::ChunkMissingCrlf)
            }
        };
        self.state = match self.state {
            State::Size { value, digits } => {
                self.size_line_byte()?;
                match (b as char).to_digit(16) {
                    Some(d) if digits < MAX_SIZE_DIGITS => State::Size {
                        value: (value << 4) | u64::from(d),
                        digits: digits + 1,
                    },
                    Some(_) => return Err(ParseError::InvalidChunkSize),
                    None if digits == 0 => return Err(ParseError::InvalidChunkSize),
                    None => return self.after_size(b, value),
                }
            }
            State::ExtBws { value } => {
                self.size_line_byte()?;
                return self.after_size(b, value);
            }
            State::Ext { value } => {
                self.size_line_byte()?;
                match b {
                    b'\r' => State::SizeLf { value },
                    b'\n' => return Err(ParseError::ChunkMissingCrlf),
                    b'\t' | 0x20..=0x7e | 0x80..=0xff => State::Ext { value },
                    _ => return Err(ParseError::InvalidChunkSize),
                }
            }
            State::SizeLf { value: 0 } => expect(b'\n', State::TrailerStart)?,
            State::SizeLf { value } => expect(b'\n', State::Data { remaining: value })?,
            State::DataCr => expect(b'\r', State::DataLf)?,
            State::DataLf => {
                self.line_len = 0;
                expect(
                    b'\n',
                    State::Size {
                        value: 0,
                        digits: 0,
                    },
                )?
            }
            State::TrailerStart if b == b'\r' => State::EndLf,
            State::TrailerStart => {
                self.trailer_byte_count()?;
                self.trailer_fields += 1;
                if self.trailer_fields > MAX_TRAILER_FIELDS {
                    return Err(ParseError::TooManyTrailers {
                        max: MAX_TRAILER_FIELDS,
                    });
                }
                // A name of at least one tchar; SP/HTAB here is obs-fold.
                match b {
                    b'\n' => return Err(ParseError::ChunkMissingCrlf),
                    _ if is_tchar(b) => State::TrailerName,
                    _ => return Err(ParseError::InvalidTrailer),
                }
            }
            State::TrailerName => {
                self.trailer_byte_count()?;
                match b {
                    b':' => State::TrailerValue,
                    b'\n' => return Err(ParseError::ChunkMissingCrlf),
                    _ if is_tchar(b) => State::TrailerName,
                    // Whitespace before the colon, CR in a name, controls...
                    _ => return Err(ParseError::InvalidTrailer),
                }
            }
            State::TrailerValue => return self.trailer_value_byte(b),
            State::TrailerLf => {
                self.trailer_byte_count()?;
                expect(b'\n', State::TrailerStart)?
            }
            State::EndLf => expect(b'\n', State::Done)?,
            // Handled by `advance`; unreachable here, kept total without panicking.
            State::Data { .. } | State::Done | State::Failed(_) => return Ok(()),
        };
        Ok(())
    }

    /// The byte after a complete chunk size: whitespace, `;` or CR.
    fn after_size(&mut self, b: u8, value: u64) -> Result<(), ParseError> {
        self.state = match b {
            b' ' | b'\t' => State::ExtBws { value },
            b';' => State::Ext { value },
            b'\r' => State::SizeLf { value },
            b'\n' => return Err(ParseError::ChunkMissingCrlf),
            _ => return Err(ParseError::InvalidChunkSize),
        };
        Ok(())
    }

    fn trailer_byte_count(&mut self) -> Result<(), ParseError> {
        self.trailer_len += 1;
        if self.trailer_len > self.max_trailers {
            return Err(ParseError::TrailersTooLarge {
                max: self.max_trailers,
            });
        }
        Ok(())
    }

    /// `field-value = *( field-vchar / SP / HTAB / obs-text )`, ended by CRLF.
    fn trailer_value_byte(&mut self, b: u8) -> Result<(), ParseError> {
        self.trailer_byte_count()?;
        self.state = match b {
            b'\r' => State::TrailerLf,
            b'\n' => return Err(ParseError::ChunkMissingCrlf),
            b'\t' | 0x20..=0x7e | 0x80..=0xff => State::TrailerValue,
            _ => return Err(ParseError::InvalidTrailer),
        };
        Ok(())
    }
}

/// RFC 9110 5.6.2 `tchar`: the bytes of a field name.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Tracker of a `Content-Length` body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LengthDecoder {
    remaining: u64,
}

impl LengthDecoder {
    pub fn new(len: u64) -> Self {
        Self { remaining: len }
    }

    /// Same contract as [`ChunkedDecoder::advance`]; never fails.
    pub fn advance(&mut self, buf: &[u8]) -> (usize, bool) {
        let take = usize::try_from(self.remaining)
            .unwrap_or(usize::MAX)
            .min(buf.len());
        self.remaining -= take as u64;
        (take, self.remaining == 0)
    }

    pub fn remaining(&self) -> u64 {
        self.remaining
    }
}

/// One tracker for any [`BodyFraming`], so the relay loop has a single code path.
#[derive(Clone, Debug)]
pub enum BodyTracker {
    Length(LengthDecoder),
    Chunked(ChunkedDecoder),
    /// Ends only when the peer closes (responses only).
    UntilClose,
}

impl BodyTracker {
    pub fn new(framing: BodyFraming) -> Self {
        match framing {
            BodyFraming::None => Self::Length(LengthDecoder::new(0)),
            BodyFraming::Length(n) => Self::Length(LengthDecoder::new(n)),
            BodyFraming::Chunked => Self::Chunked(ChunkedDecoder::new()),
            BodyFraming::CloseDelimited => Self::UntilClose,
        }
    }

    /// Feed bytes: `(consumed, done)`. `UntilClose` consumes everything, never done.
    pub fn advance(&mut self, buf: &[u8]) -> Result<(usize, bool), ParseError> {
        match self {
            Self::Length(l) => Ok(l.advance(buf)),
            Self::Chunked(c) => c.advance(buf),
            Self::UntilClose => Ok((buf.len(), false)),
        }
    }

    pub fn is_done(&self) -> bool {
        match self {
            Self::Length(l) => l.remaining() == 0,
            Self::Chunked(c) => c.is_done(),
            Self::UntilClose => false,
        }
    }
}

#[cfg(test)]
mod tests;
