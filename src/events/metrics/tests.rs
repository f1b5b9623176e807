//! The exposition text after each kind of update.

use super::*;
use crate::policy::PolicyKind;

fn rule() -> RuleRef {
    RuleRef {
        kind: PolicyKind::AntreaNetworkPolicy,
        namespace: Some("default".into()),
        name: "allow-web".into(),
        rule: "rule-0".into(),
        tier: "application".into(),
        priority: 5.0,
        direction: Direction::Ingress,
        enable_logging: false,
        log_label: None,
    }
}

fn has(text: &str, line: &str) {
    assert!(
        text.lines().any(|l| l == line),
        "missing {line:?} in\n{text}"
    );
}

#[test]
fn series_exist_at_zero_before_traffic() {
    let t = Metrics::new().encode();
    has(
        &t,
        "l7proxy_connections_accepted_total{direction=\"ingress\"} 0",
    );
    has(&t, "l7proxy_connections_active{direction=\"egress\"} 0");
    has(&t, "l7proxy_events_dropped_total 0");
    has(&t, "l7proxy_policy_snapshot_generation 0");
    assert!(t.ends_with("# EOF\n"));
}

#[test]
fn counters_move() {
    let m = Metrics::new();
    m.conn_opened(Direction::Ingress);
    m.conn_opened(Direction::Ingress);
    m.conn_closed(Direction::Ingress);
    m.conn_opened(Direction::Egress);
    m.verdict(Some(&rule()), Verdict::Deny, ProtoLabel::Http);
    m.verdict(Some(&rule()), Verdict::Deny, ProtoLabel::Http);
    m.verdict(None, Verdict::Allow, ProtoLabel::None);
    m.classified(Classification::Tls, Duration::from_micros(120));
    m.classified(Classification::Other, Duration::from_secs(1));
    m.bytes_relayed(Direction::Egress, 100, 2000);
    m.snapshot_loaded(7);
    m.reload_error();
    m.event_dropped();
    m.event_write_failed(3);
    let t = m.encode();
    has(
        &t,
        "l7proxy_connections_accepted_total{direction=\"ingress\"} 2",
    );
    has(&t, "l7proxy_connections_active{direction=\"ingress\"} 1");
    has(&t, "l7proxy_connections_active{direction=\"egress\"} 1");
    has(
        &t,
        "l7proxy_verdicts_total{policy=\"AntreaNetworkPolicy:default/allow-web\",rule=\"rule-0\",verdict=\"deny\",app_proto=\"http\"} 2",
    );
    has(
        &t,
        "l7proxy_verdicts_total{policy=\"\",rule=\"\",verdict=\"allow\",app_proto=\"none\"} 1",
    );
    has(&t, "l7proxy_classifications_total{outcome=\"tls\"} 1");
    has(&t, "l7proxy_classifications_total{outcome=\"other\"} 1");
    has(
        &t,
        "l7proxy_classification_duration_seconds_count{outcome=\"tls\"} 1",
    );
    has(
        &t,
        "l7proxy_classification_duration_seconds_bucket{le=\"0.0002\",outcome=\"tls\"} 1",
    );
    has(
        &t,
        "l7proxy_relayed_bytes_total{direction=\"egress\",flow=\"to_client\"} 2000",
    );
    has(
        &t,
        "l7proxy_relayed_bytes_total{direction=\"egress\",flow=\"to_server\"} 100",
    );
    has(&t, "l7proxy_policy_snapshot_generation 7");
    has(&t, "l7proxy_policy_reload_errors_total 1");
    has(&t, "l7proxy_events_dropped_total 1");
    has(&t, "l7proxy_events_write_failed_total 3");
}

#[test]
fn verdict_series_are_per_rule() {
    let m = Metrics::new();
    let a = rule();
    let mut b = rule();
    b.namespace = Some("other".into());
    let mut c = rule();
    c.rule = "rule-1".into();
    for r in [&a, &b, &c, &a, &b, &a] {
        m.verdict(Some(r), Verdict::Allow, ProtoLabel::Tls);
    }
    let t = m.encode();
    let series = |ns: &str, rule: &str, n: u32| {
        format!(
            "l7proxy_verdicts_total{{policy=\"AntreaNetworkPolicy:{ns}/allow-web\",rule=\"{rule}\",verdict=\"allow\",app_proto=\"tls\"}} {n}"
        )
    };
    has(&t, &series("default", "rule-0", 3));
    has(&t, &series("other", "rule-0", 2));
    has(&t, &series("default", "rule-1", 1));
}

/// Cost of the per-connection metric calls, printed for the record (never asserted:
/// timings are noisy). `cargo test --release --lib metric_cost -- --ignored --nocapture`
#[test]
#[ignore]
fn metric_cost() {
    let m = Metrics::new();
    let r = rule();
    let n = 200_000u32;
    let t = std::time::Instant::now();
    for _ in 0..n {
        m.conn_opened(Direction::Ingress);
        m.conn_closed(Direction::Ingress);
        m.bytes_relayed(Direction::Ingress, 1, 1);
    }
    let per_dir = t.elapsed() / n;
    let t = std::time::Instant::now();
    for _ in 0..n {
        m.verdict(Some(&r), Verdict::Allow, ProtoLabel::Http);
    }
    let per_verdict = t.elapsed() / n;
    let t = std::time::Instant::now();
    for _ in 0..n {
        m.classified(Classification::Http, Duration::from_micros(80));
    }
    let per_classified = t.elapsed() / n;
    println!(
        "open+close+bytes: {per_dir:?}/conn; verdict: {per_verdict:?}; classified: {per_classified:?}"
    );
}

/// The label values dashboards and alerts select on.
#[test]
fn label_values_are_fixed() {
    assert_eq!(
        [Verdict::Allow, Verdict::Deny].map(Verdict::as_str),
        ["allow", "deny"]
    );
    assert_eq!(
        [
            ProtoLabel::Http,
            ProtoLabel::Tls,
            ProtoLabel::None,
            ProtoLabel::Failed
        ]
        .map(ProtoLabel::as_str),
        ["http", "tls", "none", "failed"]
    );
    assert_eq!(
        Classification::ALL.map(Classification::as_str),
        ["http", "tls", "http2", "other", "timeout", "too_large"]
    );
    for (i, c) in Classification::ALL.into_iter().enumerate() {
        assert_eq!(c.index(), i);
    }
}
