//! The transparent data path: TPROXY listeners, per-connection decision, classification,
//! enforcement, relay.
//!
//! Layout: [`listener`] accepts and admits, [`conn`] decides per connection (L3/L4 verdict,
//! then classification in [`inspect`] for L7 rules), [`http`] enforces every request of an
//! HTTP/1.x connection (asking [`gate`], using the framing in [`wire`]), [`relay`] moves
//! opaque bytes, [`service`] picks the endpoint behind a Service VIP for egress (decided
//! on and connected to instead of the VIP), [`upstream`] connects to the original
//! destination, [`reload`] swaps policy snapshots, [`drain`] stops gracefully, and
//! [`report`] turns outcomes into events and metrics. [`tls`] follows an allowed TLS
//! connection: a HelloRetryRequest's second hello, then the client's record framing.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context;

use crate::events::{EventSink, Metrics};
use crate::policy::Direction;
#[cfg(test)]
use crate::policy::Snapshot;

pub mod admin;
pub mod buf;
pub mod config;
pub mod conn;
pub mod drain;
pub mod fds;
pub mod gate;
pub mod http;
pub mod inspect;
pub mod listener;
pub mod relay;
pub mod reload;
pub mod report;
pub mod service;
pub mod state;
pub mod tls;
pub mod upstream;
pub mod wire;

#[cfg(test)]
#[path = "proxy/tests.rs"]
mod tests;
#[cfg(test)]
mod testutil;

pub use config::Config;
pub use relay::RelayMode;

/// `l7proxy run` arguments.
#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("source").required(true).args(["manifests", "kubernetes"])))]
pub struct RunArgs {
    /// Manifest files or directories (YAML/JSON, recursive); watched for changes.
    #[arg(long, num_args = 1.., value_name = "PATH")]
    pub manifests: Vec<PathBuf>,
    /// Read policy, Pods and Namespaces from the Kubernetes API (in-cluster service
    /// account, or KUBECONFIG) instead of manifests; ready after the first full sync.
    #[arg(long)]
    pub kubernetes: bool,
    /// The protected Pod, `NAMESPACE/NAME`: inbound is its ingress, outbound its egress.
    /// Defaults to `$POD_NAMESPACE/$POD_NAME` (the downward API).
    #[arg(long, value_name = "NS/NAME", value_parser = config::parse_pod_arg)]
    pub pod: Option<String>,
    /// Directory of the EVE log (`eve-YYYY-MM-DD.json`) and the audit log (`np.log`).
    #[arg(long, default_value = "/var/log/l7proxy", value_name = "DIR")]
    pub log_dir: PathBuf,
    /// Port of the inbound (ingress) TPROXY listener on 127.0.0.1 and ::1.
    #[arg(long, default_value_t = 15006)]
    pub inbound_port: u16,
    /// Port of the outbound (egress) TPROXY listener on 127.0.0.1 and ::1.
    #[arg(long, default_value_t = 15001)]
    pub outbound_port: u16,
    /// SO_MARK on every proxy socket, so capture rules let the proxy's traffic through.
    #[arg(long, default_value = "0x539", value_parser = config::parse_mark)]
    pub mark: u32,
    /// Address of the `/metrics`, `/healthz` and `/readyz` endpoint (transparent, so the
    /// capture rules can hand it `PodIP:PORT`); a loopback or wildcard address is also
    /// listened on in the other family.
    #[arg(long, default_value = "127.0.0.1:15020")]
    pub metrics_addr: SocketAddr,
    /// How opaque bytes are relayed.
    #[arg(long, value_enum, default_value_t = RelayMode::Copy)]
    pub relay: RelayMode,
    /// Total time allowed to read the first request head or TLS ClientHello.
    #[arg(long, default_value = "5s", value_parser = config::parse_duration)]
    pub classify_timeout: Duration,
    /// Close a connection after this long without any byte moving.
    #[arg(long, default_value = "1h", value_parser = config::parse_duration)]
    pub idle_timeout: Duration,
    /// Grace period for open connections after SIGTERM/SIGINT.
    #[arg(long, default_value = "5s", value_parser = config::parse_duration)]
    pub drain_timeout: Duration,
    /// Largest HTTP request/response head or TLS ClientHello, in bytes.
    #[arg(long, default_value_t = 64 * 1024)]
    pub max_header_bytes: usize,
    /// Let non-empty bodies on GET and HEAD requests through (default: reset them).
    #[arg(long)]
    pub allow_get_body: bool,
    /// Connections handled at once; more are reset (with an alert event). Lowered at
    /// startup to what the open-file limit allows (2 descriptors per connection, 6 with
    /// `--relay splice`, plus a reserve of 64).
    #[arg(long, default_value_t = 32768)]
    pub max_connections: usize,
    /// Inbound upstream connections keep the client's IP as source.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub preserve_client_ip: bool,
    /// Source ports of client-IP-preserving upstreams (outside the clients' range).
    #[arg(long, default_value = "61000-65535", value_parser = config::parse_port_range)]
    pub upstream_port_range: std::ops::RangeInclusive<u16>,
    /// EVE events written: all (http, tls and alerts), alerts, or none. np.log follows
    /// each rule's enableLogging regardless.
    #[arg(long, value_enum, default_value_t = crate::events::Level::All)]
    pub events: crate::events::Level,
    /// Most denied bytes carried in an alert's `packet` (longer ones are cut and marked
    /// `"payload_truncated": true`); 0 keeps only the synthesized headers.
    #[arg(long, default_value_t = crate::events::SinkOptions::DEFAULT_ALERT_PAYLOAD_BYTES, value_name = "N")]
    pub alert_payload_bytes: usize,
    /// Alert events written per second, in bursts of as many; the rest are counted in
    /// l7proxy_alerts_suppressed_total (denials are still enforced); 0: unlimited.
    #[arg(long, default_value_t = crate::events::SinkOptions::DEFAULT_ALERT_RATE, value_name = "N")]
    pub alert_rate: u32,
    /// Rotate the EVE file to `.1` before it grows past this size (e.g. 100MiB, 500M); 0: never.
    #[arg(long, default_value = "100MiB", value_name = "SIZE", value_parser = crate::events::rotate::parse_size)]
    pub eve_max_bytes: u64,
    /// Rotated EVE files kept per day (`.1` newest); 0 deletes a full file instead.
    #[arg(long, default_value_t = crate::events::Rotation::DEFAULT_KEEP, value_name = "N")]
    pub eve_keep: usize,
    /// Worker threads (0: one per CPU; 1: a single-threaded runtime).
    #[arg(long, default_value_t = 0)]
    pub workers: usize,
}

/// Startup errors of the proxy.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid policy manifests:\n{0}")]
    Policy(String),
    #[error("cannot listen on {addr}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
    /// The kernel refused IP_TRANSPARENT/SO_MARK: the one privilege the proxy needs is
    /// missing (it runs as an unprivileged user with only this capability).
    #[error(
        "l7proxy needs CAP_NET_RAW (kernel >= 5.17) or CAP_NET_ADMIN for IP_TRANSPARENT/SO_MARK on {addr}"
    )]
    Privilege {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot watch the manifests: {0}")]
    Watch(#[from] notify::Error),
    #[error("event log: {0}")]
    Events(#[from] crate::events::Error),
}

impl Error {
    /// A listener that could not be set up; a permission error names the capability.
    fn listen(addr: SocketAddr, source: std::io::Error) -> Error {
        if source.kind() == std::io::ErrorKind::PermissionDenied {
            Error::Privilege { addr, source }
        } else {
            Error::Listen { addr, source }
        }
    }
}

/// Loads and compiles the manifests for the protected Pod.
use reload::Manifests as Loader;

/// `l7proxy run`: serve until SIGTERM/SIGINT, then drain.
pub fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    // One worker: a current-thread runtime, without work-stealing overhead (the proxy is
    // then pinned to one core and scales by running alongside, not across, cores).
    let mut rt = if args.workers == 1 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        tokio::runtime::Builder::new_multi_thread()
    };
    if args.workers > 1 {
        rt.worker_threads(args.workers);
    }
    let rt = rt.enable_all().build().context("starting the runtime")?;
    let code = rt.block_on(serve(args))?;
    rt.shutdown_timeout(Duration::from_millis(200));
    Ok(code)
}

async fn serve(args: RunArgs) -> anyhow::Result<ExitCode> {
    let pod = crate::kube::pod_from_env(args.pod.as_deref())?;
    let metrics = Arc::new(Metrics::default());
    let loader = Loader::new(
        args.manifests.clone(),
        config::parse_pod(&pod).map_err(anyhow::Error::msg)?,
        0,
    )
    .with_metrics(metrics.clone());
    let ready = Arc::new(AtomicBool::new(false));
    for (addr, l) in admin::bind(args.metrics_addr, args.mark)? {
        let l =
            tokio::net::TcpListener::from_std(l).map_err(|source| Error::listen(addr, source))?;
        let (metrics, ready) = (metrics.clone(), ready.clone());
        tokio::spawn(async move {
            if let Err(e) = crate::events::serve_listener(l, metrics, ready).await {
                tracing::error!(error = %e, addr = %addr, "metrics endpoint failed");
            }
        });
    }
    // The cluster source hands over its first snapshot after the first full sync.
    let (snapshot, cluster) = if args.kubernetes {
        let (source, mut snapshots) = crate::kube::Source::spawn(
            crate::kube::client().await?,
            loader.pod.clone(),
            metrics.clone(),
        );
        tokio::select! {
            first = snapshots.recv() => {
                (first.ok_or(crate::kube::Error::Stopped)?, Some((source, snapshots)))
            }
            r = wait_for_signal() => return r.map(|()| ExitCode::SUCCESS),
        }
    } else {
        (loader.load()?, None)
    };
    tracing::info!(
        pod = %pod,
        generation = snapshot.generation(),
        relay = ?args.relay,
        classify_timeout = ?args.classify_timeout,
        idle_timeout = ?args.idle_timeout,
        max_connections = args.max_connections,
        max_header_bytes = args.max_header_bytes,
        preserve_client_ip = args.preserve_client_ip,
        "policy loaded; starting"
    );
    metrics.snapshot_loaded(snapshot.generation());
    let sink = EventSink::start_with(
        crate::events::SinkOptions {
            applied_to: Some(pod.clone()),
            alert_payload_bytes: args.alert_payload_bytes,
            alert_rate: args.alert_rate,
            rotation: crate::events::Rotation {
                max_bytes: args.eve_max_bytes,
                keep: args.eve_keep,
            },
            ..crate::events::SinkOptions::new(&args.log_dir)
        },
        metrics.clone(),
    )
    .map_err(Error::from)?;

    let opts = crate::socket::SocketOpts {
        mark: args.mark,
        transparent: true,
    };
    let mut listeners = Vec::new();
    for (port, direction) in [
        (args.inbound_port, Direction::Ingress),
        (args.outbound_port, Direction::Egress),
    ] {
        for ip in [
            IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(Ipv6Addr::LOCALHOST),
        ] {
            let addr = SocketAddr::new(ip, port);
            match crate::socket::bind_listener(addr, opts, 4096) {
                Ok(l) => listeners.push((addr, direction, l)),
                Err(e) if ip.is_ipv6() && e.kind() == std::io::ErrorKind::AddrNotAvailable => {
                    tracing::warn!(listen.addr = %addr, "IPv6 loopback unavailable; IPv4 only");
                }
                Err(source) => return Err(Error::listen(addr, source).into()),
            }
        }
    }
    // After the listeners and logs are open, so the descriptors they hold are counted.
    let max_connections = fds::fit_max_connections(args.max_connections, args.relay);
    let config = Config {
        mark: args.mark,
        transparent: true,
        preserve_client_ip: args.preserve_client_ip,
        upstream_ports: args.upstream_port_range.clone(),
        classify_timeout: args.classify_timeout,
        idle_timeout: args.idle_timeout,
        max_head_bytes: args.max_header_bytes,
        max_connections,
        relay: args.relay,
        events: args.events,
        allow_get_body: args.allow_get_body,
        listeners: listeners.iter().map(|(a, _, _)| *a).collect(),
        ..Config::default()
    };
    let flush_sink = sink.clone();
    let (drain, watch) = drain::Drain::new();
    // With the cluster source, egress to a Service VIP goes to an endpoint it lists.
    let services = cluster
        .as_ref()
        .map(|(source, _)| source.services.clone() as Arc<dyn service::Resolve>);
    let shared = Arc::new(
        state::Shared::new(
            snapshot,
            Arc::new(sink),
            metrics.clone(),
            config,
            watch.clone(),
        )
        .with_services(services),
    );
    let _reloader = match cluster {
        Some((source, snapshots)) => reload::Reloader::Cluster {
            _source: source,
            _task: reload::follow(snapshots, shared.clone()),
        },
        None => reload::watch(&args.manifests, shared.clone(), move || {
            loader.load().map_err(|e| e.to_string())
        })
        .map_err(Error::from)?,
    };

    let orig: Arc<dyn listener::OrigDst> = Arc::new(listener::LocalAddr);
    let mut loops = Vec::new();
    for (addr, direction, l) in listeners {
        let l =
            tokio::net::TcpListener::from_std(l).map_err(|source| Error::listen(addr, source))?;
        tracing::info!(listen.addr = %addr, ?direction, "listening");
        loops.push(tokio::spawn(listener::accept_loop(
            l,
            direction,
            shared.clone(),
            orig.clone(),
            watch.clone(),
        )));
    }
    ready.store(true, Ordering::Release);

    wait_for_signal().await?;
    tracing::info!(grace = ?args.drain_timeout, "draining");
    drain.start();
    for l in loops {
        let _ = l.await;
    }
    let left = drain::wait_idle(|| shared.active(), args.drain_timeout).await;
    if left > 0 {
        tracing::warn!(
            connections = left,
            "grace period over; closing remaining connections"
        );
    }
    // Events of the last connections must reach the log before the process exits.
    let flushed = tokio::task::spawn_blocking(move || flush_sink.flush(Duration::from_secs(2)))
        .await
        .unwrap_or(false);
    if !flushed {
        tracing::warn!("event log not fully flushed at exit");
    }
    Ok(ExitCode::SUCCESS)
}

async fn wait_for_signal() -> anyhow::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).context("installing SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).context("installing SIGINT handler")?;
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    Ok(())
}
