//! Command-line vocabulary shared by the subcommands.
//!
//! The capture contract: `redirect` writes rules that hand the Pod's traffic to the
//! proxy's ports and let the proxy's own marked sockets (and its uid) through, `run`
//! listens on those ports and marks its sockets, and `controller` injects both with the
//! same values. Their defaults are spelled once, here, and the flags they share are one
//! [`CaptureArgs`]. Also the values several commands parse: the protected Pod
//! ([`PodRef`]), durations and port ranges.

use std::fmt;
use std::num::NonZeroU32;
use std::ops::RangeInclusive;
use std::str::FromStr;
use std::time::Duration;

/// Port of the proxy's inbound (ingress) TPROXY listener.
pub const INBOUND_PORT: u16 = 15006;
/// Port of the proxy's outbound (egress) TPROXY listener.
pub const OUTBOUND_PORT: u16 = 15001;
/// Port of the proxy's admin endpoint (`/metrics`, `/healthz`, `/readyz`).
pub const METRICS_PORT: u16 = 15020;
/// `SO_MARK` of the proxy's sockets: the capture rules let packets carrying it through.
pub const PROXY_MARK: Mark = Mark(NonZeroU32::new(0x539).unwrap());
/// UID (and GID) the proxy runs as: never captured, a backstop for an unmarked socket.
pub const PROXY_UID: u32 = 1337;
/// Directory of the EVE and audit logs.
pub const LOG_DIR: &str = "/var/log/l7proxy";

/// A command-line value that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("{0:?} is not a 32-bit mark (hex 0x539 or decimal 1337)")]
    Mark(String),
    /// Unmarked is what the capture rules capture: the proxy's own connections would be
    /// sent back into the proxy.
    #[error(
        "mark 0 means unmarked: the proxy's own traffic would be captured again (use e.g. 0x539)"
    )]
    ZeroMark,
    #[error("invalid pod {0:?}: expected NAMESPACE/NAME")]
    Pod(String),
    #[error("invalid duration {0:?} (examples: 5s, 250ms, 2m)")]
    Duration(String),
    #[error("invalid duration unit in {0:?} (use ms, s, m or h)")]
    DurationUnit(String),
    #[error("invalid port range {0:?} (example: 61000-65535)")]
    PortRange(String),
    #[error("the protected Pod is unknown: pass --pod NS/NAME or set POD_NAMESPACE and POD_NAME")]
    NoPod,
}

/// The flags `run`, `redirect` and `controller` share: where the proxy listens and how
/// its sockets are recognized.
#[derive(Debug, Clone, PartialEq, Eq, clap::Args)]
pub struct CaptureArgs {
    /// Port of the proxy's inbound (ingress) TPROXY listener, on 127.0.0.1 and ::1.
    #[arg(long, default_value_t = INBOUND_PORT)]
    pub inbound_port: u16,
    /// Port of the proxy's outbound (egress) TPROXY listener, on 127.0.0.1 and ::1.
    #[arg(long, default_value_t = OUTBOUND_PORT)]
    pub outbound_port: u16,
    /// SO_MARK on every proxy socket (hex 0x539 or decimal, not 0); traffic carrying it is
    /// never captured.
    #[arg(long, default_value_t = PROXY_MARK)]
    pub mark: Mark,
}

/// A socket mark the capture rules can tell apart from unmarked traffic: never 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Mark(NonZeroU32);

impl Mark {
    /// `None` for 0.
    pub const fn new(mark: u32) -> Option<Mark> {
        match NonZeroU32::new(mark) {
            Some(m) => Some(Mark(m)),
            None => None,
        }
    }

    /// The value `SO_MARK` and iptables' `--mark` take.
    pub const fn get(self) -> u32 {
        self.0.get()
    }
}

/// Hex (`0x539`) or decimal (`1337`).
impl FromStr for Mark {
    type Err = Error;

    fn from_str(s: &str) -> Result<Mark, Error> {
        let s = s.trim();
        let parsed = match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
            Some(hex) => u32::from_str_radix(hex, 16),
            None => s.parse::<u32>(),
        };
        let mark = parsed.map_err(|_| Error::Mark(s.to_owned()))?;
        Mark::new(mark).ok_or(Error::ZeroMark)
    }
}

/// As the chart and the injected flags spell it: `0x539`.
impl fmt::Display for Mark {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#x}", self.get())
    }
}

/// A Pod named on the command line, `NAMESPACE/NAME`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PodRef {
    pub namespace: String,
    pub name: String,
}

impl PodRef {
    /// `--pod` when given, else the downward API's `POD_NAMESPACE` and `POD_NAME` (as the
    /// injected sidecar gets them).
    pub fn or_from_env(pod: Option<PodRef>) -> Result<PodRef, Error> {
        if let Some(pod) = pod {
            return Ok(pod);
        }
        match (std::env::var("POD_NAMESPACE"), std::env::var("POD_NAME")) {
            (Ok(namespace), Ok(name)) if !namespace.is_empty() && !name.is_empty() => {
                Ok(PodRef { namespace, name })
            }
            _ => Err(Error::NoPod),
        }
    }
}

/// Exactly two non-empty parts: `a/b/c` is refused, not read as `a` and `b/c`.
impl FromStr for PodRef {
    type Err = Error;

    fn from_str(s: &str) -> Result<PodRef, Error> {
        match s.split_once('/') {
            Some((ns, name)) if !ns.is_empty() && !name.is_empty() && !name.contains('/') => {
                Ok(PodRef {
                    namespace: ns.to_owned(),
                    name: name.to_owned(),
                })
            }
            _ => Err(Error::Pod(s.to_owned())),
        }
    }
}

impl fmt::Display for PodRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

/// Parse `5s`, `250ms`, `2m`, `1h` or a bare number of seconds.
pub fn parse_duration(s: &str) -> Result<Duration, Error> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num.parse().map_err(|_| Error::Duration(s.to_owned()))?;
    match unit {
        "" | "s" => Ok(Duration::from_secs(n)),
        "ms" => Ok(Duration::from_millis(n)),
        "m" => Ok(Duration::from_secs(n * 60)),
        "h" => Ok(Duration::from_secs(n * 3600)),
        _ => Err(Error::DurationUnit(s.to_owned())),
    }
}

/// Parse a port range `LO-HI` (LO at least 1).
pub fn parse_port_range(s: &str) -> Result<RangeInclusive<u16>, Error> {
    let err = || Error::PortRange(s.to_owned());
    let (lo, hi) = s.split_once('-').ok_or_else(err)?;
    let lo: u16 = lo.trim().parse().map_err(|_| err())?;
    let hi: u16 = hi.trim().parse().map_err(|_| err())?;
    if lo == 0 || lo > hi {
        return Err(err());
    }
    Ok(lo..=hi)
}

#[cfg(test)]
mod tests;
