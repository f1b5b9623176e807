//! Message framing against nginx and Apache: smuggling through Content-Length and
//! Transfer-Encoding tricks, the Host trick, slowloris, connection ends in mid-body.

use std::time::Duration;

use super::super::wire::Action;
use super::{Cases, Client, NGINX, cat, head, smuggled};

/// Framing tricks that smuggle `GET /admin/<id>` behind an allowed POST, the Host trick,
/// slowloris, and connection ends in mid-body.
pub fn regressions(c: &mut Cases, port: u16) {
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
        let case = c.add(
            format!("{what} ({port})"),
            port,
            &["/admin/"],
            post(fields, body),
        );
        // nginx 1.22 ends a chunk-size line at a bare LF and runs what follows.
        case.exploit = port == NGINX && what.contains("bare LF");
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
    )
    .exploit = true;
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
