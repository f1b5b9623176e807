//! The drain ends when the last watcher drops, and forces the ones left after the grace
//! period.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use super::Drain;

#[tokio::test]
async fn watchers_see_the_start() {
    let (drain, mut w) = Drain::new();
    let mut w2 = w.clone();
    let signal = w.signal();
    assert!(!signal.is_draining());
    let t = tokio::spawn(async move { w2.draining().await });
    drain.start();
    w.draining().await;
    t.await.unwrap();
    assert!(signal.is_draining());
}

#[tokio::test]
async fn the_drain_finishes_exactly_when_the_last_watcher_drops() {
    let (mut drain, first) = Drain::new();
    let last = first.clone();
    // An observer (what shared state keeps) does not hold the drain up.
    let _signal = first.signal();
    let dropping_last = Arc::new(AtomicBool::new(false));
    let flag = dropping_last.clone();
    drain.start();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(50)).await;
        drop(first);
        tokio::time::sleep(Duration::from_millis(100)).await;
        flag.store(true, Ordering::SeqCst);
        drop(last);
    });
    let t0 = tokio::time::Instant::now();
    assert!(drain.finished(Duration::from_secs(10)).await);
    assert!(
        dropping_last.load(Ordering::SeqCst),
        "finished before the last watcher dropped"
    );
    assert!(t0.elapsed() < Duration::from_secs(5), "finished late");
}

#[tokio::test]
async fn after_the_grace_period_the_watchers_left_are_forced() {
    let (mut drain, mut held) = Drain::new();
    let mut signal = held.signal();
    drain.start();
    assert!(!drain.finished(Duration::from_millis(50)).await);
    let forced = tokio::spawn(async move {
        held.forced().await;
        drop(held);
    });
    drain.force();
    signal.forced().await;
    forced.await.unwrap();
    assert!(drain.finished(Duration::from_secs(5)).await);
}

#[tokio::test]
async fn a_drain_dropped_without_forcing_never_forces() {
    let (drain, mut w) = Drain::new();
    drop(drain);
    // Draining reads as started (the proxy is stopping), forcing never comes.
    w.draining().await;
    let forced = tokio::time::timeout(Duration::from_millis(50), w.forced()).await;
    assert!(forced.is_err());
}
