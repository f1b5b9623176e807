//! TLS after the first hello: a HelloRetryRequest's second hello is decided again and must
//! keep its SNI; every later client byte keeps TLS record framing. Raw TLS bytes over
//! loopback, the backend playing the server.

use super::*;
use crate::classify::HRR_RANDOM;

const CCS: [u8; 6] = [20, 3, 3, 0, 1, 1];
const PLAINTEXT: &[u8] = b"GET /admin HTTP/1.1\r\n\r\n";

fn sni_rule(p: u16) -> String {
    policy(&format!(
        "  - name: sni
    action: Allow
    ports: [{{protocol: TCP, port: {p}}}]
    l7Protocols: [{{tls: {{sni: \"*.allowed.test\"}}}}]
"
    ))
}

/// A minimal TLS 1.3 ClientHello record naming `sni`.
fn hello(sni: &str) -> Vec<u8> {
    let name = sni.as_bytes();
    let mut ext = vec![0, 0];
    ext.extend_from_slice(&((name.len() + 5) as u16).to_be_bytes());
    ext.extend_from_slice(&((name.len() + 3) as u16).to_be_bytes());
    ext.push(0);
    ext.extend_from_slice(&(name.len() as u16).to_be_bytes());
    ext.extend_from_slice(name);
    ext.extend_from_slice(&[0, 43, 0, 3, 2, 3, 4]);
    let mut body = vec![3, 3];
    body.extend_from_slice(&[7; 32]);
    body.extend_from_slice(&[0, 0, 2, 0x13, 0x01, 1, 0]);
    body.extend_from_slice(&(ext.len() as u16).to_be_bytes());
    body.extend_from_slice(&ext);
    handshake_record(1, &body)
}

/// A ServerHello record with `random` (HRR_RANDOM makes it a HelloRetryRequest).
fn server_hello(random: &[u8; 32]) -> Vec<u8> {
    let mut body = vec![3, 3];
    body.extend_from_slice(random);
    body.extend_from_slice(&[0, 0x13, 0x01, 0, 0, 6, 0, 43, 0, 2, 3, 4]);
    handshake_record(2, &body)
}

fn handshake_record(typ: u8, body: &[u8]) -> Vec<u8> {
    let mut m = vec![typ];
    m.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
    m.extend_from_slice(body);
    let mut r = vec![22, 3, 1];
    r.extend_from_slice(&(m.len() as u16).to_be_bytes());
    r.extend_from_slice(&m);
    r
}

fn app_data(payload: &[u8]) -> Vec<u8> {
    let mut r = vec![23, 3, 3];
    r.extend_from_slice(&(payload.len() as u16).to_be_bytes());
    r.extend_from_slice(payload);
    r
}

/// Read exactly `n` bytes or fail within 5 s.
async fn read_n(s: &mut TcpStream, n: usize) -> Vec<u8> {
    let mut b = vec![0u8; n];
    tokio::time::timeout(Duration::from_secs(5), s.read_exact(&mut b))
        .await
        .expect("read timed out")
        .expect("read failed");
    b
}

/// Everything the backend still gets until the proxy ends its side (reset or FIN).
async fn rest(s: &mut TcpStream) -> Vec<u8> {
    let mut got = Vec::new();
    let mut b = [0u8; 4096];
    loop {
        match tokio::time::timeout(Duration::from_secs(5), s.read(&mut b)).await {
            Ok(Ok(n)) if n > 0 => got.extend_from_slice(&b[..n]),
            Ok(_) => return got,
            Err(_) => panic!("backend side not ended; got {got:?}"),
        }
    }
}

struct Conn {
    client: TcpStream,
    server: TcpStream,
}

/// A client whose first hello (`sni`) the proxy forwarded to the backend.
async fn after_first_hello(lab: &Lab, sni: &str) -> Conn {
    let mut client = TcpStream::connect(lab.proxy).await.unwrap();
    client.set_nodelay(true).unwrap();
    let h = hello(sni);
    client.write_all(&h).await.unwrap();
    let (mut server, _) = lab.backend.accept().await.unwrap();
    assert_eq!(read_n(&mut server, h.len()).await, h);
    Conn { client, server }
}

/// The backend asks for a retry (HRR then the compatibility CCS); the client receives it.
async fn retry(c: &mut Conn) {
    let mut flight = server_hello(&HRR_RANDOM);
    flight.extend_from_slice(&CCS);
    c.server.write_all(&flight).await.unwrap();
    assert_eq!(read_n(&mut c.client, flight.len()).await, flight);
}

fn tls_alerts(lab: &Lab) -> Vec<(String, Option<String>)> {
    lab.events
        .0
        .lock()
        .unwrap()
        .iter()
        .filter_map(|e| match e {
            Event::Alert { alert, .. } => Some((
                format!(
                    "{} [{}]",
                    alert.reason,
                    alert.rule.as_ref().map(|r| r.rule.as_str()).unwrap_or("-")
                ),
                alert.tls.as_ref().and_then(|t| t.sni.clone()),
            )),
            _ => None,
        })
        .collect()
}

/// Wait for the alert the connection task writes after the reset.
async fn alert(lab: &Lab) -> (String, Option<String>) {
    for _ in 0..100 {
        if let Some(a) = tls_alerts(lab).pop() {
            return a;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("no alert");
}

#[tokio::test]
async fn a_retried_hello_naming_another_server_is_reset_and_never_forwarded() {
    let lab = lab(sni_rule, |_| {}).await;
    let mut c = after_first_hello(&lab, "a.allowed.test").await;
    retry(&mut c).await;
    let mut second = CCS.to_vec();
    second.extend_from_slice(&hello("evil.com"));
    c.client.write_all(&second).await.unwrap();
    expect_reset(&mut c.client).await;
    assert_eq!(rest(&mut c.server).await, b"");
    let (reason, sni) = alert(&lab).await;
    assert!(reason.starts_with("tls: second ClientHello: "), "{reason}");
    assert!(reason.ends_with("[sni]"), "{reason}");
    assert_eq!(sni.as_deref(), Some("evil.com"));
}

#[tokio::test]
async fn a_retried_hello_changing_the_sni_within_the_rule_is_reset() {
    let lab = lab(sni_rule, |_| {}).await;
    let mut c = after_first_hello(&lab, "a.allowed.test").await;
    retry(&mut c).await;
    // No CCS this time: it is optional.
    c.client.write_all(&hello("b.allowed.test")).await.unwrap();
    expect_reset(&mut c.client).await;
    assert_eq!(rest(&mut c.server).await, b"");
    let (reason, sni) = alert(&lab).await;
    assert_eq!(
        reason,
        "tls: second ClientHello changes the SNI from a.allowed.test to b.allowed.test [sni]"
    );
    assert_eq!(sni.as_deref(), Some("b.allowed.test"));
}

#[tokio::test]
async fn a_retried_hello_keeping_the_sni_goes_through_and_the_session_flows() {
    let lab = lab(sni_rule, |_| {}).await;
    let mut c = after_first_hello(&lab, "a.allowed.test").await;
    retry(&mut c).await;
    // Fragmented over two records and written in pieces.
    let h = hello("a.allowed.test");
    let msg = &h[5..];
    let mut second = CCS.to_vec();
    for part in [&msg[..10], &msg[10..]] {
        second.extend_from_slice(&[22, 3, 3]);
        second.extend_from_slice(&(part.len() as u16).to_be_bytes());
        second.extend_from_slice(part);
    }
    for piece in second.chunks(7) {
        c.client.write_all(piece).await.unwrap();
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    assert_eq!(read_n(&mut c.server, second.len()).await, second);
    let sh = server_hello(&[1; 32]);
    c.server.write_all(&sh).await.unwrap();
    assert_eq!(read_n(&mut c.client, sh.len()).await, sh);
    let up = app_data(&payload(3000, 1));
    c.client.write_all(&up).await.unwrap();
    assert_eq!(read_n(&mut c.server, up.len()).await, up);
    let down = app_data(&payload(5000, 2));
    c.server.write_all(&down).await.unwrap();
    assert_eq!(read_n(&mut c.client, down.len()).await, down);
    assert!(tls_alerts(&lab).is_empty(), "{:?}", tls_alerts(&lab));
}

#[tokio::test]
async fn a_second_retry_is_a_protocol_error() {
    let lab = lab(sni_rule, |_| {}).await;
    let mut c = after_first_hello(&lab, "a.allowed.test").await;
    retry(&mut c).await;
    let h = hello("a.allowed.test");
    c.client.write_all(&h).await.unwrap();
    assert_eq!(read_n(&mut c.server, h.len()).await, h);
    c.server
        .write_all(&server_hello(&HRR_RANDOM))
        .await
        .unwrap();
    let mut b = vec![0u8; 200];
    // The retry itself is forwarded, then the reset.
    let n = c.client.read(&mut b).await.unwrap();
    assert!(n > 0);
    expect_reset(&mut c.client).await;
    let (reason, _) = alert(&lab).await;
    assert_eq!(reason, "tls: a second HelloRetryRequest [-]");
}

#[tokio::test]
async fn a_malformed_second_hello_is_reset() {
    let lab = lab(sni_rule, |_| {}).await;
    let mut c = after_first_hello(&lab, "a.allowed.test").await;
    retry(&mut c).await;
    let mut second = CCS.to_vec();
    second.extend_from_slice(PLAINTEXT);
    c.client.write_all(&second).await.unwrap();
    expect_reset(&mut c.client).await;
    assert_eq!(rest(&mut c.server).await, b"");
    let (reason, _) = alert(&lab).await;
    assert!(
        reason.starts_with("tls: second ClientHello: expected a TLS handshake record"),
        "{reason}"
    );
}

#[tokio::test]
async fn plaintext_after_the_hello_is_reset_and_never_forwarded() {
    for mode in [RelayMode::Copy, RelayMode::Splice] {
        let lab = lab(sni_rule, |c| c.relay = mode).await;
        let mut c = after_first_hello(&lab, "a.allowed.test").await;
        let sh = server_hello(&[1; 32]);
        c.server.write_all(&sh).await.unwrap();
        assert_eq!(read_n(&mut c.client, sh.len()).await, sh);
        // A valid record first: it goes through; the plaintext after it does not.
        let ok = app_data(b"fine");
        c.client.write_all(&ok).await.unwrap();
        assert_eq!(read_n(&mut c.server, ok.len()).await, ok);
        c.client.write_all(PLAINTEXT).await.unwrap();
        expect_reset(&mut c.client).await;
        assert_eq!(rest(&mut c.server).await, b"", "{mode:?}");
        let (reason, _) = alert(&lab).await;
        assert_eq!(
            reason, "tls: client record framing: TLS record content type 71 is not 20..=23 [sni]",
            "{mode:?}"
        );
    }
}

#[tokio::test]
async fn bytes_sent_with_the_hello_wait_for_the_server_and_are_checked() {
    let lab = lab(sni_rule, |_| {}).await;
    let mut client = TcpStream::connect(lab.proxy).await.unwrap();
    let h = hello("a.allowed.test");
    let mut first = h.clone();
    first.extend_from_slice(PLAINTEXT);
    client.write_all(&first).await.unwrap();
    let (mut server, _) = lab.backend.accept().await.unwrap();
    assert_eq!(read_n(&mut server, h.len()).await, h);
    let sh = server_hello(&[1; 32]);
    server.write_all(&sh).await.unwrap();
    assert_eq!(read_n(&mut client, sh.len()).await, sh);
    expect_reset(&mut client).await;
    assert_eq!(rest(&mut server).await, b"");
    let (reason, _) = alert(&lab).await;
    assert!(reason.starts_with("tls: client record framing"), "{reason}");
}

#[tokio::test]
async fn a_second_hello_sent_before_the_retry_is_held_and_decided() {
    let lab = lab(sni_rule, |_| {}).await;
    let mut client = TcpStream::connect(lab.proxy).await.unwrap();
    let h = hello("a.allowed.test");
    let mut all = h.clone();
    all.extend_from_slice(&CCS);
    all.extend_from_slice(&hello("evil.com"));
    client.write_all(&all).await.unwrap();
    let (mut server, _) = lab.backend.accept().await.unwrap();
    assert_eq!(read_n(&mut server, h.len()).await, h);
    let hrr = server_hello(&HRR_RANDOM);
    server.write_all(&hrr).await.unwrap();
    assert_eq!(read_n(&mut client, hrr.len()).await, hrr);
    expect_reset(&mut client).await;
    assert_eq!(rest(&mut server).await, b"");
    assert_eq!(alert(&lab).await.1.as_deref(), Some("evil.com"));
}

#[tokio::test]
async fn a_silent_server_times_out() {
    let lab = lab(sni_rule, |_| {}).await;
    let mut c = after_first_hello(&lab, "a.allowed.test").await;
    expect_reset(&mut c.client).await;
    let (reason, _) = alert(&lab).await;
    assert_eq!(
        reason,
        "tls: timeout waiting for the server's first handshake message [-]"
    );
}
