//! Runtime settings of the data path, derived from the command line.

use std::net::SocketAddr;
use std::ops::RangeInclusive;
use std::time::Duration;

use crate::proxy::relay::RelayMode;
use crate::socket::SocketFactory;

/// Everything a connection task needs to know about limits and socket options.
#[derive(Clone, Debug)]
pub struct Config {
    /// Makes the upstream sockets: marked, and transparent for client-IP-preserving
    /// upstreams (plain in unprivileged tests).
    pub sockets: SocketFactory,
    /// Inbound upstream connections use the client's IP as source.
    pub preserve_client_ip: bool,
    /// Source ports for client-IP-preserving upstreams; outside the range clients use
    /// so an upstream 4-tuple never equals a client's.
    pub upstream_ports: RangeInclusive<u16>,
    /// Total time to read the first request head or ClientHello.
    pub classify_timeout: Duration,
    /// A connection with no bytes moving for this long is closed.
    pub idle_timeout: Duration,
    pub connect_timeout: Duration,
    /// Largest request/response head or ClientHello read before deciding.
    pub max_head_bytes: usize,
    pub max_connections: usize,
    pub relay: RelayMode,
    /// Let non-empty bodies on GET and HEAD requests through (refused by default: a
    /// server that ignores them reads the body as a second, unchecked request).
    pub allow_get_body: bool,
    /// Which EVE events are emitted.
    pub events: crate::events::Level,
    /// What a denied HTTP/2 stream ends: the stream, or the whole connection.
    pub http2_deny: Http2Deny,
    /// Streams a client may have open at once on one HTTP/2 connection.
    pub http2_max_streams: u32,
    /// The proxy's own listeners; a connection whose original destination is one of
    /// them would loop.
    pub listeners: Vec<SocketAddr>,
}

/// What a denied HTTP/2 stream ends (`run --http2-deny`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Http2Deny {
    /// Only that stream: a gRPC call gets `grpc-status: 7`, any other request a
    /// `RST_STREAM` (`CANCEL`); the connection's other streams go on.
    #[default]
    Stream,
    /// The whole connection is reset, as a denied HTTP/1.x request resets its connection.
    Connection,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            sockets: SocketFactory::plain(),
            preserve_client_ip: false,
            upstream_ports: 61000..=65535,
            classify_timeout: Duration::from_secs(5),
            idle_timeout: Duration::from_secs(3600),
            connect_timeout: Duration::from_secs(10),
            max_head_bytes: 64 * 1024,
            max_connections: 32768,
            relay: RelayMode::Copy,
            events: crate::events::Level::All,
            allow_get_body: false,
            http2_deny: Http2Deny::Stream,
            http2_max_streams: 100,
            listeners: Vec::new(),
        }
    }
}

impl Config {
    /// Would relaying to `dst` connect back to the proxy itself?
    pub fn is_own_listener(&self, dst: SocketAddr) -> bool {
        self.listeners.iter().any(|l| {
            l.port() == dst.port()
                && (l.ip() == dst.ip() || dst.ip().is_loopback() || dst.ip().is_unspecified())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_listener_detection() {
        let cfg = Config {
            listeners: vec!["127.0.0.1:15006".parse().unwrap()],
            ..Config::default()
        };
        assert!(cfg.is_own_listener("127.0.0.1:15006".parse().unwrap()));
        assert!(cfg.is_own_listener("127.0.0.2:15006".parse().unwrap()));
        assert!(!cfg.is_own_listener("10.0.0.1:15006".parse().unwrap()));
        assert!(!cfg.is_own_listener("127.0.0.1:80".parse().unwrap()));
    }
}
