//! What denials cost the node: a flood of denied 64 KiB requests must leave a bounded EVE
//! log (payload cap, alert rate limit) while every one of them is still reset and none
//! reaches the server; and the np.log lines name the protected Pod and the length of the
//! client's first data, as Antrea's do.
//!
//! Run as root: `cargo test -p l7proxy-integration --test alerts`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use base64::Engine as _;
use l7proxy_integration::clients::{self, Target, Verdict};
use l7proxy_integration::lab::Lab;
use l7proxy_integration::pods::{self, Family, Host};
use l7proxy_integration::policy::web_policy;
use l7proxy_integration::require_root;
use serde_json::Value;

/// Ingress of the web Pod: HTTP on 80 only under /public/ and the rest dropped, both logged.
fn policy() -> String {
    const INGRESS: &str = r#"  - name: http-public
    action: Allow
    enableLogging: true
    logLabel: web-http
    ports: [{protocol: TCP, port: 80}]
    l7Protocols: [{http: {path: "/public/*"}}]
  - name: drop-other
    action: Drop
    enableLogging: true
"#;
    web_policy("alerts", &[INGRESS], &[])
}

/// Applied to a NodePort Service: valid for Antrea, enforced at the node, never here. If
/// it applied to the Pod it would drop the lab's client.
const SERVICE_POLICY: &str = r#"
apiVersion: crd.antrea.io/v1beta1
kind: ClusterNetworkPolicy
metadata: {name: nodeport-only}
spec:
  priority: 1
  tier: securityops
  appliedTo: [{service: {namespace: default, name: web-nodeport}}]
  ingress:
  - action: Drop
    from: [{ipBlock: {cidr: 10.77.0.0/16}}]
"#;

const DENIALS: usize = 2_000;
const THREADS: usize = 8;

fn web(port: u16) -> SocketAddr {
    Lab::addr(&pods::endpoint("web").unwrap(), Family::V4, port)
}

fn target(port: u16) -> Target {
    let mut t = Target::new(web(port));
    t.bind = Some(pods::endpoint("client").unwrap().ip(Family::V4));
    t
}

/// A 64 KiB request the policy denies (path outside /public/), sent in one write; its
/// head is 63 KiB, so the proxy reads all of it before deciding and the alert has the
/// whole 64 KiB to carry.
fn denied_request() -> Vec<u8> {
    let mut r = b"POST /admin/upload HTTP/1.1\r\nHost: web\r\nX-Pad: ".to_vec();
    r.resize(63 * 1024, b'p');
    r.extend_from_slice(b"\r\nContent-Length: 1024\r\n\r\n");
    r.resize(64 * 1024, b'x');
    r
}

/// Bytes of every EVE file in the log directory, rotated ones included.
fn eve_bytes(lab: &Lab) -> u64 {
    std::fs::read_dir(lab.log_dir())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with("eve-"))
        .map(|e| e.metadata().map(|m| m.len()).unwrap_or(0))
        .sum()
}

fn metric(lab: &Lab, name: &str) -> f64 {
    let out = lab
        .web
        .exec(
            "curl",
            &["-sf", "--max-time", "2", "http://127.0.0.1:15020/metrics"],
        )
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.split(['{', ' ']).next() == Some(name))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[test]
fn denial_flood_leaves_a_bounded_eve_log_and_every_denial_reset() {
    if !require_root() {
        return;
    }
    let mut lab = Lab::new("l7t-al").unwrap();
    lab.add_manifest("policy.yaml", &policy()).unwrap();
    // Defaults: 4 KiB payload cap, 100 alerts/s.
    lab.start_proxy().unwrap();
    let req = denied_request();
    let t = target(80);
    let started = Instant::now();
    let outcomes: Vec<Verdict> = lab
        .client
        .run_in(|| {
            std::thread::scope(|s| {
                let workers: Vec<_> = (0..THREADS)
                    .map(|_| {
                        s.spawn(|| {
                            (0..DENIALS / THREADS)
                                .map(|_| clients::raw(&t, &req).result)
                                .collect::<Vec<_>>()
                        })
                    })
                    .collect();
                workers
                    .into_iter()
                    .flat_map(|w| w.join().unwrap())
                    .collect()
            })
        })
        .unwrap();
    let elapsed = started.elapsed();
    let resets = outcomes.iter().filter(|v| **v == Verdict::Reset).count();
    assert_eq!(
        resets,
        DENIALS,
        "every denial is reset, rate limit or not: {:?}\nproxy log:\n{}",
        outcomes
            .iter()
            .filter(|v| **v != Verdict::Reset)
            .take(5)
            .collect::<Vec<_>>(),
        lab.proxy_log()
    );
    // Where the harm would be: the server never saw one of them.
    let seen = lab.server_requests(Host::Web);
    assert!(
        !seen.iter().any(|r| r.path.starts_with("/admin")),
        "a denied request reached the server: {seen:?}"
    );

    // The writer batches for a few ms; give it time, then read what the flood cost.
    std::thread::sleep(Duration::from_millis(500));
    let written = eve_bytes(&lab);
    let events = lab.events();
    let alerts: Vec<&Value> = events
        .iter()
        .filter(|e| e["event_type"] == "alert")
        .collect();
    eprintln!(
        "{DENIALS} denials of 64 KiB in {elapsed:?}: {} alerts, {written} bytes of EVE",
        alerts.len()
    );
    // Without the limits this flood writes ~176 MB. With them: at most the burst plus the
    // rate for as long as the flood lasted, each alert a few KiB; 5 MB on a machine that
    // sends the flood within a few seconds, more room on a slower (busy) one.
    let allowance = 8_000 * (100 + 100 * (elapsed.as_secs() + 2));
    assert!(
        written < allowance.max(5_000_000),
        "{written} bytes of EVE for {DENIALS} denials in {elapsed:?}"
    );
    assert!(!alerts.is_empty(), "denials still produce alerts");
    for a in &alerts {
        let packet = base64::engine::general_purpose::STANDARD
            .decode(a["packet"].as_str().unwrap())
            .unwrap();
        assert!(
            packet.len() <= 40 + 4096,
            "packet of {} bytes",
            packet.len()
        );
        // The proxy denies as soon as the head is parsed: it may have read less than the cap.
        let read = a["flow"]["bytes_toserver"].as_u64().unwrap();
        assert_eq!(
            a["payload_truncated"] == true,
            read > 4096,
            "payload_truncated says whether the {read} bytes read were cut: {a}"
        );
    }
    let suppressed = metric(&lab, "l7proxy_alerts_suppressed_total");
    assert!(suppressed > 0.0, "suppressed alerts counted");
    assert_eq!(
        suppressed as usize + alerts.len(),
        DENIALS,
        "every denial is either an alert or counted as suppressed"
    );
    let deadline = Instant::now() + Duration::from_secs(3);
    while !lab.proxy_log().contains("alerts suppressed") {
        assert!(
            Instant::now() < deadline,
            "no suppression summary in the proxy log:\n{}",
            lab.proxy_log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(lab.proxy_running(), "proxy died:\n{}", lab.proxy_log());
}

/// Columns of the np.log lines so far.
fn np_lines(path: &PathBuf) -> Vec<Vec<String>> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| l.split(' ').map(String::from).collect())
        .collect()
}

#[test]
fn np_log_names_the_pod_and_the_first_data_length() {
    if !require_root() {
        return;
    }
    let mut lab = Lab::new("l7t-np").unwrap();
    lab.add_manifest("policy.yaml", &policy()).unwrap();
    lab.add_manifest("service.yaml", SERVICE_POLICY).unwrap();
    lab.start_proxy().unwrap();
    let log = lab.proxy_log();
    assert!(
        log.contains("policy not enforced by l7proxy") && log.contains("web-nodeport"),
        "the Service-applied policy is reported at load:\n{log}"
    );
    let allowed = b"GET /public/np HTTP/1.1\r\nHost: web\r\nConnection: close\r\n\r\n";
    let out = lab
        .client
        .run_in(|| clients::raw(&target(80), allowed))
        .unwrap();
    assert_eq!(out.result, Verdict::Allowed, "{out:?}");
    let dropped = b"hello echo\n";
    let out = lab
        .client
        .run_in(|| clients::raw(&target(7), dropped))
        .unwrap();
    assert_eq!(out.result, Verdict::Reset, "{out:?}");

    let path = lab.log_dir().join("np.log");
    let deadline = Instant::now() + Duration::from_secs(5);
    let lines = loop {
        let lines = np_lines(&path);
        if lines.len() >= 2 || Instant::now() > deadline {
            break lines;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(lines.len(), 2, "{lines:?}");
    // <date> <time> <table> <npRef> <rule> <direction> <disposition> <priority>
    // <appliedTo> <src_ip> <src_port> <dst_ip> <dst_port> TCP <length> <logLabel>
    let redirect = lines.iter().find(|c| c[6] == "Redirect").expect("L7 line");
    assert_eq!(redirect[4], "http-public");
    assert_eq!(redirect[8], "default/web", "appliedTo is the protected Pod");
    assert_eq!(redirect[12], "80");
    assert_eq!(redirect[14], allowed.len().to_string(), "first data length");
    assert_eq!(redirect[15], "web-http");
    let drop = lines.iter().find(|c| c[6] == "Drop").expect("drop line");
    assert_eq!(drop[8], "default/web");
    assert_eq!(drop[12], "7");
    assert_eq!(drop[14], dropped.len().to_string());
}
