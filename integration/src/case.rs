//! Cases as data: a YAML file names the manifests (a spec policy file, or inline policies),
//! labels for the protected Pod, and probes with their expected outcome and events. The
//! runner builds a lab, starts the proxy, runs every probe for every address family and
//! reports all mismatches at once.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::Deserialize;

use crate::clients::{Outcome, Verdict};
use crate::error::{Error, Result};
use crate::eve;
use crate::lab::Lab;
use crate::pods::{Family, Host};
use crate::probe::{EVENT_WAIT, Expect, Probe, Step, Tool};

/// Where a policy manifest comes from.
#[derive(Clone, Debug, Deserialize)]
#[serde(untagged, deny_unknown_fields)]
pub enum PolicySource {
    /// A file of `integration/manifests/spec/` (the spec's examples, verbatim).
    Spec { spec: String },
    /// A file relative to the case file.
    File { file: String },
    /// YAML written in the case.
    Inline { inline: String },
}

/// A case file.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Case {
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub policies: Vec<PolicySource>,
    /// Labels added to the protected `web` Pod (besides `app: web`).
    #[serde(default)]
    pub web_labels: BTreeMap<String, String>,
    pub probes: Vec<Probe>,
    /// Extra flags for `l7proxy redirect install` (e.g. `--exclude-inbound-ports`).
    #[serde(default)]
    pub redirect_args: Vec<String>,
    /// Extra flags for `l7proxy run`.
    #[serde(default)]
    pub proxy_args: Vec<String>,
    #[serde(skip)]
    pub path: PathBuf,
}

/// How the runner treats the proxy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Capture + proxy: probes must match their expectations.
    Proxy,
    /// No capture, no proxy: every probe must reach its real server. Checks the lab, the
    /// servers and the clients independently of the product.
    Direct,
}

/// Directory of the case files.
pub fn cases_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("cases")
}

/// Directory of the spec's policies, verbatim.
pub fn spec_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("manifests/spec")
}

impl Case {
    pub fn load(path: &Path) -> Result<Case> {
        let text = std::fs::read_to_string(path)?;
        let mut case: Case = serde_yaml::from_str(&text)
            .map_err(|e| Error::Other(format!("{}: {e}", path.display())))?;
        case.path = path.to_path_buf();
        for p in &case.probes {
            p.src()?;
            p.dst()?;
        }
        Ok(case)
    }

    /// Every `*.yaml` of [`cases_dir`], sorted by name.
    pub fn load_all() -> Result<Vec<Case>> {
        let mut paths: Vec<PathBuf> = std::fs::read_dir(cases_dir())?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
            .collect();
        paths.sort();
        paths.iter().map(|p| Case::load(p)).collect()
    }

    /// The manifests as (file name, YAML) pairs.
    pub fn manifests(&self) -> Result<Vec<(String, String)>> {
        let base = self.path.parent().unwrap_or(Path::new("."));
        self.policies
            .iter()
            .enumerate()
            .map(|(i, src)| {
                Ok(match src {
                    PolicySource::Spec { spec } => (
                        spec.clone(),
                        std::fs::read_to_string(spec_dir().join(spec))?,
                    ),
                    PolicySource::File { file } => (
                        Path::new(file)
                            .file_name()
                            .map(|n| n.to_string_lossy().into_owned())
                            .unwrap_or(format!("policy-{i}.yaml")),
                        std::fs::read_to_string(base.join(file))?,
                    ),
                    PolicySource::Inline { inline } => (format!("inline-{i}.yaml"), inline.clone()),
                })
            })
            .collect()
    }
}

/// Take a step between probes: edit the proxy's manifests while it runs (live reload,
/// broken files) or stop the proxy (capture must then fail closed).
fn take_step(lab: &mut Lab, step: &Step, mode: Mode) -> Result<()> {
    for file in &step.write {
        lab.add_manifest(&file.name, &file.content)?;
    }
    for name in &step.remove {
        let path = lab.manifests_dir().join(name);
        if path.exists() {
            std::fs::remove_file(path)?;
        }
    }
    if step.stop_proxy && mode == Mode::Proxy {
        lab.stop_proxy();
    }
    if let Some(ms) = step.settle_ms {
        std::thread::sleep(Duration::from_millis(ms));
    }
    Ok(())
}

/// Build a lab for `case`, run its probes, and return one line per probe run; `Err` lists
/// every mismatch (with the proxy's log) so one failing probe does not hide the others.
pub fn run(case: &Case, mode: Mode, prefix: &str) -> Result<Vec<String>> {
    let mut lab = Lab::new(prefix)?;
    lab.set_web_labels(case.web_labels.clone())?;
    match case.manifests() {
        Ok(manifests) => {
            for (name, yaml) in manifests {
                lab.add_manifest(&name, &yaml)?;
            }
        }
        // Without a proxy the policies are never read; a missing file must not stop the
        // lab's own checks.
        Err(_) if mode == Mode::Direct => {}
        Err(e) => return Err(e),
    }
    if mode == Mode::Proxy {
        lab.start_proxy_with(&case.redirect_args, &case.proxy_args)?;
    }
    let mut lines = Vec::new();
    let mut failures = Vec::new();
    for probe in &case.probes {
        if let Some(step) = &probe.before {
            take_step(&mut lab, step, mode)?;
        }
        for &family in &probe.family {
            let ProbeReport { line, problems, .. } = run_probe_within(&lab, probe, family, mode)?;
            lines.push(line.clone());
            if !problems.is_empty() {
                failures.push(format!("{line}\n      {}", problems.join("\n      ")));
            }
        }
    }
    if failures.is_empty() {
        return Ok(lines);
    }
    Err(Error::Other(format!(
        "case {} ({mode:?}): {} of {} probe runs failed:\n  {}\n--- proxy log (tail) ---\n{}",
        case.name,
        failures.len(),
        lines.len(),
        failures.join("\n  "),
        tail(&lab.proxy_log(), 40)
    )))
}

/// What one probe run gave.
pub struct ProbeReport {
    /// One human-readable line (`ok`/`FAIL`, probe, family, endpoints, verdict, time).
    pub line: String,
    /// Mismatches with the case's expectations; empty when the probe passed.
    pub problems: Vec<String>,
    pub outcome: Outcome,
}

/// [`run_probe`], retried for up to `within_ms` until it matches (a live policy change
/// takes effect asynchronously); the proxy must still be running afterwards.
pub fn run_probe_within(
    lab: &Lab,
    probe: &Probe,
    family: Family,
    mode: Mode,
) -> Result<ProbeReport> {
    let deadline = Instant::now() + Duration::from_millis(probe.within_ms.unwrap_or(0));
    let mut report = run_probe(lab, probe, family, mode)?;
    while !report.problems.is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
        report = run_probe(lab, probe, family, mode)?;
    }
    if mode == Mode::Proxy && !lab.proxy_stopped() && !lab.proxy_running() {
        report
            .problems
            .push("the proxy is no longer running".into());
    }
    Ok(report)
}

/// Run one probe for one family and compare it with its expectations.
pub fn run_probe(lab: &Lab, probe: &Probe, family: Family, mode: Mode) -> Result<ProbeReport> {
    let (src, dst) = (probe.src()?, probe.dst()?);
    // The proxy writes events in batches a few milliseconds late: let the previous
    // probe's land first, or they would count as this one's.
    if mode == Mode::Proxy {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let events_before = lab.events().len();
    let server = if dst.host == Host::External {
        Host::External
    } else {
        Host::Web
    };
    let requests_before = lab.server_requests(server).len();
    let started = Instant::now();
    let outcome = probe.run(lab, family)?;
    let expect = if mode == Mode::Direct {
        probe
            .direct
            .clone()
            .unwrap_or(Expect(vec![Verdict::Allowed]))
    } else {
        probe.expect.clone()
    };
    let mut problems = check_outcome(probe, &outcome, &expect);
    let (src_ip, dst_ip) = (src.ip(family), dst.ip(family));
    if expect.main() == Verdict::Allowed && probe.server_sees_client {
        let seen = lab
            .server_requests(server)
            .into_iter()
            .skip(requests_before)
            .any(|r| r.client_ip == src_ip.to_string());
        if !seen {
            problems.push(format!("real server did not log a request from {src_ip}"));
        }
    }
    if mode == Mode::Proxy && probe.server_sees_nothing {
        let reached = lab
            .server_requests(server)
            .len()
            .saturating_sub(requests_before);
        if reached > 0 {
            problems.push(format!("{reached} request(s) reached the real server"));
        }
    }
    if mode == Mode::Proxy
        && let Some(want) = &probe.event
    {
        let found = wait_event(lab, events_before, |ev| {
            eve::is_flow(ev, src_ip, dst_ip, probe.port()) && eve::matches(ev, want)
        });
        if !found {
            let flow: Vec<String> = lab
                .events()
                .into_iter()
                .skip(events_before)
                .filter(|ev| eve::is_flow(ev, src_ip, dst_ip, probe.port()))
                .map(|e| e.to_string())
                .collect();
            problems.push(format!(
                "no event matching {want:?}; events of this flow: {flow:?}"
            ));
        }
    }
    let line = format!(
        "{:<4} {} [{:?} {}→{}:{}] → {:?} {:?} ({} ms){}",
        if problems.is_empty() { "ok" } else { "FAIL" },
        probe.name,
        family,
        src.name,
        dst.name,
        probe.port(),
        outcome.result,
        outcome.statuses,
        started.elapsed().as_millis(),
        if outcome.detail.is_empty() || outcome.result == Verdict::Allowed {
            String::new()
        } else {
            format!(" — {}", outcome.detail)
        }
    );
    Ok(ProbeReport {
        line,
        problems,
        outcome,
    })
}

fn check_outcome(probe: &Probe, outcome: &Outcome, expect: &Expect) -> Vec<String> {
    let mut problems = Vec::new();
    if !expect.accepts(outcome.result) {
        problems.push(format!("expected {:?}, got {:?}", expect.0, outcome.result));
    }
    let http = matches!(
        probe.tool,
        Tool::Curl | Tool::Http | Tool::Tls | Tool::Openssl
    );
    if expect.main() == Verdict::Allowed
        && outcome.result == Verdict::Allowed
        && http
        && (outcome.statuses.is_empty() || outcome.statuses.iter().any(|&s| s != 200))
    {
        problems.push(format!(
            "allowed means 200 from the real server, got statuses {:?}",
            outcome.statuses
        ));
    }
    if let Some(want) = &probe.statuses
        && expect.main() != Verdict::Allowed
        && &outcome.statuses != want
    {
        problems.push(format!(
            "expected statuses {want:?} before the {:?}, got {:?}",
            expect.main(),
            outcome.statuses
        ));
    }
    problems
}

fn wait_event(lab: &Lab, skip: usize, pred: impl Fn(&serde_json::Value) -> bool) -> bool {
    let seen = |evs: &[serde_json::Value]| evs.iter().skip(skip).any(&pred);
    seen(&lab.events_until(EVENT_WAIT, seen))
}

fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}
