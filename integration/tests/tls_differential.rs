//! TLS parser differentials against a real OpenSSL server (Debian python3's `ssl`): what
//! the proxy decided on must be what the server acted on.
//!
//! - HelloRetryRequest: the server accepts only P-256, so a first hello with an x25519 key
//!   share only gets a retry; a second hello naming `evil.com` must never reach it.
//! - Record framing: a valid hello followed by plaintext must never reach a line-protocol
//!   server on a `tls: {}` port.
//!
//! Each attack first runs without the proxy (the control: the server's log shows it
//! worked), then through it, where the verdict is read in the server's log; the client
//! must see a reset and the EVE log an alert. Legitimate clients (a retried handshake,
//! TLS 1.2 and 1.3, a client writing one byte at a time) must still get their answer.
//!
//! Run as root: `cargo build -p l7proxy && cargo test -p l7proxy-integration --test
//! tls_differential -- --nocapture`. Needs Debian's `python3` and `openssl`.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use l7proxy_integration::clients::Verdict;
use l7proxy_integration::lab::Lab;
use l7proxy_integration::pods::{self, Family};
use l7proxy_integration::policy::web_policy;
use l7proxy_integration::realservers::PYTHON;
use l7proxy_integration::{ChildGuard, require_root, workspace_dir};
use serde_json::Value;

const PREFIX: &str = "l7t-tlsd";
const TLS_PORT: u16 = 8443;
const LINE_PORT: u16 = 8444;
const ALLOWED: &str = "allowed.example";
const EVIL: &str = "evil.com";

/// Ingress of the web Pod: TLS on 8443 only for allowed.example, any TLS on 8444.
fn policy() -> String {
    const INGRESS: &str = r#"  - name: tls-allowed-sni
    action: Allow
    ports: [{protocol: TCP, port: 8443}]
    l7Protocols: [{tls: {sni: allowed.example}}]
  - name: tls-any
    action: Allow
    ports: [{protocol: TCP, port: 8444}]
    l7Protocols: [{tls: {}}]
"#;
    web_policy("tls-differential", &[INGRESS], &[])
}

/// `random` of a HelloRetryRequest (RFC 8446 4.1.3).
const HRR_RANDOM: [u8; 32] = [
    0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11, 0xbe, 0x1d, 0x8c, 0x02, 0x1e, 0x65, 0xb8, 0x91,
    0xc2, 0xa2, 0x11, 0x16, 0x7a, 0xbb, 0x8c, 0x5e, 0x07, 0x9e, 0x09, 0xe2, 0xc8, 0xa8, 0x33, 0x9c,
];
/// The P-256 generator in uncompressed form: a valid point, enough for the server to go on
/// (its SNI callback runs before the key exchange anyway).
const P256_G: [u8; 65] = [
    0x04, 0x6b, 0x17, 0xd1, 0xf2, 0xe1, 0x2c, 0x42, 0x47, 0xf8, 0xbc, 0xe6, 0xe5, 0x63, 0xa4, 0x40,
    0xf2, 0x77, 0x03, 0x7d, 0x81, 0x2d, 0xeb, 0x33, 0xa0, 0xf4, 0xa1, 0x39, 0x45, 0xd8, 0x98, 0xc2,
    0x96, 0x4f, 0xe3, 0x42, 0xe2, 0xfe, 0x1a, 0x7f, 0x9b, 0x8e, 0xe7, 0xeb, 0x4a, 0x7c, 0x0f, 0x9e,
    0x16, 0x2b, 0xce, 0x33, 0x57, 0x6b, 0x31, 0x5e, 0xce, 0xcb, 0xb6, 0x40, 0x68, 0x37, 0xbf, 0x51,
    0xf5,
];
const GROUP_X25519: u16 = 0x001d;
const GROUP_P256: u16 = 0x0017;

/// The OpenSSL server of `tls_sni_server.py` in `web`; stopped on drop.
struct Server {
    log: PathBuf,
    _guard: ChildGuard,
}

impl Server {
    fn start(lab: &Lab) -> Server {
        let dir = lab.dir();
        let (cert, key) = (dir.join("tls-cert.pem"), dir.join("tls-key.pem"));
        let out = std::process::Command::new("openssl")
            .args(["req", "-x509", "-newkey", "ec", "-pkeyopt"])
            .args(["ec_paramgen_curve:P-256", "-nodes", "-days", "2"])
            .args(["-subj", "/CN=allowed.example", "-keyout"])
            .arg(&key)
            .arg("-out")
            .arg(&cert)
            .output()
            .expect("run openssl req");
        assert!(out.status.success(), "{out:?}");
        let log = dir.join("tls-server.log");
        let mut cmd = lab.web.command(PYTHON);
        cmd.arg(script("tls_sni_server.py"))
            .args([TLS_PORT.to_string(), LINE_PORT.to_string()])
            .args([&cert, &key, &log])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("tls-server.stderr")).unwrap());
        let guard = lab.web.spawn(cmd).expect("start the TLS server");
        let ip = web_ip();
        for port in [TLS_PORT, LINE_PORT] {
            lab.web
                .wait_tcp_listen(ip, port, Duration::from_secs(10))
                .expect("TLS server listens");
        }
        Server { log, _guard: guard }
    }

    /// Every line the server logged so far.
    fn all(&self) -> Vec<String> {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        text.lines().map(str::to_string).collect()
    }

    /// What `run` made the server log. Lines are told apart by when they came, not by the
    /// client port they name: through the proxy the server sees the proxy's source port.
    fn during<T>(&self, run: impl FnOnce() -> T) -> (T, Vec<String>) {
        let before = self.all().len();
        let out = run();
        // The server logs as it reads; give it a moment.
        std::thread::sleep(Duration::from_millis(300));
        (out, self.all().split_off(before))
    }
}

fn script(name: &str) -> PathBuf {
    workspace_dir()
        .join("integration/realservers/python")
        .join(name)
}

fn web_ip() -> std::net::IpAddr {
    pods::endpoint("web").unwrap().ip(Family::V4)
}

fn u16b(v: usize) -> [u8; 2] {
    (v as u16).to_be_bytes()
}

fn ext(out: &mut Vec<u8>, typ: u16, data: &[u8]) {
    out.extend_from_slice(&typ.to_be_bytes());
    out.extend_from_slice(&u16b(data.len()));
    out.extend_from_slice(data);
}

/// A TLS 1.3 ClientHello record naming `sni`, offering x25519 and P-256 and one key share
/// (`group`, `share`).
fn client_hello(sni: &str, group: u16, share: &[u8]) -> Vec<u8> {
    let mut exts = Vec::new();
    let name = sni.as_bytes();
    let mut sn = u16b(name.len() + 3).to_vec();
    sn.push(0);
    sn.extend_from_slice(&u16b(name.len()));
    sn.extend_from_slice(name);
    ext(&mut exts, 0, &sn);
    ext(&mut exts, 10, &[0, 4, 0x00, 0x1d, 0x00, 0x17]);
    let sigs: [u16; 8] = [
        0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601,
    ];
    let mut sa = u16b(sigs.len() * 2).to_vec();
    sigs.iter()
        .for_each(|s| sa.extend_from_slice(&s.to_be_bytes()));
    ext(&mut exts, 13, &sa);
    ext(&mut exts, 43, &[2, 3, 4]);
    ext(&mut exts, 45, &[1, 1]);
    let mut ks = u16b(share.len() + 4).to_vec();
    ks.extend_from_slice(&group.to_be_bytes());
    ks.extend_from_slice(&u16b(share.len()));
    ks.extend_from_slice(share);
    ext(&mut exts, 51, &ks);
    let mut body = vec![3, 3];
    body.extend_from_slice(&[0x42; 32]);
    body.push(32);
    body.extend_from_slice(&[0x5a; 32]);
    body.extend_from_slice(&[0, 6, 0x13, 0x01, 0x13, 0x02, 0x13, 0x03, 1, 0]);
    body.extend_from_slice(&u16b(exts.len()));
    body.extend_from_slice(&exts);
    let mut msg = vec![1];
    msg.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
    msg.extend_from_slice(&body);
    let mut rec = vec![22, 3, 1];
    rec.extend_from_slice(&u16b(msg.len()));
    rec.extend_from_slice(&msg);
    rec
}

/// What one raw client connection saw.
#[derive(Debug)]
struct Seen {
    port: u16,
    /// The server asked for a retry.
    retry: bool,
    verdict: Verdict,
}

/// Read until the first record is complete; `None` when the connection ended first.
fn first_record(s: &mut TcpStream) -> Option<Vec<u8>> {
    let mut got = Vec::new();
    let mut b = [0u8; 4096];
    loop {
        if got.len() >= 5 {
            let len = usize::from(u16::from_be_bytes([got[3], got[4]]));
            if got.len() >= 5 + len {
                return Some(got);
            }
        }
        match s.read(&mut b) {
            Ok(n) if n > 0 => got.extend_from_slice(&b[..n]),
            _ => return None,
        }
    }
}

/// Finding 3: hello 1 names the allowed server with an x25519 share only; on the retry,
/// a CCS and hello 2 naming `evil.com` with a P-256 share.
fn retry_attack(lab: &Lab) -> Seen {
    let mut s = support::connect(lab, TLS_PORT);
    let port = support::local_port(&s);
    let _ = s.write_all(&client_hello(ALLOWED, GROUP_X25519, &[0x33; 32]));
    let retry = first_record(&mut s).is_some_and(|r| r.len() >= 43 && r[11..43] == HRR_RANDOM);
    if retry {
        let mut second = vec![20, 3, 3, 0, 1, 1];
        second.extend_from_slice(&client_hello(EVIL, GROUP_P256, &P256_G));
        let _ = s.write_all(&second);
    }
    let (verdict, _) = support::finish(&mut s, Duration::from_secs(3));
    Seen {
        port,
        retry,
        verdict,
    }
}

/// Finding 6: a valid hello, then a plaintext request, to the line server.
fn plaintext_attack(lab: &Lab) -> Seen {
    let mut s = support::connect(lab, LINE_PORT);
    let port = support::local_port(&s);
    let _ = s.write_all(&client_hello(ALLOWED, GROUP_X25519, &[0x33; 32]));
    std::thread::sleep(Duration::from_millis(200));
    let _ = s.write_all(b"GET /admin HTTP/1.1\r\n\r\n");
    let (verdict, _) = support::finish(&mut s, Duration::from_secs(3));
    Seen {
        port,
        retry: false,
        verdict,
    }
}

/// A real client from the client Pod: `tls_client.py` (`mode`: tls13, tls12, trickle).
/// Returns its source port and its last line (`ok <version> <reply>` or `error ...`).
fn python_client(lab: &Lab, mode: &str) -> (u16, String) {
    let out = lab
        .client
        .exec(
            PYTHON,
            &[
                script("tls_client.py").display().to_string(),
                web_ip().to_string(),
                TLS_PORT.to_string(),
                ALLOWED.to_string(),
                mode.to_string(),
            ],
        )
        .expect("run tls_client.py");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let port = text
        .lines()
        .find_map(|l| l.strip_prefix("port ")?.parse().ok())
        .unwrap_or(0);
    let last = text.lines().last().unwrap_or_default().to_string();
    (port, last)
}

/// `openssl s_client` from the client Pod (`-tls1_2` or `-tls1_3`), sending one line;
/// returns what it printed.
fn s_client(lab: &Lab, version: &str) -> String {
    let cmd = format!(
        "echo {version} | timeout 10 openssl s_client -quiet -connect {}:{TLS_PORT} \
         -servername {ALLOWED} {version} 2>&1",
        web_ip()
    );
    let out = lab.client.exec("sh", &["-c", &cmd]).expect("run s_client");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The alert of the connection from `port`, waiting a little for the event writer.
fn alert(lab: &Lab, port: u16) -> Option<Value> {
    support::event_for(lab, port, "alert", Duration::from_secs(5))
}

/// What the control or proxied run of the attacks found.
struct Attacks {
    retry: Seen,
    retry_log: Vec<String>,
    plain: Seen,
    plain_log: Vec<String>,
}

fn attacks(lab: &Lab, server: &Server) -> Attacks {
    let (retry, retry_log) = server.during(|| retry_attack(lab));
    let (plain, plain_log) = server.during(|| plaintext_attack(lab));
    Attacks {
        retry,
        retry_log,
        plain,
        plain_log,
    }
}

fn saw(log: &[String], what: &str) -> bool {
    log.iter().any(|l| l.contains(what))
}

/// Every legitimate client gets its echo; the retried one shows two SNI callbacks.
fn legitimate(lab: &Lab, server: &Server, failures: &mut Vec<String>, run: &str) {
    let ((_, hrr), log) = server.during(|| python_client(lab, "tls13"));
    let sni_calls = log.iter().filter(|l| l.starts_with("sni ")).count();
    eprintln!("{run}: b. retried TLS 1.3 handshake: {hrr} (SNI callbacks: {sni_calls})");
    if !hrr.starts_with("ok TLSv1.3 echo hello tls13") {
        failures.push(format!("{run}: b. retried handshake failed: {hrr}"));
    }
    if sni_calls != 2 {
        failures.push(format!(
            "{run}: b. expected a HelloRetryRequest (2 SNI callbacks), saw {sni_calls}"
        ));
    }
    let (_, tls12) = python_client(lab, "tls12");
    eprintln!("{run}: d. python TLS 1.2: {tls12}");
    if !tls12.starts_with("ok TLSv1.2 echo hello tls12") {
        failures.push(format!("{run}: d. python TLS 1.2 failed: {tls12}"));
    }
    for version in ["-tls1_2", "-tls1_3"] {
        let out = s_client(lab, version);
        let ok = out.contains(&format!("echo {version}"));
        eprintln!(
            "{run}: d. openssl s_client {version}: {}",
            if ok { "echo" } else { "FAILED" }
        );
        if !ok {
            failures.push(format!("{run}: d. s_client {version}: {out}"));
        }
    }
    let (_, trickle) = python_client(lab, "trickle");
    eprintln!("{run}: e. one byte per write: {trickle}");
    if !trickle.starts_with("ok TLSv1.3 echo hello trickle") {
        failures.push(format!("{run}: e. byte-by-byte client failed: {trickle}"));
    }
}

#[test]
fn tls_retry_and_framing_never_reach_the_server() {
    if !require_root() {
        return;
    }
    if !Path::new(PYTHON).exists() {
        assert!(std::env::var_os("CI").is_none(), "{PYTHON} missing");
        eprintln!("SKIPPED: {PYTHON} missing");
        return;
    }
    let mut lab = Lab::new(PREFIX).expect("lab");
    let server = Server::start(&lab);
    let mut failures = Vec::new();

    // Control: no proxy. Both attacks must work, or their proxied runs prove nothing.
    let c = attacks(&lab, &server);
    eprintln!(
        "control: a. retry attack: retry={} client={:?} server saw evil.com: {}",
        c.retry.retry,
        c.retry.verdict,
        saw(&c.retry_log, EVIL)
    );
    eprintln!(
        "control: c. plaintext after hello: client={:?} server saw GET /admin: {}",
        c.plain.verdict,
        saw(&c.plain_log, "GET /admin")
    );
    if !c.retry.retry || !saw(&c.retry_log, &format!(" {EVIL}")) {
        failures.push(format!(
            "control: the retry attack does not work without the proxy: {:?} {:?}",
            c.retry, c.retry_log
        ));
    }
    if !saw(&c.plain_log, "GET /admin HTTP/1.1") {
        failures.push(format!(
            "control: the plaintext attack does not work without the proxy: {:?}",
            c.plain_log
        ));
    }
    legitimate(&lab, &server, &mut failures, "control");

    lab.add_manifest("tls-differential.yaml", &policy())
        .unwrap();
    lab.start_proxy_with(&[], &["--classify-timeout".into(), "2s".into()])
        .expect("proxy starts");
    let p = attacks(&lab, &server);
    let a_alert = alert(&lab, p.retry.port);
    let c_alert = alert(&lab, p.plain.port);
    let reason = |a: &Option<Value>| {
        a.as_ref()
            .and_then(|e| e["reason"].as_str())
            .unwrap_or("-")
            .to_string()
    };
    eprintln!(
        "proxy:   a. retry attack: retry={} client={:?} server saw evil.com: {} alert: {} (sni {})",
        p.retry.retry,
        p.retry.verdict,
        saw(&p.retry_log, EVIL),
        reason(&a_alert),
        a_alert
            .as_ref()
            .map_or(Value::Null, |e| e["tls"]["sni"].clone())
    );
    eprintln!(
        "proxy:   c. plaintext after hello: client={:?} server saw GET /admin: {} alert: {}",
        p.plain.verdict,
        saw(&p.plain_log, "GET /admin"),
        reason(&c_alert)
    );
    if saw(&p.retry_log, EVIL) {
        failures.push(format!(
            "proxy: a. the server saw evil.com: {:?}",
            p.retry_log
        ));
    }
    if !p.retry.retry {
        failures.push("proxy: a. no HelloRetryRequest reached the client".into());
    }
    if p.retry.verdict != Verdict::Reset {
        failures.push(format!(
            "proxy: a. client saw {:?}, not a reset",
            p.retry.verdict
        ));
    }
    match &a_alert {
        Some(e) if e["tls"]["sni"] == EVIL && e["policy"]["rule"] == "tls-allowed-sni" => {}
        other => failures.push(format!(
            "proxy: a. alert without the rule and tls.sni evil.com: {other:?}"
        )),
    }
    if saw(&p.plain_log, "GET /admin") {
        failures.push(format!(
            "proxy: c. the server saw GET /admin: {:?}",
            p.plain_log
        ));
    }
    if p.plain.verdict != Verdict::Reset {
        failures.push(format!(
            "proxy: c. client saw {:?}, not a reset",
            p.plain.verdict
        ));
    }
    if !reason(&c_alert).contains("record framing") {
        failures.push(format!(
            "proxy: c. alert does not name the framing: {c_alert:?}"
        ));
    }
    legitimate(&lab, &server, &mut failures, "proxy");
    let t0 = Instant::now();
    while support::active_connections(&lab) != Some(0) && t0.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(100));
    }
    if support::active_connections(&lab) != Some(0) {
        failures.push("proxy: connections left active".into());
    }
    if !lab.proxy_running() {
        failures.push("the proxy died".into());
    }
    assert!(
        failures.is_empty(),
        "{} failure(s):\n{}\nproxy log:\n{}",
        failures.len(),
        failures.join("\n"),
        lab.proxy_log()
    );
}
