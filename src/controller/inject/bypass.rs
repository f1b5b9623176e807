//! Containers that could walk around the capture rules.
//!
//! The rules let two kinds of egress through uncaptured, so the proxy's own upstream
//! connections are not captured again: packets of the proxy's uid and packets carrying the
//! proxy's `SO_MARK`. An application container running as that uid, or able to set that
//! mark, would have its egress never enforced; one with `CAP_NET_ADMIN` can also rewrite
//! the Pod's iptables rules outright. Such a Pod is refused rather than injected: a
//! sidecar that looks in place but does not enforce is worse than an error the operator
//! sees (in `kubectl` or the ReplicaSet's events). `CAP_NET_RAW`, which lets a root
//! process set `SO_MARK` on Linux 5.17 and later, is in the container runtimes' default
//! set, so refusing it would refuse most Pods: it is a warning.

use serde_json::Value;

use super::InjectError;
use crate::controller::ControllerArgs;

/// What a container could do about the capture rules.
enum Finding {
    /// Refuse the Pod.
    Refuse(String),
    /// Admit it, and say so in the admission response.
    Warn(String),
}

/// The Pod's containers (init and regular) checked against the proxy's uid and mark.
/// `Err` for the first container that certainly bypasses; warnings for those that might.
pub(super) fn check(args: &ControllerArgs, spec: &Value) -> Result<Vec<String>, InjectError> {
    let pod_sc = spec.get("securityContext");
    let mut warnings = Vec::new();
    for kind in ["initContainers", "containers"] {
        let Some(list) = spec.get(kind).and_then(Value::as_array) else {
            continue;
        };
        for c in list {
            let name = c.get("name").and_then(Value::as_str).unwrap_or("(unnamed)");
            for finding in container(args, pod_sc, c) {
                match finding {
                    Finding::Refuse(why) => {
                        return Err(InjectError::Bypass {
                            container: name.to_owned(),
                            why,
                            opt_out: args.opt_out_key.clone(),
                        });
                    }
                    Finding::Warn(why) => {
                        warnings.push(format!("l7proxy: container {name:?} {why}"))
                    }
                }
            }
        }
    }
    Ok(warnings)
}

fn container(args: &ControllerArgs, pod_sc: Option<&Value>, c: &Value) -> Vec<Finding> {
    let sc = c.get("securityContext");
    // A container's own setting overrides the Pod's, as the kubelet applies them.
    let field = |key: &str| {
        sc.and_then(|s| s.get(key))
            .filter(|v| !v.is_null())
            .or_else(|| pod_sc.and_then(|s| s.get(key)))
    };
    let uid = field("runAsUser").and_then(Value::as_u64);
    let mut out = Vec::new();
    if uid == Some(u64::from(args.proxy_uid)) {
        out.push(Finding::Refuse(format!(
            "runs as uid {}, the proxy's uid, whose egress is never captured",
            args.proxy_uid
        )));
    }
    let privileged = sc
        .and_then(|s| s.get("privileged"))
        .and_then(Value::as_bool)
        == Some(true);
    if privileged {
        out.push(Finding::Refuse(
            "is privileged: it could change the capture rules or set the proxy's mark".into(),
        ));
    }
    let caps = |list: &str| -> Vec<String> {
        sc.and_then(|s| s.get("capabilities"))
            .and_then(|c| c.get(list))
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(|s| {
                        let s = s.to_ascii_uppercase();
                        s.strip_prefix("CAP_").map(str::to_owned).unwrap_or(s)
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    let (add, drop) = (caps("add"), caps("drop"));
    let mark = args.capture.mark.to_string();
    if let Some(cap) = add.iter().find(|c| *c == "NET_ADMIN" || *c == "ALL") {
        out.push(Finding::Refuse(format!(
            "adds {cap}: it could change the capture rules or set the proxy's mark {mark}"
        )));
    }
    let dropped = |cap: &str| drop.iter().any(|c| c == cap || c == "ALL");
    let maybe_root =
        uid.is_none_or(|u| u == 0) && field("runAsNonRoot").and_then(Value::as_bool) != Some(true);
    let has_raw = add.iter().any(|c| c == "NET_RAW") || !dropped("NET_RAW");
    if !privileged && maybe_root && has_raw {
        out.push(Finding::Warn(format!(
            "may run as root with CAP_NET_RAW (added, or the container runtime's default): on \
             Linux 5.17 and later it can set SO_MARK {mark} and bypass egress enforcement; \
             drop NET_RAW or run as non-root"
        )));
    }
    out
}

#[cfg(test)]
mod tests;
