//! The validated description of what to capture: ports, marks, routing table and exclusions.
//! Everything the renderer needs, nothing about the running system.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use ipnet::IpNet;

use super::error::RedirectError;
use crate::args;

/// Routing mark put on the app's new outbound connections (and on replies to the proxy's
/// spoofed-source connections) so that policy routing sends them to `lo`. Its bits under
/// [`ROUTE_MASK`] must differ from the proxy's socket mark, or the proxy's own upstream
/// connections would be routed back into its outbound listener.
pub const ROUTE_MARK: u32 = 0x111;
/// The part of the packet/connection mark the rules own; other bits are left to others.
pub const ROUTE_MASK: u32 = 0xfff;
/// Policy-routing table holding `local default dev lo`.
pub const ROUTE_TABLE: u32 = 133;
/// `ip rule` priority: after the `local` table (0), before `main` (32766).
pub const ROUTE_PREF: u32 = 32764;
/// Outbound TCP destination ports never captured: DNS (the resolver must work even when the
/// proxy is down).
pub const ALWAYS_EXCLUDED_OUTBOUND_PORTS: &[u16] = &[53];
/// Outbound destinations never captured: the cloud metadata service.
pub const ALWAYS_EXCLUDED_OUTBOUND_V4: &str = "169.254.169.254/32";

/// IP family of one rule set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    V4,
    V6,
}

impl Family {
    /// Loopback address the proxy listens on in this family.
    pub fn loopback(self) -> &'static str {
        match self {
            Family::V4 => "127.0.0.1",
            Family::V6 => "::1",
        }
    }

    /// The default route of this family, as `ip route` spells it.
    pub fn any(self) -> &'static str {
        match self {
            Family::V4 => "0.0.0.0/0",
            Family::V6 => "::/0",
        }
    }

    /// `ip` family flag.
    pub fn ip_flag(self) -> &'static str {
        match self {
            Family::V4 => "-4",
            Family::V6 => "-6",
        }
    }

    /// Whether a CIDR belongs to this family.
    pub fn contains(self, net: &IpNet) -> bool {
        matches!(
            (self, net),
            (Family::V4, IpNet::V4(_)) | (Family::V6, IpNet::V6(_))
        )
    }
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Family::V4 => "IPv4",
            Family::V6 => "IPv6",
        })
    }
}

/// One port or an inclusive range (`8000-8100` or `8000:8100`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortRange {
    pub first: u16,
    pub last: u16,
}

impl PortRange {
    pub fn single(port: u16) -> Self {
        PortRange {
            first: port,
            last: port,
        }
    }

    /// How many of multiport's 15 slots this entry takes.
    pub fn slots(self) -> usize {
        if self.first == self.last { 1 } else { 2 }
    }
}

impl fmt::Display for PortRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.first == self.last {
            write!(f, "{}", self.first)
        } else {
            write!(f, "{}:{}", self.first, self.last)
        }
    }
}

impl FromStr for PortRange {
    type Err = RedirectError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let invalid = |reason: &str| RedirectError::InvalidArgument {
            what: "port",
            value: s.to_owned(),
            reason: reason.to_owned(),
        };
        let parse = |p: &str| -> Result<u16, RedirectError> {
            match p.trim().parse::<u16>() {
                Ok(0) => Err(invalid("port 0 is not a real port")),
                Ok(n) => Ok(n),
                Err(_) => Err(invalid("expected a port 1-65535 or a range like 8000-8100")),
            }
        };
        let (first, last) = match s.split_once(['-', ':']) {
            Some((a, b)) => (parse(a)?, parse(b)?),
            None => {
                let p = parse(s)?;
                (p, p)
            }
        };
        if first > last {
            return Err(invalid("range start is after its end"));
        }
        Ok(PortRange { first, last })
    }
}

/// Parses a CIDR, or a bare address as a host route (`/32`, `/128`).
pub fn parse_cidr(s: &str) -> Result<IpNet, RedirectError> {
    let s = s.trim();
    if let Ok(net) = s.parse::<IpNet>() {
        return Ok(net.trunc());
    }
    s.parse::<IpAddr>()
        .map(IpNet::from)
        .map_err(|_| RedirectError::InvalidArgument {
            what: "CIDR",
            value: s.to_owned(),
            reason: "expected an address or CIDR like 10.0.0.0/8 or fd00::/8".to_owned(),
        })
}

/// Everything the rule set depends on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Inbound listener port (on 127.0.0.1 and ::1).
    pub inbound_port: u16,
    /// Outbound listener port (on 127.0.0.1 and ::1).
    pub outbound_port: u16,
    /// Metrics port: captured and handed to the proxy's own admin listener (on 127.0.0.1
    /// and ::1), so from outside only the proxy's `/metrics`, `/healthz`, `/readyz` answer
    /// there, never an app that binds the Pod IP on it.
    pub metrics_port: u16,
    /// SO_MARK on every proxy socket.
    pub proxy_mark: u32,
    /// UID the proxy runs as (backstop for a socket that missed its mark).
    pub proxy_uid: u32,
    pub route_mark: u32,
    pub route_mask: u32,
    pub route_table: u32,
    pub route_pref: u32,
    /// Inbound destination ports that reach the app directly, unpoliced.
    pub exclude_inbound_ports: Vec<PortRange>,
    /// Outbound destination ports that are never captured (in addition to TCP/53).
    pub exclude_outbound_ports: Vec<PortRange>,
    /// Outbound destinations that are never captured (in addition to 169.254.169.254).
    pub exclude_outbound_cidrs: Vec<IpNet>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            inbound_port: args::INBOUND_PORT,
            outbound_port: args::OUTBOUND_PORT,
            metrics_port: args::METRICS_PORT,
            proxy_mark: args::PROXY_MARK.get(),
            proxy_uid: args::PROXY_UID,
            route_mark: ROUTE_MARK,
            route_mask: ROUTE_MASK,
            route_table: ROUTE_TABLE,
            route_pref: ROUTE_PREF,
            exclude_inbound_ports: Vec::new(),
            exclude_outbound_ports: Vec::new(),
            exclude_outbound_cidrs: Vec::new(),
        }
    }
}

impl Config {
    /// Rejects combinations that would loop: the proxy's mark seen through the routing mask
    /// must not equal the routing mark.
    pub fn validate(&self) -> Result<(), RedirectError> {
        if self.proxy_mark & self.route_mask == self.route_mark & self.route_mask {
            return Err(RedirectError::MarkOverlap {
                proxy_mark: self.proxy_mark,
                route_mark: self.route_mark,
                route_mask: self.route_mask,
            });
        }
        for (what, port) in [
            ("--inbound-port", self.inbound_port),
            ("--outbound-port", self.outbound_port),
        ] {
            if port == 0 {
                return Err(RedirectError::InvalidArgument {
                    what,
                    value: "0".to_owned(),
                    reason: "the proxy must listen on a real port".to_owned(),
                });
            }
        }
        Ok(())
    }

    /// Inbound ports never captured: the user's list only. The proxy's own ports are not in
    /// it: its listeners are on loopback, so an exempt 15001/15006 would hand an app that
    /// binds the Pod IP on them every client, past the policy; they are decided like any
    /// port. The metrics port has its own rule, ahead of this list.
    pub fn inbound_excluded(&self) -> Vec<PortRange> {
        let mut ports: Vec<PortRange> = Vec::new();
        for p in self.exclude_inbound_ports.iter().copied() {
            if !ports.contains(&p) {
                ports.push(p);
            }
        }
        ports
    }
}
