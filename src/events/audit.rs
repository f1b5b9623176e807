//! Lines of `np.log`, in the layout of Antrea's agent audit logger
//! (`pkg/agent/controller/networkpolicy/audit_logging.go`, `buildLogMsg`), so the same
//! parsers (Antrea's fluentd regex, `grep | awk` recipes) work:
//!
//! ```text
//! 2024/08/26 22:37:30.895673 AntreaPolicyIngressRule AntreaNetworkPolicy:ns/name rule Ingress Redirect 5 ns/pod 10.0.0.1 40000 10.0.0.2 80 TCP 0 <nil>
//! <date> <time> <table> <npRef> <rule> <direction> <disposition> <priority> <appliedTo> <src_ip> <src_port> <dst_ip> <dst_port> TCP <length> <logLabel>
//! ```
//!
//! Differences from Antrea, by necessity: the time is UTC (Go's logger uses local time,
//! which is UTC in the agent container anyway); `<priority>` is the policy priority, as
//! there is no OpenFlow priority here, and `<nil>` for Kubernetes NetworkPolicy; no 1 s
//! deduplication of repeated lines (each line is one connection, not one packet). Empty
//! fields are written `<nil>`, Antrea's placeholder.

use std::fmt::Write as _;
use std::time::SystemTime;

use chrono::{DateTime, Utc};

use super::AuditRecord;
use super::eve::canonical_ip;
use crate::policy::{Direction, PolicyKind};

/// Antrea's placeholder for an empty field.
pub const NIL: &str = "<nil>";

/// Antrea's OVS table name for the rule's kind and direction: Antrea-native policies
/// are enforced in `AntreaPolicy{Ingress,Egress}Rule` except the Baseline tier, which
/// lives in `{Ingress,Egress}DefaultRule`; Kubernetes NetworkPolicy in `{Ingress,Egress}Rule`.
pub fn table_name(kind: PolicyKind, tier: &str, direction: Direction) -> &'static str {
    let baseline = tier.eq_ignore_ascii_case("baseline");
    match (kind, direction) {
        (PolicyKind::K8sNetworkPolicy, Direction::Ingress) => "IngressRule",
        (PolicyKind::K8sNetworkPolicy, Direction::Egress) => "EgressRule",
        (_, Direction::Ingress) if baseline => "IngressDefaultRule",
        (_, Direction::Egress) if baseline => "EgressDefaultRule",
        (_, Direction::Ingress) => "AntreaPolicyIngressRule",
        (_, Direction::Egress) => "AntreaPolicyEgressRule",
    }
}

/// Format one np.log line (with trailing `\n`) stamped `at`. `applied_to` is the protected
/// Pod as `<namespace>/<name>`.
pub fn line(rec: &AuditRecord, at: SystemTime, applied_to: Option<&str>) -> String {
    let r = &rec.rule;
    let time = DateTime::<Utc>::from(at).format("%Y/%m/%d %H:%M:%S%.6f");
    let direction = match r.direction {
        Direction::Ingress => "Ingress",
        Direction::Egress => "Egress",
    };
    let priority = match r.kind {
        PolicyKind::K8sNetworkPolicy => NIL.to_string(),
        _ => r.priority.to_string(),
    };
    let mut out = String::with_capacity(192);
    // Writing into a String cannot fail.
    let _ = writeln!(
        out,
        "{time} {table} {np} {rule} {direction} {disposition} {priority} {applied} {sip} {sport} {dip} {dport} TCP {len} {label}",
        table = table_name(r.kind, &r.tier, r.direction),
        np = r.policy_ref(),
        rule = field(&r.rule),
        disposition = field(rec.disposition),
        applied = field(applied_to.unwrap_or("")),
        sip = canonical_ip(&rec.src),
        sport = rec.src.port(),
        dip = canonical_ip(&rec.dst),
        dport = rec.dst.port(),
        len = rec.length,
        label = field(r.log_label.as_deref().unwrap_or("")),
    );
    out
}

/// A field as one space-free token: `<nil>` when empty; whitespace (impossible in
/// Kubernetes names, but `logLabel` is user text) replaced so columns stay aligned.
fn field(s: &str) -> std::borrow::Cow<'_, str> {
    if s.is_empty() {
        NIL.into()
    } else if s.contains(char::is_whitespace) {
        s.replace(char::is_whitespace, "_").into()
    } else {
        s.into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::RuleRef;
    use std::time::{Duration, UNIX_EPOCH};

    fn rule(kind: PolicyKind, tier: &str, label: Option<&str>) -> RuleRef {
        RuleRef {
            kind,
            namespace: Some("default".into()),
            name: "allow-web".into(),
            rule: "AllowFromClient".into(),
            tier: tier.into(),
            priority: 5.0,
            direction: Direction::Ingress,
            enable_logging: true,
            log_label: label.map(String::from),
        }
    }

    fn record(rule: RuleRef) -> AuditRecord {
        AuditRecord {
            rule: std::sync::Arc::new(rule),
            disposition: "Redirect",
            src: "10.10.1.4:45034".parse().unwrap(),
            dst: "[::ffff:10.10.1.3]:80".parse().unwrap(),
            length: 60,
        }
    }

    // 2024-09-05T22:49:24.788756Z
    const AT: u64 = 1_725_576_564;

    #[test]
    fn antrea_layout() {
        let at = UNIX_EPOCH + Duration::from_micros(AT * 1_000_000 + 788_756);
        let l = line(
            &record(rule(
                PolicyKind::AntreaNetworkPolicy,
                "application",
                Some("web"),
            )),
            at,
            Some("default/web-0"),
        );
        assert_eq!(
            l,
            "2024/09/05 22:49:24.788756 AntreaPolicyIngressRule AntreaNetworkPolicy:default/allow-web \
             AllowFromClient Ingress Redirect 5 default/web-0 10.10.1.4 45034 10.10.1.3 80 TCP 60 web\n"
        );
    }

    #[test]
    fn placeholders_and_tables() {
        let at = UNIX_EPOCH + Duration::from_secs(AT);
        let mut r = rule(PolicyKind::K8sNetworkPolicy, "", None);
        r.direction = Direction::Egress;
        let l = line(&record(r), at, None);
        let cols: Vec<&str> = l.trim_end().split(' ').collect();
        assert_eq!(cols.len(), 16, "{l}");
        assert_eq!(cols[2], "EgressRule");
        assert_eq!(cols[3], "K8sNetworkPolicy:default/allow-web");
        assert_eq!(cols[5], "Egress");
        assert_eq!(cols[7], NIL, "K8s NP has no priority");
        assert_eq!(cols[8], NIL, "appliedTo unknown");
        assert_eq!(cols[15], NIL, "no logLabel");

        let mut r = rule(
            PolicyKind::AntreaClusterNetworkPolicy,
            "Baseline",
            Some("a b"),
        );
        r.namespace = None;
        r.priority = 1.5;
        let l = line(&record(r), at, None);
        let cols: Vec<&str> = l.trim_end().split(' ').collect();
        assert_eq!(cols.len(), 16, "{l}");
        assert_eq!(cols[2], "IngressDefaultRule");
        assert_eq!(cols[3], "AntreaClusterNetworkPolicy:allow-web");
        assert_eq!(cols[7], "1.5");
        assert_eq!(cols[15], "a_b");
    }
}
