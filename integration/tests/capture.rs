//! Capture must hold for every new connection, including one that reuses the 4-tuple of a
//! connection the proxy just reset: conntrack keeps the reset flow for a few seconds, and a
//! new SYN on it must still be handed to the proxy, never straight to the app.
//!
//! Needs root (network namespaces, iptables); skipped otherwise.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use l7proxy_integration::lab::{HTTP_PORT, Lab};
use l7proxy_integration::pods::{Family, Host, endpoint};
use l7proxy_integration::policy::{EGRESS_HTTP_PUBLIC, HTTP_PUBLIC, web_policy};
use l7proxy_integration::require_root;
use socket2::{Domain, Socket, Type};

/// Ingress and egress of the web Pod: HTTP on 80 only under /public/.
fn policy() -> String {
    web_policy("public-only", &[HTTP_PUBLIC], &[EGRESS_HTTP_PUBLIC])
}

/// Connect from `src` (a fixed port) to `dst`, send a denied request and report whether the
/// connection was reset (`true`) or answered (`false`).
fn denied_request_from(src: SocketAddr, dst: SocketAddr) -> bool {
    let socket = Socket::new(Domain::for_address(dst), Type::STREAM, None).unwrap();
    socket.set_reuse_address(true).unwrap();
    socket.bind(&src.into()).unwrap();
    socket
        .connect_timeout(&dst.into(), Duration::from_secs(5))
        .unwrap();
    let mut stream: TcpStream = socket.into();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    stream
        .write_all(b"GET /admin HTTP/1.1\r\nHost: web\r\n\r\n")
        .unwrap();
    let mut buf = [0u8; 512];
    match stream.read(&mut buf) {
        Ok(n) if n > 0 => false,
        Ok(_) => panic!("connection closed without a reset"),
        Err(e) if e.kind() == ErrorKind::ConnectionReset => true,
        Err(e) => panic!("unexpected error: {e}"),
    }
}

#[test]
fn a_new_connection_on_a_just_reset_four_tuple_is_captured_again() {
    if !require_root() {
        return;
    }
    let mut lab = Lab::new("l7t-cap").unwrap();
    lab.add_manifest("policy.yaml", &policy()).unwrap();
    lab.start_proxy().unwrap();
    let client = endpoint("client").unwrap();
    let web = endpoint("web").unwrap();
    for (family, port) in [(Family::V4, 40001), (Family::V6, 40002)] {
        let src = SocketAddr::new(client.ip(family), port);
        let dst = SocketAddr::new(web.ip(family), HTTP_PORT);
        for attempt in 0..5 {
            let reset = lab
                .client
                .run_in(move || denied_request_from(src, dst))
                .unwrap();
            assert!(
                reset,
                "{family:?} attempt {attempt}: denied request answered"
            );
        }
    }
    // Egress: the app re-opens the 4-tuple the proxy reset towards the external host.
    let external = endpoint("external").unwrap();
    for (family, port) in [(Family::V4, 40003), (Family::V6, 40004)] {
        let src = SocketAddr::new(web.ip(family), port);
        let dst = SocketAddr::new(external.ip(family), HTTP_PORT);
        for attempt in 0..5 {
            let reset = lab
                .web
                .run_in(move || denied_request_from(src, dst))
                .unwrap();
            assert!(
                reset,
                "egress {family:?} attempt {attempt}: denied request answered"
            );
        }
    }
    let leaked: Vec<_> = lab
        .server_requests(Host::Web)
        .into_iter()
        .chain(lab.server_requests(Host::External))
        .filter(|r| r.path.starts_with("/admin"))
        .map(|r| format!("{}:{} {}", r.client_ip, r.client_port, r.path))
        .collect();
    assert!(
        leaked.is_empty(),
        "denied requests reached the app: {leaked:?}"
    );
    let alerts =
        |evs: &[serde_json::Value]| evs.iter().filter(|e| e["event_type"] == "alert").count();
    lab.events_until(Duration::from_secs(5), |evs| alerts(evs) >= 20);
    // Then a little longer, so an extra alert would be seen too.
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(alerts(&lab.events()), 20, "one alert per denied connection");
}
