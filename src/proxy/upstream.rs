//! Connecting to the original destination.
//!
//! Every upstream socket carries the proxy's mark. An inbound upstream keeps the client's
//! IP as its source (transparent bind) so the workload sees the real client. Its source
//! port is chosen here, from a range clients do not use: with port 0 the kernel may pick
//! a port equal to a live client connection's, the two 4-tuples coincide in the Pod's
//! namespace and the SYN lands on the wrong socket (a ~1 s stall under load).

use std::io;
use std::net::{IpAddr, SocketAddr};

use tokio::net::{TcpSocket, TcpStream};

use crate::proxy::state::{Policy, Shared};
use crate::socket::SocketFactory;

/// Source ports tried from the range before letting the kernel choose.
const PORT_ATTEMPTS: usize = 16;

/// Connect to `dst`; with `source` from that IP (the client's), avoiding `client_port`.
pub async fn connect<P: Policy>(
    shared: &Shared<P>,
    dst: SocketAddr,
    source: Option<IpAddr>,
    client_port: u16,
) -> io::Result<TcpStream> {
    let cfg = &shared.config;
    let sockets = cfg.sockets;
    let attempt = async {
        let Some(ip) = source else {
            return connect_from(sockets, dst, None).await;
        };
        for _ in 0..PORT_ATTEMPTS {
            let port = shared.next_upstream_port();
            if port == client_port {
                continue;
            }
            match connect_from(sockets, dst, Some(SocketAddr::new(ip, port))).await {
                Err(e) if in_use(&e) => continue,
                r => return r,
            }
        }
        connect_from(sockets, dst, Some(SocketAddr::new(ip, 0))).await
    };
    tokio::time::timeout(cfg.connect_timeout, attempt)
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "upstream connect timed out"))?
}

/// The source port is taken (bound, or the 4-tuple exists): try another.
fn in_use(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::AddrInUse | io::ErrorKind::AddrNotAvailable
    )
}

async fn connect_from(
    sockets: SocketFactory,
    dst: SocketAddr,
    source: Option<SocketAddr>,
) -> io::Result<TcpStream> {
    let sock = sockets.upstream(dst, source)?;
    let std: std::net::TcpStream = sock.into();
    TcpSocket::from_std_stream(std).connect(dst).await
}
