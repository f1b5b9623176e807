//! The listeners: HTTPS for the admission webhooks (hyper 1 over tokio-rustls) and plain
//! HTTP for metrics and probes; a task re-reads the certificate files; SIGTERM/SIGINT stop it.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;

use super::metrics::Metrics;
use super::routes::{self, State};
use super::tls::CertStore;
use super::{ControllerArgs, Error};
use crate::signal::Shutdown;

/// A client that does not finish the TLS handshake in this time is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// A client that does not send a request head in this time is dropped (the API server sends
/// its review at once; a stalled client only holds a connection).
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// HTTP/1.1 with a bound on how long a request head may take.
fn http1_builder() -> http1::Builder {
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT);
    builder
}

/// Serves until SIGTERM or SIGINT.
pub async fn run(args: ControllerArgs) -> Result<(), Error> {
    let mut shutdown = Shutdown::install()?;
    let certs = Arc::new(CertStore::load(&args.tls_cert_file, &args.tls_key_file)?);
    let reload_every = args.cert_reload_interval;
    let acceptor = TlsAcceptor::from(Arc::new(certs.server_config()?));
    let webhook = bind(args.webhook_addr).await?;
    let plain = bind(args.metrics_addr).await?;
    let state = Arc::new(State {
        args,
        metrics: Metrics::new(),
        lookups: super::lookup::Lookups::infer().await,
        ready: Default::default(),
    });
    log_listening(&webhook, "webhook (HTTPS) listening");
    log_listening(&plain, "metrics and health (HTTP) listening");
    state.ready.store(true, Ordering::Release);

    let drain = state.args.drain_timeout;
    let serving = async {
        tokio::join!(
            serve_https(webhook, acceptor, state.clone()),
            serve_plain(plain, state.clone()),
            reload_certificates(certs, reload_every, state.clone()),
        )
    };
    tokio::pin!(serving);
    tokio::select! {
        _ = &mut serving => {}
        _ = shutdown.requested() => {}
    }
    // The Pod is being removed from the Service's endpoints while the API server may still
    // route reviews here: report not ready and keep answering for the drain period, so no
    // Pod or policy is refused (failurePolicy: Fail) because of a rollout.
    state.ready.store(false, Ordering::Release);
    tracing::info!(drain = ?drain, "stopping: not ready, still answering during the drain period");
    let _ = tokio::time::timeout(drain, &mut serving).await;
    Ok(())
}

async fn bind(addr: SocketAddr) -> Result<TcpListener, Error> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| Error::Bind { addr, source })
}

fn log_listening(listener: &TcpListener, what: &'static str) {
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(listen.addr = %addr, "{what}");
    }
}

/// Accepts TLS connections and serves the admission routes; connection tasks are owned by
/// this future.
pub async fn serve_https(listener: TcpListener, acceptor: TlsAcceptor, state: Arc<State>) {
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Some((stream, peer)) = accepted_or_backoff(accepted).await else { continue };
                let acceptor = acceptor.clone();
                let state = state.clone();
                conns.spawn(async move {
                    let tls = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                        Ok(Ok(tls)) => tls,
                        Ok(Err(e)) => {
                            tracing::debug!(client.addr = %peer, error = %e, "TLS handshake failed");
                            return;
                        }
                        Err(_) => {
                            tracing::debug!(client.addr = %peer, "TLS handshake timed out");
                            return;
                        }
                    };
                    let svc = service_fn(move |req| {
                        let state = state.clone();
                        async move { Ok::<_, Infallible>(routes::admission(req, state).await) }
                    });
                    if let Err(e) = http1_builder().serve_connection(TokioIo::new(tls), svc).await {
                        tracing::debug!(client.addr = %peer, error = %e, "webhook connection error");
                    }
                });
            }
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
}

/// Serves `/metrics`, `/healthz` and `/readyz` over plain HTTP.
pub async fn serve_plain(listener: TcpListener, state: Arc<State>) {
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Some((stream, peer)) = accepted_or_backoff(accepted).await else { continue };
                let state = state.clone();
                conns.spawn(async move {
                    let svc = service_fn(move |req| {
                        let resp = routes::plain(&req, &state);
                        async move { Ok::<_, Infallible>(resp) }
                    });
                    if let Err(e) = http1_builder().serve_connection(TokioIo::new(stream), svc).await {
                        tracing::debug!(client.addr = %peer, error = %e, "metrics connection error");
                    }
                });
            }
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
}

/// A failed accept (a client that went away, a moment of fd exhaustion) must not end the
/// server; back off briefly so a persistent failure does not spin.
async fn accepted_or_backoff<T>(accepted: std::io::Result<T>) -> Option<T> {
    match accepted {
        Ok(a) => Some(a),
        Err(e) => {
            tracing::warn!(error = %e, "accept failed");
            tokio::time::sleep(Duration::from_millis(50)).await;
            None
        }
    }
}

/// Checks the certificate files every `every`; never returns.
async fn reload_certificates(certs: Arc<CertStore>, every: Duration, state: Arc<State>) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tick.tick().await;
        let store = certs.clone();
        let result = tokio::task::spawn_blocking(move || store.reload_if_changed()).await;
        match result {
            Ok(Ok(false)) => {}
            Ok(Ok(true)) => {
                state.metrics.reload(true);
                tracing::info!("webhook certificate reloaded");
            }
            Ok(Err(e)) => {
                state.metrics.reload(false);
                tracing::warn!(error = %e, "webhook certificate not reloaded; keeping the previous one");
            }
            Err(e) => tracing::error!(error = %e, "certificate reload task failed"),
        }
    }
}
