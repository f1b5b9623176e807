//! Real servers the lab runs inside namespaces (`lab-server` binary): an HTTP/1.1 keep-alive
//! server that logs each request's client address, the same over TLS, a TCP echo server and
//! a bulk sender for byte-exact transfer checks.

pub mod http;
pub mod log;
pub mod tcp;
pub mod tls;

use std::net::SocketAddr;

use socket2::{Domain, Socket, Type};
use tokio::net::TcpListener;

/// Bind a listener; IPv6 sockets are v6-only so `0.0.0.0:P` and `[::]:P` can coexist and the
/// logged client address is never an IPv4-mapped one.
pub fn listen(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.set_reuse_address(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(1024)?;
    TcpListener::from_std(socket.into())
}
