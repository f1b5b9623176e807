//! The gate with the real L7 matcher behind a one-rule policy: what it refuses before
//! policy (bodies on GET/HEAD/TRACE/CONNECT) and the CONNECT rule.

use std::sync::Arc;

use super::*;
use crate::classify::parse_request;
use crate::events::{Event, Metrics};
use crate::matcher::{HttpEntry, HttpMatcher};
use crate::policy::{Direction, Flow, L7Verdict, L7Wants, Protocol, TlsMeta};
use crate::proxy::config::Config;
use crate::proxy::drain::Drain;
use crate::proxy::state::Sink;
use crate::proxy::testutil::rule;

struct Quiet;

impl Sink for Quiet {
    fn emit(&self, _: Event) {}
}

/// Inspects every flow with one L7 rule made of `entries`.
struct OneRule(HttpMatcher);

impl Policy for OneRule {
    fn generation(&self) -> u64 {
        1
    }
    fn decide(&self, _: &Flow) -> L4Verdict {
        L4Verdict::Inspect {
            rule: rule(),
            l7: L7Id(0),
        }
    }
    fn l7_wants(&self, _: L7Id) -> L7Wants {
        L7Wants {
            http: true,
            tls: false,
        }
    }
    fn check_http(&self, _: L7Id, req: &HttpRequestMeta<'_>) -> L7Verdict {
        self.0.decide(req.method, req.host, req.path).into()
    }
    fn check_tls(&self, _: L7Id, _: &TlsMeta<'_>) -> L7Verdict {
        L7Verdict {
            allowed: false,
            detail: String::new(),
        }
    }
}

fn entry(method: Option<&str>, host: Option<&str>) -> HttpEntry {
    HttpEntry {
        index: 0,
        method: method.map(Into::into),
        host: host.map(Into::into),
        path: None,
    }
}

fn gate(entries: Vec<HttpEntry>, allow_get_body: bool) -> PolicyGate<OneRule> {
    let (_drain, watch) = Drain::new();
    let config = Config {
        allow_get_body,
        ..Config::default()
    };
    let shared = Arc::new(Shared::new(
        OneRule(HttpMatcher::new(entries).unwrap()),
        Arc::new(Quiet),
        Arc::new(Metrics::default()),
        config,
        watch.signal(),
    ));
    let snapshot = arc_swap::Guard::into_inner(shared.policy.load());
    PolicyGate {
        shared,
        flow: Flow {
            direction: Direction::Ingress,
            src: "10.0.0.2:40000".parse().unwrap(),
            dst: "10.0.0.10:80".parse().unwrap(),
            protocol: Protocol::Tcp,
        },
        snapshot,
        l7: Some((rule(), L7Id(0))),
    }
}

fn check(g: &mut PolicyGate<OneRule>, raw: &str) -> Decision {
    let head = parse_request(raw.as_bytes(), 65536).unwrap().unwrap();
    g.check(&head)
}

#[test]
fn bodies_on_get_head_trace_connect_are_refused_before_policy() {
    let mut g = gate(vec![entry(None, None)], false);
    let d = check(
        &mut g,
        "GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n\r\n",
    );
    assert!(!d.allowed);
    assert_eq!(d.detail, "body on a GET request is not allowed");
    assert_eq!(d.rule.map(|r| r.rule.clone()).as_deref(), Some("l7"));
    let d = check(
        &mut g,
        "HEAD / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n",
    );
    assert_eq!(d.detail, "body on a HEAD request is not allowed");
    // Content-Length: 0 is what some clients send with every request.
    assert!(
        check(
            &mut g,
            "GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n"
        )
        .allowed
    );
    assert!(
        check(
            &mut g,
            "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n\r\n"
        )
        .allowed
    );

    let mut lenient = gate(vec![entry(None, None)], true);
    assert!(
        check(
            &mut lenient,
            "GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n\r\n"
        )
        .allowed
    );
    let d = check(
        &mut lenient,
        "TRACE / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n\r\n",
    );
    assert_eq!(d.detail, "body on a TRACE request is not allowed");
}

/// `http: {}` and host-only entries never open a tunnel; `method: CONNECT` does.
#[test]
fn connect_needs_an_entry_that_names_it() {
    let connect = "CONNECT a.com:443 HTTP/1.1\r\nHost: a.com:443\r\n\r\n";
    for entries in [vec![entry(None, None)], vec![entry(None, Some("a.com"))]] {
        let mut g = gate(entries, false);
        let d = check(&mut g, connect);
        assert!(!d.allowed);
        assert!(
            d.detail.contains("does not name method CONNECT"),
            "{}",
            d.detail
        );
        assert!(check(&mut g, "GET / HTTP/1.1\r\nHost: a.com\r\n\r\n").allowed);
    }
    let mut g = gate(vec![entry(Some("CONNECT"), Some("a.com"))], false);
    assert!(check(&mut g, connect).allowed);
    let body = "CONNECT a.com:443 HTTP/1.1\r\nHost: a.com:443\r\nContent-Length: 3\r\n\r\n";
    assert_eq!(
        check(&mut g, body).detail,
        "body on a CONNECT request is not allowed"
    );
}
