//! Hand-made HTTP/2 frames for tests that must send what no well-behaved client would
//! (a stream after an h2c `101`, floods): the client preface, raw frames and request header
//! blocks in HPACK literals without Huffman coding, so a test reads as the bytes it sends.

/// The client connection preface (RFC 9113 3.4).
pub const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Frame types used by the tests.
pub const HEADERS: u8 = 0x1;
pub const RST_STREAM: u8 = 0x3;
pub const SETTINGS: u8 = 0x4;
pub const PING: u8 = 0x6;
pub const CONTINUATION: u8 = 0x9;
/// HEADERS flags.
pub const END_STREAM: u8 = 0x1;
pub const END_HEADERS: u8 = 0x4;

/// One frame: 24-bit length, type, flags, stream id, payload.
pub fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let mut f = (payload.len() as u32).to_be_bytes()[1..].to_vec();
    f.push(kind);
    f.push(flags);
    f.extend_from_slice(&stream.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

/// The preface and an empty SETTINGS frame.
pub fn preface() -> Vec<u8> {
    let mut out = PREFACE.to_vec();
    out.extend(frame(SETTINGS, 0, 0, &[]));
    out
}

/// The header block of `GET http://web.test<path>` (`path` shorter than 128 bytes).
pub fn get_block(path: &str) -> Vec<u8> {
    let mut block = vec![0x82, 0x86]; // :method GET, :scheme http (static table)
    for (index, value) in [(4u8, path), (1u8, "web.test")] {
        // Literal without indexing, name from the static table (:path 4, :authority 1).
        block.push(index);
        block.push(value.len() as u8);
        block.extend_from_slice(value.as_bytes());
    }
    block
}

/// The preface, SETTINGS and one complete `GET http://web.test<path>` on `stream`.
pub fn get_request(stream: u32, path: &str) -> Vec<u8> {
    let mut out = preface();
    out.extend(frame(
        HEADERS,
        END_STREAM | END_HEADERS,
        stream,
        &get_block(path),
    ));
    out
}
