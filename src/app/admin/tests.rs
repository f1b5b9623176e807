//! The admin endpoint's addresses and readiness.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::*;
use crate::proxy::drain::Drain;

#[test]
fn companion_is_the_same_scope_in_the_other_family() {
    let c = |s: &str| companion(s.parse().unwrap()).map(|a| a.to_string());
    assert_eq!(c("127.0.0.1:15020").as_deref(), Some("[::1]:15020"));
    assert_eq!(c("[::1]:15020").as_deref(), Some("127.0.0.1:15020"));
    assert_eq!(c("0.0.0.0:9090").as_deref(), Some("[::]:9090"));
    assert_eq!(c("[::]:9090").as_deref(), Some("0.0.0.0:9090"));
    assert_eq!(c("10.0.0.5:15020"), None);
}

/// The status code of `GET /readyz`.
async fn readyz(addr: SocketAddr) -> u16 {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(b"GET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).await.unwrap();
    resp.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap()
}

#[tokio::test]
async fn readyz_is_503_from_the_start_of_the_drain() {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let (drain, watcher) = Drain::new();
    let ready = serve_on(
        vec![(addr, l)],
        Arc::new(Metrics::default()),
        watcher.signal(),
    );
    assert_eq!(readyz(addr).await, 503, "ready before it was set");
    ready.set();
    assert_eq!(readyz(addr).await, 200);

    drain.start();
    // Nothing but the drain start in between: the next probes fail.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(1);
    while readyz(addr).await != 503 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "still ready after the drain started"
        );
        tokio::task::yield_now().await;
    }
    // And stays so, whatever sets it ready again.
    ready.set();
    assert_eq!(readyz(addr).await, 503);
}
