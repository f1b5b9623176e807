//! HTTP/2 frames after the client preface, read by the `h2` server the proxy uses, and every
//! request they carry turned into the head policy decides on: no panic, no hang; an
//! accepted head has a canonical path, no override field, a normalized host and is never a
//! CONNECT.
#![no_main]

use std::time::Duration;

use l7proxy::classify::{canonical_path, h2_head};
use libfuzzer_sys::fuzz_target;
use tokio::io::AsyncWriteExt as _;

const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

fuzz_target!(|data: &[u8]| {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    rt.block_on(async {
        let (mut client, server) = tokio::io::duplex(1 << 20);
        let mut wire = PREFACE.to_vec();
        wire.extend_from_slice(data);
        client.write_all(&wire).await.unwrap();
        client.shutdown().await.unwrap();
        let serve = async {
            let Ok(mut conn) = h2::server::Builder::new()
                .max_header_list_size(64 * 1024)
                .max_concurrent_streams(100)
                .handshake::<_, bytes::Bytes>(server)
                .await
            else {
                return;
            };
            while let Some(Ok((request, mut respond))) = conn.accept().await {
                let r = h2_head(&request);
                if let Ok(head) = r {
                    assert_ne!(head.method, "CONNECT");
                    assert_eq!(canonical_path(&head.target), Ok(head.path.as_str()));
                    if let Some(host) = &head.host {
                        assert_eq!(host, &host.to_ascii_lowercase());
                        assert!(!host.ends_with('.'), "{host:?}");
                    }
                    assert!(
                        !request
                            .headers()
                            .keys()
                            .any(|n| n.as_str().contains("override"))
                    );
                }
                respond.send_reset(h2::Reason::CANCEL);
            }
        };
        // The input is finite and the client side is closed: the server must finish.
        assert!(
            tokio::time::timeout(Duration::from_secs(5), serve)
                .await
                .is_ok(),
            "h2 server did not finish on a closed input"
        );
    });
});
