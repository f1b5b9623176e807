//! Cross-check of the cases against the policy engine alone: for each probe, ask
//! `l7proxy explain` what the policies decide for that connection and request, and compare
//! with the case's expectation. Needs no root and no network, so a wrong expectation (or a
//! policy-engine regression) shows up before any packet is sent.

use std::path::Path;
use std::process::Command;

use crate::case::Case;
use crate::clients::Verdict;
use crate::env::l7proxy_bin;
use crate::error::{Error, Result};
use crate::pods::{self, Family, Host};
use crate::probe::{Probe, Tool, url_host_port};

/// Write the lab objects (with the case's web labels) and the case's policies into `dir`.
pub fn write_manifests(dir: &Path, case: &Case) -> Result<()> {
    let objects = pods::objects_yaml(&case.web_labels).map_err(|e| Error::Other(e.to_string()))?;
    std::fs::write(dir.join("lab-objects.yaml"), objects)?;
    for (name, yaml) in case.manifests()? {
        std::fs::write(dir.join(name), yaml)?;
    }
    Ok(())
}

/// The verdict the policy engine gives for `probe`, or `None` when `explain` cannot express
/// the probe (traffic the capture does not see, a hello without SNI).
pub fn verdict(manifests: &Path, probe: &Probe, family: Family) -> Result<Option<Verdict>> {
    let (src, dst) = (probe.src()?, probe.dst()?);
    if src.host == dst.host {
        return Ok(None);
    }
    let mut base: Vec<String> = vec![
        "explain".into(),
        "--manifests".into(),
        manifests.display().to_string(),
    ];
    base.extend([
        "--pod".into(),
        "default/web".into(),
        "--port".into(),
        probe.port().to_string(),
    ]);
    base.extend(["--output".into(), "json".into()]);
    if dst.host == Host::Web {
        base.extend(["--from".into(), src.ip(family).to_string()]);
    } else {
        base.extend(["--to".into(), dst.ip(family).to_string()]);
    }
    // One explain per request; the connection is allowed only if every request is.
    let mut asks: Vec<Vec<String>> = Vec::new();
    match probe.tool {
        Tool::Curl => {
            let method = probe.method.clone().unwrap_or_else(|| "GET".into());
            for url in &probe.url {
                let url = url.replace("{target}", dst.v4);
                if url.starts_with("https://") {
                    let host = url_host_port(&url).map(|h| h.0).unwrap_or_default();
                    asks.push(vec!["--sni".into(), host]);
                } else {
                    asks.push(vec!["--http".into(), format!("{method} {url}")]);
                }
            }
        }
        Tool::Http => {
            for r in &probe.requests {
                let parts: Vec<&str> = r.split_whitespace().collect();
                if let [m, p, h] = parts[..] {
                    asks.push(vec![
                        "--http".into(),
                        format!("{m} {p}"),
                        "--host".into(),
                        h.into(),
                    ]);
                }
            }
        }
        Tool::Tls | Tool::Openssl => match &probe.sni {
            Some(sni) => asks.push(vec!["--sni".into(), sni.clone()]),
            None if probe.tool == Tool::Openssl => {
                asks.push(vec!["--sni".into(), "foo.bar.com".into()])
            }
            None => return Ok(None),
        },
        Tool::Raw | Tool::Bulk => asks.push(Vec::new()),
    }
    let mut result = Verdict::Allowed;
    for ask in asks {
        let out = Command::new(l7proxy_bin())
            .args(&base)
            .args(&ask)
            .output()?;
        let json: serde_json::Value = serde_json::from_slice(&out.stdout).map_err(|e| {
            Error::Other(format!(
                "l7proxy explain {ask:?}: {e}: {}",
                String::from_utf8_lossy(&out.stderr)
            ))
        })?;
        let v = match json.get("verdict").and_then(|v| v.as_str()) {
            Some("allow") => Verdict::Allowed,
            Some("deny") => Verdict::Reset,
            // An L7 rule and bytes that are neither HTTP nor TLS: denied.
            Some("depends-on-l7") if matches!(probe.tool, Tool::Raw | Tool::Bulk) => Verdict::Reset,
            other => {
                return Err(Error::Other(format!(
                    "unexpected explain verdict {other:?}: {json}"
                )));
            }
        };
        if v != Verdict::Allowed {
            result = v;
        }
    }
    Ok(Some(result))
}

/// Explain every probe of `case` (both families); returns report lines, or every mismatch.
pub fn check_case(case: &Case) -> Result<Vec<String>> {
    let dir = tempfile::Builder::new()
        .prefix("l7t-lab-explain-")
        .tempdir()?;
    write_manifests(dir.path(), case)?;
    let (mut lines, mut failures) = (Vec::new(), Vec::new());
    let mut proxy_stopped = false;
    for probe in &case.probes {
        if let Some(step) = &probe.before {
            // The proxy ignores a broken file and keeps its last good policy; so do we.
            for f in step.write.iter().filter(|f| !f.broken) {
                std::fs::write(dir.path().join(&f.name), &f.content)?;
            }
            for name in &step.remove {
                let _ = std::fs::remove_file(dir.path().join(name));
            }
            proxy_stopped |= step.stop_proxy;
        }
        for &family in &probe.family {
            let v = if probe.bypass || probe.limit || proxy_stopped {
                None
            } else {
                verdict(dir.path(), probe, family)?
            };
            let line = match v {
                None => format!("skip {} [{family:?}]: not decided by policy", probe.name),
                Some(v) if probe.expect.accepts(v) => {
                    format!("ok   {} [{family:?}] → {v:?}", probe.name)
                }
                Some(v) => {
                    let l = format!(
                        "FAIL {} [{family:?}]: expected {:?}, policy engine says {v:?}",
                        probe.name, probe.expect.0
                    );
                    failures.push(l.clone());
                    l
                }
            };
            lines.push(line);
        }
    }
    if failures.is_empty() {
        Ok(lines)
    } else {
        Err(Error::Other(format!(
            "case {}:\n  {}",
            case.name,
            failures.join("\n  ")
        )))
    }
}
