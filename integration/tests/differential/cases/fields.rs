//! Repeated deciding fields, upgrades and lenient field parsing (hosts, trailers, routing
//! override fields).

use super::super::wire::Action;
use super::{APACHE, Cases, Client, EXPRESS, HOST_ONLY, NGINX, cat, head, smuggled};

const SETTINGS: &str = "HTTP2-Settings: AAMAAABkAAQAoAAAAAIAAAAA";

/// Repeated fields: a second Upgrade/Host/Content-Length/Transfer-Encoding/Expect, and any
/// upgrade other than one `websocket` token, are refused; h2c against Apache is the live
/// attack. A well-formed h2c offer alone is removed instead: Apache answers in HTTP/1.1
/// and never switches, so the HTTP/2 request the case sends after a 101 never runs.
pub fn repeated_fields(c: &mut Cases) {
    c.reasons = &["duplicate", "upgrade", "h2c"];
    let h2c = |upgrades: &[&str], id: &str| {
        let mut fields = vec!["Host: web.test"];
        fields.extend_from_slice(upgrades);
        fields.extend_from_slice(&["Connection: Upgrade, HTTP2-Settings", SETTINGS]);
        Action::H2c {
            request: head(&format!("GET /public/{id} HTTP/1.1"), &fields),
            path: format!("/admin/{id}"),
        }
    };
    for (what, upgrades) in [
        (
            "h2c: Upgrade websocket + Upgrade h2c",
            &["Upgrade: websocket", "Upgrade: h2c"][..],
        ),
        (
            "h2c: Upgrade h2c + Upgrade websocket",
            &["Upgrade: h2c", "Upgrade: websocket"],
        ),
        ("h2c: Upgrade websocket, h2c", &["Upgrade: websocket, h2c"]),
    ] {
        c.add(what, APACHE, &["/admin/"], |id| h2c(upgrades, id))
            .exploit = true;
    }
    let stripped = c.add(
        "h2c: Upgrade h2c (offer removed)",
        APACHE,
        &["/admin/"],
        |id| h2c(&["Upgrade: h2c"], id),
    );
    stripped.exploit = true;
    stripped.client = Client::Any;
    stripped.never_received = Some("101 Switching");
    let plain = |fields: &'static [&'static str]| {
        move |id: &str| Action::Send(head(&format!("GET /public/{id} HTTP/1.1"), fields))
    };
    for port in [APACHE, NGINX] {
        for (what, fields) in [
            (
                "websocket upgrade with HTTP2-Settings",
                &[
                    "Host: web.test",
                    "Upgrade: websocket",
                    "Connection: Upgrade",
                    SETTINGS,
                ][..],
            ),
            (
                "Upgrade without Connection: upgrade",
                &["Host: web.test", "Upgrade: websocket"],
            ),
            (
                "two Upgrade: websocket fields",
                &[
                    "Host: web.test",
                    "Upgrade: websocket",
                    "Upgrade: websocket",
                    "Connection: Upgrade",
                ],
            ),
            ("two Host fields", &["Host: web.test", "Host: other.test"]),
            (
                "two Expect fields",
                &[
                    "Host: web.test",
                    "Expect: 100-continue",
                    "Expect: 100-continue",
                ],
            ),
        ] {
            c.add(format!("{what} ({port})"), port, &[], plain(fields));
        }
        let body = |fields: &'static [&'static str], body: &'static [u8]| {
            move |id: &str| {
                Action::Send(cat(&[
                    &head(&format!("POST /public/{id} HTTP/1.1"), fields),
                    body,
                    &smuggled(id),
                ]))
            }
        };
        c.add(
            format!("two equal Content-Length fields ({port})"),
            port,
            &[],
            body(
                &["Host: web.test", "Content-Length: 5", "Content-Length: 5"],
                b"hello",
            ),
        );
        c.add(
            format!("two Transfer-Encoding: chunked fields ({port})"),
            port,
            &[],
            body(
                &[
                    "Host: web.test",
                    "Transfer-Encoding: chunked",
                    "Transfer-Encoding: chunked",
                ],
                b"0\r\n\r\n",
            ),
        );
    }
    c.add("two Host fields (host rule)", HOST_ONLY, &[], |id| {
        Action::Send(head(
            &format!("GET /{id} HTTP/1.1"),
            &["Host: foo.bar.com", "Host: evil.test"],
        ))
    });
}

/// Lenient parsing: hosts, trailers, routing override fields.
pub fn lenient_parsing(c: &mut Cases) {
    c.reasons = &["host"];
    for (what, line, host) in [
        (
            "Host foo.bar.com..",
            "GET /ID HTTP/1.1",
            "Host: foo.bar.com..",
        ),
        (
            "Host foo..bar.com",
            "GET /ID HTTP/1.1",
            "Host: foo..bar.com",
        ),
        (
            "absolute-form foo.bar.com..",
            "GET http://foo.bar.com../ID HTTP/1.1",
            "Host: foo.bar.com..",
        ),
    ] {
        c.add(what, HOST_ONLY, &[], |id| {
            Action::Send(head(&line.replace("ID", id), &[host]))
        });
    }
    c.reasons = &["trailer"];
    for port in [NGINX, APACHE] {
        for (what, trailer) in [
            (
                "trailer line that is a request line",
                "GET /admin/ID HTTP/1.1\r\nHost: web.test\r\n",
            ),
            ("trailer without colon", "bad trailer ID\r\n"),
            ("obs-fold in trailer", "X-T: a\r\n folded ID\r\n"),
        ] {
            c.add(format!("{what} ({port})"), port, &[], |id| {
                Action::Send(cat(&[
                    &head(
                        &format!("POST /public/{id} HTTP/1.1"),
                        &["Host: web.test", "Transfer-Encoding: chunked"],
                    ),
                    b"0\r\n",
                    trailer.replace("ID", id).as_bytes(),
                    b"\r\n",
                ]))
            });
        }
    }
    c.reasons = &["override"];
    for (what, method, field) in [
        ("X-Original-URL", "GET", "X-Original-URL: /admin/ID"),
        ("X-Rewrite-URL", "GET", "X-Rewrite-URL: /admin/ID"),
        (
            "X-HTTP-Method-Override",
            "POST",
            "X-HTTP-Method-Override: DELETE",
        ),
    ] {
        c.add(what, EXPRESS, &["ADMIN"], |id| {
            Action::Send(head(
                &format!("{method} /public/{id} HTTP/1.1"),
                &[
                    "Host: web.test",
                    &field.replace("ID", id),
                    "Content-Length: 0",
                    "Connection: close",
                ],
            ))
        })
        .exploit = true;
    }
}
