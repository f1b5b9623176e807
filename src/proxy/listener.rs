//! Accept loops of the inbound and outbound listeners.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinError, JoinSet};
use tokio::time::Instant;

use crate::policy::Direction;
use crate::proxy::accepted::{Accepted, ClientAddr, OrigDstAddr};
use crate::proxy::conn;
use crate::proxy::drain::Watcher;
use crate::proxy::outcome::Denied;
use crate::proxy::reset::reset;
use crate::proxy::state::{Policy, Shared};

/// Where a connection was going before it was captured.
pub trait OrigDst: Send + Sync + 'static {
    fn orig_dst(&self, accepted: &TcpStream) -> io::Result<SocketAddr>;
}

/// Under TPROXY nothing is rewritten: the accepted socket's local address is the
/// original destination.
#[derive(Debug, Clone, Copy)]
pub struct LocalAddr;

impl OrigDst for LocalAddr {
    fn orig_dst(&self, accepted: &TcpStream) -> io::Result<SocketAddr> {
        accepted.local_addr()
    }
}

/// Accept until draining starts; each connection runs in its own task, holding a clone
/// of `drain` until it ends. After that the loop only waits: for its connections to end,
/// or for the grace period to be over, when it aborts the ones left (an opaque relay may
/// never end by itself).
///
/// The tasks live in a [`JoinSet`] so that forcing them costs a connection nothing while
/// it runs: no per-connection wait on the drain, whose future would sit in the state of
/// every idle keep-alive connection.
pub async fn accept_loop<P: Policy>(
    listener: TcpListener,
    direction: Direction,
    shared: Arc<Shared<P>>,
    orig: Arc<dyn OrigDst>,
    drain: Watcher,
) {
    let mut conns = JoinSet::new();
    let mut watch = drain.signal();
    let mut failures = AcceptFailures::new();
    loop {
        let accepted = tokio::select! {
            r = listener.accept() => r,
            Some(ended) = conns.join_next(), if !conns.is_empty() => {
                reaped(ended);
                continue;
            }
            () = watch.draining() => break,
        };
        let (stream, src) = match accepted {
            Ok(a) => {
                failures.succeeded();
                a
            }
            Err(e) => {
                // Out of file descriptors or a connection aborted before accept: back
                // off instead of spinning, and say so at most once a second.
                let pause = failures.failed(Instant::now(), |suppressed| {
                    tracing::warn!(error = %e, suppressed, "accept failed");
                });
                tokio::time::sleep(pause).await;
                continue;
            }
        };
        let dst = match orig.orig_dst(&stream) {
            Ok(d) => d,
            Err(e) => {
                tracing::warn!(client.addr = %src, error = %e, "no original destination");
                reset(stream);
                continue;
            }
        };
        let accepted = Accepted {
            client: stream,
            direction,
            src: ClientAddr(src),
            dst: OrigDstAddr(dst),
        };
        let Some(admitted) = shared.try_admit() else {
            conn::refuse(&shared, accepted, Denied::ConnectionLimit).await;
            continue;
        };
        let _ = accepted.client.set_nodelay(true);
        conns.spawn(conn::handle(
            shared.clone(),
            accepted,
            admitted,
            drain.clone(),
        ));
    }
    // No new connections; from here only the open ones hold the drain up.
    drop(listener);
    drop(drain);
    loop {
        tokio::select! {
            ended = conns.join_next() => match ended {
                Some(ended) => reaped(ended),
                None => return,
            },
            () = watch.forced() => {
                tracing::debug!(
                    connections = conns.len(),
                    ?direction,
                    "grace period over; connections closed"
                );
                // Dropping a task's future closes its sockets and drops its watcher.
                conns.shutdown().await;
                return;
            }
        }
    }
}

/// A connection task that ended. One that panicked says so (the runtime caught it; the
/// connection's sockets were closed with its future).
fn reaped(ended: Result<(), JoinError>) {
    if let Err(e) = ended
        && e.is_panic()
    {
        tracing::error!(error = %e, "connection task panicked");
    }
}

/// Accept failures come in storms (EMFILE lasts until descriptors are freed, and every
/// retry fails the same way): one warning per [`AcceptFailures::LOG_EVERY`] with the
/// number suppressed since, and a pause that doubles while failures continue.
#[derive(Debug)]
struct AcceptFailures {
    last_log: Option<Instant>,
    suppressed: u64,
    pause: Duration,
}

impl AcceptFailures {
    const LOG_EVERY: Duration = Duration::from_secs(1);
    const MIN_PAUSE: Duration = Duration::from_millis(5);
    const MAX_PAUSE: Duration = Duration::from_millis(500);

    fn new() -> AcceptFailures {
        AcceptFailures {
            last_log: None,
            suppressed: 0,
            pause: Self::MIN_PAUSE,
        }
    }

    /// One failure at `now`: calls `log` with the count suppressed since the last warning
    /// when a warning is due; returns how long to pause before accepting again.
    fn failed(&mut self, now: Instant, log: impl FnOnce(u64)) -> Duration {
        if self.last_log.is_none_or(|t| now - t >= Self::LOG_EVERY) {
            log(self.suppressed);
            self.last_log = Some(now);
            self.suppressed = 0;
        } else {
            self.suppressed += 1;
        }
        let pause = self.pause;
        self.pause = (self.pause * 2).min(Self::MAX_PAUSE);
        pause
    }

    fn succeeded(&mut self) {
        self.pause = Self::MIN_PAUSE;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_failures_log_once_a_second_and_back_off() {
        let t0 = Instant::now();
        let mut f = AcceptFailures::new();
        let mut logged = Vec::new();
        let mut pauses = Vec::new();
        // 1,000 failures over 2.5 s.
        for i in 0..1000u64 {
            let now = t0 + Duration::from_micros(i * 2500);
            pauses.push(f.failed(now, |n| logged.push(n)));
        }
        // At 0 s, 1 s and 2 s; each after the first names what it suppressed.
        assert_eq!(logged, vec![0, 399, 399]);
        assert_eq!(pauses[0], Duration::from_millis(5));
        assert_eq!(pauses[1], Duration::from_millis(10));
        assert_eq!(*pauses.last().unwrap(), AcceptFailures::MAX_PAUSE);
        f.succeeded();
        assert_eq!(
            f.failed(t0 + Duration::from_secs(9), |_| {}),
            AcceptFailures::MIN_PAUSE
        );
    }
}
