//! `l7proxy controller`: the Kubernetes admission webhooks.
//!
//! - `/inject` (alias `/mutate`): a mutating webhook for Pods that adds the capture init
//!   container (`l7proxy redirect install`) and the proxy as a native sidecar
//!   (`l7proxy run --kubernetes`), see [`inject`].
//! - `/validate`: a validating webhook for `crd.antrea.io` NetworkPolicy and
//!   ClusterNetworkPolicy that refuses what `l7proxy check` refuses, with Antrea's messages,
//!   see [`validate`].
//!
//! Both speak `admission.k8s.io/v1` AdmissionReview ([`review`]) over HTTPS ([`server`]) with
//! the certificate files the chart mounts, re-read when they change ([`tls`]). `/metrics`,
//! `/healthz` and `/readyz` are served over plain HTTP on a separate listener, as the chart
//! probes them.
//!
//! Every flag below is passed by the Helm chart (`charts/l7proxy/templates/deployment.yaml`);
//! the injected containers' flags are derived from them, so `l7proxy redirect install` and
//! `l7proxy run` in every Pod agree with the chart's values.

pub mod inject;
pub mod lookup;
pub mod metrics;
pub mod probes;
pub mod review;
pub mod routes;
pub mod server;
pub mod template;
pub mod tls;
pub mod validate;

#[cfg(test)]
mod tests;

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;

use serde_json::Value;

use crate::args::{self, CaptureArgs};
use crate::redirect::{Ipv6Mode, PortRange, config};

/// `imagePullPolicy` of the injected containers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PullPolicy {
    #[value(name = "Always")]
    Always,
    #[value(name = "IfNotPresent")]
    IfNotPresent,
    #[value(name = "Never")]
    Never,
}

impl PullPolicy {
    /// The spelling Kubernetes uses.
    pub fn as_str(self) -> &'static str {
        match self {
            PullPolicy::Always => "Always",
            PullPolicy::IfNotPresent => "IfNotPresent",
            PullPolicy::Never => "Never",
        }
    }
}

/// `l7proxy controller` arguments. Names and formats are fixed by the chart.
#[derive(Debug, Clone, clap::Args)]
pub struct ControllerArgs {
    /// HTTPS address of the admission webhooks (`/inject`, `/mutate`, `/validate`).
    /// `--webhook-listen` is accepted too (earlier charts pass it).
    #[arg(
        long,
        alias = "webhook-listen",
        default_value = "0.0.0.0:9443",
        value_name = "ADDR"
    )]
    pub webhook_addr: SocketAddr,
    /// PEM certificate chain of the webhook (re-read when the file changes).
    #[arg(long, value_name = "FILE")]
    pub tls_cert_file: PathBuf,
    /// PEM private key of the webhook certificate (re-read when the file changes).
    #[arg(long, value_name = "FILE")]
    pub tls_key_file: PathBuf,
    /// How often the certificate files are checked for a change (Secret rotation).
    #[arg(long, default_value = "10s", value_parser = parse_interval, value_name = "DURATION")]
    pub cert_reload_interval: std::time::Duration,
    /// After SIGTERM: how long to keep answering (not ready) before exiting.
    #[arg(long, default_value = "5s", value_parser = args::parse_duration, value_name = "DURATION")]
    pub drain_timeout: std::time::Duration,
    /// Plain HTTP address of `/metrics`, `/healthz` and `/readyz`, named like `l7proxy run`'s.
    /// `--metrics-listen` is accepted too (earlier charts pass it).
    #[arg(
        long,
        alias = "metrics-listen",
        default_value_t = SocketAddr::new(Ipv4Addr::UNSPECIFIED.into(), args::METRICS_PORT),
        value_name = "ADDR"
    )]
    pub metrics_addr: SocketAddr,
    /// Pod label or annotation that opts a Pod out of injection when set to `disabled`.
    #[arg(long, default_value = "l7proxy.io/inject", value_name = "KEY")]
    pub opt_out_key: String,
    /// Image of the injected init container and sidecar.
    #[arg(long, default_value = concat!("l7proxy:", env!("CARGO_PKG_VERSION")), value_name = "IMAGE")]
    pub proxy_image: String,
    /// `imagePullPolicy` of the injected containers.
    #[arg(long, value_enum, default_value_t = PullPolicy::IfNotPresent)]
    pub proxy_image_pull_policy: PullPolicy,
    /// The sidecar's listeners and mark, passed to both injected containers.
    #[command(flatten)]
    pub capture: CaptureArgs,
    /// Metrics and health port of the sidecar (`/readyz` is its readiness probe).
    #[arg(long, default_value_t = args::METRICS_PORT, value_parser = clap::value_parser!(u16).range(1..))]
    pub metrics_port: u16,
    /// UID (and GID) of the sidecar; its traffic is never captured.
    #[arg(long, default_value_t = args::PROXY_UID, value_parser = clap::value_parser!(u32).range(1..))]
    pub proxy_uid: u32,
    /// Event log directory inside the sidecar (an emptyDir volume).
    #[arg(long, default_value = args::LOG_DIR, value_parser = parse_abs_path)]
    pub log_dir: String,
    /// `RUST_LOG` of the sidecar.
    #[arg(long, default_value = "info")]
    pub proxy_log_level: String,
    /// IPv6 capture in the init container: auto, on, off.
    #[arg(long, value_enum, default_value_t = Ipv6Mode::Auto)]
    pub ipv6: Ipv6Mode,
    /// Inbound ports never captured in any Pod (the Pod's probe ports are added per Pod).
    #[arg(long, value_delimiter = ',', value_parser = parse_port_entry, value_name = "LIST")]
    pub exclude_inbound_ports: Vec<String>,
    /// Outbound destination ports never captured.
    #[arg(long, value_delimiter = ',', value_parser = parse_port_entry, value_name = "LIST")]
    pub exclude_outbound_ports: Vec<String>,
    /// Outbound destination CIDRs never captured.
    #[arg(long, value_delimiter = ',', value_parser = parse_cidr_entry, value_name = "LIST")]
    pub exclude_outbound_cidrs: Vec<String>,
    /// `resources` of the sidecar, as JSON.
    #[arg(long, default_value = "{}", value_parser = parse_resources, value_name = "JSON")]
    pub proxy_resources: Value,
    /// `resources` of the init container, as JSON.
    #[arg(long, default_value = "{}", value_parser = parse_resources, value_name = "JSON")]
    pub init_resources: Value,
}

/// Startup errors of the controller.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("webhook certificate: {0}")]
    Tls(#[from] tls::TlsError),
    #[error("cannot start the runtime: {0}")]
    Runtime(std::io::Error),
    #[error(transparent)]
    Signal(#[from] crate::signal::Error),
}

/// Entry point of `l7proxy controller`: serves until SIGTERM/SIGINT.
pub fn main(args: ControllerArgs) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(Error::Runtime)?;
    runtime.block_on(server::run(args))?;
    Ok(ExitCode::SUCCESS)
}

/// A port or range as `l7proxy redirect` accepts it; kept as written (empty entries, from
/// a trailing comma, are dropped by the user of the list).
fn parse_port_entry(s: &str) -> Result<String, String> {
    let s = s.trim();
    if !s.is_empty() {
        s.parse::<PortRange>().map_err(|e| e.to_string())?;
    }
    Ok(s.to_owned())
}

/// A CIDR or address as `l7proxy redirect` accepts it.
fn parse_cidr_entry(s: &str) -> Result<String, String> {
    let s = s.trim();
    if !s.is_empty() {
        config::parse_cidr(s).map_err(|e| e.to_string())?;
    }
    Ok(s.to_owned())
}

/// A Kubernetes `ResourceRequirements` as JSON (an object); the API server checks the rest.
fn parse_resources(s: &str) -> Result<Value, String> {
    match serde_json::from_str::<Value>(s) {
        Ok(v @ Value::Object(_)) => Ok(v),
        Ok(_) => Err("expected a JSON object such as {\"limits\":{\"memory\":\"256Mi\"}}".into()),
        Err(e) => Err(format!("not JSON: {e}")),
    }
}

/// A duration such as `10s`; zero would spin.
fn parse_interval(s: &str) -> Result<std::time::Duration, String> {
    match args::parse_duration(s).map_err(|e| e.to_string())? {
        d if d.is_zero() => Err("the interval must be positive".to_owned()),
        d => Ok(d),
    }
}

/// A mount path must be absolute.
fn parse_abs_path(s: &str) -> Result<String, String> {
    if s.starts_with('/') && s.len() > 1 {
        Ok(s.trim_end_matches('/').to_owned())
    } else {
        Err(format!("{s:?} is not an absolute directory path"))
    }
}
