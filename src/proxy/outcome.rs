//! Why the proxy cut a connection short: one typed outcome that every step of the data
//! path returns, and that `conn::handle` reports (alert, log line, deny verdict) and
//! enforces (a reset) in one place. Its `Display` is the reason the alert and the log
//! give.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use crate::classify::ClientHello;
use crate::events::AppProto;
use crate::policy::{DenyAction, RuleRef};
use crate::proxy::first_bytes::Unclassified;
use crate::proxy::tls::cut::TlsCut;

/// A connection the proxy ends with a reset, and why.
#[derive(Debug, thiserror::Error)]
pub enum Denied {
    /// The limit on open connections was reached at accept.
    #[error("connection limit reached")]
    ConnectionLimit,
    /// Egress to a Service port without a ready endpoint: refused at once, as kube-proxy
    /// rejects it.
    #[error("service {vip} has no ready endpoints")]
    NoEndpoints { vip: SocketAddr },
    /// A connection to one of the proxy's own listeners (it would loop).
    #[error("destination is the proxy itself")]
    SelfCall,
    /// An L3/L4 deny rule; `bytes` are what the client sent while it was given a moment.
    #[error("{}", match action { DenyAction::Drop => "drop rule", DenyAction::Reject => "reject rule" })]
    L4 {
        rule: Arc<RuleRef>,
        action: DenyAction,
        bytes: Vec<u8>,
    },
    /// The first bytes under an L7 rule are no HTTP/1.x request or TLS ClientHello.
    #[error("{error}")]
    Unclassified {
        rule: Arc<RuleRef>,
        error: Unclassified,
        bytes: Vec<u8>,
    },
    /// An HTTP request refused, the first of the connection or a later one.
    #[error("{detail}")]
    Http {
        rule: Option<Arc<RuleRef>>,
        detail: String,
        bytes: Vec<u8>,
    },
    /// The first ClientHello refused by the rule.
    #[error("{detail}")]
    Hello {
        rule: Arc<RuleRef>,
        hello: ClientHello,
        detail: String,
        bytes: Vec<u8>,
    },
    /// A TLS connection cut after its first hello was allowed; `hello` is the one the
    /// cut is about. A denial under `rule` when the client caused it
    /// ([`TlsCut::is_client`]), else an abort.
    #[error("{cut}")]
    Tls {
        rule: Arc<RuleRef>,
        hello: ClientHello,
        cut: TlsCut,
        bytes: Vec<u8>,
    },
    /// The upstream refused the connection or did not answer; `proto` is what the client
    /// was classified as.
    #[error("upstream connect failed: {error}")]
    UpstreamConnect { proto: AppProto, error: io::Error },
    /// Nothing moved on an HTTP connection for the idle timeout.
    #[error("idle timeout")]
    IdleTimeout,
    /// An HTTP connection failed: an I/O error, or the server broke the protocol.
    #[error("{0}")]
    HttpFailed(String),
    /// A socket failed (a peer's reset) before there was anything to report.
    #[error("{0}")]
    Broken(io::Error),
}

/// How a cut is reported.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Refused by policy or a limit: a deny verdict, a "denied" log line and an alert.
    Denial,
    /// Cut for another reason: an alert (so the event log says why the client saw a
    /// reset) and a "connection aborted" line, no verdict.
    Abort,
    /// Nothing to report: the reset only passes on a peer's.
    Silent,
}

impl Denied {
    pub fn kind(&self) -> Kind {
        match self {
            Denied::Tls { cut, .. } if !cut.is_client() => Kind::Abort,
            Denied::UpstreamConnect { .. } | Denied::IdleTimeout | Denied::HttpFailed(_) => {
                Kind::Abort
            }
            Denied::Broken(_) => Kind::Silent,
            _ => Kind::Denial,
        }
    }

    /// The rule a denial is under (none for limits and for aborts).
    pub fn rule(&self) -> Option<&Arc<RuleRef>> {
        match self {
            Denied::L4 { rule, .. }
            | Denied::Unclassified { rule, .. }
            | Denied::Hello { rule, .. }
            | Denied::Tls { rule, .. } => Some(rule),
            Denied::Http { rule, .. } => rule.as_ref(),
            _ => None,
        }
    }

    /// What the client was classified as when it was cut.
    pub fn app_proto(&self) -> AppProto {
        match self {
            Denied::Http { .. } | Denied::IdleTimeout | Denied::HttpFailed(_) => AppProto::Http,
            Denied::Hello { .. } | Denied::Tls { .. } => AppProto::Tls,
            Denied::UpstreamConnect { proto, .. } => *proto,
            _ => AppProto::Failed,
        }
    }

    /// The client's bytes that were refused (never forwarded).
    pub fn bytes(&self) -> &[u8] {
        match self {
            Denied::L4 { bytes, .. }
            | Denied::Unclassified { bytes, .. }
            | Denied::Http { bytes, .. }
            | Denied::Hello { bytes, .. }
            | Denied::Tls { bytes, .. } => bytes,
            _ => &[],
        }
    }

    /// The ClientHello a TLS denial is about.
    pub fn hello(&self) -> Option<&ClientHello> {
        match self {
            Denied::Hello { hello, .. } | Denied::Tls { hello, .. } => Some(hello),
            _ => None,
        }
    }

    /// Whether the alert counts the client's segments: not for a failed upstream
    /// connect, whose alert is about the upstream alone.
    pub fn counts_client(&self) -> bool {
        !matches!(self, Denied::UpstreamConnect { .. })
    }

    /// Whether what was already written to each side is delivered before the reset: an
    /// HTTP connection that failed mid-response must not reach the client truncated.
    pub fn drains(&self) -> bool {
        matches!(self, Denied::IdleTimeout | Denied::HttpFailed(_))
    }
}

#[cfg(test)]
mod tests;
