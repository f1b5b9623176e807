//! One list-and-watch loop per kind, with a short, capped backoff.
//!
//! kube's `default_backoff` (client-go's reflector parameters) grows to 30 s and is also
//! applied to the relist after `410 Expired`, so after an API-server outage a proxy could
//! enforce a stale policy for most of a minute after the server answered again. Here:
//! - `410 Expired`/`Gone` (the server restarted or compacted past our resourceVersion) is
//!   not a failure: the watcher relists at once;
//! - other errors (connection refused during a graceful shutdown, 5xx, a broken stream)
//!   wait [`Backoff`], starting at [`MIN_DELAY`] and doubling up to [`MAX_DELAY`], with
//!   jitter so that every proxy of a cluster does not reconnect in the same instant;
//! - any successful event resets it.

use std::hash::BuildHasher;
use std::pin::pin;
use std::time::Duration;

use futures::StreamExt;
use kube::api::{Api, DynamicObject};
use kube::runtime::watcher;
use tokio::sync::mpsc;

use super::Kind;

/// First retry delay after a failure.
pub const MIN_DELAY: Duration = Duration::from_millis(250);
/// Longest retry delay (before jitter): a server that answers again is used within this.
pub const MAX_DELAY: Duration = Duration::from_secs(2);

/// Exponential backoff from [`MIN_DELAY`] to [`MAX_DELAY`], each delay scaled by a random
/// factor in [0.75, 1.25).
#[derive(Debug, Default)]
pub struct Backoff {
    failures: u32,
}

impl Backoff {
    /// The delay before the next attempt; counts one more failure.
    pub fn next_delay(&mut self) -> Duration {
        let base = MIN_DELAY
            .saturating_mul(1u32 << self.failures.min(8))
            .min(MAX_DELAY);
        self.failures = self.failures.saturating_add(1);
        // A per-call random value without a dependency: std's hasher keys are random.
        let r = std::collections::hash_map::RandomState::new().hash_one(self.failures);
        let permille = 750 + (r % 500) as u32;
        base * permille / 1000
    }

    /// After a success: the next failure starts again at [`MIN_DELAY`].
    pub fn reset(&mut self) {
        self.failures = 0;
    }
}

/// `true` for the API server's "your resourceVersion is too old" answer to a watch, after
/// which the watcher has already dropped its resourceVersion and its next poll relists.
/// (A list that fails is retried with the backoff, whatever the status.)
pub fn is_expired(e: &watcher::Error) -> bool {
    let status = match e {
        watcher::Error::WatchError(s) => Some(s.code),
        watcher::Error::WatchStartFailed(kube::Error::Api(s))
        | watcher::Error::WatchFailed(kube::Error::Api(s)) => Some(s.code),
        _ => None,
    };
    status == Some(410)
}

/// A second expiry this soon after the previous one is treated as a failure: a server
/// that keeps answering 410 must not be relisted from in a tight loop.
const EXPIRED_AGAIN: Duration = Duration::from_secs(1);

pub type Message = (Kind, watcher::Event<DynamicObject>);

/// List and watch one kind until the receiver is gone.
pub async fn watch_kind(client: kube::Client, kind: Kind, tx: mpsc::Sender<Message>) {
    let api: Api<DynamicObject> = Api::all_with(client, &kind.resource());
    let mut stream = pin!(watcher(api, watcher::Config::default()));
    let mut backoff = Backoff::default();
    let mut last_expired: Option<tokio::time::Instant> = None;
    while let Some(item) = stream.next().await {
        match item {
            Ok(event) => {
                backoff.reset();
                if tx.send((kind, event)).await.is_err() {
                    return;
                }
            }
            Err(e)
                if is_expired(&e) && last_expired.is_none_or(|t| t.elapsed() >= EXPIRED_AGAIN) =>
            {
                last_expired = Some(tokio::time::Instant::now());
                tracing::info!(?kind, error = %e, "watch expired; relisting now");
            }
            Err(e) => {
                let delay = backoff.next_delay();
                tracing::warn!(?kind, error = %e, retry.in_ms = delay.as_millis() as u64, "watch failed; retrying");
                tokio::time::sleep(delay).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_is_capped_jittered_and_resets() {
        let mut b = Backoff::default();
        let first = b.next_delay();
        assert!(
            first >= MIN_DELAY * 3 / 4 && first < MIN_DELAY * 5 / 4,
            "{first:?}"
        );
        let later: Vec<Duration> = (0..20).map(|_| b.next_delay()).collect();
        for d in &later {
            assert!(*d < MAX_DELAY * 5 / 4, "{d:?} exceeds the cap");
        }
        assert!(
            later.iter().any(|d| *d != later[19]),
            "no jitter: {later:?}"
        );
        b.reset();
        assert!(b.next_delay() < MIN_DELAY * 5 / 4);
    }
}
