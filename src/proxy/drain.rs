//! Graceful shutdown: stop accepting, let open connections finish within a grace period.

use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

/// Starts draining.
#[derive(Debug)]
pub struct Drain {
    tx: watch::Sender<bool>,
}

/// Tells accept loops that draining started.
#[derive(Debug, Clone)]
pub struct DrainWatch {
    rx: watch::Receiver<bool>,
}

impl Drain {
    pub fn new() -> (Drain, DrainWatch) {
        let (tx, rx) = watch::channel(false);
        (Drain { tx }, DrainWatch { rx })
    }

    pub fn start(&self) {
        self.tx.send_replace(true);
    }
}

impl DrainWatch {
    /// Resolves once draining started (at once if it already has).
    pub async fn draining(&mut self) {
        // An error means the `Drain` is gone: the proxy is stopping anyway.
        let _ = self.rx.wait_for(|d| *d).await;
    }
}

/// Wait until `active()` reaches zero or `grace` passes; returns the connections left.
pub async fn wait_idle(active: impl Fn() -> usize, grace: Duration) -> usize {
    let deadline = Instant::now() + grace;
    loop {
        let n = active();
        if n == 0 || Instant::now() >= deadline {
            return n;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test]
    async fn watchers_see_the_start_and_wait_is_bounded() {
        let (drain, mut w) = Drain::new();
        let mut w2 = w.clone();
        let t = tokio::spawn(async move { w2.draining().await });
        drain.start();
        w.draining().await;
        t.await.unwrap();

        let n = Arc::new(AtomicUsize::new(2));
        let left = wait_idle(|| n.load(Ordering::Relaxed), Duration::from_millis(60)).await;
        assert_eq!(left, 2);
        let n2 = n.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(30)).await;
            n2.store(0, Ordering::Relaxed);
        });
        let left = wait_idle(|| n.load(Ordering::Relaxed), Duration::from_secs(5)).await;
        assert_eq!(left, 0);
    }
}
