//! Socket options the data path needs (IP_TRANSPARENT, SO_MARK, SO_LINGER, TCP_INFO,
//! SIOCOUTQ, splice, RLIMIT_NOFILE). The only module allowed to use `unsafe`.
//!
//! Everything here is a thin, documented wrapper: the data path decides *when* to use an
//! option, this module only knows *how* to set it on Linux.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::AsRawFd;
use std::time::Duration;

use socket2::{Domain, SockRef, Socket, Type};

use crate::args::Mark;

pub mod splice;
pub mod way;

/// Makes every socket the proxy opens, and marks it: the one place `SO_MARK` and
/// `IP_TRANSPARENT` are set (as ztunnel's `MarkSocketFactory`), so no call site can
/// forget the mark that keeps the capture rules from redirecting the proxy's own
/// traffic back into it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SocketFactory {
    /// `SO_MARK` of every socket; `None` leaves it unset (unit tests without privileges).
    mark: Option<Mark>,
    /// `IP_TRANSPARENT` / `IPV6_TRANSPARENT` on listeners (TPROXY hands connections only
    /// to transparent sockets) and on upstreams bound to a non-local source.
    transparent: bool,
}

impl SocketFactory {
    /// The running proxy's sockets: marked and transparent.
    pub fn proxy(mark: Mark) -> SocketFactory {
        SocketFactory {
            mark: Some(mark),
            transparent: true,
        }
    }

    /// Ordinary sockets, for tests without `CAP_NET_RAW`/`CAP_NET_ADMIN`.
    pub fn plain() -> SocketFactory {
        SocketFactory {
            mark: None,
            transparent: false,
        }
    }

    /// A listening socket on `addr` (IPv6 sockets are V6ONLY so `::1` and `127.0.0.1` can
    /// share a port), non-blocking.
    pub fn listener(&self, addr: SocketAddr, backlog: i32) -> io::Result<std::net::TcpListener> {
        let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
        socket.set_reuse_address(true)?;
        if addr.is_ipv6() {
            socket.set_only_v6(true)?;
        }
        self.apply(&socket, addr.ip(), self.transparent)?;
        socket.set_nonblocking(true)?;
        socket.bind(&addr.into())?;
        socket.listen(backlog)?;
        Ok(socket.into())
    }

    /// A not yet connected upstream socket to `dst`: marked, `TCP_NODELAY`, non-blocking,
    /// and when `source` is given bound to that (possibly non-local) address
    /// transparently.
    ///
    /// `source` with port 0 uses `IP_BIND_ADDRESS_NO_PORT` so the kernel picks the port at
    /// connect time from the 4-tuple; an explicit port is bound as is (the caller picks it
    /// from a range clients do not use and retries on `EADDRINUSE`).
    pub fn upstream(&self, dst: SocketAddr, source: Option<SocketAddr>) -> io::Result<Socket> {
        // Non-blocking from creation: one syscall instead of socket + two fcntl, per
        // connection.
        let socket = Socket::new(Domain::for_address(dst), Type::STREAM.nonblocking(), None)?;
        socket.set_tcp_nodelay(true)?;
        self.apply(&socket, dst.ip(), self.transparent && source.is_some())?;
        if let Some(src) = source {
            // IP_TRANSPARENT (set by `apply`) already allows binding a non-local address.
            if src.port() == 0 && src.is_ipv4() {
                nix::sys::socket::setsockopt(
                    &socket,
                    nix::sys::socket::sockopt::IpBindAddressNoPort,
                    &true,
                )
                .map_err(io::Error::from)?;
            } else {
                // Several upstreams may share a source port towards different destinations.
                socket.set_reuse_address(true)?;
            }
            socket.bind(&src.into())?;
        }
        Ok(socket)
    }

    /// Set the mark, and transparency when asked, on `socket` whose family is the one of
    /// `ip`.
    fn apply(&self, socket: &Socket, ip: IpAddr, transparent: bool) -> io::Result<()> {
        if let Some(mark) = self.mark {
            socket.set_mark(mark.get())?;
        }
        if transparent {
            match ip {
                IpAddr::V4(_) => socket.set_ip_transparent_v4(true)?,
                IpAddr::V6(_) => socket.set_ip_transparent_v6(true)?,
            }
        }
        Ok(())
    }
}

/// Make the next close of this socket send a TCP RST instead of a FIN
/// (`SO_LINGER` with a zero timeout). The caller then drops every handle of the socket.
pub fn set_reset_on_close<'s, S>(sock: &'s S) -> io::Result<()>
where
    SockRef<'s>: From<&'s S>,
{
    SockRef::from(sock).set_linger(Some(Duration::ZERO))
}

/// Segment counters of a TCP connection, from `TCP_INFO`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Segments {
    /// Segments received (`tcpi_segs_in`).
    pub segs_in: u64,
    /// Segments sent (`tcpi_segs_out`).
    pub segs_out: u64,
}

/// Read the segment counters of `fd` (a TCP socket). Errors for other sockets.
pub fn tcp_segments(fd: &impl AsRawFd) -> io::Result<Segments> {
    let info = tcp_info(fd)?;
    Ok(Segments {
        segs_in: u64::from(info.tcpi_segs_in),
        segs_out: u64::from(info.tcpi_segs_out),
    })
}

/// The sending side of a TCP connection: what was written and not yet acknowledged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SendQueue {
    /// Bytes written but not acknowledged by the peer (`SIOCOUTQ`). After a reset the
    /// kernel keeps counting them although they can no longer be sent: they are lost.
    pub unacked: u64,
    /// The connection can still deliver them (it was not reset or closed).
    pub open: bool,
}

/// Read the send queue of `fd` (a connected TCP socket).
///
/// A proxy that passes a reset on must not let it overtake bytes it already accepted for
/// the other side: closing with `SO_LINGER` 0 discards the send queue. This tells when
/// that queue has drained (or the connection died and the bytes are gone).
pub fn send_queue(fd: &impl AsRawFd) -> io::Result<SendQueue> {
    let state = tcp_info(fd)?.tcpi_state;
    let mut unacked: nix::libc::c_int = 0;
    // SAFETY: SIOCOUTQ (TIOCOUTQ) on a TCP socket writes one `int` to the pointer, which
    // points to a live, writable `c_int`.
    let rc = unsafe {
        nix::libc::ioctl(
            fd.as_raw_fd(),
            nix::libc::TIOCOUTQ,
            &mut unacked as *mut nix::libc::c_int,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(SendQueue {
        unacked: u64::try_from(unacked).unwrap_or(0),
        open: can_still_send(state),
    })
}

/// TCP states (`include/net/tcp_states.h`) in which unacknowledged bytes may still reach
/// the peer: everything but CLOSE (reset, or fully closed), TIME_WAIT and LISTEN.
fn can_still_send(state: u8) -> bool {
    const ESTABLISHED: u8 = 1;
    const SYN_SENT: u8 = 2;
    const SYN_RECV: u8 = 3;
    const FIN_WAIT1: u8 = 4;
    const FIN_WAIT2: u8 = 5;
    const CLOSE_WAIT: u8 = 8;
    const LAST_ACK: u8 = 9;
    const CLOSING: u8 = 11;
    matches!(
        state,
        ESTABLISHED | SYN_SENT | SYN_RECV | FIN_WAIT1 | FIN_WAIT2 | CLOSE_WAIT | LAST_ACK | CLOSING
    )
}

fn tcp_info(fd: &impl AsRawFd) -> io::Result<nix::libc::tcp_info> {
    // SAFETY: `tcp_info` is a plain C struct of integers, so all-zero is a valid value.
    let mut info: nix::libc::tcp_info = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<nix::libc::tcp_info>() as nix::libc::socklen_t;
    // SAFETY: `info` is a valid, writable buffer of `len` bytes that outlives the call;
    // the kernel writes at most `len` bytes and updates `len`.
    let rc = unsafe {
        nix::libc::getsockopt(
            fd.as_raw_fd(),
            nix::libc::IPPROTO_TCP,
            nix::libc::TCP_INFO,
            (&mut info as *mut nix::libc::tcp_info).cast(),
            &mut len,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(info)
}

/// The open-file limit of the process (`RLIMIT_NOFILE`); `u64::MAX` is unlimited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileLimit {
    pub soft: u64,
    pub hard: u64,
}

/// Read the open-file limit.
pub fn file_limit() -> io::Result<FileLimit> {
    let mut lim = nix::libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `lim` is a valid, writable `rlimit` for the duration of the call.
    if unsafe { nix::libc::getrlimit(nix::libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(FileLimit {
        soft: rlim_to_u64(lim.rlim_cur),
        hard: rlim_to_u64(lim.rlim_max),
    })
}

/// Raise the soft open-file limit to the hard one (or, when the hard one is unlimited,
/// to the kernel's per-process maximum `fs.nr_open`). Returns the limit now in force.
/// Every proxied connection holds two descriptors: the default soft limit (often 1024)
/// would otherwise bind long before `--max-connections`.
pub fn raise_file_limit() -> io::Result<FileLimit> {
    let now = file_limit()?;
    let target = if now.hard == u64::MAX {
        std::fs::read_to_string("/proc/sys/fs/nr_open")
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(1 << 20)
    } else {
        now.hard
    };
    if now.soft >= target {
        return Ok(now);
    }
    let lim = nix::libc::rlimit {
        rlim_cur: target,
        rlim_max: now.hard,
    };
    // SAFETY: `lim` is a valid `rlimit` that outlives the call; the kernel only reads it.
    if unsafe { nix::libc::setrlimit(nix::libc::RLIMIT_NOFILE, &lim) } != 0 {
        return Err(io::Error::last_os_error());
    }
    file_limit()
}

/// `rlim_t` is `u64` on Linux; unlimited is mapped to `u64::MAX` explicitly all the same.
fn rlim_to_u64(v: nix::libc::rlim_t) -> u64 {
    if v == nix::libc::RLIM_INFINITY {
        u64::MAX
    } else {
        v
    }
}

/// File descriptors the process has open now (entries of `/proc/self/fd`).
pub fn open_fds() -> io::Result<u64> {
    // The directory handle itself is one of the entries.
    Ok(std::fs::read_dir("/proc/self/fd")?
        .count()
        .saturating_sub(1) as u64)
}

#[cfg(test)]
mod tests;
