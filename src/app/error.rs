//! Startup errors of `l7proxy run`: each names what it could not set up.

use std::net::SocketAddr;

/// Why `l7proxy run` could not start.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Manifests(#[from] crate::manifests::Invalid),
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
