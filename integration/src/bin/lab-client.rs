//! `lab-client`: probes curl cannot make. Prints one JSON line (see `clients::Outcome`):
//! `{"result":"allowed"|"reset"|"timeout"|"closed"|"refused"|"corrupt"|"error", ...}`.
//!
//! Examples:
//! `lab-client tls --connect 10.77.0.10:443 --sni foo.bar.com --split-segments 100 --pause-ms 300`
//! `lab-client http --connect 10.77.0.10:80 --req "GET /a foo.bar.com" --req "GET /b foo.bar.com" --pipeline`

use std::net::{IpAddr, SocketAddr};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use l7proxy_integration::clients::http::{HttpRequest, exchange};
use l7proxy_integration::clients::tls::{HelloWrite, TlsProbe, probe};
use l7proxy_integration::clients::{Outcome, Target, bulk, raw, upload};

#[derive(Parser)]
#[command(about = "Probe clients for the l7proxy lab")]
struct Cli {
    #[command(subcommand)]
    mode: Mode,
}

#[derive(Args)]
struct Common {
    /// Server address (`10.77.0.10:80`, `[fd77::10]:80`).
    #[arg(long)]
    connect: SocketAddr,
    /// Source address to bind.
    #[arg(long)]
    bind: Option<IpAddr>,
    /// Connect/read/write timeout.
    #[arg(long, default_value_t = 5000)]
    timeout_ms: u64,
}

#[derive(Subcommand)]
enum Mode {
    /// TLS handshake (rustls, post-quantum key share), then HTTP requests inside.
    Tls {
        #[command(flatten)]
        common: Common,
        /// Server name to send; omit for no SNI.
        #[arg(long)]
        sni: Option<String>,
        /// Write the first N bytes of the hello, pause, then the rest.
        #[arg(long, conflicts_with = "split_records")]
        split_segments: Option<usize>,
        #[arg(long, default_value_t = 300)]
        pause_ms: u64,
        /// Re-frame the hello as two TLS records split at byte N of the handshake message.
        #[arg(long)]
        split_records: Option<usize>,
        /// Pad the hello to at least N bytes.
        #[arg(long, default_value_t = 0)]
        min_hello: usize,
        /// Offer TLS 1.2 only.
        #[arg(long)]
        tls12: bool,
        /// "METHOD PATH HOST"; default `GET / <sni>`.
        #[arg(long)]
        req: Vec<String>,
    },
    /// HTTP/1.1 requests on one connection.
    Http {
        #[command(flatten)]
        common: Common,
        /// "METHOD PATH HOST", repeatable.
        #[arg(long, required = true)]
        req: Vec<String>,
        /// Write all requests at once before reading.
        #[arg(long)]
        pipeline: bool,
        /// Add an `X-Pad` header of N bytes to every request.
        #[arg(long, default_value_t = 0)]
        pad_header: usize,
    },
    /// Write raw bytes and wait for anything back (echo server).
    Raw {
        #[command(flatten)]
        common: Common,
        #[arg(long)]
        send: String,
    },
    /// Download N bytes from the bulk server and verify them.
    Bulk {
        #[command(flatten)]
        common: Common,
        #[arg(long)]
        bytes: u64,
        /// Send the bytes to the server instead (it verifies them).
        #[arg(long)]
        upload: bool,
    },
}

fn target(c: &Common) -> Target {
    Target {
        addr: c.connect,
        bind: c.bind,
        timeout: Duration::from_millis(c.timeout_ms),
    }
}

fn requests(specs: &[String], default_host: &str) -> Result<Vec<HttpRequest>, String> {
    if specs.is_empty() {
        return HttpRequest::parse(&format!("GET / {default_host}")).map(|r| vec![r]);
    }
    specs.iter().map(|s| HttpRequest::parse(s)).collect()
}

fn run(mode: Mode) -> Result<Outcome, String> {
    Ok(match mode {
        Mode::Tls {
            common,
            sni,
            split_segments,
            pause_ms,
            split_records,
            min_hello,
            tls12,
            req,
        } => {
            let t = target(&common);
            let host = sni.clone().unwrap_or_else(|| t.addr.ip().to_string());
            let write = match (split_segments, split_records) {
                (Some(at), _) => HelloWrite::Segments {
                    at,
                    pause: Duration::from_millis(pause_ms),
                },
                (None, Some(at)) => HelloWrite::Records { at },
                (None, None) => HelloWrite::Whole,
            };
            let p = TlsProbe {
                sni,
                write,
                min_hello,
                tls12_only: tls12,
                requests: requests(&req, &host)?,
            };
            probe(&t, &p)
        }
        Mode::Http {
            common,
            req,
            pipeline,
            pad_header,
        } => {
            let t = target(&common);
            let mut reqs = requests(&req, "")?;
            reqs.iter_mut().for_each(|r| r.pad = pad_header);
            match t.connect() {
                Ok(mut s) => exchange(&mut s, &reqs, pipeline),
                Err(e) => Outcome::from_error(&e),
            }
        }
        Mode::Raw { common, send } => raw(&target(&common), send.as_bytes()),
        Mode::Bulk {
            common,
            bytes,
            upload: true,
        } => upload(&target(&common), bytes),
        Mode::Bulk { common, bytes, .. } => bulk(&target(&common), bytes),
    })
}

fn main() -> ExitCode {
    match run(Cli::parse().mode) {
        Ok(outcome) => match serde_json::to_string(&outcome) {
            Ok(line) => {
                println!("{line}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("lab-client: {e}");
                ExitCode::FAILURE
            }
        },
        Err(e) => {
            eprintln!("lab-client: {e}");
            ExitCode::from(2)
        }
    }
}
