//! The HTTP/2 step: `h2load` (Debian's nghttp2-client) with prior knowledge from the client
//! namespace on the load CPU, many streams per connection. Streams per second come from its
//! summary; the p99 from its per-request log (`--log-file`), since h2load prints only
//! min/max/mean of the request times.

use std::time::Duration;

use super::load::percentile;
use super::topo::Topology;
use crate::error::{Error, Result};

/// What one h2load run measured.
#[derive(Clone, Debug, Default)]
pub struct H2Result {
    pub streams_per_sec: f64,
    pub succeeded: u64,
    /// Streams that did not end in a 2xx (failed, errored, timed out, or another status).
    pub failed: u64,
    pub p99_us: f64,
}

/// `h2load -c conns -m streams -D duration url`, its log in `log`.
pub fn h2load(
    topo: &Topology,
    url: &str,
    conns: usize,
    streams: usize,
    duration: Duration,
) -> Result<H2Result> {
    let log = topo.path("h2load.log");
    let _ = std::fs::remove_file(&log);
    let args: Vec<String> = vec![
        "-c".into(),
        topo.cpus.load.to_string(),
        "h2load".into(),
        format!("-c{conns}"),
        format!("-m{streams}"),
        format!("-D{}", duration.as_secs().max(1)),
        format!("--log-file={}", log.display()),
        url.into(),
    ];
    let out = topo.client.exec("taskset", &args)?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    if !out.status.success() {
        return Err(Error::Other(format!(
            "h2load failed: {text}{}",
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    let mut r = parse_summary(&text)
        .ok_or_else(|| Error::Other(format!("cannot read h2load output:\n{text}")))?;
    let mut times: Vec<f64> = std::fs::read_to_string(&log)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split('\t').nth(2)?.trim().parse().ok())
        .collect();
    times.sort_by(f64::total_cmp);
    r.p99_us = percentile(&times, 0.99);
    Ok(r)
}

/// Streams/s from `finished in 3.00s, 41234.33 req/s, ...`, counts from `requests: ...` and
/// `status codes: ...`.
fn parse_summary(text: &str) -> Option<H2Result> {
    let mut r = H2Result::default();
    let mut seen = false;
    let number = |field: &str| field.split_whitespace().next()?.parse::<u64>().ok();
    for line in text.lines().map(str::trim) {
        if let Some(rest) = line.strip_prefix("finished in ") {
            let rps = rest.split(", ").nth(1)?.strip_suffix(" req/s")?;
            r.streams_per_sec = rps.parse().ok()?;
            seen = true;
        } else if let Some(rest) = line.strip_prefix("requests: ") {
            for field in rest.split(", ") {
                if field.ends_with("succeeded") {
                    r.succeeded = number(field)?;
                } else if ["failed", "errored", "timeout"]
                    .iter()
                    .any(|w| field.ends_with(w))
                {
                    r.failed += number(field)?;
                }
            }
        }
    }
    seen.then_some(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_h2loads_summary() {
        let text = "starting benchmark...\n\
            finished in 3.00s, 41234.33 req/s, 45.12MB/s\n\
            requests: 123703 total, 124023 started, 123703 done, 123700 succeeded, 3 failed, 0 errored, 1 timeout\n\
            status codes: 123700 2xx, 0 3xx, 3 4xx, 0 5xx\n";
        let r = parse_summary(text).unwrap();
        assert_eq!(r.streams_per_sec, 41234.33);
        assert_eq!((r.succeeded, r.failed), (123700, 4));
        assert!(parse_summary("no summary").is_none());
    }
}
