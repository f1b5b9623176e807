//! HTTP/1.1 keep-alive server (hyper): answers 200 with a short body naming the request, for
//! any method and path, and logs each request with the client's address.

use std::convert::Infallible;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;

use super::log::{RequestLog, RequestRecord};

/// Accept forever on `listener`, serving plain HTTP.
pub async fn serve(listener: TcpListener, log: RequestLog) -> std::io::Result<()> {
    loop {
        let (stream, peer) = listener.accept().await?;
        let local = stream.local_addr()?;
        let log = log.clone();
        tokio::spawn(async move {
            let base = RequestRecord::new("http", peer, local);
            serve_conn(stream, base, log).await;
        });
    }
}

/// Serve HTTP/1.1 on one established stream (plain TCP or TLS). `base` carries the
/// connection's fields (client address, SNI); each request adds method, path and host.
pub async fn serve_conn<S>(stream: S, base: RequestRecord, log: RequestLog)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = service_fn(move |req: Request<Incoming>| {
        let mut record = base.clone();
        let log = log.clone();
        async move {
            record.method = req.method().to_string();
            record.path = req.uri().to_string();
            record.host = req
                .headers()
                .get(hyper::header::HOST)
                .and_then(|h| h.to_str().ok())
                .unwrap_or_default()
                .to_string();
            let body = req
                .into_body()
                .collect()
                .await
                .map(|b| b.to_bytes())
                .unwrap_or_default();
            record.bytes = body.len() as u64;
            log.write(&record);
            let text = format!(
                "lab-server {} {} {} from {}\n",
                record.server, record.method, record.path, record.client_ip
            );
            let response = Response::builder()
                .header("content-type", "text/plain")
                .header("x-lab-client", record.client_ip.as_str())
                .body(Full::new(Bytes::from(text)))
                .unwrap_or_default();
            Ok::<_, Infallible>(response)
        }
    });
    let _ = http1::Builder::new()
        .keep_alive(true)
        .pipeline_flush(true)
        .serve_connection(TokioIo::new(stream), service)
        .with_upgrades()
        .await;
}
