//! `lab-server`: the real servers of the l7proxy lab, several kinds in one process.
//!
//! `lab-server --log requests.jsonl --http 0.0.0.0:80 --http [::]:80 --https 0.0.0.0:443
//!  --echo 0.0.0.0:7 --bulk 0.0.0.0:9000`

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use l7proxy_integration::servers::{self, http, log::RequestLog, tcp, tls};

#[derive(Parser)]
#[command(about = "Real HTTP/HTTPS/echo/bulk servers for the l7proxy lab")]
struct Args {
    /// Append one JSON line per request here (stdout when absent).
    #[arg(long)]
    log: Option<PathBuf>,
    /// HTTP/1.1 keep-alive server addresses.
    #[arg(long)]
    http: Vec<SocketAddr>,
    /// HTTPS (TLS 1.2/1.3) server addresses.
    #[arg(long)]
    https: Vec<SocketAddr>,
    /// TCP echo server addresses.
    #[arg(long)]
    echo: Vec<SocketAddr>,
    /// Bulk sender addresses (client sends "<bytes>\n").
    #[arg(long)]
    bulk: Vec<SocketAddr>,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args = Args::parse();
    let log = match RequestLog::open(args.log.as_deref()) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("lab-server: cannot open log: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut tasks = tokio::task::JoinSet::new();
    let kinds = [
        ("http", &args.http),
        ("https", &args.https),
        ("echo", &args.echo),
        ("bulk", &args.bulk),
    ];
    for (kind, addrs) in kinds {
        for &addr in addrs {
            let listener = match servers::listen(addr) {
                Ok(l) => l,
                Err(e) => {
                    eprintln!("lab-server: cannot listen on {addr} ({kind}): {e}");
                    return ExitCode::FAILURE;
                }
            };
            let log = log.clone();
            match kind {
                "http" => tasks.spawn(http::serve(listener, log)),
                "https" => tasks.spawn(tls::serve(listener, log)),
                "echo" => tasks.spawn(tcp::serve_echo(listener, log)),
                _ => tasks.spawn(tcp::serve_bulk(listener, log)),
            };
            eprintln!("lab-server: {kind} on {addr}");
        }
    }
    if tasks.is_empty() {
        eprintln!("lab-server: nothing to serve (give --http/--https/--echo/--bulk)");
        return ExitCode::FAILURE;
    }
    while let Some(res) = tasks.join_next().await {
        if let Ok(Err(e)) = res {
            eprintln!("lab-server: listener failed: {e}");
            return ExitCode::FAILURE;
        }
    }
    ExitCode::SUCCESS
}
