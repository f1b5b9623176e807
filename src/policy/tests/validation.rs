//! Every validation message, with the object and field path it names.

use std::path::PathBuf;
use std::process::ExitCode;

use super::super::cli::check_report;
use super::super::test_support::*;

/// An ANNP for app=web in `default` with one ingress rule given as YAML lines (indented
/// for the rule's mapping).
fn annp(rule: &str) -> String {
    format!(
        "apiVersion: crd.antrea.io/v1beta1
kind: NetworkPolicy
metadata: {{name: p, namespace: default}}
spec:
  priority: 5
  appliedTo: [{{podSelector: {{matchLabels: {{app: web}}}}}}]
  ingress:
  - {rule}
"
    )
}

#[test]
fn each_validation_message() {
    let cases: &[(String, &str, &str)] = &[
        (
            annp("{action: Drop, l7Protocols: [{http: {path: /x}}]}"),
            "spec.ingress[0].action",
            "layer 7 protocols only support Allow",
        ),
        (
            annp("{action: Pass, l7Protocols: [{tls: {}}]}"),
            "spec.ingress[0].action",
            "layer 7 protocols only support Allow",
        ),
        (
            annp("{action: Allow, toServices: [{name: s, namespace: default}], l7Protocols: [{http: {}}]}"),
            "spec.ingress[0].toServices",
            "layer 7 protocols can not be used with toServices",
        ),
        (
            annp("{action: Allow, ports: [{protocol: UDP, port: 53}], l7Protocols: [{http: {}}]}"),
            "spec.ingress[0].ports[0].protocol",
            "HTTP protocol can only be used when layer 4 protocol is TCP or unset",
        ),
        (
            annp("{action: Allow, protocols: [{icmp: {icmpType: 8}}], l7Protocols: [{http: {}}]}"),
            "spec.ingress[0].protocols",
            "HTTP protocol can not be used with protocol IGMP or ICMP",
        ),
        (
            annp("{action: Allow, l7Protocols: [{http: {}, tls: {}}]}"),
            "spec.ingress[0].l7Protocols[0]",
            "exactly one of http or tls must be set",
        ),
        (
            annp("{action: Allow, l7Protocols: [{}]}"),
            "spec.ingress[0].l7Protocols[0]",
            "exactly one of http or tls must be set",
        ),
        (
            annp("{action: Allow, l7Protocols: [{http: {method: get}}]}"),
            "spec.ingress[0].l7Protocols[0].http.method",
            "method \"get\" is not one of GET, POST, PUT, HEAD, DELETE, TRACE, OPTIONS, CONNECT, PATCH",
        ),
        (
            annp("{action: Allow, from: [{ipBlock: {cidr: 10.0.0.0/33}}]}"),
            "spec.ingress[0].from[0].ipBlock.cidr",
            "invalid CIDR address: 10.0.0.0/33",
        ),
        (
            annp("{action: Allow, from: [{ipBlock: {cidr: 10.0.0.0/8, except: [11.0.0.0/16]}}]}"),
            "spec.ingress[0].from[0].ipBlock.except[0]",
            "except CIDR 11.0.0.0/16 is not a strict subset of CIDR 10.0.0.0/8",
        ),
        (
            annp("{action: Allow, l7Protocol: [{http: {}}]}"),
            "spec.ingress[0].l7Protocol",
            "unknown field `l7Protocol`",
        ),
        (
            annp("{action: Allow, l7Protocols: [{http: {paht: /x}}]}"),
            "spec.ingress[0].l7Protocols[0].http.paht",
            "unknown field `paht`",
        ),
        (annp("{action: Deny}"), "spec.ingress[0].action", "action \"Deny\" is not one of Allow, Drop, Reject, Pass"),
        (annp("{name: x}"), "spec.ingress[0].action", "action is required"),
        (
            annp("{action: Allow, ports: [{port: 70000}]}"),
            "spec.ingress[0].ports[0].port",
            "port 70000 must be between 1 and 65535",
        ),
        (
            annp("{action: Allow, ports: [{port: 80, endPort: 70}]}"),
            "spec.ingress[0].ports[0].endPort",
            "`endPort` should be greater than or equal to `port`",
        ),
        (
            annp("{action: Allow, ports: [{port: http, endPort: 90}]}"),
            "spec.ingress[0].ports[0].endPort",
            "if `port` is a string `endPort` cannot be specified",
        ),
        (
            annp("{action: Allow, ports: [{protocol: ICMP, port: 1}]}"),
            "spec.ingress[0].ports[0].protocol",
            "protocol \"ICMP\" is not one of TCP, UDP, SCTP",
        ),
        (
            annp("{action: Allow, from: [{podSelector: {matchExpressions: [{key: a, operator: In}]}}]}"),
            "spec.ingress[0].from[0].podSelector.matchExpressions[0].values",
            "values must be non-empty for operator In",
        ),
        (
            annp("{action: Allow, from: [{podSelector: {matchExpressions: [{key: a, operator: Like}]}}]}"),
            "spec.ingress[0].from[0].podSelector.matchExpressions[0].operator",
            "operator \"Like\" is not one of",
        ),
        (
            annp("{action: Allow, from: [{group: g}]}"),
            "spec.ingress[0].from[0].group",
            "group is not supported by l7proxy",
        ),
        (
            annp("{action: Allow, from: [{namespaces: {match: Self}}]}"),
            "spec.ingress[0].from[0].namespaces",
            "namespaces can only be used in peers of a ClusterNetworkPolicy",
        ),
        (
            annp("{action: Allow, from: [{podSelector: {}, ipBlock: {cidr: 10.0.0.0/8}}]}"),
            "spec.ingress[0].from[0].ipBlock",
            "ipBlock cannot be set with podSelector",
        ),
        (annp("{action: Allow, from: [{}]}"), "spec.ingress[0].from[0]", "must set one of"),
        (annp("{action: Allow, to: [{podSelector: {}}]}"), "spec.ingress[0].to", "to cannot be used in an ingress rule"),
        (
            annp("{action: Allow, appliedTo: [{podSelector: {}}]}"),
            "spec.appliedTo",
            "appliedTo should not be set in both spec and rules",
        ),
        (
            "apiVersion: crd.antrea.io/v1beta1\nkind: NetworkPolicy\nmetadata: {name: p}\nspec: {priority: 1, ingress: [{action: Allow}]}\n".to_owned(),
            "spec.appliedTo",
            "appliedTo needs to be set in either spec or rules",
        ),
        (
            "apiVersion: crd.antrea.io/v1beta1\nkind: NetworkPolicy\nmetadata: {name: p}\nspec: {priority: 0.5, appliedTo: [{podSelector: {}}]}\n".to_owned(),
            "spec.priority",
            "priority 0.5 must be between 1.0 and 10000.0",
        ),
        (
            "apiVersion: crd.antrea.io/v1beta1\nkind: NetworkPolicy\nmetadata: {name: p}\nspec: {priority: 10001, appliedTo: [{podSelector: {}}]}\n".to_owned(),
            "spec.priority",
            "must be between 1.0 and 10000.0",
        ),
        (
            "apiVersion: crd.antrea.io/v1beta1\nkind: NetworkPolicy\nmetadata: {name: p}\nspec: {appliedTo: [{podSelector: {}}]}\n".to_owned(),
            "spec.priority",
            "priority is required",
        ),
        (
            "apiVersion: crd.antrea.io/v1beta1\nkind: NetworkPolicy\nmetadata: {name: p}\nspec: {priority: 1, tier: nosuchtier, appliedTo: [{podSelector: {}}]}\n".to_owned(),
            "spec.tier",
            "tier nosuchtier does not exist",
        ),
        (
            "apiVersion: crd.antrea.io/v1beta1\nkind: NetworkPolicy\nmetadata: {name: p}\nspec: {priority: 1, appliedTo: [{podSelector: {}}], ingress: [{name: a, action: Allow}, {name: a, action: Drop}]}\n".to_owned(),
            "spec.ingress[1].name",
            "rules names must be unique within the policy",
        ),
        (
            "apiVersion: crd.antrea.io/v1beta1\nkind: ClusterNetworkPolicy\nmetadata: {name: c}\nspec: {priority: 1, appliedTo: [{podSelector: {}}], ingress: [{action: Allow, from: [{namespaces: {match: Other}}]}]}\n".to_owned(),
            "spec.ingress[0].from[0].namespaces.match",
            "match \"Other\" must be Self",
        ),
        (
            "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: k}\nspec: {podSelector: {}, policyTypes: [Inbound]}\n".to_owned(),
            "spec.policyTypes[0]",
            "\"Inbound\" is not one of Ingress, Egress",
        ),
        (
            "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: k}\nspec: {podSelector: {}, ingress: [{fromm: []}]}\n".to_owned(),
            "spec.ingress[0].fromm",
            "unknown field `fromm`",
        ),
        (
            annp("{action: Allow, ports: [{endPort: 90}]}"),
            "spec.ingress[0].ports[0].endPort",
            "if `endPort` is specified `port` must be specified",
        ),
        (
            annp("{action: Allow, from: [{ipBlock: {cidr: 10.0.0.0/8, except: [bogus]}}]}"),
            "spec.ingress[0].from[0].ipBlock.except[0]",
            "invalid except CIDR value: invalid CIDR address: bogus",
        ),
        (
            "apiVersion: crd.antrea.io/v1beta1\nkind: ClusterNetworkPolicy\nmetadata: {name: c}\nspec: {priority: 1, tier: Baseline, appliedTo: [{podSelector: {}}], egress: [{action: Pass}]}\n".to_owned(),
            "spec.egress[0].action",
            "`Pass` action should not be set for Baseline Tier policy rules",
        ),
        (
            "apiVersion: crd.antrea.io/v1beta1\nkind: ClusterNetworkPolicy\nmetadata: {name: c}\nspec: {priority: 1, appliedTo: [{podSelector: {}}], egress: [{action: Allow, to: [{podSelector: {}}], toServices: [{name: s, namespace: default}]}]}\n".to_owned(),
            "spec.egress[0].toServices",
            "`toServices` cannot be used with `to`, `ports` or `protocols`",
        ),
        (
            "apiVersion: crd.antrea.io/v1beta1\nkind: ClusterNetworkPolicy\nmetadata: {name: c}\nspec: {priority: 1, appliedTo: [{podSelector: {}}], ingress: [{action: Allow, from: [{namespaces: {match: Self}, namespaceSelector: {}}]}]}\n".to_owned(),
            "spec.ingress[0].from[0].namespaces",
            "namespaces and namespaceSelector cannot be set at the same time for a single NetworkPolicyPeer",
        ),
        (
            "apiVersion: crd.antrea.io/v1beta1\nkind: Tier\nmetadata: {name: t}\nspec: {priority: 251}\n".to_owned(),
            "spec.priority",
            "tier t priority 251 is reserved",
        ),
        (
            "apiVersion: crd.antrea.io/v1beta1\nkind: Tier\nmetadata: {name: t}\nspec: {priority: 100}\n".to_owned(),
            "spec.priority",
            "tier t priority 100 overlaps with existing Tier",
        ),
        (
            "apiVersion: crd.antrea.io/v1beta1\nkind: Tier\nmetadata: {name: Application}\nspec: {priority: 10}\n".to_owned(),
            "metadata.name",
            "tier name Application is reserved",
        ),
        (
            "apiVersion: crd.antrea.io/v1beta1\nkind: Tier\nmetadata: {name: t}\nspec: {priority: 300}\n".to_owned(),
            "spec.priority",
            "tier priority must be between 1 and 255",
        ),
    ];
    for (yaml, field, message) in cases {
        let errs = errors(yaml);
        assert!(
            errs.iter()
                .any(|e| e.contains(&format!(": {field}: ")) && e.contains(message)),
            "want {field}: {message}\n got {errs:#?}\n for {yaml}"
        );
        // Every error names the file and the object.
        for e in &errs {
            assert!(e.starts_with("test.yaml: "), "{e}");
        }
    }
}

#[test]
fn error_names_object_kind_namespace_and_name() {
    let errs = errors(&annp("{action: Drop, l7Protocols: [{http: {}}]}"));
    assert_eq!(
        errs,
        vec![
            "test.yaml: AntreaNetworkPolicy default/p: spec.ingress[0].action: layer 7 protocols only support Allow"
        ]
    );
}

#[test]
fn all_problems_are_reported() {
    let errs = errors(&annp(
        "{action: Drop, ports: [{protocol: UDP}], l7Protocols: [{http: {method: FETCH}}, {}]}",
    ));
    assert_eq!(errs.len(), 4, "{errs:#?}");
}

#[test]
fn invalid_objects_are_not_stored() {
    let mut s = super::super::Store::new();
    apply(&mut s, CLUSTER).unwrap();
    let before = s.len();
    assert!(apply(&mut s, &annp("{action: Drop, l7Protocols: [{http: {}}]}")).is_err());
    assert_eq!(s.len(), before);
}

fn write(dir: &std::path::Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn check_spec_examples_exit_zero() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("integration/manifests/spec");
    let report = check_report(&[dir]);
    assert_eq!(report.code, ExitCode::SUCCESS, "{report:?}");
    assert!(report.stdout.contains("7 objects valid"), "{report:?}");
    assert_eq!(report.stderr, "");
}

#[test]
fn check_l7_drop_exits_nonzero_and_names_policy() {
    let dir = tempfile::tempdir().unwrap();
    let sub = dir.path().join("nested");
    std::fs::create_dir(&sub).unwrap();
    let yaml = annp("{action: Drop, l7Protocols: [{http: {path: /admin}}]}")
        .replace("name: p", "name: l7-drop");
    let file = write(
        &sub,
        "bad.yml",
        &format!("---\n# a comment-only document first\n---\n{yaml}"),
    );
    write(&sub, "ignored.txt", "not: [valid");
    let report = check_report(&[dir.path().to_owned()]);
    assert_eq!(report.code, ExitCode::FAILURE);
    // Errors go to stderr; stdout holds no summary when the check fails.
    assert_eq!(report.stdout, "");
    let out = report.stderr;
    assert!(out.contains("l7-drop"), "{out}");
    assert!(
        out.contains("layer 7 protocols only support Allow"),
        "{out}"
    );
    assert!(out.contains(&file.display().to_string()), "{out}");
}

#[test]
fn check_reports_parse_errors_and_missing_paths() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "broken.yaml", "kind: [unclosed");
    write(
        dir.path(),
        "list.json",
        r#"{"kind": "List", "items": [{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}}]}"#,
    );
    let report = check_report(&[dir.path().to_owned(), dir.path().join("missing")]);
    assert_eq!(report.code, ExitCode::FAILURE);
    let out = report.stderr;
    assert!(out.contains("broken.yaml: document 1"), "{out}");
    assert!(out.contains("missing"), "{out}");
    assert!(out.contains("2 error(s)"), "{out}");
}
