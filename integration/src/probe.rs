//! One probe of a case: who connects to whom, with which real client, and what must happen.
//! Probes run the real tools inside the source namespace, bound to the source Pod's address.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;

use crate::clients::{Outcome, Verdict};
use crate::env::lab_bin;
use crate::error::{Error, Result};
use crate::lab::{self, Lab};
use crate::pods::{self, Endpoint, Family};

mod argv;

/// Which client makes the probe.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Tool {
    /// `curl` with `url` (one or several URLs on one connection).
    Curl,
    /// `lab-client tls`: rustls, post-quantum key share, hello-shaping options.
    Tls,
    /// `lab-client http`: requests on one connection, optionally pipelined.
    Http,
    /// `lab-client raw`: bytes to the echo server.
    Raw,
    /// `lab-client bulk`: download `bytes` and verify every byte.
    Bulk,
    /// `openssl s_client` (cannot bind: only from a primary endpoint).
    Openssl,
}

fn both() -> Vec<Family> {
    Family::BOTH.to_vec()
}

/// A probe as written in a case file.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Probe {
    pub name: String,
    /// Source endpoint: `client`, `admin`, `other`, `web`, `external`.
    pub from: String,
    /// Destination endpoint: `web` (ingress) or `external` (egress from web).
    pub to: String,
    #[serde(default = "both")]
    pub family: Vec<Family>,
    pub tool: Tool,
    /// Destination port; default by tool (80 http, 443 tls, 7 raw, 9000 bulk).
    #[serde(default)]
    pub port: Option<u16>,
    /// curl URLs (`http://foo.bar.com/api/v2/x`); the host goes into Host/SNI while the
    /// connection goes to `to`. `{target}` is replaced by the destination address.
    #[serde(default)]
    pub url: Vec<String>,
    #[serde(default)]
    pub method: Option<String>,
    #[serde(default)]
    pub sni: Option<String>,
    /// `"METHOD PATH HOST"` for tls/http tools.
    #[serde(default)]
    pub requests: Vec<String>,
    #[serde(default)]
    pub pipeline: bool,
    /// http tool: an `X-Pad` header of this many bytes in every request.
    #[serde(default)]
    pub pad_header: Option<usize>,
    /// Expected verdict in direct mode (no proxy) when it is not `allowed`, e.g. an idle
    /// connection that only the proxy would cut.
    #[serde(default)]
    pub direct: Option<Expect>,
    #[serde(default)]
    pub send: Option<String>,
    #[serde(default)]
    pub bytes: Option<u64>,
    /// bulk tool: send the bytes to the server instead of downloading them.
    #[serde(default)]
    pub upload: bool,
    #[serde(default)]
    pub split_segments: Option<usize>,
    #[serde(default)]
    pub pause_ms: Option<u64>,
    #[serde(default)]
    pub split_records: Option<usize>,
    #[serde(default)]
    pub min_hello: Option<usize>,
    #[serde(default)]
    pub tls12: bool,
    /// `allowed` or `reset` (or another [`Verdict`]), or a list of acceptable verdicts.
    pub expect: Expect,
    /// HTTP statuses that must have been received (e.g. `[200]` before a reset).
    #[serde(default)]
    pub statuses: Option<Vec<u16>>,
    /// EVE fields (dotted paths) one new event from this flow must carry.
    #[serde(default)]
    pub event: Option<BTreeMap<String, serde_yaml::Value>>,
    /// The real server must log a request from the source's own address.
    #[serde(default)]
    pub server_sees_client: bool,
    /// Nothing may reach the real server (a denial must not leak bytes; fail closed).
    #[serde(default)]
    pub server_sees_nothing: bool,
    /// This traffic is not captured (excluded port, the Pod's own address): the policy
    /// engine's verdict does not apply.
    #[serde(default)]
    pub bypass: bool,
    /// The outcome comes from a proxy limit (header size, classification timeout), not from
    /// the policy: the policy engine's verdict does not apply.
    #[serde(default)]
    pub limit: bool,
    /// Steps done once before the probe (manifest edits, stopping the proxy).
    #[serde(default)]
    pub before: Option<Step>,
    /// Retry the probe until it matches, for up to this long (live policy changes).
    #[serde(default)]
    pub within_ms: Option<u64>,
}

/// What to change before a probe.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    /// Write (or replace) manifest files in the proxy's manifests directory.
    #[serde(default)]
    pub write: Vec<ManifestFile>,
    /// Delete manifest files.
    #[serde(default)]
    pub remove: Vec<String>,
    /// Wait this long after the step (e.g. for a reload that must *not* change anything).
    #[serde(default)]
    pub settle_ms: Option<u64>,
    /// Stop the proxy (SIGTERM): the capture rules stay.
    #[serde(default)]
    pub stop_proxy: bool,
}

/// A manifest file written by a step.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManifestFile {
    pub name: String,
    pub content: String,
    /// The content is invalid on purpose (the policy engine's cross-check ignores it, as
    /// the proxy must: the last good policy stays in force).
    #[serde(default)]
    pub broken: bool,
}

/// Acceptable verdicts of a probe: one (`expect: reset`) or several
/// (`expect: [timeout, refused]`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Expect(pub Vec<Verdict>);

impl Expect {
    /// The first (main) verdict.
    pub fn main(&self) -> Verdict {
        self.0.first().copied().unwrap_or(Verdict::Allowed)
    }

    pub fn accepts(&self, v: Verdict) -> bool {
        self.0.contains(&v)
    }
}

impl<'de> Deserialize<'de> for Expect {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum OneOrMany {
            One(Verdict),
            Many(Vec<Verdict>),
        }
        Ok(match OneOrMany::deserialize(d)? {
            OneOrMany::One(v) => Expect(vec![v]),
            OneOrMany::Many(v) if !v.is_empty() => Expect(v),
            OneOrMany::Many(_) => return Err(serde::de::Error::custom("expect: empty list")),
        })
    }
}

impl Probe {
    pub fn src(&self) -> Result<Endpoint> {
        pods::endpoint(&self.from)
            .ok_or_else(|| Error::Other(format!("unknown endpoint {:?}", self.from)))
    }

    pub fn dst(&self) -> Result<Endpoint> {
        pods::endpoint(&self.to)
            .ok_or_else(|| Error::Other(format!("unknown endpoint {:?}", self.to)))
    }

    pub fn port(&self) -> u16 {
        self.port.unwrap_or(match self.tool {
            Tool::Curl => match self.url.first() {
                Some(u) if u.starts_with("https://") => lab::HTTPS_PORT,
                _ => lab::HTTP_PORT,
            },
            Tool::Http => lab::HTTP_PORT,
            Tool::Tls | Tool::Openssl => lab::HTTPS_PORT,
            Tool::Raw => lab::ECHO_PORT,
            Tool::Bulk => lab::BULK_PORT,
        })
    }

    /// The command a probe runs inside the source namespace: program and arguments
    /// (`curl ...`, `lab-client tls ...`, or `sh -c "... | openssl s_client ..."`).
    pub fn command_line(&self, family: Family) -> Result<(String, Vec<String>)> {
        let (src, dst) = (self.src()?, self.dst()?);
        Ok(match self.tool {
            Tool::Curl => ("curl".into(), argv::curl(self, &src, &dst, family)?),
            Tool::Openssl => {
                if !src.primary {
                    return Err(Error::Other(format!(
                        "openssl cannot bind: probe from a primary endpoint, not {}",
                        src.name
                    )));
                }
                ("sh".into(), argv::openssl(self, &dst, family))
            }
            _ => (
                "lab-client".into(),
                argv::lab_client(self, &src, &dst, family),
            ),
        })
    }

    /// Run the probe once, for one address family.
    pub fn run(&self, lab: &Lab, family: Family) -> Result<Outcome> {
        let src = self.src()?;
        let ns = lab.ns(src.host);
        let (program, args) = self.command_line(family)?;
        match self.tool {
            Tool::Curl => {
                let out = ns.exec(&program, &args)?;
                Ok(curl_outcome(out.status.code(), &out.stdout, &out.stderr))
            }
            Tool::Openssl => {
                let out = ns.exec(&program, &args)?;
                Ok(openssl_outcome(out.status.code(), &out.stdout, &out.stderr))
            }
            _ => {
                let out = ns.exec(&lab_bin("lab-client").display().to_string(), &args)?;
                serde_json::from_slice(&out.stdout).map_err(|e| {
                    Error::Other(format!(
                        "lab-client {args:?}: {e}: {}",
                        String::from_utf8_lossy(&out.stderr)
                    ))
                })
            }
        }
    }
}

/// Host and port of `scheme://host[:port]/...` (IPv6 hosts in brackets).
pub fn url_host_port(url: &str) -> Option<(String, u16)> {
    let (scheme, rest) = url.split_once("://")?;
    let default = if scheme == "https" { 443 } else { 80 };
    let authority = rest.split(['/', '?']).next()?;
    if let Some(v6) = authority.strip_prefix('[') {
        let (host, after) = v6.split_once(']')?;
        let port = after
            .strip_prefix(':')
            .map(|p| p.parse().ok())
            .unwrap_or(Some(default))?;
        return Some((format!("[{host}]"), port));
    }
    match authority.split_once(':') {
        Some((h, p)) => Some((h.to_string(), p.parse().ok()?)),
        None => Some((authority.to_string(), default)),
    }
}

/// Read curl's exit code, `%{http_code}` lines and error message as a policy outcome.
pub fn curl_outcome(code: Option<i32>, stdout: &[u8], stderr: &[u8]) -> Outcome {
    let statuses: Vec<u16> = String::from_utf8_lossy(stdout)
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .filter(|&s| s != 0)
        .collect();
    let err = String::from_utf8_lossy(stderr).trim().to_string();
    let result = match code {
        Some(0) => Verdict::Allowed,
        _ if err.contains("reset by peer") => Verdict::Reset,
        Some(28) => Verdict::Timeout,
        Some(7) if err.contains("refused") => Verdict::Refused,
        Some(52) => Verdict::Closed,
        _ => Verdict::Error,
    };
    let mut o = Outcome::new(result);
    o.statuses = statuses;
    // The error line (`curl: (56) ...`), not the verbose trace.
    o.detail = err
        .lines()
        .rev()
        .find(|l| l.starts_with("curl:"))
        .unwrap_or_default()
        .to_string();
    o
}

/// Read `openssl s_client -quiet` output (an HTTP response on stdout when allowed).
pub fn openssl_outcome(code: Option<i32>, stdout: &[u8], stderr: &[u8]) -> Outcome {
    let stdout = String::from_utf8_lossy(stdout);
    let stderr = String::from_utf8_lossy(stderr);
    let mut o = if stdout.starts_with("HTTP/1.1 ") {
        let mut o = Outcome::new(Verdict::Allowed);
        o.statuses = stdout
            .get(9..12)
            .and_then(|s| s.parse().ok())
            .into_iter()
            .collect();
        o
    } else if stderr.contains("errno=104") || stderr.contains("reset by peer") {
        Outcome::new(Verdict::Reset)
    } else if code == Some(124) {
        Outcome::new(Verdict::Timeout)
    } else {
        Outcome::new(Verdict::Error)
    };
    o.detail = stderr.lines().last().unwrap_or_default().to_string();
    o
}

/// Time the proxy gets to write a probe's event.
pub const EVENT_WAIT: Duration = Duration::from_secs(3);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_parts() {
        assert_eq!(
            url_host_port("http://foo.bar.com/api/v2/x"),
            Some(("foo.bar.com".into(), 80))
        );
        assert_eq!(
            url_host_port("https://foo.bar.com"),
            Some(("foo.bar.com".into(), 443))
        );
        assert_eq!(
            url_host_port("http://[fd77::10]:8080/x"),
            Some(("[fd77::10]".into(), 8080))
        );
        assert_eq!(
            url_host_port("http://10.77.0.10:81?q"),
            Some(("10.77.0.10".into(), 81))
        );
        assert_eq!(url_host_port("foo"), None);
    }

    #[test]
    fn curl_exit_codes_become_verdicts() {
        let o = curl_outcome(Some(0), b"200\n200\n", b"");
        assert_eq!((o.result, o.statuses), (Verdict::Allowed, vec![200, 200]));
        let o = curl_outcome(
            Some(56),
            b"200\n000\n",
            b"curl: (56) Recv failure: Connection reset by peer",
        );
        assert_eq!((o.result, o.statuses), (Verdict::Reset, vec![200]));
        assert_eq!(
            curl_outcome(Some(28), b"000", b"timeout").result,
            Verdict::Timeout
        );
        let reset_at_connect = b"* connect to 10.77.0.10 port 80 failed: Connection reset by peer\ncurl: (7) Failed to connect";
        assert_eq!(
            curl_outcome(Some(7), b"000", reset_at_connect).result,
            Verdict::Reset
        );
        let refused = b"* connect to 10.77.0.10 port 81 failed: Connection refused\ncurl: (7) Failed to connect";
        let o = curl_outcome(Some(7), b"000", refused);
        assert_eq!(
            (o.result, o.detail.as_str()),
            (Verdict::Refused, "curl: (7) Failed to connect")
        );
        assert_eq!(
            curl_outcome(Some(35), b"000", b"SSL_connect: Connection reset by peer").result,
            Verdict::Reset
        );
    }
}
