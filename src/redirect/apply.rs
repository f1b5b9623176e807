//! Applies and removes the rendered rule set on the running system: `iptables-restore
//! --noflush` (one atomic commit per family) and `ip rule`/`ip route`.
//!
//! Install is all or nothing across the families: a step that fails (the IPv6 commit after
//! the IPv4 one, say) removes what every family has of ours before the error is returned,
//! so capture is never left on for one family and off for the other.

use std::io::Write as _;
use std::process::{Command, Stdio};

use serde_json::Value;

use super::config::{Config, Family};
use super::detect::{Tools, find_in_path};
use super::error::RedirectError;
use super::render::{self, Existing};

/// Runs one program. The seam between the installer's steps and the system, so that the
/// order of the steps and what a failed one leaves behind can be tested without root.
trait Runner {
    /// Runs `binary args...`, feeding `stdin`, and returns its stdout.
    fn run(
        &self,
        binary: &str,
        args: &[String],
        stdin: Option<&str>,
    ) -> Result<String, RedirectError>;
}

/// The running system: spawns the programs.
struct System;

impl Runner for System {
    fn run(
        &self,
        binary: &str,
        args: &[String],
        stdin: Option<&str>,
    ) -> Result<String, RedirectError> {
        run(binary, args, stdin)
    }
}

/// Runs `binary args...`, feeding `stdin`, and returns its stdout.
fn run(binary: &str, args: &[String], stdin: Option<&str>) -> Result<String, RedirectError> {
    let command = format!("{binary} {}", args.join(" ")).trim().to_owned();
    tracing::debug!(command = %command, "running");
    let mut child = Command::new(binary)
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| match source.kind() {
            std::io::ErrorKind::NotFound => RedirectError::MissingBinary {
                binary: binary.to_owned(),
                package: if binary == "ip" {
                    "iproute2"
                } else {
                    "iptables"
                },
            },
            std::io::ErrorKind::PermissionDenied => RedirectError::NotPermitted {
                command: command.clone(),
                stderr: source.to_string(),
            },
            _ => RedirectError::Spawn {
                command: command.clone(),
                source,
            },
        })?;
    if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
        pipe.write_all(input.as_bytes())
            .map_err(|source| RedirectError::Spawn {
                command: command.clone(),
                source,
            })?;
    }
    let out = child
        .wait_with_output()
        .map_err(|source| RedirectError::Spawn {
            command: command.clone(),
            source,
        })?;
    let stderr = String::from_utf8_lossy(&out.stderr).trim().to_owned();
    if out.status.success() {
        return Ok(String::from_utf8_lossy(&out.stdout).into_owned());
    }
    let lower = stderr.to_ascii_lowercase();
    if [
        "permission denied",
        "operation not permitted",
        "must be root",
    ]
    .iter()
    .any(|needle| lower.contains(needle))
    {
        return Err(RedirectError::NotPermitted { command, stderr });
    }
    Err(RedirectError::CommandFailed {
        command,
        status: out.status.to_string(),
        stderr,
    })
}

/// Our objects currently in the family's mangle table.
fn existing(runner: &dyn Runner, tools: &Tools, family: Family) -> Result<Existing, RedirectError> {
    let save = runner.run(
        &tools.save(family == Family::V6),
        &["-t".to_owned(), "mangle".to_owned()],
        None,
    )?;
    Ok(Existing::parse(&save))
}

fn restore(
    runner: &dyn Runner,
    tools: &Tools,
    family: Family,
    script: &str,
) -> Result<(), RedirectError> {
    let binary = tools.restore(family == Family::V6);
    tracing::debug!(family = %family, script = %script, "restoring");
    // --wait: iptables-legacy serialises on a host-wide lock file shared by every namespace.
    let args = ["--noflush", "--wait=10"].map(str::to_owned);
    runner.run(&binary, &args, Some(script)).map(drop)
}

/// `ip -j <family> rule show` entries that are our policy rule.
fn our_rule_count(
    runner: &dyn Runner,
    cfg: &Config,
    family: Family,
) -> Result<usize, RedirectError> {
    let args: Vec<String> = ["-j", family.ip_flag(), "rule", "show"]
        .map(str::to_owned)
        .to_vec();
    let out = runner.run("ip", &args, None)?;
    let rules = parse_json_list("ip -j rule show", &out)?;
    let mark = format!("{:#x}", cfg.route_mark);
    let mask = format!("{:#x}", cfg.route_mask);
    let table = cfg.route_table.to_string();
    Ok(rules
        .iter()
        .filter(|r| {
            r.get("priority").and_then(Value::as_u64) == Some(u64::from(cfg.route_pref))
                && r.get("fwmark").and_then(Value::as_str) == Some(mark.as_str())
                && r.get("fwmask").and_then(Value::as_str) == Some(mask.as_str())
                && r.get("table").and_then(Value::as_str) == Some(table.as_str())
        })
        .count())
}

/// Whether the routing table holds our `local default dev lo` route.
fn our_route_present(
    runner: &dyn Runner,
    cfg: &Config,
    family: Family,
) -> Result<bool, RedirectError> {
    let args: Vec<String> = [
        "-j",
        family.ip_flag(),
        "route",
        "show",
        "table",
        &cfg.route_table.to_string(),
    ]
    .map(str::to_owned)
    .to_vec();
    let out = runner.run("ip", &args, None)?;
    let routes = parse_json_list("ip -j route show", &out)?;
    Ok(routes.iter().any(|r| {
        r.get("type").and_then(Value::as_str) == Some("local")
            && r.get("dst").and_then(Value::as_str) == Some("default")
            && r.get("dev").and_then(Value::as_str) == Some("lo")
    }))
}

fn parse_json_list(command: &str, out: &str) -> Result<Vec<Value>, RedirectError> {
    if out.trim().is_empty() {
        return Ok(Vec::new());
    }
    match serde_json::from_str::<Value>(out) {
        Ok(Value::Array(items)) => Ok(items),
        Ok(other) => Err(RedirectError::UnexpectedOutput {
            command: command.to_owned(),
            reason: format!("expected a JSON array, got {other}"),
        }),
        Err(err) => Err(RedirectError::UnexpectedOutput {
            command: command.to_owned(),
            reason: err.to_string(),
        }),
    }
}

/// Fails before changing anything when a needed program is missing.
fn preflight(tools: &Tools, families: &[Family]) -> Result<(), RedirectError> {
    let mut needed = vec!["ip".to_owned()];
    for &family in families {
        let v6 = family == Family::V6;
        needed.extend([tools.restore(v6), tools.save(v6)]);
    }
    match needed.into_iter().find(|b| find_in_path(b).is_none()) {
        Some(binary) => Err(RedirectError::MissingBinary {
            package: if binary == "ip" {
                "iproute2"
            } else {
                "iptables"
            },
            binary,
        }),
        None => Ok(()),
    }
}

/// Installs routing first (so marked packets never leak out of eth0), then each family's
/// chains in one `iptables-restore --noflush` commit. Safe to run again. All or nothing:
/// when a step fails, everything of ours is removed again and that step's error returned.
pub fn install(cfg: &Config, tools: &Tools, families: &[Family]) -> Result<(), RedirectError> {
    preflight(tools, families)?;
    install_with(&System, cfg, tools, families)
}

/// [`install`] over `runner`, after the preflight. A failed step rolls back every family,
/// also one that was in place before this run: the init container then fails and the Pod
/// does not start, which is safe, where capture for one family only would let the other
/// family's traffic past the proxy. The failed step's error is returned; what the rollback
/// could not remove is logged.
fn install_with(
    runner: &dyn Runner,
    cfg: &Config,
    tools: &Tools,
    families: &[Family],
) -> Result<(), RedirectError> {
    let Err(error) = add(runner, cfg, tools, families) else {
        return Ok(());
    };
    tracing::warn!(error = %error, "capture install failed; removing the rules of every family");
    let _ = remove(runner, cfg, tools, families, &mut |step| {
        tracing::warn!(error = %step, "rollback step failed");
        Ok(())
    });
    Err(error)
}

fn add(
    runner: &dyn Runner,
    cfg: &Config,
    tools: &Tools,
    families: &[Family],
) -> Result<(), RedirectError> {
    for &family in families {
        if our_rule_count(runner, cfg, family)? == 0 {
            runner.run("ip", &render::rule_args(cfg, family, "add"), None)?;
        }
        runner.run("ip", &render::route_args(cfg, family, "replace"), None)?;
    }
    for &family in families {
        let current = existing(runner, tools, family)?;
        restore(
            runner,
            tools,
            family,
            &render::install_script(cfg, family, &current),
        )?;
        tracing::info!(
            family = %family,
            backend = %tools.backend,
            inbound_port = cfg.inbound_port,
            outbound_port = cfg.outbound_port,
            "capture rules installed"
        );
    }
    Ok(())
}

/// Removes the jumps, chains, policy rule and route install added, in that order (capture
/// stops before routing goes away). Absent pieces are skipped, so it is safe to run again.
pub fn uninstall(cfg: &Config, tools: &Tools, families: &[Family]) -> Result<(), RedirectError> {
    preflight(tools, families)?;
    remove(&System, cfg, tools, families, &mut Err)
}

/// What [`uninstall`] and the rollback of [`install_with`] share. `failed` decides what a
/// failed step does: end the removal with its error (uninstall) or log it and go on to the
/// next step (rollback, which removes as much as it can).
fn remove(
    runner: &dyn Runner,
    cfg: &Config,
    tools: &Tools,
    families: &[Family],
    failed: &mut dyn FnMut(RedirectError) -> Result<(), RedirectError>,
) -> Result<(), RedirectError> {
    for &family in families {
        existing(runner, tools, family)
            .and_then(|current| match render::uninstall_script(&current) {
                Some(script) => restore(runner, tools, family, &script),
                None => Ok(()),
            })
            .or_else(&mut *failed)?;
    }
    for &family in families {
        our_rule_count(runner, cfg, family)
            .and_then(|rules| {
                (0..rules).try_for_each(|_| {
                    runner
                        .run("ip", &render::rule_args(cfg, family, "del"), None)
                        .map(drop)
                })
            })
            .or_else(&mut *failed)?;
        our_route_present(runner, cfg, family)
            .and_then(|present| {
                if present {
                    runner
                        .run("ip", &render::route_args(cfg, family, "del"), None)
                        .map(drop)
                } else {
                    Ok(())
                }
            })
            .or_else(&mut *failed)?;
        tracing::info!(family = %family, "capture rules removed");
    }
    Ok(())
}

#[cfg(test)]
mod tests;
