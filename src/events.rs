//! Suricata-EVE-compatible event log, Antrea audit log (np.log) and Prometheus metrics.
//!
//! CONTRACT (shared with the data path): the public items in this file are what the proxy
//! calls. Emitting never blocks: events go through a bounded queue to a writer thread and
//! are counted as dropped when it is full.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::policy::{Direction, RuleRef};

/// The connection an event belongs to.
#[derive(Clone, Debug)]
pub struct FlowInfo {
    /// Unique per connection; the same on every event of that connection.
    pub flow_id: u64,
    pub src: SocketAddr,
    pub dst: SocketAddr,
    pub direction: Direction,
    /// When the connection was accepted.
    pub start: SystemTime,
}

/// Segment and byte counts of a connection (segments from `TCP_INFO`).
#[derive(Clone, Copy, Debug, Default)]
pub struct FlowCounters {
    pub pkts_toserver: u64,
    pub pkts_toclient: u64,
    pub bytes_toserver: u64,
    pub bytes_toclient: u64,
}

/// One allowed HTTP request and its response.
#[derive(Clone, Debug, Default)]
pub struct HttpEvent {
    pub hostname: Option<String>,
    pub http_port: Option<u16>,
    /// Request target as sent.
    pub url: String,
    pub http_user_agent: Option<String>,
    /// Response Content-Type.
    pub http_content_type: Option<String>,
    pub http_method: String,
    /// e.g. `HTTP/1.1`.
    pub protocol: String,
    /// Response status; `None` when the connection ended before a response.
    pub status: Option<u16>,
    /// Response body length in bytes.
    pub length: u64,
}

/// One allowed TLS connection.
#[derive(Clone, Debug, Default)]
pub struct TlsEvent {
    pub sni: Option<String>,
    /// Suricata's spelling, e.g. `TLS 1.3`, `TLSv1.2`... as the events module decides.
    pub version: u16,
    pub alpn: Vec<String>,
}

/// Application protocol as seen when a connection was denied.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AppProto {
    Http,
    Tls,
    /// Not classified, or not HTTP/TLS.
    Failed,
}

/// A denial.
#[derive(Clone, Debug)]
pub struct AlertEvent {
    /// The deciding rule; `None` for denials no rule made (limits, timeouts).
    pub rule: Option<RuleRef>,
    pub app_proto: AppProto,
    /// Why, in a few words: `l7 mismatch: path "/admin" ...`, `drop rule`,
    /// `classification timeout`, `header block too large`, `ambiguous framing` ...
    pub reason: String,
    /// Bytes read from the client that were denied (go into the synthesized packet).
    pub denied_bytes: Vec<u8>,
    pub counters: FlowCounters,
}

/// One line of Antrea's audit log (`np.log`), for rules with `enableLogging`.
#[derive(Clone, Debug)]
pub struct AuditRecord {
    pub rule: RuleRef,
    /// `Allow`, `Drop`, `Reject` or `Redirect` (L7 rules), as Antrea writes it.
    pub disposition: &'static str,
    pub src: SocketAddr,
    pub dst: SocketAddr,
    /// Length of the first packet / bytes read, 0 if none.
    pub length: u64,
}

/// What the data path reports.
#[derive(Clone, Debug)]
pub enum Event {
    Http {
        flow: FlowInfo,
        rule: Option<RuleRef>,
        http: HttpEvent,
    },
    Tls {
        flow: FlowInfo,
        rule: Option<RuleRef>,
        tls: TlsEvent,
    },
    Alert {
        flow: FlowInfo,
        alert: AlertEvent,
    },
    Audit(AuditRecord),
}

/// Errors of the event log and metrics endpoint.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Todo(String),
}

/// Cheap-to-clone, non-blocking handle that queues events for the writer thread.
#[derive(Clone, Debug)]
pub struct EventSink {
    _private: (),
}

impl EventSink {
    /// Create `log_dir` if needed, open today's `eve-YYYY-MM-DD.json` (so it exists before
    /// any event) and start the writer thread.
    pub fn start(_log_dir: &Path, _metrics: Arc<Metrics>) -> Result<EventSink, Error> {
        todo!()
    }

    /// Queue an event; never blocks. Counts a drop when the queue is full.
    pub fn emit(&self, _event: Event) {
        todo!()
    }
}

/// Prometheus metrics of the proxy.
#[derive(Debug, Default)]
pub struct Metrics {
    _private: (),
}

impl Metrics {
    pub fn conn_opened(&self, _direction: Direction) {}
    pub fn conn_closed(&self, _direction: Direction) {}
    /// `verdict`: `allow`, `deny`; `app_proto`: `http`, `tls`, `none`, `failed`.
    pub fn verdict(&self, _rule: Option<&RuleRef>, _verdict: &str, _app_proto: &str) {}
    /// `outcome`: `http`, `tls`, `http2`, `other`, `timeout`, `too_large`.
    pub fn classified(&self, _outcome: &str, _latency: Duration) {}
    pub fn bytes_relayed(&self, _direction: Direction, _to_server: u64, _to_client: u64) {}
    pub fn snapshot_loaded(&self, _generation: u64) {}
    pub fn reload_error(&self) {}
    pub fn event_dropped(&self) {}
}

/// Serve `/metrics`, `/healthz` and `/readyz` (ready when `ready` is true) until the
/// returned future is dropped.
pub async fn serve_http(
    _addr: SocketAddr,
    _metrics: Arc<Metrics>,
    _ready: Arc<std::sync::atomic::AtomicBool>,
) -> Result<(), Error> {
    todo!()
}
