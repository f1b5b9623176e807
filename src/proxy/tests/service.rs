//! Egress to a Service VIP: the endpoint is picked round robin, decided on, reported and
//! connected to; a VIP without ready endpoints is rejected; ingress is never resolved.
//! Real loopback listeners stand behind a fake VIP; the policy is a test double that
//! records the flows it decides.

use std::collections::HashMap;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::*;
use crate::kube::services::Endpoints;
use crate::policy::{
    DenyAction, Flow, HttpRequestMeta, L4Verdict, L7Id, L7Verdict, L7Wants, PolicyKind, RuleRef,
    TlsMeta,
};
use crate::proxy::service::Resolve;
use crate::proxy::state::Policy;

const VIP: &str = "10.96.0.10:80";
/// A Service whose endpoints are all unready.
const EMPTY_VIP: &str = "10.96.0.11:80";

fn rule(name: &str) -> Arc<RuleRef> {
    Arc::new(RuleRef {
        kind: PolicyKind::AntreaNetworkPolicy,
        namespace: Some("default".into()),
        name: "client-egress".into(),
        rule: name.into(),
        tier: "application".into(),
        priority: 5.0,
        direction: Direction::Egress,
        enable_logging: true,
        log_label: None,
    })
}

/// Allows (or, with `l7`, inspects and allows HTTP to) the `allowed` destinations,
/// rejects every other; remembers every flow it was asked about.
struct Only {
    allowed: Vec<SocketAddr>,
    l7: bool,
    seen: Mutex<Vec<Flow>>,
}

impl Policy for Only {
    fn generation(&self) -> u64 {
        1
    }
    fn decide(&self, flow: &Flow) -> L4Verdict {
        self.seen.lock().unwrap().push(*flow);
        match (self.allowed.contains(&flow.dst), self.l7) {
            (false, _) => L4Verdict::Deny {
                rule: rule("only-allowed"),
                action: DenyAction::Reject,
            },
            (true, false) => L4Verdict::Allow(Some(rule("allowed"))),
            (true, true) => L4Verdict::Inspect {
                rule: rule("http"),
                l7: L7Id(0),
            },
        }
    }
    fn l7_wants(&self, _: L7Id) -> L7Wants {
        L7Wants {
            http: true,
            tls: false,
        }
    }
    fn check_http(&self, _: L7Id, _: &HttpRequestMeta<'_>) -> L7Verdict {
        L7Verdict {
            allowed: true,
            detail: String::new(),
        }
    }
    fn check_tls(&self, _: L7Id, _: &TlsMeta<'_>) -> L7Verdict {
        L7Verdict {
            allowed: false,
            detail: "no tls here".into(),
        }
    }
}

struct Table(HashMap<SocketAddr, Vec<SocketAddr>>);

impl Resolve for Table {
    fn endpoints(&self, vip: SocketAddr) -> Option<Endpoints> {
        self.0.get(&vip).map(|e| e.as_slice().into())
    }
}

struct SvcLab {
    proxy: SocketAddr,
    /// The two endpoints of [`VIP`]; the first is also a "VIP" served by the second,
    /// to tell resolved from unresolved connections apart.
    ends: [TcpListener; 2],
    events: Arc<Collector>,
    shared: Arc<Shared<Only>>,
    _drain: Drain,
}

impl SvcLab {
    fn addr(&self, i: usize) -> SocketAddr {
        self.ends[i].local_addr().unwrap()
    }

    /// Which endpoint accepts the next upstream connection (with it).
    async fn accepted(&self) -> (usize, TcpStream) {
        let wait = async {
            tokio::select! {
                a = self.ends[0].accept() => (0, a.unwrap().0),
                b = self.ends[1].accept() => (1, b.unwrap().0),
            }
        };
        tokio::time::timeout(Duration::from_secs(3), wait)
            .await
            .expect("no endpoint was connected")
    }

    async fn nothing_accepted(&self) {
        let r = tokio::time::timeout(Duration::from_millis(200), self.accepted()).await;
        assert!(r.is_err(), "an endpoint was connected");
    }

    fn decided(&self) -> Vec<SocketAddr> {
        let p = self.shared.policy.load();
        p.seen.lock().unwrap().iter().map(|f| f.dst).collect()
    }

    /// (reason, destination) of every alert.
    fn alerts(&self) -> Vec<(String, SocketAddr)> {
        let evs = self.events.0.lock().unwrap();
        evs.iter()
            .filter_map(|e| match e {
                Event::Alert { flow, alert } => Some((alert.reason.clone(), flow.dst)),
                _ => None,
            })
            .collect()
    }

    /// (disposition, destination) of every audit record.
    fn audits(&self) -> Vec<(&'static str, SocketAddr)> {
        let evs = self.events.0.lock().unwrap();
        evs.iter()
            .filter_map(|e| match e {
                Event::Audit(a) => Some((a.disposition, a.dst)),
                _ => None,
            })
            .collect()
    }
}

/// A proxy listening for `direction` whose original destination is `dst(ends)`, with
/// `allowed(ends)` allowed by the policy.
async fn svc_lab(
    direction: Direction,
    dst: impl FnOnce(&[SocketAddr; 2]) -> SocketAddr,
    allowed: impl FnOnce(&[SocketAddr; 2]) -> Vec<SocketAddr>,
    l7: bool,
) -> SvcLab {
    let ends = [
        TcpListener::bind("127.0.0.1:0").await.unwrap(),
        TcpListener::bind("127.0.0.1:0").await.unwrap(),
    ];
    let addrs = [ends[0].local_addr().unwrap(), ends[1].local_addr().unwrap()];
    let table = Table(HashMap::from([
        (VIP.parse().unwrap(), addrs.to_vec()),
        (EMPTY_VIP.parse().unwrap(), Vec::new()),
        (addrs[0], vec![addrs[1]]),
    ]));
    let policy = Only {
        allowed: allowed(&addrs),
        l7,
        seen: Mutex::new(Vec::new()),
    };
    let l = SocketFactory::plain()
        .listener("127.0.0.1:0".parse().unwrap(), 128)
        .unwrap();
    let proxy = l.local_addr().unwrap();
    let config = Config {
        listeners: vec![proxy],
        classify_timeout: Duration::from_millis(400),
        ..Config::default()
    };
    let events = Arc::new(Collector::default());
    let (drain, watch) = Drain::new();
    let shared = Arc::new(
        Shared::new(
            policy,
            events.clone(),
            Arc::new(Metrics::default()),
            config,
            watch.signal(),
        )
        .with_services(Some(Arc::new(table))),
    );
    tokio::spawn(accept_loop(
        tokio::net::TcpListener::from_std(l).unwrap(),
        direction,
        shared.clone(),
        Arc::new(Fixed(dst(&addrs))),
        watch,
    ));
    SvcLab {
        proxy,
        ends,
        events,
        shared,
        _drain: drain,
    }
}

fn vip(_: &[SocketAddr; 2]) -> SocketAddr {
    VIP.parse().unwrap()
}

#[tokio::test]
async fn egress_to_a_vip_alternates_over_its_endpoints_and_names_them() {
    let lab = svc_lab(Direction::Egress, vip, |e| e.to_vec(), false).await;
    let mut order = Vec::new();
    for round in 0..4u8 {
        let mut client = TcpStream::connect(lab.proxy).await.unwrap();
        let (i, mut server) = lab.accepted().await;
        order.push(i);
        client.write_all(&[round]).await.unwrap();
        let mut b = [0u8; 1];
        server.read_exact(&mut b).await.unwrap();
        assert_eq!(b, [round]);
    }
    assert_eq!(order, [0, 1, 0, 1]);
    let (a, b) = (lab.addr(0), lab.addr(1));
    assert_eq!(lab.decided(), [a, b, a, b]);
    let allow = |d| ("Allow", d);
    assert_eq!(lab.audits(), [allow(a), allow(b), allow(a), allow(b)]);
    assert!(lab.alerts().is_empty(), "{:?}", lab.alerts());
}

#[tokio::test]
async fn the_l7_path_connects_to_the_picked_endpoint_and_reports_it() {
    let lab = svc_lab(Direction::Egress, vip, |e| e.to_vec(), true).await;
    let mut client = TcpStream::connect(lab.proxy).await.unwrap();
    client
        .write_all(b"GET /x HTTP/1.1\r\nHost: web.default.svc\r\n\r\n")
        .await
        .unwrap();
    let (i, mut server) = lab.accepted().await;
    assert_eq!(i, 0);
    let mut head = [0u8; 16];
    server.read_exact(&mut head).await.unwrap();
    assert_eq!(&head, b"GET /x HTTP/1.1\r");
    server
        .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        .await
        .unwrap();
    let mut resp = [0u8; 40];
    client.read_exact(&mut resp).await.unwrap();
    assert!(resp.ends_with(b"ok"));
    let a = lab.addr(0);
    let http: Vec<_> = lab
        .events
        .0
        .lock()
        .unwrap()
        .iter()
        .filter_map(|e| match e {
            Event::Http { flow, http, .. } => Some((flow.dst, http.http_port)),
            _ => None,
        })
        .collect();
    assert_eq!(http, [(a, Some(a.port()))]);
    assert_eq!(lab.audits(), [("Redirect", a)]);
    assert_eq!(lab.decided(), [a]);
}

#[tokio::test]
async fn the_policy_decides_on_the_endpoint_not_the_vip() {
    let lab = svc_lab(Direction::Egress, vip, |e| vec![e[0]], false).await;
    let _first = TcpStream::connect(lab.proxy).await.unwrap();
    let (i, _) = lab.accepted().await;
    assert_eq!(i, 0);
    // The second connection is balanced to the endpoint the policy does not allow.
    connect_expect_reset(lab.proxy).await;
    lab.nothing_accepted().await;
    let b = lab.addr(1);
    assert_eq!(lab.alerts(), [("reject rule".to_owned(), b)]);
    assert_eq!(lab.audits(), [("Allow", lab.addr(0)), ("Reject", b)]);
}

#[tokio::test]
async fn a_vip_without_ready_endpoints_is_rejected_with_the_reason() {
    let lab = svc_lab(
        Direction::Egress,
        |_| EMPTY_VIP.parse().unwrap(),
        |e| e.to_vec(),
        false,
    )
    .await;
    connect_expect_reset(lab.proxy).await;
    lab.nothing_accepted().await;
    let reason = format!("service {EMPTY_VIP} has no ready endpoints");
    assert_eq!(lab.alerts(), [(reason, EMPTY_VIP.parse().unwrap())]);
    assert!(lab.decided().is_empty(), "decided {:?}", lab.decided());
}

/// The first endpoint doubles as a "VIP" served by the second: egress to it is
/// resolved, ingress to it is not, and egress elsewhere is unchanged.
#[tokio::test]
async fn ingress_and_other_destinations_are_not_resolved() {
    let ingress = svc_lab(Direction::Ingress, |e| e[0], |e| e.to_vec(), false).await;
    let _c = TcpStream::connect(ingress.proxy).await.unwrap();
    assert_eq!(ingress.accepted().await.0, 0);
    assert_eq!(ingress.decided(), [ingress.addr(0)]);

    let egress = svc_lab(Direction::Egress, |e| e[0], |e| e.to_vec(), false).await;
    let _c = TcpStream::connect(egress.proxy).await.unwrap();
    assert_eq!(egress.accepted().await.0, 1);

    let other = svc_lab(Direction::Egress, |e| e[1], |e| e.to_vec(), false).await;
    let _c = TcpStream::connect(other.proxy).await.unwrap();
    assert_eq!(other.accepted().await.0, 1);
    assert_eq!(other.decided(), [other.addr(1)]);
}
