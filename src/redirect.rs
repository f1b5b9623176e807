//! `l7proxy redirect`: render, install and uninstall the iptables TPROXY capture rules and
//! policy routing in the Pod's network namespace (the init container's job).

use std::process::ExitCode;

/// `l7proxy redirect` arguments.
#[derive(Debug, clap::Args)]
pub struct RedirectArgs {}

/// `l7proxy redirect install|uninstall|render`.
pub fn main(_args: RedirectArgs) -> anyhow::Result<ExitCode> {
    todo!()
}
