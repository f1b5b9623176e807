//! Runtime settings of the data path, derived from the command line.

use std::net::SocketAddr;
use std::ops::RangeInclusive;
use std::time::Duration;

use crate::proxy::relay::RelayMode;

/// Everything a connection task needs to know about limits and socket options.
#[derive(Clone, Debug)]
pub struct Config {
    /// `SO_MARK` on every proxy socket (0: unset, for unprivileged tests).
    pub mark: u32,
    /// Listeners and client-IP-preserving upstreams are transparent.
    pub transparent: bool,
    /// Inbound upstream connections use the client's IP as source.
    pub preserve_client_ip: bool,
    /// Source ports for client-IP-preserving upstreams; outside the range clients use
    /// so an upstream 4-tuple never equals a client's.
    pub upstream_ports: RangeInclusive<u16>,
    /// Total time to read the first request head or ClientHello.
    pub classify_timeout: Duration,
    /// A connection with no bytes moving for this long is closed.
    pub idle_timeout: Duration,
    pub connect_timeout: Duration,
    /// Largest request/response head or ClientHello read before deciding.
    pub max_head_bytes: usize,
    pub max_connections: usize,
    pub relay: RelayMode,
    /// Let non-empty bodies on GET and HEAD requests through (refused by default: a
    /// server that ignores them reads the body as a second, unchecked request).
    pub allow_get_body: bool,
    /// Which EVE events are emitted.
    pub events: crate::events::Level,
    /// The proxy's own listeners; a connection whose original destination is one of
    /// them would loop.
    pub listeners: Vec<SocketAddr>,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            mark: 0,
            transparent: false,
            preserve_client_ip: false,
            upstream_ports: 61000..=65535,
            classify_timeout: Duration::from_secs(5),
            idle_timeout: Duration::from_secs(3600),
            connect_timeout: Duration::from_secs(10),
            max_head_bytes: 64 * 1024,
            max_connections: 32768,
            relay: RelayMode::Copy,
            events: crate::events::Level::All,
            allow_get_body: false,
            listeners: Vec::new(),
        }
    }
}

impl Config {
    /// Would relaying to `dst` connect back to the proxy itself?
    pub fn is_own_listener(&self, dst: SocketAddr) -> bool {
        self.listeners.iter().any(|l| {
            l.port() == dst.port()
                && (l.ip() == dst.ip() || dst.ip().is_loopback() || dst.ip().is_unspecified())
        })
    }
}

/// Parse `5s`, `250ms`, `2m`, `1h` or a bare number of seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("invalid duration {s:?} (examples: 5s, 250ms, 2m)"))?;
    match unit {
        "" | "s" => Ok(Duration::from_secs(n)),
        "ms" => Ok(Duration::from_millis(n)),
        "m" => Ok(Duration::from_secs(n * 60)),
        "h" => Ok(Duration::from_secs(n * 3600)),
        _ => Err(format!(
            "invalid duration unit in {s:?} (use ms, s, m or h)"
        )),
    }
}

/// Parse a mark as hex (`0x539`) or decimal.
pub fn parse_mark(s: &str) -> Result<u32, String> {
    let r = match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(hex) => u32::from_str_radix(hex, 16),
        None => s.parse(),
    };
    r.map_err(|_| format!("invalid mark {s:?} (examples: 0x539, 1337)"))
}

/// Parse a port range `LO-HI`.
pub fn parse_port_range(s: &str) -> Result<RangeInclusive<u16>, String> {
    let err = || format!("invalid port range {s:?} (example: 61000-65535)");
    let (lo, hi) = s.split_once('-').ok_or_else(err)?;
    let lo: u16 = lo.trim().parse().map_err(|_| err())?;
    let hi: u16 = hi.trim().parse().map_err(|_| err())?;
    if lo == 0 || lo > hi {
        return Err(err());
    }
    Ok(lo..=hi)
}

/// Validate `NAMESPACE/NAME` on the command line.
pub fn parse_pod_arg(s: &str) -> Result<String, String> {
    parse_pod(s).map(|_| s.to_owned())
}

/// Parse `NAMESPACE/NAME`.
pub fn parse_pod(s: &str) -> Result<(String, String), String> {
    match s.split_once('/') {
        Some((ns, name)) if !ns.is_empty() && !name.is_empty() && !name.contains('/') => {
            Ok((ns.to_owned(), name.to_owned()))
        }
        _ => Err(format!("invalid pod {s:?}: expected NAMESPACE/NAME")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_flags() {
        assert_eq!(parse_duration("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("3"), Ok(Duration::from_secs(3)));
        assert!(parse_duration("5x").is_err());
        assert!(parse_duration("s").is_err());
        assert_eq!(parse_mark("0x539"), Ok(1337));
        assert_eq!(parse_mark("1337"), Ok(1337));
        assert!(parse_mark("0xzz").is_err());
        assert_eq!(parse_port_range("61000-65535"), Ok(61000..=65535));
        assert!(parse_port_range("9-1").is_err());
        assert_eq!(
            parse_pod("default/web"),
            Ok(("default".to_owned(), "web".to_owned()))
        );
        assert!(parse_pod("web").is_err());
        assert!(parse_pod("a/b/c").is_err());
    }

    #[test]
    fn own_listener_detection() {
        let cfg = Config {
            listeners: vec!["127.0.0.1:15006".parse().unwrap()],
            ..Config::default()
        };
        assert!(cfg.is_own_listener("127.0.0.1:15006".parse().unwrap()));
        assert!(cfg.is_own_listener("127.0.0.2:15006".parse().unwrap()));
        assert!(!cfg.is_own_listener("10.0.0.1:15006".parse().unwrap()));
        assert!(!cfg.is_own_listener("127.0.0.1:80".parse().unwrap()));
    }
}
