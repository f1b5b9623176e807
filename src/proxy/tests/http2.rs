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
