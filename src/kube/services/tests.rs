//! The indexed lookup against a linear walk over the same objects, after random
//! sequences of applies and removes drawn from small pools, so names, IPs, ports and
//! Service labels collide, move and come back often.

use std::collections::BTreeMap;

use proptest::prelude::*;
use serde_json::{Value, json};

use super::*;

const NAMESPACES: [&str; 2] = ["a", "b"];
const NAMES: [&str; 3] = ["s0", "s1", "s2"];
/// ClusterIPs, "None" (headless) included; the last VIP is never a ClusterIP.
const CLUSTER_IPS: [&str; 5] = ["10.96.0.1", "10.96.0.2", "10.96.0.3", "fd00::1", "None"];
const VIPS: [&str; 5] = [
    "10.96.0.1",
    "10.96.0.2",
    "10.96.0.3",
    "fd00::1",
    "10.96.0.9",
];
const ADDRESSES: [&str; 4] = ["10.0.0.1", "10.0.0.2", "10.0.0.3", "fd00::a"];
const PORT_NAMES: [&str; 3] = ["", "http", "grpc"];
const PROTOCOLS: [&str; 2] = ["TCP", "UDP"];
const PORTS: [u16; 3] = [80, 81, 82];

/// A port as both kinds declare it; `port: None` only in slices, which skip it.
#[derive(Clone, Debug)]
struct Port {
    name: usize,
    port: Option<u16>,
    /// `None` leaves the field out, which means TCP.
    protocol: Option<usize>,
}

impl Port {
    fn protocol(&self) -> &'static str {
        self.protocol.map_or("TCP", |p| PROTOCOLS[p])
    }

    fn json(&self) -> Value {
        let mut v = json!({ "name": PORT_NAMES[self.name] });
        if let Some(port) = self.port {
            v["port"] = port.into();
        }
        if let Some(p) = self.protocol {
            v["protocol"] = PROTOCOLS[p].into();
        }
        v
    }
}

#[derive(Clone, Debug)]
struct Svc {
    cluster_ips: Vec<usize>,
    cluster_ip: Option<usize>,
    ports: Vec<Port>,
}

#[derive(Clone, Debug)]
struct Slice {
    /// Index into [`NAMES`]; `None` leaves the Service label out.
    service: Option<usize>,
    ports: Vec<Port>,
    /// Addresses of each endpoint and its `conditions.ready` (`None`: no conditions).
    endpoints: Vec<(Vec<usize>, Option<bool>)>,
}

#[derive(Clone, Debug)]
enum Op {
    ApplyService(usize, usize, Svc),
    RemoveService(usize, usize),
    ApplySlice(usize, usize, Slice),
    RemoveSlice(usize, usize),
    /// An invalid Service (`true`) or slice: rejected, the index unchanged.
    ApplyInvalid(bool, usize, usize),
}

fn port(with_port: bool) -> impl Strategy<Value = Port> {
    let number = if with_port {
        prop::sample::select(PORTS.to_vec()).prop_map(Some).boxed()
    } else {
        prop::option::weighted(0.9, prop::sample::select(PORTS.to_vec())).boxed()
    };
    (
        0..PORT_NAMES.len(),
        number,
        prop::option::of(0..PROTOCOLS.len()),
    )
        .prop_map(|(name, port, protocol)| Port {
            name,
            port,
            protocol,
        })
}

fn op() -> impl Strategy<Value = Op> {
    let ns = 0..NAMESPACES.len();
    let name = 0..NAMES.len();
    let svc = (
        prop::collection::vec(0..CLUSTER_IPS.len() - 1, 0..3),
        prop::option::of(0..CLUSTER_IPS.len()),
        prop::collection::vec(port(true), 0..3),
    )
        .prop_map(|(cluster_ips, cluster_ip, ports)| Svc {
            cluster_ips,
            cluster_ip,
            ports,
        });
    let endpoint = (
        prop::collection::vec(0..ADDRESSES.len(), 0..3),
        prop::option::of(any::<bool>()),
    );
    let slice = (
        prop::option::weighted(0.9, 0..NAMES.len()),
        prop::collection::vec(port(false), 0..3),
        prop::collection::vec(endpoint, 0..3),
    )
        .prop_map(|(service, ports, endpoints)| Slice {
            service,
            ports,
            endpoints,
        });
    prop_oneof![
        3 => (ns.clone(), name.clone(), svc).prop_map(|(n, m, s)| Op::ApplyService(n, m, s)),
        1 => (ns.clone(), name.clone()).prop_map(|(n, m)| Op::RemoveService(n, m)),
        // Slice names range wider than Service names: several slices per Service.
        4 => (ns.clone(), 0..4usize, slice).prop_map(|(n, m, s)| Op::ApplySlice(n, m, s)),
        2 => (ns.clone(), 0..4usize).prop_map(|(n, m)| Op::RemoveSlice(n, m)),
        1 => (any::<bool>(), ns, name).prop_map(|(s, n, m)| Op::ApplyInvalid(s, n, m)),
    ]
}

fn slice_name(m: usize) -> String {
    format!("x{m}")
}

fn meta(ns: usize, name: &str) -> Value {
    json!({ "namespace": NAMESPACES[ns], "name": name })
}

fn service_json(ns: usize, name: usize, s: &Svc) -> Value {
    let mut spec = json!({
        "clusterIPs": s.cluster_ips.iter().map(|i| CLUSTER_IPS[*i]).collect::<Vec<_>>(),
        "ports": s.ports.iter().map(Port::json).collect::<Vec<_>>(),
    });
    if let Some(i) = s.cluster_ip {
        spec["clusterIP"] = CLUSTER_IPS[i].into();
    }
    json!({"apiVersion": "v1", "kind": "Service", "metadata": meta(ns, NAMES[name]), "spec": spec})
}

fn slice_json(ns: usize, name: usize, s: &Slice) -> Value {
    let mut metadata = meta(ns, &slice_name(name));
    if let Some(service) = s.service {
        metadata["labels"] = json!({ SERVICE_NAME_LABEL: NAMES[service] });
    }
    let endpoints: Vec<Value> = s
        .endpoints
        .iter()
        .map(|(addrs, ready)| {
            let mut ep =
                json!({ "addresses": addrs.iter().map(|a| ADDRESSES[*a]).collect::<Vec<_>>() });
            if let Some(ready) = ready {
                ep["conditions"] = json!({ "ready": ready });
            }
            ep
        })
        .collect();
    json!({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "addressType": "IPv4",
        "metadata": metadata, "endpoints": endpoints,
        "ports": s.ports.iter().map(Port::json).collect::<Vec<_>>()})
}

/// What was applied and not removed since, keyed by (namespace, name) strings so
/// iteration order is the index's key order.
#[derive(Default)]
struct World {
    services: BTreeMap<(String, String), Svc>,
    slices: BTreeMap<(String, String), Slice>,
}

fn key(ns: usize, name: &str) -> (String, String) {
    (NAMESPACES[ns].to_owned(), name.to_owned())
}

/// The definition, walked linearly: the first Service by (namespace, name) owning the IP
/// with that port; then, in slice key order, each of its slices' ready addresses on the
/// slice port of the same name and protocol, each address once.
fn reference(world: &World, vip: SocketAddr, protocol: &str) -> Option<Vec<SocketAddr>> {
    let ((ns, name), port) = world.services.iter().find_map(|(k, s)| {
        let ips = s.cluster_ips.iter().chain(&s.cluster_ip);
        let ips: Vec<IpAddr> = ips.filter_map(|i| CLUSTER_IPS[*i].parse().ok()).collect();
        if !ips.contains(&vip.ip()) {
            return None;
        }
        let p = s
            .ports
            .iter()
            .find(|p| p.port == Some(vip.port()) && p.protocol() == protocol)?;
        Some((k, p))
    })?;
    let mut out = Vec::new();
    for ((slice_ns, _), slice) in &world.slices {
        if slice_ns != ns || slice.service.map(|s| NAMES[s]) != Some(name.as_str()) {
            continue;
        }
        let target = slice
            .ports
            .iter()
            .find(|p| p.port.is_some() && p.name == port.name && p.protocol() == protocol);
        let Some(Port {
            port: Some(target), ..
        }) = target
        else {
            continue;
        };
        for (addrs, ready) in &slice.endpoints {
            for a in addrs.iter().filter(|_| *ready != Some(false)) {
                let addr = SocketAddr::new(ADDRESSES[*a].parse().unwrap(), *target);
                if !out.contains(&addr) {
                    out.push(addr);
                }
            }
        }
    }
    Some(out)
}

/// The indexes rebuilt from the objects alone. The live ones must equal them: nothing
/// stale (which a lookup may not notice until the key or IP comes back), no empty sets.
fn rebuilt(index: &ServiceIndex) -> ServiceIndex {
    let mut fresh = ServiceIndex {
        services: index.services.clone(),
        slices: index.slices.clone(),
        ..ServiceIndex::default()
    };
    for (k, s) in &fresh.services {
        for ip in &s.cluster_ips {
            fresh.by_ip.entry(*ip).or_default().insert(k.clone());
        }
    }
    for (k, s) in &fresh.slices {
        let service = (k.0.clone(), s.service.clone());
        fresh
            .by_service
            .entry(service)
            .or_default()
            .insert(k.clone());
    }
    fresh
}

proptest! {
    #[test]
    fn lookup_agrees_with_a_linear_walk(ops in prop::collection::vec(op(), 0..40)) {
        let mut index = ServiceIndex::default();
        let mut world = World::default();
        for op in &ops {
            match op {
                Op::ApplyService(ns, name, s) => {
                    index.apply(Kind::Service, &service_json(*ns, *name, s)).unwrap();
                    world.services.insert(key(*ns, NAMES[*name]), s.clone());
                }
                Op::RemoveService(ns, name) => {
                    index.remove(Kind::Service, NAMESPACES[*ns], NAMES[*name]);
                    world.services.remove(&key(*ns, NAMES[*name]));
                }
                Op::ApplySlice(ns, name, s) => {
                    index.apply(Kind::EndpointSlice, &slice_json(*ns, *name, s)).unwrap();
                    world.slices.insert(key(*ns, &slice_name(*name)), s.clone());
                }
                Op::RemoveSlice(ns, name) => {
                    index.remove(Kind::EndpointSlice, NAMESPACES[*ns], &slice_name(*name));
                    world.slices.remove(&key(*ns, &slice_name(*name)));
                }
                Op::ApplyInvalid(service, ns, name) => {
                    let (kind, v) = if *service {
                        let mut v = service_json(*ns, *name, &Svc { cluster_ips: vec![0], cluster_ip: None, ports: vec![] });
                        v["spec"]["clusterIP"] = "not-an-ip".into();
                        (Kind::Service, v)
                    } else {
                        let s = Slice { service: Some(*name), ports: vec![], endpoints: vec![(vec![0], None)] };
                        let mut v = slice_json(*ns, *name, &s);
                        v["ports"] = json!([{ "port": 0 }]);
                        (Kind::EndpointSlice, v)
                    };
                    prop_assert!(index.apply(kind, &v).is_err());
                }
            }
            for vip in VIPS {
                for port in PORTS {
                    for protocol in PROTOCOLS {
                        let vip = SocketAddr::new(vip.parse().unwrap(), port);
                        prop_assert_eq!(
                            index.lookup(vip, protocol),
                            reference(&world, vip, protocol),
                            "{} {} after {:?}", vip, protocol, op
                        );
                    }
                }
            }
            let fresh = rebuilt(&index);
            prop_assert_eq!(&index.by_ip, &fresh.by_ip, "after {:?}", op);
            prop_assert_eq!(&index.by_service, &fresh.by_service, "after {:?}", op);
        }
    }
}

/// Two Services on one ClusterIP (which a real cluster never allows): the answer does
/// not depend on which came last.
#[test]
fn a_shared_cluster_ip_goes_to_the_first_service_by_name() {
    let svc = |ports: Vec<Port>| Svc {
        cluster_ips: vec![0],
        cluster_ip: None,
        ports,
    };
    let p80 = Port {
        name: 0,
        port: Some(80),
        protocol: None,
    };
    let p81 = Port {
        port: Some(81),
        ..p80.clone()
    };
    let slice = |service| Slice {
        service: Some(service),
        ports: vec![p80.clone()],
        endpoints: vec![(vec![service], None)],
    };
    let vip = |port| SocketAddr::new(CLUSTER_IPS[0].parse().unwrap(), port);
    let want = |a: usize| Some(vec![SocketAddr::new(ADDRESSES[a].parse().unwrap(), 80)]);
    for order in [[0, 1], [1, 0]] {
        let mut index = ServiceIndex::default();
        for name in order {
            let ports = vec![p80.clone(), p81.clone()].into_iter().take(name + 1);
            let v = service_json(0, name, &svc(ports.collect()));
            index.apply(Kind::Service, &v).unwrap();
            let v = slice_json(0, name, &slice(name));
            index.apply(Kind::EndpointSlice, &v).unwrap();
        }
        // s0 has port 80 only, s1 has 80 and 81.
        assert_eq!(index.lookup(vip(80), "TCP"), want(0), "{order:?}");
        assert_eq!(index.lookup(vip(81), "TCP"), want(1), "{order:?}");
    }
}
