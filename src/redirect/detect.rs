//! What the running system offers: which xtables backend `iptables` is, which binaries exist,
//! whether the namespace has IPv6.

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Which xtables implementation the rules are written with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum BackendChoice {
    /// Whatever the system's `iptables` is (its `--version` says `(nf_tables)` or `(legacy)`).
    Auto,
    /// `iptables-nft-restore` and friends.
    Nft,
    /// `iptables-legacy-restore` and friends.
    Legacy,
}

/// The detected backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Nft,
    Legacy,
    /// `iptables` is missing or its version line names neither backend.
    Unknown,
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Backend::Nft => "iptables-nft",
            Backend::Legacy => "iptables-legacy",
            Backend::Unknown => "unknown",
        })
    }
}

/// Reads the backend off an `iptables --version` line, e.g. `iptables v1.8.9 (nf_tables)`.
pub fn parse_backend(version_line: &str) -> Backend {
    if version_line.contains("(nf_tables)") {
        Backend::Nft
    } else if version_line.contains("(legacy)") {
        Backend::Legacy
    } else {
        Backend::Unknown
    }
}

/// The binaries used for one backend choice, and what the system says about them.
#[derive(Debug, Clone)]
pub struct Tools {
    pub backend: Backend,
    /// `iptables --version` output (or why it could not run).
    pub version: String,
    prefix_v4: &'static str,
    prefix_v6: &'static str,
}

impl Tools {
    /// Resolves binary names for `choice` and asks the matching `iptables` for its version.
    pub fn detect(choice: BackendChoice) -> Tools {
        let (prefix_v4, prefix_v6) = match choice {
            BackendChoice::Auto => ("iptables", "ip6tables"),
            BackendChoice::Nft => ("iptables-nft", "ip6tables-nft"),
            BackendChoice::Legacy => ("iptables-legacy", "ip6tables-legacy"),
        };
        let version = match Command::new(prefix_v4).arg("--version").output() {
            Ok(out) => String::from_utf8_lossy(&out.stdout).trim().to_owned(),
            Err(err) => format!("`{prefix_v4} --version` failed: {err}"),
        };
        Tools {
            backend: parse_backend(&version),
            version,
            prefix_v4,
            prefix_v6,
        }
    }

    fn prefix(&self, v6: bool) -> &'static str {
        if v6 { self.prefix_v6 } else { self.prefix_v4 }
    }

    /// `iptables-restore` (or the backend-specific name) for the family.
    pub fn restore(&self, v6: bool) -> String {
        format!("{}-restore", self.prefix(v6))
    }

    /// `iptables-save` (or the backend-specific name) for the family.
    pub fn save(&self, v6: bool) -> String {
        format!("{}-save", self.prefix(v6))
    }
}

/// Finds an executable on `PATH`.
pub fn find_in_path(binary: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(binary))
        .find(|candidate| is_executable(candidate))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// Whether this network namespace has IPv6 (`net.ipv6.conf.all.disable_ipv6 == 0`); the
/// reason is for the log when it has not.
pub fn ipv6_enabled() -> Result<(), String> {
    let path = "/proc/sys/net/ipv6/conf/all/disable_ipv6";
    match std::fs::read_to_string(path) {
        Ok(v) if v.trim() == "0" => Ok(()),
        Ok(v) => Err(format!("{path} is {}", v.trim())),
        Err(err) => Err(format!("{path}: {err} (kernel without IPv6?)")),
    }
}
