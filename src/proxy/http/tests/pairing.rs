//! Responses are paired with requests the proxy checked: bytes from the upstream that
//! answer nothing pending, and a switch to a protocol that was not asked for, reset both
//! sides before they reach the client.

use std::io::ErrorKind;
use std::time::Duration;

use tokio::io::AsyncWriteExt;

use super::super::Outcome;
use super::{OK, exchange, forwarded, read_exactly, read_rest, start};

/// A server that ignores a GET body runs the request hidden in it and answers twice in
/// one write: the second answer must not be kept for the client's next request.
#[tokio::test]
async fn a_second_response_in_the_same_write_resets_both() {
    let (mut client, mut server, task) = start().await;
    let r1 = b"GET /a HTTP/1.1\r\nHost: h\r\n\r\n";
    forwarded(&mut client, &mut server, r1).await;
    let hidden = b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nSECRET";
    server.write_all(&[OK, hidden].concat()).await.unwrap();
    let (got, err) = read_rest(&mut client).await;
    assert_eq!(err, Some(ErrorKind::ConnectionReset));
    assert!(!got.windows(6).any(|w| w == b"SECRET"), "{got:?}");
    let (_, err) = read_rest(&mut server).await;
    assert_eq!(err, Some(ErrorKind::ConnectionReset));
    let run = task.await.unwrap();
    let Outcome::Failed(why) = run.outcome else {
        panic!("{:?}", run.outcome)
    };
    assert_eq!(
        why,
        format!(
            "upstream sent {} bytes with no request pending",
            hidden.len()
        )
    );
}

/// The same answer arriving later, while the connection idles between requests.
#[tokio::test]
async fn upstream_bytes_while_nothing_is_pending_reset_both() {
    let (mut client, mut server, task) = start().await;
    let r1 = b"GET /a HTTP/1.1\r\nHost: h\r\n\r\n";
    exchange(&mut client, &mut server, r1, OK).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    server
        .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nSECRET")
        .await
        .unwrap();
    let (got, err) = read_rest(&mut client).await;
    assert_eq!((got.len(), err), (0, Some(ErrorKind::ConnectionReset)));
    let run = task.await.unwrap();
    assert!(
        matches!(&run.outcome, Outcome::Failed(w) if w.contains("no request pending")),
        "{:?}",
        run.outcome
    );
}

/// After the client finished and every response was delivered, the upstream may only end.
#[tokio::test]
async fn upstream_bytes_after_the_last_response_reset_both() {
    let (mut client, mut server, task) = start().await;
    let r1 = b"GET /a HTTP/1.1\r\nHost: h\r\n\r\n";
    forwarded(&mut client, &mut server, r1).await;
    client.shutdown().await.unwrap();
    server.write_all(OK).await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    server
        .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nSECRET")
        .await
        .unwrap();
    let (got, err) = read_rest(&mut client).await;
    assert!(!got.windows(6).any(|w| w == b"SECRET"), "{got:?}");
    assert_eq!(err, Some(ErrorKind::ConnectionReset));
    assert!(matches!(task.await.unwrap().outcome, Outcome::Failed(_)));
}

/// Bodiless responses (HEAD, 204, 304) and 1xx interim responses are not unsolicited.
#[tokio::test]
async fn bodiless_and_interim_responses_keep_the_connection() {
    let (mut client, mut server, task) = start().await;
    let exchanges: [(&[u8], &[u8]); 4] = [
        (
            b"HEAD /a HTTP/1.1\r\nHost: h\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n",
        ),
        (
            b"GET /b HTTP/1.1\r\nHost: h\r\n\r\n",
            b"HTTP/1.1 204 No Content\r\n\r\n",
        ),
        (
            b"GET /c HTTP/1.1\r\nHost: h\r\n\r\n",
            b"HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n",
        ),
        (
            b"PUT /d HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n",
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </x>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
        ),
    ];
    for (req, resp) in exchanges {
        forwarded(&mut client, &mut server, req).await;
        if req.starts_with(b"PUT") {
            client.write_all(b"hi").await.unwrap();
            read_exactly(&mut server, 2).await;
        }
        server.write_all(resp).await.unwrap();
        assert_eq!(read_exactly(&mut client, resp.len()).await, resp);
    }
    client.shutdown().await.unwrap();
    server.shutdown().await.unwrap();
    let run = task.await.unwrap();
    assert!(
        matches!(run.outcome, Outcome::Closed { .. }),
        "{:?}",
        run.outcome
    );
    let statuses: Vec<_> = run.exchanges.iter().map(|x| x.status).collect();
    assert_eq!(statuses, [Some(200), Some(204), Some(304), Some(200)]);
}

/// A websocket upgrade answered with a switch to h2c: the 101 never reaches the client.
#[tokio::test]
async fn a_101_to_another_protocol_resets_both() {
    let (mut client, mut server, task) = start().await;
    let up = b"GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n";
    forwarded(&mut client, &mut server, up).await;
    server
        .write_all(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\n",
        )
        .await
        .unwrap();
    let (got, err) = read_rest(&mut client).await;
    assert_eq!((got.len(), err), (0, Some(ErrorKind::ConnectionReset)));
    let run = task.await.unwrap();
    assert!(
        matches!(&run.outcome, Outcome::Failed(w) if w == "101 response does not upgrade to websocket"),
        "{:?}",
        run.outcome
    );
}

/// `Upgrade: websocket` plus `Upgrade: h2c` on a later request: refused before a byte of
/// it reaches the server (Apache would switch to HTTP/2 on the second field).
#[tokio::test]
async fn a_repeated_upgrade_field_on_a_later_request_is_denied() {
    let (mut client, mut server, task) = start().await;
    let r1 = b"GET /a HTTP/1.1\r\nHost: h\r\n\r\n";
    exchange(&mut client, &mut server, r1, OK).await;
    client
        .write_all(
            b"GET /a HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nUpgrade: h2c\r\n\r\n",
        )
        .await
        .unwrap();
    let (_, err) = read_rest(&mut client).await;
    assert_eq!(err, Some(ErrorKind::ConnectionReset));
    let (got, _) = read_rest(&mut server).await;
    assert!(got.is_empty(), "{got:?}");
    let Outcome::Denied(d) = task.await.unwrap().outcome else {
        panic!()
    };
    assert_eq!(d.reason, "duplicate Upgrade header");
}
