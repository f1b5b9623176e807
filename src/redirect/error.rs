//! Errors of the redirect installer. Each variant says what the operator must change, because
//! the installer runs as an init container whose only output is its log.

/// Why rendering, installing or uninstalling the capture rules failed.
#[derive(Debug, thiserror::Error)]
pub enum RedirectError {
    /// A `--exclude-*` list item or a flag value does not parse.
    #[error("invalid {what} {value:?}: {reason}")]
    InvalidArgument {
        what: &'static str,
        value: String,
        reason: String,
    },
    /// The chosen marks would make the proxy's own traffic match the routing mark (a loop).
    #[error(
        "proxy mark {proxy_mark:#x} overlaps the routing mark {route_mark:#x}/{route_mask:#x}: \
         the proxy's own connections would be diverted back to itself; choose a mark whose \
         low 12 bits differ from {route_mark:#x}"
    )]
    MarkOverlap {
        proxy_mark: u32,
        route_mark: u32,
        route_mask: u32,
    },
    /// A required program (iptables-restore, ip, ...) is not installed.
    #[error(
        "`{binary}` not found in PATH: install the `{package}` package (the installer needs \
         iptables-restore/iptables-save, ip6tables-restore/ip6tables-save and ip)"
    )]
    MissingBinary {
        binary: String,
        package: &'static str,
    },
    /// The kernel refused the change: the container lacks the needed capabilities.
    #[error(
        "`{command}` was not permitted ({stderr}): run as root with CAP_NET_ADMIN and \
         CAP_NET_RAW in the Pod's network namespace"
    )]
    NotPermitted { command: String, stderr: String },
    /// A command ran and failed for another reason.
    #[error("`{command}` failed with {status}: {stderr}")]
    CommandFailed {
        command: String,
        status: String,
        stderr: String,
    },
    /// Spawning or talking to a command failed.
    #[error("could not run `{command}`: {source}")]
    Spawn {
        command: String,
        #[source]
        source: std::io::Error,
    },
    /// `--ipv6 on` was asked for but the namespace or the host cannot do IPv6 capture.
    #[error("IPv6 capture requested but unavailable: {0}")]
    Ipv6Unavailable(String),
    /// `ip -j rule show` printed something that is not the expected JSON.
    #[error("could not parse `{command}` output: {reason}")]
    UnexpectedOutput { command: String, reason: String },
}
