//! Adversarial clients against the real proxy in the netns lab. Each attack must end in a
//! reset (or close) of that connection plus an alert event that says why, never a panic, a
//! stuck task (the proxy's active connection gauge returns to zero) or a request reaching
//! the server; afterwards the proxy still serves a good request.
//!
//! Run as root: `cargo test -p l7proxy-integration --test adversarial`.

mod support;

use std::io::Write;
use std::time::{Duration, Instant};

use l7proxy_integration::clients::Verdict;
use l7proxy_integration::lab::Lab;
use l7proxy_integration::pods::Host;
use l7proxy_integration::require_root;
use support::*;

const PREFIX: &str = "l7t-adv";
/// Short classification deadline so slow attacks end quickly.
const ARGS: &[&str] = &["--classify-timeout", "1s"];
const LIMIT: Duration = Duration::from_secs(8);

/// Send `data` to `web:port`; the proxy must cut the connection, write an alert whose
/// reason contains one of `reasons`, never let the server see `path`, and keep serving.
fn attack(lab: &Lab, what: &str, port: u16, data: &[u8], path: &str, reasons: &[&str]) {
    let mut s = connect(lab, port);
    let p = local_port(&s);
    let (v, got) = send_and_finish(&mut s, data, LIMIT);
    assert_cut(what, v, &got, lab);
    let reason = alert_reason(lab, p);
    eprintln!("{what}: {v:?}, alert reason {reason:?}");
    assert!(
        reasons.iter().any(|r| reason.contains(r)),
        "{what}: alert reason {reason:?}, expected one of {reasons:?}"
    );
    if !path.is_empty() {
        let seen = lab.server_requests(Host::Web);
        assert!(
            !seen.iter().any(|r| format!("{r:?}").contains(path)),
            "{what}: the server saw {path}: {seen:?}"
        );
    }
    drop(s);
    assert_no_stuck_connections(lab);
    assert_serves(lab);
}

macro_rules! lab_or_skip {
    () => {{
        if !require_root() {
            return;
        }
        lab(PREFIX, ARGS)
    }};
}

#[test]
fn silent_client_is_cut_at_the_classification_timeout() {
    let lab = lab_or_skip!();
    attack(&lab, "silent client", 80, b"", "", &["timeout"]);
    // Same on the TLS rule's port.
    attack(&lab, "silent TLS client", 443, b"", "", &["timeout"]);
}

#[test]
fn trickled_request_meets_a_total_deadline_not_a_per_read_one() {
    let lab = lab_or_skip!();
    let req = b"GET /public/trickle HTTP/1.1\r\nHost: web.test\r\nUser-Agent: slow\r\n\r\n";
    let mut s = connect(&lab, 80);
    let p = local_port(&s);
    let t0 = Instant::now();
    let mut sent = 0;
    for b in req {
        if s.write_all(&[*b]).is_err() {
            break;
        }
        sent += 1;
        std::thread::sleep(Duration::from_millis(100));
    }
    let (v, got) = finish(&mut s, LIMIT);
    // One byte per 100 ms never stalls a single read for 1 s: only a total deadline stops it
    // before the whole request (7 s) is out.
    assert!(
        sent < req.len(),
        "the whole trickled request was accepted ({:?}, {v:?})",
        t0.elapsed()
    );
    assert_cut("trickle", v, &got, &lab);
    let reason = alert_reason(&lab, p);
    assert!(reason.contains("timeout"), "{reason}");
    drop(s);
    assert_no_stuck_connections(&lab);
    assert_serves(&lab);
}

#[test]
fn one_mebibyte_header_block_is_refused() {
    let lab = lab_or_skip!();
    let mut req = b"GET /public/huge HTTP/1.1\r\nHost: web.test\r\n".to_vec();
    while req.len() < 1 << 20 {
        req.extend_from_slice(format!("X-H{}: {}\r\n", req.len(), "a".repeat(200)).as_bytes());
    }
    req.extend_from_slice(b"\r\n");
    attack(
        &lab,
        "1 MiB head",
        80,
        &req,
        "/public/huge",
        &["too large", "too many", "limit"],
    );
}

#[test]
fn content_length_with_transfer_encoding_is_refused() {
    let lab = lab_or_skip!();
    let req = b"POST /public/smuggle1 HTTP/1.1\r\nHost: web.test\r\nContent-Length: 44\r\n\
Transfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /admin HTTP/1.1\r\nHost: web.test\r\n\r\n";
    attack(
        &lab,
        "CL+TE",
        80,
        req,
        "/admin",
        &["ength", "ncoding", "malformed", "invalid"],
    );
}

#[test]
fn duplicate_content_length_is_refused() {
    let lab = lab_or_skip!();
    let req = b"POST /public/smuggle2 HTTP/1.1\r\nHost: web.test\r\nContent-Length: 0\r\n\
Content-Length: 37\r\n\r\nGET /admin HTTP/1.1\r\nHost: web.test\r\n\r\n";
    attack(
        &lab,
        "CL+CL",
        80,
        req,
        "/admin",
        &["ength", "malformed", "invalid"],
    );
}

#[test]
fn pipelined_denied_second_request_is_cut_after_the_first_answer() {
    let lab = lab_or_skip!();
    let req = b"GET /public/first HTTP/1.1\r\nHost: web.test\r\n\r\n\
GET /admin/second HTTP/1.1\r\nHost: web.test\r\n\r\n";
    let mut s = connect(&lab, 80);
    let p = local_port(&s);
    let (v, got) = send_and_finish(&mut s, req, LIMIT);
    let text = String::from_utf8_lossy(&got);
    assert!(
        matches!(v, l7proxy_integration::clients::Verdict::Reset),
        "{v:?} {text}"
    );
    assert!(text.matches("HTTP/1.1 ").count() <= 1, "{text}");
    let reason = alert_reason(&lab, p);
    assert!(!reason.is_empty());
    let seen = format!("{:?}", lab.server_requests(Host::Web));
    assert!(!seen.contains("/admin/second"), "{seen}");
    drop(s);
    assert_no_stuck_connections(&lab);
    assert_serves(&lab);
}

#[test]
fn obs_fold_header_is_refused() {
    let lab = lab_or_skip!();
    let req = b"GET /public/fold HTTP/1.1\r\nHost: web.test\r\nX-Folded: a\r\n b\r\n\r\n";
    attack(
        &lab,
        "obs-fold",
        80,
        req,
        "/public/fold",
        &["malformed", "invalid", "header"],
    );
}

#[test]
fn nul_and_non_utf8_in_the_request_line_are_refused() {
    let lab = lab_or_skip!();
    let nul = b"GET /public/a\0b HTTP/1.1\r\nHost: web.test\r\n\r\n";
    attack(
        &lab,
        "NUL in path",
        80,
        nul,
        "/public/a",
        &["malformed", "invalid", "not http"],
    );
    let high = b"GET /public/\xff\xfe HTTP/1.1\r\nHost: web.test\r\n\r\n";
    attack(
        &lab,
        "non-UTF-8 path",
        80,
        high,
        "",
        &["malformed", "invalid", "utf", "not http"],
    );
    let method = b"G\x00T /public/m HTTP/1.1\r\nHost: web.test\r\n\r\n";
    attack(
        &lab,
        "NUL in method",
        80,
        method,
        "/public/m",
        &["malformed", "invalid", "not http"],
    );
}

#[test]
fn nul_and_non_utf8_in_the_sni_are_refused() {
    let lab = lab_or_skip!();
    for (what, sni) in [
        ("NUL in SNI", b"a\0.allowed.test".to_vec()),
        ("non-UTF-8 SNI", b"\xff\xfe.allowed.test".to_vec()),
        ("NUL suffix SNI", b"x.allowed.test\0.evil".to_vec()),
    ] {
        let hello = client_hello(&sni, None);
        attack(
            &lab,
            what,
            443,
            &hello,
            "",
            &["tls", "sni", "malformed", "invalid", "server"],
        );
    }
}

#[test]
fn client_hello_with_a_lying_length_is_refused() {
    let lab = lab_or_skip!();
    let sni = b"a.allowed.test";
    // Claims far more than is sent: waits for bytes that never come, cut by the deadline
    // or the size limit.
    let long = client_hello(sni, Some(0xff_0000));
    attack(
        &lab,
        "hello claims 16 MiB",
        443,
        &long,
        "",
        &["timeout", "too large", "tls", "limit"],
    );
    // Claims less than the record holds.
    let short = client_hello(sni, Some(10));
    attack(
        &lab,
        "hello claims 10 bytes",
        443,
        &short,
        "",
        &["tls", "malformed", "invalid"],
    );
}

#[test]
fn zero_length_tls_records_are_refused() {
    let lab = lab_or_skip!();
    // 100,000 empty handshake records: no progress, must not loop or buffer forever.
    let data = [0x16u8, 0x03, 0x01, 0x00, 0x00].repeat(100_000);
    attack(
        &lab,
        "empty records",
        443,
        &data,
        "",
        &[
            "tls",
            "malformed",
            "invalid",
            "empty",
            "timeout",
            "too large",
        ],
    );
}

/// HTTP/2 under an `http` rule is served stream by stream (tests/http2.rs). To a server
/// that speaks only HTTP/1.x the proxy speaks HTTP/2 itself, never relaying the client's
/// raw frames: the server refuses the preface, and the client's connection ends within
/// a moment (GOAWAY, then close) instead of hanging.
#[test]
fn http2_to_an_http1_only_server_ends_the_connection() {
    let lab = lab_or_skip!();
    let preface = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00";
    let mut s = connect(&lab, 80);
    let (v, got) = send_and_finish(&mut s, preface, LIMIT);
    assert!(
        matches!(v, Verdict::Closed | Verdict::Reset),
        "h2 preface to an HTTP/1 server: {v:?} after {got:?}"
    );
    // What came back is the proxy's own HTTP/2 (SETTINGS ... GOAWAY), not the server's
    // HTTP/1 error page.
    assert!(!got.starts_with(b"HTTP/1"), "raw relay: {got:?}");
    drop(s);
    assert_no_stuck_connections(&lab);
    assert_serves(&lab);
}

#[test]
fn connect_method_is_refused_when_not_allowed() {
    let lab = lab_or_skip!();
    let req = b"CONNECT web.test:443 HTTP/1.1\r\nHost: web.test:443\r\n\r\n";
    attack(
        &lab,
        "CONNECT",
        80,
        req,
        "CONNECT",
        &["deny", "denied", "Reject", "no rule", "match", "CONNECT"],
    );
}
