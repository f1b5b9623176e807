//! The reasons alerts and logs give, and how each cut is reported.

use super::*;
use crate::classify::ParseError;
use crate::proxy::testutil::rule;

#[test]
fn reasons_are_the_event_log_s() {
    let vip = "10.96.0.10:80".parse().unwrap();
    let l4 = |action| Denied::L4 {
        rule: rule(),
        action,
        bytes: Vec::new(),
    };
    let cases = [
        (Denied::ConnectionLimit, "connection limit reached"),
        (
            Denied::NoEndpoints { vip },
            "service 10.96.0.10:80 has no ready endpoints",
        ),
        (Denied::SelfCall, "destination is the proxy itself"),
        (l4(DenyAction::Drop), "drop rule"),
        (l4(DenyAction::Reject), "reject rule"),
        (
            Denied::Unclassified {
                rule: rule(),
                error: Unclassified::Other,
                bytes: Vec::new(),
            },
            "not http or tls",
        ),
        (
            Denied::UpstreamConnect {
                proto: AppProto::Tls,
                error: io::ErrorKind::ConnectionRefused.into(),
            },
            "upstream connect failed: connection refused",
        ),
        (Denied::IdleTimeout, "idle timeout"),
        (
            Denied::HttpFailed("response head too large".into()),
            "response head too large",
        ),
    ];
    for (why, reason) in cases {
        assert_eq!(why.to_string(), reason);
    }
}

#[test]
fn kinds_rules_and_protocols() {
    let tls = |cut| Denied::Tls {
        rule: rule(),
        hello: ClientHello::default(),
        cut,
        bytes: b"x".to_vec(),
    };
    let client = tls(TlsCut::Framing(ParseError::TlsRecordType(23)));
    assert_eq!(client.kind(), Kind::Denial);
    assert_eq!(client.app_proto(), AppProto::Tls);
    assert!(client.rule().is_some() && client.hello().is_some());
    assert_eq!(client.bytes(), b"x");
    assert_eq!(tls(TlsCut::SecondRetry).kind(), Kind::Abort);

    let upstream = Denied::UpstreamConnect {
        proto: AppProto::Http,
        error: io::ErrorKind::TimedOut.into(),
    };
    assert_eq!(upstream.kind(), Kind::Abort);
    assert_eq!(upstream.app_proto(), AppProto::Http);
    assert!(!upstream.counts_client() && !upstream.drains());

    assert!(Denied::IdleTimeout.drains());
    assert_eq!(Denied::IdleTimeout.app_proto(), AppProto::Http);
    assert_eq!(Denied::ConnectionLimit.kind(), Kind::Denial);
    assert_eq!(Denied::ConnectionLimit.app_proto(), AppProto::Failed);
    assert!(Denied::ConnectionLimit.rule().is_none());
    let broken = Denied::Broken(io::ErrorKind::ConnectionReset.into());
    assert_eq!(broken.kind(), Kind::Silent);
}
