//! The Pod's probe ports. The kubelet probes from the node to the Pod IP; once the capture
//! rules are in, such connections would reach the proxy and be judged by the Pod's ingress
//! policy, which rarely allows the node. So every port a liveness, readiness or startup probe
//! targets (`httpGet`, `tcpSocket`, `grpc`) is excluded from inbound capture, with named ports
//! resolved against the probed container's own `ports` as the kubelet resolves them.

use std::collections::BTreeSet;

use serde_json::Value;

const PROBES: [&str; 3] = ["livenessProbe", "readinessProbe", "startupProbe"];

/// Probe ports of every container and init container (sidecars may have probes too), and a
/// warning for each port that cannot be resolved (the API server refuses most of those
/// itself; a warning makes the rest visible at `kubectl apply`). Warnings stay short: the API
/// server may truncate longer ones.
pub fn probe_ports(spec: &Value) -> (BTreeSet<u16>, Vec<String>) {
    let mut ports = BTreeSet::new();
    let mut warnings = Vec::new();
    for list in ["initContainers", "containers"] {
        let Some(containers) = spec.get(list).and_then(Value::as_array) else {
            continue;
        };
        for container in containers {
            let name = container.get("name").and_then(Value::as_str).unwrap_or("");
            for probe in PROBES {
                let Some(probe_spec) = container.get(probe) else {
                    continue;
                };
                for action in ["httpGet", "tcpSocket", "grpc"] {
                    let Some(port) = probe_spec.get(action).and_then(|a| a.get("port")) else {
                        continue;
                    };
                    match resolve(container, port) {
                        Some(p) => {
                            ports.insert(p);
                        }
                        None => warnings.push(format!(
                            "l7proxy: {name} {probe} port {port} unresolved, not excluded from capture"
                        )),
                    }
                }
            }
        }
    }
    (ports, warnings)
}

/// An IntOrString port: a number, or the name of one of the container's ports.
fn resolve(container: &Value, port: &Value) -> Option<u16> {
    match port {
        Value::Number(n) => n
            .as_u64()
            .and_then(|n| u16::try_from(n).ok())
            .filter(|&p| p > 0),
        Value::String(s) => {
            if let Ok(n) = s.parse::<u16>() {
                return (n > 0).then_some(n);
            }
            container
                .get("ports")
                .and_then(Value::as_array)?
                .iter()
                .find(|p| p.get("name").and_then(Value::as_str) == Some(s))
                .and_then(|p| p.get("containerPort"))
                .and_then(Value::as_u64)
                .and_then(|n| u16::try_from(n).ok())
                .filter(|&p| p > 0)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_probe_kind_and_named_ports() {
        let spec = json!({
            "initContainers": [{
                "name": "side", "restartPolicy": "Always",
                "startupProbe": {"grpc": {"port": 9000}}
            }],
            "containers": [
                {
                    "name": "web",
                    "ports": [{"name": "http", "containerPort": 8080}, {"name": "health", "containerPort": 8081}],
                    "readinessProbe": {"httpGet": {"path": "/", "port": "health"}},
                    "livenessProbe": {"tcpSocket": {"port": 8082}},
                    "startupProbe": {"exec": {"command": ["true"]}}
                },
                {
                    "name": "other",
                    "livenessProbe": {"httpGet": {"port": "health"}}
                }
            ]
        });
        let (ports, warnings) = probe_ports(&spec);
        assert_eq!(
            ports.into_iter().collect::<Vec<_>>(),
            vec![8081, 8082, 9000]
        );
        // "health" names a port of "web", not of "other": the kubelet would not resolve it.
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert_eq!(
            warnings[0],
            "l7proxy: other livenessProbe port \"health\" unresolved, not excluded from capture"
        );
        assert!(warnings[0].len() <= 120);
    }

    #[test]
    fn nonsense_ports_are_warnings_not_panics() {
        let spec = json!({"containers": [
            {"name": "a", "livenessProbe": {"tcpSocket": {"port": 70000}}},
            {"name": "b", "livenessProbe": {"tcpSocket": {"port": 0}}},
            {"name": "c", "livenessProbe": {"tcpSocket": {"port": [1]}}},
            {"name": "d", "livenessProbe": "x"},
            "not a container"
        ]});
        let (ports, warnings) = probe_ports(&spec);
        assert!(ports.is_empty());
        assert_eq!(warnings.len(), 3);
        assert!(probe_ports(&json!(null)).0.is_empty());
    }
}
