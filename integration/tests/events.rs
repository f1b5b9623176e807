//! The EVE log and the metrics endpoint as an operator sees them: a real proxy in the netns
//! lab, real curl requests, the file read back line by line.
//!
//! Needs root (network namespaces, iptables); skipped otherwise.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use base64::Engine;
use l7proxy_integration::lab::Lab;
use l7proxy_integration::pods::{Family, endpoint};
use l7proxy_integration::policy::{DROP_OTHER, HTTP_PUBLIC, web_policy};
use l7proxy_integration::require_root;
use serde_json::Value;

/// Ingress of the web Pod: HTTP on 80 only under /public/, TLS on 443 only for *.bar.com,
/// the rest dropped.
fn policy() -> String {
    const TLS_BAR: &str = r#"  - name: tls-bar
    action: Allow
    ports: [{protocol: TCP, port: 443}]
    l7Protocols: [{tls: {sni: "*.bar.com"}}]
"#;
    web_policy("events", &[HTTP_PUBLIC, TLS_BAR, DROP_OTHER], &[])
}

/// The one EVE file of the lab's log directory.
fn eve_file(lab: &Lab) -> PathBuf {
    let mut files: Vec<PathBuf> = std::fs::read_dir(lab.log_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("eve-") && n.ends_with(".json"))
        })
        .collect();
    assert_eq!(files.len(), 1, "one EVE file for today: {files:?}");
    files.pop().unwrap()
}

/// Every line of the file, each of which must be a JSON object.
fn strict_lines(path: &PathBuf) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap();
    text.lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l)
                .unwrap_or_else(|e| panic!("EVE line is not JSON ({e}): {l:?}"));
            assert!(v.is_object(), "EVE line is not an object: {l}");
            v
        })
        .collect()
}

/// Wait until `pred` holds for some line of the file.
fn wait_for(path: &PathBuf, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(v) = strict_lines(path).into_iter().find(|v| pred(v)) {
            return v;
        }
        assert!(Instant::now() < deadline, "no {what} event in {path:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn curl(lab: &Lab, args: &[&str]) -> i32 {
    let out = lab.client.exec("curl", args).unwrap();
    out.status.code().unwrap_or(-1)
}

fn counter(lab: &Lab, name: &str) -> f64 {
    let out = lab
        .web
        .exec("curl", &["-s", "http://127.0.0.1:15020/metrics"])
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .filter(|l| l.starts_with(name))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[test]
fn eve_events_and_metrics_from_a_running_proxy() {
    if !require_root() {
        return;
    }
    let mut lab = Lab::new("l7t-ev").unwrap();
    lab.add_manifest("policy.yaml", &policy()).unwrap();
    lab.start_proxy().unwrap();
    let eve = eve_file(&lab);
    let client = endpoint("client").unwrap().ip(Family::V4).to_string();
    let web = endpoint("web").unwrap().ip(Family::V4).to_string();
    let accepted_before = counter(&lab, "l7proxy_connections_accepted_total");

    // Allowed HTTP request: an `http` event with the real response's status.
    let url = format!("http://{web}/public/index.html");
    let ok = [
        "-s",
        "-o",
        "/dev/null",
        "--interface",
        &client,
        "-A",
        "curl-e2e",
    ];
    assert_eq!(curl(&lab, &[&ok[..], &[url.as_str()]].concat()), 0);
    let http = wait_for(&eve, "http", |v| v["event_type"] == "http");
    assert_eq!(http["src_ip"], client.as_str());
    assert_eq!(http["dest_ip"], web.as_str());
    assert_eq!(http["dest_port"], 80);
    assert_eq!(http["proto"], "TCP");
    assert!(http["flow_id"].as_u64().is_some());
    assert!(http["timestamp"].as_str().unwrap().ends_with("+0000"));
    assert_eq!(http["http"]["url"], "/public/index.html");
    assert_eq!(http["http"]["http_method"], "GET");
    assert_eq!(http["http"]["http_user_agent"], "curl-e2e");
    assert_eq!(http["http"]["protocol"], "HTTP/1.1");
    assert_eq!(http["http"]["status"], 200);
    assert!(http["http"]["length"].as_u64().unwrap() > 0);
    assert_eq!(http["policy"]["name"], "events");
    assert_eq!(http["policy"]["rule"], "http-public");

    // Allowed TLS connection: a `tls` event with SNI and version.
    let resolve = format!("www.bar.com:443:{web}");
    let tls_args = [
        "-sk",
        "-o",
        "/dev/null",
        "--interface",
        &client,
        "--resolve",
        &resolve,
    ];
    assert_eq!(
        curl(&lab, &[&tls_args[..], &["https://www.bar.com/"]].concat()),
        0
    );
    let tls = wait_for(&eve, "tls", |v| v["event_type"] == "tls");
    assert_eq!(tls["tls"]["sni"], "www.bar.com");
    assert!(tls["tls"]["version"].as_str().unwrap().starts_with("TLS"));
    assert_eq!(tls["policy"]["rule"], "tls-bar");

    // L7 denial: an alert naming the policy, whose synthesized packet carries the request.
    let denied = format!("http://{web}/admin/secret");
    assert_ne!(curl(&lab, &["-s", "--interface", &client, &denied]), 0);
    let alert = wait_for(&eve, "L7 alert", |v| {
        v["event_type"] == "alert" && v["app_proto"] == "http"
    });
    assert_eq!(alert["alert"]["action"], "blocked");
    assert_eq!(
        alert["alert"]["signature"],
        "Reject by AntreaNetworkPolicy:default/events"
    );
    assert_eq!(alert["alert"]["gid"], 1);
    assert_eq!(alert["alert"]["severity"], 3);
    assert_eq!(alert["packet_info"]["linktype"], 101);
    assert_eq!(alert["flow"]["dest_port"], 80);
    assert!(alert["flow"]["bytes_toserver"].as_u64().unwrap() > 0);
    let packet = base64::engine::general_purpose::STANDARD
        .decode(alert["packet"].as_str().unwrap())
        .unwrap();
    assert_eq!(packet[0] >> 4, 4, "an IPv4 packet");
    let payload = String::from_utf8_lossy(&packet);
    assert!(
        payload.contains("GET /admin/secret HTTP/1.1"),
        "packet carries the request line: {payload:?}"
    );

    // L4 drop: an alert from the Drop rule, with a reason.
    let echo = format!("telnet://{web}:7");
    curl(
        &lab,
        &["-s", "--max-time", "3", "--interface", &client, &echo],
    );
    let drop = wait_for(&eve, "L4 drop alert", |v| {
        v["event_type"] == "alert" && v["dest_port"] == 7
    });
    assert_eq!(drop["policy"]["rule"], "drop-other");
    assert_eq!(drop["app_proto"], "failed");
    assert!(!drop["reason"].as_str().unwrap_or_default().is_empty());

    // An operator truncates the file while the proxy runs: what comes after lands at the
    // start of the file, whole and parseable.
    std::fs::OpenOptions::new()
        .write(true)
        .open(&eve)
        .unwrap()
        .set_len(0)
        .unwrap();
    let after = format!("http://{web}/public/after-truncate");
    assert_eq!(curl(&lab, &[&ok[..], &[after.as_str()]].concat()), 0);
    wait_for(&eve, "post-truncation http", |v| {
        v["http"]["url"] == "/public/after-truncate"
    });
    let bytes = std::fs::read(&eve).unwrap();
    assert_eq!(bytes.first(), Some(&b'{'), "no hole left by the truncation");
    strict_lines(&eve);

    // Metrics moved with the traffic.
    let accepted_after = counter(&lab, "l7proxy_connections_accepted_total");
    assert!(
        accepted_after >= accepted_before + 5.0,
        "connections accepted: {accepted_before} -> {accepted_after}"
    );
    assert!(counter(&lab, "l7proxy_verdicts_total") >= 5.0);
}
