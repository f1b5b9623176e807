//! Deterministic byte pattern for transfer checks: sender and receiver generate the same
//! stream, so a receiver verifies every byte without the sender shipping a checksum.

use sha2::{Digest, Sha256};

/// xorshift64* stream; cheap enough to generate 100 MB quickly in debug builds.
pub struct Pattern {
    state: u64,
}

impl Default for Pattern {
    fn default() -> Self {
        Self::new()
    }
}

impl Pattern {
    pub fn new() -> Pattern {
        Pattern {
            state: 0x9E37_79B9_7F4A_7C15,
        }
    }

    pub fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            self.state ^= self.state >> 12;
            self.state ^= self.state << 25;
            self.state ^= self.state >> 27;
            let v = self.state.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
    }
}

/// SHA-256 of the first `len` bytes of the pattern.
pub fn expected_sha256(len: u64) -> String {
    let mut p = Pattern::new();
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut left = len;
    while left > 0 {
        let n = left.min(buf.len() as u64) as usize;
        p.fill(&mut buf[..n]);
        h.update(&buf[..n]);
        left -= n as u64;
    }
    hex(&h.finalize())
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pattern_is_deterministic_and_chunking_does_not_matter() {
        let mut a = Pattern::new();
        let mut whole = vec![0u8; 1000];
        a.fill(&mut whole);
        assert_ne!(whole[..8], whole[8..16]);
        // Chunks that are multiples of 8 give the same stream.
        let mut b = Pattern::new();
        let mut parts = vec![0u8; 1000];
        b.fill(&mut parts[..496]);
        b.fill(&mut parts[496..]);
        assert_eq!(whole, parts);
        assert_eq!(expected_sha256(1000), {
            let mut h = Sha256::new();
            h.update(&whole);
            hex(&h.finalize())
        });
    }
}
