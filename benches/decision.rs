//! Cost of a policy decision and of an L7 check as the policy grows from 10 to 10,000
//! rules (or L7 entries). Patterns mix exact, prefix, suffix and mid-string wildcards.
//! Also the Service endpoint lookup an egress connection to a ClusterIP makes, as the
//! Service grows from 10 to 10,000 endpoints.

use std::hint::black_box;
use std::net::SocketAddr;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use l7proxy::kube::Kind;
use l7proxy::kube::services::ServiceIndex;
use l7proxy::policy::{
    Direction, Flow, HttpRequestMeta, L4Verdict, L7Id, Protocol, Snapshot, Store, TlsMeta,
};
use serde_json::{Value, json};

const SIZES: [usize; 3] = [10, 1_000, 10_000];

fn base_store() -> Store {
    let mut s = Store::new();
    let web = json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "web", "namespace": "default", "labels": {"app": "web"}},
        "status": {"podIP": "10.0.0.10"}
    });
    s.apply_object("bench", &web).expect("pod");
    s
}

fn host(i: usize) -> String {
    match i % 4 {
        0 => format!("svc{i}.example.com"),
        1 => format!("*.zone{i}.example.com"),
        2 => format!("api{i}.*"),
        _ => format!("*.mid{i}.*"),
    }
}

fn path(i: usize) -> String {
    match i % 4 {
        0 => format!("/exact/{i}"),
        1 => format!("/prefix/{i}/*"),
        2 => format!("*/suffix{i}.json"),
        _ => format!("/a/*/b{i}/*"),
    }
}

fn policy(name: &str, priority: usize, rules: Vec<Value>) -> Value {
    json!({
        "apiVersion": "crd.antrea.io/v1beta1", "kind": "NetworkPolicy",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "priority": priority,
            "appliedTo": [{"podSelector": {"matchLabels": {"app": "web"}}}],
            "ingress": rules
        }
    })
}

/// `n` L3/L4 rules in policies of 10 rules: distinct /32 peers, ports spread over 1,000
/// values, one rule in 20 without ports, and an L7 rule at the end that catches the rest.
fn l4_snapshot(n: usize) -> Snapshot {
    let mut s = base_store();
    for p in 0..n.div_ceil(10) {
        let rules: Vec<Value> = (p * 10..((p + 1) * 10).min(n))
            .map(|i| {
                let mut r = json!({
                    "name": format!("r{i}"),
                    "action": if i % 2 == 0 { "Allow" } else { "Drop" },
                    "from": [{"ipBlock": {"cidr": format!("10.{}.{}.{}/32", 100 + i / 65536, (i / 256) % 256, i % 256)}}]
                });
                if i % 20 != 0 {
                    r["ports"] = json!([{"protocol": "TCP", "port": 8000 + i % 1000}]);
                }
                r
            })
            .collect();
        s.apply_object("bench", &policy(&format!("p{p}"), 1 + p % 9000, rules))
            .expect("policy");
    }
    let last =
        json!([{"name": "catch", "action": "Allow", "l7Protocols": [{"http": {"path": "/*"}}]}]);
    s.apply_object(
        "bench",
        &policy(
            "zz-last",
            10_000,
            serde_json::from_value(last).expect("json"),
        ),
    )
    .expect("last");
    s.compile("default", "web", 1).expect("compile")
}

/// One L7 rule with `n` http entries (and `n` tls entries).
fn l7_snapshot(n: usize) -> (Snapshot, L7Id) {
    let mut s = base_store();
    let mut entries: Vec<Value> = (0..n)
        .map(|i| {
            let mut h = json!({"host": host(i), "path": path(i)});
            if i % 3 == 0 {
                h["method"] = json!("GET");
            }
            json!({"http": h})
        })
        .collect();
    entries.extend((0..n).map(|i| json!({"tls": {"sni": host(i)}})));
    let rules = vec![json!({"name": "l7", "action": "Allow", "l7Protocols": entries})];
    s.apply_object("bench", &policy("l7", 1, rules))
        .expect("policy");
    let snap = s.compile("default", "web", 1).expect("compile");
    let l7 = match snap.decide(&flow("10.1.1.1", 80)) {
        L4Verdict::Inspect { l7, .. } => l7,
        other => panic!("expected an L7 rule, got {other:?}"),
    };
    (snap, l7)
}

fn flow(src: &str, port: u16) -> Flow {
    Flow {
        direction: Direction::Ingress,
        src: SocketAddr::new(src.parse().expect("ip"), 40000),
        dst: SocketAddr::new("10.0.0.10".parse().expect("ip"), port),
        protocol: Protocol::Tcp,
    }
}

fn decision(c: &mut Criterion) {
    let mut g = c.benchmark_group("decide");
    for n in SIZES {
        let snap = l4_snapshot(n);
        // The last indexed rule of the set: its peer and port.
        let i = n - 1;
        let hit = flow(
            &format!("10.{}.{}.{}", 100 + i / 65536, (i / 256) % 256, i % 256),
            8000 + (i % 1000) as u16,
        );
        assert!(
            !matches!(snap.decide(&hit), L4Verdict::Inspect { .. }),
            "hit must match an L4 rule"
        );
        let miss = flow("192.168.7.7", 8000 + (i % 1000) as u16);
        assert!(
            matches!(snap.decide(&miss), L4Verdict::Inspect { .. }),
            "miss falls to the last rule"
        );
        g.bench_with_input(BenchmarkId::new("hit", n), &hit, |b, f| {
            b.iter(|| snap.decide(black_box(f)))
        });
        g.bench_with_input(BenchmarkId::new("miss", n), &miss, |b, f| {
            b.iter(|| snap.decide(black_box(f)))
        });
    }
    g.finish();

    let mut g = c.benchmark_group("l7");
    for n in SIZES {
        let (snap, l7) = l7_snapshot(n);
        // The last entry with an "api{i}.*" host and a "*/suffix{i}.json" path.
        let i = (0..n).rev().find(|i| i % 4 == 2).expect("n > 2");
        let hit_host = format!("api{i}.internal");
        let hit_path = format!("/x/y/suffix{i}.json");
        let hit = HttpRequestMeta {
            method: if i % 3 == 0 { "GET" } else { "POST" },
            host: Some(&hit_host),
            path: &hit_path,
        };
        assert!(snap.check_http(l7, &hit).allowed);
        let miss = HttpRequestMeta {
            method: "GET",
            host: Some("nomatch.invalid"),
            path: "/nothing/here",
        };
        assert!(!snap.check_http(l7, &miss).allowed);
        let j = (0..n).rev().find(|j| j % 4 == 1).expect("n > 1");
        let sni = format!("www.zone{j}.example.com");
        assert!(snap.check_tls(l7, &TlsMeta { sni: Some(&sni) }).allowed);
        // The data path's check; `http_hit_explained` is the `policy explain` form, which
        // also describes the matching entry.
        g.bench_with_input(BenchmarkId::new("http_hit", n), &hit, |b, r| {
            b.iter(|| snap.decide_http(l7, black_box(r)))
        });
        g.bench_with_input(BenchmarkId::new("http_hit_explained", n), &hit, |b, r| {
            b.iter(|| snap.check_http(l7, black_box(r)))
        });
        g.bench_with_input(BenchmarkId::new("http_miss", n), &miss, |b, r| {
            b.iter(|| snap.decide_http(l7, black_box(r)))
        });
        g.bench_function(BenchmarkId::new("tls_hit", n), |b| {
            b.iter(|| snap.check_tls(l7, black_box(&TlsMeta { sni: Some(&sni) })))
        });
    }
    g.finish();
}

/// One Service on 10.96.0.10:80 with `n` ready endpoints, in slices of 100.
fn service_index(n: usize) -> ServiceIndex {
    let mut index = ServiceIndex::default();
    let svc = json!({"apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {"clusterIP": "10.96.0.10", "ports": [{"name": "http", "port": 80}]}});
    index.apply(Kind::Service, &svc).expect("service");
    for (s, chunk) in (0..n).collect::<Vec<_>>().chunks(100).enumerate() {
        let endpoints: Vec<Value> = chunk
            .iter()
            .map(|i| json!({"addresses": [format!("10.{}.{}.{}", 1 + i / 65536, (i / 256) % 256, i % 256)]}))
            .collect();
        let slice = json!({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "addressType": "IPv4",
            "metadata": {"name": format!("web-{s}"), "namespace": "default",
                "labels": {"kubernetes.io/service-name": "web"}},
            "ports": [{"name": "http", "port": 8080}], "endpoints": endpoints});
        index.apply(Kind::EndpointSlice, &slice).expect("slice");
    }
    index
}

fn service_lookup(c: &mut Criterion) {
    let mut g = c.benchmark_group("service");
    let vip: SocketAddr = "10.96.0.10:80".parse().expect("vip");
    for n in SIZES {
        let index = service_index(n);
        assert_eq!(index.lookup(vip, "TCP").map(|e| e.len()), Some(n));
        // The data path's lookup: assembled after a change, shared until the next.
        g.bench_function(BenchmarkId::new("lookup", n), |b| {
            b.iter(|| index.lookup_shared(black_box(vip), "TCP"))
        });
    }
    g.finish();
}

criterion_group!(benches, decision, service_lookup);
criterion_main!(benches);
