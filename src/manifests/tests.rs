//! The manifest source keeps every good object in force whatever else is broken.

use std::net::SocketAddr;

use super::Manifests;
use crate::policy::test_support::CLUSTER;
use crate::policy::{Direction, Flow, L4Verdict, Protocol, Snapshot};

/// An ANNP rejecting ingress to web from Pods with `labels`, in `tier`.
fn deny(name: &str, tier: &str, labels: &str) -> String {
    format!(
        "apiVersion: crd.antrea.io/v1beta1
kind: NetworkPolicy
metadata: {{name: {name}, namespace: default}}
spec:
  priority: 1
  tier: {tier}
  appliedTo: [{{podSelector: {{matchLabels: {{app: web}}}}}}]
  ingress:
    - {{action: Reject, from: [{{podSelector: {{matchLabels: {labels}}}}}]}}
"
    )
}

fn from(s: &Snapshot, peer: &str) -> &'static str {
    let flow = Flow {
        direction: Direction::Ingress,
        src: format!("{peer}:40000").parse::<SocketAddr>().unwrap(),
        dst: "10.0.0.10:80".parse().unwrap(),
        protocol: Protocol::Tcp,
    };
    match s.decide(&flow) {
        L4Verdict::Deny { .. } => "deny",
        _ => "allow",
    }
}

#[test]
fn bad_objects_and_files_keep_their_last_good_version_and_block_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let write = |f: &str, text: &str| std::fs::write(dir.path().join(f), text).unwrap();
    write("cluster.yaml", CLUSTER);
    write(
        "client.yaml",
        &deny("no-client", "application", "{app: client}"),
    );
    // Names a tier that does not exist: skipped, nothing else affected.
    write("bad.yaml", &deny("bad-tier", "nowhere", "{role: admin}"));
    let m = Manifests::new(
        vec![dir.path().to_owned()],
        ("default".into(), "web".into()),
        0,
    );
    let s = m.load().expect("the good objects load despite the bad one");
    assert_eq!(from(&s, "10.0.0.2"), "deny");
    assert_eq!(from(&s, "10.0.0.3"), "allow", "bad-tier is not enforced");

    // A new deny elsewhere is enforced while bad-tier still exists.
    write(
        "admin.yaml",
        &deny("no-admin", "emergency", "{role: admin}"),
    );
    let s = m.load().unwrap();
    assert_eq!(from(&s, "10.0.0.3"), "deny");

    // An invalid edit (schema: unknown field) and a broken file: both keep their last
    // good version while another change goes through.
    write(
        "client.yaml",
        &deny("no-client", "application", "{app: client}").replace("action:", "actoin:"),
    );
    write("admin.yaml", "kind: NetworkPolicy\nspec: [unclosed");
    write(
        "other.yaml",
        &deny("no-one", "application", "{app: nobody}"),
    );
    let s = m.load().unwrap();
    assert_eq!(
        from(&s, "10.0.0.2"),
        "deny",
        "invalid edit: last good version"
    );
    assert_eq!(
        from(&s, "10.0.0.3"),
        "deny",
        "broken file: last good version"
    );

    // Nothing valid changed: no new snapshot, the error says so.
    let err = m.load().expect_err("no valid change").to_string();
    assert!(err.contains("no valid object changed"), "{err}");
    assert!(err.contains("admin.yaml"), "{err}");

    // Removing a file removes its objects.
    std::fs::remove_file(dir.path().join("client.yaml")).unwrap();
    let s = m.load().unwrap();
    assert_eq!(from(&s, "10.0.0.2"), "allow");
}
