//! Parser differentials against real servers: Apache httpd (h2c), nginx, Express 4, Python
//! `http.server` and a raw recorder run in the protected Pod behind the proxy. Each attack
//! is a request the policy forbids dressed up so the proxy might read it differently from
//! the server. The verdict is read where the harm would be: the server's own log never
//! shows the forbidden request executed; the client sees a reset; an alert names it. Then
//! ordinary clients must still get their 200s (no false denials).
//!
//! One lab and one set of servers for the whole file; every case runs, failures are
//! collected and reported together.
//!
//! Run as root: `cargo build -p l7proxy && cargo test -p l7proxy-integration --test
//! differential -- --nocapture`. Needs `apache2`, `nginx`, `python3-requests`, Node 20 and
//! Express (installed by `integration/run-tests.sh`).

mod support;

mod differential {
    pub mod cases;
    pub mod clients;
    pub mod wire;
}

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use differential::cases::{self, ANY_HTTP, APACHE, Case, Client, EXPRESS, HOST_ONLY, NGINX};
use differential::cases::{PYTHON, RECORDER, SWITCHER};
use differential::wire::{Seen, connect_from, drive};
use l7proxy_integration::clients::Verdict;
use l7proxy_integration::lab::Lab;
use l7proxy_integration::pods::{self, Family};
use l7proxy_integration::policy::web_policy;
use l7proxy_integration::realservers::{self, Kind, RealServers};
use l7proxy_integration::require_root;
use serde_json::Value;

const PREFIX: &str = "l7t-diff";
/// How long one case may read before its connection counts as left open.
const LIMIT: Duration = Duration::from_secs(2);
/// Read limit of a control case: without the proxy most servers keep the connection open.
const CONTROL_LIMIT: Duration = Duration::from_secs(1);
/// Source port of the first case's connection (below the ephemeral range).
const FIRST_SRC_PORT: u16 = 20000;
/// Source port of the first control connection.
const CONTROL_SRC_PORT: u16 = 21000;

/// Ingress of `web`: one rule per real server port.
fn policy() -> String {
    const INGRESS: &str = r#"  - name: apache-public
    action: Allow
    ports: [{protocol: TCP, port: 8101}]
    l7Protocols: [{http: {path: "/public/*"}}]
  - name: nginx-public
    action: Allow
    ports: [{protocol: TCP, port: 8102}]
    l7Protocols: [{http: {path: "/public/*"}}]
  - name: express-public-api
    action: Allow
    ports: [{protocol: TCP, port: 8103}]
    l7Protocols: [{http: {path: "/public/*"}}, {http: {path: "/api/v2/*"}}]
  - name: python-public
    action: Allow
    ports: [{protocol: TCP, port: 8104}]
    l7Protocols: [{http: {path: "/public/*"}}]
  - name: recorder-public
    action: Allow
    ports: [{protocol: TCP, port: 8105}]
    l7Protocols: [{http: {path: "/public/*"}}]
  - name: python-host-only
    action: Allow
    ports: [{protocol: TCP, port: 8106}]
    l7Protocols: [{http: {host: "*.bar.com"}}]
  - name: python-any-http
    action: Allow
    ports: [{protocol: TCP, port: 8107}]
    l7Protocols: [{http: {}}]
  - name: switcher-public
    action: Allow
    ports: [{protocol: TCP, port: 8108}]
    l7Protocols: [{http: {path: "/public/*"}}]
"#;
    web_policy("differential", &[INGRESS], &[])
}

const SERVERS: &[(Kind, u16)] = &[
    (Kind::Apache, APACHE),
    (Kind::Nginx, NGINX),
    (Kind::Express, EXPRESS),
    (Kind::Python, PYTHON),
    (Kind::RecorderTwoResponses, RECORDER),
    (Kind::Python, HOST_ONLY),
    (Kind::Python, ANY_HTTP),
    (Kind::RecorderH2c101, SWITCHER),
];

/// `/etc/netns/<client ns>/hosts`, which `ip netns exec` mounts over `/etc/hosts`, so
/// ordinary clients can use a host name the host-only rule admits; removed on drop.
struct HostsFile(PathBuf);

impl HostsFile {
    fn new(ns: &str, web: IpAddr) -> HostsFile {
        let dir = PathBuf::from("/etc/netns").join(ns);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("hosts"),
            format!(
                "127.0.0.1 localhost\n{web} {} web.test\n",
                differential::clients::WEB_NAME
            ),
        )
        .unwrap();
        HostsFile(dir)
    }
}

impl Drop for HostsFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// What one case produced.
struct Ran {
    case: Case,
    src_port: u16,
    seen: Seen,
}

#[test]
fn real_servers_never_execute_what_the_policy_forbids() {
    if !require_root() {
        return;
    }
    let missing = realservers::missing();
    if !missing.is_empty() {
        assert!(
            std::env::var_os("CI").is_none(),
            "real servers missing (integration/run-tests.sh installs them): {missing:?}"
        );
        eprintln!("SKIPPED: real servers missing: {missing:?}");
        return;
    }
    let web_ip = pods::endpoint("web").unwrap().ip(Family::V4);
    let mut lab = Lab::new(PREFIX).expect("lab");
    let servers = RealServers::start(&lab.web, web_ip, SERVERS).expect("real servers start");
    std::thread::sleep(Duration::from_millis(300));
    servers.all_running().expect("real servers keep running");
    let _hosts = HostsFile::new(lab.client.name(), web_ip);
    let mut failures = control(&lab, &servers);

    lab.add_manifest("differential.yaml", &policy()).unwrap();
    lab.start_proxy_with(&[], &["--classify-timeout".into(), "1s".into()])
        .expect("proxy starts");
    let ran = run_cases(&lab, cases::all('q'), FIRST_SRC_PORT, LIMIT);
    // Servers log a request when they finish it.
    std::thread::sleep(Duration::from_secs(1));

    let events = lab.events_until(Duration::from_secs(5), |evs| {
        ran.iter()
            .filter(|r| r.case.client == Client::Reset)
            .all(|r| alert(evs, r.src_port).is_some())
    });
    eprintln!(
        "\n{:<58} {:<8} {:<9} alert reason",
        "case", "client", "executed"
    );
    for r in &ran {
        let executed = executed(&servers, &r.case);
        let reason = alert(&events, r.src_port);
        eprintln!(
            "{:<58} {:<8} {:<9} {}",
            r.case.what,
            format!("{:?}", r.seen.verdict),
            if executed.is_some() { "YES" } else { "no" },
            reason.as_deref().unwrap_or("-")
        );
        failures.extend(judge(r, executed, reason));
    }
    failures.extend(differential::clients::check(&lab));
    if let Err(e) = servers.all_running() {
        failures.push(e);
    }
    if !lab.proxy_running() {
        failures.push(format!("the proxy died:\n{}", lab.proxy_log()));
    }
    assert!(
        failures.is_empty(),
        "{} failure(s):\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Each case on its own connection from the client Pod, source ports from `first_port`,
/// reads bounded by `limit`.
fn run_cases(lab: &Lab, cases: Vec<Case>, first_port: u16, limit: Duration) -> Vec<Ran> {
    let mut ran = Vec::new();
    for (i, case) in cases.into_iter().enumerate() {
        let src_port = first_port + i as u16;
        let to = support::web(case.port);
        let mut s = connect_from(lab, to, support::client_ip(), src_port);
        let seen = drive(&mut s, &case.action, limit);
        drop(s);
        ran.push(Ran {
            case,
            src_port,
            seen,
        });
    }
    ran
}

/// Without the proxy (before it starts), every case marked [`Case::exploit`] really
/// executes on its server: the lab's servers are vulnerable, so a passing case means the
/// proxy stopped it. `DIFFLAB_CONTROL_ALL=1` runs and reports every case this way.
fn control(lab: &Lab, servers: &RealServers) -> Vec<String> {
    let all = std::env::var_os("DIFFLAB_CONTROL_ALL").is_some();
    let cases = cases::all('c').into_iter().filter(|c| all || c.exploit);
    let ran = run_cases(lab, cases.collect(), CONTROL_SRC_PORT, CONTROL_LIMIT);
    std::thread::sleep(Duration::from_secs(1));
    let mut failures = Vec::new();
    eprintln!(
        "\ncontrol, no proxy: {:<40} {:<8} executed",
        "case", "client"
    );
    for r in &ran {
        let marker = r
            .case
            .never_received
            .is_some_and(|m| r.seen.text().contains(m));
        let hit = executed(servers, &r.case).is_some() || marker;
        eprintln!(
            "control, no proxy: {:<40} {:<8} {}",
            r.case.what,
            format!("{:?}", r.seen.verdict),
            if hit { "YES" } else { "no" }
        );
        if r.case.exploit && !hit {
            failures.push(format!(
                "control: {} [{}] does not work against the server without the proxy; \
                 the case proves nothing",
                r.case.what, r.case.id
            ));
        }
    }
    failures
}

/// The failures of one case.
fn judge(r: &Ran, executed: Option<String>, reason: Option<String>) -> Vec<String> {
    let what = format!("{} [{}]", r.case.what, r.case.id);
    let mut out = Vec::new();
    if let Some(line) = executed {
        out.push(format!("{what}: the server executed it: {line:?}"));
    }
    if r.case.client == Client::Reset {
        if r.seen.verdict != Verdict::Reset {
            out.push(format!(
                "{what}: client saw {:?}{} instead of a reset, got {:?}",
                r.seen.verdict,
                if r.seen.switched { " after a 101" } else { "" },
                truncate(&r.seen.text(), 160)
            ));
        }
        match reason {
            None => out.push(format!(
                "{what}: no alert event for client port {}",
                r.src_port
            )),
            Some(reason) => {
                let lower = reason.to_lowercase();
                let reasons = r.case.reasons;
                if !reasons.is_empty() && !reasons.iter().any(|k| lower.contains(k)) {
                    out.push(format!(
                        "{what}: alert reason {reason:?} names none of {reasons:?}"
                    ));
                }
            }
        }
    }
    if let Some(marker) = r.case.never_received
        && r.seen.text().contains(marker)
    {
        out.push(format!("{what}: the client received {marker}"));
    }
    out
}

/// The server log line that shows the case's forbidden request executed, if any.
fn executed(servers: &RealServers, case: &Case) -> Option<String> {
    let mut logs = servers.log(case.port);
    if servers.kind(case.port) == Kind::Python {
        logs.push('\n');
        logs.push_str(&servers.tunnel(case.port));
    }
    logs.lines()
        .find(|l| l.contains(&case.id) && case.forbidden.iter().all(|f| l.contains(f)))
        .map(str::to_string)
}

/// The alert reason of the connection from `port` (the signature when there is no reason).
fn alert(events: &[Value], port: u16) -> Option<String> {
    events
        .iter()
        .find(|e| e["event_type"] == "alert" && e["src_port"].as_u64() == Some(u64::from(port)))
        .map(|e| {
            e["reason"]
                .as_str()
                .or_else(|| e["alert"]["signature"].as_str())
                .unwrap_or_default()
                .to_string()
        })
}

fn truncate(s: &str, n: usize) -> String {
    s.chars().take(n).collect()
}
