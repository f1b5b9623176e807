//! Every event type's field set, parsed back with serde_json.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use serde_json::{Value, json};

use super::*;
use crate::events::{AppProto, Event, FlowCounters};

/// 2024-09-05T22:49:24.788756Z
fn at() -> SystemTime {
    UNIX_EPOCH + Duration::from_micros(1_725_576_564_788_756)
}

pub(crate) fn flow() -> FlowInfo {
    FlowInfo {
        flow_id: 1_131_530_446_896_560,
        src: "[::ffff:10.10.1.4]:45034".parse().unwrap(),
        dst: "10.10.1.3:80".parse().unwrap(),
        direction: Direction::Ingress,
        start: at() - Duration::from_micros(1014),
    }
}

pub(crate) fn rule() -> Arc<RuleRef> {
    Arc::new(RuleRef {
        kind: PolicyKind::AntreaNetworkPolicy,
        namespace: Some("default".into()),
        name: "allow-privileged-url-to-admin-role".into(),
        rule: "AllowFromClient".into(),
        tier: "application".into(),
        priority: 5.0,
        direction: Direction::Ingress,
        enable_logging: false,
        log_label: None,
    })
}

fn parse(event: &Event) -> Value {
    let line = to_line(event, at()).expect("EVE line");
    assert_eq!(line.last(), Some(&b'\n'));
    assert_eq!(line.iter().filter(|b| **b == b'\n').count(), 1, "one line");
    serde_json::from_slice(&line).expect("valid JSON")
}

fn keys(v: &Value) -> BTreeSet<&str> {
    v.as_object().unwrap().keys().map(String::as_str).collect()
}

fn set(ks: &[&'static str]) -> BTreeSet<&'static str> {
    ks.iter().copied().collect()
}

const COMMON: &[&str] = &[
    "timestamp",
    "flow_id",
    "in_iface",
    "event_type",
    "src_ip",
    "src_port",
    "dest_ip",
    "dest_port",
    "proto",
    "pkt_src",
];

fn common_plus(extra: &[&'static str]) -> BTreeSet<&'static str> {
    COMMON.iter().chain(extra).copied().collect()
}

#[test]
fn timestamp_is_suricata_form() {
    assert_eq!(timestamp(at()), "2024-09-05T22:49:24.788756+0000");
    assert_eq!(timestamp(UNIX_EPOCH), "1970-01-01T00:00:00.000000+0000");
}

#[test]
fn timestamp_equals_chrono_strftime_across_dates() {
    // Every 7,777,777.123456 s from 1970 to ~2100: month ends, leap years, sub-second.
    let mut t = UNIX_EPOCH;
    for _ in 0..530 {
        let want = DateTime::<Utc>::from(t)
            .format("%Y-%m-%dT%H:%M:%S%.6f+0000")
            .to_string();
        assert_eq!(timestamp(t), want);
        t += Duration::from_nanos(7_777_777_123_456_789);
    }
}

#[test]
fn line_writer_stamps_like_timestamp_within_and_across_seconds() {
    let mut w = LineWriter::default();
    let ev = Event::Http {
        flow: flow(),
        rule: None,
        http: HttpEvent::default(),
    };
    let mut t = at();
    let mut out = Vec::new();
    // Steps of 0.3 s and 2.7 days: the same second again, the next one, a new date.
    for step in [300_000u64, 300_000, 300_000, 233_280_000_000, 1, 999_999] {
        out.clear();
        assert!(w.write(&ev, t, &mut out));
        let v: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["timestamp"], timestamp(t), "at {t:?}");
        t += Duration::from_micros(step);
    }
}

#[test]
fn line_writer_appends_and_skips_audit() {
    let mut w = LineWriter::default();
    let mut out = b"previous\n".to_vec();
    let audit = Event::Audit(crate::events::AuditRecord {
        rule: rule(),
        disposition: "Allow",
        src: flow().src,
        dst: flow().dst,
        length: 0,
    });
    assert!(!w.write(&audit, at(), &mut out));
    assert_eq!(out, b"previous\n");
    let http = Event::Http {
        flow: flow(),
        rule: Some(rule()),
        http: HttpEvent::default(),
    };
    assert!(w.write(&http, at(), &mut out));
    let line = &out[b"previous\n".len()..];
    assert_eq!(line, to_line(&http, at()).unwrap());
}

#[test]
fn tls_versions() {
    assert_eq!(tls_version_str(0x0304), "TLS 1.3");
    assert_eq!(tls_version_str(0x0303), "TLS 1.2");
    assert_eq!(tls_version_str(0x0302), "TLS 1.1");
    assert_eq!(tls_version_str(0x0301), "TLSv1");
    assert_eq!(tls_version_str(0x0300), "SSLv3");
    assert_eq!(tls_version_str(0), "UNDETERMINED");
    assert_eq!(tls_version_str(0x7f1c), "0x7f1c");
}

#[test]
fn http_event_fields() {
    let ev = Event::Http {
        flow: flow(),
        rule: Some(rule()),
        http: HttpEvent {
            tx_id: 2,
            hostname: Some("10.10.1.3".into()),
            http_port: Some(8080),
            url: "/public/index.html?a=1".into(),
            http_user_agent: Some("curl/7.81.0".into()),
            http_content_type: Some("text/html".into()),
            http_method: "GET".into(),
            protocol: "HTTP/1.1",
            status: Some(200),
            length: 612,
            http2_stream_id: None,
        },
    };
    let v = parse(&ev);
    assert_eq!(keys(&v), common_plus(&["tx_id", "http", "policy"]));
    assert!(
        v["http"].get("version").is_none(),
        "HTTP/1.x has no version field"
    );
    assert_eq!(v["timestamp"], "2024-09-05T22:49:24.788756+0000");
    assert_eq!(v["flow_id"], 1_131_530_446_896_560u64);
    assert_eq!(v["in_iface"], IN_IFACE);
    assert_eq!(v["event_type"], "http");
    assert_eq!(v["src_ip"], "10.10.1.4", "IPv4-mapped shown as IPv4");
    assert_eq!(v["src_port"], 45034);
    assert_eq!(v["dest_ip"], "10.10.1.3");
    assert_eq!(v["dest_port"], 80);
    assert_eq!(v["proto"], "TCP");
    assert_eq!(v["pkt_src"], "wire/pcap");
    assert_eq!(v["tx_id"], 2);
    assert_eq!(
        v["http"],
        json!({
            "hostname": "10.10.1.3", "http_port": 8080, "url": "/public/index.html?a=1",
            "http_user_agent": "curl/7.81.0", "http_content_type": "text/html",
            "http_method": "GET", "protocol": "HTTP/1.1", "status": 200, "length": 612
        })
    );
    assert_eq!(
        v["policy"],
        json!({
            "kind": "AntreaNetworkPolicy", "namespace": "default",
            "name": "allow-privileged-url-to-admin-role", "rule": "AllowFromClient",
            "tier": "application", "direction": "Ingress"
        })
    );
}

#[test]
fn http_event_omits_absent_fields() {
    let ev = Event::Http {
        flow: flow(),
        rule: None,
        http: HttpEvent {
            url: "/".into(),
            http_method: "GET".into(),
            protocol: "HTTP/1.0",
            ..Default::default()
        },
    };
    let v = parse(&ev);
    assert_eq!(keys(&v), common_plus(&["tx_id", "http"]), "no policy");
    assert_eq!(
        keys(&v["http"]),
        set(&["url", "http_method", "protocol", "length"])
    );
}

#[test]
fn tls_event_fields() {
    let mut r = RuleRef::clone(&rule());
    r.kind = PolicyKind::AntreaClusterNetworkPolicy;
    r.namespace = None;
    let ev = Event::Tls {
        flow: flow(),
        rule: Some(Arc::new(r)),
        tls: TlsEvent {
            sni: Some("www.alfa.test.l7.tls".into()),
            version: 0x0304,
            alpn: vec!["h2".into(), "http/1.1".into()],
        },
    };
    let v = parse(&ev);
    assert_eq!(keys(&v), common_plus(&["tls", "policy"]));
    assert_eq!(v["event_type"], "tls");
    assert_eq!(
        v["tls"],
        json!({"sni": "www.alfa.test.l7.tls", "version": "TLS 1.3", "alpn": ["h2", "http/1.1"]})
    );
    assert_eq!(
        keys(&v["policy"]),
        set(&["kind", "name", "rule", "tier", "direction"]),
        "cluster-scoped: no namespace"
    );
    assert_eq!(v["policy"]["kind"], "AntreaClusterNetworkPolicy");

    let bare = Event::Tls {
        flow: flow(),
        rule: None,
        tls: TlsEvent::default(),
    };
    let v = parse(&bare);
    assert_eq!(v["tls"], json!({"version": "UNDETERMINED"}));
}

fn alert(rule: Option<Arc<RuleRef>>, reason: &str, bytes: &[u8]) -> Event {
    Event::Alert {
        flow: flow(),
        alert: AlertEvent {
            rule,
            app_proto: AppProto::Http,
            reason: reason.into(),
            denied_bytes: bytes.to_vec(),
            counters: FlowCounters {
                pkts_toserver: 3,
                pkts_toclient: 1,
                bytes_toserver: 307,
                bytes_toclient: 78,
            },
            tls: None,
        },
    }
}

#[test]
fn alert_event_fields() {
    let req = b"GET /admin/index.html HTTP/1.1\r\nHost: 10.10.1.3\r\n\r\n";
    let v = parse(&alert(
        Some(rule()),
        "l7 mismatch: path \"/admin/index.html\"",
        req,
    ));
    assert_eq!(
        keys(&v),
        common_plus(&[
            "alert",
            "app_proto",
            "direction",
            "flow",
            "reason",
            "packet",
            "packet_info",
            "policy"
        ])
    );
    assert_eq!(v["event_type"], "alert");
    assert_eq!(
        v["alert"],
        json!({
            "action": "blocked", "gid": 1, "signature_id": 1, "rev": 0,
            "signature": "Reject by AntreaNetworkPolicy:default/allow-privileged-url-to-admin-role",
            "category": "", "severity": 3
        })
    );
    assert_eq!(v["app_proto"], "http");
    assert_eq!(v["direction"], "to_server");
    assert_eq!(v["reason"], "l7 mismatch: path \"/admin/index.html\"");
    assert_eq!(
        v["flow"],
        json!({
            "pkts_toserver": 3, "pkts_toclient": 1, "bytes_toserver": 307, "bytes_toclient": 78,
            "start": "2024-09-05T22:49:24.787742+0000",
            "src_ip": "10.10.1.4", "dest_ip": "10.10.1.3", "src_port": 45034, "dest_port": 80
        })
    );
    assert_eq!(v["packet_info"], json!({"linktype": 101}));
    let pkt = base64::engine::general_purpose::STANDARD
        .decode(v["packet"].as_str().unwrap())
        .unwrap();
    assert_eq!(pkt[0] >> 4, 4, "IPv4 for IPv4-mapped flow");
    assert_eq!(&pkt[12..16], &[10, 10, 1, 4]);
    assert_eq!(&pkt[16..20], &[10, 10, 1, 3]);
    assert!(pkt.ends_with(req), "packet carries the denied bytes");
}

#[test]
fn a_tls_alert_names_the_hello() {
    let mut ev = alert(Some(rule()), "tls: second ClientHello changes the SNI", b"");
    if let Event::Alert { alert, .. } = &mut ev {
        alert.app_proto = AppProto::Tls;
        alert.tls = Some(TlsEvent {
            sni: Some("evil.com".into()),
            version: 0x0304,
            alpn: vec![],
        });
    }
    let v = parse(&ev);
    assert_eq!(v["app_proto"], "tls");
    assert_eq!(v["tls"], json!({"sni": "evil.com", "version": "TLS 1.3"}));
    // Other alerts have no `tls`.
    assert!(parse(&alert(None, "x", b"")).get("tls").is_none());
}

#[test]
fn alert_without_rule() {
    let v = parse(&alert(None, "classification timeout", b""));
    assert!(v.get("policy").is_none());
    assert_eq!(
        v["alert"]["signature"],
        "Reject by l7proxy:classification timeout"
    );
    let v = parse(&alert(None, "header block too large: 70000 bytes", b"x"));
    assert_eq!(
        v["alert"]["signature"],
        "Reject by l7proxy:header block too large"
    );
    assert_eq!(v["reason"], "header block too large: 70000 bytes");
}

#[test]
fn k8s_signature() {
    let mut r = RuleRef::clone(&rule());
    r.kind = PolicyKind::K8sNetworkPolicy;
    r.tier = String::new();
    let v = parse(&alert(Some(Arc::new(r)), "drop rule", b""));
    assert_eq!(
        v["alert"]["signature"],
        "Reject by K8sNetworkPolicy:default/allow-privileged-url-to-admin-role"
    );
}

#[test]
fn strings_are_escaped() {
    let ev = Event::Http {
        flow: flow(),
        rule: None,
        http: HttpEvent {
            url: "/a\"b\\c\u{7}\n".into(),
            http_user_agent: Some("évil\r\n{\"x\":1}".into()),
            http_method: "GET".into(),
            protocol: "HTTP/1.1",
            ..Default::default()
        },
    };
    let v = parse(&ev);
    assert_eq!(v["http"]["url"], "/a\"b\\c\u{7}\n");
    assert_eq!(v["http"]["http_user_agent"], "évil\r\n{\"x\":1}");
}

#[test]
fn audit_is_not_an_eve_line() {
    let ev = Event::Audit(crate::events::AuditRecord {
        rule: rule(),
        disposition: "Allow",
        src: flow().src,
        dst: flow().dst,
        length: 0,
    });
    assert!(to_line(&ev, at()).is_none());
}

#[test]
fn fields_come_in_suricata_order() {
    let ev = Event::Http {
        flow: flow(),
        rule: Some(rule()),
        http: HttpEvent {
            url: "/".into(),
            http_method: "GET".into(),
            protocol: "HTTP/1.1",
            ..Default::default()
        },
    };
    let line = String::from_utf8(to_line(&ev, at()).unwrap()).unwrap();
    let order = [
        "\"timestamp\"",
        "\"flow_id\"",
        "\"in_iface\"",
        "\"event_type\"",
        "\"src_ip\"",
        "\"src_port\"",
        "\"dest_ip\"",
        "\"dest_port\"",
        "\"proto\"",
        "\"pkt_src\"",
        "\"tx_id\"",
        "\"http\"",
        "\"policy\"",
    ];
    let at: Vec<usize> = order
        .iter()
        .map(|k| {
            line.find(&format!("{k}:"))
                .unwrap_or_else(|| panic!("{k} missing: {line}"))
        })
        .collect();
    assert!(at.windows(2).all(|w| w[0] < w[1]), "{line}");
    assert!(line.starts_with("{\"timestamp\":"), "{line}");
}

#[test]
fn http2_stream_fields_as_suricata_writes_them() {
    let ev = Event::Http {
        flow: flow(),
        rule: Some(rule()),
        http: HttpEvent {
            hostname: Some("greeter.example".into()),
            url: "/helloworld.Greeter/SayHello".into(),
            http_method: "POST".into(),
            protocol: "HTTP/2",
            status: Some(200),
            http2_stream_id: Some(3),
            ..Default::default()
        },
    };
    let v = parse(&ev);
    assert_eq!(v["http"]["version"], "2");
    assert_eq!(v["http"]["protocol"], "HTTP/2");
    assert_eq!(v["http"]["http2"]["stream_id"], 3);
}
