//! Egress to a Service ClusterIP: which endpoint a connection really goes to.
//!
//! In the protected Pod's network namespace an egress connection to a Service is
//! captured before any DNAT, so its destination is the Service VIP. Antrea, which sees
//! the packets after load balancing, decides and logs on the endpoint Pod, and policy
//! peers select Pods, not VIPs. The proxy therefore balances itself: it picks a ready
//! endpoint (round robin per VIP), decides on it and connects to it directly.
//!
//! The lookup is a trait so the data path does not depend on how endpoints are known
//! (the cluster source's index in production, a fixed table in tests), and so the round
//! robin here is the one every source gets.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, RwLock};

use crate::kube::services::{Endpoints, ServiceIndex};

/// Ready endpoints behind a Service VIP.
pub trait Resolve: Send + Sync + 'static {
    /// TCP endpoints serving `vip`, in a stable order (so round robin over successive
    /// calls is fair); `None` when `vip` is not a Service port at all.
    fn endpoints(&self, vip: SocketAddr) -> Option<Endpoints>;
}

/// The cluster source's index, read under its lock for the length of one lookup.
impl Resolve for RwLock<ServiceIndex> {
    fn endpoints(&self, vip: SocketAddr) -> Option<Endpoints> {
        // A writer that panicked left a consistent index (an apply parses the whole
        // object before it changes anything), so a poisoned lock is still worth reading.
        let index = self.read().unwrap_or_else(|e| e.into_inner());
        index.lookup_shared(vip, "TCP")
    }
}

/// Where an egress connection goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// Not a Service: the original destination, unchanged.
    Direct(SocketAddr),
    /// The endpoint picked for the Service `vip`.
    Endpoint {
        vip: SocketAddr,
        endpoint: SocketAddr,
    },
    /// A Service port without a ready endpoint: rejected, as kube-proxy does.
    NoEndpoints { vip: SocketAddr },
}

impl Target {
    /// The address decided on, reported and connected to (the VIP when none was picked).
    pub fn dst(self) -> SocketAddr {
        match self {
            Target::Direct(dst) | Target::NoEndpoints { vip: dst } => dst,
            Target::Endpoint { endpoint, .. } => endpoint,
        }
    }

    /// The Service VIP the client addressed, if it addressed one.
    pub fn vip(self) -> Option<SocketAddr> {
        match self {
            Target::Direct(_) => None,
            Target::Endpoint { vip, .. } | Target::NoEndpoints { vip } => Some(vip),
        }
    }
}

/// Round robin over the ready endpoints of each VIP.
pub struct Balancer {
    resolve: Arc<dyn Resolve>,
    /// Next pick per VIP. Per VIP rather than one counter: a client alternating between
    /// two Services would otherwise always land on the same endpoint of each. Entries
    /// are only made for VIPs this Pod connected to, so the map stays small.
    next: Mutex<HashMap<SocketAddr, usize>>,
}

impl Balancer {
    pub fn new(resolve: Arc<dyn Resolve>) -> Self {
        Balancer {
            resolve,
            next: Mutex::new(HashMap::new()),
        }
    }

    /// Resolve `dst` and, for a Service, pick the next endpoint.
    pub fn target(&self, dst: SocketAddr) -> Target {
        let Some(endpoints) = self.resolve.endpoints(dst) else {
            return Target::Direct(dst);
        };
        if endpoints.is_empty() {
            return Target::NoEndpoints { vip: dst };
        }
        let mut next = self.next.lock().unwrap_or_else(|e| e.into_inner());
        let i = next.entry(dst).or_insert(0);
        let endpoint = endpoints[*i % endpoints.len()];
        *i = i.wrapping_add(1);
        Target::Endpoint { vip: dst, endpoint }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kube::Kind;

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    /// The cluster source's index behind the balancer: endpoints in turn, per VIP.
    #[test]
    fn index_backed_balancer_round_robins_per_vip() {
        let mut index = ServiceIndex::default();
        for (name, vip, ips) in [
            ("web", "10.96.0.10", &["10.0.0.10", "10.0.0.11"][..]),
            ("db", "10.96.0.20", &["10.0.0.20", "10.0.0.21"][..]),
        ] {
            let svc = serde_json::json!({"apiVersion": "v1", "kind": "Service",
                "metadata": {"name": name, "namespace": "default"},
                "spec": {"clusterIP": vip, "ports": [{"name": "p", "port": 80}]}});
            index.apply(Kind::Service, &svc).unwrap();
            let endpoints: Vec<_> = ips
                .iter()
                .map(|ip| serde_json::json!({"addresses": [ip]}))
                .collect();
            let slice = serde_json::json!({"apiVersion": "discovery.k8s.io/v1",
                "kind": "EndpointSlice", "addressType": "IPv4",
                "metadata": {"name": format!("{name}-x"), "namespace": "default",
                    "labels": {"kubernetes.io/service-name": name}},
                "ports": [{"name": "p", "port": 8080}], "endpoints": endpoints});
            index.apply(Kind::EndpointSlice, &slice).unwrap();
        }
        let index = Arc::new(RwLock::new(index));
        let balancer = Balancer::new(index.clone());
        let (web, db) = (addr("10.96.0.10:80"), addr("10.96.0.20:80"));
        // Interleaved Services: each still alternates over its own endpoints.
        let picks: Vec<String> = [web, db, web, db, web]
            .into_iter()
            .map(|vip| balancer.target(vip).dst().to_string())
            .collect();
        assert_eq!(
            picks,
            [
                "10.0.0.10:8080",
                "10.0.0.20:8080",
                "10.0.0.11:8080",
                "10.0.0.21:8080",
                "10.0.0.10:8080"
            ]
        );
        assert_eq!(
            balancer.target(addr("10.96.0.10:81")),
            Target::Direct(addr("10.96.0.10:81"))
        );
        // The index is read live: the slice going away leaves a Service without endpoints.
        index
            .write()
            .unwrap()
            .remove(Kind::EndpointSlice, "default", "web-x");
        assert_eq!(balancer.target(web), Target::NoEndpoints { vip: web });
        assert_eq!(balancer.target(web).vip(), Some(web));
    }
}
