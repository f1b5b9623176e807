//! `l7proxy run`: the process around the data path.
//!
//! In order: the shutdown signals, the admin endpoint (so probes answer "not ready" at
//! once), the policy source and its first snapshot, the event sink, the TPROXY listeners,
//! then [`crate::proxy`] serves until a signal, drains and flushes the events. `anyhow`
//! is spoken here and in [`crate::cli`] only.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;

use crate::args::{CaptureArgs, PodRef};
use crate::events::{EventSink, Metrics};
use crate::manifests::{self, Manifests};
use crate::policy::{Direction, Snapshot, Update};
use crate::proxy::reload;
use crate::proxy::{Config, drain, fds, listener, service, state};
use crate::signal::Shutdown;
use crate::socket::SocketFactory;

pub mod admin;
mod error;
mod run_args;

pub use error::Error;

pub use run_args::RunArgs;

/// Pending connections per TPROXY listener.
const BACKLOG: i32 = 4096;

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

/// How long forced connections get to end once the grace period is over (they end at
/// their next poll; this only bounds a stuck task).
const FORCED_WAIT: Duration = Duration::from_millis(500);

/// Updates a policy source sends while the follower is busy with the last one.
const UPDATES: usize = 1;

/// The running policy source; dropping it stops it.
enum Source {
    /// The manifest paths, through inotify.
    Files { _watching: manifests::Watching },
    /// The Kubernetes API (`run --kubernetes`).
    Cluster { _watchers: crate::kube::Source },
}

/// The cluster source with the updates it sends, the first one taken.
type Cluster = (crate::kube::Source, tokio::sync::mpsc::Receiver<Update>);

async fn serve(args: RunArgs) -> anyhow::Result<ExitCode> {
    let mut shutdown = Shutdown::install()?;
    let pod = PodRef::or_from_env(args.pod.clone())?;
    let sockets = SocketFactory::proxy(args.capture.mark);
    let metrics = Arc::new(Metrics::default());
    let loader = Manifests::new(
        args.manifests.clone(),
        (pod.namespace.clone(), pod.name.clone()),
        0,
    )
    .with_metrics(metrics.clone());
    let (mut drain, watcher) = drain::Drain::new();
    let ready = admin::serve(
        args.metrics_addr,
        sockets,
        metrics.clone(),
        watcher.signal(),
    )?;
    // The cluster source hands over its first snapshot after the first full sync.
    let (snapshot, cluster) = if args.kubernetes {
        let (source, mut updates) = crate::kube::Source::spawn(
            crate::kube::client().await?,
            loader.pod.clone(),
            metrics.clone(),
        );
        tokio::select! {
            first = first_snapshot(&mut updates, &metrics) => {
                (first.ok_or(crate::kube::Error::Stopped)?, Some((source, updates)))
            }
            _ = shutdown.requested() => return Ok(ExitCode::SUCCESS),
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
    let sink = start_sink(&args, &pod, metrics.clone())?;
    let listeners = bind_listeners(&args.capture, sockets)?;
    // After the listeners and logs are open, so the descriptors they hold are counted.
    let config = Config {
        listeners: listeners.iter().map(|(a, _, _)| *a).collect(),
        ..proxy_config(&args, sockets)
    };
    let flush_sink = sink.clone();
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
            watcher.signal(),
        )
        .with_services(services),
    );
    let _source = follow_source(&args, cluster, loader, shared.clone())?;

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
            watcher.clone(),
        )));
    }
    // Only the accept loops and their connections hold the drain up.
    drop(watcher);
    ready.set();

    shutdown.requested().await;
    tracing::info!(grace = ?args.drain_timeout, "draining");
    drain.start();
    if !drain.finished(args.drain_timeout).await {
        tracing::warn!(
            connections = shared.active(),
            "grace period over; closing remaining connections"
        );
        drain.force();
        let _ = drain.finished(FORCED_WAIT).await;
    }
    // Each loop returns once its connections ended or were cut by the force.
    for l in loops {
        let _ = l.await;
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

/// The EVE log, np.log and their writer thread.
fn start_sink(args: &RunArgs, pod: &PodRef, metrics: Arc<Metrics>) -> Result<EventSink, Error> {
    let sink = EventSink::start_with(
        crate::events::SinkOptions {
            applied_to: Some(pod.to_string()),
            alert_payload_bytes: args.alert_payload_bytes,
            alert_rate: args.alert_rate,
            rotation: crate::events::Rotation {
                max_bytes: args.eve_max_bytes,
                keep: args.eve_keep,
            },
            ..crate::events::SinkOptions::new(&args.log_dir)
        },
        metrics,
    )?;
    Ok(sink)
}

/// The inbound and outbound TPROXY listeners on both loopbacks; IPv6 is skipped when the
/// namespace has no `::1`.
fn bind_listeners(
    capture: &CaptureArgs,
    sockets: SocketFactory,
) -> Result<Vec<(SocketAddr, Direction, std::net::TcpListener)>, Error> {
    let mut listeners = Vec::new();
    for (port, direction) in [
        (capture.inbound_port, Direction::Ingress),
        (capture.outbound_port, Direction::Egress),
    ] {
        for ip in [
            IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(Ipv6Addr::LOCALHOST),
        ] {
            let addr = SocketAddr::new(ip, port);
            match sockets.listener(addr, BACKLOG) {
                Ok(l) => listeners.push((addr, direction, l)),
                Err(e) if ip.is_ipv6() && e.kind() == std::io::ErrorKind::AddrNotAvailable => {
                    tracing::warn!(listen.addr = %addr, "IPv6 loopback unavailable; IPv4 only");
                }
                Err(source) => return Err(Error::listen(addr, source)),
            }
        }
    }
    Ok(listeners)
}

/// The data path's settings from the command line (without its listeners).
fn proxy_config(args: &RunArgs, sockets: SocketFactory) -> Config {
    Config {
        sockets,
        preserve_client_ip: args.preserve_client_ip,
        upstream_ports: args.upstream_port_range.clone(),
        classify_timeout: args.classify_timeout,
        idle_timeout: args.idle_timeout,
        max_head_bytes: args.max_header_bytes,
        max_connections: fds::fit_max_connections(args.max_connections, args.relay),
        relay: args.relay,
        events: args.events,
        allow_get_body: args.allow_get_body,
        http2_deny: args.http2_deny,
        http2_max_streams: args.http2_max_concurrent_streams,
        ..Config::default()
    }
}

/// The first snapshot a source sends; the failures before it are counted and logged as
/// later ones are. `None` when the source stopped.
async fn first_snapshot(
    updates: &mut tokio::sync::mpsc::Receiver<Update>,
    metrics: &Metrics,
) -> Option<Snapshot> {
    loop {
        if let Some(s) = reload::settle(metrics, updates.recv().await?) {
            return Some(s);
        }
    }
}

/// Keeps the data path's policy current: the one follower puts in force what the chosen
/// source sends, the cluster source's snapshots or the manifest paths watched and
/// reloaded.
fn follow_source(
    args: &RunArgs,
    cluster: Option<Cluster>,
    loader: Manifests,
    shared: Arc<state::Shared<Snapshot>>,
) -> Result<Source, Error> {
    let (source, updates) = match cluster {
        Some((source, updates)) => (Source::Cluster { _watchers: source }, updates),
        None => {
            let (tx, rx) = tokio::sync::mpsc::channel(UPDATES);
            let files = manifests::watch(&args.manifests, tx, move || {
                loader.load().map_err(|e| e.to_string())
            })?;
            (Source::Files { _watching: files }, rx)
        }
    };
    // Ends with the source: its sender goes with it.
    reload::follow(updates, shared);
    Ok(source)
}
