//! Errors of the lab harness: a failed `ip`/`iptables` command keeps its stderr so a broken
//! test says which step of building the network failed.

use std::process::Command;

/// Lab harness error.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("`{cmd}` failed ({status}): {stderr}")]
    Command {
        cmd: String,
        status: String,
        stderr: String,
    },
    #[error("cannot start `{cmd}`: {source}")]
    Spawn { cmd: String, source: std::io::Error },
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error("setns: {0}")]
    Nix(#[from] nix::Error),
    #[error("thread inside namespace {0} panicked")]
    Panicked(String),
    #[error("timed out: {0}")]
    Timeout(String),
    #[error("{0}")]
    Other(String),
}

impl Error {
    pub(crate) fn spawn(cmd: &Command, source: std::io::Error) -> Error {
        Error::Spawn {
            cmd: crate::process::describe(cmd),
            source,
        }
    }
}

/// Result of the lab harness.
pub type Result<T> = std::result::Result<T, Error>;
