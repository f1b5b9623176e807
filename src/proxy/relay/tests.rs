use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::*;
use crate::proxy::testutil::{pair, payload};

/// client app <-> (proxy client side | relay | proxy upstream side) <-> server app
async fn relayed(
    mode: RelayMode,
    idle: Duration,
) -> (
    TcpStream,
    TcpStream,
    tokio::task::JoinHandle<io::Result<RelayStats>>,
) {
    let (client, mut pc) = pair().await;
    let (mut pu, server) = pair().await;
    let task = tokio::spawn(async move { relay(&mut pc, &mut pu, mode, idle, Opaque).await });
    (client, server, task)
}

async fn both_ways_byte_exact(mode: RelayMode) {
    const LEN: usize = 16 * 1024 * 1024;
    let (client, server, task) = relayed(mode, Duration::from_secs(30)).await;
    let up = payload(LEN, 1);
    let down = payload(LEN, 2);
    let (mut cr, mut cw) = client.into_split();
    let (mut sr, mut sw) = server.into_split();
    let (up2, down2) = (up.clone(), down.clone());
    let w1 = tokio::spawn(async move {
        cw.write_all(&up2).await.unwrap();
        cw.shutdown().await.unwrap();
    });
    let w2 = tokio::spawn(async move {
        sw.write_all(&down2).await.unwrap();
        sw.shutdown().await.unwrap();
    });
    let mut got_up = Vec::new();
    let mut got_down = Vec::new();
    let (a, b) = tokio::join!(sr.read_to_end(&mut got_up), cr.read_to_end(&mut got_down));
    a.unwrap();
    b.unwrap();
    w1.await.unwrap();
    w2.await.unwrap();
    assert!(got_up == up, "client->server bytes differ");
    assert!(got_down == down, "server->client bytes differ");
    let stats = task.await.unwrap().unwrap();
    assert_eq!(stats.to_server, LEN as u64);
    assert_eq!(stats.to_client, LEN as u64);
    assert!(!stats.idle_timeout);
}

#[tokio::test]
async fn copy_is_byte_exact_both_ways() {
    both_ways_byte_exact(RelayMode::Copy).await;
}

#[tokio::test]
async fn splice_is_byte_exact_both_ways() {
    both_ways_byte_exact(RelayMode::Splice).await;
}

/// The client half-closes after its request; the server still answers through the relay.
async fn client_half_close(mode: RelayMode) {
    let (mut client, mut server, task) = relayed(mode, Duration::from_secs(30)).await;
    client.write_all(b"request").await.unwrap();
    client.shutdown().await.unwrap();
    let mut req = Vec::new();
    server.read_to_end(&mut req).await.unwrap();
    assert_eq!(req, b"request");
    server.write_all(b"response after EOF").await.unwrap();
    server.shutdown().await.unwrap();
    let mut resp = Vec::new();
    client.read_to_end(&mut resp).await.unwrap();
    assert_eq!(resp, b"response after EOF");
    task.await.unwrap().unwrap();
}

/// The server half-closes first; the client can still send.
async fn server_half_close(mode: RelayMode) {
    let (mut client, mut server, task) = relayed(mode, Duration::from_secs(30)).await;
    server.write_all(b"banner").await.unwrap();
    server.shutdown().await.unwrap();
    let mut banner = Vec::new();
    client.read_to_end(&mut banner).await.unwrap();
    assert_eq!(banner, b"banner");
    client.write_all(b"late upload").await.unwrap();
    client.shutdown().await.unwrap();
    let mut got = Vec::new();
    server.read_to_end(&mut got).await.unwrap();
    assert_eq!(got, b"late upload");
    task.await.unwrap().unwrap();
}

#[tokio::test]
async fn half_close_propagates_each_way_copy() {
    client_half_close(RelayMode::Copy).await;
    server_half_close(RelayMode::Copy).await;
}

#[tokio::test]
async fn half_close_propagates_each_way_splice() {
    client_half_close(RelayMode::Splice).await;
    server_half_close(RelayMode::Splice).await;
}

#[tokio::test]
async fn idle_connection_times_out_active_one_does_not() {
    for mode in [RelayMode::Copy, RelayMode::Splice] {
        let (mut client, mut server, task) = relayed(mode, Duration::from_millis(300)).await;
        // Keep bytes moving for longer than the idle timeout.
        for _ in 0..6 {
            client.write_all(b"x").await.unwrap();
            let mut b = [0u8; 1];
            server.read_exact(&mut b).await.unwrap();
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(!task.is_finished(), "{mode:?}: active relay ended early");
        let stats = tokio::time::timeout(Duration::from_secs(5), task)
            .await
            .expect("idle relay did not end")
            .unwrap()
            .unwrap();
        assert!(stats.idle_timeout);
        assert_eq!(stats.to_server, 6);
    }
}

#[tokio::test]
async fn a_reset_is_passed_on_as_a_reset_not_a_clean_end() {
    for mode in [RelayMode::Copy, RelayMode::Splice] {
        for client_resets in [true, false] {
            let (mut client, mut server, task) = relayed(mode, Duration::from_secs(30)).await;
            // Bytes in flight first: an upload cut short must not look complete.
            client.write_all(b"partial upload").await.unwrap();
            let mut got = [0u8; 14];
            server.read_exact(&mut got).await.unwrap();
            let (resetter, mut other) = if client_resets {
                (client, server)
            } else {
                (server, client)
            };
            crate::socket::set_reset_on_close(&resetter).unwrap();
            drop(resetter);
            let mut buf = Vec::new();
            // Promptly (not after the idle timeout), and as a reset, not as EOF.
            let r = tokio::time::timeout(Duration::from_secs(5), other.read_to_end(&mut buf))
                .await
                .expect("reset not passed on");
            assert_eq!(
                r.map_err(|e| e.kind()),
                Err(io::ErrorKind::ConnectionReset),
                "{mode:?}, client resets: {client_resets}"
            );
            let stats = tokio::time::timeout(Duration::from_secs(5), task)
                .await
                .expect("relay stuck after reset")
                .unwrap()
                .unwrap();
            assert!(stats.reset);
        }
    }
}

/// A server that writes a whole response and then resets: every byte the proxy accepted
/// for the slow client reaches it before the reset does, and the stats count them.
async fn reset_after_a_complete_write_delivers_everything(mode: RelayMode) {
    const LEN: usize = 2 * 1024 * 1024;
    let (client, server, task) = relayed(mode, Duration::from_secs(30)).await;
    // A small receive window: most of the response waits in the proxy's buffers.
    socket2::SockRef::from(&client)
        .set_recv_buffer_size(8 * 1024)
        .unwrap();
    let data = payload(LEN, 3);
    let sent = data.clone();
    let writer = tokio::spawn(async move {
        let mut server = server;
        server.write_all(&sent).await.unwrap();
        // Reset only once the proxy acknowledged every byte.
        while crate::socket::send_queue(&server).unwrap().unacked > 0 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        crate::socket::set_reset_on_close(&server).unwrap();
    });
    let mut client = client;
    let mut got = Vec::new();
    let mut buf = vec![0u8; 8 * 1024];
    let end = loop {
        match client.read(&mut buf).await {
            Ok(0) => break None,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) => break Some(e.kind()),
        }
        tokio::time::sleep(Duration::from_micros(300)).await;
    };
    writer.await.unwrap();
    assert_eq!(got.len(), LEN, "{mode:?}: bytes lost to the reset");
    assert!(got == data, "{mode:?}: bytes differ");
    assert_eq!(end, Some(io::ErrorKind::ConnectionReset), "{mode:?}");
    let stats = task.await.unwrap().unwrap();
    assert!(stats.reset);
    assert_eq!((stats.to_client, stats.lost), (LEN as u64, 0), "{mode:?}");
}

#[tokio::test]
async fn reset_after_a_complete_write_delivers_everything_copy() {
    reset_after_a_complete_write_delivers_everything(RelayMode::Copy).await;
}

#[tokio::test]
async fn reset_after_a_complete_write_delivers_everything_splice() {
    reset_after_a_complete_write_delivers_everything(RelayMode::Splice).await;
}

/// A peer that stops reading does not hold a reset back forever: the wait ends at its cap
/// and reports what was never acknowledged; a peer that reads gets everything.
#[tokio::test]
async fn waiting_for_delivery_is_bounded_and_reports_what_is_left() {
    let (writer, mut reader) = pair().await;
    socket2::SockRef::from(&reader)
        .set_recv_buffer_size(4 * 1024)
        .unwrap();
    // More than the reader's window: its window closes, bytes stay unacknowledged.
    let chunk = payload(64 * 1024, 5);
    let mut written = 0usize;
    while written < chunk.len() {
        // Buffers smaller than expected: what was written is enough.
        if tokio::time::timeout(Duration::from_secs(2), writer.writable())
            .await
            .is_err()
        {
            break;
        }
        match writer.try_write(&chunk[written..]) {
            Ok(n) => written += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            Err(e) => panic!("{e}"),
        }
    }
    let t0 = std::time::Instant::now();
    let left = wait_sent(&writer, Duration::from_millis(300)).await;
    assert!(left > 0, "nothing left unacknowledged of {written}");
    assert!(t0.elapsed() < Duration::from_secs(2), "{:?}", t0.elapsed());
    // Reading drains the queue: the next wait ends with nothing left.
    let drain = tokio::spawn(async move {
        let mut sink = Vec::new();
        let mut buf = vec![0u8; 64 * 1024];
        while sink.len() < written {
            let n = reader.read(&mut buf).await.unwrap();
            sink.extend_from_slice(&buf[..n]);
        }
        reader
    });
    assert_eq!(wait_sent(&writer, Duration::from_secs(10)).await, 0);
    drop(drain.await.unwrap());
}
