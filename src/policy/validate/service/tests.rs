//! Service-applied policies: what Antrea's webhook accepts loads with a warning and is not
//! enforced for the Pod; what it refuses is refused with its message.

use std::process::ExitCode;

use super::super::super::cli::check_report;
use super::super::super::test_support::*;

/// An ACNP applied to the NodePort Service default/web-np at `applied` (`spec` or a rule),
/// with `rules` as its YAML body.
fn acnp_svc(spec_applied: bool, rules: &str) -> String {
    let applied = if spec_applied {
        "  appliedTo: [{service: {namespace: default, name: web-np}}]\n"
    } else {
        ""
    };
    format!(
        "apiVersion: crd.antrea.io/v1beta1
kind: ClusterNetworkPolicy
metadata: {{name: svc}}
spec:
  priority: 5
  tier: securityops
{applied}{rules}"
    )
}

const INGRESS_FROM_IPBLOCK: &str = "  ingress:
  - action: Drop
    from: [{ipBlock: {cidr: 10.0.0.0/24}}]
    ports: [{protocol: TCP, port: 80}]
";

#[test]
fn antrea_accepts_it_so_it_loads_with_a_warning() {
    let s = store(&acnp_svc(true, INGRESS_FROM_IPBLOCK));
    let w = s.warnings();
    assert_eq!(w.len(), 1, "{w:?}");
    assert_eq!(w[0].field, "spec.appliedTo[0].service");
    assert_eq!(w[0].object, "AntreaClusterNetworkPolicy svc");
    assert!(
        w[0].message.contains("default/web-np") && w[0].message.contains("does not enforce"),
        "{}",
        w[0].message
    );
    // The rule-level form too.
    let rule_level = acnp_svc(
        false,
        "  ingress:
  - action: Drop
    appliedTo: [{service: {namespace: default, name: web-np}}]
    from: [{ipBlock: {cidr: 10.0.0.0/24}}]
",
    );
    let w = store(&rule_level).warnings();
    assert_eq!(w.len(), 1);
    assert_eq!(w[0].field, "spec.ingress[0].appliedTo[0].service");
}

#[test]
fn a_service_applied_policy_selects_nothing_in_the_pod() {
    // Drop from 10.0.0.0/24 would deny the client if it applied to the Pod; it does not.
    let verdict = decide_web(&acnp_svc(true, INGRESS_FROM_IPBLOCK), "10.0.0.2", 80);
    assert_eq!(verdict, decide_web("", "10.0.0.2", 80));
}

#[test]
fn check_exits_zero_and_prints_the_warning() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("cluster.yaml"), CLUSTER).unwrap();
    std::fs::write(
        dir.path().join("svc.yaml"),
        acnp_svc(true, INGRESS_FROM_IPBLOCK),
    )
    .unwrap();
    let report = check_report(&[dir.path().to_path_buf()]);
    assert_eq!(report.code, ExitCode::SUCCESS, "{report:?}");
    assert_eq!(report.stderr, "");
    let text = report.stdout;
    let warning = text
        .lines()
        .find(|l| l.starts_with("warning: "))
        .unwrap_or_else(|| panic!("no warning in {text:?}"));
    assert!(warning.contains("svc.yaml: AntreaClusterNetworkPolicy svc: spec.appliedTo[0].service: applied to Service default/web-np"), "{warning}");
    assert!(text.ends_with("objects valid, 1 warning(s)\n"), "{text}");
}

#[test]
fn antrea_rules_for_services_in_applied_to() {
    let cases: &[(String, &str, &str)] = &[
        (
            acnp_svc(
                false,
                "  appliedTo: [{service: {namespace: default, name: s}, podSelector: {}}]
  ingress: [{action: Drop, from: [{ipBlock: {cidr: 10.0.0.0/8}}]}]
",
            ),
            "spec.appliedTo[0]",
            "service cannot be set with other peers in appliedTo",
        ),
        (
            acnp_svc(
                false,
                "  appliedTo: [{service: {namespace: default, name: s}}, {podSelector: {}}]
  ingress: [{action: Drop, from: [{ipBlock: {cidr: 10.0.0.0/8}}]}]
",
            ),
            "spec.appliedTo",
            "a rule/policy cannot be applied to Services and other peers at the same time",
        ),
        (
            acnp_svc(
                true,
                "  egress: [{action: Drop, to: [{ipBlock: {cidr: 10.0.0.0/8}}]}]\n",
            ),
            "spec.appliedTo[0].service",
            "egress rule cannot be applied to Services",
        ),
        (
            acnp_svc(
                false,
                "  egress:
  - action: Drop
    appliedTo: [{service: {namespace: default, name: s}}]
    to: [{ipBlock: {cidr: 10.0.0.0/8}}]
",
            ),
            "spec.egress[0].appliedTo[0].service",
            "egress rule cannot be applied to Services",
        ),
        (
            acnp_svc(
                true,
                "  ingress: [{action: Drop, from: [{podSelector: {}}]}]\n",
            ),
            "spec.ingress[0].from[0]",
            "a rule/policy that is applied to Services can only use ipBlock to select workloads",
        ),
        (
            acnp_svc(
                false,
                "  appliedTo: [{service: {namespace: default, nam: s}}]
  ingress: [{action: Drop, from: [{ipBlock: {cidr: 10.0.0.0/8}}]}]
",
            ),
            "spec.appliedTo[0].service.nam",
            "unknown field",
        ),
        (
            // A Service is an appliedTo target, never a rule peer.
            acnp_svc(
                false,
                "  appliedTo: [{podSelector: {}}]
  ingress: [{action: Drop, from: [{service: {namespace: default, name: s}}]}]
",
            ),
            "spec.ingress[0].from[0].service",
            "service is not supported by l7proxy",
        ),
    ];
    for (yaml, field, message) in cases {
        let errs = errors(yaml);
        let want = format!("{field}: {message}");
        assert!(
            errs.iter().any(|e| e.ends_with(&want)),
            "want {want:?}, got {errs:#?}\n{yaml}"
        );
    }
}

#[test]
fn explain_names_the_warning_and_ignores_the_policy() {
    use super::super::super::cli::{ExplainArgs, OutputFormat, explain_flow, render};
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("cluster.yaml"), CLUSTER).unwrap();
    std::fs::write(
        dir.path().join("svc.yaml"),
        acnp_svc(true, INGRESS_FROM_IPBLOCK),
    )
    .unwrap();
    let args = ExplainArgs {
        manifests: vec![dir.path().to_path_buf()],
        pod: "default/web".parse().unwrap(),
        from: Some("10.0.0.2".parse().unwrap()),
        to: None,
        port: 80,
        protocol: "TCP".into(),
        http: None,
        host: None,
        http2: false,
        sni: None,
        no_sni: false,
        output: OutputFormat::Text,
    };
    let e = explain_flow(&args).unwrap();
    assert_eq!(
        e.verdict, "allow",
        "the Service-applied Drop is not the Pod's"
    );
    assert_eq!(e.warnings.len(), 1);
    let text = render(&e);
    assert!(
        text.lines()
            .any(|l| l.starts_with("warning: ") && l.contains("spec.appliedTo[0].service")),
        "{text}"
    );
    let json = serde_json::to_value(&e).unwrap();
    assert_eq!(json["warnings"].as_array().map(Vec::len), Some(1));
}
