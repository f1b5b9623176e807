//! The object store: parse one Kubernetes object (from any source), validate it and keep
//! it under its key. Invalid objects are never stored, so a compiled snapshot only ever
//! sees objects that passed validation.

use std::collections::BTreeMap;
use std::net::IpAddr;

use serde::de::DeserializeOwned;
use serde_json::Value;

use super::model::{
    AntreaPolicySpec, BUILTIN_TIERS, ContainerPort, K8sPolicySpec, Namespace, Pod, TierSpec,
};
use super::validate::Ctx;
use super::{Error, ObjectKey, ObjectKind, PolicyKind, Protocol, Store, validate};

/// A custom `Tier`.
#[derive(Clone, Debug)]
pub struct Tier {
    pub name: String,
    pub priority: i64,
    pub source: String,
}

/// An Antrea `NetworkPolicy` or `ClusterNetworkPolicy`.
#[derive(Clone, Debug)]
pub struct AntreaPolicy {
    pub kind: PolicyKind,
    pub namespace: Option<String>,
    pub name: String,
    pub spec: AntreaPolicySpec,
    pub source: String,
}

/// A `networking.k8s.io/v1` `NetworkPolicy`.
#[derive(Clone, Debug)]
pub struct K8sPolicy {
    pub namespace: String,
    pub name: String,
    pub spec: K8sPolicySpec,
}

fn str_at<'v>(v: &'v Value, path: &[&str]) -> Option<&'v str> {
    path.iter().try_fold(v, |v, k| v.get(k))?.as_str()
}

/// Deserialize `v` as `T`, reporting the field path of the first problem.
fn typed<T: DeserializeOwned>(ctx: &Ctx<'_>, prefix: &str, v: &Value) -> Result<T, Error> {
    serde_path_to_error::deserialize(v).map_err(|e| {
        let path = e.path().to_string();
        let field = if path == "." {
            prefix.to_owned()
        } else {
            format!("{prefix}.{path}")
        };
        ctx.err(field, e.into_inner().to_string())
    })
}

fn labels(ctx: &Ctx<'_>, v: &Value) -> Result<BTreeMap<String, String>, Error> {
    match v.pointer("/metadata/labels") {
        None | Some(Value::Null) => Ok(BTreeMap::new()),
        Some(l) => typed(ctx, "metadata.labels", l),
    }
}

impl Store {
    /// An empty store.
    pub fn new() -> Store {
        Store::default()
    }

    /// Parse, validate and insert (or replace) one Kubernetes object. `source` names
    /// where it came from (a file, or `kubernetes`) for error messages. Returns the key,
    /// or `None` for kinds the policy engine does not use (skipped with a debug log).
    pub fn apply_object(
        &mut self,
        source: &str,
        obj: &Value,
    ) -> Result<Option<ObjectKey>, Vec<Error>> {
        let Some(key) = object_key(obj) else {
            tracing::debug!(
                source,
                api.version = str_at(obj, &["apiVersion"]).unwrap_or_default(),
                kind = str_at(obj, &["kind"]).unwrap_or_default(),
                "skipping object of unused kind"
            );
            return Ok(None);
        };
        let object_kind = key.kind;
        let ctx = Ctx {
            source,
            object: key.to_string(),
        };
        if key.name.is_empty() {
            return Err(vec![ctx.err("metadata.name", "name is required")]);
        }
        let spec = obj.get("spec").cloned().unwrap_or(Value::Null);
        let ns = key.namespace.clone().unwrap_or_default();
        match object_kind {
            ObjectKind::Namespace => {
                let mut labels = labels(&ctx, obj).map_err(|e| vec![e])?;
                labels
                    .entry("kubernetes.io/metadata.name".to_owned())
                    .or_insert_with(|| key.name.clone());
                self.namespaces.insert(
                    key.name.clone(),
                    Namespace {
                        name: key.name.clone(),
                        labels,
                    },
                );
            }
            ObjectKind::Pod => {
                let pod = parse_pod(&ctx, obj, ns.clone(), key.name.clone())?;
                self.pods.insert((ns, key.name.clone()), pod);
            }
            ObjectKind::Tier => {
                let spec: TierSpec = typed(&ctx, "spec", &spec).map_err(|e| vec![e])?;
                let errs = validate::tier(&ctx, &key.name, &spec);
                if !errs.is_empty() {
                    return Err(errs);
                }
                self.tiers.insert(
                    key.name.to_ascii_lowercase(),
                    Tier {
                        name: key.name.clone(),
                        priority: spec.priority,
                        source: source.to_owned(),
                    },
                );
            }
            ObjectKind::AntreaNetworkPolicy | ObjectKind::AntreaClusterNetworkPolicy => {
                let spec: AntreaPolicySpec = typed(&ctx, "spec", &spec).map_err(|e| vec![e])?;
                let kind = if object_kind == ObjectKind::AntreaNetworkPolicy {
                    PolicyKind::AntreaNetworkPolicy
                } else {
                    PolicyKind::AntreaClusterNetworkPolicy
                };
                let errs = validate::antrea_policy(&ctx, kind, &spec);
                if !errs.is_empty() {
                    return Err(errs);
                }
                self.antrea.insert(
                    key.clone(),
                    AntreaPolicy {
                        kind,
                        namespace: key.namespace.clone(),
                        name: key.name.clone(),
                        spec,
                        source: source.to_owned(),
                    },
                );
            }
            ObjectKind::K8sNetworkPolicy => {
                let spec: K8sPolicySpec = typed(&ctx, "spec", &spec).map_err(|e| vec![e])?;
                let errs = validate::k8s_policy(&ctx, &spec);
                if !errs.is_empty() {
                    return Err(errs);
                }
                self.k8s.insert(
                    key.clone(),
                    K8sPolicy {
                        namespace: ns,
                        name: key.name.clone(),
                        spec,
                    },
                );
            }
        }
        Ok(Some(key))
    }

    /// Remove the object a (deleted) Kubernetes object names; `true` if it was present.
    pub fn delete_object(&mut self, obj: &Value) -> bool {
        object_key(obj).is_some_and(|k| self.remove(&k))
    }

    /// Remove an object; `true` if it was present.
    pub fn remove(&mut self, key: &ObjectKey) -> bool {
        let ns = key.namespace.clone().unwrap_or_default();
        match key.kind {
            ObjectKind::Namespace => self.namespaces.remove(&key.name).is_some(),
            ObjectKind::Pod => self.pods.remove(&(ns, key.name.clone())).is_some(),
            ObjectKind::Tier => self.tiers.remove(&key.name.to_ascii_lowercase()).is_some(),
            ObjectKind::AntreaNetworkPolicy | ObjectKind::AntreaClusterNetworkPolicy => {
                self.antrea.remove(key).is_some()
            }
            ObjectKind::K8sNetworkPolicy => self.k8s.remove(key).is_some(),
        }
    }

    /// Keys of every stored object, e.g. to drop objects a relist no longer returns.
    pub fn keys(&self) -> Vec<ObjectKey> {
        let named = |kind, ns: Option<&str>, name: &str| ObjectKey {
            kind,
            namespace: ns.map(str::to_owned),
            name: name.to_owned(),
        };
        let mut keys: Vec<ObjectKey> = self
            .namespaces
            .keys()
            .map(|n| named(ObjectKind::Namespace, None, n))
            .chain(
                self.pods
                    .keys()
                    .map(|(ns, n)| named(ObjectKind::Pod, Some(ns), n)),
            )
            .chain(
                self.tiers
                    .values()
                    .map(|t| named(ObjectKind::Tier, None, &t.name)),
            )
            .collect();
        keys.extend(self.antrea.keys().cloned());
        keys.extend(self.k8s.keys().cloned());
        keys
    }

    /// Number of stored objects (for logs and metrics).
    pub fn len(&self) -> usize {
        self.namespaces.len()
            + self.pods.len()
            + self.tiers.len()
            + self.antrea.len()
            + self.k8s.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// IP addresses of a stored Pod (empty if unknown).
    pub fn pod_ips(&self, namespace: &str, name: &str) -> Vec<IpAddr> {
        self.pods
            .get(&(namespace.to_owned(), name.to_owned()))
            .map(|p| p.ips.clone())
            .unwrap_or_default()
    }

    /// Priority of a tier by (case-insensitive) name: built-in or custom.
    pub(crate) fn tier_priority(&self, name: &str) -> Option<i64> {
        let lower = name.to_ascii_lowercase();
        BUILTIN_TIERS
            .iter()
            .find(|(n, _)| *n == lower)
            .map(|(_, p)| *p)
            .or_else(|| self.tiers.get(&lower).map(|t| t.priority))
    }

    /// Checks between objects: every policy's tier exists, no two tiers share a priority.
    pub fn check_references(&self) -> Vec<Error> {
        let mut errors = self.tier_clashes();
        let missing = self.antrea.iter().filter_map(|(key, p)| {
            let tier = p.spec.tier.as_deref()?;
            self.tier_priority(tier).is_none().then(|| Error::Invalid {
                file: p.source.clone(),
                object: key.to_string(),
                field: "spec.tier".to_owned(),
                message: format!("tier {tier} does not exist"),
            })
        });
        errors.extend(missing);
        errors
    }

    /// Custom tiers whose priority another tier already has.
    pub fn tier_clashes(&self) -> Vec<Error> {
        let mut errors = Vec::new();
        for (name, t) in &self.tiers {
            let builtin = BUILTIN_TIERS.iter().any(|(n, _)| n == name);
            let clash = BUILTIN_TIERS
                .iter()
                .map(|(n, p)| (*n, *p))
                .chain(self.tiers.iter().map(|(n, t)| (n.as_str(), t.priority)))
                .any(|(n, p)| n != name && p == t.priority);
            if !builtin && clash {
                errors.push(Error::Invalid {
                    file: t.source.clone(),
                    object: format!("Tier {}", t.name),
                    field: "spec.priority".to_owned(),
                    message: format!(
                        "tier {} priority {} overlaps with existing Tier",
                        t.name, t.priority
                    ),
                });
            }
        }
        errors
    }
}

/// The store key of a Kubernetes object, `None` for kinds the store does not keep.
/// Namespaced objects without a namespace are in `default`, as with `kubectl apply`.
pub fn object_key(obj: &Value) -> Option<ObjectKey> {
    let api = str_at(obj, &["apiVersion"]).unwrap_or_default();
    let kind = str_at(obj, &["kind"]).unwrap_or_default();
    let group = api.split_once('/').map_or("", |(g, _)| g);
    let kind = match (group, api, kind) {
        (_, "v1", "Namespace") => ObjectKind::Namespace,
        (_, "v1", "Pod") => ObjectKind::Pod,
        ("crd.antrea.io", _, "NetworkPolicy") => ObjectKind::AntreaNetworkPolicy,
        ("crd.antrea.io", _, "ClusterNetworkPolicy") => ObjectKind::AntreaClusterNetworkPolicy,
        ("crd.antrea.io", _, "Tier") => ObjectKind::Tier,
        (_, "networking.k8s.io/v1", "NetworkPolicy") => ObjectKind::K8sNetworkPolicy,
        _ => return None,
    };
    let namespaced = matches!(
        kind,
        ObjectKind::Pod | ObjectKind::AntreaNetworkPolicy | ObjectKind::K8sNetworkPolicy
    );
    let namespace = namespaced.then(|| {
        str_at(obj, &["metadata", "namespace"])
            .filter(|n| !n.is_empty())
            .unwrap_or("default")
            .to_owned()
    });
    Some(ObjectKey {
        kind,
        namespace,
        name: str_at(obj, &["metadata", "name"])
            .unwrap_or_default()
            .to_owned(),
    })
}

fn parse_pod(
    ctx: &Ctx<'_>,
    obj: &Value,
    namespace: String,
    name: String,
) -> Result<Pod, Vec<Error>> {
    let mut errs = Vec::new();
    let labels = labels(ctx, obj).unwrap_or_else(|e| {
        errs.push(e);
        BTreeMap::new()
    });
    let mut ips: Vec<IpAddr> = Vec::new();
    let mut add_ip = |field: String, s: &str| match s.parse::<IpAddr>() {
        Ok(ip) if !ips.contains(&ip) => ips.push(ip),
        Ok(_) => {}
        Err(_) => errs.push(ctx.err(field, format!("invalid IP address {s:?}"))),
    };
    if let Some(ip) = str_at(obj, &["status", "podIP"]).filter(|s| !s.is_empty()) {
        add_ip("status.podIP".to_owned(), ip);
    }
    if let Some(list) = obj.pointer("/status/podIPs").and_then(Value::as_array) {
        for (i, entry) in list.iter().enumerate() {
            if let Some(ip) = entry.get("ip").and_then(Value::as_str) {
                add_ip(format!("status.podIPs[{i}].ip"), ip);
            }
        }
    }
    // A finished Pod's address may already belong to another Pod: it selects nothing.
    if matches!(
        str_at(obj, &["status", "phase"]),
        Some("Succeeded" | "Failed")
    ) {
        ips.clear();
    }
    let mut ports = Vec::new();
    let containers = obj.pointer("/spec/containers").and_then(Value::as_array);
    for (c, container) in containers.into_iter().flatten().enumerate() {
        let list = container.get("ports").and_then(Value::as_array);
        for (i, port) in list.into_iter().flatten().enumerate() {
            let field = format!("spec.containers[{c}].ports[{i}]");
            let Some(pname) = port.get("name").and_then(Value::as_str) else {
                continue;
            };
            let number = port
                .get("containerPort")
                .and_then(Value::as_u64)
                .and_then(|n| u16::try_from(n).ok())
                .filter(|n| *n > 0);
            let protocol = match port.get("protocol").and_then(Value::as_str) {
                None | Some("TCP") => Some(Protocol::Tcp),
                Some("UDP") => Some(Protocol::Udp),
                Some("SCTP") => Some(Protocol::Sctp),
                Some(_) => None,
            };
            match (number, protocol) {
                (Some(port), Some(protocol)) => ports.push(ContainerPort {
                    name: pname.to_owned(),
                    port,
                    protocol,
                }),
                (None, _) => {
                    errs.push(ctx.err(format!("{field}.containerPort"), "must be 1-65535"))
                }
                (_, None) => {
                    errs.push(ctx.err(format!("{field}.protocol"), "must be TCP, UDP or SCTP"))
                }
            }
        }
    }
    if !errs.is_empty() {
        return Err(errs);
    }
    Ok(Pod {
        namespace,
        name,
        labels,
        ips,
        ports,
    })
}
