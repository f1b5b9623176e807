//! HTTP/2 cleartext with prior knowledge through the proxy, against a real HTTP/2 server
//! (Apache httpd with mod_http2, `Protocols h2c`) and real clients (curl
//! `--http2-prior-knowledge`, `nghttp` from Debian's nghttp2-client), on the real kernel
//! through TPROXY. Every stream is decided on its own: the verdict is read in Apache's
//! access log (a denied stream never appears there), allowed streams of the same
//! connection complete, and the EVE log has an `http` record per allowed stream and an
//! alert per denied one. Then the floods: rapid reset and CONTINUATION, bounded.
//!
//! One lab for the whole file; failures are collected and reported together.
//!
//! Run as root: `cargo build -p l7proxy && cargo test -p l7proxy-integration --test http2
//! -- --nocapture`. Needs `apache2`, `curl` and `nghttp2-client` (installed by
//! `integration/run-tests.sh`).

mod support;

use std::io::{Read as _, Write as _};
use std::net::{IpAddr, TcpStream};
use std::path::Path;
use std::process::Output;
use std::time::{Duration, Instant};

use l7proxy_integration::h2wire::{
    self, CONTINUATION, END_HEADERS, END_STREAM, HEADERS, RST_STREAM,
};
use l7proxy_integration::lab::Lab;
use l7proxy_integration::pods::{self, Family};
use l7proxy_integration::policy::web_policy;
use l7proxy_integration::realservers::{self, Kind, RealServers};
use l7proxy_integration::require_root;
use serde_json::Value;

const PREFIX: &str = "l7t-h2";
/// Apache, HTTP/2 only under /public/.
const APACHE: u16 = 8101;
/// Apache again, under a rule that inspects only TLS: HTTP/2 has no business there.
const APACHE_TLS_ONLY: u16 = 8102;
/// The gRPC server: SayHello, StreamHello and Chat allowed, DeleteAll not.
const GRPC: u16 = 50051;

fn policy() -> String {
    const INGRESS: &str = r#"  - name: apache-public
    action: Allow
    ports: [{protocol: TCP, port: 8101}]
    l7Protocols: [{http: {path: "/public/*"}}]
  - name: apache-tls-only
    action: Allow
    ports: [{protocol: TCP, port: 8102}]
    l7Protocols: [{tls: {sni: "*.allowed.test"}}]
  - name: greeter
    action: Allow
    ports: [{protocol: TCP, port: 50051}]
    l7Protocols:
    - http: {method: POST, path: /helloworld.Greeter/SayHello}
    - http: {method: POST, path: /helloworld.Greeter/StreamHello}
    - http: {method: POST, path: /helloworld.Greeter/Chat}
"#;
    web_policy("http2", &[INGRESS], &[])
}

fn missing() -> Vec<&'static str> {
    let mut out: Vec<&str> = ["/usr/sbin/apache2", "/usr/bin/curl", "/usr/bin/nghttp"]
        .into_iter()
        .filter(|p| !Path::new(p).exists())
        .collect();
    let grpc = std::process::Command::new(realservers::PYTHON)
        .args(["-c", "import grpc"])
        .status();
    if !grpc.is_ok_and(|s| s.success()) {
        out.push("python3-grpcio");
    }
    out
}

struct Ctx {
    lab: Lab,
    servers: RealServers,
    web: IpAddr,
    failures: Vec<String>,
}

impl Ctx {
    fn url(&self, port: u16, path: &str) -> String {
        format!("http://{}:{port}{path}", self.web)
    }

    /// curl with prior knowledge of HTTP/2.
    fn curl(&self, args: &[&str]) -> Output {
        self.curl_with("--http2-prior-knowledge", args)
    }

    /// curl with `version` (`--http2-prior-knowledge`, `--http2`), printing the status and
    /// the HTTP version it ended up with.
    fn curl_with(&self, version: &str, args: &[&str]) -> Output {
        let mut all = vec![
            "-sS",
            version,
            "--max-time",
            "5",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code} %{http_version}",
        ];
        all.extend_from_slice(args);
        self.lab.client.exec("curl", &all[..]).expect("curl runs")
    }

    fn check(&mut self, ok: bool, what: impl FnOnce() -> String) {
        if !ok {
            self.failures.push(what());
        }
    }

    fn apache_log(&self) -> String {
        self.servers.log(APACHE)
    }
}

#[test]
fn every_http2_stream_is_decided_against_a_real_server() {
    if !require_root() {
        return;
    }
    let missing = missing();
    if !missing.is_empty() {
        assert!(
            std::env::var_os("CI").is_none(),
            "missing (integration/run-tests.sh installs them): {missing:?}"
        );
        eprintln!("SKIPPED: missing {missing:?}");
        return;
    }
    let web = pods::endpoint("web").unwrap().ip(Family::V4);
    let mut lab = Lab::new(PREFIX).expect("lab");
    let servers = RealServers::start(
        &lab.web,
        web,
        &[
            (Kind::Apache, APACHE),
            (Kind::Apache, APACHE_TLS_ONLY),
            (Kind::Grpc, GRPC),
        ],
    )
    .expect("real servers start");
    lab.add_manifest("http2.yaml", &policy()).unwrap();
    lab.start_proxy().expect("proxy starts");
    let mut cx = Ctx {
        lab,
        servers,
        web,
        failures: Vec::new(),
    };

    allowed_and_denied_streams_with_curl(&mut cx);
    h2c_upgrade_offer_is_answered_in_http1(&mut cx);
    one_connection_many_streams_one_denied(&mut cx);
    http2_under_a_tls_only_rule_is_reset(&mut cx);
    grpc_calls_allowed_and_denied_on_one_connection(&mut cx);
    rapid_reset_is_cut(&mut cx);
    continuation_flood_is_cut(&mut cx);
    ping_and_settings_floods_stay_bounded(&mut cx);

    // After everything: the proxy still serves HTTP/2.
    let out = cx.curl(&[&cx.url(APACHE, "/public/after")]);
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    cx.check(stdout == "200 2", || {
        format!("after the floods: curl printed {stdout:?}")
    });
    let log = cx.apache_log();
    cx.check(!log.contains("/admin"), || {
        format!("Apache executed a denied stream:\n{log}")
    });
    if !cx.lab.proxy_running() {
        cx.failures
            .push(format!("the proxy died:\n{}", cx.lab.proxy_log()));
    }
    assert!(
        cx.failures.is_empty(),
        "{} failure(s):\n{}\n\nproxy log:\n{}",
        cx.failures.len(),
        cx.failures.join("\n"),
        cx.lab.proxy_log()
    );
}

/// curl, one stream per connection: allowed gets Apache's 200 over HTTP/2, denied and
/// non-canonical paths get a stream reset and never reach Apache.
fn allowed_and_denied_streams_with_curl(cx: &mut Ctx) {
    let out = cx.curl(&[&cx.url(APACHE, "/public/curl")]);
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    cx.check(stdout == "200 2", || {
        format!(
            "allowed: curl printed {stdout:?} ({})",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    for path in [
        "/admin/curl",
        "/public/../admin/dots",
        "/public/%2e%2e/admin/enc",
    ] {
        let out = cx.curl(&["--path-as-is", &cx.url(APACHE, path)]);
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        cx.check(!out.status.success() && !stdout.starts_with("200"), || {
            format!(
                "denied {path}: curl {:?} printed {stdout:?} {stderr}",
                out.status
            )
        });
    }
    std::thread::sleep(Duration::from_millis(500));
    let log = cx.apache_log();
    cx.check(log.contains("GET /public/curl HTTP/2.0"), || {
        format!("Apache did not log the allowed HTTP/2 request:\n{log}")
    });
    let events = cx.lab.events_until(Duration::from_secs(5), |evs| {
        http_events(evs, "/public/curl").next().is_some()
            && alerts(evs).filter(|a| mentions(a, "stream")).count() >= 3
    });
    match http_events(&events, "/public/curl").next() {
        Some(e) => cx.check(
            e["http"]["version"] == "2"
                && e["http"]["protocol"] == "HTTP/2"
                && e["http"]["http2"]["stream_id"] == 1
                && e["http"]["status"] == 200,
            || format!("http event of an HTTP/2 stream: {e}"),
        ),
        None => cx.failures.push("no http event for /public/curl".into()),
    }
    let denied = alerts(&events).filter(|a| mentions(a, "stream")).count();
    cx.check(denied >= 3, || {
        format!("{denied} stream alerts for 3 denied streams: {events:?}")
    });
}

/// `curl --http2` on an `http://` URL offers `Upgrade: h2c`: the proxy removes the offer,
/// Apache (which would switch) answers in HTTP/1.1, curl carries on.
fn h2c_upgrade_offer_is_answered_in_http1(cx: &mut Ctx) {
    let url = cx.url(APACHE, "/public/upgrade");
    let out = cx.curl_with("--http2", &[&url]);
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    cx.check(stdout == "200 1.1", || {
        format!(
            "h2c offer: curl printed {stdout:?} ({})",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    std::thread::sleep(Duration::from_millis(300));
    let log = cx.apache_log();
    cx.check(log.contains("GET /public/upgrade HTTP/1.1"), || {
        format!("Apache did not serve the h2c offer in HTTP/1.1:\n{log}")
    });
}

/// nghttp sends three requests on one connection at once; the middle one is denied and
/// reset, the other two complete.
fn one_connection_many_streams_one_denied(cx: &mut Ctx) {
    let urls = [
        cx.url(APACHE, "/public/ng-1"),
        cx.url(APACHE, "/admin/ng-2"),
        cx.url(APACHE, "/public/ng-3"),
    ];
    let out = cx
        .lab
        .client
        .exec("nghttp", &["-n", "-v", &urls[0], &urls[1], &urls[2]])
        .expect("nghttp runs");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    cx.check(text.contains("RST_STREAM"), || {
        format!("nghttp saw no RST_STREAM for the denied stream:\n{text}")
    });
    std::thread::sleep(Duration::from_millis(500));
    let log = cx.apache_log();
    for p in ["/public/ng-1", "/public/ng-3"] {
        cx.check(log.contains(&format!("GET {p} HTTP/2.0")), || {
            format!("Apache did not serve {p} next to the denied stream:\n{log}\nnghttp:\n{text}")
        });
    }
    let events = cx.lab.events_until(Duration::from_secs(5), |evs| {
        http_events(evs, "/public/ng-3").next().is_some()
    });
    let flows: Vec<&Value> = ["/public/ng-1", "/public/ng-3"]
        .iter()
        .filter_map(|p| http_events(&events, p).next())
        .map(|e| &e["flow_id"])
        .collect();
    cx.check(flows.len() == 2 && flows[0] == flows[1], || {
        format!("both allowed streams on one connection: flow ids {flows:?}")
    });
}

/// A rule that inspects only TLS: the HTTP/2 preface is refused before any stream.
fn http2_under_a_tls_only_rule_is_reset(cx: &mut Ctx) {
    let out = cx.curl(&[&cx.url(APACHE_TLS_ONLY, "/public/tls-only")]);
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    cx.check(!out.status.success() && !stdout.starts_with("200"), || {
        format!(
            "HTTP/2 under a TLS rule: curl {:?} printed {stdout:?}",
            out.status
        )
    });
    let log = cx.servers.log(APACHE_TLS_ONLY);
    cx.check(!log.contains("tls-only"), || {
        format!("Apache behind the TLS rule served HTTP/2:\n{log}")
    });
}

/// A real gRPC client and server, every call on one channel: the denied method gets
/// PERMISSION_DENIED naming the policy and never runs on the server; unary, server
/// streaming and bidirectional calls around it, and 50 concurrent calls with a denied one
/// in the middle, complete.
fn grpc_calls_allowed_and_denied_on_one_connection(cx: &mut Ctx) {
    let client = realservers::config("grpc/client.py");
    let target = format!("{}:{GRPC}", cx.web);
    let out = cx
        .lab
        .client
        .exec(realservers::PYTHON, &[client.as_os_str(), target.as_ref()])
        .expect("grpc client runs");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    let Ok(r) = serde_json::from_str::<Value>(&stdout) else {
        cx.failures
            .push(format!("grpc client printed {stdout:?}, stderr {stderr}"));
        return;
    };
    eprintln!("grpc: {r}");
    let ok = |call: &Value| call["code"] == "OK";
    cx.check(ok(&r["say"]) && r["say"]["value"] == "hello one", || {
        format!("grpc SayHello: {}", r["say"])
    });
    cx.check(
        r["delete"]["code"] == "PERMISSION_DENIED"
            && r["delete"]["details"]
                .as_str()
                .is_some_and(|d| d.contains("greeter")),
        || format!("grpc DeleteAll: {}", r["delete"]),
    );
    cx.check(ok(&r["say_again"]), || {
        format!("grpc SayHello after the denial: {}", r["say_again"])
    });
    cx.check(
        ok(&r["stream"]) && r["stream"]["value"].as_array().map(Vec::len) == Some(5),
        || format!("grpc StreamHello: {}", r["stream"]),
    );
    cx.check(
        ok(&r["chat"]) && r["chat"]["value"].as_array().map(Vec::len) == Some(3),
        || format!("grpc Chat: {}", r["chat"]),
    );
    let codes: Vec<&str> = r["concurrent"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let denied: Vec<usize> = (0..codes.len()).filter(|&i| codes[i] != "OK").collect();
    cx.check(
        codes.len() == 51 && denied == [25] && codes[25] == "PERMISSION_DENIED",
        || format!("grpc concurrent calls: {codes:?}"),
    );
    std::thread::sleep(Duration::from_millis(300));
    let log = cx.servers.log(GRPC);
    cx.check(!log.contains("DeleteAll"), || {
        format!("the gRPC server executed the denied method:\n{log}")
    });
    let said = log.matches("METHOD SayHello").count();
    cx.check(said == 52, || {
        format!("the gRPC server ran SayHello {said} times, not 52:\n{log}")
    });
    // One record per allowed call, all on the one connection the channel opened.
    let events = cx
        .lab
        .events_until(Duration::from_secs(5), |evs| grpc_events(evs).count() >= 54);
    let flows: std::collections::BTreeSet<String> = grpc_events(&events)
        .map(|e| e["flow_id"].to_string())
        .collect();
    let n = grpc_events(&events).count();
    cx.check(n == 54 && flows.len() == 1, || {
        format!("{n} http events for 54 allowed gRPC calls, on flows {flows:?}")
    });
}

fn grpc_events(events: &[Value]) -> impl Iterator<Item = &Value> {
    events
        .iter()
        .filter(|e| e["event_type"] == "http" && e["dest_port"] == GRPC)
}

/// Rapid reset (CVE-2023-44487): 1,000 requests each cancelled at once. The proxy cuts
/// the connection; Apache sees a bounded share of them.
fn rapid_reset_is_cut(cx: &mut Ctx) {
    const STREAMS: u32 = 1_000;
    let mut s = connect(cx, APACHE);
    let mut wire = h2wire::preface();
    for i in 0..STREAMS {
        let id = 2 * i + 1;
        let block = h2wire::get_block(&format!("/public/rr-{i}"));
        wire.extend(h2wire::frame(HEADERS, END_STREAM | END_HEADERS, id, &block));
        wire.extend(h2wire::frame(RST_STREAM, 0, id, &8u32.to_be_bytes())); // CANCEL
    }
    let _ = s.set_write_timeout(Some(Duration::from_secs(5)));
    let _ = s.write_all(&wire);
    let ended = read_until_end(&mut s, Duration::from_secs(10));
    cx.check(ended, || {
        "rapid reset: the proxy kept the connection open".into()
    });
    std::thread::sleep(Duration::from_millis(500));
    let served = cx.apache_log().matches("/public/rr-").count();
    cx.check(served < STREAMS as usize / 2, || {
        format!("rapid reset: Apache served {served} of {STREAMS} cancelled requests")
    });
    eprintln!("rapid reset: Apache saw {served} of {STREAMS} cancelled requests");
}

/// A HEADERS frame followed by CONTINUATION frames that never end: bounded by the header
/// list limit, the connection is cut, nothing reaches Apache.
fn continuation_flood_is_cut(cx: &mut Ctx) {
    let mut s = connect(cx, APACHE);
    let _ = s.set_write_timeout(Some(Duration::from_secs(5)));
    let mut wire = h2wire::preface();
    let block = h2wire::get_block("/public/continuation");
    wire.extend(h2wire::frame(HEADERS, END_STREAM, 1, &block)); // no END_HEADERS
    let _ = s.write_all(&wire);
    // 16 KiB of a literal header field each, far past the 64 KiB head limit in total.
    let filler = vec![b'a'; 16 * 1024];
    let started = Instant::now();
    let mut written = 0usize;
    while started.elapsed() < Duration::from_secs(5) && written < 64 * 1024 * 1024 {
        if s.write_all(&h2wire::frame(CONTINUATION, 0, 1, &filler))
            .is_err()
        {
            break;
        }
        written += filler.len();
    }
    let ended = read_until_end(&mut s, Duration::from_secs(5));
    cx.check(ended && written < 64 * 1024 * 1024, || {
        format!("CONTINUATION flood: {written} bytes accepted, connection ended: {ended}")
    });
    eprintln!("CONTINUATION flood: cut after {written} bytes");
    std::thread::sleep(Duration::from_millis(300));
    let log = cx.apache_log();
    cx.check(!log.contains("/public/continuation"), || {
        format!("CONTINUATION flood reached Apache:\n{log}")
    });
}

/// A raw connection from the client Pod to `web:port`.
fn connect(cx: &Ctx, port: u16) -> TcpStream {
    let to = support::web(port);
    cx.lab
        .client
        .run_in(move || TcpStream::connect_timeout(&to, Duration::from_secs(3)))
        .expect("netns")
        .expect("connect")
}

/// PING and SETTINGS floods from a client that never reads: the h2 crate keeps one pending
/// PONG and one pending SETTINGS ACK and stops reading until they are written, so the
/// flood backs up into the client's own socket instead of the proxy's memory.
fn ping_and_settings_floods_stay_bounded(cx: &mut Ctx) {
    let pid = cx.lab.proxy_pid().expect("proxy pid");
    let before = rss_kib(pid);
    let mut s = connect(cx, APACHE);
    let _ = s.set_write_timeout(Some(Duration::from_millis(200)));
    let mut burst = h2wire::preface();
    for i in 0..1_000u64 {
        burst.extend(h2wire::frame(h2wire::PING, 0, 0, &i.to_be_bytes()));
        burst.extend(h2wire::frame(h2wire::SETTINGS, 0, 0, &[0, 3, 0, 0, 0, 100]));
    }
    let started = Instant::now();
    let mut written = 0usize;
    while started.elapsed() < Duration::from_secs(3) {
        match s.write(&burst) {
            Ok(n) => written += n,
            Err(_) => break,
        }
    }
    let after = rss_kib(pid);
    eprintln!(
        "PING/SETTINGS flood: {written} bytes written in 3 s, proxy RSS {before} -> {after} KiB"
    );
    cx.check(after < before + 32 * 1024, || {
        format!("PING/SETTINGS flood grew the proxy from {before} to {after} KiB")
    });
    drop(s);
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

/// Read until the peer closes or resets; false if it is still open after `limit`.
fn read_until_end(s: &mut TcpStream, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    let mut buf = [0u8; 65536];
    while Instant::now() < deadline {
        let _ = s.set_read_timeout(Some(Duration::from_millis(200)));
        match s.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(_) => return true,
        }
    }
    false
}

fn http_events<'a>(events: &'a [Value], url: &'a str) -> impl Iterator<Item = &'a Value> {
    events
        .iter()
        .filter(move |e| e["event_type"] == "http" && e["http"]["url"] == url)
}

fn alerts(events: &[Value]) -> impl Iterator<Item = &Value> {
    events.iter().filter(|e| e["event_type"] == "alert")
}

fn mentions(alert: &Value, word: &str) -> bool {
    alert["reason"].as_str().is_some_and(|r| r.contains(word))
}
