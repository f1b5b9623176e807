//! TLS 1.3 HelloRetryRequest (RFC 8446 4.1.4): the server's answer that makes a client
//! send a second ClientHello, which policy must see as well as the first.
//!
//! A HelloRetryRequest is a ServerHello whose `random` is SHA-256("HelloRetryRequest")
//! (4.1.3). [`parse_server_first`] reads the server's first handshake message only as far
//! as that: handshake type, length, legacy_version and random, possibly fragmented over
//! several records. [`parse_retried_hello`] reads the client's answer: an optional
//! change_cipher_spec record (middlebox compatibility, D.4), then the second ClientHello.
//! Both are stateless over "all bytes read so far", like the ClientHello parser.

use super::{CONTENT_HANDSHAKE, RECORD_HEADER, cap, handshake_record_len};
use crate::classify::{HelloParse, ParseError, parse_client_hello};

/// `random` of a HelloRetryRequest: SHA-256("HelloRetryRequest").
pub const HRR_RANDOM: [u8; 32] = [
    0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11, 0xbe, 0x1d, 0x8c, 0x02, 0x1e, 0x65, 0xb8, 0x91,
    0xc2, 0xa2, 0x11, 0x16, 0x7a, 0xbb, 0x8c, 0x5e, 0x07, 0x9e, 0x09, 0xe2, 0xc8, 0xa8, 0x33, 0x9c,
];
const CONTENT_CHANGE_CIPHER_SPEC: u8 = 20;
const HS_SERVER_HELLO: u8 = 2;
/// Handshake header (4) + legacy_version (2) + random (32): all that tells an HRR.
const PREFIX: usize = 4 + 2 + 32;

/// What the server's first handshake message is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServerFirst {
    /// Need more bytes; `at_least` is the total buffer length required to make progress.
    Incomplete { at_least: usize },
    /// Not a HelloRetryRequest: a ServerHello (TLS 1.3 or older), or the server answered
    /// with something else first (an alert, or not TLS at all). Nothing more to watch.
    NotRetry,
    /// A HelloRetryRequest, whose records end `consumed` bytes into the buffer.
    Retry { consumed: usize },
}

/// Read the server's first handshake message far enough to tell a HelloRetryRequest. One
/// change_cipher_spec record before it is skipped (after a retry, the server's
/// compatibility CCS may come first in what is left of its previous flight).
pub fn parse_server_first(buf: &[u8]) -> Result<ServerFirst, ParseError> {
    let mut pos = 0;
    let mut ccs_skipped = false;
    // Payload bytes of the message in the complete records before `pos`.
    let mut carried = 0usize;
    let mut prefix = [0u8; PREFIX];
    let mut total: Option<usize> = None;
    loop {
        let Some(hdr) = buf.get(pos..pos + RECORD_HEADER) else {
            return Ok(ServerFirst::Incomplete {
                at_least: pos + RECORD_HEADER,
            });
        };
        let typ = hdr[0];
        if typ == CONTENT_CHANGE_CIPHER_SPEC && carried == 0 && !ccs_skipped {
            let len = usize::from(u16::from_be_bytes([hdr[3], hdr[4]]));
            let Some(&body) = buf.get(pos + RECORD_HEADER) else {
                return Ok(ServerFirst::Incomplete {
                    at_least: pos + RECORD_HEADER + 1,
                });
            };
            if hdr[1] != 3 || len != 1 || body != 1 {
                return Err(ParseError::TlsChangeCipherSpec);
            }
            ccs_skipped = true;
            pos += RECORD_HEADER + 1;
            continue;
        }
        if typ != CONTENT_HANDSHAKE {
            if carried == 0 {
                return Ok(ServerFirst::NotRetry);
            }
            // Something else between the fragments of the message.
            return Err(ParseError::TlsRecordType(typ));
        }
        let len = handshake_record_len(hdr)?;
        let start = pos + RECORD_HEADER;
        let end = start + len;
        cap(end)?;
        let avail = &buf[start..end.min(buf.len())];
        let seen = carried + avail.len();
        if carried < PREFIX {
            let n = (PREFIX - carried).min(avail.len());
            prefix[carried..carried + n].copy_from_slice(&avail[..n]);
        }
        if total.is_none() && seen >= 4 {
            if prefix[0] != HS_SERVER_HELLO {
                return Err(ParseError::NotServerHello(prefix[0]));
            }
            let body = (usize::from(prefix[1]) << 16)
                | (usize::from(prefix[2]) << 8)
                | usize::from(prefix[3]);
            if body < PREFIX - 4 {
                return Err(ParseError::TlsLength("ServerHello"));
            }
            cap(start + body + 4 - carried)?;
            total = Some(body + 4);
        }
        if let Some(total) = total
            && seen >= PREFIX
        {
            if prefix[6..] != HRR_RANDOM {
                return Ok(ServerFirst::NotRetry);
            }
            // The client answers a retry with a new hello: nothing may follow it in its
            // records (RFC 8446 5.1: no handshake data after it before the next flight).
            if len > total - carried {
                return Err(ParseError::TlsTrailing("HelloRetryRequest record"));
            }
            if buf.len() >= end && len == total - carried {
                return Ok(ServerFirst::Retry { consumed: end });
            }
        }
        if buf.len() < end {
            return Ok(ServerFirst::Incomplete { at_least: end });
        }
        carried += len;
        pos = end;
    }
}

/// The client's answer to a HelloRetryRequest: an optional change_cipher_spec record,
/// then the second ClientHello (possibly over several records). `consumed` counts both.
pub fn parse_retried_hello(buf: &[u8]) -> Result<HelloParse, ParseError> {
    let skip = match buf.first() {
        Some(&CONTENT_CHANGE_CIPHER_SPEC) => {
            let Some(rec) = buf.get(..RECORD_HEADER + 1) else {
                return Ok(HelloParse::Incomplete {
                    at_least: RECORD_HEADER + 1,
                });
            };
            if rec[1] != 3 || u16::from_be_bytes([rec[3], rec[4]]) != 1 || rec[5] != 1 {
                return Err(ParseError::TlsChangeCipherSpec);
            }
            RECORD_HEADER + 1
        }
        _ => 0,
    };
    Ok(match parse_client_hello(&buf[skip..])? {
        HelloParse::Incomplete { at_least } => HelloParse::Incomplete {
            at_least: at_least + skip,
        },
        HelloParse::Done { hello, consumed } => HelloParse::Done {
            hello,
            consumed: consumed + skip,
        },
    })
}

#[cfg(test)]
mod tests;
