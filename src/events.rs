//! Suricata-EVE-compatible event log, Antrea audit log (np.log) and Prometheus metrics.
//!
//! CONTRACT (shared with the data path): the public items in this file are what the proxy
//! calls. Emitting never blocks: an event is serialized by the emitting thread onto a
//! bounded batch that a writer thread writes out, and is counted as dropped when the batch
//! is full.
//!
//! Layout: [`eve`] turns an [`Event`] into one EVE JSON line, [`batch`] holds the lines
//! until they are written, [`packet`] synthesizes the raw IP+TCP packet carried by alerts,
//! [`audit`] formats np.log lines, [`writer`] owns the files and the writer thread,
//! [`rotate`] its size-based rotation, [`limit`] the
//! alert rate limit, [`metrics`] the Prometheus registry (served by the admin endpoint of
//! `l7proxy run`, `app::admin`).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::{self, SyncSender, TrySendError};
use std::time::{Duration, Instant, SystemTime};

use crate::policy::{Direction, RuleRef};

pub mod audit;
mod batch;
pub mod eve;
pub mod limit;
pub mod metrics;
pub mod packet;
pub mod rotate;
mod writer;

pub use metrics::{CONTENT_TYPE as METRICS_CONTENT_TYPE, Metrics};
pub use rotate::Rotation;
pub use writer::{Clock, SystemClock};

/// Which EVE events are written (`l7proxy run --events`). np.log lines follow each rule's
/// `enableLogging` and metrics are always counted, whatever the level.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Level {
    /// `http` and `tls` records for allowed traffic, and alerts.
    #[default]
    All,
    /// Alerts only (denials and aborted connections): a busy allowed path writes nothing.
    Alerts,
    /// No EVE events.
    None,
}

impl Level {
    /// Records of allowed traffic (`http`, `tls`) are written.
    pub fn allowed(self) -> bool {
        self == Level::All
    }

    /// Alerts are written.
    pub fn alerts(self) -> bool {
        self != Level::None
    }
}

/// The connection an event belongs to.
#[derive(Clone, Debug)]
pub struct FlowInfo {
    /// Unique per connection; the same on every event of that connection. Keep it below
    /// 2^53 so JSON consumers that parse numbers as doubles (jq, JavaScript) see it exactly.
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
    /// Index of this request on its connection (0 for the first), Suricata's `tx_id`.
    pub tx_id: u64,
    pub hostname: Option<String>,
    pub http_port: Option<u16>,
    /// Request target as sent.
    pub url: String,
    pub http_user_agent: Option<String>,
    /// Response Content-Type.
    pub http_content_type: Option<String>,
    pub http_method: String,
    /// e.g. `HTTP/1.1`.
    pub protocol: &'static str,
    /// Response status; `None` when the connection ended before a response.
    pub status: Option<u16>,
    /// Response body length in bytes.
    pub length: u64,
    /// The stream of an HTTP/2 request (EVE `http.version` "2" and `http.http2`).
    pub http2_stream_id: Option<u32>,
}

/// One allowed TLS connection.
#[derive(Clone, Debug, Default)]
pub struct TlsEvent {
    pub sni: Option<String>,
    /// Wire version (`0x0303`, `0x0304`...); written with Suricata's spelling, see
    /// [`eve::tls_version_str`].
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

impl AppProto {
    /// Suricata's `app_proto` spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            AppProto::Http => "http",
            AppProto::Tls => "tls",
            AppProto::Failed => "failed",
        }
    }
}

/// A denial.
#[derive(Clone, Debug)]
pub struct AlertEvent {
    /// The deciding rule; `None` for denials no rule made (limits, timeouts).
    pub rule: Option<Arc<RuleRef>>,
    pub app_proto: AppProto,
    /// Why, in a few words: `l7 mismatch: path "/admin" ...`, `drop rule`,
    /// `classification timeout`, `header block too large`, `ambiguous framing` ...
    pub reason: String,
    /// Bytes read from the client that were denied (go into the synthesized packet).
    pub denied_bytes: Vec<u8>,
    pub counters: FlowCounters,
    /// The ClientHello the denial is about, when there is one (EVE `tls`, as Suricata
    /// puts the app-layer record of a TLS alert): after a HelloRetryRequest, the second.
    pub tls: Option<TlsEvent>,
}

/// One line of Antrea's audit log (`np.log`), for rules with `enableLogging`.
#[derive(Clone, Debug)]
pub struct AuditRecord {
    pub rule: Arc<RuleRef>,
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
        rule: Option<Arc<RuleRef>>,
        http: HttpEvent,
    },
    Tls {
        flow: FlowInfo,
        rule: Option<Arc<RuleRef>>,
        tls: TlsEvent,
    },
    Alert {
        flow: FlowInfo,
        alert: AlertEvent,
    },
    Audit(AuditRecord),
}

/// Errors of the event log and of serving the metrics.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot create log directory {path}: {source}")]
    CreateDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot open log file {path}: {source}")]
    Open {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot start the event writer thread: {0}")]
    Spawn(std::io::Error),
    #[error("metrics endpoint stopped accepting: {0}")]
    Accept(std::io::Error),
}

/// How [`EventSink::start_with`] sets up the logs.
#[derive(Clone, Debug)]
pub struct SinkOptions {
    /// Where `eve-YYYY-MM-DD.json` and `np.log` go (created if missing).
    pub log_dir: PathBuf,
    /// EVE lines (and, separately, np.log records) waiting for the writer before `emit`
    /// starts dropping. A stuck writer holds at most twice this many lines: the batch it
    /// is writing and a full one behind it.
    pub queue_capacity: usize,
    /// `<namespace>/<pod>` of the protected Pod, Antrea's `appliedToRef` column in np.log
    /// (`<nil>` when unknown).
    pub applied_to: Option<String>,
    /// Most denied bytes carried in an alert's `packet`; 0 writes headers only.
    pub alert_payload_bytes: usize,
    /// Alerts written per second (burst as many); 0: unlimited. See [`limit`].
    pub alert_rate: u32,
    /// Size-based rotation of the EVE file.
    pub rotation: Rotation,
}

impl SinkOptions {
    /// Default queue: deep enough for bursts of short connections, small enough
    /// (a few MiB at worst) that a stuck disk cannot exhaust memory.
    pub const DEFAULT_QUEUE_CAPACITY: usize = 4096;
    /// Suricata's own default for alert payloads (`payload-buffer-size: 4kb`): enough for
    /// a request head, a fraction of the 64 KiB a denied read can hold.
    pub const DEFAULT_ALERT_PAYLOAD_BYTES: usize = 4096;
    /// Far above what a legitimate client's mistakes produce, far below what fills a disk.
    pub const DEFAULT_ALERT_RATE: u32 = 100;

    pub fn new(log_dir: &Path) -> SinkOptions {
        SinkOptions {
            log_dir: log_dir.to_path_buf(),
            queue_capacity: Self::DEFAULT_QUEUE_CAPACITY,
            applied_to: None,
            alert_payload_bytes: Self::DEFAULT_ALERT_PAYLOAD_BYTES,
            alert_rate: Self::DEFAULT_ALERT_RATE,
            rotation: Rotation::default(),
        }
    }
}

/// Cheap-to-clone, non-blocking handle that queues events for the writer thread. The
/// thread writes what is queued and exits once every clone is dropped.
#[derive(Clone)]
pub struct EventSink {
    /// Wake-ups, np.log records and flushes for the writer.
    tx: SyncSender<writer::Msg>,
    batch: Arc<batch::Batch>,
    metrics: Arc<Metrics>,
    clock: Arc<dyn Clock>,
    limiter: Arc<limit::Limiter>,
}

impl std::fmt::Debug for EventSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventSink").finish_non_exhaustive()
    }
}

impl EventSink {
    /// Create `log_dir` if needed, open today's `eve-YYYY-MM-DD.json` (so it exists before
    /// any event) and start the writer thread.
    pub fn start(log_dir: &Path, metrics: Arc<Metrics>) -> Result<EventSink, Error> {
        Self::start_with(SinkOptions::new(log_dir), metrics)
    }

    /// [`EventSink::start`] with explicit options.
    pub fn start_with(options: SinkOptions, metrics: Arc<Metrics>) -> Result<EventSink, Error> {
        Self::start_with_clock(options, metrics, Arc::new(SystemClock))
    }

    /// [`EventSink::start_with`] with an injected clock (event timestamps and the daily file
    /// switch both follow it), so the date change can be tested.
    pub fn start_with_clock(
        options: SinkOptions,
        metrics: Arc<Metrics>,
        clock: Arc<dyn Clock>,
    ) -> Result<EventSink, Error> {
        let (tx, rx) = mpsc::sync_channel(options.queue_capacity.max(1));
        let limiter = Arc::new(limit::Limiter::new(options.alert_rate, Instant::now()));
        let batch = Arc::new(batch::Batch::new(
            options.queue_capacity,
            options.alert_payload_bytes,
        ));
        writer::spawn(
            options,
            metrics.clone(),
            clock.clone(),
            limiter.clone(),
            batch.clone(),
            rx,
        )?;
        Ok(EventSink {
            tx,
            batch,
            metrics,
            clock,
            limiter,
        })
    }

    /// Queue an event; never blocks and, while the writer is busy, makes no system call.
    /// Counts a drop when the batch (or, for np.log records, the queue) is full. Alerts
    /// beyond the rate limit are not queued but counted as suppressed.
    pub fn emit(&self, event: Event) {
        if matches!(event, Event::Alert { .. }) && !self.limiter.admit(Instant::now()) {
            self.metrics.alert_suppressed();
            return;
        }
        let at = self.clock.now();
        if let Event::Audit(record) = event {
            self.send(writer::Msg::Audit(at, Box::new(record)));
            return;
        }
        match self.batch.push(&event, at) {
            batch::Push::Queued => {}
            batch::Push::Wake => self.send(writer::Msg::Wake),
            batch::Push::Full | batch::Push::Unwritten => self.metrics.event_dropped(),
        }
    }

    fn send(&self, msg: writer::Msg) {
        match self.tx.try_send(msg) {
            Ok(()) => {}
            // A full queue holds messages the writer has yet to take, so it is awake and
            // takes the batch after them: a lost wake-up loses no line.
            Err(TrySendError::Full(writer::Msg::Wake)) => {}
            Err(TrySendError::Full(_)) => self.metrics.event_dropped(),
            // The writer only exits when every sink is gone, or after a fatal panic; count
            // it so the loss shows up in metrics rather than vanishing.
            Err(TrySendError::Disconnected(_)) => self.metrics.event_dropped(),
        }
    }

    /// Wait until every event queued before this call is written, for shutdown and tests.
    /// Blocks the calling thread (use `spawn_blocking` from async code); returns `false` if
    /// `timeout` passed first.
    pub fn flush(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let (done_tx, done_rx) = mpsc::channel();
        let mut msg = writer::Msg::Flush(done_tx);
        loop {
            match self.tx.try_send(msg) {
                Ok(()) => break,
                Err(TrySendError::Full(back)) => {
                    if Instant::now() >= deadline {
                        return false;
                    }
                    msg = back;
                    std::thread::sleep(Duration::from_millis(1));
                }
                Err(TrySendError::Disconnected(_)) => return false,
            }
        }
        let left = deadline.saturating_duration_since(Instant::now());
        done_rx.recv_timeout(left).is_ok()
    }
}

#[cfg(test)]
mod tests;
