//! The attack cases: each a request the proxy must refuse (reset) whose forbidden part a
//! real server would execute if it slipped through. Every case carries a unique token in
//! its bytes, so the server logs (shared by all cases) tell exactly which case got through.

use std::time::Duration;

use super::wire::Action;

/// Ports of the real servers in `web`, one policy rule each (see `POLICY`).
pub const APACHE: u16 = 8101;
pub const NGINX: u16 = 8102;
pub const EXPRESS: u16 = 8103;
pub const PYTHON: u16 = 8104;
pub const RECORDER: u16 = 8105;
/// Python http.server under a host-only rule (`host: "*.bar.com"`).
pub const HOST_ONLY: u16 = 8106;
/// Python http.server under `http: {}`.
pub const ANY_HTTP: u16 = 8107;

/// What the client must see.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Client {
    /// A reset, plus an alert event for the connection.
    Reset,
    /// Anything (the case ends the connection itself); only the server side is judged.
    Any,
}

/// One attack.
#[derive(Clone, Debug)]
pub struct Case {
    /// Unique token inside the request bytes.
    pub id: String,
    pub what: String,
    pub port: u16,
    pub action: Action,
    /// The server executed the forbidden request: one of its log lines (access log, or
    /// tunnelled bytes) contains [`Case::id`] and every one of these.
    pub forbidden: Vec<&'static str>,
    pub client: Client,
    /// Bytes the client must never receive.
    pub never_received: Option<&'static str>,
    /// The alert reason names the refusal: it contains one of these (lowercase; empty: any).
    pub reasons: &'static [&'static str],
}

/// Builds cases with fresh tokens.
#[derive(Default)]
pub struct Cases {
    pub list: Vec<Case>,
    /// [`Case::reasons`] of the cases added next.
    reasons: &'static [&'static str],
}

impl Cases {
    /// Add a case; `make` gets the token and returns the action.
    fn add(
        &mut self,
        what: impl Into<String>,
        port: u16,
        forbidden: &[&'static str],
        make: impl FnOnce(&str) -> Action,
    ) -> &mut Case {
        let id = format!("q{:03}z", self.list.len());
        let action = make(&id);
        self.list.push(Case {
            id,
            what: what.into(),
            port,
            action,
            forbidden: forbidden.to_vec(),
            client: Client::Reset,
            never_received: None,
            reasons: self.reasons,
        });
        self.list.last_mut().unwrap()
    }
}

/// An HTTP/1.1 request head: request line, fields, blank line.
pub fn head(line: &str, fields: &[&str]) -> Vec<u8> {
    let mut out = format!("{line}\r\n");
    for f in fields {
        out.push_str(f);
        out.push_str("\r\n");
    }
    out.push_str("\r\n");
    out.into_bytes()
}

fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

/// The request hidden in a body or behind a framing trick.
fn smuggled(id: &str) -> Vec<u8> {
    head(&format!("GET /admin/{id} HTTP/1.1"), &["Host: web.test"])
}

/// Every case, grouped by class.
pub fn all() -> Vec<Case> {
    let mut c = Cases::default();
    repeated_fields(&mut c);
    non_canonical_targets(&mut c);
    connect(&mut c);
    bodies_and_unsolicited(&mut c);
    lenient_parsing(&mut c);
    for port in [NGINX, APACHE] {
        regressions(&mut c, port);
    }
    c.list
}

const SETTINGS: &str = "HTTP2-Settings: AAMAAABkAAQAoAAAAAIAAAAA";

/// Repeated fields: a second Upgrade/Host/Content-Length/Transfer-Encoding/Expect, and any
/// upgrade other than one `websocket` token, are refused; h2c against Apache is the live
/// attack.
fn repeated_fields(c: &mut Cases) {
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
        ("h2c: Upgrade h2c", &["Upgrade: h2c"]),
        ("h2c: Upgrade websocket, h2c", &["Upgrade: websocket, h2c"]),
    ] {
        c.add(what, APACHE, &["/admin/"], |id| h2c(upgrades, id));
    }
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

/// Non-canonical targets: what one reader resolves differently from another.
fn non_canonical_targets(c: &mut Cases) {
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
    for (port, forbidden) in [
        (EXPRESS, &["ADMIN"][..]),
        (NGINX, &["uri=/admin"]),
        (APACHE, &["uri=/admin"]),
    ] {
        for t in TARGETS {
            c.add(format!("target {t} ({port})"), port, forbidden, |id| {
                let target = t.replace("ID", id);
                Action::Send(head(
                    &format!("GET {target} HTTP/1.1"),
                    &["Host: web.test", "Connection: close"],
                ))
            });
        }
    }
}

/// CONNECT under rules that do not name the method: never a tunnel.
fn connect(c: &mut Cases) {
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
        });
    }
}

/// A request hidden in a GET body (Python never reads it), and an upstream that answers
/// once too often.
fn bodies_and_unsolicited(c: &mut Cases) {
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
    );
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
    );
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
}

/// Lenient parsing: hosts, trailers, routing override fields.
fn lenient_parsing(c: &mut Cases) {
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
        });
    }
}

/// Framing tricks that smuggle `GET /admin/<id>` behind an allowed POST, the Host trick,
/// slowloris, and connection ends in mid-body.
fn regressions(c: &mut Cases, port: u16) {
    // Many distinct refusals (framing, timeout, policy); the reset and the server log judge.
    c.reasons = &[];
    let post = |fields: &'static [&'static str], body: &'static [u8]| {
        move |id: &str| {
            let inner = smuggled(id);
            let fields: Vec<String> = fields
                .iter()
                .map(|f| f.replace("LEN", &(body.len() + inner.len()).to_string()))
                .collect();
            let fields: Vec<&str> = fields.iter().map(String::as_str).collect();
            Action::Send(cat(&[
                &head(&format!("POST /public/{id} HTTP/1.1"), &fields),
                body,
                &inner,
            ]))
        }
    };
    let smuggles: &[(&str, &'static [&'static str], &'static [u8])] = &[
        (
            "CL + TE",
            &[
                "Host: web.test",
                "Content-Length: LEN",
                "Transfer-Encoding: chunked",
            ],
            b"0\r\n\r\n",
        ),
        (
            "TE chunked, identity",
            &["Host: web.test", "Transfer-Encoding: chunked, identity"],
            b"0\r\n\r\n",
        ),
        (
            "TE with a space before the colon",
            &[
                "Host: web.test",
                "Content-Length: LEN",
                "Transfer-Encoding : chunked",
            ],
            b"0\r\n\r\n",
        ),
        (
            "TE xchunked",
            &[
                "Host: web.test",
                "Content-Length: LEN",
                "Transfer-Encoding: xchunked",
            ],
            b"0\r\n\r\n",
        ),
        (
            "TE chunked + TE identity",
            &[
                "Host: web.test",
                "Transfer-Encoding: chunked",
                "Transfer-Encoding: identity",
            ],
            b"0\r\n\r\n",
        ),
        (
            "obs-fold TE",
            &[
                "Host: web.test",
                "Content-Length: LEN",
                "Transfer-Encoding:\r\n chunked",
            ],
            b"0\r\n\r\n",
        ),
        (
            "two different Content-Length",
            &["Host: web.test", "Content-Length: 0", "Content-Length: LEN"],
            b"",
        ),
        (
            "chunk size 0x0",
            &["Host: web.test", "Transfer-Encoding: chunked"],
            b"0x0\r\n\r\n",
        ),
        (
            "overlong chunk size (2^64)",
            &["Host: web.test", "Transfer-Encoding: chunked"],
            b"10000000000000000\r\n\r\n0\r\n\r\n",
        ),
        (
            "bare LF in a chunk extension",
            &["Host: web.test", "Transfer-Encoding: chunked"],
            b"0;a\nb\r\n\r\n",
        ),
    ];
    for (what, fields, body) in smuggles {
        c.add(
            format!("{what} ({port})"),
            port,
            &["/admin/"],
            post(fields, body),
        );
    }
    c.add(
        format!("pipelined forbidden request ({port})"),
        port,
        &["/admin/"],
        |id| {
            Action::Send(cat(&[
                &head(&format!("GET /public/{id} HTTP/1.1"), &["Host: web.test"]),
                &smuggled(id),
            ]))
        },
    );
    c.add(
        format!("Host a + absolute-form other host ({port})"),
        port,
        &[],
        |id| {
            Action::Send(head(
                &format!("GET http://other.test/public/{id} HTTP/1.1"),
                &["Host: a"],
            ))
        },
    );
    c.add(format!("slowloris head ({port})"), port, &[], |id| {
        Action::Trickle(
            head(
                &format!("GET /public/{id} HTTP/1.1"),
                &["Host: web.test", "User-Agent: slow"],
            ),
            Duration::from_millis(100),
        )
    });
    let partial = |id: &str| {
        cat(&[
            &head(
                &format!("POST /public/{id} HTTP/1.1"),
                &["Host: web.test", "Content-Length: 500"],
            ),
            &smuggled(id),
        ])
    };
    c.add(
        format!("half-close mid-body ({port})"),
        port,
        &["/admin/"],
        |id| Action::HalfClose(partial(id)),
    )
    .client = Client::Any;
    c.add(
        format!("reset mid-body ({port})"),
        port,
        &["/admin/"],
        |id| Action::Abort(partial(id)),
    )
    .client = Client::Any;
}
