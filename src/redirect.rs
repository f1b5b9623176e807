//! `l7proxy redirect`: render, install and uninstall the iptables TPROXY capture rules and
//! policy routing in the Pod's network namespace (the init container's job).
//!
//! The rule set lives in [`render`] (pure, golden-tested against `iptables/`); [`apply`] runs
//! `iptables-restore --noflush` and `ip`; [`detect`] finds the backend and IPv6 support.

pub mod apply;
pub mod config;
pub mod detect;
pub mod error;
pub mod render;

use std::process::ExitCode;

use crate::args::{CaptureArgs, METRICS_PORT, PROXY_UID};

pub use config::{Config, Family, PortRange};
pub use detect::{Backend, BackendChoice, Tools};
pub use error::RedirectError;

/// What to do with the capture rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Action {
    /// Apply the rules and routes (idempotent; all or nothing across IPv4 and IPv6).
    Install,
    /// Remove exactly what install added.
    Uninstall,
    /// Print the rules and routes without touching the system.
    Render,
}

/// When to install the IPv6 half.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Ipv6Mode {
    /// When the namespace has IPv6 enabled and ip6tables is installed.
    Auto,
    /// Always (fails if unavailable).
    On,
    /// Never.
    Off,
}

/// `l7proxy redirect` arguments.
#[derive(Debug, clap::Args)]
pub struct RedirectArgs {
    /// install | uninstall | render.
    #[arg(value_enum)]
    pub action: Action,
    #[command(flatten)]
    pub capture: CaptureArgs,
    /// UID the proxy runs as; its traffic is never captured (backstop for the mark).
    #[arg(long, default_value_t = PROXY_UID)]
    pub proxy_uid: u32,
    /// The proxy's metrics port: captured and handed to the proxy's own admin listener
    /// (`run --metrics-addr`), so nothing else answers on it from outside the Pod.
    #[arg(long, default_value_t = METRICS_PORT, value_parser = clap::value_parser!(u16).range(1..))]
    pub metrics_port: u16,
    /// Inbound ports that reach the app directly (comma-separated; ranges as 8000-8100).
    #[arg(long, value_delimiter = ',', value_name = "LIST")]
    pub exclude_inbound_ports: Vec<String>,
    /// Outbound destination ports that are never captured (comma-separated; TCP/53 always).
    #[arg(long, value_delimiter = ',', value_name = "LIST")]
    pub exclude_outbound_ports: Vec<String>,
    /// Outbound destinations (CIDRs or addresses) never captured (169.254.169.254 always).
    #[arg(long, value_delimiter = ',', value_name = "LIST")]
    pub exclude_outbound_cidrs: Vec<String>,
    /// Install the IPv6 rules too.
    #[arg(long, value_enum, default_value_t = Ipv6Mode::Auto)]
    pub ipv6: Ipv6Mode,
    /// xtables backend; `auto` uses whatever the system's `iptables` is.
    #[arg(long, value_enum, default_value_t = BackendChoice::Auto)]
    pub backend: BackendChoice,
}

impl RedirectArgs {
    /// Parses the lists and validates the marks.
    pub fn config(&self) -> Result<Config, RedirectError> {
        let ports = |list: &[String]| -> Result<Vec<PortRange>, RedirectError> {
            list.iter()
                .filter(|s| !s.trim().is_empty())
                .map(|s| s.trim().parse())
                .collect()
        };
        let cfg = Config {
            inbound_port: self.capture.inbound_port,
            outbound_port: self.capture.outbound_port,
            metrics_port: self.metrics_port,
            proxy_mark: self.capture.mark.get(),
            proxy_uid: self.proxy_uid,
            exclude_inbound_ports: ports(&self.exclude_inbound_ports)?,
            exclude_outbound_ports: ports(&self.exclude_outbound_ports)?,
            exclude_outbound_cidrs: self
                .exclude_outbound_cidrs
                .iter()
                .filter(|s| !s.trim().is_empty())
                .map(|s| config::parse_cidr(s))
                .collect::<Result<_, _>>()?,
            ..Config::default()
        };
        cfg.validate()?;
        Ok(cfg)
    }
}

/// Decides the families: v4 always; v6 per `--ipv6`. Uninstall in `auto` mode also cleans
/// IPv6 when it was disabled after install (the kernel still holds the rules).
fn families(action: Action, mode: Ipv6Mode, tools: &Tools) -> Result<Vec<Family>, RedirectError> {
    let v6_tools = [tools.restore(true), tools.save(true)];
    let v6_missing = v6_tools
        .iter()
        .find(|b| detect::find_in_path(b).is_none())
        .cloned();
    let v6 = match mode {
        Ipv6Mode::Off => false,
        Ipv6Mode::On => {
            detect::ipv6_enabled().map_err(RedirectError::Ipv6Unavailable)?;
            if let Some(binary) = v6_missing {
                return Err(RedirectError::MissingBinary {
                    binary,
                    package: "iptables",
                });
            }
            true
        }
        Ipv6Mode::Auto => match (detect::ipv6_enabled(), v6_missing) {
            (Ok(()), None) => true,
            (Err(_), None)
                if action == Action::Uninstall
                    && std::path::Path::new("/proc/sys/net/ipv6").exists() =>
            {
                true
            }
            (Err(reason), _) => {
                tracing::info!(reason = %reason, "IPv6 disabled in this namespace; IPv4 only");
                false
            }
            (Ok(()), Some(binary)) => {
                tracing::warn!(binary = %binary, "IPv6 enabled but ip6tables missing; IPv4 only");
                false
            }
        },
    };
    Ok(if v6 {
        vec![Family::V4, Family::V6]
    } else {
        vec![Family::V4]
    })
}

/// Everything `render` prints: backend, then each family's restore input, then the routes.
pub fn render_all(cfg: &Config, tools: &Tools, families: &[Family]) -> String {
    let mut s = format!(
        "# backend: {} ({})\n# apply with: {} --noflush",
        tools.backend,
        tools.version,
        tools.restore(false)
    );
    if families.contains(&Family::V6) {
        s.push_str(&format!(" / {} --noflush", tools.restore(true)));
    }
    s.push('\n');
    for &family in families {
        s.push_str(&format!(
            "\n# {family}: {} --noflush\n",
            tools.restore(family == Family::V6)
        ));
        s.push_str(&render::full_rules(cfg, family));
    }
    s.push_str("\n# policy routing\n");
    s.push_str(&render::routing_commands(cfg, families));
    s
}

/// `l7proxy redirect install|uninstall|render`.
pub fn main(args: RedirectArgs) -> anyhow::Result<ExitCode> {
    let cfg = args.config()?;
    let tools = Tools::detect(args.backend);
    let families = families(args.action, args.ipv6, &tools)?;
    match args.action {
        Action::Render => print!("{}", render_all(&cfg, &tools, &families)),
        Action::Install => apply::install(&cfg, &tools, &families)?,
        Action::Uninstall => apply::uninstall(&cfg, &tools, &families)?,
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests;
