//! Graceful shutdown: stop accepting, let open connections finish within a grace period,
//! then force the rest to end.
//!
//! As in ztunnel, every accept loop and every connection task holds a [`Watcher`]; the
//! drain is over exactly when the last one is dropped (the channel its clones keep open
//! closes), so nothing counts or polls. A [`DrainWatch`] only observes: it is what shared
//! state keeps (a keep-alive HTTP connection closing at a request boundary, the admin
//! endpoint turning unready) without holding the drain up.

use std::convert::Infallible;
use std::time::Duration;

use tokio::sync::{mpsc, watch};

/// How far shutdown has got, in order (a drain never goes back).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Phase {
    Serving,
    /// No new connections; open ones may finish.
    Draining,
    /// The grace period is over: open connections end now.
    Forced,
}

/// Starts draining, waits for the watchers and forces the ones left.
#[derive(Debug)]
pub struct Drain {
    phase: watch::Sender<Phase>,
    /// Never receives anything: it ends when the last [`Watcher`] drops its sender.
    released: mpsc::Receiver<Infallible>,
}

/// Observes the drain without holding it up.
#[derive(Debug, Clone)]
pub struct DrainWatch {
    phase: watch::Receiver<Phase>,
}

/// Held by an accept loop or a connection task for as long as it runs: the drain waits
/// for every clone to be dropped.
#[derive(Debug, Clone)]
pub struct Watcher {
    watch: DrainWatch,
    _held: mpsc::Sender<Infallible>,
}

impl Drain {
    /// The drain and its first watcher (clone it for each task that must finish first).
    pub fn new() -> (Drain, Watcher) {
        let (phase, rx) = watch::channel(Phase::Serving);
        let (held, released) = mpsc::channel(1);
        let watcher = Watcher {
            watch: DrainWatch { phase: rx },
            _held: held,
        };
        (Drain { phase, released }, watcher)
    }

    /// Tell every watcher that draining started.
    pub fn start(&self) {
        self.phase.send_if_modified(|p| {
            let before = *p;
            *p = before.max(Phase::Draining);
            *p != before
        });
    }

    /// Wait until every [`Watcher`] is dropped, at most `grace`; `false` when some are
    /// still held then.
    pub async fn finished(&mut self, grace: Duration) -> bool {
        tokio::time::timeout(grace, self.released.recv())
            .await
            .is_ok()
    }

    /// The grace period is over: every watcher's [`Watcher::forced`] resolves.
    pub fn force(&self) {
        self.phase.send_replace(Phase::Forced);
    }
}

impl DrainWatch {
    /// Resolves once draining started (at once if it already has).
    pub async fn draining(&mut self) {
        // An error means the `Drain` is gone: the proxy is stopping anyway.
        let _ = self.phase.wait_for(|p| *p != Phase::Serving).await;
    }

    /// Whether draining has started.
    pub fn is_draining(&self) -> bool {
        *self.phase.borrow() != Phase::Serving
    }

    /// Resolves once the grace period is over and open connections must end. A `Drain`
    /// dropped without forcing never forces.
    pub async fn forced(&mut self) {
        if self.phase.wait_for(|p| *p == Phase::Forced).await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

impl Watcher {
    /// An observer of the same drain that does not hold it up.
    pub fn signal(&self) -> DrainWatch {
        self.watch.clone()
    }

    /// See [`DrainWatch::draining`].
    pub async fn draining(&mut self) {
        self.watch.draining().await;
    }

    /// See [`DrainWatch::forced`].
    pub async fn forced(&mut self) {
        self.watch.forced().await;
    }
}

#[cfg(test)]
mod tests;
