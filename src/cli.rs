//! Command line: one subcommand per job. Each subsystem owns its argument struct and its
//! handler; this module only wires them together and turns errors into an exit code.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::{app, policy, redirect};

/// Transparent enforcer of Antrea-style Layer 7 NetworkPolicy.
#[derive(Debug, Parser)]
#[command(name = "l7proxy", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the admission webhooks (sidecar injection, policy validation).
    Controller(crate::controller::ControllerArgs),
    /// Validate policy manifests as Antrea's admission webhook would.
    Check(policy::cli::CheckArgs),
    /// Show which rule decides a connection, and why.
    Explain(policy::cli::ExplainArgs),
    /// Run the proxy inside the Pod's network namespace.
    Run(app::RunArgs),
    /// Install, remove or print the TPROXY capture rules (init container).
    Redirect(redirect::RedirectArgs),
    /// Print the CustomResourceDefinitions of the policy kinds (YAML), as the chart ships them.
    Crds,
}

/// Entry point of the binary.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing();
    let result = match cli.command {
        Command::Controller(args) => crate::controller::main(args),
        Command::Check(args) => policy::cli::check(args),
        Command::Explain(args) => policy::cli::explain(args),
        Command::Run(args) => app::run(args),
        Command::Redirect(args) => redirect::main(args),
        Command::Crds => crate::kube::crd::print(),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("l7proxy: error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// Logs go to stderr; `RUST_LOG` overrides the default `info` level.
fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}
