//! `l7proxy check` and `l7proxy explain`.

use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::bail;
use serde::Serialize;

use super::{
    Direction, Flow, HttpRequestMeta, L4Verdict, L7Verdict, Protocol, RuleRef, Store, TlsMeta,
};
use crate::args::PodRef;
use crate::classify;

/// Validate manifests.
#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// Manifest files or directories (read recursively: *.yaml, *.yml, *.json).
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
}

/// Output format of `explain`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    Text,
    Json,
}

/// Explain the verdict for one connection.
#[derive(Debug, clap::Args)]
pub struct ExplainArgs {
    /// Manifest files or directories (repeatable).
    #[arg(long = "manifests", required = true, value_name = "PATH")]
    pub manifests: Vec<PathBuf>,
    /// The protected Pod, `NAMESPACE/NAME`.
    #[arg(long, value_name = "NS/NAME")]
    pub pod: PodRef,
    /// Ingress: the client's IP.
    #[arg(
        long,
        value_name = "IP",
        conflicts_with = "to",
        required_unless_present = "to"
    )]
    pub from: Option<IpAddr>,
    /// Egress: the server's IP.
    #[arg(long, value_name = "IP")]
    pub to: Option<IpAddr>,
    /// Destination port.
    #[arg(long)]
    pub port: u16,
    /// Layer 4 protocol: TCP, UDP or SCTP.
    #[arg(long, default_value = "TCP")]
    pub protocol: String,
    /// An HTTP request, `"METHOD URL"`; the URL is absolute (`http://host/path`) or a path.
    #[arg(long, value_name = "METHOD URL", conflicts_with = "sni")]
    pub http: Option<String>,
    /// Host header for an `--http` request whose URL is only a path.
    #[arg(long, requires = "http")]
    pub host: Option<String>,
    /// Decide `--http` as an HTTP/2 stream (h2c): the URL's authority is `:authority`
    /// (`--host` the `host` field), its path and query `:path`; refused as the proxy
    /// refuses such a stream (CONNECT, a non-canonical `:path`).
    #[arg(long, requires = "http")]
    pub http2: bool,
    /// A TLS ClientHello with this server name.
    #[arg(long)]
    pub sni: Option<String>,
    /// A TLS ClientHello without a server name.
    #[arg(long, conflicts_with_all = ["sni", "http"])]
    pub no_sni: bool,
    #[arg(long, value_enum, default_value = "text")]
    pub output: OutputFormat,
}

pub fn check(args: CheckArgs) -> anyhow::Result<ExitCode> {
    let report = check_report(&args.paths);
    print!("{}", report.stdout);
    std::io::stdout().flush().ok();
    // Errors on stderr: a script that keeps the summary (`check ... > out`) still shows them.
    eprint!("{}", report.stderr);
    Ok(report.code)
}

/// What `check` prints and its exit code (separate for tests).
#[derive(Debug)]
pub struct CheckReport {
    pub code: ExitCode,
    /// Warnings and the `ok:` summary.
    pub stdout: String,
    /// Each error and their count.
    pub stderr: String,
}

pub fn check_report(paths: &[PathBuf]) -> CheckReport {
    let mut store = Store::new();
    let result = store.add_manifests(paths);
    // Warnings (valid but not enforced here) never change the exit code.
    let warnings = store.warnings();
    let mut stdout = String::new();
    for w in &warnings {
        stdout.push_str(&format!("warning: {w}\n"));
    }
    match result {
        Ok(()) => {
            stdout.push_str(&format!("ok: {} objects valid", store.len()));
            if !warnings.is_empty() {
                stdout.push_str(&format!(", {} warning(s)", warnings.len()));
            }
            stdout.push('\n');
            CheckReport {
                code: ExitCode::SUCCESS,
                stdout,
                stderr: String::new(),
            }
        }
        Err(errors) => {
            let mut stderr = String::new();
            for e in &errors {
                stderr.push_str(&format!("error: {e}\n"));
            }
            stderr.push_str(&format!("{} error(s)\n", errors.len()));
            CheckReport {
                code: ExitCode::FAILURE,
                stdout,
                stderr,
            }
        }
    }
}

/// What `explain` found, printed as text or JSON.
#[derive(Debug, Serialize)]
pub struct Explanation {
    pub pod: String,
    pub direction: Direction,
    pub src: SocketAddr,
    pub dst: SocketAddr,
    pub protocol: Protocol,
    /// `allow`, `deny` or `inspect`.
    pub l4: &'static str,
    /// `drop` or `reject` when denied at L4.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deny_action: Option<&'static str>,
    /// The deciding rule; `None` when no rule selected the flow.
    pub rule: Option<RuleRef>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub l7: Option<L7Explanation>,
    /// `allow`, `deny`, or `depends-on-l7` when an L7 rule decides and no request was given.
    pub verdict: &'static str,
    /// Valid constructs of the loaded manifests that l7proxy does not enforce (a
    /// Service-applied policy): the verdict above ignores them, as the proxy does.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct L7Explanation {
    /// `http` or `tls`, or the protocols the rule admits when no request was given.
    pub protocol: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allowed: Option<bool>,
    pub detail: String,
}

pub fn explain(args: ExplainArgs) -> anyhow::Result<ExitCode> {
    let e = explain_flow(&args)?;
    match args.output {
        OutputFormat::Json => println!("{}", serde_json::to_string_pretty(&e)?),
        OutputFormat::Text => print!("{}", render(&e)),
    }
    Ok(ExitCode::SUCCESS)
}

/// A request as `explain --http` describes it: method, host as matched, path as matched.
type HttpSpec = (String, Option<String>, String);

/// Splits `"METHOD URL"` into method, host (absolute URL or `--host`) and path, checked
/// as the proxy checks a request line. The inner `Err` is the reason the proxy would
/// refuse the request before matching it (e.g. "path has a dot-segment").
fn parse_http(
    spec: &str,
    host: Option<&str>,
    http2: bool,
) -> anyhow::Result<Result<HttpSpec, classify::ParseError>> {
    let mut parts = spec.split_whitespace();
    let (Some(method), Some(url), None) = (parts.next(), parts.next(), parts.next()) else {
        bail!("--http takes \"METHOD URL\", e.g. \"GET http://foo.bar.com/api/v2/x\"");
    };
    if http2 {
        return Ok(parse_http2(method, url, host));
    }
    let checked = || -> Result<HttpSpec, classify::ParseError> {
        if method == "CONNECT" {
            let host = classify::authority_host(url)?.into_owned();
            return Ok((method.to_owned(), Some(host), String::new()));
        }
        let path = classify::canonical_path(url)?.to_owned();
        let authority = url.split_once("://").map(|(_, rest)| {
            let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
            &rest[..end]
        });
        let host = match authority.or(host) {
            Some(h) => Some(classify::authority_host(h)?.into_owned()),
            None => None,
        };
        Ok((method.to_owned(), host, path))
    };
    Ok(checked())
}

/// [`parse_http`] for an HTTP/2 stream: the head the proxy builds from the stream's
/// pseudo-header fields ([`classify::h2_request`]).
fn parse_http2(
    method: &str,
    url: &str,
    host: Option<&str>,
) -> Result<HttpSpec, classify::ParseError> {
    let (authority, path) = match url.split_once("://") {
        Some((_, rest)) => {
            let end = rest.find(['/', '?']).unwrap_or(rest.len());
            let path = match &rest[end..] {
                "" => "/",
                p if p.starts_with('?') => return Err(classify::ParseError::InvalidTarget),
                p => p,
            };
            (Some(&rest[..end]), path)
        }
        None => (None, url),
    };
    let fields: Vec<(&str, &[u8])> = host.map(|h| ("host", h.as_bytes())).into_iter().collect();
    let head = classify::h2_request(&classify::H2Request {
        method,
        authority,
        path: (method != "CONNECT").then_some(path),
        fields: &fields,
    })?;
    Ok((head.method, head.host, head.path))
}

pub fn explain_flow(args: &ExplainArgs) -> anyhow::Result<Explanation> {
    let PodRef {
        namespace: ns,
        name,
    } = &args.pod;
    let protocol = match args.protocol.to_ascii_uppercase().as_str() {
        "TCP" => Protocol::Tcp,
        "UDP" => Protocol::Udp,
        "SCTP" => Protocol::Sctp,
        other => bail!("--protocol {other}: must be TCP, UDP or SCTP"),
    };
    let store = Store::load_manifests(&args.manifests).map_err(|errors| {
        let list: Vec<String> = errors.iter().map(ToString::to_string).collect();
        anyhow::anyhow!("invalid manifests:\n{}", list.join("\n"))
    })?;
    let snapshot = store.compile(ns, name, 0)?;
    let (direction, peer, flag) = match (args.from, args.to) {
        (Some(from), _) => (Direction::Ingress, from, "--from"),
        (None, Some(to)) => (Direction::Egress, to, "--to"),
        (None, None) => bail!("one of --from or --to is required"),
    };
    let pod_ip = pod_address(&store.pod_ips(ns, name), peer, flag, &args.pod)?;
    let (src, dst) = match direction {
        Direction::Ingress => (
            SocketAddr::new(peer, 40000),
            SocketAddr::new(pod_ip, args.port),
        ),
        Direction::Egress => (
            SocketAddr::new(pod_ip, 40000),
            SocketAddr::new(peer, args.port),
        ),
    };
    let flow = Flow {
        direction,
        src,
        dst,
        protocol,
    };
    let mut e = Explanation {
        pod: snapshot.pod().to_owned(),
        direction,
        src,
        dst,
        protocol,
        l4: "allow",
        deny_action: None,
        rule: None,
        l7: None,
        verdict: "allow",
        warnings: store.warnings().iter().map(ToString::to_string).collect(),
    };
    match snapshot.decide(&flow) {
        L4Verdict::Allow(rule) => e.rule = rule.as_deref().cloned(),
        L4Verdict::Deny { rule, action } => {
            e.l4 = "deny";
            e.verdict = "deny";
            e.deny_action = Some(match action {
                super::DenyAction::Drop => "drop",
                super::DenyAction::Reject => "reject",
            });
            e.rule = Some(RuleRef::clone(&rule));
        }
        L4Verdict::Inspect { rule, l7 } => {
            e.l4 = "inspect";
            e.rule = Some(RuleRef::clone(&rule));
            let verdict = |protocol: &str, v: L7Verdict| L7Explanation {
                protocol: protocol.to_owned(),
                allowed: Some(v.allowed),
                detail: v.detail,
            };
            let l7e = if let Some(spec) = &args.http {
                match parse_http(spec, args.host.as_deref(), args.http2)? {
                    Ok((method, host, path)) => {
                        let req = HttpRequestMeta {
                            method: &method,
                            host: host.as_deref(),
                            path: &path,
                        };
                        verdict("http", snapshot.check_http(l7, &req))
                    }
                    Err(refused) => verdict(
                        "http",
                        L7Verdict {
                            allowed: false,
                            detail: refused.to_string(),
                        },
                    ),
                }
            } else if args.sni.is_some() || args.no_sni {
                let hello = TlsMeta {
                    sni: args.sni.as_deref(),
                };
                verdict("tls", snapshot.check_tls(l7, &hello))
            } else {
                let wants = snapshot.l7_wants(l7);
                let names: Vec<&str> = [("http", wants.http), ("tls", wants.tls)]
                    .iter()
                    .filter(|(_, w)| *w)
                    .map(|(n, _)| *n)
                    .collect();
                L7Explanation {
                    protocol: names.join(","),
                    allowed: None,
                    detail: format!(
                        "layer 7 rule: allowed only if the first request matches its l7Protocols ({}); pass --http, --sni or --no-sni",
                        names.join(" or ")
                    ),
                }
            };
            e.verdict = match l7e.allowed {
                Some(true) => "allow",
                Some(false) => "deny",
                None => "depends-on-l7",
            };
            e.l7 = Some(l7e);
        }
    }
    Ok(e)
}

/// The protected Pod's address of the peer's family. A connection never mixes IPv4 and
/// IPv6, so when the Pod only has addresses of the other family the question has no answer
/// the proxy could ever give: an error, not a flow from an IPv6 client to an IPv4 Pod.
/// A Pod without addresses (no status yet) gets the unspecified address of the peer's
/// family, for display.
fn pod_address(ips: &[IpAddr], peer: IpAddr, flag: &str, pod: &PodRef) -> anyhow::Result<IpAddr> {
    if let Some(ip) = ips.iter().find(|ip| ip.is_ipv4() == peer.is_ipv4()) {
        return Ok(*ip);
    }
    if ips.is_empty() {
        return Ok(match peer {
            IpAddr::V4(_) => Ipv4Addr::UNSPECIFIED.into(),
            IpAddr::V6(_) => Ipv6Addr::UNSPECIFIED.into(),
        });
    }
    let (family, other) = if peer.is_ipv4() {
        ("IPv4", "IPv6")
    } else {
        ("IPv6", "IPv4")
    };
    let list: Vec<String> = ips.iter().map(ToString::to_string).collect();
    bail!(
        "{flag} {peer} is {family} but Pod {pod} has only {other} addresses ({}): give an {other} address",
        list.join(", ")
    )
}

/// Human-readable form of an [`Explanation`].
pub fn render(e: &Explanation) -> String {
    let dir = match e.direction {
        Direction::Ingress => "ingress",
        Direction::Egress => "egress",
    };
    let mut out = format!(
        "pod:     {}\nflow:    {dir} {} {} -> {}\n",
        e.pod,
        e.protocol.as_str(),
        e.src,
        e.dst
    );
    match &e.rule {
        Some(r) => {
            if !r.tier.is_empty() {
                out.push_str(&format!("tier:    {}\n", r.tier));
            }
            out.push_str(&format!(
                "policy:  {} (priority {})\nrule:    {}\n",
                r.policy_ref(),
                r.priority,
                r.rule
            ));
        }
        None => out.push_str("rule:    none (no policy rule selects this flow: default allow)\n"),
    }
    out.push_str(&format!("l4:      {}", e.l4));
    if let Some(a) = e.deny_action {
        out.push_str(&format!(" ({a})"));
    }
    out.push('\n');
    if let Some(l7) = &e.l7 {
        out.push_str(&format!("l7:      {}: {}\n", l7.protocol, l7.detail));
    }
    out.push_str(&format!("verdict: {}\n", e.verdict));
    for w in &e.warnings {
        out.push_str(&format!("warning: {w}\n"));
    }
    out
}
