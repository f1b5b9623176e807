//! Opaque byte relay between client and upstream, both directions at once.
//!
//! Hot path (L4 allows, TLS after the hello, upgraded HTTP): no per-byte work, no lock,
//! no allocation per read while bytes stream. The copy path follows ztunnel: the two
//! directions are joined (not `try_join`ed) so a half-close of one does not cut the
//! other, and end of stream is propagated with `shutdown(Write)`. Each direction's buffer
//! exists only while bytes flow (1 KiB, growing to 16 KiB then 256 KiB while reads keep
//! filling it), so idle connections hold no relay memory. The splice path
//! (`socket::splice`) moves bytes through a pipe in the kernel instead. Idle time is
//! tracked with one relaxed atomic store per read, checked by a single sleeping future,
//! instead of a timer per read.
//!
//! A reset of one side is passed on to the other as a reset, but only after what the
//! proxy already accepted for that other side has reached it ([`deliver`]): a server that
//! wrote a whole response and then reset must not reach a slow client truncated.
//!
//! A direction may [`Check`] what it relays before writing it (TLS record framing from a
//! client); a refused chunk is never written and both sides are reset. Callers that do
//! not look at the bytes pass [`Opaque`], which compiles to nothing.

use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::socket::splice::{Pipe, splice_one_way};
use crate::socket::way::{ResetSeen, Way};
pub use deliver::{DELIVER_STALL, Unsent, drain_then_reset, wait_sent};

mod deliver;

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
    /// Bytes the server received: written to it, minus what was still unacknowledged when
    /// a reset went out.
    pub to_server: u64,
    /// Bytes the client received, counted the same way.
    pub to_client: u64,
    /// Of the bytes written, those the reset discarded (the peer stopped acknowledging for
    /// [`DELIVER_STALL`], or the wait reached the idle timeout).
    pub lost: u64,
    /// The idle timeout ended the relay.
    pub idle_timeout: bool,
    /// One side reset the connection; both sockets are set to reset on close, so the
    /// other side sees a reset too, not a clean end.
    pub reset: bool,
    /// The client-to-server [`Check`] refused a chunk (what it refused it knows); both
    /// sockets are set to reset on close.
    pub refused: bool,
}

/// What one direction of the relay requires of its bytes before it writes them.
pub trait Check: Send {
    /// False for a check that accepts everything unseen ([`Opaque`]): only then may the
    /// bytes bypass user space (`--relay splice`).
    const INSPECTS: bool;

    /// The next bytes of the direction, in order. False refuses them: they are not
    /// written and the relay ends with both sides reset.
    fn accept(&mut self, chunk: &[u8]) -> bool;
}

/// No check: L4 allows and upgraded HTTP connections, whose bytes the proxy does not
/// interpret.
#[derive(Clone, Copy, Debug, Default)]
pub struct Opaque;

/// A check lent to the relay (the caller keeps what it learnt).
impl<C: Check> Check for &mut C {
    const INSPECTS: bool = C::INSPECTS;

    fn accept(&mut self, chunk: &[u8]) -> bool {
        (**self).accept(chunk)
    }
}

impl Check for Opaque {
    const INSPECTS: bool = false;

    #[inline]
    fn accept(&mut self, _: &[u8]) -> bool {
        true
    }
}

/// The error a refused chunk ends its direction with (told apart from socket errors by
/// its type, see [`is_refusal`]).
#[derive(Debug, thiserror::Error)]
#[error("bytes refused by the relay check")]
struct Refusal;

fn is_refusal(e: &io::Error) -> bool {
    e.get_ref().is_some_and(|inner| inner.is::<Refusal>())
}

/// The side of the relay whose socket is still alive after the other one reset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Live {
    Client,
    Upstream,
}

/// What ends the relay at once, whatever the other direction is doing.
enum Cut {
    /// A reset of the socket one direction reads from (the other direction only writes
    /// to that dead socket). The socket still alive is named.
    PeerReset(Live),
    /// The check refused a chunk.
    Refused,
}

/// How one direction ended, with a reset of its source or a refusal set apart from
/// other ends.
fn split_reset<T>(r: io::Result<T>, live: Live) -> Result<io::Result<()>, Cut> {
    match r {
        Err(e) if e.kind() == io::ErrorKind::ConnectionReset => Err(Cut::PeerReset(live)),
        Err(e) if is_refusal(&e) => Err(Cut::Refused),
        r => Ok(r.map(drop).or_else(normal_close)),
    }
}

const SIZES: [usize; 3] = [1024, 16 * 1024, 256 * 1024];
/// Consecutive full reads before the buffer grows to the next size.
const GROW_AFTER: u32 = 4;

/// Relay until both directions reached end of stream (or failed), or nothing moved for
/// `idle`. Resets and broken pipes count as a normal end. What the client sends passes
/// `check` before it is written.
///
/// A check that inspects needs the bytes in user space: with such a check `mode` is
/// ignored and the copy path is used (a spliced TLS connection would carry any bytes
/// after its hello unseen).
pub async fn relay<C: Check>(
    client: &mut TcpStream,
    upstream: &mut TcpStream,
    mode: RelayMode,
    idle: Duration,
    check: C,
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

    // Both directions run to their own end (a half-close of one does not cut the
    // other), except after a reset: a client that aborts must not look to the server
    // like one that finished (a FIN would end a close-delimited upload as if complete),
    // so the relay stops and the reset is passed on. The direction that reads the reset
    // socket has written out everything it read before it; the other one only writes to
    // the dead socket, so stopping it loses nothing deliverable.
    let (c, u) = (&*client, &*upstream);
    let seen = ResetSeen::default();
    let (way_up, way_down) = (
        Way {
            on_bytes: &up,
            seen: &seen,
        },
        Way {
            on_bytes: &down,
            seen: &seen,
        },
    );
    let work = async {
        // A check that inspects forces the copy path: spliced bytes are never seen.
        let splice = mode == RelayMode::Splice && !C::INSPECTS;
        let joined = match splice {
            false => {
                let a =
                    async { split_reset(copy_one_way(c, u, &way_up, check).await, Live::Upstream) };
                let b = async {
                    split_reset(copy_one_way(u, c, &way_down, Opaque).await, Live::Client)
                };
                tokio::try_join!(a, b)
            }
            true => {
                let (p1, p2) = (Pipe::new()?, Pipe::new()?);
                let a =
                    async { split_reset(splice_one_way(c, u, &p1, &way_up).await, Live::Upstream) };
                let b =
                    async { split_reset(splice_one_way(u, c, &p2, &way_down).await, Live::Client) };
                tokio::try_join!(a, b)
            }
        };
        match joined {
            Ok((a, b)) => a.and(b).map(|()| None),
            Err(cut) => Ok(Some(cut)),
        }
    };
    let (idle_timeout, cut) = tokio::select! {
        r = work => (false, r?),
        () = activity.idle(idle) => (true, None),
    };
    let mut stats = RelayStats {
        to_server: to_server.load(Ordering::Relaxed),
        to_client: to_client.load(Ordering::Relaxed),
        lost: 0,
        idle_timeout,
        reset: matches!(cut, Some(Cut::PeerReset(_))),
        refused: matches!(cut, Some(Cut::Refused)),
    };
    if stats.refused {
        // No delivery wait: a client that broke the framing gets nothing more, and the
        // server must see a reset, not a clean end.
        for s in [c, u] {
            let _ = crate::socket::set_reset_on_close(s);
        }
    }
    if let Some(Cut::PeerReset(live)) = cut {
        // What was written to the live side is delivered before the reset overtakes it.
        let (sock, count) = match live {
            Live::Client => (c, &mut stats.to_client),
            Live::Upstream => (u, &mut stats.to_server),
        };
        // Boxed: only a reset pays for the wait's state, not every relay's future.
        let lost = Box::pin(wait_sent(sock, idle)).await.min(*count);
        *count -= lost;
        stats.lost = lost;
        for s in [c, u] {
            // Best effort: without it the close sends a FIN, as before.
            let _ = crate::socket::set_reset_on_close(s);
        }
    }
    Ok(stats)
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

/// Copy `src` to `dst` until end of stream, then shut down `dst`'s sending side.
///
/// The buffer exists only while bytes flow: it is taken when `src` becomes readable and
/// given back when a read finds nothing more (while still at the smallest size), so an
/// idle connection holds no relay memory. Reads that keep filling it grow it. Each chunk
/// read passes `check` before it is written; a refused one ends the direction with
/// [`Refusal`] and without a FIN.
async fn copy_one_way<C: Check>(
    src: &TcpStream,
    dst: &TcpStream,
    way: &Way<'_>,
    mut check: C,
) -> io::Result<()> {
    // `move`: a borrowed check would cost a pointer even when it is zero-sized.
    let result = async move {
        let mut level = 0;
        let mut buf: Vec<u8> = Vec::new();
        let mut full_reads = 0u32;
        loop {
            if buf.is_empty() {
                src.readable().await?;
                buf = vec![0u8; SIZES[level]];
            }
            let n = match src.try_read(&mut buf) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if level == 0 {
                        buf = Vec::new();
                    } else {
                        src.readable().await?;
                    }
                    continue;
                }
                Err(e) => return Err(way.seen.on_read_error(e)),
            };
            if n == 0 {
                if let Some(reset) = way.seen.eof_error() {
                    return Err(reset);
                }
                shutdown_write(dst)?;
                return Ok(());
            }
            if C::INSPECTS && !check.accept(&buf[..n]) {
                return Err(io::Error::other(Refusal));
            }
            if let Err(e) = write_all(dst, &buf[..n]).await {
                return way.seen.on_write_error(e);
            }
            (way.on_bytes)(n as u64);
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
    if let Err(e) = &result
        && e.kind() != io::ErrorKind::ConnectionReset
        && !is_refusal(e)
    {
        // Pass the end on even when this side failed, or the peer would wait forever.
        // A reset (or a refusal) is passed on as a reset by the caller, never as a FIN.
        let _ = shutdown_write(dst);
    }
    result
}

async fn write_all(dst: &TcpStream, mut data: &[u8]) -> io::Result<()> {
    while !data.is_empty() {
        match dst.try_write(data) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => data = &data[n..],
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => dst.writable().await?,
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

fn shutdown_write(s: &TcpStream) -> io::Result<()> {
    socket2::SockRef::from(s).shutdown(std::net::Shutdown::Write)
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
mod tests;
