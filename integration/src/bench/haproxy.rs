//! HAProxy 2.6 as the peer proxy: configuration from the template under
//! `integration/bench/`, and the loop guard it needs. HAProxy 2.6 cannot put a mark on its
//! server sockets, so its packets are marked by owner (`-m owner --uid-owner haproxy`)
//! before the capture rules see them; it runs as the `haproxy` user with only the network
//! capabilities transparent sockets need.

use std::path::Path;

use crate::error::{Error, Result};

/// The template (shipped beside the runner so it can be read and reused by hand).
pub const TEMPLATE: &str = include_str!("../../bench/haproxy.cfg");

/// The configuration for the given inbound port.
pub fn config(inbound_port: u16) -> String {
    TEMPLATE.replace("@INBOUND_PORT@", &inbound_port.to_string())
}

/// The `haproxy` user's uid and gid.
pub fn user() -> Result<(u32, u32)> {
    let user = nix::unistd::User::from_name("haproxy")
        .map_err(|e| Error::Other(format!("looking up user haproxy: {e}")))?
        .ok_or_else(|| {
            Error::Other("no `haproxy` user: install the Debian package haproxy".into())
        })?;
    Ok((user.uid.as_raw(), user.gid.as_raw()))
}

/// The HAProxy binary, if installed.
pub fn binary() -> Result<&'static Path> {
    ["/usr/sbin/haproxy", "/usr/bin/haproxy"]
        .into_iter()
        .map(Path::new)
        .find(|p| p.is_file())
        .ok_or_else(|| Error::Other("haproxy not installed (apt-get install haproxy)".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_fills_every_placeholder() {
        let cfg = config(15006);
        assert!(cfg.contains("bind 127.0.0.1:15006 transparent"));
        assert!(!cfg.contains('@'), "unfilled placeholder in:\n{cfg}");
    }

    /// The settings that make H's keep-alive honest: HTTP handled in the frontend, one
    /// server connection per client connection for all its requests.
    #[test]
    fn http_is_upgraded_in_the_frontend_and_kept_alive_upstream() {
        let lines: Vec<&str> = TEMPLATE
            .lines()
            .map(str::trim)
            .filter(|l| !l.starts_with('#'))
            .collect();
        for want in [
            "tcp-request content switch-mode http if port_http HTTP",
            "option http-keep-alive",
            "http-reuse never",
            "source 0.0.0.0 usesrc clientip",
        ] {
            assert!(lines.contains(&want), "haproxy.cfg lacks {want:?}");
        }
        assert!(
            !lines
                .iter()
                .any(|l| l.starts_with("option http-server-close"))
        );
    }
}
