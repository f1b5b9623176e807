//! Connection-level tests: real loopback sockets, the real policy engine compiled from
//! manifests on disk, a fixed original destination instead of TPROXY.

use std::io::ErrorKind;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::*;
use crate::events::{Event, Metrics};
use crate::manifests::Manifests as Loader;
use crate::policy::{Direction, Snapshot};
use crate::proxy::drain::Drain;
use crate::proxy::listener::{OrigDst, accept_loop};
use crate::proxy::state::{Shared, Sink};
use crate::proxy::testutil::payload;
use crate::socket::SocketFactory;

#[derive(Default)]
struct Collector(Mutex<Vec<Event>>);

impl Sink for Collector {
    fn emit(&self, event: Event) {
        self.0.lock().unwrap().push(event);
    }
}

impl Collector {
    fn alerts(&self) -> Vec<String> {
        let evs = self.0.lock().unwrap();
        evs.iter()
            .filter_map(|e| match e {
                Event::Alert { alert, .. } => Some(format!(
                    "{} [{}]",
                    alert.reason,
                    alert.rule.as_ref().map(|r| r.rule.as_str()).unwrap_or("-")
                )),
                _ => None,
            })
            .collect()
    }
    fn count(&self, f: impl Fn(&Event) -> bool) -> usize {
        self.0.lock().unwrap().iter().filter(|e| f(e)).count()
    }
}

struct Fixed(SocketAddr);

impl OrigDst for Fixed {
    fn orig_dst(&self, _: &TcpStream) -> std::io::Result<SocketAddr> {
        Ok(self.0)
    }
}

const CLUSTER: &str = "
apiVersion: v1
kind: Namespace
metadata: {name: default}
---
apiVersion: v1
kind: Pod
metadata: {name: web, namespace: default, labels: {app: web}}
status: {podIP: 127.0.0.1}
";

/// An Antrea NetworkPolicy on the web Pod with the given ingress rules (YAML list items).
fn policy(rules: &str) -> String {
    format!(
        "apiVersion: crd.antrea.io/v1beta1
kind: NetworkPolicy
metadata: {{name: web-policy, namespace: default}}
spec:
  priority: 5
  tier: application
  appliedTo: [{{podSelector: {{matchLabels: {{app: web}}}}}}]
  ingress:
{rules}"
    )
}

struct Lab {
    proxy: SocketAddr,
    backend: TcpListener,
    events: Arc<Collector>,
    shared: Arc<Shared<Snapshot>>,
    dir: tempfile::TempDir,
    drain: Drain,
}

/// A proxy (ingress listener) whose original destination is always `backend`, with the
/// policy `rules(backend_port)`.
async fn lab(rules: impl FnOnce(u16) -> String, tweak: impl FnOnce(&mut Config)) -> Lab {
    lab_full(rules, tweak, false).await
}

/// With `self_dst`, the original destination is the proxy's own listener.
async fn lab_full(
    rules: impl FnOnce(u16) -> String,
    tweak: impl FnOnce(&mut Config),
    self_dst: bool,
) -> Lab {
    let backend = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let backend_addr = backend.local_addr().unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("cluster.yaml"), CLUSTER).unwrap();
    std::fs::write(dir.path().join("policy.yaml"), rules(backend_addr.port())).unwrap();
    let loader = Loader::new(
        vec![dir.path().to_owned()],
        ("default".into(), "web".into()),
        0,
    );
    let snapshot = loader.load().unwrap();
    let l = SocketFactory::plain()
        .listener("127.0.0.1:0".parse().unwrap(), 128)
        .unwrap();
    let proxy = l.local_addr().unwrap();
    let mut config = Config {
        listeners: vec![proxy],
        classify_timeout: Duration::from_millis(400),
        ..Config::default()
    };
    tweak(&mut config);
    let events = Arc::new(Collector::default());
    let (drain, watch) = Drain::new();
    let shared = Arc::new(Shared::new(
        snapshot,
        events.clone(),
        Arc::new(Metrics::default()),
        config,
        watch.signal(),
    ));
    let dst = if self_dst { proxy } else { backend_addr };
    tokio::spawn(accept_loop(
        tokio::net::TcpListener::from_std(l).unwrap(),
        Direction::Ingress,
        shared.clone(),
        Arc::new(Fixed(dst)),
        watch,
    ));
    Lab {
        proxy,
        backend,
        events,
        shared,
        dir,
        drain,
    }
}

async fn expect_reset(s: &mut TcpStream) {
    let mut b = [0u8; 64];
    let r = tokio::time::timeout(Duration::from_secs(5), s.read(&mut b))
        .await
        .expect("no reset");
    match r {
        Err(e) => assert_eq!(e.kind(), ErrorKind::ConnectionReset),
        Ok(n) => panic!("expected a reset, read {n} bytes"),
    }
}

/// On a multi-threaded runtime the reset may beat `connect` itself.
async fn connect_expect_reset(addr: SocketAddr) {
    match TcpStream::connect(addr).await {
        Ok(mut c) => expect_reset(&mut c).await,
        Err(e) => assert_eq!(e.kind(), ErrorKind::ConnectionReset),
    }
}

/// Read one request head from `s`, answer 200 with body `ok`; returns the heads seen
/// until the connection ends.
async fn http_backend(l: &TcpListener) -> Vec<String> {
    let (mut s, _) = l.accept().await.unwrap();
    let mut seen = Vec::new();
    let mut buf = Vec::new();
    let mut b = [0u8; 4096];
    loop {
        while let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head: Vec<u8> = buf.drain(..end + 4).collect();
            seen.push(
                String::from_utf8_lossy(&head)
                    .lines()
                    .next()
                    .unwrap_or("")
                    .to_owned(),
            );
            let _ = s
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                .await;
        }
        match s.read(&mut b).await {
            Ok(0) | Err(_) => return seen,
            Ok(n) => buf.extend_from_slice(&b[..n]),
        }
    }
}

#[tokio::test]
async fn l4_allow_relays_byte_exact_from_the_clients_ip_and_a_safe_port() {
    let lab = lab(|_| String::new(), |c| c.preserve_client_ip = true).await;
    let mut client = TcpStream::connect(lab.proxy).await.unwrap();
    let (mut server, peer) = lab.backend.accept().await.unwrap();
    assert_eq!(peer.ip(), client.local_addr().unwrap().ip());
    assert!((61000..=65535).contains(&peer.port()), "source port {peer}");
    let data = payload(4 << 20, 9);
    let d2 = data.clone();
    let echo = tokio::spawn(async move {
        let (mut r, mut w) = server.split();
        tokio::io::copy(&mut r, &mut w).await.unwrap();
        w.shutdown().await.unwrap();
    });
    let (mut cr, mut cw) = client.split();
    let write = async {
        cw.write_all(&d2).await.unwrap();
        cw.shutdown().await.unwrap();
    };
    let mut got = Vec::new();
    let (_, r) = tokio::join!(write, cr.read_to_end(&mut got));
    r.unwrap();
    echo.await.unwrap();
    assert!(got == data, "echoed bytes differ");
    assert!(lab.events.alerts().is_empty());
}

#[tokio::test]
async fn l4_drop_rule_resets_with_an_alert() {
    let lab = lab(
        |p| {
            policy(&format!(
                "  - {{name: no-entry, action: Drop, ports: [{{protocol: TCP, port: {p}}}]}}\n"
            ))
        },
        |_| {},
    )
    .await;
    let mut client = TcpStream::connect(lab.proxy).await.unwrap();
    expect_reset(&mut client).await;
    assert_eq!(lab.events.alerts(), ["drop rule [no-entry]"]);
}

fn http_rule(p: u16) -> String {
    policy(&format!(
        "  - name: public-only
    action: Allow
    ports: [{{protocol: TCP, port: {p}}}]
    l7Protocols: [{{http: {{path: \"/public/*\"}}}}]
"
    ))
}

/// Connect to an `http_rule` lab's proxy and complete one allowed request
/// (`GET /public/a`): the keep-alive connection and the first 40 bytes of the response.
async fn after_one_allowed_request(proxy: SocketAddr) -> (TcpStream, [u8; 40]) {
    let mut client = TcpStream::connect(proxy).await.unwrap();
    client
        .write_all(b"GET /public/a HTTP/1.1\r\nHost: web\r\n\r\n")
        .await
        .unwrap();
    let mut resp = [0u8; 40];
    client.read_exact(&mut resp).await.unwrap();
    (client, resp)
}

/// On one keep-alive connection through an `http_rule` lab: an allowed request, then one
/// the rule denies, which must end in a reset and never reach the backend.
async fn allowed_then_denied_on_one_connection(lab: &Lab) {
    let client = async {
        let (mut client, resp) = after_one_allowed_request(lab.proxy).await;
        assert!(resp.starts_with(b"HTTP/1.1 200 OK"));
        client
            .write_all(b"GET /admin HTTP/1.1\r\nHost: web\r\n\r\n")
            .await
            .unwrap();
        expect_reset(&mut client).await;
    };
    let (seen, ()) = tokio::join!(http_backend(&lab.backend), client);
    assert_eq!(seen, ["GET /public/a HTTP/1.1"]);
}

#[tokio::test]
async fn keep_alive_second_request_denied_by_the_real_policy() {
    let lab = lab(http_rule, |_| {}).await;
    allowed_then_denied_on_one_connection(&lab).await;
    let alerts = lab.events.alerts();
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert!(alerts[0].ends_with("[public-only]"), "{alerts:?}");
    assert_eq!(lab.events.count(|e| matches!(e, Event::Http { .. })), 1);
}

#[tokio::test]
async fn event_level_alerts_keeps_alerts_and_none_writes_nothing() {
    use crate::events::Level;
    for (level, http_events, alerts) in [(Level::Alerts, 0, 1), (Level::None, 0, 0)] {
        let lab = lab(http_rule, |c| c.events = level).await;
        allowed_then_denied_on_one_connection(&lab).await;
        let http = lab.events.count(|e| matches!(e, Event::Http { .. }));
        assert_eq!(http, http_events, "{level:?}");
        assert_eq!(lab.events.alerts().len(), alerts, "{level:?}");
    }
}

#[tokio::test]
async fn first_request_denied_never_connects_upstream() {
    let lab = lab(http_rule, |_| {}).await;
    let mut client = TcpStream::connect(lab.proxy).await.unwrap();
    client
        .write_all(b"GET /admin HTTP/1.1\r\nHost: web\r\n\r\n")
        .await
        .unwrap();
    expect_reset(&mut client).await;
    let accepted = tokio::time::timeout(Duration::from_millis(200), lab.backend.accept()).await;
    assert!(
        accepted.is_err(),
        "upstream was connected for a denied request"
    );
}

#[tokio::test]
async fn an_h2c_offer_is_removed_before_the_server_sees_it() {
    let lab = lab(http_rule, |_| {}).await;
    let mut client = TcpStream::connect(lab.proxy).await.unwrap();
    client
        .write_all(
            b"GET /public/a HTTP/1.1\r\nHost: web\r\nConnection: Upgrade, HTTP2-Settings\r\n\
              Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n",
        )
        .await
        .unwrap();
    let (mut server, _) = tokio::time::timeout(Duration::from_secs(5), lab.backend.accept())
        .await
        .expect("forwarded")
        .unwrap();
    let mut seen = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(5), server.read(&mut seen))
        .await
        .expect("head arrives")
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&seen[..n]),
        "GET /public/a HTTP/1.1\r\nHost: web\r\n\r\n"
    );
}

#[tokio::test]
async fn upgrade_to_h2c_next_to_another_protocol_is_denied() {
    let lab = lab(http_rule, |_| {}).await;
    let mut client = TcpStream::connect(lab.proxy).await.unwrap();
    client
        .write_all(
            b"GET /public/a HTTP/1.1\r\nHost: web\r\nConnection: Upgrade, HTTP2-Settings\r\n\
              Upgrade: h2c, websocket\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n",
        )
        .await
        .unwrap();
    expect_reset(&mut client).await;
    let accepted = tokio::time::timeout(Duration::from_millis(200), lab.backend.accept()).await;
    assert!(
        accepted.is_err(),
        "upstream was connected for an h2c upgrade"
    );
    let alerts = lab.events.alerts();
    assert!(alerts.iter().any(|a| a.contains("h2c")), "{alerts:?}");
}

/// The HTTP/2 preface under an `http` rule is answered by the proxy's own HTTP/2 server
/// (its SETTINGS frame), not reset and not relayed: streams are decided one by one
/// (`proxy/h2.rs`; end to end in integration/tests/http2.rs).
#[tokio::test]
async fn http2_preface_is_served_as_http2() {
    let lab = lab(http_rule, |_| {}).await;
    let mut h2 = TcpStream::connect(lab.proxy).await.unwrap();
    h2.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\x04\0\0\0\0\0")
        .await
        .unwrap();
    let mut frame = [0u8; 9];
    tokio::time::timeout(Duration::from_secs(5), h2.read_exact(&mut frame))
        .await
        .expect("an answer")
        .unwrap();
    assert_eq!(frame[3], 0x4, "SETTINGS first: {frame:?}");
    assert_eq!(&frame[5..9], &[0, 0, 0, 0], "on stream 0");
}

#[tokio::test]
async fn classification_timeout_and_garbage_are_denied() {
    let lab = lab(http_rule, |_| {}).await;
    let mut silent = TcpStream::connect(lab.proxy).await.unwrap();
    let t0 = std::time::Instant::now();
    expect_reset(&mut silent).await;
    assert!(t0.elapsed() >= Duration::from_millis(350));
    // A trickle within the deadline does not extend it.
    let mut slow = TcpStream::connect(lab.proxy).await.unwrap();
    let t0 = std::time::Instant::now();
    let mut write_failed = false;
    for b in b"GET /public/x HTTP/1.1\r\n" {
        if let Err(e) = slow.write_all(&[*b]).await {
            // The reset may surface on a write instead of the read.
            assert!(matches!(
                e.kind(),
                ErrorKind::ConnectionReset | ErrorKind::BrokenPipe
            ));
            write_failed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    assert!(t0.elapsed() < Duration::from_secs(3));
    if !write_failed {
        expect_reset(&mut slow).await;
    }
    let mut other = TcpStream::connect(lab.proxy).await.unwrap();
    other.write_all(b"\x00\x01binary").await.unwrap();
    expect_reset(&mut other).await;
    let alerts = lab.events.alerts();
    assert_eq!(alerts.len(), 3, "{alerts:?}");
    assert!(
        alerts[0].starts_with("classification timeout"),
        "{alerts:?}"
    );
    assert!(
        alerts[1].starts_with("classification timeout"),
        "{alerts:?}"
    );
    assert!(alerts[2].starts_with("not http or tls"), "{alerts:?}");
}

const PQ_HELLO: &[u8] = include_bytes!("../classify/testdata/rustls_pq.bin");

fn tls_rule(p: u16) -> String {
    policy(&format!(
        "  - name: sni
    action: Allow
    ports: [{{protocol: TCP, port: {p}}}]
    l7Protocols: [{{tls: {{sni: \"*.example-rustls.com\"}}}}]
"
    ))
}

#[tokio::test]
async fn tls_hello_split_with_pauses_is_allowed_and_forwarded_whole() {
    let lab = lab(tls_rule, |_| {}).await;
    let mut client = TcpStream::connect(lab.proxy).await.unwrap();
    client.set_nodelay(true).unwrap();
    for piece in [
        &PQ_HELLO[..5],
        &PQ_HELLO[5..700],
        &PQ_HELLO[700..1448],
        &PQ_HELLO[1448..],
    ] {
        client.write_all(piece).await.unwrap();
        tokio::time::sleep(Duration::from_millis(40)).await;
    }
    let (mut server, _) = lab.backend.accept().await.unwrap();
    let mut got = vec![0u8; PQ_HELLO.len()];
    server.read_exact(&mut got).await.unwrap();
    assert!(got == PQ_HELLO);
    server.write_all(b"server hello").await.unwrap();
    let mut b = [0u8; 12];
    client.read_exact(&mut b).await.unwrap();
    assert_eq!(&b, b"server hello");
    assert_eq!(lab.events.count(|e| matches!(e, Event::Tls { .. })), 1);
}

#[tokio::test]
async fn tls_sni_mismatch_is_reset() {
    let lab = lab(
        |p| tls_rule(p).replace("*.example-rustls.com", "only.other.test"),
        |_| {},
    )
    .await;
    let mut client = TcpStream::connect(lab.proxy).await.unwrap();
    client.write_all(PQ_HELLO).await.unwrap();
    expect_reset(&mut client).await;
    assert_eq!(lab.events.alerts().len(), 1);
}

#[tokio::test]
async fn connection_limit_and_loop_refusal_reset() {
    let lab = lab(|_| String::new(), |c| c.max_connections = 1).await;
    let _first = TcpStream::connect(lab.proxy).await.unwrap();
    let (_held, _) = lab.backend.accept().await.unwrap();
    let mut second = TcpStream::connect(lab.proxy).await.unwrap();
    expect_reset(&mut second).await;
    assert_eq!(lab.events.alerts(), ["connection limit reached [-]"]);
    assert_eq!(lab.shared.active(), 1);

    // Original destination = the proxy's own listener.
    let lab = lab_full(|_| String::new(), |_| {}, true).await;
    let mut c = TcpStream::connect(lab.proxy).await.unwrap();
    expect_reset(&mut c).await;
    assert_eq!(lab.events.alerts(), ["destination is the proxy itself [-]"]);
}

#[tokio::test]
async fn a_client_leaving_without_a_byte_is_not_an_alert() {
    let lab = lab(http_rule, |_| {}).await;
    let c = TcpStream::connect(lab.proxy).await.unwrap();
    drop(c);
    let mut partial = TcpStream::connect(lab.proxy).await.unwrap();
    partial.write_all(b"GET /pub").await.unwrap();
    partial.shutdown().await.unwrap();
    expect_reset(&mut partial).await;
    let alerts = lab.events.alerts();
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert!(
        alerts[0].starts_with("client closed before classification"),
        "{alerts:?}"
    );
}

mod http2;

mod lifecycle;

mod service;

mod tls;
