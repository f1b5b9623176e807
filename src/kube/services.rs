//! Services and EndpointSlices: which ready endpoints stand behind a ClusterIP and port.
//!
//! An egress connection from the protected Pod to a Service is captured with the Service
//! VIP as its destination; policy peers, however, name Pods. This index answers "which
//! Pod addresses serve `vip:port`", so the data path ([`crate::proxy::service`]) can pick
//! one, decide on it and connect to it directly.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};

use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use serde_json::Value;

use super::source::Kind;

/// Label of an EndpointSlice that names its Service.
const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";

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
#[derive(Clone, Debug, Default)]
pub struct ServiceIndex {
    services: BTreeMap<(String, String), ServiceEntry>,
    slices: BTreeMap<(String, String), SliceEntry>,
}

fn ns_name(meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta) -> (String, String) {
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

impl ServiceIndex {
    /// Insert or replace a Service or EndpointSlice (other kinds are ignored).
    pub fn apply(&mut self, kind: Kind, v: &Value) -> Result<(), String> {
        match kind {
            Kind::Service => {
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
                self.services
                    .insert(key, ServiceEntry { cluster_ips, ports });
            }
            Kind::EndpointSlice => {
                let slice: EndpointSlice =
                    serde_json::from_value(v.clone()).map_err(|e| e.to_string())?;
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
                self.slices.insert(
                    key,
                    SliceEntry {
                        service,
                        ports,
                        ready,
                    },
                );
            }
            _ => {}
        }
        Ok(())
    }

    /// Forget a Service or EndpointSlice.
    pub fn remove(&mut self, kind: Kind, namespace: &str, name: &str) {
        let key = (namespace.to_owned(), name.to_owned());
        match kind {
            Kind::Service => {
                self.services.remove(&key);
            }
            Kind::EndpointSlice => {
                self.slices.remove(&key);
            }
            _ => {}
        }
    }

    /// Ready endpoints serving `vip` (a Service's ClusterIP and port) for `protocol`
    /// (`TCP`, ...), in a stable order; empty when `vip` is no known Service port.
    pub fn endpoints(&self, vip: SocketAddr, protocol: &str) -> Vec<SocketAddr> {
        self.lookup(vip, protocol).unwrap_or_default()
    }

    /// As [`Self::endpoints`], but telling "not a Service port" (`None`) apart from "a
    /// Service port without ready endpoints" (`Some` of an empty list): the data path
    /// forwards the first unchanged and rejects the second, as kube-proxy does.
    pub fn lookup(&self, vip: SocketAddr, protocol: &str) -> Option<Vec<SocketAddr>> {
        let ((ns, name), port) = self.services.iter().find_map(|(k, s)| {
            if !s.cluster_ips.contains(&vip.ip()) {
                return None;
            }
            let p = s
                .ports
                .iter()
                .find(|p| p.port == vip.port() && p.protocol == protocol)?;
            Some((k, p))
        })?;
        let mut out = Vec::new();
        for ((slice_ns, _), slice) in &self.slices {
            if slice_ns != ns || &slice.service != name {
                continue;
            }
            let Some(target) = slice
                .ports
                .iter()
                .find(|p| p.name == port.name && p.protocol == protocol)
            else {
                continue;
            };
            for ip in &slice.ready {
                let addr = SocketAddr::new(*ip, target.port);
                if !out.contains(&addr) {
                    out.push(addr);
                }
            }
        }
        Some(out)
    }
}
