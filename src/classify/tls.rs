//! Incremental, strict ClientHello parser.
//!
//! Stateless over "all bytes read so far": the data path calls it again after each read
//! and gets `Incomplete { at_least }` until the whole hello (possibly fragmented over
//! several TLS records, possibly larger than one MTU) has arrived. Hot path: a hello in a
//! single record (the usual case) is parsed in place with no allocation; only a hello
//! fragmented over several records is reassembled into one buffer.
//!
//! Beyond the first hello: [`retry`] tells a HelloRetryRequest from the server's first
//! bytes and reads the second hello it asks for; [`framing`] checks the record framing
//! of the rest of the client's stream.

use super::{HelloParse, ParseError};
use hello::parse_body;

pub use framing::{MAX_CIPHERTEXT, TlsFraming};
pub use retry::{HRR_RANDOM, ServerFirst, parse_retried_hello, parse_server_first};

mod framing;
mod hello;
mod retry;

/// Cap on the bytes (record headers included) a ClientHello may occupy. Real hellos are
/// 0.2–2 KB; 64 KiB leaves room for big post-quantum key shares and padding.
pub const MAX_HELLO_LEN: usize = 64 * 1024;
const RECORD_HEADER: usize = 5;
const MAX_RECORD: usize = 1 << 14;
const CONTENT_HANDSHAKE: u8 = 22;
const HS_CLIENT_HELLO: u8 = 1;
const EXT_SERVER_NAME: u16 = 0;
const EXT_ALPN: u16 = 16;
const EXT_SUPPORTED_VERSIONS: u16 = 43;
/// More extensions than any real client sends; bounds the duplicate check.
const MAX_EXTENSIONS: usize = 128;

/// Parse a ClientHello that may span several TLS records and TCP segments.
pub fn parse_client_hello(buf: &[u8]) -> Result<HelloParse, ParseError> {
    let span = match locate(buf)? {
        Located::Incomplete(at_least) => return Ok(HelloParse::Incomplete { at_least }),
        Located::Done(span) => span,
    };
    let hello = if span.records == 1 {
        // In bounds by construction (`locate` checked the record); `get` keeps it total.
        let body = buf.get(RECORD_HEADER + 4..RECORD_HEADER + span.hs_total);
        parse_body(body.unwrap_or_default())?
    } else {
        let message = reassemble(&buf[..span.consumed], span.hs_total);
        parse_body(message.get(4..).unwrap_or_default())?
    };
    Ok(HelloParse::Done {
        hello,
        consumed: span.consumed,
    })
}

enum Located {
    Incomplete(usize),
    Done(Span),
}

struct Span {
    /// Handshake message length including its 4-byte header.
    hs_total: usize,
    /// Wire bytes of the records carrying it.
    consumed: usize,
    records: usize,
}

/// Walk the records until they carry the whole handshake message, validating each
/// header and the handshake header as soon as its bytes are visible.
fn locate(buf: &[u8]) -> Result<Located, ParseError> {
    let mut pos = 0;
    let mut records = 0;
    // Payload bytes of the complete records before `pos`.
    let mut carried = 0usize;
    let mut hs_header = [0u8; 4];
    let mut hs_total: Option<usize> = None;
    loop {
        let Some(hdr) = buf.get(pos..pos + RECORD_HEADER) else {
            return Ok(Located::Incomplete(pos + RECORD_HEADER));
        };
        if hdr[0] != CONTENT_HANDSHAKE {
            return Err(ParseError::TlsRecordType(hdr[0]));
        }
        let len = handshake_record_len(hdr)?;
        let start = pos + RECORD_HEADER;
        let end = start + len;
        cap(end)?;
        records += 1;
        let avail = &buf[start..end.min(buf.len())];
        if hs_total.is_none() {
            // The 4-byte handshake header may itself be split across records.
            for (i, &b) in avail
                .iter()
                .enumerate()
                .take(4usize.saturating_sub(carried))
            {
                hs_header[carried + i] = b;
            }
            if carried + avail.len() >= 4 {
                if hs_header[0] != HS_CLIENT_HELLO {
                    return Err(ParseError::NotClientHello(hs_header[0]));
                }
                let body = (usize::from(hs_header[1]) << 16)
                    | (usize::from(hs_header[2]) << 8)
                    | usize::from(hs_header[3]);
                let total = body + 4;
                // Fewest wire bytes that could carry it: the rest all in this record.
                cap(start + total - carried)?;
                hs_total = Some(total);
            }
        }
        if let Some(total) = hs_total {
            if len > total - carried {
                return Err(ParseError::TlsTrailing("ClientHello record"));
            }
            if buf.len() >= end && len == total - carried {
                return Ok(Located::Done(Span {
                    hs_total: total,
                    consumed: end,
                    records,
                }));
            }
        }
        if buf.len() < end {
            // The early checks above already ran on the partial record.
            return Ok(Located::Incomplete(end));
        }
        carried += len;
        pos = end;
    }
}

/// The body length of a handshake record, from its 5-byte header: version 3.x and a
/// length of 1..=[`MAX_RECORD`] (an empty handshake record is how parsers are made to
/// disagree about where a message starts).
fn handshake_record_len(hdr: &[u8]) -> Result<usize, ParseError> {
    if hdr[1] != 3 {
        return Err(ParseError::TlsRecordVersion(u16::from_be_bytes([
            hdr[1], hdr[2],
        ])));
    }
    let len = usize::from(u16::from_be_bytes([hdr[3], hdr[4]]));
    if len == 0 {
        return Err(ParseError::TlsEmptyRecord);
    }
    if len > MAX_RECORD {
        return Err(ParseError::TlsRecordTooLong(len));
    }
    Ok(len)
}

fn cap(needed: usize) -> Result<(), ParseError> {
    if needed > MAX_HELLO_LEN {
        Err(ParseError::HelloTooLarge {
            needed,
            max: MAX_HELLO_LEN,
        })
    } else {
        Ok(())
    }
}

/// Concatenate the payloads of the (already validated, complete) records in `wire`.
fn reassemble(wire: &[u8], hs_total: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(hs_total);
    let mut rest = wire;
    while let Some(hdr) = rest.get(..RECORD_HEADER) {
        let len = usize::from(u16::from_be_bytes([hdr[3], hdr[4]]));
        let end = (RECORD_HEADER + len).min(rest.len());
        out.extend_from_slice(&rest[RECORD_HEADER..end]);
        rest = &rest[end..];
    }
    out
}

#[cfg(test)]
mod tests;
