//! The cluster source against what a real API server does to it: objects that cannot be
//! enforced (a missing tier, a tier deleted while referenced, a schema-valid but invalid
//! policy) next to good ones, `410 Expired` after a restart, and an outage with refused
//! connections.

use crate::policy::ObjectKind;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::super::fake_api::{FakeApi, Session, Step, collection_path};
use super::super::{Kind, Source};
use super::{CHANGES, CLUSTER, by_kind, compiled, docs, name, reload_errors, served};
use crate::events::Metrics;
use crate::policy::{Direction, Flow, L4Verdict, Protocol, Snapshot, Update};

/// `allow` or `deny` (an L7 rule counts as allow: it is not denied at L4).
fn verdict(s: &Snapshot, direction: Direction, peer: &str, port: u16) -> &'static str {
    let (web, peer): (SocketAddr, SocketAddr) = (
        format!("10.0.0.10:{port}").parse().unwrap(),
        format!("{peer}:40000").parse().unwrap(),
    );
    let (src, dst) = match direction {
        Direction::Ingress => (peer, web),
        Direction::Egress => (web, SocketAddr::new(peer.ip(), port)),
    };
    let flow = Flow {
        direction,
        src,
        dst,
        protocol: Protocol::Tcp,
    };
    match s.decide(&flow) {
        L4Verdict::Deny { .. } => "deny",
        _ => "allow",
    }
}

fn policy(v: Value) -> (String, Value) {
    (serde_yaml::to_string(&v).unwrap(), v)
}

fn annp(name: &str, tier: &str, peer_labels: Value) -> (String, Value) {
    policy(json!({
        "apiVersion": "crd.antrea.io/v1beta1", "kind": "NetworkPolicy",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"priority": 1, "tier": tier,
                 "appliedTo": [{"podSelector": {"matchLabels": {"app": "web"}}}],
                 "ingress": [{"action": "Reject", "from": [{"podSelector": {"matchLabels": peer_labels}}]}]}
    }))
}

fn client(api: &FakeApi) -> kube::Client {
    super::super::install_crypto_provider();
    let config = kube::Config::new(format!("http://{}", api.addr).parse().unwrap());
    super::super::client_from(config).unwrap()
}

/// Script every kind: `listed` as the first list (later lists repeat the current state),
/// plus the sessions given for some kinds (the others watch quietly).
fn script(api: &FakeApi, listed: &[&(String, Value)], mut sessions: Vec<(Kind, Vec<Session>)>) {
    let kinds = by_kind(listed);
    for (kind, items) in kinds {
        let s = sessions
            .iter()
            .position(|(k, _)| *k == kind)
            .map(|i| sessions.swap_remove(i).1)
            .unwrap_or_default();
        api.script(&kind.resource(), vec![items], s);
    }
}

/// The newest snapshot for which `pred` holds, waiting at most `limit`.
async fn until(
    rx: &mut mpsc::Receiver<Update>,
    limit: Duration,
    pred: impl Fn(&Snapshot) -> bool,
) -> Option<Snapshot> {
    let deadline = Instant::now() + limit;
    loop {
        let update = tokio::time::timeout_at(deadline, rx.recv()).await.ok()??;
        if let Some(s) = compiled(update)
            && pred(&s)
        {
            return Some(s);
        }
    }
}

fn events_for<'a>(events: &'a [Value], name: &str) -> Vec<&'a Value> {
    events
        .iter()
        .filter(|e| e["regarding"]["name"] == name)
        .collect()
}

/// A policy naming a missing tier, a tier deleted under a policy and an invalid policy
/// each affect only themselves: a new deny elsewhere is enforced at once, the policy
/// whose tier went away keeps its last enforced version, and each is reported by metric
/// and by a Kubernetes Event on the object.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_bad_object_never_blocks_the_others() {
    let cluster = docs(CLUSTER);
    let changes = docs(CHANGES);
    let change = |n: &str| changes.iter().find(|(_, v)| name(v) == n).unwrap().clone();
    let (tier, acnp) = (change("first"), change("extra-acnp"));
    let bad_tier = annp("bad-tier", "nowhere", json!({"app": "client"}));
    let mut invalid = annp("invalid-priority", "application", json!({"app": "client"}));
    invalid.1["spec"]["priority"] = 20000.into();
    let deny_admin = annp("deny-admin", "emergency", json!({"role": "admin"}));
    // The ACNP moved to a missing tier and its egress Drop made an Allow: not enforceable,
    // so its previous version (Drop) must stay.
    let mut acnp_broken = served(&acnp.1).1;
    acnp_broken["spec"]["tier"] = "gone".into();
    acnp_broken["spec"]["egress"][0]["action"] = "Allow".into();

    let listed: Vec<&(String, Value)> = cluster
        .iter()
        .chain([&tier, &acnp, &bad_tier, &invalid])
        .collect();
    let api = FakeApi::start().await;
    let quiet = || Session {
        steps: Vec::new(),
        end: false,
    };
    script(
        &api,
        &listed,
        vec![
            (
                Kind::Policy(ObjectKind::AntreaNetworkPolicy),
                vec![Session {
                    steps: vec![Step::Event("ADDED", served(&deny_admin.1).1)],
                    end: false,
                }],
            ),
            (
                Kind::Policy(ObjectKind::Tier),
                vec![Session {
                    steps: vec![Step::Event("DELETED", served(&tier.1).1)],
                    end: false,
                }],
            ),
            (
                Kind::Policy(ObjectKind::AntreaClusterNetworkPolicy),
                vec![Session {
                    steps: vec![Step::Event("MODIFIED", acnp_broken)],
                    end: false,
                }],
            ),
            (Kind::Policy(ObjectKind::Pod), vec![quiet()]),
        ],
    );
    let metrics = Arc::new(Metrics::default());
    let (_source, mut rx) = Source::spawn(
        client(&api),
        ("default".into(), "web".into()),
        metrics.clone(),
    );

    let first = until(&mut rx, Duration::from_secs(10), |_| true)
        .await
        .expect("a snapshot despite the policy naming a missing tier");
    // bad-tier (Reject app=client) is not enforced; extra-acnp (Drop egress to team
    // other) is.
    assert_eq!(verdict(&first, Direction::Ingress, "10.0.0.2", 80), "allow");
    assert_eq!(verdict(&first, Direction::Egress, "10.0.1.2", 9999), "deny");
    assert_eq!(verdict(&first, Direction::Ingress, "10.0.0.3", 80), "allow");

    api.release_watches();
    let started = Instant::now();
    let last = until(&mut rx, Duration::from_secs(5), |s| {
        verdict(s, Direction::Ingress, "10.0.0.3", 80) == "deny"
    })
    .await
    .expect("the new deny is enforced while the bad policies exist");
    assert!(started.elapsed() < Duration::from_secs(3));
    // Let the Tier deletion and the ACNP change arrive and be compiled.
    tokio::time::sleep(Duration::from_millis(800)).await;
    let mut latest = last;
    while let Ok(update) = rx.try_recv() {
        if let Some(s) = compiled(update) {
            latest = s;
        }
    }
    assert_eq!(api.sessions_left(), 0, "every scripted change was served");
    assert_eq!(
        verdict(&latest, Direction::Egress, "10.0.1.2", 9999),
        "deny",
        "the ACNP keeps its last enforced version (tier deleted, then an unenforceable change)"
    );
    assert_eq!(
        verdict(&latest, Direction::Ingress, "10.0.0.2", 80),
        "allow"
    );
    assert_eq!(verdict(&latest, Direction::Ingress, "10.0.0.3", 80), "deny");

    // Reported once each: metric and Events on the objects.
    let events = api.events();
    let reasons = |n: &str| -> Vec<String> {
        events_for(&events, n)
            .iter()
            .map(|e| e["reason"].as_str().unwrap_or_default().to_owned())
            .collect()
    };
    assert_eq!(reasons("bad-tier"), ["NotEnforced"], "{events:#?}");
    assert_eq!(reasons("invalid-priority"), ["Rejected"], "{events:#?}");
    assert_eq!(
        reasons("extra-acnp"),
        ["PreviousVersionEnforced"],
        "{events:#?}"
    );
    assert!(reasons("deny-admin").is_empty());
    let bad = events_for(&events, "bad-tier")[0];
    assert_eq!(bad["type"], "Warning");
    assert_eq!(bad["regarding"]["kind"], "NetworkPolicy");
    assert_eq!(bad["regarding"]["namespace"], "default");
    assert_eq!(bad["regarding"]["uid"], "uid-bad-tier");
    assert_eq!(bad["metadata"]["namespace"], "default");
    assert!(
        bad["note"]
            .as_str()
            .unwrap()
            .contains("spec.tier: tier nowhere does not exist"),
        "{bad}"
    );
    let acnp_event = events_for(&events, "extra-acnp")[0];
    assert!(
        acnp_event["note"]
            .as_str()
            .unwrap()
            .contains("tier gone does not exist"),
        "{acnp_event}"
    );
    assert_eq!(reload_errors(&metrics), 3);
    let posted = api
        .served()
        .iter()
        .filter(|s| s.path.starts_with("/apis/events.k8s.io/v1/namespaces/"))
        .count();
    assert_eq!(posted, 3);
}

/// `410 Expired` from a restarted API server is not a failure: the relist follows at
/// once (kube's default backoff waited 0.8 s or more first).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_expired_relists_without_backoff() {
    let cluster = docs(CLUSTER);
    let listed: Vec<&(String, Value)> = cluster.iter().collect();
    let api = FakeApi::start().await;
    let gone = Session {
        steps: vec![Step::Gone],
        end: false,
    };
    let quiet = Session {
        steps: Vec::new(),
        end: false,
    };
    script(
        &api,
        &listed,
        vec![(Kind::Policy(ObjectKind::Pod), vec![gone, quiet])],
    );
    api.release_watches();
    let (_source, mut rx) = Source::spawn(
        client(&api),
        ("default".into(), "web".into()),
        Arc::new(Metrics::default()),
    );
    until(&mut rx, Duration::from_secs(10), |_| true)
        .await
        .unwrap();
    let path = collection_path(&Kind::Policy(ObjectKind::Pod).resource());
    let deadline = Instant::now() + Duration::from_secs(5);
    let requests = loop {
        let r: Vec<_> = api
            .served()
            .into_iter()
            .filter(|s| s.path == path)
            .collect();
        if r.len() >= 3 || Instant::now() > deadline {
            break r;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    // list, watch (answered 410), list again.
    assert!(requests.len() >= 3, "{requests:?}");
    assert!(requests[1].query.contains("watch=true"), "{requests:?}");
    assert!(!requests[2].query.contains("watch=true"), "{requests:?}");
    let gap = requests[2].at - requests[1].at;
    assert!(gap < Duration::from_millis(300), "relist {gap:?} after 410");
}

/// An API server that refuses connections for a while (graceful shutdown, restart):
/// once it answers again, a change is enforced within a few seconds, however long the
/// outage was.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recovers_within_seconds_after_an_outage() {
    let cluster = docs(CLUSTER);
    let listed: Vec<&(String, Value)> = cluster.iter().collect();
    let api = FakeApi::start().await;
    script(&api, &listed, Vec::new());
    api.release_watches();
    let (_source, mut rx) = Source::spawn(
        client(&api),
        ("default".into(), "web".into()),
        Arc::new(Metrics::default()),
    );
    let first = until(&mut rx, Duration::from_secs(10), |_| true)
        .await
        .unwrap();
    assert_eq!(verdict(&first, Direction::Ingress, "10.0.0.3", 80), "allow");

    api.stop();
    // While it is away, a deny is created: the resumed watch (or a relist) has it.
    let deny_admin = served(&annp("deny-admin", "emergency", json!({"role": "admin"})).1).1;
    let ar = Kind::Policy(ObjectKind::AntreaNetworkPolicy).resource();
    let added = Session {
        steps: vec![Step::Event("ADDED", deny_admin.clone())],
        end: false,
    };
    api.script(&ar, vec![vec![deny_admin]], vec![added]);
    // Long enough for kube's default backoff (0.8 s doubling to 30 s) to be waiting
    // more than 4 s when the server is back.
    tokio::time::sleep(Duration::from_secs(12)).await;
    api.restart().await;
    let back = Instant::now();
    until(&mut rx, Duration::from_secs(10), |s| {
        verdict(s, Direction::Ingress, "10.0.0.3", 80) == "deny"
    })
    .await
    .expect("the change made during the outage is enforced");
    let took = back.elapsed();
    assert!(
        took < Duration::from_millis(3500),
        "enforced {took:?} after the API server answered again"
    );
}

/// An API server whose address stops answering (connection attempts hang instead of being
/// refused, as when its Service address is not routed to a live server): an attempt gives
/// up after [`CONNECT_TIMEOUT`](super::super::CONNECT_TIMEOUT), not kube's 30 s, so the
/// watch backoff retries it and a server that is back is used within seconds.
#[tokio::test]
async fn a_connection_attempt_that_hangs_gives_up_within_seconds() {
    let api = FakeApi::start().await;
    api.stop();
    api.stall().await;
    let started = Instant::now();
    let answer = tokio::time::timeout(Duration::from_secs(10), client(&api).apiserver_version())
        .await
        .expect("the attempt still hangs after 10 s");
    let err = answer.expect_err("nothing answers the stalled address");
    let took = started.elapsed();
    assert!(
        took >= super::super::CONNECT_TIMEOUT && took < super::super::CONNECT_TIMEOUT * 2,
        "gave up after {took:?}: {err}"
    );
}
