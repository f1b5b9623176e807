//! The cluster source against a fake API server over real HTTP: list, watch, a watch
//! that ends and resumes, `410 Gone` and relist, deletions, an invalid object. Its
//! decisions must equal those of the same objects loaded as manifests.

use crate::policy::ObjectKind;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::crd;
use super::fake_api::{FakeApi, Session, Step, collection_path};
use super::{Kind, Source};
use crate::events::Metrics;
use crate::policy::{
    Direction, Flow, HttpRequestMeta, L4Verdict, Protocol, Snapshot, Store, TlsMeta, Update,
};

pub(super) const CLUSTER: &str = include_str!("testdata/cluster.yaml");
pub(super) const CHANGES: &str = include_str!("testdata/changes.yaml");

fn spec_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("integration/manifests/spec")
}

/// A manifest document as `(yaml text, value)`.
pub(super) fn docs(yaml: &str) -> Vec<(String, Value)> {
    yaml.split("\n---\n")
        .map(|d| (d.to_owned(), serde_yaml::from_str::<Value>(d).unwrap()))
        .filter(|(_, v)| v.is_object())
        .collect()
}

fn spec_docs() -> Vec<(String, Value)> {
    let mut files: Vec<_> = std::fs::read_dir(spec_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files
        .iter()
        .flat_map(|f| docs(&std::fs::read_to_string(f).unwrap()))
        .collect()
}

pub(super) fn name(v: &Value) -> &str {
    v["metadata"]["name"].as_str().unwrap()
}

fn round_trip<T: DeserializeOwned + Serialize>(v: &Value) -> Value {
    serde_json::to_value(serde_json::from_value::<T>(v.clone()).unwrap()).unwrap()
}

/// The object as the API server would serve it: decoded into its real type (k8s-openapi
/// or the CRD types) and serialized again, with the namespace defaulted and a uid.
pub(super) fn served(v: &Value) -> (Kind, Value) {
    use k8s_openapi::api::{core::v1, discovery::v1 as discovery, networking::v1 as net};
    let (kind, mut out) = match (
        v["apiVersion"].as_str().unwrap(),
        v["kind"].as_str().unwrap(),
    ) {
        ("v1", "Namespace") => (
            Kind::Policy(ObjectKind::Namespace),
            round_trip::<v1::Namespace>(v),
        ),
        ("v1", "Pod") => (Kind::Policy(ObjectKind::Pod), round_trip::<v1::Pod>(v)),
        ("v1", "Service") => (Kind::Service, round_trip::<v1::Service>(v)),
        ("discovery.k8s.io/v1", "EndpointSlice") => (
            Kind::EndpointSlice,
            round_trip::<discovery::EndpointSlice>(v),
        ),
        ("networking.k8s.io/v1", "NetworkPolicy") => (
            Kind::Policy(ObjectKind::K8sNetworkPolicy),
            round_trip::<net::NetworkPolicy>(v),
        ),
        ("crd.antrea.io/v1beta1", "NetworkPolicy") => (
            Kind::Policy(ObjectKind::AntreaNetworkPolicy),
            round_trip::<crd::NetworkPolicy>(v),
        ),
        ("crd.antrea.io/v1beta1", "ClusterNetworkPolicy") => (
            Kind::Policy(ObjectKind::AntreaClusterNetworkPolicy),
            round_trip::<crd::ClusterNetworkPolicy>(v),
        ),
        ("crd.antrea.io/v1beta1", "Tier") => {
            (Kind::Policy(ObjectKind::Tier), round_trip::<crd::Tier>(v))
        }
        other => panic!("unexpected test object {other:?}"),
    };
    let namespaced = !matches!(
        kind,
        Kind::Policy(ObjectKind::Namespace)
            | Kind::Policy(ObjectKind::Tier)
            | Kind::Policy(ObjectKind::AntreaClusterNetworkPolicy)
    );
    if namespaced && out["metadata"]["namespace"].is_null() {
        out["metadata"]["namespace"] = "default".into();
    }
    out["metadata"]["uid"] = format!("uid-{}", name(v)).into();
    (kind, out)
}

/// Objects per kind, as served.
pub(super) fn by_kind(objects: &[&(String, Value)]) -> Vec<(Kind, Vec<Value>)> {
    let mut out: Vec<(Kind, Vec<Value>)> = Kind::ALL.iter().map(|k| (*k, Vec::new())).collect();
    for (_, v) in objects {
        let (kind, obj) = served(v);
        out.iter_mut()
            .find(|(k, _)| *k == kind)
            .unwrap()
            .1
            .push(obj);
    }
    out
}

/// The same objects through the manifest source (`Store::load_manifests`).
fn manifest_snapshot(objects: &[&(String, Value)]) -> Snapshot {
    let dir = tempfile::tempdir().unwrap();
    for (i, (text, _)) in objects.iter().enumerate() {
        std::fs::write(dir.path().join(format!("{i:03}.yaml")), text).unwrap();
    }
    let store = Store::load_manifests(&[dir.path().to_owned()]).unwrap();
    store.compile("default", "web", 1).unwrap()
}

/// Every decision the snapshot makes for a grid of flows, requests and ClientHellos,
/// as text (L7 ids and generations, which differ between snapshots, left out).
fn fingerprint(s: &Snapshot) -> Vec<String> {
    let web: IpAddr = "10.0.0.10".parse().unwrap();
    let peers = [
        "10.0.0.2",
        "10.0.0.3",
        "10.0.1.2",
        "10.0.0.30",
        "192.0.2.7",
        "fd00::2",
    ];
    let mut out = Vec::new();
    for peer in peers {
        let peer: IpAddr = peer.parse().unwrap();
        let web = if peer.is_ipv6() {
            "fd00::10".parse().unwrap()
        } else {
            web
        };
        for port in [80, 443, 5432, 8080, 9999] {
            for direction in [Direction::Ingress, Direction::Egress] {
                let (src, dst) = match direction {
                    Direction::Ingress => (peer, web),
                    Direction::Egress => (web, peer),
                };
                let flow = Flow {
                    direction,
                    src: SocketAddr::new(src, 40000),
                    dst: SocketAddr::new(dst, port),
                    protocol: Protocol::Tcp,
                };
                let at = format!("{direction:?} {src} -> {dst}:{port}");
                match s.decide(&flow) {
                    L4Verdict::Inspect { rule, l7 } => {
                        out.push(format!("{at}: inspect {rule:?} {:?}", s.l7_wants(l7)));
                        for method in ["GET", "POST"] {
                            for host in [None, Some("foo.bar.com"), Some("evil.com")] {
                                for path in ["/", "/api/v2/x", "/admin/a", "/public/a", "/healthz"]
                                {
                                    let req = HttpRequestMeta { method, host, path };
                                    let v = s.check_http(l7, &req);
                                    out.push(format!("{at}: {method} {host:?} {path}: {v:?}"));
                                }
                            }
                        }
                        for sni in [None, Some("foo.bar.com"), Some("evil.com")] {
                            let v = s.check_tls(l7, &TlsMeta { sni });
                            out.push(format!("{at}: sni {sni:?}: {v:?}"));
                        }
                    }
                    v => out.push(format!("{at}: {v:?}")),
                }
            }
        }
    }
    out
}

/// The snapshot an update carries (the cluster source hands over failures too).
pub(super) fn compiled(update: Update) -> Option<Snapshot> {
    match update {
        Update::Compiled(s) => Some(s),
        Update::Failed(_) => None,
    }
}

pub(super) fn reload_errors(metrics: &Metrics) -> u64 {
    metrics
        .encode()
        .lines()
        .find(|l| l.starts_with("l7proxy_policy_reload_errors_total "))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_source_equals_manifest_source_through_watch_restarts_and_410() {
    let cluster = docs(CLUSTER);
    let spec = spec_docs();
    let changes = docs(CHANGES);
    let change = |n: &str| changes.iter().find(|(_, v)| name(v) == n).unwrap();
    let (tier, acnp, stale, keep, temp) = (
        change("first"),
        change("extra-acnp"),
        change("stale-anp"),
        change("k8s-keep"),
        change("k8s-temp"),
    );
    // Valid for the CRD schema, refused by validation: skipped and counted.
    let mut invalid = stale.clone();
    invalid.1["metadata"]["name"] = "invalid-priority".into();
    invalid.1["spec"]["priority"] = 20000.into();
    let base: Vec<&(String, Value)> = cluster.iter().chain(&spec).chain([tier, keep]).collect();

    // Listed first: the base, the stale policy and the temporary one (and the invalid).
    let first: Vec<_> = base.iter().copied().chain([stale, temp]).collect();
    // After the watches: ACNP added, stale policy relisted away, temporary one deleted.
    let last: Vec<_> = base.iter().copied().chain([acnp]).collect();

    let api = FakeApi::start().await;
    let first_kinds = by_kind(&first);
    let last_kinds = by_kind(&last);
    let listed = |kind: Kind, set: &[(Kind, Vec<Value>)]| {
        set.iter().find(|(k, _)| *k == kind).unwrap().1.clone()
    };
    for kind in Kind::ALL {
        let ar = kind.resource();
        let mut lists = vec![listed(kind, &first_kinds)];
        let mut sessions = Vec::new();
        match kind {
            // A watch that ends (the client resumes from the last resourceVersion), then
            // a modification and 410 Gone: the relist has the ACNP.
            Kind::Policy(ObjectKind::AntreaClusterNetworkPolicy) => {
                let obj = served(&acnp.1).1;
                sessions.push(Session {
                    steps: vec![Step::Event("ADDED", obj.clone())],
                    end: true,
                });
                sessions.push(Session {
                    steps: vec![Step::Event("MODIFIED", obj), Step::Gone],
                    end: false,
                });
                lists.push(listed(kind, &last_kinds));
            }
            // 410 Gone right away: the relist no longer has the stale policy, nor the
            // invalid one.
            Kind::Policy(ObjectKind::AntreaNetworkPolicy) => {
                lists[0].push(served(&invalid.1).1);
                sessions.push(Session {
                    steps: vec![Step::Gone],
                    end: false,
                });
                lists.push(listed(kind, &last_kinds));
            }
            Kind::Policy(ObjectKind::K8sNetworkPolicy) => {
                sessions.push(Session {
                    steps: vec![Step::Event("DELETED", served(&temp.1).1)],
                    end: false,
                });
            }
            _ => {}
        }
        if lists.len() > 1 {
            // Requested only after the relist: once served, the script is done.
            sessions.push(Session {
                steps: Vec::new(),
                end: false,
            });
        }
        api.script(&ar, lists, sessions);
    }

    let config = kube::Config::new(format!("http://{}", api.addr).parse().unwrap());
    super::install_crypto_provider();
    let client = super::client_from(config).unwrap();
    let metrics = Arc::new(Metrics::default());
    let (source, mut snapshots) =
        Source::spawn(client, ("default".into(), "web".into()), metrics.clone());

    // Nothing is compiled before every kind is listed; the first snapshot is the listed
    // state exactly (watches send nothing until released).
    let expect_first = fingerprint(&manifest_snapshot(&first));
    let expect_last = fingerprint(&manifest_snapshot(&last));
    assert_ne!(
        expect_first, expect_last,
        "the scenario must change decisions"
    );
    let snap = tokio::time::timeout(Duration::from_secs(30), snapshots.recv())
        .await
        .expect("first snapshot after the initial lists")
        .and_then(compiled)
        .expect("the first update is a snapshot");
    assert_eq!(fingerprint(&snap), expect_first);
    assert!(
        reload_errors(&metrics) >= 1,
        "the invalid policy is counted"
    );

    api.release_watches();
    // Converged: every scripted session served (so every relist too) and the latest
    // snapshot decides as the manifests do.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let mut latest = snap;
    loop {
        while let Ok(update) = snapshots.try_recv() {
            if let Some(s) = compiled(update) {
                latest = s;
            }
        }
        if api.sessions_left() == 0 && fingerprint(&latest) == expect_last {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the cluster source did not converge on the final state: {} sessions left, {} decisions differ",
            api.sessions_left(),
            fingerprint(&latest)
                .iter()
                .zip(&expect_last)
                .filter(|(a, b)| a != b)
                .count()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let served = api.served();
    let requests = |kind: Kind, watch: bool| -> Vec<String> {
        let path = collection_path(&kind.resource());
        served
            .iter()
            .filter(|s| s.path == path && s.query.contains("watch=true") == watch)
            .map(|s| s.query.clone())
            .collect()
    };
    // 410 Gone made both Antrea policy kinds list again; the ended watch did not.
    assert_eq!(
        requests(Kind::Policy(ObjectKind::AntreaNetworkPolicy), false).len(),
        2
    );
    assert_eq!(
        requests(Kind::Policy(ObjectKind::AntreaClusterNetworkPolicy), false).len(),
        2
    );
    assert_eq!(
        requests(Kind::Policy(ObjectKind::K8sNetworkPolicy), false).len(),
        1
    );
    // The watch after the ended stream resumed from the ADDED event's resourceVersion.
    let watches = requests(Kind::Policy(ObjectKind::AntreaClusterNetworkPolicy), true);
    assert!(watches.len() >= 3, "{watches:?}");
    let rv = |q: &str| -> u64 {
        q.split('&')
            .find_map(|kv| kv.strip_prefix("resourceVersion="))
            .and_then(|v| v.parse().ok())
            .unwrap()
    };
    assert!(rv(&watches[1]) > rv(&watches[0]), "{watches:?}");

    // Services and EndpointSlices: the ready endpoints behind the ClusterIP.
    let index = source.services.read().unwrap().clone();
    let vip: SocketAddr = "10.96.0.10:80".parse().unwrap();
    let ends: Vec<String> = index
        .endpoints(vip, "TCP")
        .iter()
        .map(|a| a.to_string())
        .collect();
    assert_eq!(ends, ["10.0.0.10:8080", "10.0.0.12:8080"]);
    assert!(
        index
            .endpoints("10.96.0.10:81".parse().unwrap(), "TCP")
            .is_empty()
    );
    drop(source);
}

/// The chart installs exactly what `l7proxy crds` prints.
#[test]
fn chart_crds_equal_the_generated_ones() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("charts/l7proxy/files/crds.yaml");
    let shipped = std::fs::read_to_string(&path).unwrap_or_default();
    let generated = crd::crds_yaml().unwrap();
    assert!(
        shipped == generated,
        "{} is out of date; regenerate it with:\n  cargo run -q -- crds > charts/l7proxy/files/crds.yaml",
        path.display()
    );
}

/// What the store needs from an object survives the CRD types: the served form decodes
/// to the same policy as the manifest.
#[test]
fn crd_types_round_trip_every_spec_example() {
    for (_, v) in spec_docs() {
        let (_, served) = served(&v);
        let mut a = Store::new();
        let mut b = Store::new();
        assert_eq!(
            a.apply_object("manifest", &v).unwrap(),
            b.apply_object("kubernetes", &served).unwrap()
        );
    }
}

#[test]
fn the_crd_schemas_are_structural() {
    let yaml = crd::crds_yaml().unwrap();
    for doc in yaml.split("---\n").filter(|d| !d.trim().is_empty()) {
        let crd: Value = serde_yaml::from_str(doc).unwrap();
        let schema = &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"];
        check_structural(schema, "openAPIV3Schema");
    }
}

/// Kubernetes' structural rules that matter for these types: every node has a type
/// (or one of the two escape markers), and `properties` never comes with
/// `additionalProperties`.
fn check_structural(s: &Value, at: &str) {
    let Some(o) = s.as_object() else {
        panic!("{at}: schema is not an object: {s}");
    };
    let typed = o.contains_key("type")
        || o.contains_key("x-kubernetes-int-or-string")
        || o.contains_key("x-kubernetes-preserve-unknown-fields");
    assert!(typed, "{at}: no type: {s}");
    assert!(
        !(o.contains_key("properties") && o.contains_key("additionalProperties")),
        "{at}: properties with additionalProperties"
    );
    for k in ["oneOf", "anyOf", "allOf", "not", "$ref"] {
        assert!(!o.contains_key(k), "{at}: {k} is not structural here: {s}");
    }
    if let Some(props) = o.get("properties").and_then(Value::as_object) {
        for (k, v) in props {
            check_structural(v, &format!("{at}.{k}"));
        }
    }
    for k in ["items", "additionalProperties"] {
        if let Some(v) = o.get(k).filter(|v| v.is_object()) {
            check_structural(v, &format!("{at}.{k}"));
        }
    }
}

#[test]
fn services_without_a_matching_port_or_slice_resolve_to_nothing() {
    let mut index = super::services::ServiceIndex::default();
    let cluster = docs(CLUSTER);
    for (_, v) in &cluster {
        let (kind, obj) = served(v);
        index.apply(kind, &obj).unwrap();
    }
    let vip: SocketAddr = "10.96.0.10:80".parse().unwrap();
    assert_eq!(index.endpoints(vip, "TCP").len(), 2);
    assert!(index.endpoints(vip, "UDP").is_empty());
    assert_eq!(index.lookup("10.96.0.10:81".parse().unwrap(), "TCP"), None);
    assert_eq!(index.lookup("10.96.0.11:80".parse().unwrap(), "TCP"), None);
    index.remove(Kind::EndpointSlice, "default", "web-abcde");
    assert!(index.endpoints(vip, "TCP").is_empty());
    // Still a Service port, now without ready endpoints.
    assert_eq!(index.lookup(vip, "TCP"), Some(Vec::new()));
    let bad = serde_json::json!({"apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "x", "namespace": "default"},
        "spec": {"clusterIP": "not-an-ip", "ports": [{"port": 80}]}});
    assert!(index.apply(Kind::Service, &bad).is_err());
}

mod crd_schema;
mod faults;
