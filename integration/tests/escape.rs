//! Connection-level escapes past the proxy, end to end in the netns lab: allowed bytes
//! lost when a side resets, ports that would reach an app without a policy decision, and
//! file-descriptor exhaustion before `--max-connections`.
//!
//! Run as root: `cargo test -p l7proxy-integration --test escape`.

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use l7proxy_integration::clients::{Outcome, Verdict};
use l7proxy_integration::escape::{
    app_on_pod_ip, holding_server, ip, probe, resetting_server, server_log, slow_read,
};
use l7proxy_integration::lab::Lab;
use l7proxy_integration::pods::Family;
use l7proxy_integration::policy::web_policy;
use l7proxy_integration::require_root;
use socket2::{Domain, Socket, Type};

/// Ingress of `web`: only the `app=client` Pod, on an L4 port (9100), an HTTP port (8090)
/// and the proxy's inbound listener port (15006, an ordinary port on the Pod IP); anything
/// else from anyone is dropped (reset).
fn policy() -> String {
    const INGRESS: &str = r#"  - name: l4-from-client
    action: Allow
    from: [{podSelector: {matchLabels: {app: client}}}]
    ports: [{protocol: TCP, port: 9100}, {protocol: TCP, port: 15006}]
  - name: http-from-client
    action: Allow
    from: [{podSelector: {matchLabels: {app: client}}}]
    ports: [{protocol: TCP, port: 8090}]
    l7Protocols: [{http: {}}]
  - name: drop-the-rest
    action: Drop
"#;
    web_policy("escape", &[INGRESS], &[])
}

const PREFIX: &str = "l7t-esc";
const L4_PORT: u16 = 9100;
const HTTP_PORT: u16 = 8090;
/// What the resetting server writes before its reset.
const RESPONSE_LEN: u64 = 4_000_000;

fn lab(run_args: &[&str]) -> Lab {
    let mut lab = Lab::new(PREFIX).expect("lab");
    lab.add_manifest("escape.yaml", &policy()).unwrap();
    let args: Vec<String> = run_args.iter().map(|s| s.to_string()).collect();
    lab.start_proxy_with(&[], &args).expect("proxy starts");
    lab
}

#[test]
fn l4_reset_after_a_complete_write_reaches_a_slow_client_whole() {
    l4_reset_delivers(&[]);
}

#[test]
fn l4_reset_after_a_complete_write_reaches_a_slow_client_whole_with_splice() {
    l4_reset_delivers(&["--relay", "splice"]);
}

fn l4_reset_delivers(run_args: &[&str]) {
    if !require_root() {
        return;
    }
    let lab = lab(run_args);
    let log = resetting_server(&lab, L4_PORT, "l4");
    let (v, got) = slow_read(&lab, L4_PORT, b"hello\n", Duration::from_secs(60));
    let server = server_log(&log);
    eprintln!(
        "l4: client got {} bytes, ended {v:?}; server: {server}",
        got.len()
    );
    assert!(
        server.contains("unacked=0"),
        "server did not see every byte ACKed: {server}\n{}",
        lab.proxy_log()
    );
    assert_eq!(
        got.len() as u64,
        RESPONSE_LEN,
        "bytes lost\n{}",
        lab.proxy_log()
    );
    assert_eq!(v, Verdict::Reset, "the reset must still reach the client");
}

#[test]
fn http_reset_after_a_complete_response_reaches_a_slow_client_whole() {
    if !require_root() {
        return;
    }
    let lab = lab(&[]);
    let log = resetting_server(&lab, HTTP_PORT, "http");
    let req = b"GET /big HTTP/1.1\r\nHost: web.test\r\n\r\n";
    let (v, got) = slow_read(&lab, HTTP_PORT, req, Duration::from_secs(60));
    let server = server_log(&log);
    let head = got
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(0, |p| p + 4);
    let body = got.len() - head;
    eprintln!("http: client got {body} body bytes, ended {v:?}; server: {server}");
    assert!(
        server.contains("unacked=0"),
        "server did not see every byte ACKed: {server}\n{}",
        lab.proxy_log()
    );
    assert!(
        got.starts_with(b"HTTP/1.1 200"),
        "{:?}",
        String::from_utf8_lossy(&got[..got.len().min(100)])
    );
    assert_eq!(body as u64, RESPONSE_LEN, "bytes lost\n{}", lab.proxy_log());
    // The message was complete: a reset or an orderly end are both faithful.
    assert!(matches!(v, Verdict::Reset | Verdict::Closed), "{v:?}");
}

/// The proxy's listener ports (15001, 15006) and its metrics port (15020).
const PROXY_PORTS: [u16; 3] = [15001, 15006, 15020];

#[test]
fn proxy_ports_on_the_pod_ip_are_decided_like_any_port() {
    if !require_root() {
        return;
    }
    let lab = lab(&[]);
    let seen = Arc::new(Mutex::new(Vec::new()));
    for family in Family::BOTH {
        for port in PROXY_PORTS {
            app_on_pod_ip(&lab, family, port, &seen);
        }
    }
    for family in Family::BOTH {
        let other = ip("other", family);
        for port in PROXY_PORTS {
            let (v, got) = probe(&lab, "other", family, port);
            eprintln!("{family:?} other -> {port}: {v:?} {:?}", got.lines().next());
            assert!(
                !got.contains("APP"),
                "{family:?} :{port} reached the app: {got:?}"
            );
            if port == 15020 {
                // The proxy's own admin endpoint answers there, never the app.
                assert!(
                    got.starts_with("HTTP/1."),
                    "{family:?} :{port}: {v:?} {got:?}"
                );
            } else {
                assert_eq!(
                    v,
                    Verdict::Reset,
                    "{family:?} :{port}: {got:?}\n{}",
                    lab.proxy_log()
                );
            }
            let app_saw = seen.lock().unwrap().iter().any(|a| a.ip() == other);
            assert!(!app_saw, "{family:?} :{port}: the app saw {other}");
        }
        // An allowed client on 15006 reaches the app: an ordinary port on the Pod IP.
        let (v, got) = probe(&lab, "client", family, 15006);
        assert_eq!(
            got,
            "APP\n",
            "{family:?} allowed :15006: {v:?}\n{}",
            lab.proxy_log()
        );
    }
    let app_log = seen.lock().unwrap().clone();
    assert!(
        app_log
            .iter()
            .all(|a| a.ip() == ip("client", Family::V4) || a.ip() == ip("client", Family::V6)),
        "the app saw clients the policy does not allow: {app_log:?}"
    );
}

#[test]
fn metrics_port_on_the_pod_ip_answers_from_outside() {
    if !require_root() {
        return;
    }
    let lab = lab(&[]);
    for family in Family::BOTH {
        let url = match ip("web", family) {
            IpAddr::V4(a) => format!("http://{a}:15020/healthz"),
            IpAddr::V6(a) => format!("http://[{a}]:15020/healthz"),
        };
        let out = lab
            .client
            .exec("curl", &["-g", "-sS", "-f", "--max-time", "5", &url])
            .unwrap();
        assert!(
            out.status.success(),
            "{url}: {}\n{}",
            String::from_utf8_lossy(&out.stderr),
            lab.proxy_log()
        );
        eprintln!("{url}: {}", String::from_utf8_lossy(&out.stdout).trim());
    }
}

/// Connections from the `app=client` Pod to `web:9100` past the open-file limit.
const FD_CLIENTS: usize = 80;
/// The proxy's open-file limit (soft and hard): about 20 descriptors at startup plus a
/// reserve of 64 leave room for roughly 20 connections.
const FD_LIMIT: &str = "--nofile=128:128";

#[test]
fn open_file_limit_caps_connections_and_refuses_the_excess() {
    if !require_root() {
        return;
    }
    let lab = Lab::new(PREFIX).expect("lab");
    lab.add_manifest("escape.yaml", &policy()).unwrap();
    lab.write_objects().unwrap();
    let bin = l7proxy_integration::env::l7proxy_bin();
    let out = lab
        .web
        .exec(&bin.display().to_string(), &["redirect", "install"])
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    holding_server(&lab, L4_PORT);
    let log = lab.dir().join("proxy-fd.log");
    let mut cmd = lab.web.command("prlimit");
    cmd.arg(FD_LIMIT).arg("--");
    lab.wrapped_proxy(&mut cmd, &log);
    let mut proxy = lab.web.spawn(cmd).expect("start proxy under prlimit");
    let proxy_log = || std::fs::read_to_string(&log).unwrap_or_default();
    let t0 = Instant::now();
    while !proxy_log().contains("listen.addr=[::1]:15001") {
        assert!(proxy.try_wait().is_none(), "proxy exited:\n{}", proxy_log());
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "proxy not up:\n{}",
            proxy_log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    let dst = SocketAddr::new(ip("web", Family::V4), L4_PORT);
    let src = ip("client", Family::V4);
    let started = Instant::now();
    let (verdicts, held) = lab
        .client
        .run_in(move || {
            let mut held = Vec::new();
            let mut verdicts = Vec::new();
            for _ in 0..FD_CLIENTS {
                let s = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
                s.bind(&SocketAddr::new(src, 0).into()).unwrap();
                if let Err(e) = s.connect_timeout(&dst.into(), Duration::from_secs(3)) {
                    verdicts.push(Outcome::from_error(&e).result);
                    continue;
                }
                let mut s: TcpStream = s.into();
                s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
                let _ = s.write_all(b"x");
                let mut buf = [0u8; 3];
                verdicts.push(match s.read(&mut buf) {
                    Ok(3) if &buf == b"ok\n" => Verdict::Allowed,
                    Ok(_) => Verdict::Closed,
                    Err(e) => Outcome::from_error(&e).result,
                });
                held.push(s);
            }
            (verdicts, held)
        })
        .unwrap();
    let count = |v: Verdict| verdicts.iter().filter(|x| **x == v).count();
    let text = proxy_log();
    let warnings = text.matches("accept failed").count();
    let (allowed, reset) = (count(Verdict::Allowed), count(Verdict::Reset));
    eprintln!(
        "{allowed} allowed, {reset} reset, {} other in {:?}; {warnings} accept warnings",
        FD_CLIENTS - allowed - reset,
        started.elapsed()
    );
    assert!(proxy.try_wait().is_none(), "proxy died:\n{text}");
    // Every connection is served or refused with a reset: none hangs in the backlog.
    assert!(allowed > 0, "{verdicts:?}\n{text}");
    assert_eq!(
        allowed + reset,
        FD_CLIENTS,
        "excess connections must be refused with a reset: {verdicts:?}"
    );
    assert!(
        warnings <= 3 + started.elapsed().as_secs() as usize,
        "{warnings} accept warnings"
    );
    assert!(text.contains("connection limit reached"), "{text}");
    // The cap that refused them is the one logged at startup.
    let effective: usize = text
        .split("max_connections.effective=")
        .nth(1)
        .and_then(|r| r.split(|c: char| !c.is_ascii_digit()).next()?.parse().ok())
        .unwrap_or_else(|| panic!("no effective cap logged:\n{text}"));
    eprintln!("effective cap {effective}");
    assert_eq!(allowed, effective, "{verdicts:?}");
    // Freed descriptors are usable again.
    drop(held);
    std::thread::sleep(Duration::from_millis(300));
    let (v, got) = probe(&lab, "client", Family::V4, L4_PORT);
    assert!(
        got.starts_with("ok"),
        "after the storm: {v:?} {got:?}\n{}",
        proxy_log()
    );
}
