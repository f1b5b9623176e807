//! `l7proxy check` and `l7proxy explain`.

use std::process::ExitCode;

/// Validate manifests.
#[derive(Debug, clap::Args)]
pub struct CheckArgs {}

/// Explain the verdict for one connection.
#[derive(Debug, clap::Args)]
pub struct ExplainArgs {}

pub fn check(_args: CheckArgs) -> anyhow::Result<ExitCode> {
    todo!()
}

pub fn explain(_args: ExplainArgs) -> anyhow::Result<ExitCode> {
    todo!()
}
