//! What the listener hands the data path: the accepted stream and its two addresses,
//! typed so the client's and the original destination's can never be swapped (as
//! linkerd's `ClientAddr` and `OrigDstAddr`).

use std::fmt;
use std::net::SocketAddr;

use tokio::net::TcpStream;

use crate::policy::Direction;

/// The client's address: the peer of the accepted socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ClientAddr(pub SocketAddr);

/// Where the client was connecting before its connection was captured: the workload's
/// port for ingress, the remote (possibly a Service VIP) for egress.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct OrigDstAddr(pub SocketAddr);

impl fmt::Display for ClientAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl fmt::Display for OrigDstAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// One accepted connection, not yet decided on.
#[derive(Debug)]
pub struct Accepted {
    pub client: TcpStream,
    pub direction: Direction,
    pub src: ClientAddr,
    pub dst: OrigDstAddr,
}
