//! HTTP/2 cleartext with prior knowledge (h2c) under an `http` rule: every stream decided
//! on its own.
//!
//! HPACK makes each stream's header block depend on every block before it on the
//! connection, so one stream cannot be cut out of a byte relay. The proxy terminates
//! HTTP/2 on both sides instead (the `h2` crate, which hyper uses): it accepts the
//! client's streams, builds for each the head the HTTP/1.x parser would have
//! ([`crate::classify::h2_request`]: same normal forms, same refusals), asks the
//! connection's [`Gate`] (same matchers, same snapshot rules: every request is decided with
//! the policy in force when it arrives), and opens an allowed one as a stream of its own to
//! the server ([`stream`]). A denied stream never reaches the server ([`deny`]); with
//! `--http2-deny connection` it resets the whole connection instead.
//!
//! Bounds, all from the `h2` crate and set here: concurrent streams
//! (`--http2-max-concurrent-streams`), the header list size (the head limit, which also
//! bounds CONTINUATION frames), streams the client resets before they are accepted (rapid
//! reset, CVE-2023-44487) and streams the proxy must reset for the client's protocol
//! errors. A client over a limit gets GOAWAY (`ENHANCE_YOUR_CALM` or `PROTOCOL_ERROR`) and
//! the connection ends with a reset.

use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt as _;
use futures::stream::FuturesUnordered;
use h2::RecvStream;
use http::Request;
use tokio::net::TcpStream;

use crate::classify::{RequestHead, h2_head};
use crate::policy::RuleRef;
use crate::proxy::buf::ReadBuf;
use crate::proxy::config::{Config, Http2Deny};
use crate::proxy::drain::DrainWatch;
use crate::proxy::http::{Decision, Exchange, Gate};
use crate::proxy::report::Reporter;
use crate::proxy::state::Policy;

mod deny;
mod io;
mod stream;

/// Streams the client may reset before the proxy accepted them, at once (h2's default is
/// 20; a legitimate client cancels a handful).
const MAX_PENDING_RESETS: usize = 20;
/// Streams the proxy may reset for the client's protocol errors over the connection's
/// life before it sends GOAWAY.
const MAX_ERROR_RESETS: usize = 256;
/// Streams after which the share the client reset before their response is judged: a
/// client that cancels most of what it asks for makes the server work for nothing
/// (rapid reset, which h2's pending-accept bound does not see once streams are accepted).
/// Envoy's premature-reset check, with its figures.
const RESET_JUDGED_AFTER: u64 = 100;
/// After the server closed its connection, how long the client has to see the GOAWAY
/// and close its own before the proxy closes it.
const CLOSE_GRACE: Duration = Duration::from_millis(500);

/// How an HTTP/2 connection ended.
#[derive(Debug)]
pub enum End {
    /// Both sides finished, or the connection was idle for the idle timeout.
    Closed,
    /// A stream was denied under `--http2-deny connection`: reset both connections.
    Denied {
        rule: Option<Arc<RuleRef>>,
        detail: String,
    },
    /// A protocol or I/O error on either connection: reset both.
    Failed(String),
}

/// What serving the connection needs besides its two sockets.
pub struct Serve<'s, 'a, P, G> {
    pub config: &'s Config,
    pub rep: &'s Reporter<'a, P>,
    pub gate: &'s mut G,
    pub drain: &'s mut DrainWatch,
}

/// Serve an HTTP/2 connection whose preface (and maybe more) is in `read`.
pub async fn serve<P: Policy, G: Gate>(
    client: &mut TcpStream,
    up: &mut TcpStream,
    read: ReadBuf,
    s: Serve<'_, '_, P, G>,
) -> End {
    let cfg = s.config;
    let max_list = u32::try_from(cfg.max_head_bytes).unwrap_or(u32::MAX);
    let handshake = h2::server::Builder::new()
        .max_concurrent_streams(cfg.http2_max_streams)
        .max_header_list_size(max_list)
        .max_pending_accept_reset_streams(MAX_PENDING_RESETS)
        .max_local_error_reset_streams(Some(MAX_ERROR_RESETS))
        .handshake::<_, Bytes>(io::Prefixed::new(read.filled(), client));
    drop(read);
    let mut server = match tokio::time::timeout(cfg.classify_timeout, handshake).await {
        Ok(Ok(server)) => server,
        Ok(Err(e)) => return End::Failed(format!("http/2 client handshake: {e}")),
        Err(_) => return End::Failed("http/2 client handshake timed out".into()),
    };
    let upstream = h2::client::Builder::new()
        .max_header_list_size(max_list)
        .enable_push(false)
        .handshake::<_, Bytes>(up);
    let (sender, connection) = match tokio::time::timeout(cfg.connect_timeout, upstream).await {
        Ok(Ok(pair)) => pair,
        Ok(Err(e)) => return End::Failed(format!("http/2 server handshake: {e}")),
        Err(_) => return End::Failed("http/2 server handshake timed out".into()),
    };
    let mut connection = pin!(connection);
    let mut streams = FuturesUnordered::new();
    let idle = tokio::time::sleep(cfg.idle_timeout);
    let mut idle = pin!(idle);
    let mut upstream_open = true;
    let mut draining = false;
    let mut resets = Resets::default();
    let closing = tokio::time::sleep(Duration::MAX);
    let mut closing = pin!(closing);
    loop {
        tokio::select! {
            Some((head, rule, id, done)) = streams.next(), if !streams.is_empty() => {
                // Named: the set's item type is only known from the push further down.
                let done: stream::Forwarded = done;
                let flood = resets.count(done.reset_early);
                report(s.rep, head, rule, id, done);
                if flood {
                    server.abrupt_shutdown(h2::Reason::ENHANCE_YOUR_CALM);
                    return End::Failed(format!(
                        "http/2 rapid reset: {} of {} streams reset by the client before their response",
                        resets.early, resets.streams
                    ));
                }
                idle.as_mut().reset(tokio::time::Instant::now() + cfg.idle_timeout);
            }
            ended = &mut connection, if upstream_open => {
                upstream_open = false;
                if let Err(e) = ended {
                    return End::Failed(format!("http/2 server connection: {e}"));
                }
                // The server closed cleanly (GOAWAY, or an idle close): no new stream can
                // be opened, so the client is told as well, and the connection closes once
                // it had a moment to read that (open streams ended with the server's).
                server.graceful_shutdown();
                closing.as_mut().reset(tokio::time::Instant::now() + CLOSE_GRACE);
            }
            () = &mut closing, if !upstream_open => return End::Closed,
            () = s.drain.draining(), if !draining => {
                draining = true;
                server.graceful_shutdown();
            }
            () = &mut idle, if streams.is_empty() => return End::Closed,
            accepted = server.accept() => match accepted {
                None => {
                    // The client's connection is closed; what is in flight cannot answer.
                    return End::Closed;
                }
                Some(Err(e)) => return End::Failed(format!("http/2 client connection: {e}")),
                Some(Ok((request, mut respond))) => {
                    idle.as_mut().reset(tokio::time::Instant::now() + cfg.idle_timeout);
                    let id = u32::from(respond.stream_id());
                    let (head, rule) = match decide(&mut *s.gate, &request) {
                        Ok(allowed) => allowed,
                        Err(d) if cfg.http2_deny == Http2Deny::Connection => {
                            return End::Denied { rule: d.rule, detail: d.detail };
                        }
                        Err(d) => {
                            let grpc = deny::is_grpc(request.headers());
                            deny::refuse(&mut respond, grpc, &message(d.rule.as_deref(), &d.detail));
                            s.rep.http2_denied(d.rule, id, &d.detail);
                            continue;
                        }
                    };
                    let forwarding = stream::forward(sender.clone(), request, respond);
                    streams.push(async move { (head, rule, id, forwarding.await) });
                }
            },
        }
    }
}

/// Streams forwarded on a connection and how many the client reset early.
#[derive(Debug, Default)]
struct Resets {
    streams: u64,
    early: u64,
}

impl Resets {
    /// Count a finished stream; true once the connection looks like a rapid-reset flood:
    /// past [`RESET_JUDGED_AFTER`] streams, more than half reset early.
    fn count(&mut self, early: bool) -> bool {
        self.streams += 1;
        self.early += u64::from(early);
        self.streams >= RESET_JUDGED_AFTER && self.early * 2 > self.streams
    }
}

/// The policy decision on one stream: the head it was allowed on and the deciding rule,
/// or the denial (also for a request that cannot be read as a head).
fn decide<G: Gate>(
    gate: &mut G,
    request: &Request<RecvStream>,
) -> Result<(RequestHead, Option<Arc<RuleRef>>), Decision> {
    let head = h2_head(request).map_err(|e| Decision {
        allowed: false,
        rule: gate.rule(),
        detail: e.to_string(),
    })?;
    let d = gate.check(&head);
    if d.allowed {
        Ok((head, d.rule))
    } else {
        Err(d)
    }
}

/// The `grpc-message` of a denied call.
fn message(rule: Option<&RuleRef>, detail: &str) -> String {
    match rule {
        Some(rule) => format!("denied by policy {rule}: {detail}"),
        None => format!("denied: {detail}"),
    }
}

fn report<P>(
    rep: &Reporter<'_, P>,
    request: RequestHead,
    rule: Option<Arc<RuleRef>>,
    id: u32,
    done: stream::Forwarded,
) {
    if let Some(e) = &done.error {
        tracing::debug!(flow.id = rep.flow.flow_id, http2.stream_id = id, error = %e, "stream reset");
    }
    rep.http(Exchange {
        rule,
        request,
        status: done.status,
        content_type: done.content_type,
        length: done.length,
        stream_id: Some(id),
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rapid_reset_is_judged_on_the_share_of_early_resets() {
        let mut r = Resets::default();
        for i in 0..RESET_JUDGED_AFTER * 10 {
            assert!(
                !r.count(i % 2 == 1),
                "half reset early is a busy client, not a flood"
            );
        }
        let mut r = Resets::default();
        let flagged = (0..RESET_JUDGED_AFTER)
            .map(|_| r.count(true))
            .position(|f| f);
        assert_eq!(
            flagged,
            Some(RESET_JUDGED_AFTER as usize - 1),
            "judged once there are enough"
        );
    }
}
