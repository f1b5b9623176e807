//! ClientHello body (RFC 8446 4.1.2) with the three extensions policy and logging need.
//! Every length-prefixed vector must exactly fill its container.

use crate::classify::{ClientHello, ParseError};

use super::{EXT_ALPN, EXT_SERVER_NAME, EXT_SUPPORTED_VERSIONS, MAX_EXTENSIONS};

/// Bounds-checked cursor over a byte slice; every read names the field for the error.
struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Self { buf }
    }

    fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    fn bytes(&mut self, n: usize, field: &'static str) -> Result<&'a [u8], ParseError> {
        if n > self.buf.len() {
            return Err(ParseError::TlsLength(field));
        }
        let (head, tail) = self.buf.split_at(n);
        self.buf = tail;
        Ok(head)
    }

    fn u8(&mut self, field: &'static str) -> Result<u8, ParseError> {
        Ok(self.bytes(1, field)?[0])
    }

    fn u16(&mut self, field: &'static str) -> Result<u16, ParseError> {
        let b = self.bytes(2, field)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    /// A vector with a 1-byte length prefix.
    fn vec8(&mut self, field: &'static str) -> Result<Reader<'a>, ParseError> {
        let n = self.u8(field)?;
        Ok(Reader::new(self.bytes(usize::from(n), field)?))
    }

    /// A vector with a 2-byte length prefix.
    fn vec16(&mut self, field: &'static str) -> Result<Reader<'a>, ParseError> {
        let n = self.u16(field)?;
        Ok(Reader::new(self.bytes(usize::from(n), field)?))
    }

    /// Require that nothing is left.
    fn finish(self, field: &'static str) -> Result<(), ParseError> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err(ParseError::TlsTrailing(field))
        }
    }
}

/// GREASE values (RFC 8701) are `0x?A?A` with equal bytes; they carry no meaning.
fn is_grease(v: u16) -> bool {
    v & 0x0f0f == 0x0a0a && v >> 8 == v & 0xff
}

/// Parse the ClientHello message body (after the 4-byte handshake header).
pub(super) fn parse_body(body: &[u8]) -> Result<ClientHello, ParseError> {
    let mut r = Reader::new(body);
    let legacy_version = r.u16("legacy_version")?;
    r.bytes(32, "random")?;
    let session_id = r.vec8("legacy_session_id")?;
    if session_id.buf.len() > 32 {
        return Err(ParseError::TlsInvalid("legacy_session_id longer than 32"));
    }
    let suites = r.vec16("cipher_suites")?;
    if suites.buf.is_empty() || suites.buf.len() % 2 != 0 {
        return Err(ParseError::TlsInvalid("cipher_suites length"));
    }
    let compression = r.vec8("legacy_compression_methods")?;
    if compression.is_empty() {
        return Err(ParseError::TlsInvalid("empty legacy_compression_methods"));
    }
    let mut hello = ClientHello {
        version: legacy_version,
        ..ClientHello::default()
    };
    if r.is_empty() {
        // A TLS 1.2-and-older hello may omit the extensions block entirely.
        return Ok(hello);
    }
    let mut exts = r.vec16("extensions")?;
    r.finish("ClientHello")?;
    let mut seen = [0u16; MAX_EXTENSIONS];
    let mut n_seen = 0;
    while !exts.is_empty() {
        let typ = exts.u16("extension type")?;
        let data = exts.vec16("extension_data")?;
        if seen[..n_seen].contains(&typ) {
            return Err(ParseError::TlsDuplicateExtension(typ));
        }
        let Some(slot) = seen.get_mut(n_seen) else {
            return Err(ParseError::TlsInvalid("too many extensions"));
        };
        *slot = typ;
        n_seen += 1;
        match typ {
            EXT_SERVER_NAME => hello.sni = Some(server_name(data)?),
            EXT_ALPN => hello.alpn = alpn(data)?,
            EXT_SUPPORTED_VERSIONS => {
                if let Some(v) = supported_versions(data)? {
                    hello.version = v;
                }
            }
            _ => {}
        }
    }
    Ok(hello)
}

/// RFC 6066 3: one host_name, LDH-ish ASCII only (NUL, spaces, non-ASCII are refused so
/// the name we match is the name a server will see).
fn server_name(mut data: Reader<'_>) -> Result<String, ParseError> {
    let mut list = data.vec16("server_name_list")?;
    data.finish("server_name extension")?;
    if list.is_empty() {
        return Err(ParseError::TlsInvalid("empty server_name_list"));
    }
    let mut host: Option<&[u8]> = None;
    while !list.is_empty() {
        let name_type = list.u8("server_name name_type")?;
        let name = list.vec16("server_name")?.buf;
        if name_type != 0 {
            continue;
        }
        let valid = !name.is_empty()
            && name
                .iter()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'));
        if !valid || host.is_some() {
            return Err(ParseError::InvalidSni);
        }
        host = Some(name);
    }
    let host = host.ok_or(ParseError::InvalidSni)?;
    Ok(host.iter().map(|&b| char::from(b)).collect())
}

/// RFC 7301 3.1: a non-empty list of non-empty names.
fn alpn(mut data: Reader<'_>) -> Result<Vec<String>, ParseError> {
    let mut list = data.vec16("protocol_name_list")?;
    data.finish("ALPN extension")?;
    if list.is_empty() {
        return Err(ParseError::TlsInvalid("empty ALPN protocol_name_list"));
    }
    let mut out = Vec::new();
    while !list.is_empty() {
        let name = list.vec8("ALPN protocol name")?.buf;
        if name.is_empty() {
            return Err(ParseError::TlsInvalid("empty ALPN protocol name"));
        }
        out.push(String::from_utf8_lossy(name).into_owned());
    }
    Ok(out)
}

/// RFC 8446 4.2.1: highest non-GREASE version; `None` if only GREASE was offered.
fn supported_versions(mut data: Reader<'_>) -> Result<Option<u16>, ParseError> {
    let mut list = data.vec8("supported_versions")?;
    data.finish("supported_versions extension")?;
    if list.is_empty() || list.buf.len() % 2 != 0 {
        return Err(ParseError::TlsInvalid("supported_versions length"));
    }
    let mut best = None;
    while !list.is_empty() {
        let v = list.u16("supported_versions")?;
        if !is_grease(v) {
            best = best.max(Some(v));
        }
    }
    Ok(best)
}
