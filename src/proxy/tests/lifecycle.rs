//! Proxy lifecycle and resources: live reload, drain, audit records, upstream source
//! ports, state machine sizes.

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::*;

/// Wait until `f()` holds, up to `limit`.
async fn eventually(limit: Duration, f: impl Fn() -> bool) -> bool {
    let t0 = std::time::Instant::now();
    while t0.elapsed() < limit {
        if f() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    f()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manifest_edits_apply_within_two_seconds_and_broken_ones_are_ignored() {
    let drop_rule = |p: u16| {
        policy(&format!(
            "  - {{name: no-entry, action: Drop, ports: [{{protocol: TCP, port: {p}}}]}}\n"
        ))
    };
    let lab = lab(drop_rule, |_| {}).await;
    let port = lab.backend.local_addr().unwrap().port();
    let loader = Loader::new(
        vec![lab.dir.path().to_owned()],
        ("default".into(), "web".into()),
        100,
    );
    let (updates, follow) = tokio::sync::mpsc::channel(1);
    let _watch = crate::manifests::watch(&[lab.dir.path().to_owned()], updates, move || {
        loader.load().map_err(|e| e.to_string())
    })
    .unwrap();
    reload::follow(follow, lab.shared.clone());
    connect_expect_reset(lab.proxy).await;

    // Drop -> Allow: a new connection gets through within 2 s.
    let file = lab.dir.path().join("policy.yaml");
    std::fs::write(
        &file,
        drop_rule(port).replace("action: Drop", "action: Allow"),
    )
    .unwrap();
    let gen_of = |s: &Shared<Snapshot>| s.policy.load().generation();
    assert!(
        eventually(Duration::from_secs(2), || gen_of(&lab.shared) > 100).await,
        "edit not applied within 2 s"
    );
    let _c = TcpStream::connect(lab.proxy).await.unwrap();
    tokio::time::timeout(Duration::from_secs(2), lab.backend.accept())
        .await
        .expect("allowed connection did not reach the backend")
        .unwrap();

    // Reading the manifests must not trigger reloads by itself.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let good = gen_of(&lab.shared);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(gen_of(&lab.shared), good, "reload loop");

    // A broken manifest: the last good policy stays.
    std::fs::write(
        &file,
        "apiVersion: crd.antrea.io/v1beta1\nkind: NetworkPolicy\nspec: [oops",
    )
    .unwrap();
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(gen_of(&lab.shared), good);
    let _c2 = TcpStream::connect(lab.proxy).await.unwrap();
    tokio::time::timeout(Duration::from_secs(2), lab.backend.accept())
        .await
        .expect("last good policy not in force")
        .unwrap();

    // And the watch survives the error: fixing the file applies again.
    std::fs::write(&file, drop_rule(port)).unwrap();
    assert!(eventually(Duration::from_secs(2), || gen_of(&lab.shared) > good).await);
    connect_expect_reset(lab.proxy).await;
}

/// Every connection task holds its state machine for its whole life: keep the L4 path's
/// small (the L7 path is boxed separately), so idle connections stay cheap.
#[test]
fn connection_state_machines_stay_small() {
    fn size<F: std::future::Future>(_: &F) -> usize {
        std::mem::size_of::<F>()
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let lab = lab(|_| String::new(), |_| {}).await;
        let (a, _b) = crate::proxy::testutil::pair().await;
        let any: SocketAddr = "192.0.2.1:1".parse().unwrap();
        let admitted = lab.shared.try_admit().unwrap();
        let accepted = crate::proxy::accepted::Accepted {
            client: a,
            direction: Direction::Ingress,
            src: crate::proxy::accepted::ClientAddr(any),
            dst: crate::proxy::accepted::OrigDstAddr(any),
        };
        let (_drain, watcher) = crate::proxy::drain::Drain::new();
        let f = conn::handle(lab.shared.clone(), accepted, admitted, watcher);
        assert!(size(&f) <= 1024, "connection future is {} bytes", size(&f));
        let (mut c, mut d) = crate::proxy::testutil::pair().await;
        let r = relay::relay(
            &mut c,
            &mut d,
            RelayMode::Copy,
            Duration::from_secs(1),
            relay::Opaque,
        );
        assert!(size(&r) <= 1280, "relay future is {} bytes", size(&r));
    });
}

/// Two consecutive free ports on 127.0.0.1 (best effort: retried a few times).
fn free_port_pair() -> u16 {
    for _ in 0..50 {
        let a = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let p = a.local_addr().unwrap().port();
        if p < 65535 && std::net::TcpListener::bind(("127.0.0.1", p + 1)).is_ok() {
            return p;
        }
    }
    panic!("no two consecutive free ports");
}

#[tokio::test]
async fn upstream_source_port_in_use_is_skipped() {
    let p = free_port_pair();
    let lab = lab(
        |_| String::new(),
        |c| {
            c.preserve_client_ip = true;
            c.upstream_ports = p..=p + 1;
        },
    )
    .await;
    // Port p is taken by a listener: binding it fails with EADDRINUSE even with
    // SO_REUSEADDR, so every upstream must come from p + 1 (or the kernel's choice).
    let _taken = std::net::TcpListener::bind(("127.0.0.1", p)).unwrap();
    let dst = lab.backend.local_addr().unwrap();
    let ip = "127.0.0.1".parse().unwrap();
    // Held at once: after the first, p + 1 towards `dst` is a live 4-tuple, so the
    // others must get past EADDRINUSE/EADDRNOTAVAIL to a port of their own.
    let mut held = Vec::new();
    for _ in 0..4 {
        let up = upstream::connect(&lab.shared, dst, Some(ip), 1)
            .await
            .unwrap();
        let (s, peer) = lab.backend.accept().await.unwrap();
        assert_eq!(peer, up.local_addr().unwrap());
        assert_ne!(peer.port(), p, "bound a port in use");
        held.push((up, s));
    }
    let from_range = held
        .iter()
        .filter(|(u, _)| u.local_addr().unwrap().port() == p + 1);
    assert_eq!(from_range.count(), 1);
}

#[tokio::test]
async fn draining_closes_idle_keep_alive_connections_cleanly() {
    let lab = lab(http_rule, |_| {}).await;
    let backend = tokio::spawn(async move { http_backend(&lab.backend).await });
    let (mut client, _) = after_one_allowed_request(lab.proxy).await;
    lab.drain.start();
    // The idle keep-alive connection ends with a clean end of stream, not a reset.
    let mut rest = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), client.read_to_end(&mut rest))
        .await
        .expect("connection not closed on drain")
        .unwrap();
    assert!(rest.is_empty());
    assert_eq!(backend.await.unwrap(), ["GET /public/a HTTP/1.1"]);
    assert!(eventually(Duration::from_secs(2), || lab.shared.active() == 0).await);
}

#[tokio::test]
async fn a_forced_drain_ends_an_open_opaque_relay() {
    let mut lab = lab(|_| String::new(), |_| {}).await;
    let mut client = TcpStream::connect(lab.proxy).await.unwrap();
    let (mut server, _) = lab.backend.accept().await.unwrap();
    client.write_all(b"x").await.unwrap();
    let mut b = [0u8; 1];
    server.read_exact(&mut b).await.unwrap();
    lab.drain.start();
    // A relay does not end by itself when draining starts: the grace period runs out.
    assert!(!lab.drain.finished(Duration::from_millis(200)).await);
    assert_eq!(lab.shared.active(), 1);
    lab.drain.force();
    assert!(lab.drain.finished(Duration::from_secs(5)).await);
    assert_eq!(lab.shared.active(), 0);
    // Both sides see the end (a clean end or a reset, as the sockets close).
    let mut rest = Vec::new();
    let ended = tokio::time::timeout(Duration::from_secs(5), client.read_to_end(&mut rest)).await;
    assert!(ended.is_ok(), "the client's connection stayed open");
    let ended = tokio::time::timeout(Duration::from_secs(5), server.read_to_end(&mut rest)).await;
    assert!(ended.is_ok(), "the upstream connection stayed open");
}

#[tokio::test]
async fn rules_with_enable_logging_write_audit_records() {
    let lab = lab(
        |p| {
            http_rule(p).replace(
                "    action: Allow\n",
                "    action: Allow\n    enableLogging: true\n",
            )
        },
        |_| {},
    )
    .await;
    let mut client = TcpStream::connect(lab.proxy).await.unwrap();
    client
        .write_all(b"GET /admin HTTP/1.1\r\nHost: web\r\n\r\n")
        .await
        .unwrap();
    expect_reset(&mut client).await;
    let audits: Vec<&str> = lab
        .events
        .0
        .lock()
        .unwrap()
        .iter()
        .filter_map(|e| match e {
            Event::Audit(a) => Some(a.disposition),
            _ => None,
        })
        .collect();
    assert_eq!(audits, ["Redirect"]);
}
