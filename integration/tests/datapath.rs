//! End-to-end tests of the data path in the netns lab: real TPROXY capture (`l7proxy
//! redirect install`), the real `l7proxy run`, real servers and clients.
//!
//! Needs root (network namespaces, iptables); skipped otherwise, like the other lab tests:
//! `cargo test -p l7proxy-integration --test datapath`.

use std::time::{Duration, Instant};

use l7proxy_integration::case::{self, Case, Mode};
use l7proxy_integration::clients::Verdict;
use l7proxy_integration::lab::Lab;
use l7proxy_integration::pods::Family;
use l7proxy_integration::policy::{
    BULK_L4, EGRESS_HTTP_PUBLIC, HTTP_PUBLIC, TLS_ALLOWED_SNI, web_policy,
};
use l7proxy_integration::probe::Probe;
use l7proxy_integration::require_root;

const PREFIX: &str = "l7t-dp";

/// Ingress of the web Pod: HTTP on 80 only under /public/, TLS on 443 only for
/// *.allowed.test, anything on 9000 (bulk) at L4; egress: HTTP to 80 only under /public/.
fn policy() -> String {
    web_policy(
        "datapath",
        &[HTTP_PUBLIC, TLS_ALLOWED_SNI, BULK_L4],
        &[EGRESS_HTTP_PUBLIC],
    )
}

/// The probes, as the lab's case format; `{policy}` is replaced by [`policy`].
const CASE: &str = r#"
name: datapath-enforcement
policies:
  - inline: |
{policy}
probes:
  - name: keep-alive, allowed then denied on one connection
    from: client
    to: web
    tool: curl
    url: [http://web.test/public/a, http://web.test/admin]
    expect: reset
    statuses: [200]
    event: {event_type: alert, app_proto: http}
  - name: allowed request, the server sees the real client IP
    from: client
    to: web
    tool: curl
    url: [http://web.test/public/x]
    expect: allowed
    server_sees_client: true
    event: {event_type: http, http.url: /public/x, http.status: 200}
  - name: pipelined allowed requests
    from: client
    to: web
    tool: http
    requests: ["GET /public/1 web.test", "GET /public/2 web.test", "HEAD /public/3 web.test"]
    pipeline: true
    expect: allowed
  - name: pipelined, the second denied
    from: client
    to: web
    tool: http
    requests: ["GET /public/1 web.test", "GET /public/../admin web.test"]
    pipeline: true
    expect: reset
  - name: TLS allowed SNI, hello in two segments with a pause
    from: client
    to: web
    tool: tls
    sni: a.allowed.test
    split_segments: 2
    pause_ms: 300
    expect: allowed
    event: {event_type: tls, tls.sni: a.allowed.test}
  - name: TLS hello larger than 2000 bytes
    from: client
    to: web
    tool: tls
    sni: b.allowed.test
    min_hello: 2600
    expect: allowed
  - name: TLS hello over two records
    from: client
    to: web
    tool: tls
    sni: c.allowed.test
    split_records: 2
    expect: allowed
  - name: TLS denied SNI
    from: client
    to: web
    tool: tls
    sni: evil.example
    expect: reset
    event: {event_type: alert, app_proto: tls}
  - name: 100 MB through an L4-allowed port, byte-exact
    from: client
    to: web
    tool: bulk
    bytes: 104857600
    family: [v4]
    expect: allowed
  - name: a port no rule names is allowed at L4 (Antrea policies have no implicit deny)
    from: client
    to: web
    tool: raw
    expect: allowed
  - name: egress allowed path
    from: web
    to: external
    tool: curl
    url: [http://ext.test/public/e]
    expect: allowed
  - name: egress denied path
    from: web
    to: external
    tool: curl
    url: [http://ext.test/private]
    expect: reset
"#;

fn case() -> Case {
    let indented: String = policy().lines().map(|l| format!("      {l}\n")).collect();
    let text = CASE.replace("{policy}\n", &indented);
    let mut case: Case = serde_yaml::from_str(&text).expect("case parses");
    case.path = std::env::current_dir()
        .unwrap()
        .join("datapath-inline.yaml");
    case
}

#[test]
fn datapath_case_parses() {
    let c = case();
    assert_eq!(c.probes.len(), 12);
    assert_eq!(c.manifests().unwrap().len(), 1);
}

#[test]
fn datapath_enforcement_end_to_end() {
    if !require_root() {
        return;
    }
    match case::run(&case(), Mode::Proxy, PREFIX) {
        Ok(lines) => lines.iter().for_each(|l| eprintln!("{l}")),
        Err(e) => panic!("{e}"),
    }
}

fn probe(yaml: &str) -> Probe {
    serde_yaml::from_str(yaml).expect("probe parses")
}

/// Poll `probe` until it gives `want` or `limit` passes; returns the time it took.
fn until(lab: &Lab, p: &Probe, want: Verdict, limit: Duration) -> Option<Duration> {
    let t0 = Instant::now();
    while t0.elapsed() < limit {
        if p.run(lab, Family::V4).is_ok_and(|o| o.result == want) {
            return Some(t0.elapsed());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    None
}

#[test]
fn manifest_edits_apply_live_and_broken_files_keep_the_last_good_policy() {
    if !require_root() {
        return;
    }
    let mut lab = Lab::new(PREFIX).unwrap();
    lab.add_manifest("policy.yaml", &policy()).unwrap();
    lab.start_proxy().unwrap();
    let admin = probe(
        "{name: admin, from: client, to: web, tool: curl, url: [http://web.test/admin], expect: reset}",
    );
    let out = admin.run(&lab, Family::V4).unwrap();
    assert_eq!(out.result, Verdict::Reset, "{out:?}\n{}", lab.proxy_log());

    // Widen the rule: /admin becomes allowed within 2 s.
    lab.add_manifest("policy.yaml", &policy().replace("\"/public/*\"", "\"/*\""))
        .unwrap();
    let took = until(&lab, &admin, Verdict::Allowed, Duration::from_secs(3));
    assert!(
        took.is_some_and(|t| t <= Duration::from_secs(2)),
        "edit applied after {took:?}\n{}",
        lab.proxy_log()
    );

    // A broken file: the proxy keeps running with the last good policy.
    lab.add_manifest("policy.yaml", "kind: NetworkPolicy\nspec: [unclosed")
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    let out = admin.run(&lab, Family::V4).unwrap();
    assert_eq!(out.result, Verdict::Allowed, "{out:?}\n{}", lab.proxy_log());
    assert!(
        lab.proxy_log().contains("keeping the last good policy"),
        "{}",
        lab.proxy_log()
    );

    // SIGTERM: drain and exit 0.
    let status = lab.stop_proxy().expect("proxy was running");
    assert!(
        status.success(),
        "exit status {status}\n{}",
        lab.proxy_log()
    );
}
