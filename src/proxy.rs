//! The transparent data path: TPROXY listeners, per-connection decision, classification,
//! enforcement, relay.

use std::process::ExitCode;

/// `l7proxy run` arguments.
#[derive(Debug, clap::Args)]
pub struct RunArgs {}

/// `l7proxy run`: serve until SIGTERM/SIGINT, then drain.
pub fn run(_args: RunArgs) -> anyhow::Result<ExitCode> {
    todo!()
}
