//! The containers and volumes the injection adds, built from the controller's flags.
//! The shapes follow `integration/chart/fixtures/injected-pod.yaml`.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use super::ControllerArgs;
use crate::redirect::Ipv6Mode;

/// The capture init container (`l7proxy redirect install`).
pub const INIT_NAME: &str = "l7proxy-init";
/// The proxy sidecar (`l7proxy run --kubernetes`).
pub const SIDECAR_NAME: &str = "l7proxy";
/// Marks an injected Pod: a second admission of it changes nothing.
pub const STATUS_ANNOTATION: &str = "l7proxy.io/status";
pub const STATUS_INJECTED: &str = "injected";
/// The xtables lock of the init container (its root filesystem is read-only).
pub const VOLUME_TMP: &str = "l7proxy-tmp";
/// The sidecar's event log.
pub const VOLUME_LOGS: &str = "l7proxy-logs";
/// The sidecar's own ServiceAccount token: ServiceAccount admission ran before this webhook
/// and mounted `kube-api-access-*` only into the containers that existed then, and the Pod
/// may have `automountServiceAccountToken: false`; the sidecar needs the API either way.
pub const VOLUME_TOKEN: &str = "l7proxy-token";
/// Where in-cluster clients look for the token.
pub const SERVICE_ACCOUNT_PATH: &str = "/var/run/secrets/kubernetes.io/serviceaccount";

/// Every volume name the injection adds.
pub const VOLUMES: [&str; 3] = [VOLUME_TMP, VOLUME_LOGS, VOLUME_TOKEN];

fn ipv6_name(mode: Ipv6Mode) -> &'static str {
    match mode {
        Ipv6Mode::Auto => "auto",
        Ipv6Mode::On => "on",
        Ipv6Mode::Off => "off",
    }
}

/// `l7proxy redirect install`, root with NET_ADMIN + NET_RAW only; the Pod's probe ports are
/// added to the chart's inbound exclusions.
pub fn init_container(args: &ControllerArgs, probe_ports: &BTreeSet<u16>) -> Value {
    let mut cmd = vec![
        "redirect".to_owned(),
        "install".to_owned(),
        format!("--inbound-port={}", args.capture.inbound_port),
        format!("--outbound-port={}", args.capture.outbound_port),
        format!("--mark={}", args.capture.mark),
        format!("--proxy-uid={}", args.proxy_uid),
        format!("--metrics-port={}", args.metrics_port),
        format!("--ipv6={}", ipv6_name(args.ipv6)),
    ];
    let mut inbound: Vec<String> = nonempty(&args.exclude_inbound_ports);
    for port in probe_ports {
        let port = port.to_string();
        if !inbound.contains(&port) {
            inbound.push(port);
        }
    }
    for (flag, list) in [
        ("exclude-inbound-ports", inbound),
        (
            "exclude-outbound-ports",
            nonempty(&args.exclude_outbound_ports),
        ),
        (
            "exclude-outbound-cidrs",
            nonempty(&args.exclude_outbound_cidrs),
        ),
    ] {
        if !list.is_empty() {
            cmd.push(format!("--{flag}={}", list.join(",")));
        }
    }
    json!({
        "name": INIT_NAME,
        "image": args.proxy_image,
        "imagePullPolicy": args.proxy_image_pull_policy.as_str(),
        "args": cmd,
        "env": [{"name": "XTABLES_LOCKFILE", "value": "/tmp/xtables.lock"}],
        "resources": args.init_resources,
        "securityContext": {
            "runAsUser": 0,
            "runAsGroup": 0,
            "runAsNonRoot": false,
            "privileged": false,
            "allowPrivilegeEscalation": false,
            "readOnlyRootFilesystem": true,
            "capabilities": {"drop": ["ALL"], "add": ["NET_ADMIN", "NET_RAW"]}
        },
        "volumeMounts": [{"name": VOLUME_TMP, "mountPath": "/tmp"}]
    })
}

/// The address the sidecar's `/metrics` and `/readyz` listen on. The kubelet probes the Pod
/// IP, so loopback (the proxy's default) would never become ready. `[::]` is dual-stack on
/// Linux, but cannot be bound where IPv6 is disabled, so only `--ipv6=on` uses it.
pub fn sidecar_metrics_addr(args: &ControllerArgs) -> String {
    match args.ipv6 {
        Ipv6Mode::On => format!("[::]:{}", args.metrics_port),
        Ipv6Mode::Auto | Ipv6Mode::Off => format!("0.0.0.0:{}", args.metrics_port),
    }
}

/// The proxy as a native sidecar: an init container with `restartPolicy: Always`, so it
/// starts before (and its startup probe gates) the Pod's own init and app containers. It runs
/// as `--proxy-uid` with NET_RAW only: the binary's file capability `cap_net_raw+ep` grants it
/// at exec, which `allowPrivilegeEscalation: false` (no_new_privs) would void.
pub fn sidecar(args: &ControllerArgs) -> Value {
    let port = args.metrics_port;
    let probe = |period: u32, failures: Option<u32>| {
        let mut p = json!({"httpGet": {"path": "/readyz", "port": port}, "periodSeconds": period});
        if let Some(f) = failures {
            p["failureThreshold"] = json!(f);
        }
        p
    };
    json!({
        "name": SIDECAR_NAME,
        "image": args.proxy_image,
        "imagePullPolicy": args.proxy_image_pull_policy.as_str(),
        "restartPolicy": "Always",
        "args": [
            "run",
            "--kubernetes",
            // The kubelet expands `$(VAR)` in args from the container's env (downward API).
            "--pod=$(POD_NAMESPACE)/$(POD_NAME)",
            format!("--inbound-port={}", args.capture.inbound_port),
            format!("--outbound-port={}", args.capture.outbound_port),
            format!("--mark={}", args.capture.mark),
            format!("--metrics-addr={}", sidecar_metrics_addr(args)),
            format!("--log-dir={}", args.log_dir),
        ],
        "env": [
            {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
            {"name": "POD_NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
            {"name": "RUST_LOG", "value": args.proxy_log_level}
        ],
        "ports": [{"name": "l7proxy-metrics", "containerPort": port, "protocol": "TCP"}],
        "readinessProbe": probe(5, None),
        "startupProbe": probe(1, Some(120)),
        "resources": args.proxy_resources,
        "securityContext": {
            "runAsUser": args.proxy_uid,
            "runAsGroup": args.proxy_uid,
            "runAsNonRoot": true,
            "privileged": false,
            "allowPrivilegeEscalation": true,
            "readOnlyRootFilesystem": true,
            "capabilities": {"drop": ["ALL"], "add": ["NET_RAW"]}
        },
        "volumeMounts": [
            {"name": VOLUME_LOGS, "mountPath": args.log_dir},
            {"name": VOLUME_TOKEN, "mountPath": SERVICE_ACCOUNT_PATH, "readOnly": true}
        ]
    })
}

/// The volumes both injected containers mount.
pub fn volumes() -> [Value; 3] {
    [
        json!({"name": VOLUME_TMP, "emptyDir": {"medium": "Memory", "sizeLimit": "1Mi"}}),
        json!({"name": VOLUME_LOGS, "emptyDir": {"sizeLimit": "256Mi"}}),
        json!({
            "name": VOLUME_TOKEN,
            "projected": {
                "defaultMode": 420,
                "sources": [
                    {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                    {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
                    {"downwardAPI": {"items": [{
                        "path": "namespace",
                        "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}
                    }]}}
                ]
            }
        }),
    ]
}

fn nonempty(list: &[String]) -> Vec<String> {
    list.iter()
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}
