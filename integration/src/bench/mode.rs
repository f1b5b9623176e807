//! The three ways traffic reaches the origin server, set up and torn down in the same
//! namespaces so they can alternate within one run.

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use super::haproxy;
use super::topo::Topology;
use crate::error::{Error, Result};
use crate::process::ChildGuard;

/// Inbound TPROXY port (the redirect's default).
pub const INBOUND_PORT: u16 = 15006;
/// The proxies' socket mark (the redirect's default bypass mark).
const PROXY_MARK: &str = "0x539";

/// Which data path is measured.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Mode {
    /// Client to server, no capture.
    Direct,
    /// HAProxy behind the TPROXY rules.
    Haproxy,
    /// l7proxy behind the TPROXY rules.
    L7proxy,
}

impl Mode {
    pub const ALL: [Mode; 3] = [Mode::Direct, Mode::Haproxy, Mode::L7proxy];

    pub fn letter(self) -> &'static str {
        match self {
            Mode::Direct => "D",
            Mode::Haproxy => "H",
            Mode::L7proxy => "P",
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.letter())
    }
}

/// How l7proxy is started.
#[derive(Clone, Debug)]
pub struct ProxyOpts {
    pub bin: PathBuf,
    /// Manifests directory (chooses the rule count).
    pub manifests: PathBuf,
    /// `--relay` value.
    pub relay: &'static str,
    /// `--events` value.
    pub events: &'static str,
}

/// A mode in place; dropping it removes the proxy and the capture rules.
pub struct Active<'t> {
    topo: &'t Topology,
    pub mode: Mode,
    proxy: Option<ChildGuard>,
    l7proxy_bin: PathBuf,
    owner_rule: Option<(String, Vec<String>)>,
    log_dir: Option<PathBuf>,
}

impl<'t> Active<'t> {
    /// PID of the proxy process (H and P).
    pub fn proxy_pid(&self) -> Option<u32> {
        self.proxy.as_ref().map(ChildGuard::id)
    }

    /// Is the proxy still running?
    pub fn check_alive(&mut self) -> Result<()> {
        if let Some(p) = self.proxy.as_mut()
            && let Some(status) = p.try_wait()
        {
            return Err(Error::Other(format!("{} exited: {status}", p.what())));
        }
        Ok(())
    }
}

/// Put `mode` in place. `p` is needed for every mode: its binary installs the rules H uses.
pub fn setup<'t>(topo: &'t Topology, mode: Mode, p: &ProxyOpts) -> Result<Active<'t>> {
    let mut active = Active {
        topo,
        mode,
        proxy: None,
        l7proxy_bin: p.bin.clone(),
        owner_rule: None,
        log_dir: None,
    };
    if mode == Mode::Direct {
        return Ok(active);
    }
    let bin = p.bin.display().to_string();
    let out = topo.web.exec(&bin, &["redirect", "install"])?;
    if !out.status.success() {
        return Err(Error::Other(format!(
            "l7proxy redirect install failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    let cpu = topo.cpus.proxy.to_string();
    let child = match mode {
        Mode::Haproxy => {
            let (uid, gid) = haproxy::user()?;
            let tool = iptables_in_use(topo)?;
            let rule: Vec<String> = [
                "-t",
                "mangle",
                "-I",
                "OUTPUT",
                "1",
                "-m",
                "owner",
                "--uid-owner",
            ]
            .iter()
            .map(|s| s.to_string())
            .chain([uid.to_string()])
            .chain(
                ["-j", "MARK", "--set-mark", PROXY_MARK]
                    .iter()
                    .map(|s| s.to_string()),
            )
            .collect();
            topo.web.exec_checked(&tool, &rule)?;
            active.owner_rule = Some((tool, rule));
            let cfg = topo.path("haproxy.cfg");
            std::fs::write(&cfg, haproxy::config(INBOUND_PORT))?;
            super::topo::set_mode(&cfg, 0o644)?;
            let mut cmd = topo.web.command("taskset");
            cmd.args(["-c", &cpu, "setpriv"])
                .arg(format!("--reuid={uid}"))
                .arg(format!("--regid={gid}"))
                .args([
                    "--clear-groups",
                    "--inh-caps=+net_admin,+net_raw",
                    "--ambient-caps=+net_admin,+net_raw",
                ])
                .arg(haproxy::binary()?)
                .arg("-db")
                .arg("-f")
                .arg(&cfg)
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(topo.path("haproxy.stderr"))?);
            topo.web.spawn(cmd)?
        }
        _ => {
            let log_dir = topo.path("proxy-logs");
            std::fs::create_dir_all(&log_dir)?;
            active.log_dir = Some(log_dir.clone());
            let mut cmd = topo.web.command("taskset");
            cmd.args(["-c", &cpu])
                .arg(&p.bin)
                .arg("run")
                .arg("--manifests")
                .arg(&p.manifests)
                .args(["--pod", "default/web", "--workers", "1", "--relay", p.relay])
                .args(["--events", p.events])
                .arg("--log-dir")
                .arg(&log_dir)
                .env("RUST_LOG", "warn")
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(topo.path("l7proxy.stderr"))?);
            topo.web.spawn(cmd)?
        }
    };
    active.proxy = Some(child);
    wait_listening(&mut active, INBOUND_PORT)?;
    Ok(active)
}

fn wait_listening(active: &mut Active<'_>, port: u16) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let out = active
            .topo
            .web
            .exec("ss", &["-Hltn", &format!("sport = :{port}")])?;
        if !String::from_utf8_lossy(&out.stdout).trim().is_empty() {
            return Ok(());
        }
        if let Err(e) = active.check_alive() {
            let log = match active.mode {
                Mode::Haproxy => "haproxy.stderr",
                _ => "l7proxy.stderr",
            };
            let text = std::fs::read_to_string(active.topo.path(log)).unwrap_or_default();
            return Err(Error::Other(format!("{e}\n{text}")));
        }
        if Instant::now() > deadline {
            return Err(Error::Timeout(format!("{} not listening", active.mode)));
        }
        super::stop::check()?;
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The iptables variant holding the redirect's chains (the owner rule must go in the same
/// ruleset: a rule in the other one would run at another point of the hook).
fn iptables_in_use(topo: &Topology) -> Result<String> {
    for tool in ["iptables-nft", "iptables-legacy"] {
        let save = format!("{tool}-save");
        if let Ok(out) = topo.web.exec(&save, &["-t", "mangle"])
            && String::from_utf8_lossy(&out.stdout).contains("L7PROXY_OUTPUT")
        {
            return Ok(tool.to_string());
        }
    }
    Err(Error::Other(
        "capture rules not found after `l7proxy redirect install`".into(),
    ))
}

impl Drop for Active<'_> {
    fn drop(&mut self) {
        if let Some(mut p) = self.proxy.take() {
            p.stop(Duration::from_secs(3));
        }
        if self.mode == Mode::Direct {
            return;
        }
        if let Some((tool, mut rule)) = self.owner_rule.take() {
            // "-I OUTPUT 1" -> "-D OUTPUT"
            if let Some(i) = rule.iter().position(|a| a == "-I") {
                rule[i] = "-D".into();
                rule.remove(i + 2);
            }
            let _ = self.topo.web.exec(&tool, &rule);
        }
        let bin = self.l7proxy_bin.display().to_string();
        let _ = self.topo.web.exec(&bin, &["redirect", "uninstall"]);
        if let Some(dir) = self.log_dir.take() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// Size of the files in a directory (the proxy's event log), in bytes.
pub fn dir_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|it| {
            it.filter_map(|e| e.ok()?.metadata().ok())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}
