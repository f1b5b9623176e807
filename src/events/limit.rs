//! Rate limit of alert events (`run --alert-rate`).
//!
//! A client that sends denied requests as fast as it can would otherwise turn every reset
//! into a multi-kilobyte EVE line and fill the disk: the cost of an attack would land on
//! the node, not on the attacker. Only the *events* are limited; every denial is still
//! enforced (reset), counted in the verdict metrics, and written to np.log when its rule
//! asks for it. What the limiter holds back is counted in
//! `l7proxy_alerts_suppressed_total` and summed up in the proxy's log once per second.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// A token bucket: `rate` tokens per second, holding at most `burst`.
#[derive(Debug)]
pub struct Bucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
}

impl Bucket {
    /// A full bucket at `now`.
    pub fn new(rate: u32, burst: u32, now: Instant) -> Bucket {
        Bucket {
            rate: f64::from(rate),
            burst: f64::from(burst.max(1)),
            tokens: f64::from(burst.max(1)),
            last: now,
        }
    }

    /// Take one token if there is one at `now`. A `now` before the last call (clock
    /// reads from different threads) adds nothing rather than failing.
    pub fn take(&mut self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = self.last.max(now);
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// How often held-back alerts are summed up in the log.
pub const SUMMARY_EVERY: Duration = Duration::from_secs(1);

/// The alert limiter shared by every [`super::EventSink`] clone and the writer thread.
#[derive(Debug)]
pub struct Limiter {
    /// `None`: unlimited (`--alert-rate 0`).
    bucket: Option<Mutex<Bucket>>,
    /// Suppressed since the last summary.
    pending: AtomicU64,
    /// When the last summary was written (writer thread only, but shared for simplicity).
    last_summary: Mutex<Instant>,
}

impl Limiter {
    /// `rate` alerts per second with a burst of as many; 0 means unlimited.
    pub fn new(rate: u32, now: Instant) -> Limiter {
        Limiter {
            bucket: (rate > 0).then(|| Mutex::new(Bucket::new(rate, rate, now))),
            pending: AtomicU64::new(0),
            last_summary: Mutex::new(now),
        }
    }

    /// Whether an alert at `now` may be written; a refused one is counted as pending.
    pub fn admit(&self, now: Instant) -> bool {
        let Some(bucket) = &self.bucket else {
            return true;
        };
        // A poisoned lock only means another thread panicked mid-update of two floats:
        // the bucket is still usable.
        let ok = bucket.lock().unwrap_or_else(|e| e.into_inner()).take(now);
        if !ok {
            self.pending.fetch_add(1, Ordering::Relaxed);
        }
        ok
    }

    /// The number of alerts suppressed since the last summary, if at least
    /// [`SUMMARY_EVERY`] has passed since then and there are any; resets the count.
    pub fn summary(&self, now: Instant) -> Option<u64> {
        let mut last = self.last_summary.lock().unwrap_or_else(|e| e.into_inner());
        if now.saturating_duration_since(*last) < SUMMARY_EVERY {
            return None;
        }
        let n = self.pending.swap(0, Ordering::Relaxed);
        (n > 0).then(|| {
            *last = now;
            n
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn bucket_allows_a_burst_then_the_rate() {
        let t0 = Instant::now();
        let mut b = Bucket::new(10, 10, t0);
        assert_eq!((0..25).filter(|_| b.take(t0)).count(), 10, "burst");
        assert!(!b.take(t0 + ms(50)), "half a token is not a token");
        assert!(b.take(t0 + ms(100)), "one token per 100 ms at 10/s");
        assert!(!b.take(t0 + ms(100)));
        // One second of tokens, capped at the burst after a long pause.
        let later = t0 + Duration::from_secs(60);
        assert_eq!((0..25).filter(|_| b.take(later)).count(), 10);
    }

    #[test]
    fn bucket_tolerates_time_going_backwards() {
        let t0 = Instant::now() + Duration::from_secs(1);
        let mut b = Bucket::new(1, 1, t0);
        assert!(b.take(t0));
        assert!(!b.take(t0 - ms(500)));
        assert!(!b.take(t0 + ms(500)));
        assert!(b.take(t0 + ms(1000)));
    }

    #[test]
    fn bucket_holds_the_long_run_rate() {
        let t0 = Instant::now();
        let mut b = Bucket::new(100, 100, t0);
        // 10 s of 2,000 attempts per second.
        let admitted = (0..20_000u64)
            .filter(|i| b.take(t0 + Duration::from_micros(i * 500)))
            .count();
        assert!((1_090..=1_100).contains(&admitted), "{admitted}");
    }

    #[test]
    fn limiter_counts_and_summarizes_once_per_second() {
        let t0 = Instant::now();
        let l = Limiter::new(2, t0);
        let admitted = (0..10).filter(|_| l.admit(t0)).count();
        assert_eq!(admitted, 2);
        assert_eq!(l.summary(t0 + ms(500)), None, "not a second yet");
        assert_eq!(l.summary(t0 + ms(1000)), Some(8));
        assert_eq!(l.summary(t0 + ms(3000)), None, "nothing new suppressed");
        // The bucket refilled to its burst of 2; 3 of 5 are held back.
        let admitted = (0..5).filter(|_| l.admit(t0 + ms(3000))).count();
        assert_eq!(admitted, 2);
        assert_eq!(l.summary(t0 + ms(3100)), Some(3));
        assert_eq!(l.summary(t0 + ms(5000)), None);
    }

    #[test]
    fn zero_rate_is_unlimited() {
        let t0 = Instant::now();
        let l = Limiter::new(0, t0);
        assert!((0..100_000).all(|_| l.admit(t0)));
        assert_eq!(l.summary(t0 + Duration::from_secs(5)), None);
    }
}
