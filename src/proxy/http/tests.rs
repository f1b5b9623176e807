use std::sync::Mutex;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::*;
use crate::proxy::reset::reset;
use crate::proxy::testutil::pair;

/// Denies any target under `/admin`; records what it saw.
struct DenyAdmin(Vec<String>);

impl Gate for DenyAdmin {
    fn check(&mut self, head: &RequestHead) -> Decision {
        self.0.push(head.target.clone());
        Decision {
            allowed: !head.target.starts_with("/admin"),
            rule: None,
            detail: format!("path {}", head.target),
        }
    }
}

pub(super) struct Run {
    pub outcome: Outcome,
    pub exchanges: Vec<Exchange>,
    pub seen: Vec<String>,
}

/// Client app <-> proxy (the HTTP loop) <-> server app, over real loopback sockets.
/// Runs the loop in a task the way `conn` does: the first request is read and allowed
/// before the loop starts; on a denial both proxy sockets are reset.
pub(super) async fn start() -> (TcpStream, TcpStream, tokio::task::JoinHandle<Run>) {
    let (client, mut pc) = pair().await;
    let (mut pu, server) = pair().await;
    let task = tokio::spawn(async move {
        let mut buf = ReadBuf::new();
        let first = loop {
            if let Some(h) = parse_request(buf.filled(), 65536).unwrap() {
                break h;
            }
            assert!(matches!(
                buf.fill(&mut pc, 65536).await.unwrap(),
                Fill::Read(_)
            ));
        };
        let mut gate = DenyAdmin(Vec::new());
        let d = gate.check(&first);
        assert!(d.allowed, "tests start with an allowed request");
        let exchanges = Mutex::new(Vec::new());
        let report = |x| exchanges.lock().unwrap().push(x);
        let activity = Activity::new();
        let outcome = serve(
            &mut pc,
            &mut pu,
            First {
                buf,
                head: first,
                rule: None,
            },
            &mut gate,
            Watch {
                limits: LIMITS,
                drain: None,
                activity: &activity,
            },
            &report,
        )
        .await;
        match outcome {
            Outcome::Denied(_) | Outcome::Failed(_) => {
                reset(pu);
                reset(pc);
            }
            Outcome::Closed {
                reset_upstream: true,
            } => reset(pu),
            _ => {}
        }
        Run {
            outcome,
            exchanges: exchanges.into_inner().unwrap(),
            seen: gate.0,
        }
    });
    (client, server, task)
}

pub(super) async fn read_exactly(s: &mut TcpStream, n: usize) -> Vec<u8> {
    let mut b = vec![0u8; n];
    tokio::time::timeout(Duration::from_secs(5), s.read_exact(&mut b))
        .await
        .expect("timed out")
        .unwrap();
    b
}

/// Everything the peer still sends until EOF or reset (bounded in time).
pub(super) async fn read_rest(s: &mut TcpStream) -> (Vec<u8>, Option<std::io::ErrorKind>) {
    let mut out = Vec::new();
    let mut b = [0u8; 4096];
    loop {
        match tokio::time::timeout(Duration::from_secs(5), s.read(&mut b))
            .await
            .expect("stuck")
        {
            Ok(0) => return (out, None),
            Ok(n) => out.extend_from_slice(&b[..n]),
            Err(e) => return (out, Some(e.kind())),
        }
    }
}

/// The client's bytes reach the server unchanged.
pub(super) async fn forwarded(client: &mut TcpStream, server: &mut TcpStream, request: &[u8]) {
    client.write_all(request).await.unwrap();
    assert_eq!(read_exactly(server, request.len()).await, request);
}

/// One allowed exchange: the request reaches the server unchanged and its answer reaches
/// the client unchanged.
pub(super) async fn exchange(
    client: &mut TcpStream,
    server: &mut TcpStream,
    request: &[u8],
    response: &[u8],
) {
    forwarded(client, server, request).await;
    server.write_all(response).await.unwrap();
    assert_eq!(read_exactly(client, response.len()).await, response);
}

const LIMITS: Limits = Limits {
    max_head: 65536,
    head_timeout: Duration::from_millis(300),
};

pub(super) const OK: &[u8] =
    b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nok";

#[tokio::test]
async fn keep_alive_allowed_then_denied_resets_both() {
    let (mut client, mut server, task) = start().await;
    let r1 = b"GET /public HTTP/1.1\r\nHost: a\r\n\r\n";
    exchange(&mut client, &mut server, r1, OK).await;

    client
        .write_all(b"GET /admin HTTP/1.1\r\nHost: a\r\n\r\n")
        .await
        .unwrap();
    let (rest, err) = read_rest(&mut client).await;
    assert!(rest.is_empty());
    assert_eq!(err, Some(std::io::ErrorKind::ConnectionReset));
    let (got, _) = read_rest(&mut server).await;
    assert!(got.is_empty(), "server received denied bytes: {got:?}");
    let run = task.await.unwrap();
    let Outcome::Denied(d) = run.outcome else {
        panic!("not denied: {:?}", run.outcome)
    };
    assert!(d.bytes.starts_with(b"GET /admin"));
    assert_eq!(run.seen, ["/public", "/admin"]);
    assert_eq!(run.exchanges.len(), 1);
    assert_eq!(run.exchanges[0].status, Some(200));
    assert_eq!(run.exchanges[0].length, 2);
    assert_eq!(run.exchanges[0].content_type.as_deref(), Some("text/plain"));
}

#[tokio::test]
async fn pipelined_requests_are_each_checked_and_paired() {
    let (mut client, mut server, task) = start().await;
    let reqs = b"GET /a HTTP/1.1\r\nHost: h\r\n\r\nHEAD /b HTTP/1.1\r\nHost: h\r\n\r\nGET /c HTTP/1.1\r\nHost: h\r\n\r\n";
    forwarded(&mut client, &mut server, reqs).await;
    // HEAD's response carries a Content-Length but no body: pairing must know that.
    let resps: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nHTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n";
    server.write_all(resps).await.unwrap();
    assert_eq!(read_exactly(&mut client, resps.len()).await, resps);
    client.shutdown().await.unwrap();
    let (rest, _) = read_rest(&mut server).await;
    assert!(rest.is_empty());
    server.shutdown().await.unwrap();
    let (rest, err) = read_rest(&mut client).await;
    assert!(rest.is_empty() && err.is_none());
    let run = task.await.unwrap();
    // The client finished first: its FIN went upstream, nothing to reset.
    assert!(
        matches!(
            run.outcome,
            Outcome::Closed {
                reset_upstream: false
            }
        ),
        "{:?}",
        run.outcome
    );
    assert_eq!(run.seen, ["/a", "/b", "/c"]);
    let st: Vec<_> = run
        .exchanges
        .iter()
        .map(|x| (x.request.target.as_str(), x.status, x.length))
        .collect();
    assert_eq!(
        st,
        [
            ("/a", Some(200), 2),
            ("/b", Some(200), 0),
            ("/c", Some(404), 13)
        ]
    );
}

#[tokio::test]
async fn pipelined_denied_request_never_reaches_the_server() {
    let (mut client, mut server, task) = start().await;
    let first = b"GET /a HTTP/1.1\r\nHost: h\r\n\r\n";
    let mut both = first.to_vec();
    both.extend_from_slice(b"GET /admin/x HTTP/1.1\r\nHost: h\r\n\r\n");
    client.write_all(&both).await.unwrap();
    let (got, _) = read_rest(&mut server).await;
    assert_eq!(got, first);
    let (_, err) = read_rest(&mut client).await;
    assert_eq!(err, Some(std::io::ErrorKind::ConnectionReset));
    assert!(matches!(task.await.unwrap().outcome, Outcome::Denied(_)));
}

#[tokio::test]
async fn chunked_request_body_is_forwarded_unchanged_and_next_request_checked() {
    let (mut client, mut server, task) = start().await;
    let post = b"POST /up HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n";
    forwarded(&mut client, &mut server, post).await;
    // Interim 100 Continue, then the body in awkward pieces (a fake request inside).
    let cont = b"HTTP/1.1 100 Continue\r\n\r\n";
    server.write_all(cont).await.unwrap();
    assert_eq!(read_exactly(&mut client, cont.len()).await, cont);
    let body: &[&[u8]] = &[
        b"1",
        b"7\r\nGET /admin HTTP/1.1\r\n\r\n",
        b"\r",
        b"\n0\r\n",
        b"\r\n",
    ];
    for piece in body {
        client.write_all(piece).await.unwrap();
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let flat: Vec<u8> = body.concat();
    assert_eq!(read_exactly(&mut server, flat.len()).await, flat);
    server.write_all(OK).await.unwrap();
    assert_eq!(read_exactly(&mut client, OK.len()).await, OK);
    // Then a denied request on the same connection.
    client
        .write_all(b"GET /admin HTTP/1.1\r\nHost: h\r\n\r\n")
        .await
        .unwrap();
    let (_, err) = read_rest(&mut client).await;
    assert_eq!(err, Some(std::io::ErrorKind::ConnectionReset));
    let (got, _) = read_rest(&mut server).await;
    assert!(got.is_empty());
    let run = task.await.unwrap();
    assert_eq!(run.seen, ["/up", "/admin"]);
    assert_eq!(run.exchanges.len(), 1);
    assert_eq!(run.exchanges[0].status, Some(200));
}

#[tokio::test]
async fn ambiguous_framing_on_a_later_request_is_denied() {
    let (mut client, mut server, task) = start().await;
    let r1 = b"GET / HTTP/1.1\r\nHost: h\r\n\r\n";
    exchange(&mut client, &mut server, r1, OK).await;
    client
        .write_all(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
        .await
        .unwrap();
    let (_, err) = read_rest(&mut client).await;
    assert_eq!(err, Some(std::io::ErrorKind::ConnectionReset));
    let (got, _) = read_rest(&mut server).await;
    assert!(got.is_empty());
    let run = task.await.unwrap();
    let Outcome::Denied(d) = run.outcome else {
        panic!("{:?}", run.outcome)
    };
    assert!(
        d.reason.contains("Content-Length and Transfer-Encoding"),
        "{}",
        d.reason
    );
}

#[tokio::test]
async fn upgrade_switches_to_opaque_with_buffered_bytes() {
    let (mut client, mut server, task) = start().await;
    let up = b"GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n";
    forwarded(&mut client, &mut server, up).await;
    let switch = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\nFRAME-FROM-SERVER";
    server.write_all(switch).await.unwrap();
    let run = task.await.unwrap();
    let Outcome::Upgraded {
        client_buf,
        upstream_buf,
    } = run.outcome
    else {
        panic!("{:?}", run.outcome)
    };
    assert!(client_buf.is_empty());
    assert_eq!(upstream_buf.filled(), b"FRAME-FROM-SERVER");
    assert_eq!(run.exchanges[0].status, Some(101));
    let head = &switch[..switch.len() - b"FRAME-FROM-SERVER".len()];
    assert_eq!(read_exactly(&mut client, head.len()).await, head);
}

#[tokio::test]
async fn oversized_head_is_denied() {
    let (mut client, mut server, task) = start().await;
    let r1 = b"GET / HTTP/1.1\r\nHost: h\r\n\r\n";
    exchange(&mut client, &mut server, r1, OK).await;
    let mut big = b"GET / HTTP/1.1\r\nX-Big: ".to_vec();
    big.resize(70_000, b'a');
    let _ = client.write_all(&big).await;
    let (_, err) = read_rest(&mut client).await;
    assert_eq!(err, Some(std::io::ErrorKind::ConnectionReset));
    let Outcome::Denied(d) = task.await.unwrap().outcome else {
        panic!()
    };
    assert!(d.reason.contains("exceeds 65536"), "{}", d.reason);
}

#[tokio::test]
async fn malformed_chunked_body_resets_both() {
    let (mut client, mut server, task) = start().await;
    let post = b"POST /up HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n";
    forwarded(&mut client, &mut server, post).await;
    client
        .write_all(b"3\r\nabc\r\n\r\nGET /admin HTTP/1.1\r\n\r\n")
        .await
        .unwrap();
    let (_, err) = read_rest(&mut client).await;
    assert_eq!(err, Some(std::io::ErrorKind::ConnectionReset));
    let (got, err) = read_rest(&mut server).await;
    assert_eq!(err, Some(std::io::ErrorKind::ConnectionReset));
    assert!(!got.windows(6).any(|w| w == b"/admin"), "{got:?}");
    let Outcome::Denied(d) = task.await.unwrap().outcome else {
        panic!()
    };
    assert!(d.reason.contains("chunk"), "{}", d.reason);
}

#[tokio::test]
async fn large_bodies_both_ways_are_byte_exact() {
    use crate::proxy::testutil::payload;
    const LEN: usize = 3 << 20;
    let (mut client, mut server, task) = start().await;
    let up = payload(LEN, 3);
    let down = payload(LEN, 4);
    let head = format!("PUT /big HTTP/1.1\r\nHost: h\r\nContent-Length: {LEN}\r\n\r\n");
    let resp = format!("HTTP/1.1 200 OK\r\nContent-Length: {LEN}\r\n\r\n");
    let (mut cr, mut cw) = client.split();
    let (mut sr, mut sw) = server.split();
    let send = async {
        cw.write_all(head.as_bytes()).await.unwrap();
        cw.write_all(&up).await.unwrap();
    };
    let serve = async {
        let mut got = vec![0u8; head.len() + LEN];
        sr.read_exact(&mut got).await.unwrap();
        assert!(got[head.len()..] == up[..], "request body differs");
        sw.write_all(resp.as_bytes()).await.unwrap();
        sw.write_all(&down).await.unwrap();
    };
    let recv = async {
        let mut got = Vec::new();
        let mut b = vec![0u8; 65536];
        while got.len() < LEN + resp.len() {
            let n = cr.read(&mut b).await.unwrap();
            assert!(n > 0);
            got.extend_from_slice(&b[..n]);
        }
        got
    };
    let ((), (), got) = tokio::join!(send, serve, recv);
    assert_eq!(got.len(), LEN + resp.len());
    assert!(got[resp.len()..] == down[..], "response body differs");
    drop(client);
    drop(server);
    let run = task.await.unwrap();
    assert_eq!(run.exchanges.len(), 1);
    assert_eq!(run.exchanges[0].length, LEN as u64);
}

#[tokio::test]
async fn server_closing_an_idle_keep_alive_connection_reaches_the_client() {
    let (mut client, mut server, task) = start().await;
    let r1 = b"GET /a HTTP/1.1\r\nHost: h\r\n\r\n";
    exchange(&mut client, &mut server, r1, OK).await;
    // The server times the idle connection out.
    server.shutdown().await.unwrap();
    let (rest, err) = read_rest(&mut client).await;
    assert!(rest.is_empty() && err.is_none(), "{rest:?} {err:?}");
    drop(client);
    let run = task.await.unwrap();
    assert!(
        matches!(run.outcome, Outcome::Closed { .. }),
        "{:?}",
        run.outcome
    );
    assert_eq!(run.exchanges.len(), 1);
}

#[tokio::test]
async fn a_later_head_trickled_past_the_head_timeout_is_denied() {
    let (mut client, mut server, task) = start().await;
    let r1 = b"GET / HTTP/1.1\r\nHost: h\r\n\r\n";
    exchange(&mut client, &mut server, r1, OK).await;
    // Idle between requests is fine (no timer while nothing has arrived)...
    tokio::time::sleep(Duration::from_millis(400)).await;
    // ...but a started head must finish in time.
    for b in b"GET /slow HTTP/1.1\r\nHost: h\r\n" {
        if client.write_all(&[*b]).await.is_err() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let Outcome::Denied(d) = task.await.unwrap().outcome else {
        panic!()
    };
    assert_eq!(d.reason, "request head timeout");
    let (got, _) = read_rest(&mut server).await;
    assert!(got.is_empty());
}

#[tokio::test]
async fn an_upstream_that_ended_first_is_reset_once_the_client_finishes() {
    let (mut client, mut server, task) = start().await;
    let req = b"GET /a HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n";
    forwarded(&mut client, &mut server, req).await;
    let resp = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok";
    server.write_all(resp).await.unwrap();
    // Half-closed: the server still reads, so it can tell a FIN from a reset.
    server.shutdown().await.unwrap();
    let (got, err) = read_rest(&mut client).await;
    assert_eq!((got.as_slice(), err), (&resp[..], None));
    client.shutdown().await.unwrap();
    let run = task.await.unwrap();
    assert!(
        matches!(
            run.outcome,
            Outcome::Closed {
                reset_upstream: true
            }
        ),
        "{:?}",
        run.outcome
    );
    let (rest, err) = read_rest(&mut server).await;
    assert_eq!(
        (rest.len(), err),
        (0, Some(std::io::ErrorKind::ConnectionReset))
    );
}

mod pairing;
