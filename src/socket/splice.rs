//! Zero-copy relay of one direction with `splice(2)`: socket → pipe → socket, the bytes
//! never enter user space.
//!
//! A pipe costs two file descriptors and a kernel buffer per direction, and splice has
//! measured no faster than a plain copy on small VMs, so this path is optional (chosen per
//! proxy with `--relay splice`). The copy path in `proxy::relay` is the default.

use std::io;
use std::net::Shutdown;
use std::os::fd::{AsFd, OwnedFd};

use nix::fcntl::{OFlag, SpliceFFlags, splice};
use tokio::io::Interest;
use tokio::net::TcpStream;

use crate::socket::way::Way;

/// Bytes moved per `splice` call: the default pipe capacity.
const CHUNK: usize = 64 * 1024;

/// A non-blocking pipe used as the in-kernel buffer of one relay direction.
#[derive(Debug)]
pub struct Pipe {
    read: OwnedFd,
    write: OwnedFd,
}

impl Pipe {
    /// A new non-blocking, close-on-exec pipe.
    pub fn new() -> io::Result<Pipe> {
        let (read, write) =
            nix::unistd::pipe2(OFlag::O_NONBLOCK | OFlag::O_CLOEXEC).map_err(io::Error::from)?;
        Ok(Pipe { read, write })
    }
}

/// Move bytes from `src` to `dst` until `src` reaches end of stream, then shut down the
/// write side of `dst`. `way.on_bytes` sees each chunk written (byte counting, idle
/// tracking).
/// Returns the number of bytes moved. On error the write side of `dst` is shut down
/// too, so the peer learns about the end, except on a reset: a FIN would tell the peer
/// the stream ended cleanly; the caller passes the reset on instead. Resets are told
/// apart from ends of stream through `way.seen` (see `socket::way::ResetSeen`).
pub async fn splice_one_way(
    src: &TcpStream,
    dst: &TcpStream,
    pipe: &Pipe,
    way: &Way<'_>,
) -> io::Result<u64> {
    let r = move_all(src, dst, pipe, way).await;
    if let Err(e) = &r
        && e.kind() != io::ErrorKind::ConnectionReset
    {
        let _ = socket2::SockRef::from(dst).shutdown(Shutdown::Write);
    }
    r
}

async fn move_all(src: &TcpStream, dst: &TcpStream, pipe: &Pipe, way: &Way<'_>) -> io::Result<u64> {
    let flags = SpliceFFlags::SPLICE_F_NONBLOCK | SpliceFFlags::SPLICE_F_MOVE;
    let mut total = 0u64;
    loop {
        // Fill the pipe from the socket. The pipe is always empty here (drained below),
        // so EAGAIN can only mean the socket has nothing to read.
        let n = loop {
            src.readable().await?;
            match src.try_io(Interest::READABLE, || {
                splice(src.as_fd(), None, pipe.write.as_fd(), None, CHUNK, flags)
                    .map_err(io::Error::from)
            }) {
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) => return Err(way.seen.on_read_error(e)),
            }
        };
        if n == 0 {
            if let Some(reset) = way.seen.eof_error() {
                return Err(reset);
            }
            socket2::SockRef::from(dst).shutdown(Shutdown::Write)?;
            return Ok(total);
        }
        // Drain the pipe into the destination socket.
        let mut left = n;
        while left > 0 {
            if let Err(e) = dst.writable().await {
                return way.seen.on_write_error(e).map(|()| total);
            }
            match dst.try_io(Interest::WRITABLE, || {
                splice(pipe.read.as_fd(), None, dst.as_fd(), None, left, flags)
                    .map_err(io::Error::from)
            }) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(m) => left -= m,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                // The destination reset: this direction is over (the bytes in the pipe
                // cannot be delivered); the one reading that socket ends the relay.
                Err(e) => return way.seen.on_write_error(e).map(|()| total),
            }
        }
        total += n as u64;
        (way.on_bytes)(n as u64);
    }
}
