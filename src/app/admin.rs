//! The admin endpoint of `l7proxy run` (`/metrics`, `/healthz`, `/readyz`): bound here,
//! answered by [`http::serve_listener`].
//!
//! The capture rules send every new connection to the Pod's metrics port to this listener
//! with TPROXY (an app binding the Pod IP on that port must not receive clients past the
//! policy), and TPROXY only hands connections to transparent sockets. So the listener is
//! transparent and marked like the data listeners, and exists in both families: the IPv4
//! rule targets `127.0.0.1`, the IPv6 rule `::1`.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::app::Error;
use crate::events::Metrics;
use crate::proxy::drain::DrainWatch;
use crate::socket::SocketFactory;

mod http;

/// Pending connections of the admin listener (probes and scrapes: few).
const BACKLOG: i32 = 128;

/// `/readyz`: not ready until [`Ready::set`], and not ready again from the moment
/// draining starts, so the kubelet stops sending new clients while open ones finish.
pub struct Ready {
    flag: Arc<AtomicBool>,
    drain: DrainWatch,
}

impl Ready {
    /// Ready (the listeners are bound and a policy is loaded), unless draining started.
    pub fn set(&self) {
        self.flag.store(true, Ordering::SeqCst);
        // Draining may have started meanwhile; the task watching it may have run first.
        if self.drain.is_draining() {
            self.flag.store(false, Ordering::SeqCst);
        }
    }
}

/// Binds the endpoint and serves it on the runtime.
pub fn serve(
    addr: SocketAddr,
    sockets: SocketFactory,
    metrics: Arc<Metrics>,
    drain: DrainWatch,
) -> Result<Ready, Error> {
    let mut listeners = Vec::new();
    for (addr, l) in bind(addr, sockets)? {
        let l =
            tokio::net::TcpListener::from_std(l).map_err(|source| Error::listen(addr, source))?;
        listeners.push((addr, l));
    }
    Ok(serve_on(listeners, metrics, drain))
}

/// Serve bound listeners; `/readyz` turns unready when `drain` starts.
fn serve_on(
    listeners: Vec<(SocketAddr, tokio::net::TcpListener)>,
    metrics: Arc<Metrics>,
    drain: DrainWatch,
) -> Ready {
    let flag = Arc::new(AtomicBool::new(false));
    for (addr, l) in listeners {
        let (metrics, flag) = (metrics.clone(), flag.clone());
        tokio::spawn(async move {
            if let Err(e) = http::serve_listener(l, metrics, flag).await {
                tracing::error!(error = %e, addr = %addr, "metrics endpoint failed");
            }
        });
    }
    let (unready, mut draining) = (flag.clone(), drain.clone());
    tokio::spawn(async move {
        draining.draining().await;
        unready.store(false, Ordering::SeqCst);
    });
    Ready { flag, drain }
}

/// The address of the other family that serves the same clients as `addr`: the other
/// loopback for a loopback address, the other wildcard for a wildcard. A specific
/// address has none.
pub fn companion(addr: SocketAddr) -> Option<SocketAddr> {
    let ip = match addr.ip() {
        IpAddr::V4(v4) if v4.is_loopback() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        IpAddr::V4(v4) if v4.is_unspecified() => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        IpAddr::V6(v6) if v6.is_loopback() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(v6) if v6.is_unspecified() => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        _ => return None,
    };
    Some(SocketAddr::new(ip, addr.port()))
}

/// Transparent, marked listeners on `addr` and on its [`companion`]. `addr` must bind; the
/// companion is skipped with a warning when its family is unavailable (IPv6 disabled).
pub fn bind(
    addr: SocketAddr,
    sockets: SocketFactory,
) -> Result<Vec<(SocketAddr, std::net::TcpListener)>, Error> {
    let first = sockets
        .listener(addr, BACKLOG)
        .map_err(|source| Error::listen(addr, source))?;
    let mut out = vec![(addr, first)];
    if let Some(other) = companion(addr) {
        match sockets.listener(other, BACKLOG) {
            Ok(l) => out.push((other, l)),
            Err(e) if is_family_missing(&e) => {
                tracing::warn!(listen.addr = %other, error = %e, "admin endpoint: family unavailable");
            }
            Err(source) => return Err(Error::listen(other, source)),
        }
    }
    Ok(out)
}

fn is_family_missing(e: &std::io::Error) -> bool {
    e.kind() == std::io::ErrorKind::AddrNotAvailable
        || e.raw_os_error() == Some(nix::libc::EAFNOSUPPORT)
}

#[cfg(test)]
mod tests;
