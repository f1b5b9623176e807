//! What the request asks for: non-canonical targets, CONNECT tunnels, bodies where none
//! belong, and an upstream that answers a request twice.

use super::super::wire::Action;
use super::{
    ANY_HTTP, APACHE, Cases, EXPRESS, HOST_ONLY, NGINX, PYTHON, RECORDER, SWITCHER, cat, head,
    smuggled,
};

/// Non-canonical targets: what one reader resolves differently from another.
pub fn non_canonical_targets(c: &mut Cases) {
    c.reasons = &["path", "target"];
    const TARGETS: &[&str] = &[
        "/public/x/../../admin/ID",
        "/public/x/%2e%2e/%2e%2e/admin/ID",
        "/public//../admin/ID",
        "/admin/ID/../../public/x",
        "/admin/ID/%2e%2e/%2E%2E/public/x",
        "/admin//../public/ID",
        "/%61dmin/ID/../../public/x",
        "/public/%61dmin/ID",
        "/public/x#/../../admin/ID",
        "/public/x\\..\\..\\admin\\ID",
        "/public/x%2F..%2F..%2Fadmin/ID",
        "/public/..;/admin/ID",
        "/public/./ID",
    ];
    // Which targets each server really resolves to /admin (its own reading of the path).
    const DOTS: &[&str] = &[
        "/public/x/../../admin/ID",
        "/public/x/%2e%2e/%2e%2e/admin/ID",
    ];
    const EXPRESS_EXPLOITS: &[&str] = &[
        DOTS[0],
        DOTS[1],
        "/admin/ID/../../public/x",
        "/admin/ID/%2e%2e/%2E%2E/public/x",
        "/admin//../public/ID",
        "/public/x\\..\\..\\admin\\ID",
    ];
    const NGINX_EXPLOITS: &[&str] = &[
        DOTS[0],
        DOTS[1],
        "/public//../admin/ID",
        "/public/x%2F..%2F..%2Fadmin/ID",
    ];
    const APACHE_EXPLOITS: &[&str] = &[DOTS[0], DOTS[1], "/public//../admin/ID"];
    for (port, forbidden, exploits) in [
        (EXPRESS, &["ADMIN"][..], EXPRESS_EXPLOITS),
        (NGINX, &["uri=/admin"], NGINX_EXPLOITS),
        (APACHE, &["uri=/admin"], APACHE_EXPLOITS),
    ] {
        for t in TARGETS {
            let case = c.add(format!("target {t} ({port})"), port, forbidden, |id| {
                let target = t.replace("ID", id);
                Action::Send(head(
                    &format!("GET {target} HTTP/1.1"),
                    &["Host: web.test", "Connection: close"],
                ))
            });
            case.exploit = exploits.contains(t);
        }
    }
}

/// CONNECT under rules that do not name the method: never a tunnel.
pub fn connect(c: &mut Cases) {
    c.reasons = &["connect"];
    for (what, port) in [
        ("CONNECT under a host-only rule", HOST_ONLY),
        ("CONNECT under http: {}", ANY_HTTP),
    ] {
        c.add(what, port, &[], |id| Action::KeepAlive {
            first: head(
                &format!("CONNECT {id}.bar.com:443 HTTP/1.1"),
                &[&format!("Host: {id}.bar.com:443")],
            ),
            second: smuggled(id),
        })
        .exploit = true;
    }
}

/// A request hidden in a GET body (Python never reads it), and an upstream that answers
/// once too often.
pub fn bodies_and_unsolicited(c: &mut Cases) {
    c.reasons = &["body"];
    let hidden = |method: &'static str, chunked: bool| {
        move |id: &str| {
            let inner = smuggled(id);
            let (framing, body) = if chunked {
                let mut b = format!("{:x}\r\n", inner.len()).into_bytes();
                b.extend_from_slice(&inner);
                b.extend_from_slice(b"\r\n0\r\n\r\n");
                ("Transfer-Encoding: chunked".to_string(), b)
            } else {
                (format!("Content-Length: {}", inner.len()), inner)
            };
            Action::Send(cat(&[
                &head(
                    &format!("{method} /public/{id} HTTP/1.1"),
                    &["Host: web.test", &framing],
                ),
                &body,
            ]))
        }
    };
    c.add(
        "GET with a body",
        PYTHON,
        &["/admin/"],
        hidden("GET", false),
    )
    .exploit = true;
    c.add(
        "GET with a chunked body",
        PYTHON,
        &["/admin/"],
        hidden("GET", true),
    );
    c.add(
        "HEAD with a body",
        PYTHON,
        &["/admin/"],
        hidden("HEAD", false),
    )
    .exploit = true;
    c.reasons = &["upstream", "pending"];
    c.add(
        "two responses to one request",
        RECORDER,
        &["second"],
        |id| Action::KeepAlive {
            first: head(
                &format!("GET /public/first-{id} HTTP/1.1"),
                &["Host: web.test"],
            ),
            second: head(
                &format!("GET /public/second-{id} HTTP/1.1"),
                &["Host: web.test"],
            ),
        },
    )
    .never_received = Some("STALE-RESPONSE-MARKER");
    c.list.last_mut().unwrap().exploit = true;
    c.reasons = &["101", "upgrade", "websocket", "h2c"];
    c.add(
        "websocket upgrade answered by a 101 to h2c",
        SWITCHER,
        &["/admin/"],
        |id| Action::KeepAlive {
            first: head(
                &format!("GET /public/{id} HTTP/1.1"),
                &[
                    "Host: web.test",
                    "Upgrade: websocket",
                    "Connection: Upgrade",
                    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
                    "Sec-WebSocket-Version: 13",
                ],
            ),
            second: smuggled(id),
        },
    )
    .exploit = true;
}
