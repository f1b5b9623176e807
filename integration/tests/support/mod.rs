//! Shared pieces of the hardening tests: one policy with an `http` and a `tls` rule, raw
//! client connections from the client namespace, and waiting for the alert event of one
//! specific connection (matched by the client's source port).
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use l7proxy_integration::clients::http::{HttpRequest, exchange};
use l7proxy_integration::clients::{Outcome, Target, Verdict};
use l7proxy_integration::lab::Lab;
use l7proxy_integration::pods::{self, Family};
use l7proxy_integration::policy::{BULK_L4, HTTP_PUBLIC, TLS_ALLOWED_SNI, web_policy};
use serde_json::Value;

/// Ingress of `web`: HTTP on 80 only under /public/, TLS on 443 only for *.allowed.test,
/// L4 on 7 (echo) and 9000 (bulk), any HTTP on 8081-8089 (nothing listens there unless a
/// test starts its own upstream).
pub fn policy() -> String {
    policy_with(&[])
}

const ECHO_L4: &str = r#"  - name: echo-l4
    action: Allow
    ports: [{protocol: TCP, port: 7}]
"#;

const HTTP_TEST_UPSTREAMS: &str = r#"  - name: http-test-upstreams
    action: Allow
    ports: [{protocol: TCP, port: 8081, endPort: 8089}]
    l7Protocols: [{http: {}}]
"#;

/// [`policy`] with `extra` ingress rules after its own.
pub fn policy_with(extra: &[&str]) -> String {
    let mut ingress = vec![
        HTTP_PUBLIC,
        TLS_ALLOWED_SNI,
        ECHO_L4,
        BULK_L4,
        HTTP_TEST_UPSTREAMS,
    ];
    ingress.extend_from_slice(extra);
    web_policy("harden", &ingress, &[])
}

/// A lab with [`policy`] and the proxy running with `run_args`.
pub fn lab(prefix: &str, run_args: &[&str]) -> Lab {
    let mut lab = Lab::new(prefix).expect("lab");
    lab.add_manifest("harden.yaml", &policy()).unwrap();
    let args: Vec<String> = run_args.iter().map(|s| s.to_string()).collect();
    lab.start_proxy_with(&[], &args).expect("proxy starts");
    lab
}

/// `web:port` over IPv4.
pub fn web(port: u16) -> SocketAddr {
    Lab::addr(&pods::endpoint("web").unwrap(), Family::V4, port)
}

/// The `app=client` Pod's IPv4 address.
pub fn client_ip() -> IpAddr {
    pods::endpoint("client").unwrap().ip(Family::V4)
}

/// A connection from the client Pod to `web:port` (5 s read/write timeouts).
pub fn connect(lab: &Lab, port: u16) -> TcpStream {
    let mut t = Target::new(web(port));
    t.bind = Some(client_ip());
    lab.client
        .run_in(move || t.connect())
        .unwrap()
        .expect("connect to web")
}

/// Write `data` (errors ignored: a reset may arrive first), then read until EOF, reset or
/// `limit`; returns how it ended and the bytes read.
pub fn send_and_finish(s: &mut TcpStream, data: &[u8], limit: Duration) -> (Verdict, Vec<u8>) {
    let _ = s.write_all(data);
    finish(s, limit)
}

/// Read until EOF, reset or `limit`.
pub fn finish(s: &mut TcpStream, limit: Duration) -> (Verdict, Vec<u8>) {
    s.set_read_timeout(Some(limit)).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return (Verdict::Closed, got),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) => return (Outcome::from_error(&e).result, got),
        }
    }
}

/// The client's source port of `s` (events name the flow by it).
pub fn local_port(s: &TcpStream) -> u16 {
    s.local_addr().unwrap().port()
}

/// Events of the connection from the client's `port`, waiting up to `limit` for one whose
/// `event_type` is `kind`.
pub fn event_for(lab: &Lab, port: u16, kind: &str, limit: Duration) -> Option<Value> {
    let t0 = Instant::now();
    loop {
        let hit = lab.events().into_iter().find(|e| {
            e.get("event_type").and_then(Value::as_str) == Some(kind)
                && e.get("src_port").and_then(Value::as_u64) == Some(u64::from(port))
        });
        if hit.is_some() || t0.elapsed() > limit {
            return hit;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The alert of the connection from `port`, its `reason` (falling back to the signature).
pub fn alert_reason(lab: &Lab, port: u16) -> String {
    let e = event_for(lab, port, "alert", Duration::from_secs(5)).unwrap_or_else(|| {
        panic!(
            "no alert event for client port {port}\nevents: {:#?}\nproxy log:\n{}",
            lab.events(),
            lab.proxy_log()
        )
    });
    assert_eq!(e["alert"]["action"], "blocked", "{e}");
    e.get("reason")
        .and_then(Value::as_str)
        .or_else(|| e["alert"]["signature"].as_str())
        .unwrap_or_default()
        .to_string()
}

/// Connections the proxy holds open now (sum of `connections_active` on its metrics
/// endpoint), read from inside `web`.
pub fn active_connections(lab: &Lab) -> Option<u64> {
    let out = lab
        .web
        .exec(
            "curl",
            &["-sf", "--max-time", "2", "http://127.0.0.1:15020/metrics"],
        )
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let values: Vec<u64> = text
        .lines()
        .filter(|l| !l.starts_with('#') && l.contains("connections_active"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .map(|v| v as u64)
        .collect();
    (!values.is_empty()).then(|| values.iter().sum())
}

/// No connection task is left behind: the proxy's active connection count drops to zero.
pub fn assert_no_stuck_connections(lab: &Lab) {
    let t0 = Instant::now();
    loop {
        let n = active_connections(lab);
        if n == Some(0) {
            return;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "connections still active: {n:?}\n{}",
            lab.proxy_log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A good request still gets its 200 and the proxy is still running.
pub fn assert_serves(lab: &Lab) {
    assert!(lab.proxy_running(), "proxy died:\n{}", lab.proxy_log());
    let mut s = connect(lab, 80);
    let req = HttpRequest::parse("GET /public/ok web.test").unwrap();
    let out = exchange(&mut s, &[req], false);
    assert_eq!(
        out.result,
        Verdict::Allowed,
        "{out:?}\nproxy log:\n{}",
        lab.proxy_log()
    );
    assert_eq!(out.statuses, vec![200]);
}

/// A connection ended by the proxy: reset or closed, never answered by the server.
pub fn assert_cut(what: &str, v: Verdict, got: &[u8], lab: &Lab) {
    assert!(
        matches!(v, Verdict::Reset | Verdict::Closed),
        "{what}: ended {v:?} after {} bytes ({:?})\nproxy log:\n{}",
        got.len(),
        String::from_utf8_lossy(&got[..got.len().min(200)]),
        lab.proxy_log()
    );
    assert!(
        !String::from_utf8_lossy(got).contains("HTTP/1.1 200"),
        "{what}: the server answered: {:?}",
        String::from_utf8_lossy(got)
    );
}

/// PID of the `l7proxy run` process in `web`.
pub fn proxy_pid(lab: &Lab) -> Option<u32> {
    lab.web.pids().into_iter().find(|pid| {
        std::fs::read_to_string(format!("/proc/{pid}/cmdline"))
            .is_ok_and(|c| c.contains("l7proxy") && c.split('\0').any(|a| a == "run"))
    })
}

/// A TLS record header + handshake header around `body` (a ClientHello), with the
/// handshake length field set to `claimed`.
pub fn client_hello(sni: &[u8], claimed_len: Option<usize>) -> Vec<u8> {
    let mut ext = Vec::new();
    // server_name extension
    let name_list_len = sni.len() + 3;
    ext.extend_from_slice(&[0x00, 0x00]);
    ext.extend_from_slice(&((name_list_len + 2) as u16).to_be_bytes());
    ext.extend_from_slice(&(name_list_len as u16).to_be_bytes());
    ext.push(0);
    ext.extend_from_slice(&(sni.len() as u16).to_be_bytes());
    ext.extend_from_slice(sni);
    let mut body = vec![0x03, 0x03];
    body.extend_from_slice(&[7u8; 32]); // random
    body.push(0); // session id
    body.extend_from_slice(&[0x00, 0x02, 0x13, 0x01]); // one cipher suite
    body.extend_from_slice(&[0x01, 0x00]); // null compression
    body.extend_from_slice(&(ext.len() as u16).to_be_bytes());
    body.extend_from_slice(&ext);
    let hs_len = claimed_len.unwrap_or(body.len());
    let mut hs = vec![0x01];
    hs.extend_from_slice(&(hs_len as u32).to_be_bytes()[1..]);
    hs.extend_from_slice(&body);
    let mut rec = vec![0x16, 0x03, 0x01];
    rec.extend_from_slice(&(hs.len() as u16).to_be_bytes());
    rec.extend_from_slice(&hs);
    rec
}
