//! HTTP/2 in process: the `h2` crate as the client and as the server on either side of the
//! proxy, so the per-stream decisions and both `--http2-deny` modes are checked without a
//! lab (the real servers and clients are in integration/tests/http2.rs).

use std::sync::Mutex;

use ::http::{Request, Response};
use bytes::Bytes;

use super::*;
use crate::proxy::config::Http2Deny;

/// Answer every stream of the first connection `200 ok`, recording its path; never
/// returns (the client side ends the test).
async fn h2_backend(backend: &TcpListener, seen: &Mutex<Vec<String>>) {
    let (sock, _) = backend.accept().await.unwrap();
    let mut conn = ::h2::server::handshake(sock).await.unwrap();
    while let Some(Ok((request, mut respond))) = conn.accept().await {
        seen.lock().unwrap().push(request.uri().path().to_owned());
        let mut body = respond.send_response(Response::new(()), false).unwrap();
        body.send_data(Bytes::from_static(b"ok"), true).unwrap();
    }
    std::future::pending::<()>().await;
}

/// GET `path` on `send`; the status, or the stream's error.
async fn get(send: &mut ::h2::client::SendRequest<Bytes>, path: &str) -> Result<u16, ::h2::Error> {
    let request = Request::get(format!("http://web{path}")).body(()).unwrap();
    let (response, _) = send.clone().ready().await?.send_request(request, true)?;
    let response = response.await?;
    let status = response.status().as_u16();
    let mut body = response.into_body();
    while let Some(chunk) = body.data().await {
        chunk?;
    }
    Ok(status)
}

async fn client(lab: &Lab) -> ::h2::client::SendRequest<Bytes> {
    let tcp = TcpStream::connect(lab.proxy).await.unwrap();
    let (send, conn) = ::h2::client::handshake(tcp).await.unwrap();
    tokio::spawn(async move {
        let _ = conn.await;
    });
    send
}

/// `/public/a`, `/admin/x`, `/public/b` on one connection through a lab made with `tweak`:
/// the three outcomes and the paths the backend served.
async fn three_streams(
    tweak: impl FnOnce(&mut Config),
) -> (Lab, [Result<u16, ::h2::Error>; 3], Vec<String>) {
    let lab = lab(http_rule, tweak).await;
    let seen = Mutex::new(Vec::new());
    let calls = async {
        let mut send = client(&lab).await;
        let a = get(&mut send, "/public/a").await;
        let denied = get(&mut send, "/admin/x").await;
        let b = get(&mut send, "/public/b").await;
        [a, denied, b]
    };
    let outcomes = tokio::select! {
        r = calls => r,
        () = h2_backend(&lab.backend, &seen) => unreachable!(),
    };
    let seen = seen.into_inner().unwrap();
    (lab, outcomes, seen)
}

#[tokio::test]
async fn a_denied_stream_is_reset_and_the_others_go_on() {
    let (lab, [a, denied, b], seen) = three_streams(|_| {}).await;
    assert_eq!(a.unwrap(), 200);
    let e = denied.unwrap_err();
    assert_eq!(e.reason(), Some(::h2::Reason::CANCEL), "{e}");
    assert_eq!(b.unwrap(), 200);
    assert_eq!(seen, ["/public/a", "/public/b"]);
    let alerts = lab.events.alerts();
    assert!(
        alerts
            .iter()
            .any(|a| a.contains("/admin/x") && a.contains("stream 3")),
        "{alerts:?}"
    );
}

#[tokio::test]
async fn connection_mode_resets_the_whole_connection() {
    let (_lab, [a, denied, after], seen) =
        three_streams(|c| c.http2_deny = Http2Deny::Connection).await;
    assert_eq!(a.unwrap(), 200);
    assert!(denied.is_err() && after.is_err(), "{denied:?} {after:?}");
    assert_eq!(seen, ["/public/a"]);
}

/// A 1 MiB upload and a 1 MiB download on one stream, far past the 64 KiB default windows:
/// the copy must follow both sides' flow control, losing and adding nothing.
#[tokio::test]
async fn bodies_larger_than_the_windows_pass_whole_both_ways() {
    const SIZE: usize = 1 << 20;
    let lab = lab(http_rule, |_| {}).await;
    let backend = async {
        let (sock, _) = lab.backend.accept().await.unwrap();
        let mut conn = ::h2::server::handshake(sock).await.unwrap();
        let (request, mut respond) = conn.accept().await.unwrap().unwrap();
        let serve = async move {
            let got = recv_all(request.into_body()).await;
            let mut out = respond.send_response(Response::new(()), false).unwrap();
            send_all(&mut out, vec![b'r'; SIZE]).await;
            got
        };
        // The connection must be polled while the stream is served.
        let (got, _) = tokio::join!(serve, async { while conn.accept().await.is_some() {} });
        got
    };
    let client = async {
        let send = client(&lab).await;
        let request = Request::post("http://web/public/upload").body(()).unwrap();
        let (response, mut up) = send
            .ready()
            .await
            .unwrap()
            .send_request(request, false)
            .unwrap();
        send_all(&mut up, vec![b'u'; SIZE]).await;
        recv_all(response.await.unwrap().into_body()).await
    };
    let (uploaded, downloaded) = tokio::time::timeout(Duration::from_secs(20), async {
        tokio::join!(backend, client)
    })
    .await
    .expect("both bodies pass within 20 s");
    assert_eq!((uploaded, downloaded), (SIZE, SIZE));
}

/// Send `data` and end the stream, as the peer's window allows.
async fn send_all(to: &mut ::h2::SendStream<Bytes>, data: Vec<u8>) {
    let mut rest = Bytes::from(data);
    while !rest.is_empty() {
        to.reserve_capacity(rest.len());
        let n = futures::future::poll_fn(|cx| to.poll_capacity(cx))
            .await
            .unwrap()
            .unwrap();
        to.send_data(rest.split_to(n.min(rest.len())), false)
            .unwrap();
    }
    to.send_data(Bytes::new(), true).unwrap();
}

/// Bytes of the stream's DATA, giving the window back as they arrive.
async fn recv_all(mut from: ::h2::RecvStream) -> usize {
    let mut got = 0;
    while let Some(chunk) = from.data().await {
        let chunk = chunk.unwrap();
        got += chunk.len();
        from.flow_control().release_capacity(chunk.len()).unwrap();
    }
    got
}
