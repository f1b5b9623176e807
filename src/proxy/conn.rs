//! One accepted connection, from the L3/L4 decision to the end of the relay.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::classify::ClientHello;
use crate::events::AppProto;
use crate::policy::{DenyAction, Direction, Flow, L4Verdict, L7Id, Protocol, RuleRef, TlsMeta};
use crate::proxy::buf::ReadBuf;
use crate::proxy::gate::PolicyGate;
use crate::proxy::http::{self, Decision, Gate, Outcome};
use crate::proxy::inspect::{self, Classified};
use crate::proxy::relay::{self, Activity};
use crate::proxy::report::Reporter;
use crate::proxy::service::Target;
use crate::proxy::state::{Admitted, Policy, Shared};
use crate::proxy::upstream;
use crate::proxy::wire::RequestHead;
use crate::socket;

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
        Target::Endpoint { vip, endpoint } => {
            tracing::debug!(
                flow.id = rep.flow.flow_id,
                service.vip = %vip,
                dst.addr = %endpoint,
                "service endpoint picked"
            );
            serve(&shared, &rep, client).await;
        }
        Target::Direct(_) => serve(&shared, &rep, client).await,
    }
    shared.metrics.conn_closed(direction);
    drop(admitted);
}

async fn serve<P: Policy>(shared: &Arc<Shared<P>>, rep: &Reporter<'_, P>, mut client: TcpStream) {
    let FlowSides {
        src,
        dst,
        direction,
    } = FlowSides::of(rep);
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
            shared.metrics.verdict(rule.as_ref(), "allow", "none");
            if let Some(rule) = &rule {
                rep.audit(rule, "Allow", 0);
            }
            let Some(mut up) = connect(shared, rep, AppProto::Failed).await else {
                return reset(client);
            };
            relay_opaque(shared, rep, &mut client, &mut up).await;
        }
        L4Verdict::Deny { rule, action } => {
            let (disposition, reason) = match action {
                DenyAction::Drop => ("Drop", "drop rule"),
                DenyAction::Reject => ("Reject", "reject rule"),
            };
            // The kernel completed the handshake before we saw the connection: resetting
            // at once races the client's own connect() and looks like "connection
            // refused". Give a client that speaks first a moment to send, so it sees
            // the reset on its request and the alert carries the denied bytes.
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
        L4Verdict::Inspect { rule, l7 } => {
            // As Antrea logs L7 rules: one "Redirect" line per connection handed to the
            // application-level check; its outcome is in the EVE log.
            rep.audit(&rule, "Redirect", 0);
            // Boxed: the L7 path is the largest state machine; L4-allowed connections
            // should not pay for it in every task.
            Box::pin(inspect(shared, rep, client, flow, snapshot, rule, l7)).await;
        }
    }
}

struct FlowSides {
    src: SocketAddr,
    dst: SocketAddr,
    direction: Direction,
}

impl FlowSides {
    fn of<P>(rep: &Reporter<'_, P>) -> FlowSides {
        FlowSides {
            src: rep.flow.src,
            dst: rep.flow.dst,
            direction: rep.flow.direction,
        }
    }
}

/// An L7 rule matched at L3/L4: classify, then enforce per protocol.
async fn inspect<P: Policy>(
    shared: &Arc<Shared<P>>,
    rep: &Reporter<'_, P>,
    mut client: TcpStream,
    flow: Flow,
    snapshot: Arc<P>,
    rule: RuleRef,
    l7: L7Id,
) {
    let cfg = &shared.config;
    let started = Instant::now();
    let mut buf = ReadBuf::new();
    let classified = inspect::classify(
        &mut client,
        &mut buf,
        started + cfg.classify_timeout,
        cfg.max_head_bytes,
    )
    .await;
    let wants = snapshot.l7_wants(l7);
    match classified {
        Err(inspect::Unclassified::Closed | inspect::Unclassified::Io(_)) if buf.is_empty() => {
            // Connected and went away without a byte (health checks, load generators
            // closing idle connections): nothing was denied, so no alert.
            tracing::debug!(flow.id = rep.flow.flow_id, "closed before sending");
        }
        Err(e) => {
            shared.metrics.classified(e.outcome(), started.elapsed());
            rep.deny(
                Some(&client),
                Some(&rule),
                AppProto::Failed,
                e.to_string(),
                buf.filled(),
            );
            reset(client);
        }
        Ok(Classified::Tls(hello)) => {
            shared.metrics.classified("tls", started.elapsed());
            let verdict = if wants.tls {
                let sni = hello.normalized_sni();
                snapshot.check_tls(
                    l7,
                    &TlsMeta {
                        sni: sni.as_deref(),
                    },
                )
            } else {
                crate::policy::L7Verdict {
                    allowed: false,
                    detail: "tls not allowed by the rule".into(),
                }
            };
            if !verdict.allowed {
                rep.deny(
                    Some(&client),
                    Some(&rule),
                    AppProto::Tls,
                    verdict.detail,
                    buf.filled(),
                );
                return reset(client);
            }
            Box::pin(allow_tls(shared, rep, client, buf, &rule, &hello)).await;
        }
        Ok(Classified::Http(head)) => {
            shared.metrics.classified("http", started.elapsed());
            let mut gate = PolicyGate {
                shared: shared.clone(),
                flow,
                snapshot,
                l7: Some((rule.clone(), l7)),
            };
            let d = if wants.http {
                gate.check(&head)
            } else {
                Decision {
                    allowed: false,
                    rule: Some(rule.clone()),
                    detail: "http not allowed by the rule".into(),
                }
            };
            if !d.allowed {
                rep.deny(
                    Some(&client),
                    d.rule.as_ref(),
                    AppProto::Http,
                    d.detail,
                    &buf.filled()[..head.head_len],
                );
                return reset(client);
            }
            Box::pin(allow_http(shared, rep, client, buf, head, d.rule, gate)).await;
        }
    }
}

async fn allow_tls<P: Policy>(
    shared: &Arc<Shared<P>>,
    rep: &Reporter<'_, P>,
    mut client: TcpStream,
    buf: ReadBuf,
    rule: &RuleRef,
    hello: &ClientHello,
) {
    let Some(mut up) = connect(shared, rep, AppProto::Tls).await else {
        return reset(client);
    };
    rep.tls(Some(rule), hello);
    if up.write_all(buf.filled()).await.is_err() {
        return reset_both(client, up);
    }
    drop(buf);
    relay_opaque(shared, rep, &mut client, &mut up).await;
}

#[allow(clippy::too_many_arguments)]
async fn allow_http<P: Policy>(
    shared: &Arc<Shared<P>>,
    rep: &Reporter<'_, P>,
    mut client: TcpStream,
    buf: ReadBuf,
    head: RequestHead,
    rule: Option<RuleRef>,
    mut gate: PolicyGate<P>,
) {
    let Some(mut up) = connect(shared, rep, AppProto::Http).await else {
        return reset(client);
    };
    let activity = Activity::new();
    let mut drain = shared.drain.clone();
    let report = |x| rep.http(x);
    let served = http::serve(
        &mut client,
        &mut up,
        buf,
        head,
        rule,
        &mut gate,
        http::Watch {
            limits: http::Limits {
                max_head: shared.config.max_head_bytes,
                head_timeout: shared.config.classify_timeout,
            },
            drain: Some(&mut drain),
        },
        &activity,
        &report,
    );
    let outcome = tokio::select! {
        o = served => o,
        () = activity.idle(shared.config.idle_timeout) => Outcome::Failed("idle timeout".into()),
    };
    match outcome {
        Outcome::Closed => {}
        Outcome::Upgraded {
            client_buf,
            upstream_buf,
        } => {
            if up.write_all(client_buf.filled()).await.is_err()
                || client.write_all(upstream_buf.filled()).await.is_err()
            {
                return reset_both(client, up);
            }
            Box::pin(relay_opaque(shared, rep, &mut client, &mut up)).await;
        }
        Outcome::Denied(d) => {
            rep.deny(
                Some(&client),
                d.rule.as_ref(),
                AppProto::Http,
                d.reason,
                &d.bytes,
            );
            reset_both(client, up);
        }
        Outcome::Failed(why) => {
            rep.abort(Some(&client), AppProto::Http, why);
            reset_both(client, up);
        }
    }
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

async fn relay_opaque<P: Policy>(
    shared: &Arc<Shared<P>>,
    rep: &Reporter<'_, P>,
    client: &mut TcpStream,
    up: &mut TcpStream,
) {
    let cfg = &shared.config;
    match relay::relay(client, up, cfg.relay, cfg.idle_timeout).await {
        Ok(stats) => {
            shared
                .metrics
                .bytes_relayed(rep.flow.direction, stats.to_server, stats.to_client);
            if stats.idle_timeout {
                tracing::debug!(flow.id = rep.flow.flow_id, "idle timeout");
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

fn reset_both(client: TcpStream, upstream: TcpStream) {
    reset(upstream);
    reset(client);
}
