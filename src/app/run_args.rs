//! The command line of `l7proxy run`: where the policy comes from, which Pod is protected,
//! where events go, and the data path's limits. Turned into a [`crate::proxy::Config`] by
//! [`super::serve`].

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use crate::args::{self, CaptureArgs, METRICS_PORT, PodRef, parse_duration, parse_port_range};
use crate::proxy::RelayMode;

/// `l7proxy run` arguments.
#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("source").required(true).args(["manifests", "kubernetes"])))]
pub struct RunArgs {
    /// Manifest files or directories (YAML/JSON, recursive); watched for changes.
    #[arg(long, num_args = 1.., value_name = "PATH")]
    pub manifests: Vec<PathBuf>,
    /// Read policy, Pods and Namespaces from the Kubernetes API (in-cluster service
    /// account, or KUBECONFIG) instead of manifests; ready after the first full sync.
    #[arg(long)]
    pub kubernetes: bool,
    /// The protected Pod, `NAMESPACE/NAME`: inbound is its ingress, outbound its egress.
    /// Defaults to `$POD_NAMESPACE/$POD_NAME` (the downward API).
    #[arg(long, value_name = "NS/NAME")]
    pub pod: Option<PodRef>,
    /// Directory of the EVE log (`eve-YYYY-MM-DD.json`) and the audit log (`np.log`).
    #[arg(long, default_value = args::LOG_DIR, value_name = "DIR")]
    pub log_dir: PathBuf,
    #[command(flatten)]
    pub capture: CaptureArgs,
    /// Address of the `/metrics`, `/healthz` and `/readyz` endpoint (transparent, so the
    /// capture rules can hand it `PodIP:PORT`); a loopback or wildcard address is also
    /// listened on in the other family.
    #[arg(long, default_value_t = SocketAddr::new(Ipv4Addr::LOCALHOST.into(), METRICS_PORT))]
    pub metrics_addr: SocketAddr,
    /// How opaque bytes are relayed.
    #[arg(long, value_enum, default_value_t = RelayMode::Copy)]
    pub relay: RelayMode,
    /// Total time allowed to read the first request head or TLS ClientHello.
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    pub classify_timeout: Duration,
    /// Close a connection after this long without any byte moving.
    #[arg(long, default_value = "1h", value_parser = parse_duration)]
    pub idle_timeout: Duration,
    /// Grace period for open connections after SIGTERM/SIGINT.
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    pub drain_timeout: Duration,
    /// Largest HTTP request/response head or TLS ClientHello, in bytes.
    #[arg(long, default_value_t = 64 * 1024)]
    pub max_header_bytes: usize,
    /// Let non-empty bodies on GET and HEAD requests through (default: reset them).
    #[arg(long)]
    pub allow_get_body: bool,
    /// Connections handled at once; more are reset (with an alert event). Lowered at
    /// startup to what the open-file limit allows (2 descriptors per connection, 6 with
    /// `--relay splice`, plus a reserve of 64).
    #[arg(long, default_value_t = 32768)]
    pub max_connections: usize,
    /// Inbound upstream connections keep the client's IP as source.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub preserve_client_ip: bool,
    /// Source ports of client-IP-preserving upstreams (outside the clients' range).
    #[arg(long, default_value = "61000-65535", value_parser = parse_port_range)]
    pub upstream_port_range: std::ops::RangeInclusive<u16>,
    /// EVE events written: all (http, tls and alerts), alerts, or none. np.log follows
    /// each rule's enableLogging regardless.
    #[arg(long, value_enum, default_value_t = crate::events::Level::All)]
    pub events: crate::events::Level,
    /// Most denied bytes carried in an alert's `packet` (longer ones are cut and marked
    /// `"payload_truncated": true`); 0 keeps only the synthesized headers.
    #[arg(long, default_value_t = crate::events::SinkOptions::DEFAULT_ALERT_PAYLOAD_BYTES, value_name = "N")]
    pub alert_payload_bytes: usize,
    /// Alert events written per second, in bursts of as many; the rest are counted in
    /// l7proxy_alerts_suppressed_total (denials are still enforced); 0: unlimited.
    #[arg(long, default_value_t = crate::events::SinkOptions::DEFAULT_ALERT_RATE, value_name = "N")]
    pub alert_rate: u32,
    /// Rotate the EVE file to `.1` before it grows past this size (e.g. 100MiB, 500M); 0: never.
    #[arg(long, default_value = "100MiB", value_name = "SIZE", value_parser = crate::events::rotate::parse_size)]
    pub eve_max_bytes: u64,
    /// Rotated EVE files kept per day (`.1` newest); 0 deletes a full file instead.
    #[arg(long, default_value_t = crate::events::Rotation::DEFAULT_KEEP, value_name = "N")]
    pub eve_keep: usize,
    /// What a denied HTTP/2 stream ends: `stream` (a gRPC call gets grpc-status 7
    /// PERMISSION_DENIED, any other request RST_STREAM CANCEL; the connection's other
    /// streams go on) or `connection` (the TCP connection is reset, as for HTTP/1.x).
    #[arg(long, value_enum, default_value_t = crate::proxy::Http2Deny::Stream)]
    pub http2_deny: crate::proxy::Http2Deny,
    /// Streams a client may have open at once on one HTTP/2 connection (SETTINGS_MAX_CONCURRENT_STREAMS).
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub http2_max_concurrent_streams: u32,
    /// Worker threads (0: one per CPU; 1: a single-threaded runtime).
    #[arg(long, default_value_t = 0)]
    pub workers: usize,
}
