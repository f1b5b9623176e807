//! Passing a reset on without losing what was already accepted for the other side.
//!
//! When one side of a proxied connection resets, the proxy may still hold bytes the other
//! side has not received: written to that side's socket, not yet acknowledged. Closing that
//! socket with `SO_LINGER` 0 (how a reset is passed on) discards them, so a server that
//! wrote a complete response and then reset would reach a slow client truncated. Here the
//! reset waits until the socket's send queue is empty, bounded: the peer must keep
//! acknowledging (no progress for [`DELIVER_STALL`] gives up) and the whole wait never
//! exceeds the caller's cap (the idle timeout).

use std::time::Duration;

use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::socket;

/// Longest time without the peer acknowledging a byte before the reset goes out anyway,
/// dropping what is left (a client that stopped reading must not hold the connection).
pub const DELIVER_STALL: Duration = Duration::from_secs(5);
/// Longest pause between two looks at the send queue.
const POLL_MAX: Duration = Duration::from_millis(20);

/// Wait until everything written to `s` is acknowledged, `s` is closed or reset, nothing
/// was acknowledged for [`DELIVER_STALL`], or `cap` passed. Returns the bytes that were
/// still unacknowledged then (lost once the reset goes out).
pub async fn wait_sent(s: &TcpStream, cap: Duration) -> u64 {
    let start = Instant::now();
    let mut pause = Duration::from_millis(1);
    let mut progress_at = start;
    let mut last = u64::MAX;
    loop {
        let q = match socket::send_queue(s) {
            Ok(q) => q,
            Err(_) => return 0,
        };
        if q.unacked == 0 || !q.open {
            return q.unacked;
        }
        let now = Instant::now();
        if q.unacked < last {
            last = q.unacked;
            progress_at = now;
        }
        if now - progress_at >= DELIVER_STALL || now - start >= cap {
            return q.unacked;
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(POLL_MAX);
    }
}

/// Bytes written to each side that never reached it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Unsent {
    pub to_client: u64,
    pub to_server: u64,
}

/// End both connections with a reset, after each has delivered what was written to it
/// (see [`wait_sent`]; the side that reset returns at once). For a connection that failed
/// after bytes were accepted for a side, e.g. an upstream reset after its response.
pub async fn drain_then_reset(client: TcpStream, upstream: TcpStream, cap: Duration) -> Unsent {
    let (to_client, to_server) = tokio::join!(wait_sent(&client, cap), wait_sent(&upstream, cap));
    crate::proxy::reset::reset_both(client, upstream);
    Unsent {
        to_client,
        to_server,
    }
}
