//! `/metrics`, `/healthz` and `/readyz` over HTTP/1.1 (hyper).
//!
//! Kept deliberately tiny: GET-only, no TLS, no keep-alive tuning. It listens on loopback
//! by default, transparently (`proxy::admin`), and the redirect rules hand it every
//! connection to the Pod's metrics port, so it is reachable by the kubelet and a scraper
//! without being subject to the policy it enforces.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::task::JoinSet;

use crate::events::{Error, METRICS_CONTENT_TYPE, Metrics};

/// Serve `/metrics`, `/healthz` and `/readyz` (ready when `ready` is true) on `listener`
/// until the returned future is dropped.
/// Connections are tasks owned by this future: dropping it closes them too.
pub async fn serve_listener(
    listener: TcpListener,
    metrics: Arc<Metrics>,
    ready: Arc<AtomicBool>,
) -> Result<(), Error> {
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(listen.addr = %addr, "metrics endpoint listening");
    }
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(a) => a,
                    // Per-connection failures (ECONNABORTED, EMFILE for a moment) must not
                    // end the endpoint; back off briefly on resource exhaustion.
                    Err(e) if is_transient(&e) => {
                        tracing::debug!(error = %e, "metrics accept failed");
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                        continue;
                    }
                    Err(e) => return Err(Error::Accept(e)),
                };
                let metrics = metrics.clone();
                let ready = ready.clone();
                conns.spawn(async move {
                    let svc = service_fn(move |req| {
                        let resp = respond(&req, &metrics, &ready);
                        async move { Ok::<_, Infallible>(resp) }
                    });
                    if let Err(e) = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc)
                        .await
                    {
                        tracing::debug!(client.addr = %peer, error = %e, "metrics connection error");
                    }
                });
            }
            // Reap finished connection tasks so the set does not grow without bound.
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
}

fn is_transient(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(
        e.kind(),
        ConnectionAborted | ConnectionReset | Interrupted | WouldBlock | OutOfMemory
    ) || matches!(
        e.raw_os_error().map(nix::errno::Errno::from_raw),
        Some(nix::errno::Errno::EMFILE | nix::errno::Errno::ENFILE)
    )
}

fn respond(
    req: &Request<Incoming>,
    metrics: &Metrics,
    ready: &AtomicBool,
) -> Response<Full<Bytes>> {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n");
    }
    match req.uri().path() {
        "/metrics" => {
            let mut resp = Response::new(Full::new(Bytes::from(metrics.encode())));
            resp.headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static(METRICS_CONTENT_TYPE));
            resp
        }
        "/healthz" => text(StatusCode::OK, "ok"),
        "/readyz" if ready.load(Ordering::Acquire) => text(StatusCode::OK, "ready"),
        "/readyz" => text(StatusCode::SERVICE_UNAVAILABLE, "not ready"),
        _ => text(StatusCode::NOT_FOUND, "not found\n"),
    }
}

fn text(status: StatusCode, body: &'static str) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    resp
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::SocketAddr;
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    /// One request over a real loopback connection; returns (status line, headers+body).
    async fn get(addr: SocketAddr, method: &str, path: &str) -> (String, String) {
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        let req = format!("{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        s.write_all(req.as_bytes()).await.unwrap();
        let mut resp = String::new();
        s.read_to_string(&mut resp).await.unwrap();
        let (status, rest) = resp.split_once("\r\n").unwrap();
        (status.to_string(), rest.to_string())
    }

    fn body(resp: &str) -> &str {
        resp.split_once("\r\n\r\n").unwrap().1
    }

    #[tokio::test]
    async fn endpoints_over_loopback() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let metrics = Arc::new(Metrics::new());
        let ready = Arc::new(AtomicBool::new(false));
        let server = tokio::spawn(serve_listener(listener, metrics.clone(), ready.clone()));

        let (st, rest) = get(addr, "GET", "/healthz").await;
        assert_eq!(st, "HTTP/1.1 200 OK");
        assert_eq!(body(&rest), "ok");

        let (st, _) = get(addr, "GET", "/readyz").await;
        assert_eq!(st, "HTTP/1.1 503 Service Unavailable");
        ready.store(true, Ordering::Release);
        let (st, _) = get(addr, "GET", "/readyz").await;
        assert_eq!(st, "HTTP/1.1 200 OK");

        let (st, _) = get(addr, "GET", "/nope").await;
        assert_eq!(st, "HTTP/1.1 404 Not Found");
        let (st, _) = get(addr, "POST", "/metrics").await;
        assert_eq!(st, "HTTP/1.1 405 Method Not Allowed");

        let line = "l7proxy_connections_accepted_total{direction=\"egress\"}";
        let (st, rest) = get(addr, "GET", "/metrics").await;
        assert_eq!(st, "HTTP/1.1 200 OK");
        assert!(
            rest.to_ascii_lowercase()
                .contains(&format!("content-type: {METRICS_CONTENT_TYPE}")),
            "{rest}"
        );
        assert!(body(&rest).contains(&format!("{line} 0")));
        metrics.conn_opened(Direction::Egress);
        metrics.event_dropped();
        let (_, rest) = get(addr, "GET", "/metrics").await;
        assert!(body(&rest).contains(&format!("{line} 1")), "{rest}");
        assert!(body(&rest).contains("l7proxy_events_dropped_total 1"));

        server.abort();
    }

    use crate::policy::Direction;
}
