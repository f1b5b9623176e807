//! What one direction of a relay reports to, shared by the copy path (`proxy::relay`) and
//! the splice path (`socket::splice`): bytes moved, and resets seen on the connection.
//!
//! It lives below both so the two paths depend on it, not on each other.

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};

/// Tells a reset apart from an end of stream.
///
/// The kernel reports a reset once: whichever direction touches the socket first gets
/// `ECONNRESET` (a writer, `EPIPE` after that), and a later read of the same socket
/// returns its remaining bytes and then 0, like a FIN. A direction that meets a reset
/// while writing records it here, and a direction that reads 0 afterwards treats its
/// source as reset, so the end is passed on as a reset, never as a FIN.
#[derive(Debug, Default)]
pub struct ResetSeen(AtomicBool);

/// What one direction reports to: bytes moved (counting, idle tracking) and resets seen.
/// Passed as one thin reference, so each direction's future stays small.
pub struct Way<'a> {
    pub on_bytes: &'a (dyn Fn(u64) + Sync),
    pub seen: &'a ResetSeen,
}

impl ResetSeen {
    /// A write to the destination failed: is that the destination's reset? Then the
    /// direction is over without error (nothing more can be delivered there; the other
    /// direction, reading that socket, ends the relay).
    pub fn on_write_error(&self, e: io::Error) -> io::Result<()> {
        match e.kind() {
            io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe => {
                self.0.store(true, Ordering::Relaxed);
                Ok(())
            }
            _ => Err(e),
        }
    }

    /// A read of the source failed; a reset is recorded and returned as is.
    pub fn on_read_error(&self, e: io::Error) -> io::Error {
        if e.kind() == io::ErrorKind::ConnectionReset {
            self.0.store(true, Ordering::Relaxed);
        }
        e
    }

    /// The source read 0: an error standing for a reset when one was seen on the
    /// connection (the source's own reset, reported to the other direction), else `None`.
    pub fn eof_error(&self) -> Option<io::Error> {
        self.0
            .load(Ordering::Relaxed)
            .then(|| io::ErrorKind::ConnectionReset.into())
    }
}
