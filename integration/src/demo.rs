//! The guided demo (`lab-demo`, README command 1): for each of the spec's example policies,
//! build the lab, start the proxy with that policy, run real clients that are allowed and
//! denied, and show the events the proxy wrote. Everything is torn down after each policy.

use std::time::Duration;

use crate::case::{self, Case, Mode, ProbeReport};
use crate::clients::Verdict;
use crate::error::Result;
use crate::eve;
use crate::lab::Lab;
use crate::pods::{self, Family};
use crate::probe::{Probe, Tool};

const PREFIX: &str = "l7t-demo";

/// Run the demo on the spec cases (files `1-*.yaml` .. `7-*.yaml`); true when every probe
/// behaved as its policy says.
pub fn run() -> Result<bool> {
    intro();
    let cases: Vec<Case> = Case::load_all()?
        .into_iter()
        .filter(is_spec_example)
        .collect();
    let (mut ok, mut total) = (0usize, 0usize);
    for (i, case) in cases.iter().enumerate() {
        let (o, t) = demo_case(case, i + 1, cases.len())?;
        ok += o;
        total += t;
    }
    println!("\n{ok} of {total} requests behaved as the policies say.");
    Ok(ok == total)
}

/// A case that is exactly one of the spec's examples: its only manifest is the spec file it
/// is named after.
fn is_spec_example(c: &Case) -> bool {
    matches!(&c.policies[..], [case::PolicySource::Spec { spec }] if spec.strip_suffix(".yaml") == Some(c.name.as_str()))
}

fn intro() {
    println!("l7proxy demo: Layer 7 NetworkPolicy enforced on real connections\n");
    println!("The lab is a few Linux network namespaces on one virtual switch:");
    for ep in pods::endpoints() {
        let labels = match &ep.labels {
            Some(l) if l.is_empty() => "Pod, no labels".to_string(),
            Some(l) => format!(
                "Pod, labels {}",
                l.iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join(",")
            ),
            None => "host outside the cluster".to_string(),
        };
        println!("  {:<9} {:<12} {:<10} {labels}", ep.name, ep.v4, ep.v6);
    }
    println!("`web` is the protected Pod: `l7proxy redirect install` captures its inbound and");
    println!(
        "outbound TCP, and `l7proxy run` enforces the policies. `web` and `external` run real"
    );
    println!(
        "HTTP (80), HTTPS (443) and echo (7, 53) servers. Allowed requests get 200 from the real"
    );
    println!("server; denied connections are reset. IPv6 is covered by the test suite.");
}

fn demo_case(case: &Case, n: usize, of: usize) -> Result<(usize, usize)> {
    println!("\n━━ Policy {n}/{of}: {} ━━", case.name);
    println!("{}", case.description.trim());
    let mut lab = Lab::new(PREFIX)?;
    lab.set_web_labels(case.web_labels.clone())?;
    for (name, yaml) in case.manifests()? {
        println!("  manifest {name}:");
        for line in yaml.lines().filter(|l| !l.trim().is_empty()) {
            println!("    │ {line}");
        }
        lab.add_manifest(&name, &yaml)?;
    }
    if !case.web_labels.is_empty() {
        let l: Vec<String> = case
            .web_labels
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        println!("  (Pod web also carries {})", l.join(","));
    }
    lab.start_proxy()?;
    println!(
        "  proxy running in web: l7proxy run --manifests <dir> --pod default/web --log-dir <dir>\n"
    );
    let (mut ok, mut total) = (0, 0);
    for probe in case
        .probes
        .iter()
        .filter(|p| p.family.contains(&Family::V4))
    {
        total += 1;
        let before = lab.events().len();
        let report = case::run_probe(&lab, probe, Family::V4, Mode::Proxy)?;
        let outcome_line = describe(probe, &report);
        if report.problems.is_empty() {
            ok += 1;
        }
        println!("  {}", headline(probe)?);
        println!("      {outcome_line}");
        std::thread::sleep(Duration::from_millis(150));
        let (src, dst) = (probe.src()?, probe.dst()?);
        for ev in lab
            .events()
            .into_iter()
            .skip(before)
            .filter(|ev| eve::is_flow(ev, src.ip(Family::V4), dst.ip(Family::V4), probe.port()))
        {
            println!("      event: {}", shorten(ev));
        }
    }
    Ok((ok, total))
}

/// `client 10.77.0.21 → web 10.77.0.10:80  curl -X POST http://foo.bar.com/x`
fn headline(p: &Probe) -> Result<String> {
    let (src, dst) = (p.src()?, p.dst()?);
    let what = match p.tool {
        Tool::Curl => {
            let mut s = "curl".to_string();
            if let Some(m) = &p.method {
                s.push_str(&format!(" -X {m}"));
            }
            for u in &p.url {
                s.push(' ');
                s.push_str(&u.replace("{target}", dst.v4));
            }
            s
        }
        Tool::Openssl => format!(
            "openssl s_client -servername {}",
            p.sni.as_deref().unwrap_or("")
        ),
        _ => {
            let (_, args) = p.command_line(Family::V4)?;
            let skip = ["--connect", "--bind", "--timeout-ms"];
            let mut shown = vec!["lab-client".to_string()];
            let mut it = args.iter();
            while let Some(a) = it.next() {
                if skip.contains(&a.as_str()) {
                    it.next();
                } else if a.contains(' ') {
                    shown.push(format!("{a:?}"));
                } else {
                    shown.push(a.clone());
                }
            }
            shown.join(" ")
        }
    };
    Ok(format!(
        "{} {} → {} {}:{}   $ {what}",
        src.name,
        src.v4,
        dst.name,
        dst.v4,
        p.port()
    ))
}

fn describe(p: &Probe, report: &ProbeReport) -> String {
    let o = &report.outcome;
    let got = match o.result {
        Verdict::Allowed if o.statuses.is_empty() => {
            "allowed (the real server answered)".to_string()
        }
        Verdict::Allowed => format!(
            "allowed: HTTP {} from the real server",
            o.statuses
                .iter()
                .map(u16::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Verdict::Reset if o.statuses.is_empty() => "denied: connection reset".to_string(),
        Verdict::Reset => format!(
            "denied: connection reset after HTTP {}",
            o.statuses
                .iter()
                .map(u16::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
        other => format!("{other:?}").to_lowercase(),
    };
    if report.problems.is_empty() {
        format!("✔ {got}   ({})", p.name)
    } else {
        format!("✘ {got}, but {}   ({})", report.problems.join("; "), p.name)
    }
}

/// The event line as written, except the synthesized `packet` (base64 of the denied bytes),
/// which is replaced by its length to keep the demo readable.
fn shorten(ev: serde_json::Value) -> serde_json::Value {
    let mut ev = ev;
    if let Some(obj) = ev.as_object_mut()
        && let Some(serde_json::Value::String(p)) = obj.get("packet")
    {
        let note = format!("<{} base64 chars: the denied bytes as a packet>", p.len());
        obj.insert("packet".into(), serde_json::Value::String(note));
    }
    ev
}
