//! The benchmark's origin server (`lab-bench serve`): as little work per request as a server
//! can do, so that direct mode measures the network path and not the server. It answers every
//! HTTP/1.1 request with a fixed 200 response (keep-alive unless the client asks to close),
//! serves the same over TLS and over HTTP/2 cleartext (prior knowledge, the `h2` crate), and
//! sends bulk objects from a static buffer.
//!
//! It also counts the plain-HTTP connections it accepted and tells that count to whoever
//! connects to its stats address (loopback inside the workload namespace, so no client
//! reaches it): the runner reads it before and after a step to see how many upstream
//! connections a proxy opened for the step's requests.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Body size of every HTTP response.
pub const BODY_BYTES: usize = 1024;

/// Plain-HTTP connections accepted since the server started.
static HTTP_ACCEPTED: AtomicU64 = AtomicU64::new(0);

/// Serve forever on the given addresses (plain HTTP, HTTPS, bulk); each connection to a
/// `stats` address gets the accepted plain-HTTP connection count as one decimal line.
pub async fn serve(
    http: Vec<SocketAddr>,
    https: Vec<SocketAddr>,
    h2: Vec<SocketAddr>,
    bulk: Vec<SocketAddr>,
    stats: Vec<SocketAddr>,
) -> std::io::Result<()> {
    let response = Responses {
        keep_alive: response(false).into(),
        close: response(true).into(),
    };
    let mut tasks: tokio::task::JoinSet<std::io::Result<()>> = tokio::task::JoinSet::new();
    for addr in http {
        let listener = crate::servers::listen(addr)?;
        let response = response.clone();
        tasks.spawn(async move {
            loop {
                let (stream, _) = listener.accept().await?;
                HTTP_ACCEPTED.fetch_add(1, Ordering::Relaxed);
                let _ = stream.set_nodelay(true);
                tokio::spawn(http_conn(stream, response.clone()));
            }
        });
    }
    if !https.is_empty() {
        let config = crate::servers::tls::server_config().map_err(std::io::Error::other)?;
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        for addr in https {
            let listener = crate::servers::listen(addr)?;
            let response = response.clone();
            let acceptor = acceptor.clone();
            tasks.spawn(async move {
                loop {
                    let (stream, _) = listener.accept().await?;
                    let _ = stream.set_nodelay(true);
                    let acceptor = acceptor.clone();
                    let response = response.clone();
                    tokio::spawn(async move {
                        if let Ok(tls) = acceptor.accept(stream).await {
                            http_conn(tls, response).await;
                        }
                    });
                }
            });
        }
    }
    for addr in h2 {
        let listener = crate::servers::listen(addr)?;
        tasks.spawn(async move {
            loop {
                let (stream, _) = listener.accept().await?;
                let _ = stream.set_nodelay(true);
                tokio::spawn(h2_conn(stream));
            }
        });
    }
    for addr in bulk {
        let listener = crate::servers::listen(addr)?;
        tasks.spawn(async move {
            loop {
                let (stream, _) = listener.accept().await?;
                tokio::spawn(bulk_conn(stream));
            }
        });
    }
    for addr in stats {
        let listener = crate::servers::listen(addr)?;
        tasks.spawn(async move {
            loop {
                let (mut stream, _) = listener.accept().await?;
                let line = format!("{}\n", HTTP_ACCEPTED.load(Ordering::Relaxed));
                tokio::spawn(async move {
                    let _ = stream.write_all(line.as_bytes()).await;
                    let _ = stream.shutdown().await;
                });
            }
        });
    }
    while let Some(res) = tasks.join_next().await {
        if let Ok(Err(e)) = res {
            return Err(e);
        }
    }
    Ok(())
}

/// Every stream of an HTTP/2 connection gets the same 200 with a 1 KiB body (well inside
/// the initial window, so it is sent at once).
async fn h2_conn(stream: tokio::net::TcpStream) {
    static BODY: [u8; BODY_BYTES] = [b'x'; BODY_BYTES];
    let Ok(mut conn) = h2::server::handshake(stream).await else {
        return;
    };
    while let Some(Ok((_, mut respond))) = conn.accept().await {
        let response = http::Response::builder()
            .header("content-type", "text/plain")
            .body(())
            .unwrap_or_default();
        if let Ok(mut body) = respond.send_response(response, false) {
            let _ = body.send_data(bytes::Bytes::from_static(&BODY), true);
        }
    }
}

/// The two fixed responses: a request that asks to close gets `Connection: close` back, so
/// the client knows not to reuse the connection.
#[derive(Clone)]
struct Responses {
    keep_alive: Arc<[u8]>,
    close: Arc<[u8]>,
}

fn response(close: bool) -> Vec<u8> {
    let conn = if close { "Connection: close\r\n" } else { "" };
    let mut r = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n{conn}Content-Length: {BODY_BYTES}\r\n\r\n"
    )
    .into_bytes();
    r.extend(std::iter::repeat_n(b'x', BODY_BYTES));
    r
}

/// Answer each complete request head in the buffer (pipelining allowed); requests carry no
/// body (the benchmark only sends GET). A malformed request closes the connection.
async fn http_conn<S>(mut stream: S, response: Responses)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut buf = vec![0u8; 4096];
    let mut filled = 0;
    let mut out = Vec::with_capacity(response.keep_alive.len());
    loop {
        if filled == buf.len() {
            return; // head larger than the buffer: not a benchmark request
        }
        let n = match stream.read(&mut buf[filled..]).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        filled += n;
        let mut start = 0;
        let mut close = false;
        out.clear();
        while start < filled {
            let mut headers = [httparse::EMPTY_HEADER; 16];
            let mut req = httparse::Request::new(&mut headers);
            match req.parse(&buf[start..filled]) {
                Ok(httparse::Status::Complete(len)) => {
                    close = req.headers.iter().any(|h| {
                        h.name.eq_ignore_ascii_case("connection")
                            && h.value.eq_ignore_ascii_case(b"close")
                    });
                    out.extend_from_slice(if close {
                        &response.close
                    } else {
                        &response.keep_alive
                    });
                    start += len;
                    if close {
                        break;
                    }
                }
                Ok(httparse::Status::Partial) => break,
                Err(_) => return,
            }
        }
        buf.copy_within(start..filled, 0);
        filled -= start;
        if !out.is_empty() && stream.write_all(&out).await.is_err() {
            return;
        }
        if close {
            let _ = stream.shutdown().await;
            return;
        }
    }
}

/// The client writes a decimal byte count and a newline; send that many bytes and close.
async fn bulk_conn(mut stream: tokio::net::TcpStream) {
    static CHUNK: [u8; 256 * 1024] = [0x5a; 256 * 1024];
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    while line.len() < 32 {
        match stream.read(&mut byte).await {
            Ok(1) if byte[0] == b'\n' => break,
            Ok(1) => line.push(byte[0]),
            _ => return,
        }
    }
    let Some(mut left) = std::str::from_utf8(&line)
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok())
    else {
        return;
    };
    while left > 0 {
        let n = left.min(CHUNK.len() as u64) as usize;
        if stream.write_all(&CHUNK[..n]).await.is_err() {
            return;
        }
        left -= n as u64;
    }
    let _ = stream.shutdown().await;
}
