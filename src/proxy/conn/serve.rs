//! Serving an allowed connection: connect to the upstream, then relay opaque bytes (an
//! L3/L4 allow), follow TLS ([`crate::proxy::tls`]) or enforce HTTP request by request
//! ([`crate::proxy::http`]) or stream by stream ([`crate::proxy::h2`]).

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use super::l7::{AllowedHttp, AllowedHttp2, AllowedTls};
use crate::events::AppProto;
use crate::policy::Direction;
use crate::proxy::h2;
use crate::proxy::http::{self, Outcome};
use crate::proxy::outcome::Denied;
use crate::proxy::relay::{self, Activity};
use crate::proxy::reset::reset;
use crate::proxy::session::Session;
use crate::proxy::state::Policy;
use crate::proxy::tls::{self, FirstHello};
use crate::proxy::upstream;

/// Connect to the destination decided on; `proto` is what the client was classified as.
async fn connect<P: Policy>(s: &Session<'_, P>, proto: AppProto) -> Result<TcpStream, Denied> {
    let f = &s.rep.flow;
    let source = (f.direction == Direction::Ingress && s.shared.config.preserve_client_ip)
        .then(|| f.src.ip());
    upstream::connect(s.shared, f.dst, source, f.src.port())
        .await
        .map_err(|error| Denied::UpstreamConnect { proto, error })
}

/// An L3/L4 allow: opaque bytes both ways.
pub(super) async fn l4<P: Policy>(s: &mut Session<'_, P>) -> Result<(), Denied> {
    let up = connect(s, AppProto::Failed).await?;
    s.with_upstream(up).relay(relay::Opaque).await;
    Ok(())
}

/// An allowed first ClientHello: the rest of the handshake watched, then the relay.
pub(super) async fn tls<P: Policy>(
    s: &mut Session<'_, P>,
    allowed: AllowedTls<P>,
) -> Result<(), Denied> {
    let up = connect(s, AppProto::Tls).await?;
    s.rep.tls(Some(&allowed.rule), &allowed.hello);
    let first = FirstHello {
        hello: &allowed.hello,
        consumed: allowed.consumed,
        snapshot: &*allowed.snapshot,
        l7: allowed.l7,
    };
    let served = tls::serve(&mut s.with_upstream(up), allowed.buf, first).await;
    match served {
        Ok(()) => Ok(()),
        Err(tls::End::Io(e)) => Err(Denied::Broken(e)),
        Err(tls::End::Cut {
            cut,
            hello: second,
            bytes,
        }) => Err(Denied::Tls {
            rule: allowed.rule,
            hello: second.unwrap_or(allowed.hello),
            cut,
            bytes,
        }),
    }
}

/// An allowed first HTTP request: every request of the connection decided, until it
/// ends, is upgraded to opaque bytes, or a request is refused.
pub(super) async fn http<P: Policy>(
    s: &mut Session<'_, P>,
    mut allowed: AllowedHttp<P>,
) -> Result<(), Denied> {
    let up = connect(s, AppProto::Http).await?;
    let cfg = &s.shared.config;
    let activity = Activity::new();
    let mut drain = s.shared.drain.clone();
    let mut streams = s.with_upstream(up);
    let rep = streams.rep;
    let report = |x| rep.http(x);
    let served = http::serve(
        streams.client,
        streams.up,
        http::First {
            buf: allowed.buf,
            head: allowed.head,
            rule: allowed.rule,
        },
        &mut allowed.gate,
        http::Watch {
            limits: http::Limits {
                max_head: cfg.max_head_bytes,
                head_timeout: cfg.classify_timeout,
            },
            drain: Some(&mut drain),
            activity: &activity,
        },
        &report,
    );
    let outcome = tokio::select! {
        o = served => o,
        () = activity.idle(cfg.idle_timeout) => return Err(Denied::IdleTimeout),
    };
    match outcome {
        Outcome::Closed { reset_upstream } => {
            if reset_upstream && let Some(up) = s.upstream.take() {
                reset(up);
            }
            Ok(())
        }
        Outcome::Upgraded {
            client_buf,
            upstream_buf,
        } => {
            streams
                .up
                .write_all(client_buf.filled())
                .await
                .map_err(Denied::Broken)?;
            streams
                .client
                .write_all(upstream_buf.filled())
                .await
                .map_err(Denied::Broken)?;
            Box::pin(streams.relay(relay::Opaque)).await;
            Ok(())
        }
        Outcome::Denied(d) => Err(Denied::Http {
            rule: d.rule,
            detail: d.reason,
            bytes: d.bytes,
        }),
        Outcome::Failed(why) => Err(Denied::HttpFailed(why)),
    }
}

/// An HTTP/2 connection preface: every stream decided on its own until the connection
/// ends, or a denied stream resets it (`--http2-deny connection`).
pub(super) async fn http2<P: Policy>(
    s: &mut Session<'_, P>,
    mut allowed: AllowedHttp2<P>,
) -> Result<(), Denied> {
    let up = connect(s, AppProto::Http).await?;
    let mut drain = s.shared.drain.clone();
    let streams = s.with_upstream(up);
    let served = h2::serve(
        streams.client,
        streams.up,
        allowed.buf,
        h2::Serve {
            config: &streams.shared.config,
            rep: streams.rep,
            gate: &mut allowed.gate,
            drain: &mut drain,
        },
    );
    match Box::pin(served).await {
        h2::End::Closed => Ok(()),
        h2::End::Denied { rule, detail } => Err(Denied::Http {
            rule,
            detail,
            bytes: Vec::new(),
        }),
        h2::End::Failed(why) => Err(Denied::HttpFailed(why)),
    }
}
