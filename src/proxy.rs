//! The transparent data path: TPROXY listeners, per-connection decision, classification,
//! enforcement, relay. Started by [`crate::app`], which owns the command line, the policy
//! source and the process lifecycle; this module is what it starts: [`Config`], the seams
//! it plugs in ([`listener::OrigDst`], [`service::Resolve`], [`state::Policy`],
//! [`state::Sink`]) and the startup [`Error`].
//!
//! Layout: [`listener`] accepts and admits (handing on an [`accepted::Accepted`]), [`conn`]
//! decides per connection (L3/L4 verdict, then classification in [`inspect`] for L7 rules)
//! and serves what it allowed, carrying the connection as a [`session::Session`];
//! [`http`] enforces every request of an HTTP/1.x connection (asking [`gate`], using the
//! framing in [`wire`]), [`relay`] moves opaque bytes, [`service`] picks the endpoint
//! behind a Service VIP for egress (decided on and connected to instead of the VIP),
//! [`upstream`] connects to the original destination, [`reload`] swaps policy snapshots,
//! [`drain`] stops gracefully. Every step that cuts a connection short returns an
//! [`outcome::Denied`], which [`conn`] alone reports (through [`report`], which turns
//! outcomes into events and metrics) and enforces ([`reset`]). [`tls`] follows an allowed
//! TLS connection: a HelloRetryRequest's second hello, then the client's record framing.

use std::net::SocketAddr;

pub mod accepted;
pub mod buf;
pub mod config;
pub mod conn;
pub mod drain;
pub mod fds;
pub mod gate;
pub mod http;
pub mod inspect;
pub mod listener;
pub mod outcome;
pub mod relay;
pub mod reload;
pub mod report;
pub mod reset;
pub mod service;
pub mod session;
pub mod state;
pub mod tls;
pub mod upstream;
pub mod wire;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod testutil;

pub use config::Config;
pub use relay::RelayMode;

/// Startup errors of the proxy.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid policy manifests:\n{0}")]
    Policy(String),
    #[error("cannot listen on {addr}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
    /// The kernel refused IP_TRANSPARENT/SO_MARK: the one privilege the proxy needs is
    /// missing (it runs as an unprivileged user with only this capability).
    #[error(
        "l7proxy needs CAP_NET_RAW (kernel >= 5.17) or CAP_NET_ADMIN for IP_TRANSPARENT/SO_MARK on {addr}"
    )]
    Privilege {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot watch the manifests: {0}")]
    Watch(#[from] notify::Error),
    #[error("event log: {0}")]
    Events(#[from] crate::events::Error),
}

impl Error {
    /// A listener that could not be set up; a permission error names the capability.
    pub fn listen(addr: SocketAddr, source: std::io::Error) -> Error {
        if source.kind() == std::io::ErrorKind::PermissionDenied {
            Error::Privilege { addr, source }
        } else {
            Error::Listen { addr, source }
        }
    }
}
