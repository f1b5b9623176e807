//! Opaque byte relay between client and upstream, both directions at once.
//!
//! Hot path (L4 allows, TLS after the hello, upgraded HTTP): no per-byte work, no lock,
//! no allocation per read. The copy path follows ztunnel: the two directions are joined
//! (not `try_join`ed) so a half-close of one does not cut the other, end of stream is
//! propagated with `shutdown(Write)`, and each direction's buffer starts at 1 KiB and
//! grows (16 KiB, then 256 KiB) only while reads keep filling it, so idle connections
//! stay cheap. The splice path (`socket::splice`) moves bytes through a pipe in the
//! kernel instead. Idle time is tracked with one relaxed atomic store per read, checked
//! by a single sleeping future, instead of a timer per read.

use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::socket::splice::{Pipe, splice_one_way};

/// How opaque bytes are moved.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum RelayMode {
    /// Read into a user-space buffer and write it out (grows with traffic).
    #[default]
    Copy,
    /// `splice(2)` through a pipe per direction.
    Splice,
}

/// Bytes relayed, and how the relay ended.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RelayStats {
    pub to_server: u64,
    pub to_client: u64,
    /// The idle timeout ended the relay.
    pub idle_timeout: bool,
}

const SIZES: [usize; 3] = [1024, 16 * 1024, 256 * 1024];
/// Consecutive full reads before the buffer grows to the next size.
const GROW_AFTER: u32 = 4;

/// Relay until both directions reached end of stream (or failed), or nothing moved for
/// `idle`. Resets and broken pipes count as a normal end.
pub async fn relay(
    client: &mut TcpStream,
    upstream: &mut TcpStream,
    mode: RelayMode,
    idle: Duration,
) -> io::Result<RelayStats> {
    let activity = Activity::new();
    let to_server = AtomicU64::new(0);
    let to_client = AtomicU64::new(0);
    let up = |n| {
        to_server.fetch_add(n, Ordering::Relaxed);
        activity.touch();
    };
    let down = |n| {
        to_client.fetch_add(n, Ordering::Relaxed);
        activity.touch();
    };

    let work = async {
        match mode {
            RelayMode::Copy => {
                let (mut cr, mut cw) = client.split();
                let (mut ur, mut uw) = upstream.split();
                let (a, b) = tokio::join!(
                    copy_one_way(&mut cr, &mut uw, &up),
                    copy_one_way(&mut ur, &mut cw, &down)
                );
                a.and(b)
            }
            RelayMode::Splice => {
                let (p1, p2) = (Pipe::new()?, Pipe::new()?);
                let (c, u) = (&*client, &*upstream);
                let (a, b) = tokio::join!(
                    splice_one_way(c, u, &p1, &up),
                    splice_one_way(u, c, &p2, &down)
                );
                a.map(drop)
                    .or_else(normal_close)
                    .and(b.map(drop).or_else(normal_close))
            }
        }
    };
    let idle_timeout = tokio::select! {
        r = work => { r?; false }
        () = activity.idle(idle) => true,
    };
    Ok(RelayStats {
        to_server: to_server.load(Ordering::Relaxed),
        to_client: to_client.load(Ordering::Relaxed),
        idle_timeout,
    })
}

/// When bytes last moved on a connection: one relaxed store per read, checked by a
/// single sleeping future instead of arming a timer per read.
#[derive(Debug)]
pub struct Activity {
    start: Instant,
    last_ms: AtomicU64,
}

impl Activity {
    pub fn new() -> Activity {
        Activity {
            start: Instant::now(),
            last_ms: AtomicU64::new(0),
        }
    }

    pub fn touch(&self) {
        self.last_ms
            .store(self.start.elapsed().as_millis() as u64, Ordering::Relaxed);
    }

    /// Resolves once nothing was touched for `idle`.
    pub async fn idle(&self, idle: Duration) {
        let mut deadline = self.start + idle;
        loop {
            tokio::time::sleep_until(deadline).await;
            let seen = self.start + Duration::from_millis(self.last_ms.load(Ordering::Relaxed));
            if seen + idle <= Instant::now() {
                return;
            }
            deadline = seen + idle;
        }
    }
}

impl Default for Activity {
    fn default() -> Activity {
        Activity::new()
    }
}

/// Copy `rd` to `wr` until end of stream, then shut down `wr`.
async fn copy_one_way<R, W>(
    rd: &mut R,
    wr: &mut W,
    on_bytes: &(dyn Fn(u64) + Sync),
) -> io::Result<()>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let result = async {
        let mut level = 0;
        let mut buf = vec![0u8; SIZES[0]];
        let mut full_reads = 0u32;
        loop {
            let n = rd.read(&mut buf).await?;
            if n == 0 {
                wr.shutdown().await?;
                return Ok(());
            }
            wr.write_all(&buf[..n]).await?;
            on_bytes(n as u64);
            if n == buf.len() && level + 1 < SIZES.len() {
                full_reads += 1;
                if full_reads >= GROW_AFTER {
                    level += 1;
                    buf.resize(SIZES[level], 0);
                    full_reads = 0;
                }
            } else {
                full_reads = 0;
            }
        }
    }
    .await;
    if result.is_err() {
        // Pass the end on even when this side failed, or the peer would wait forever.
        let _ = wr.shutdown().await;
    }
    result.or_else(normal_close)
}

/// The peer went away: for a relay that is how connections end, not a failure.
pub fn normal_close(e: io::Error) -> io::Result<()> {
    match e.kind() {
        io::ErrorKind::NotConnected
        | io::ErrorKind::ConnectionReset
        | io::ErrorKind::BrokenPipe
        | io::ErrorKind::UnexpectedEof => Ok(()),
        _ => Err(e),
    }
}

#[cfg(test)]
#[path = "relay/tests.rs"]
mod tests;
