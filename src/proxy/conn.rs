//! One accepted connection, from the L3/L4 decision to its end. Every step returns what
//! cut the connection short ([`Denied`]); it is reported and enforced here, once.

use std::sync::Arc;

use crate::events::metrics::{ProtoLabel, Verdict};
use crate::policy::{DenyAction, Direction, Flow, L4Verdict, Protocol, RuleRef};
use crate::proxy::accepted::Accepted;
use crate::proxy::buf::ReadBuf;
use crate::proxy::drain::Watcher;
use crate::proxy::outcome::Denied;
use crate::proxy::relay;
use crate::proxy::report::Reporter;
use crate::proxy::reset::{reset, reset_both};
use crate::proxy::service::Target;
use crate::proxy::session::Session;
use crate::proxy::state::{Admitted, Policy, Shared};
use futures::future::Either;
use l7::{Allowed, inspect};

mod l7;
mod serve;

/// How long an L4-denied connection waits for the client's first bytes before the reset.
const DENY_WAIT: std::time::Duration = std::time::Duration::from_millis(100);

/// Handle one connection to completion. Never panics on input; every early end is a
/// reset plus an event. `drain` is held until the connection ends: the drain waits for it.
pub async fn handle<P: Policy>(
    shared: Arc<Shared<P>>,
    accepted: Accepted,
    admitted: Admitted<P>,
    drain: Watcher,
) {
    let Accepted {
        client,
        direction,
        src,
        dst,
    } = accepted;
    shared.metrics.conn_opened(direction);
    // Resolved before anything is reported, so every decision, event and the upstream
    // connect name the same (endpoint) address. Ingress arrives already load balanced.
    let target = match &shared.services {
        Some(services) if direction == Direction::Egress => services.target(dst.0),
        _ => Target::Direct(dst.0),
    };
    let mut rep = Reporter::new(&shared, shared.flow_id(), src, target.dst(), direction);
    rep.service = target.vip();
    let mut session = Session {
        shared: &shared,
        rep,
        upstream: None,
        client,
    };
    // The outcome is a temporary of this statement, not a local: a local would keep its
    // space in the connection's state for the connection's whole life.
    let ending = match target {
        // No wait for the client's first bytes as on a policy denial: a refused
        // connection is exactly what kube-proxy's reject looks like.
        Target::NoEndpoints { vip } => Err(Denied::NoEndpoints { vip }),
        Target::Endpoint { .. } | Target::Direct(_) => {
            if let Some(vip) = session.rep.service {
                tracing::debug!(
                    flow.id = session.rep.flow.flow_id,
                    service.vip = %vip,
                    dst.addr = %session.rep.flow.dst,
                    "service endpoint picked"
                );
            }
            decide(&mut session).await
        }
    }
    .err()
    // Boxed: the task of every connection holds its largest state for its whole life,
    // and only a connection cut short needs this one.
    .map(|why| Box::pin(end(session, why)));
    if let Some(ending) = ending {
        ending.await;
    }
    shared.metrics.conn_closed(direction);
    drop(admitted);
    drop(drain);
}

/// Refuse a connection before it is handled (the connection limit), reported and reset
/// as any other.
pub async fn refuse<P: Policy>(shared: &Arc<Shared<P>>, accepted: Accepted, why: Denied) {
    let rep = Reporter::new(
        shared,
        shared.flow_id(),
        accepted.src,
        accepted.dst.0,
        accepted.direction,
    );
    let session = Session {
        shared,
        rep,
        upstream: None,
        client: accepted.client,
    };
    end(session, why).await;
}

/// The one place a connection cut short is reported and reset. (A served connection
/// closes as its relay left it.)
async fn end<P: Policy>(session: Session<'_, P>, why: Denied) {
    session.rep.cut(&session.client, &why);
    let Session {
        shared,
        rep,
        upstream,
        client,
    } = session;
    match upstream {
        Some(up) if why.drains() => {
            // What was already written to the client (part of a response) reaches it
            // before the reset does. Boxed: only a failed connection pays for the wait.
            let idle = shared.config.idle_timeout;
            let unsent = Box::pin(relay::drain_then_reset(client, up, idle)).await;
            if unsent != relay::Unsent::default() {
                tracing::debug!(
                    flow.id = rep.flow.flow_id,
                    bytes.to_client = unsent.to_client,
                    bytes.to_server = unsent.to_server,
                    "undelivered bytes dropped by the reset"
                );
            }
        }
        Some(up) => reset_both(client, up),
        None => reset(client),
    }
}

/// The L3/L4 decision, then what it calls for.
async fn decide<P: Policy>(s: &mut Session<'_, P>) -> Result<(), Denied> {
    let shared = s.shared;
    let (src, dst, direction) = (s.rep.flow.src, s.rep.flow.dst, s.rep.flow.direction);
    if shared.config.is_own_listener(dst) {
        return Err(Denied::SelfCall);
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
                s.rep.audit(rule, "Allow", 0);
            }
            // Boxed, as every arm that awaits: a task's future is as large as its largest
            // state, and a long-lived HTTP connection should not carry the space of the
            // L4 relay or the deny wait.
            Box::pin(serve::l4(s)).await
        }
        L4Verdict::Deny { rule, action } => Box::pin(deny_l4(s, rule, action)).await,
        L4Verdict::Inspect { rule, l7 } => {
            // Classification and its decision run in their own boxed future, dropped
            // before the allowed connection is served: a keep-alive connection lives for
            // hours and should carry only the state of the phase it is in.
            // The serving future is built in a statement of its own: a `match` on the
            // awaited result would keep the (large) `Allowed` and its `?` temporaries in
            // this future's state for the connection's whole life.
            let serving = match Box::pin(inspect(s, flow, snapshot, rule, l7)).await? {
                Some(Allowed::Tls(tls)) => Either::Left(Box::pin(serve::tls(s, tls))),
                Some(Allowed::Http(http)) => {
                    Either::Right(Either::Left(Box::pin(serve::http(s, http))))
                }
                Some(Allowed::Http2(h2)) => {
                    Either::Right(Either::Right(Box::pin(serve::http2(s, h2))))
                }
                None => return Ok(()),
            };
            serving.await
        }
    }
}

async fn deny_l4<P>(
    s: &mut Session<'_, P>,
    rule: Arc<RuleRef>,
    action: DenyAction,
) -> Result<(), Denied> {
    // The kernel completed the handshake before we saw the connection: resetting at once
    // races the client's own connect() and looks like "connection refused". Give a
    // client that speaks first a moment to send, so it sees the reset on its request and
    // the alert carries the denied bytes.
    let mut buf = ReadBuf::new();
    let _ = tokio::time::timeout(DENY_WAIT, buf.fill(&mut s.client, 4096)).await;
    Err(Denied::L4 {
        rule,
        action,
        bytes: buf.filled().to_vec(),
    })
}
