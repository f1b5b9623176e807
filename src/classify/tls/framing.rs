//! Record framing of one direction of a TLS connection, for the whole connection.
//!
//! Once a ClientHello is allowed the proxy cannot read what follows (it is encrypted), but
//! it can still check that the stream keeps the shape of TLS: a sequence of records, each
//! a 5-byte header (content type, legacy version, length) and that many bytes. Without
//! this, a client could send one valid hello and then plaintext (`GET /admin`) to a
//! server that speaks another protocol on the port, and the proxy would relay it.
//!
//! What this does not catch: plaintext wrapped in well-formed record headers looks the
//! same as ciphertext; only terminating TLS could tell them apart.
//!
//! The check is a small state machine fed the stream chunk by chunk, as the relay reads
//! it: a header split across reads is gathered, and the payload is skipped without being
//! looked at, so the cost is per record, not per byte.

use crate::classify::ParseError;

const HEADER: usize = 5;
/// Longest record a peer may send: a TLS 1.2 TLSCiphertext (2^14 + 2048, RFC 5246
/// 6.2.3), which also covers TLS 1.3's 2^14 + 256.
pub const MAX_CIPHERTEXT: usize = (1 << 14) + 2048;
const CHANGE_CIPHER_SPEC: u8 = 20;
const APPLICATION_DATA: u8 = 23;

/// Where the stream is: inside a record header (`have` of its bytes seen) or inside a
/// record's payload (`left` bytes of it to come).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TlsFraming {
    header: [u8; HEADER],
    have: u8,
    left: u16,
}

impl TlsFraming {
    /// A stream at its start (expecting a record header).
    pub fn new() -> TlsFraming {
        TlsFraming::default()
    }

    /// Check the next bytes of the stream. After an error the stream stays refused:
    /// every later call returns the same error.
    pub fn feed(&mut self, mut chunk: &[u8]) -> Result<(), ParseError> {
        loop {
            if usize::from(self.have) == HEADER {
                // Only a refused header stays complete (an accepted one is cleared).
                return check_header(&self.header).map(drop);
            }
            if chunk.is_empty() {
                return Ok(());
            }
            if self.left > 0 {
                let skip = usize::from(self.left).min(chunk.len());
                // `skip` is at most `left`, a u16.
                self.left -= skip as u16;
                chunk = &chunk[skip..];
                continue;
            }
            let have = usize::from(self.have);
            let take = (HEADER - have).min(chunk.len());
            self.header[have..have + take].copy_from_slice(&chunk[..take]);
            chunk = &chunk[take..];
            // At most HEADER.
            self.have = (have + take) as u8;
            if usize::from(self.have) == HEADER {
                self.left = check_header(&self.header)?;
                self.have = 0;
            }
        }
    }

    /// True between records: no header bytes gathered, no payload owed.
    pub fn at_boundary(&self) -> bool {
        self.have == 0 && self.left == 0
    }
}

/// The payload length a record header announces, if the header is one TLS allows.
fn check_header(h: &[u8; HEADER]) -> Result<u16, ParseError> {
    let typ = h[0];
    if !(CHANGE_CIPHER_SPEC..=APPLICATION_DATA).contains(&typ) {
        return Err(ParseError::TlsContentType(typ));
    }
    let version = u16::from_be_bytes([h[1], h[2]]);
    if !(0x0301..=0x0303).contains(&version) {
        return Err(ParseError::TlsLegacyVersion(version));
    }
    let len = u16::from_be_bytes([h[3], h[4]]);
    if usize::from(len) > MAX_CIPHERTEXT {
        return Err(ParseError::TlsCiphertextTooLong(usize::from(len)));
    }
    if len == 0 && typ != APPLICATION_DATA {
        return Err(ParseError::TlsEmptyRecordOf(typ));
    }
    Ok(len)
}

#[cfg(test)]
mod tests;
