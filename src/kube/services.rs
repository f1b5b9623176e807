//! Services and EndpointSlices: which ready endpoints stand behind a ClusterIP and port.
//!
//! An egress connection from the protected Pod to a Service is captured with the Service
//! VIP as its destination; policy peers, however, name Pods. This index answers "which
//! Pod addresses serve `vip:port`", so the data path ([`crate::proxy::service`]) can pick
//! one, decide on it and connect to it directly.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::hash::Hash;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, RwLock};

use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use serde_json::Value;

use super::Kind;

/// Label of an EndpointSlice that names its Service.
const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";

/// Namespace and name of a Service or EndpointSlice.
type Key = (String, String);

#[derive(Clone, Debug, PartialEq, Eq)]
struct PortEntry {
    name: String,
    port: u16,
    protocol: String,
}

#[derive(Clone, Debug, Default)]
struct ServiceEntry {
    cluster_ips: Vec<IpAddr>,
    ports: Vec<PortEntry>,
}

#[derive(Clone, Debug, Default)]
struct SliceEntry {
    service: String,
    ports: Vec<PortEntry>,
    /// Addresses of endpoints that are ready (`conditions.ready` unset counts as ready,
    /// as the API documents).
    ready: Vec<IpAddr>,
}

/// ClusterIP Services and their EndpointSlices, keyed by namespace and name.
///
/// [`Self::lookup`] runs on every egress connection, under the read lock the watchers
/// write through, in clusters with thousands of Services: so it goes through two
/// indexes, kept in step with the objects by [`Self::apply`] and [`Self::remove`],
/// instead of scanning every Service and every slice, and the endpoint list it assembles
/// is kept until the next change (criterion `service/lookup`: ~50 ns at 10,000
/// endpoints, where assembling it per connection took 41 ms).
#[derive(Clone, Debug, Default)]
pub struct ServiceIndex {
    services: BTreeMap<Key, ServiceEntry>,
    slices: BTreeMap<Key, SliceEntry>,
    /// ClusterIP → the Services claiming it. A set, though a real cluster never gives
    /// one IP to two Services: the index holds whatever the watchers sent, and answers
    /// the same whatever order it came in (see [`Self::lookup`]).
    by_ip: HashMap<IpAddr, BTreeSet<Key>>,
    /// (namespace, Service name) → keys of the slices labelled with it. Ordered, so
    /// endpoints come out in slice key order whichever slice arrived first.
    by_service: HashMap<Key, BTreeSet<Key>>,
    /// Endpoint lists already assembled, until the next change.
    resolved: Resolved,
}

/// Endpoint lists by (VIP, protocol), emptied by every [`ServiceIndex::apply`] and
/// [`ServiceIndex::remove`].
///
/// Assembling a list walks every slice of the Service; with thousands of endpoints that
/// is far more than a connection should pay, and connections to a Service outnumber
/// changes to it by orders of magnitude. Interior mutability, because lookups run under
/// the index's read lock, concurrently.
#[derive(Debug, Default)]
struct Resolved(RwLock<HashMap<SocketAddr, Vec<(String, Endpoints)>>>);

/// Ready endpoints of one Service port, shared by the connections that pick from them.
pub type Endpoints = Arc<[SocketAddr]>;

impl Resolved {
    fn get(&self, vip: SocketAddr, protocol: &str) -> Option<Endpoints> {
        // A poisoned lock cannot leave a wrong entry: inserts are single map operations.
        let map = self.0.read().unwrap_or_else(|e| e.into_inner());
        let lists = map.get(&vip)?;
        lists
            .iter()
            .find(|(p, _)| p == protocol)
            .map(|(_, e)| e.clone())
    }

    fn put(&self, vip: SocketAddr, protocol: &str, endpoints: Endpoints) {
        let mut map = self.0.write().unwrap_or_else(|e| e.into_inner());
        let lists = map.entry(vip).or_default();
        match lists.iter_mut().find(|(p, _)| p == protocol) {
            // Another lookup assembled the same list meanwhile.
            Some(entry) => entry.1 = endpoints,
            None => lists.push((protocol.to_owned(), endpoints)),
        }
    }

    fn clear(&mut self) {
        self.0.get_mut().unwrap_or_else(|e| e.into_inner()).clear();
    }
}

/// A copy starts empty: it is only a cache.
impl Clone for Resolved {
    fn clone(&self) -> Self {
        Resolved::default()
    }
}

fn ns_name(meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta) -> Key {
    (
        meta.namespace
            .clone()
            .unwrap_or_else(|| "default".to_owned()),
        meta.name.clone().unwrap_or_default(),
    )
}

fn port_u16(n: i32, what: &str) -> Result<u16, String> {
    u16::try_from(n)
        .ok()
        .filter(|p| *p > 0)
        .ok_or_else(|| format!("{what}: {n} is not a port number"))
}

fn parse_service(v: &Value) -> Result<(Key, ServiceEntry), String> {
    let svc: Service = serde_json::from_value(v.clone()).map_err(|e| e.to_string())?;
    let key = ns_name(&svc.metadata);
    let spec = svc.spec.unwrap_or_default();
    let mut ips: Vec<String> = spec.cluster_ips.unwrap_or_default();
    ips.extend(spec.cluster_ip);
    let mut cluster_ips = Vec::new();
    for ip in ips.iter().filter(|s| !s.is_empty() && *s != "None") {
        let ip = ip
            .parse::<IpAddr>()
            .map_err(|_| format!("spec.clusterIPs: invalid IP address {ip:?}"))?;
        if !cluster_ips.contains(&ip) {
            cluster_ips.push(ip);
        }
    }
    let mut ports = Vec::new();
    for p in spec.ports.unwrap_or_default() {
        ports.push(PortEntry {
            name: p.name.unwrap_or_default(),
            port: port_u16(p.port, "spec.ports[].port")?,
            protocol: p.protocol.unwrap_or_else(|| "TCP".to_owned()),
        });
    }
    Ok((key, ServiceEntry { cluster_ips, ports }))
}

fn parse_slice(v: &Value) -> Result<(Key, SliceEntry), String> {
    let slice: EndpointSlice = serde_json::from_value(v.clone()).map_err(|e| e.to_string())?;
    let key = ns_name(&slice.metadata);
    let service = slice
        .metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(SERVICE_NAME_LABEL))
        .cloned()
        .unwrap_or_default();
    let mut ports = Vec::new();
    for p in slice.ports.unwrap_or_default() {
        let Some(port) = p.port else { continue };
        ports.push(PortEntry {
            name: p.name.unwrap_or_default(),
            port: port_u16(port, "ports[].port")?,
            protocol: p.protocol.unwrap_or_else(|| "TCP".to_owned()),
        });
    }
    let mut ready = Vec::new();
    for ep in &slice.endpoints {
        let is_ready = ep.conditions.as_ref().and_then(|c| c.ready) != Some(false);
        for a in ep.addresses.iter().filter(|_| is_ready) {
            let ip = a
                .parse::<IpAddr>()
                .map_err(|_| format!("endpoints[].addresses: invalid IP {a:?}"))?;
            ready.push(ip);
        }
    }
    let entry = SliceEntry {
        service,
        ports,
        ready,
    };
    Ok((key, entry))
}

/// Drops `key` from the set under `at`, and the set once empty, so churn in Services
/// and slices does not leave the indexes growing.
fn unindex<K: Hash + Eq>(index: &mut HashMap<K, BTreeSet<Key>>, at: K, key: &Key) {
    if let Some(keys) = index.get_mut(&at) {
        keys.remove(key);
        if keys.is_empty() {
            index.remove(&at);
        }
    }
}

impl ServiceIndex {
    /// Insert or replace a Service or EndpointSlice (other kinds are ignored). An invalid
    /// object is an error and leaves the index as it was: the whole object is parsed
    /// before anything changes, and nothing after that can fail or panic, so the lock
    /// is never left over a half-updated index.
    pub fn apply(&mut self, kind: Kind, v: &Value) -> Result<(), String> {
        self.resolved.clear();
        match kind {
            Kind::Service => {
                let (key, entry) = parse_service(v)?;
                self.remove_service(&key);
                for ip in &entry.cluster_ips {
                    self.by_ip.entry(*ip).or_default().insert(key.clone());
                }
                self.services.insert(key, entry);
            }
            Kind::EndpointSlice => {
                let (key, entry) = parse_slice(v)?;
                // A replaced slice may name another Service than before.
                self.remove_slice(&key);
                let service = (key.0.clone(), entry.service.clone());
                self.by_service
                    .entry(service)
                    .or_default()
                    .insert(key.clone());
                self.slices.insert(key, entry);
            }
            _ => {}
        }
        Ok(())
    }

    /// Forget a Service or EndpointSlice.
    pub fn remove(&mut self, kind: Kind, namespace: &str, name: &str) {
        self.resolved.clear();
        let key = (namespace.to_owned(), name.to_owned());
        match kind {
            Kind::Service => self.remove_service(&key),
            Kind::EndpointSlice => self.remove_slice(&key),
            _ => {}
        }
    }

    fn remove_service(&mut self, key: &Key) {
        let Some(old) = self.services.remove(key) else {
            return;
        };
        for ip in old.cluster_ips {
            unindex(&mut self.by_ip, ip, key);
        }
    }

    fn remove_slice(&mut self, key: &Key) {
        let Some(old) = self.slices.remove(key) else {
            return;
        };
        unindex(&mut self.by_service, (key.0.clone(), old.service), key);
    }

    /// Ready endpoints serving `vip` (a Service's ClusterIP and port) for `protocol`
    /// (`TCP`, ...), in a stable order; empty when `vip` is no known Service port.
    pub fn endpoints(&self, vip: SocketAddr, protocol: &str) -> Vec<SocketAddr> {
        self.lookup(vip, protocol).unwrap_or_default()
    }

    /// As [`Self::endpoints`], but telling "not a Service port" (`None`) apart from "a
    /// Service port without ready endpoints" (`Some` of an empty list): the data path
    /// forwards the first unchanged and rejects the second, as kube-proxy does.
    ///
    /// Endpoints come in slice key order, then address order within a slice, each once.
    /// Should two Services claim `vip`'s IP (which a real cluster never does), the first
    /// by (namespace, name) that has the port answers, whichever was applied last.
    pub fn lookup(&self, vip: SocketAddr, protocol: &str) -> Option<Vec<SocketAddr>> {
        self.lookup_shared(vip, protocol).map(|e| e.to_vec())
    }

    /// [`Self::lookup`] for the data path: the list is assembled once per change of the
    /// index and shared by every connection after that.
    pub fn lookup_shared(&self, vip: SocketAddr, protocol: &str) -> Option<Endpoints> {
        if !self.by_ip.contains_key(&vip.ip()) {
            return None;
        }
        if let Some(hit) = self.resolved.get(vip, protocol) {
            return Some(hit);
        }
        let endpoints: Endpoints = self.assemble(vip, protocol)?.into();
        self.resolved.put(vip, protocol, endpoints.clone());
        Some(endpoints)
    }

    fn assemble(&self, vip: SocketAddr, protocol: &str) -> Option<Vec<SocketAddr>> {
        let (key, port) = self.by_ip.get(&vip.ip())?.iter().find_map(|k| {
            let p = self
                .services
                .get(k)?
                .ports
                .iter()
                .find(|p| p.port == vip.port() && p.protocol == protocol)?;
            Some((k, p))
        })?;
        let mut out = Vec::new();
        let mut seen = HashSet::new();
        let slices = self.by_service.get(key).into_iter().flatten();
        for slice in slices.filter_map(|k| self.slices.get(k)) {
            let Some(target) = slice
                .ports
                .iter()
                .find(|p| p.name == port.name && p.protocol == protocol)
            else {
                continue;
            };
            for ip in &slice.ready {
                let addr = SocketAddr::new(*ip, target.port);
                if seen.insert(addr) {
                    out.push(addr);
                }
            }
        }
        Some(out)
    }
}

#[cfg(test)]
mod tests;
