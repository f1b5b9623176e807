//! HTTPS server: TLS 1.3 and 1.2 (rustls, the lab's self-signed certificate), HTTP/1.1 inside.
//! The logged SNI shows which name the handshake really carried to the server.

use std::sync::Arc;

use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use super::http::serve_conn;
use super::log::{RequestLog, RequestRecord};
use crate::certs;

/// Server configuration with both TLS versions and no ALPN (any client ALPN list is fine).
pub fn server_config() -> Result<rustls::ServerConfig, String> {
    let cert = certs::generate().map_err(|e| format!("certificate: {e}"))?;
    rustls::ServerConfig::builder_with_protocol_versions(&[
        &rustls::version::TLS13,
        &rustls::version::TLS12,
    ])
    .with_no_client_auth()
    .with_single_cert(vec![cert.cert], cert.key)
    .map_err(|e| format!("tls config: {e}"))
}

/// Accept forever, handshake, then serve HTTP/1.1 inside.
pub async fn serve(listener: TcpListener, log: RequestLog) -> std::io::Result<()> {
    let config = server_config().map_err(std::io::Error::other)?;
    let acceptor = TlsAcceptor::from(Arc::new(config));
    loop {
        let (stream, peer) = listener.accept().await?;
        let local = stream.local_addr()?;
        let acceptor = acceptor.clone();
        let log = log.clone();
        tokio::spawn(async move {
            let mut base = RequestRecord::new("https", peer, local);
            let Ok(tls) = acceptor.accept(stream).await else {
                return;
            };
            base.sni = tls
                .get_ref()
                .1
                .server_name()
                .unwrap_or_default()
                .to_string();
            serve_conn(tls, base, log).await;
        });
    }
}
