//! What bounds the event log under a flood of denials: the alert payload cap, the alert
//! rate limit and size-based rotation, on real files.

use std::fs;
use std::time::Instant;

use base64::Engine as _;
use serde_json::Value;

use super::super::*;
use super::{FLUSH, eve_path, http, lines, rule};

/// A denial carrying `bytes`, as the data path reports one.
fn denial(id: u64, bytes: Vec<u8>) -> Event {
    Event::Alert {
        flow: FlowInfo {
            flow_id: id,
            src: "10.0.0.1:40000".parse().unwrap(),
            dst: "10.0.0.2:80".parse().unwrap(),
            direction: Direction::Ingress,
            start: SystemTime::now(),
        },
        alert: AlertEvent {
            rule: Some(rule()),
            app_proto: AppProto::Http,
            reason: "l7 mismatch: path \"/admin\"".into(),
            denied_bytes: bytes,
            counters: FlowCounters::default(),
            tls: None,
        },
    }
}

/// 64 KiB of request: a head then a body of `x`.
fn big_request() -> Vec<u8> {
    let mut r = b"POST /admin HTTP/1.1\r\nHost: web\r\nContent-Length: 65000\r\n\r\n".to_vec();
    r.resize(64 * 1024, b'x');
    r
}

fn packet_of(v: &Value) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode(v["packet"].as_str().unwrap())
        .unwrap()
}

fn line_of(writer: &mut eve::LineWriter, event: &Event) -> (usize, Value) {
    let mut out = Vec::new();
    assert!(writer.write(event, SystemTime::now(), &mut out));
    let v = serde_json::from_slice(&out).unwrap();
    (out.len(), v)
}

#[test]
fn alert_payload_is_capped_and_says_so() {
    let req = big_request();
    let mut w = eve::LineWriter::with_payload_cap(4096);
    let (len, v) = line_of(&mut w, &denial(1, req.clone()));
    assert!(len < 7 * 1024, "a 64 KiB denial wrote {len} bytes");
    assert_eq!(v["payload_truncated"], true);
    let pkt = packet_of(&v);
    assert_eq!(pkt.len(), 40 + 4096, "IPv4 + TCP headers + the cap");
    assert_eq!(u16::from_be_bytes([pkt[2], pkt[3]]) as usize, pkt.len());
    assert_eq!(&pkt[40..], &req[..4096], "the first bytes, unchanged");

    // Within the cap: the whole payload and no marker, as Suricata writes it.
    let (_, v) = line_of(&mut w, &denial(2, req[..100].to_vec()));
    assert!(v.get("payload_truncated").is_none(), "{v}");
    assert_eq!(&packet_of(&v)[40..], &req[..100]);

    // 0: headers only, still a decodable packet.
    let mut w = eve::LineWriter::with_payload_cap(0);
    let (_, v) = line_of(&mut w, &denial(3, req));
    assert_eq!(packet_of(&v).len(), 40);
    assert_eq!(v["payload_truncated"], true);
    let (_, v) = line_of(&mut w, &denial(4, Vec::new()));
    assert!(
        v.get("payload_truncated").is_none(),
        "nothing was denied, nothing cut"
    );
}

#[test]
fn alert_flood_is_rate_limited_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let metrics = Arc::new(Metrics::new());
    let options = SinkOptions {
        alert_rate: 100,
        ..SinkOptions::new(dir.path())
    };
    let started = Instant::now();
    let sink = EventSink::start_with(options, metrics.clone()).unwrap();
    let req = big_request();
    for i in 0..2_000 {
        sink.emit(denial(i, req.clone()));
    }
    let elapsed = started.elapsed().as_secs_f64();
    // Allowed records are never limited.
    for i in 0..10 {
        sink.emit(http(10_000 + i, "/ok"));
    }
    assert!(sink.flush(FLUSH));
    let path = eve_path(dir.path());
    let all = lines(&path);
    let alerts = all.iter().filter(|v| v["event_type"] == "alert").count();
    let allowed = all.iter().filter(|v| v["event_type"] == "http").count();
    let most = 100 + (100.0 * elapsed).ceil() as usize;
    assert!(
        (100..=most).contains(&alerts),
        "{alerts} alerts, at most {most}"
    );
    assert_eq!(allowed, 10);
    assert!(
        all.iter()
            .filter(|v| v["event_type"] == "alert")
            .all(|v| v["payload_truncated"] == true)
    );
    let size = fs::metadata(&path).unwrap().len();
    assert!(size < 1_000_000, "{size} bytes for 2,000 denials");
    let text = metrics.encode();
    let want = format!("l7proxy_alerts_suppressed_total {}", 2_000 - alerts);
    assert!(text.lines().any(|l| l == want), "{want} not in\n{text}");
    assert!(text.contains("l7proxy_events_dropped_total 0"));
}

#[test]
fn unlimited_rate_writes_every_alert() {
    let dir = tempfile::tempdir().unwrap();
    let options = SinkOptions {
        alert_rate: 0,
        queue_capacity: 1_000,
        ..SinkOptions::new(dir.path())
    };
    let sink = EventSink::start_with(options, Arc::new(Metrics::new())).unwrap();
    for i in 0..500 {
        sink.emit(denial(i, b"GET /admin HTTP/1.1\r\n\r\n".to_vec()));
    }
    assert!(sink.flush(FLUSH));
    assert_eq!(lines(&eve_path(dir.path())).len(), 500);
}

#[test]
fn eve_file_rotates_by_size_and_keeps_n() {
    let dir = tempfile::tempdir().unwrap();
    let options = SinkOptions {
        rotation: Rotation {
            max_bytes: 2_000,
            keep: 2,
        },
        ..SinkOptions::new(dir.path())
    };
    let sink = EventSink::start_with(options, Arc::new(Metrics::new())).unwrap();
    // One line per batch, so every file but a rotated one's last batch is under the limit.
    for i in 0..60 {
        sink.emit(http(i, &format!("/{i}")));
        assert!(sink.flush(FLUSH));
    }
    let path = eve_path(dir.path());
    let rotated = [1, 2].map(|n| rotate::numbered(&path, n));
    assert!(!rotate::numbered(&path, 3).exists(), "only 2 kept");
    let mut seen = Vec::new();
    for p in rotated.iter().rev().chain([&path]) {
        let size = fs::metadata(p).unwrap().len();
        assert!(size > 0 && size <= 2_000, "{}: {size} bytes", p.display());
        seen.extend(lines(p).iter().map(|v| v["flow_id"].as_u64().unwrap()));
    }
    // The newest lines, in order, with nothing lost between the kept files.
    let first = seen[0];
    assert_eq!(seen, (first..60).collect::<Vec<_>>());
    assert!(first > 0, "older lines were rotated away");
}

#[test]
fn rotation_off_keeps_one_file() {
    let dir = tempfile::tempdir().unwrap();
    let options = SinkOptions {
        rotation: Rotation {
            max_bytes: 0,
            keep: 2,
        },
        ..SinkOptions::new(dir.path())
    };
    let sink = EventSink::start_with(options, Arc::new(Metrics::new())).unwrap();
    for i in 0..60 {
        sink.emit(http(i, "/x"));
        assert!(sink.flush(FLUSH));
    }
    let path = eve_path(dir.path());
    assert_eq!(lines(&path).len(), 60);
    assert!(!rotate::numbered(&path, 1).exists());
}
