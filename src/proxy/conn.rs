//! One accepted connection, from the L3/L4 decision to the end of the relay.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpStream;

use crate::events::metrics::{ProtoLabel, Verdict};
use crate::events::{AppProto, FlowInfo};
use crate::policy::{DenyAction, Direction, Flow, L4Verdict, Protocol, RuleRef};
use crate::proxy::buf::ReadBuf;
use crate::proxy::relay;
use crate::proxy::report::Reporter;
use crate::proxy::service::Target;
use crate::proxy::state::{Admitted, Policy, Shared};
use crate::proxy::upstream;
use crate::socket;
use l7::{Allowed, allow_http, allow_tls, inspect};

mod l7;

/// How long an L4-denied connection waits for the client's first bytes before the reset.
const DENY_WAIT: std::time::Duration = std::time::Duration::from_millis(100);

/// Handle one connection to completion. Never panics on input; every early end is a
/// reset plus an event.
pub async fn handle<P: Policy>(
    shared: Arc<Shared<P>>,
    client: TcpStream,
    direction: Direction,
    src: SocketAddr,
    dst: SocketAddr,
    admitted: Admitted<P>,
) {
    shared.metrics.conn_opened(direction);
    // Resolved before anything is reported, so every decision, event and the upstream
    // connect name the same (endpoint) address. Ingress arrives already load balanced.
    let target = match &shared.services {
        Some(services) if direction == Direction::Egress => services.target(dst),
        _ => Target::Direct(dst),
    };
    let mut rep = Reporter::new(&shared, shared.flow_id(), src, target.dst(), direction);
    rep.service = target.vip();
    match target {
        Target::NoEndpoints { vip } => {
            // No wait for the client's first bytes as on a policy denial: a refused
            // connection is exactly what kube-proxy's reject looks like.
            rep.deny(
                Some(&client),
                None,
                AppProto::Failed,
                format!("service {vip} has no ready endpoints"),
                &[],
            );
            reset(client);
        }
        Target::Endpoint { .. } | Target::Direct(_) => {
            if let Some(vip) = rep.service {
                tracing::debug!(
                    flow.id = rep.flow.flow_id,
                    service.vip = %vip,
                    dst.addr = %rep.flow.dst,
                    "service endpoint picked"
                );
            }
            serve(&shared, &rep, client).await;
        }
    }
    shared.metrics.conn_closed(direction);
    drop(admitted);
}

async fn serve<P: Policy>(shared: &Arc<Shared<P>>, rep: &Reporter<'_, P>, client: TcpStream) {
    let FlowInfo {
        src,
        dst,
        direction,
        ..
    } = rep.flow;
    if shared.config.is_own_listener(dst) {
        rep.deny(
            Some(&client),
            None,
            AppProto::Failed,
            "destination is the proxy itself".into(),
            &[],
        );
        return reset(client);
    }
    let flow = Flow {
        direction,
        src,
        dst,
        protocol: Protocol::Tcp,
    };
    let snapshot = shared.policy.load_full();
    match snapshot.decide(&flow) {
        L4Verdict::Allow(rule) => {
            shared
                .metrics
                .verdict(rule.as_deref(), Verdict::Allow, ProtoLabel::None);
            if let Some(rule) = &rule {
                rep.audit(rule, "Allow", 0);
            }
            // Boxed, as every arm that awaits: a task's future is as large as its largest
            // state, and a long-lived HTTP connection should not carry the space of the
            // L4 relay or the deny wait.
            Box::pin(allow_l4(shared, rep, client)).await;
        }
        L4Verdict::Deny { rule, action } => Box::pin(deny_l4(rep, client, rule, action)).await,
        L4Verdict::Inspect { rule, l7 } => {
            // Classification and its decision run in their own boxed future, dropped
            // before the allowed connection is served: a keep-alive connection lives for
            // hours and should carry only the state of the phase it is in.
            let next = Box::pin(inspect(shared, rep, client, flow, snapshot, rule, l7)).await;
            match next {
                Some(Allowed::Tls {
                    client,
                    buf,
                    rule,
                    hello,
                    consumed,
                    snapshot,
                    l7,
                }) => {
                    let first = crate::proxy::tls::FirstHello {
                        hello: &hello,
                        consumed,
                        rule: &rule,
                        snapshot: &*snapshot,
                        l7,
                    };
                    Box::pin(allow_tls(shared, rep, client, buf, first)).await
                }
                Some(Allowed::Http {
                    client,
                    buf,
                    head,
                    rule,
                    gate,
                }) => Box::pin(allow_http(shared, rep, client, buf, head, rule, gate)).await,
                None => {}
            }
        }
    }
}

async fn allow_l4<P: Policy>(
    shared: &Arc<Shared<P>>,
    rep: &Reporter<'_, P>,
    mut client: TcpStream,
) {
    let Some(mut up) = connect(shared, rep, AppProto::Failed).await else {
        return reset(client);
    };
    relay_opaque(shared, rep, &mut client, &mut up, relay::Opaque).await;
}

async fn deny_l4<P: Policy>(
    rep: &Reporter<'_, P>,
    mut client: TcpStream,
    rule: Arc<RuleRef>,
    action: DenyAction,
) {
    let (disposition, reason) = match action {
        DenyAction::Drop => ("Drop", "drop rule"),
        DenyAction::Reject => ("Reject", "reject rule"),
    };
    // The kernel completed the handshake before we saw the connection: resetting at once
    // races the client's own connect() and looks like "connection refused". Give a
    // client that speaks first a moment to send, so it sees the reset on its request and
    // the alert carries the denied bytes.
    let mut buf = ReadBuf::new();
    let _ = tokio::time::timeout(DENY_WAIT, buf.fill(&mut client, 4096)).await;
    rep.audit(&rule, disposition, buf.len());
    rep.deny(
        Some(&client),
        Some(&rule),
        AppProto::Failed,
        reason.into(),
        buf.filled(),
    );
    reset(client);
}

async fn connect<P: Policy>(
    shared: &Arc<Shared<P>>,
    rep: &Reporter<'_, P>,
    app_proto: AppProto,
) -> Option<TcpStream> {
    let f = &rep.flow;
    let source =
        (f.direction == Direction::Ingress && shared.config.preserve_client_ip).then(|| f.src.ip());
    match upstream::connect(shared, f.dst, source, f.src.port()).await {
        Ok(up) => Some(up),
        Err(e) => {
            rep.abort(None, app_proto, format!("upstream connect failed: {e}"));
            None
        }
    }
}

/// Relay opaque bytes to the end, the client's passing `check`, and count them. A refusal
/// is left to the caller to report (its check knows what it refused).
pub(crate) async fn relay_opaque<P: Policy, C: relay::Check>(
    shared: &Arc<Shared<P>>,
    rep: &Reporter<'_, P>,
    client: &mut TcpStream,
    up: &mut TcpStream,
    check: C,
) {
    let cfg = &shared.config;
    match relay::relay(client, up, cfg.relay, cfg.idle_timeout, check).await {
        Ok(stats) => {
            shared
                .metrics
                .bytes_relayed(rep.flow.direction, stats.to_server, stats.to_client);
            if stats.idle_timeout {
                tracing::debug!(flow.id = rep.flow.flow_id, "idle timeout");
            }
            if stats.reset {
                // Byte counts are what each side received: the reset went out after the
                // other side's send queue drained, or after `lost` bytes were given up.
                tracing::debug!(
                    flow.id = rep.flow.flow_id,
                    bytes.to_client = stats.to_client,
                    bytes.to_server = stats.to_server,
                    bytes.lost = stats.lost,
                    "reset by a peer; passed on after delivery"
                );
            }
        }
        Err(e) => tracing::debug!(flow.id = rep.flow.flow_id, error = %e, "relay ended with error"),
    }
}

/// End the connection with a TCP RST.
pub fn reset(stream: TcpStream) {
    if let Err(e) = socket::set_reset_on_close(&stream) {
        tracing::debug!(error = %e, "SO_LINGER failed; closing normally");
    }
    drop(stream);
}

pub(crate) fn reset_both(client: TcpStream, upstream: TcpStream) {
    reset(upstream);
    reset(client);
}
