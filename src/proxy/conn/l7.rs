//! The L7 path of a connection: classify the first bytes, decide the first request or
//! ClientHello, then serve what was allowed (TLS through [`crate::proxy::tls`]: a retried
//! hello decided again, the rest relayed with its record framing checked; HTTP request by
//! request).

use std::sync::Arc;

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::time::Instant;

use super::{connect, relay_opaque, reset, reset_both};
use crate::classify::ClientHello;
use crate::events::AppProto;
use crate::events::metrics::Classification;
use crate::policy::{Flow, L7Id, RuleRef, TlsMeta};
use crate::proxy::buf::ReadBuf;
use crate::proxy::gate::PolicyGate;
use crate::proxy::http::{self, Decision, Gate, Outcome};
use crate::proxy::inspect::{self, Classified};
use crate::proxy::relay::{self, Activity};
use crate::proxy::report::Reporter;
use crate::proxy::state::{Policy, Shared};
use crate::proxy::tls;
use crate::proxy::wire::RequestHead;

/// A connection whose first request or ClientHello was allowed, ready to be served.
// Returned once per connection and unpacked at once: boxing a variant would only add an
// allocation.
#[allow(clippy::large_enum_variant)]
pub(super) enum Allowed<P> {
    Tls {
        client: TcpStream,
        buf: ReadBuf,
        rule: Arc<RuleRef>,
        hello: ClientHello,
        /// Bytes of the hello at the front of `buf`.
        consumed: usize,
        /// What decided it, to decide a second hello (after a HelloRetryRequest) alike.
        snapshot: Arc<P>,
        l7: L7Id,
    },
    Http {
        client: TcpStream,
        buf: ReadBuf,
        head: RequestHead,
        rule: Option<Arc<RuleRef>>,
        gate: PolicyGate<P>,
    },
}

/// An L7 rule matched at L3/L4: classify and decide the first request or ClientHello.
/// Denials end here (reset plus alert); `None` also when the client left silently.
pub(super) async fn inspect<P: Policy>(
    shared: &Arc<Shared<P>>,
    rep: &Reporter<'_, P>,
    mut client: TcpStream,
    flow: Flow,
    snapshot: Arc<P>,
    rule: Arc<RuleRef>,
    l7: L7Id,
) -> Option<Allowed<P>> {
    let cfg = &shared.config;
    let started = Instant::now();
    let mut buf = ReadBuf::new();
    // Boxed: its timer and read are dead weight once the connection is classified.
    let classified = Box::pin(inspect::classify(
        &mut client,
        &mut buf,
        started + cfg.classify_timeout,
        cfg.max_head_bytes,
    ))
    .await;
    // As Antrea logs L7 rules: one "Redirect" line per connection handed to the
    // application-level check (its outcome is in the EVE log), with the length of the
    // client's first data, read only now.
    rep.audit(&rule, "Redirect", buf.len());
    let wants = snapshot.l7_wants(l7);
    match classified {
        Err(inspect::Unclassified::Closed | inspect::Unclassified::Io(_)) if buf.is_empty() => {
            // Connected and went away without a byte (health checks, load generators
            // closing idle connections): nothing was denied, so no alert.
            tracing::debug!(flow.id = rep.flow.flow_id, "closed before sending");
            None
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
            None
        }
        Ok(Classified::Tls { hello, consumed }) => {
            shared
                .metrics
                .classified(Classification::Tls, started.elapsed());
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
                rep.deny_tls(
                    Some(&client),
                    Some(&rule),
                    &hello,
                    verdict.detail,
                    buf.filled(),
                );
                reset(client);
                return None;
            }
            Some(Allowed::Tls {
                client,
                buf,
                rule,
                hello,
                consumed,
                snapshot,
                l7,
            })
        }
        Ok(Classified::Http(head)) => {
            shared
                .metrics
                .classified(Classification::Http, started.elapsed());
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
                reset(client);
                return None;
            }
            Some(Allowed::Http {
                client,
                buf,
                head,
                rule: d.rule,
                gate,
            })
        }
    }
}

pub(super) async fn allow_tls<P: Policy>(
    shared: &Arc<Shared<P>>,
    rep: &Reporter<'_, P>,
    client: TcpStream,
    buf: ReadBuf,
    first: tls::FirstHello<'_, P>,
) {
    let Some(up) = connect(shared, rep, AppProto::Tls).await else {
        return reset(client);
    };
    rep.tls(Some(first.rule), first.hello);
    tls::serve(shared, rep, client, up, buf, first).await;
}

#[allow(clippy::too_many_arguments)]
pub(super) async fn allow_http<P: Policy>(
    shared: &Arc<Shared<P>>,
    rep: &Reporter<'_, P>,
    mut client: TcpStream,
    buf: ReadBuf,
    head: RequestHead,
    rule: Option<Arc<RuleRef>>,
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
        Outcome::Closed { reset_upstream } => {
            if reset_upstream {
                reset(up);
            }
        }
        Outcome::Upgraded {
            client_buf,
            upstream_buf,
        } => {
            if up.write_all(client_buf.filled()).await.is_err()
                || client.write_all(upstream_buf.filled()).await.is_err()
            {
                return reset_both(client, up);
            }
            Box::pin(relay_opaque(
                shared,
                rep,
                &mut client,
                &mut up,
                relay::Opaque,
            ))
            .await;
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
            // An upstream reset after (part of) a response: what was already written to
            // the client reaches it before the reset does.
            let unsent = relay::drain_then_reset(client, up, shared.config.idle_timeout).await;
            if unsent != relay::Unsent::default() {
                tracing::debug!(
                    flow.id = rep.flow.flow_id,
                    bytes.to_client = unsent.to_client,
                    bytes.to_server = unsent.to_server,
                    "undelivered bytes dropped by the reset"
                );
            }
        }
    }
}
