//! Turning data-path outcomes into events and metrics, in one place so every decision is
//! reported the same way.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

use tokio::net::TcpStream;

use crate::classify::ClientHello;
use crate::events::metrics::{ProtoLabel, Verdict};
use crate::events::{
    AlertEvent, AppProto, AuditRecord, Event, FlowCounters, FlowInfo, HttpEvent, TlsEvent,
};
use crate::policy::{DenyAction, Direction, RuleRef};
use crate::proxy::accepted::ClientAddr;
use crate::proxy::http::Exchange;
use crate::proxy::outcome::{Denied, Kind};
use crate::proxy::state::Shared;
use crate::socket;

/// What one connection reports with.
pub struct Reporter<'a, P> {
    pub shared: &'a Shared<P>,
    pub flow: FlowInfo,
    /// The Service VIP the client addressed when `flow.dst` is the endpoint picked for
    /// it: events name the endpoint (as Antrea's, made after load balancing), the
    /// proxy's own log names both.
    pub service: Option<SocketAddr>,
    /// Index of the next HTTP transaction on this connection (EVE `tx_id`).
    next_tx: AtomicU64,
}

impl<'a, P> Reporter<'a, P> {
    pub fn new(
        shared: &'a Shared<P>,
        flow_id: u64,
        src: ClientAddr,
        dst: SocketAddr,
        direction: Direction,
    ) -> Self {
        Reporter {
            shared,
            flow: FlowInfo {
                flow_id,
                src: src.0,
                dst,
                direction,
                start: SystemTime::now(),
            },
            service: None,
            next_tx: AtomicU64::new(0),
        }
    }

    /// A connection cut short, reported by its kind: a denial as an alert (with the
    /// segment counts of `client`), a log line and a deny verdict; an abort as an alert
    /// and a log line; a silent cut not at all. An L3/L4 denial is also an audit line.
    pub fn cut(&self, client: &TcpStream, why: &Denied) {
        match why.kind() {
            Kind::Denial => {
                if let Denied::L4 {
                    rule,
                    action,
                    bytes,
                } = why
                {
                    let disposition = match action {
                        DenyAction::Drop => "Drop",
                        DenyAction::Reject => "Reject",
                    };
                    self.audit(rule, disposition, bytes.len());
                }
                self.deny(Some(client), why);
            }
            Kind::Abort => self.abort(why.counts_client().then_some(client), why),
            Kind::Silent => {}
        }
    }

    fn deny(&self, client: Option<&TcpStream>, why: &Denied) {
        let (rule, app_proto, reason) = (why.rule(), why.app_proto(), why.to_string());
        let proto = match app_proto {
            AppProto::Http => ProtoLabel::Http,
            AppProto::Tls => ProtoLabel::Tls,
            AppProto::Failed => ProtoLabel::Failed,
        };
        self.shared
            .metrics
            .verdict(rule.map(Arc::as_ref), Verdict::Deny, proto);
        tracing::info!(
            flow.id = self.flow.flow_id,
            client.addr = %self.flow.src,
            dst.addr = %self.flow.dst,
            service.vip = self.service.map(tracing::field::display),
            rule = rule.map(tracing::field::display),
            reason = %reason,
            "denied"
        );
        // A TLS denial's alert carries the `tls` record of the hello it is about.
        let tls = why.hello().map(tls_event);
        self.alert(client, rule, app_proto, reason, why.bytes(), tls);
    }

    /// A connection cut for a reason other than policy (the upstream refused or reset it, a
    /// timeout): an alert so the event log says why the client saw a reset, without a deny
    /// verdict in the metrics.
    fn abort(&self, client: Option<&TcpStream>, why: &Denied) {
        let reason = why.to_string();
        tracing::info!(
            flow.id = self.flow.flow_id,
            client.addr = %self.flow.src,
            dst.addr = %self.flow.dst,
            service.vip = self.service.map(tracing::field::display),
            reason = %reason,
            "connection aborted"
        );
        self.alert(client, None, why.app_proto(), reason, &[], None);
    }

    fn alert(
        &self,
        client: Option<&TcpStream>,
        rule: Option<&Arc<RuleRef>>,
        app_proto: AppProto,
        reason: String,
        denied_bytes: &[u8],
        tls: Option<TlsEvent>,
    ) {
        if !self.shared.config.events.alerts() {
            return;
        }
        let segs = client
            .and_then(|c| socket::tcp_segments(c).ok())
            .unwrap_or_default();
        let counters = FlowCounters {
            pkts_toserver: segs.segs_in,
            pkts_toclient: segs.segs_out,
            bytes_toserver: denied_bytes.len() as u64,
            bytes_toclient: 0,
        };
        self.shared.sink.emit(Event::Alert {
            flow: self.flow.clone(),
            alert: AlertEvent {
                rule: rule.cloned(),
                app_proto,
                reason,
                denied_bytes: denied_bytes.to_vec(),
                counters,
                tls,
            },
        });
    }

    /// One HTTP/2 stream refused while its connection goes on: reported as any denial
    /// (verdict, log line, alert), the reason naming the stream. The alert carries no
    /// bytes: the request existed only as HPACK-coded frames, meaningless out of the
    /// connection's context.
    pub fn http2_denied(&self, rule: Option<Arc<RuleRef>>, stream_id: u32, reason: &str) {
        let why = Denied::Http {
            rule,
            detail: format!("{reason} (http/2 stream {stream_id})"),
            bytes: Vec::new(),
        };
        self.deny(None, &why);
    }

    /// An Antrea audit-log line, when the rule asks for it.
    pub fn audit(&self, rule: &Arc<RuleRef>, disposition: &'static str, length: usize) {
        if rule.enable_logging {
            self.shared.sink.emit(Event::Audit(AuditRecord {
                rule: rule.clone(),
                disposition,
                src: self.flow.src,
                dst: self.flow.dst,
                length: length as u64,
            }));
        }
    }

    pub fn http(&self, x: Exchange) {
        self.shared
            .metrics
            .verdict(x.rule.as_deref(), Verdict::Allow, ProtoLabel::Http);
        if !self.shared.config.events.allowed() {
            return;
        }
        let r = x.request;
        let protocol = r.protocol();
        self.shared.sink.emit(Event::Http {
            flow: self.flow.clone(),
            rule: x.rule,
            http: HttpEvent {
                tx_id: self.next_tx.fetch_add(1, Ordering::Relaxed),
                hostname: r.host,
                http_port: Some(self.flow.dst.port()),
                url: r.target,
                http_user_agent: r.user_agent,
                http_content_type: x.content_type,
                http_method: r.method,
                protocol,
                status: x.status,
                length: x.length,
                http2_stream_id: x.stream_id,
            },
        });
    }

    pub fn tls(&self, rule: Option<&Arc<RuleRef>>, hello: &ClientHello) {
        self.shared
            .metrics
            .verdict(rule.map(Arc::as_ref), Verdict::Allow, ProtoLabel::Tls);
        if !self.shared.config.events.allowed() {
            return;
        }
        self.shared.sink.emit(Event::Tls {
            flow: self.flow.clone(),
            rule: rule.cloned(),
            tls: tls_event(hello),
        });
    }
}

fn tls_event(hello: &ClientHello) -> TlsEvent {
    TlsEvent {
        sni: hello.sni.clone(),
        version: hello.version,
        alpn: hello.alpn.clone(),
    }
}
