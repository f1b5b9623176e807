//! The L7 decision of a connection: classify the first bytes, then decide the first
//! request or ClientHello. What was allowed is served by `conn/serve.rs`.

use std::sync::Arc;

use tokio::time::Instant;

use crate::classify::ClientHello;
use crate::classify::RequestHead;
use crate::events::metrics::Classification;
use crate::policy::{Flow, L7Id, L7Verdict, RuleRef, TlsMeta};
use crate::proxy::buf::ReadBuf;
use crate::proxy::first_bytes::{self, Classified};
use crate::proxy::gate::PolicyGate;
use crate::proxy::http::{Decision, Gate};
use crate::proxy::outcome::Denied;
use crate::proxy::session::Session;
use crate::proxy::state::Policy;

/// A connection whose first request or ClientHello was allowed, ready to be served.
// Returned once per connection and unpacked at once: boxing a variant would only add an
// allocation.
#[allow(clippy::large_enum_variant)]
pub(super) enum Allowed<P> {
    Tls(AllowedTls<P>),
    Http(AllowedHttp<P>),
    Http2(AllowedHttp2<P>),
}

/// An allowed first ClientHello.
pub(super) struct AllowedTls<P> {
    pub buf: ReadBuf,
    pub rule: Arc<RuleRef>,
    pub hello: ClientHello,
    /// Bytes of the hello at the front of `buf`.
    pub consumed: usize,
    /// What decided it, to decide a second hello (after a HelloRetryRequest) alike.
    pub snapshot: Arc<P>,
    pub l7: L7Id,
}

/// An allowed first HTTP request, at the front of `buf`.
pub(super) struct AllowedHttp<P> {
    pub buf: ReadBuf,
    pub head: RequestHead,
    pub rule: Option<Arc<RuleRef>>,
    /// Decides the connection's later requests.
    pub gate: PolicyGate<P>,
}

/// An HTTP/2 connection preface under a rule that inspects HTTP: its streams are decided
/// one by one once it is served.
pub(super) struct AllowedHttp2<P> {
    /// The preface at the front.
    pub buf: ReadBuf,
    pub gate: PolicyGate<P>,
}

/// An L7 rule matched at L3/L4: classify and decide the first request or ClientHello.
/// `None` when the client left without a byte.
pub(super) async fn inspect<P: Policy>(
    s: &mut Session<'_, P>,
    flow: Flow,
    snapshot: Arc<P>,
    rule: Arc<RuleRef>,
    l7: L7Id,
) -> Result<Option<Allowed<P>>, Denied> {
    let shared = s.shared;
    let cfg = &shared.config;
    let started = Instant::now();
    let mut buf = ReadBuf::new();
    // Boxed: its timer and read are dead weight once the connection is classified.
    let classified = Box::pin(first_bytes::classify(
        &mut s.client,
        &mut buf,
        started + cfg.classify_timeout,
        cfg.max_head_bytes,
    ))
    .await;
    // As Antrea logs L7 rules: one "Redirect" line per connection handed to the
    // application-level check (its outcome is in the EVE log), with the length of the
    // client's first data, read only now.
    s.rep.audit(&rule, "Redirect", buf.len());
    let wants = snapshot.l7_wants(l7);
    match classified {
        Err(first_bytes::Unclassified::Closed | first_bytes::Unclassified::Io(_))
            if buf.is_empty() =>
        {
            // Connected and went away without a byte (health checks, load generators
            // closing idle connections): nothing was denied, so no alert.
            tracing::debug!(flow.id = s.rep.flow.flow_id, "closed before sending");
            Ok(None)
        }
        Err(error) => {
            shared
                .metrics
                .classified(error.outcome(), started.elapsed());
            Err(Denied::Unclassified {
                rule,
                error,
                bytes: buf.filled().to_vec(),
            })
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
                L7Verdict {
                    allowed: false,
                    detail: "tls not allowed by the rule".into(),
                }
            };
            if !verdict.allowed {
                return Err(Denied::Hello {
                    rule,
                    hello,
                    detail: verdict.detail,
                    bytes: buf.filled().to_vec(),
                });
            }
            Ok(Some(Allowed::Tls(AllowedTls {
                buf,
                rule,
                hello,
                consumed,
                snapshot,
                l7,
            })))
        }
        Ok(Classified::Http2) => {
            shared
                .metrics
                .classified(Classification::Http2, started.elapsed());
            if !wants.http {
                return Err(Denied::Http {
                    rule: Some(rule),
                    detail: "http not allowed by the rule".into(),
                    bytes: buf.filled().to_vec(),
                });
            }
            Ok(Some(Allowed::Http2(AllowedHttp2 {
                buf,
                gate: PolicyGate {
                    shared: shared.clone(),
                    flow,
                    snapshot,
                    l7: Some((rule, l7)),
                },
            })))
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
                return Err(Denied::Http {
                    rule: d.rule,
                    detail: d.detail,
                    bytes: buf.filled()[..head.head_len].to_vec(),
                });
            }
            Ok(Some(Allowed::Http(AllowedHttp {
                buf,
                head,
                rule: d.rule,
                gate,
            })))
        }
    }
}
