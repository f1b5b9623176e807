//! The probe clients shape the wire as they claim: a hello written in two segments arrives
//! as two reads with a pause between them; a re-framed hello arrives as two TLS records.
//! Checked with a raw TCP server in a second namespace.

use std::io::Read;
use std::net::{SocketAddr, TcpListener};
use std::time::{Duration, Instant};

use l7proxy_integration::clients::tls::{HelloWrite, TlsProbe, probe};
use l7proxy_integration::clients::{Target, Verdict};
use l7proxy_integration::{Netns, require_root};

/// Two namespaces on a veth; a raw server that records each read, then resets.
fn capture_hello(write: HelloWrite, min_hello: usize) -> (Vec<(Duration, Vec<u8>)>, Verdict) {
    let a = Netns::new("l7t-lab").unwrap();
    let b = Netns::new("l7t-lab").unwrap();
    a.veth("eth0", &b, "eth0").unwrap();
    a.add_addr("eth0", "10.77.8.1/24").unwrap();
    b.add_addr("eth0", "10.77.8.2/24").unwrap();
    let listener = b
        .run_in(|| TcpListener::bind("10.77.8.2:443"))
        .unwrap()
        .unwrap();
    let server = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        s.set_read_timeout(Some(Duration::from_millis(800)))
            .unwrap();
        let start = Instant::now();
        let mut reads = Vec::new();
        let mut buf = [0u8; 65536];
        while let Ok(n) = s.read(&mut buf) {
            if n == 0 {
                break;
            }
            reads.push((start.elapsed(), buf[..n].to_vec()));
        }
        // Dropping with unread data → RST, like a denying proxy.
        reads
    });
    let p = TlsProbe {
        sni: Some("foo.bar.com".into()),
        write,
        min_hello,
        tls12_only: false,
        requests: vec![],
    };
    let mut target = Target::new("10.77.8.2:443".parse::<SocketAddr>().unwrap());
    target.timeout = Duration::from_secs(3);
    let outcome = a.run_in(|| probe(&target, &p)).unwrap();
    (server.join().unwrap(), outcome.result)
}

#[test]
fn hello_in_two_segments_arrives_as_two_reads_with_a_pause() {
    if !require_root() {
        return;
    }
    let pause = Duration::from_millis(300);
    let (reads, _) = capture_hello(HelloWrite::Segments { at: 100, pause }, 0);
    assert!(
        reads.len() >= 2,
        "reads: {:?}",
        reads.iter().map(|r| r.1.len()).collect::<Vec<_>>()
    );
    assert_eq!(
        reads[0].1.len(),
        100,
        "first segment holds exactly the first 100 bytes"
    );
    assert!(reads[1].0 - reads[0].0 >= pause - Duration::from_millis(50));
    let total: usize = reads.iter().map(|r| r.1.len()).sum();
    assert!(
        total > 1448,
        "post-quantum hello is larger than one MSS: {total}"
    );
}

#[test]
fn split_records_and_oversize_hello_are_on_the_wire() {
    if !require_root() {
        return;
    }
    let (reads, verdict) = capture_hello(HelloWrite::Records { at: 200 }, 2100);
    let bytes: Vec<u8> = reads.into_iter().flat_map(|r| r.1).collect();
    assert!(bytes.len() >= 2100 + 5);
    assert_eq!(bytes[0], 0x16);
    let first = u16::from_be_bytes([bytes[3], bytes[4]]) as usize;
    assert_eq!(first, 200, "first record carries 200 handshake bytes");
    assert_eq!(bytes[5 + first], 0x16, "second record follows");
    let second = u16::from_be_bytes([bytes[5 + first + 3], bytes[5 + first + 4]]) as usize;
    assert_eq!(bytes.len(), 10 + first + second);
    // The server read everything and closed without answering: not an allowed probe.
    assert_ne!(verdict, Verdict::Allowed);
}

/// The bulk server really checks uploads: the pattern passes, anything else is reported.
/// Loopback only, no root needed.
#[test]
fn bulk_upload_is_verified_byte_by_byte() {
    use l7proxy_integration::clients::upload;
    use l7proxy_integration::servers::{listen, log::RequestLog, tcp::serve_bulk};
    use std::io::Write;

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let listener = rt
        .block_on(async { listen("127.0.0.1:0".parse().unwrap()) })
        .unwrap();
    let addr = listener.local_addr().unwrap();
    rt.spawn(serve_bulk(listener, RequestLog::open(None).unwrap()));
    let target = Target::new(addr);
    let good = upload(&target, 3_000_000);
    assert_eq!(
        (good.result, good.detail.as_str()),
        (Verdict::Allowed, "ok")
    );
    let mut s = target.connect().unwrap();
    s.write_all(b"up 10\n0123456789").unwrap();
    s.shutdown(std::net::Shutdown::Write).unwrap();
    let mut reply = String::new();
    s.read_to_string(&mut reply).unwrap();
    assert!(reply.starts_with("bad 10 bytes"), "{reply}");
}
