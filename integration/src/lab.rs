//! The lab network: a protected `web` Pod, a client namespace holding several Pod addresses,
//! and an external host, all on one L2 segment (a bridge inside a dedicated `wire`
//! namespace), IPv4 10.77.0.0/24 and IPv6 fd77::/64. Real servers run in `web` and
//! `external`; the proxy runs in `web` behind `l7proxy redirect install`.
//!
//! Dropping a [`Lab`] stops every process it started and deletes its namespaces and files.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::env::{l7proxy_bin, lab_bin};
use crate::error::{Error, Result};
use crate::netns::Netns;
use crate::pods::{self, Endpoint, Family, Host, V4_PREFIX, V6_PREFIX};
use crate::process::ChildGuard;
use crate::servers::log::{RequestRecord, read_log};

/// Ports the lab servers listen on, in `web` and in `external`.
pub const HTTP_PORT: u16 = 80;
pub const HTTPS_PORT: u16 = 443;
pub const ECHO_PORT: u16 = 7;
pub const BULK_PORT: u16 = 9000;
/// Echo on TCP 53 on the external host (the spec's egress examples allow DNS).
pub const DNS_TCP_PORT: u16 = 53;

/// A running lab. Field order is drop order: processes first, then namespaces, then files.
pub struct Lab {
    proxy: Option<ChildGuard>,
    servers: Vec<ChildGuard>,
    pub web: Netns,
    pub client: Netns,
    pub external: Netns,
    pub wire: Netns,
    dir: tempfile::TempDir,
    web_labels: BTreeMap<String, String>,
    proxy_stopped: bool,
}

impl Lab {
    /// Build the network and start the servers (no capture, no proxy yet).
    pub fn new(prefix: &str) -> Result<Lab> {
        let wire = Netns::new(prefix)?;
        let web = Netns::new(prefix)?;
        let client = Netns::new(prefix)?;
        let external = Netns::new(prefix)?;
        let dir = tempfile::Builder::new()
            .prefix(&format!("{prefix}-"))
            .tempdir()?;
        std::fs::create_dir_all(dir.path().join("manifests"))?;
        std::fs::create_dir_all(dir.path().join("logs"))?;
        let mut lab = Lab {
            proxy: None,
            servers: Vec::new(),
            web,
            client,
            external,
            wire,
            dir,
            web_labels: BTreeMap::new(),
            proxy_stopped: false,
        };
        lab.wire_up()?;
        lab.start_servers()?;
        Ok(lab)
    }

    /// Join web, client and external to a bridge in `wire`; give each endpoint its addresses.
    fn wire_up(&self) -> Result<()> {
        self.wire.ip(&["link", "add", "br0", "type", "bridge"])?;
        self.wire.ip(&["link", "set", "br0", "up"])?;
        for (ns, port) in [
            (&self.web, "p-web"),
            (&self.client, "p-client"),
            (&self.external, "p-ext"),
        ] {
            ns.sysctl("net/ipv6/conf/all/accept_dad", "0")?;
            ns.sysctl("net/ipv6/conf/default/accept_dad", "0")?;
            self.wire.veth(port, ns, "eth0")?;
            self.wire.ip(&["link", "set", port, "master", "br0"])?;
        }
        for ep in pods::endpoints() {
            let ns = self.ns(ep.host);
            ns.add_addr("eth0", &format!("{}/{V4_PREFIX}", ep.v4))?;
            if ep.primary {
                ns.add_addr("eth0", &format!("{}/{V6_PREFIX}", ep.v6))?;
            } else {
                // Deprecated (preferred_lft 0): usable when bound explicitly, never picked as
                // a default source, so unbound tools speak as the namespace's primary Pod.
                ns.ip(&[
                    "-6",
                    "addr",
                    "add",
                    &format!("{}/{V6_PREFIX}", ep.v6),
                    "dev",
                    "eth0",
                    "nodad",
                    "preferred_lft",
                    "0",
                ])?;
            }
        }
        Ok(())
    }

    fn start_servers(&mut self) -> Result<()> {
        for (host, name) in [(Host::Web, "web"), (Host::External, "external")] {
            let mut args: Vec<String> = vec![
                "--log".into(),
                self.server_log_path(name).display().to_string(),
            ];
            let mut ports = vec![
                ("--http", HTTP_PORT),
                ("--https", HTTPS_PORT),
                ("--echo", ECHO_PORT),
                ("--bulk", BULK_PORT),
            ];
            if host == Host::External {
                ports.push(("--echo", DNS_TCP_PORT));
            }
            for (flag, port) in &ports {
                for any in ["0.0.0.0", "[::]"] {
                    args.push(flag.to_string());
                    args.push(format!("{any}:{port}"));
                }
            }
            let ns = match host {
                Host::Web => &self.web,
                _ => &self.external,
            };
            let mut cmd = ns.command(lab_bin("lab-server"));
            cmd.args(&args)
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(
                    self.dir.path().join(format!("{name}-server.stderr")),
                )?);
            self.servers.push(ns.spawn(cmd)?);
            let ip = pods::endpoint(name)
                .map(|e| e.ip(Family::V4))
                .unwrap_or(IpAddr::from([127, 0, 0, 1]));
            wait_listening(ns, &format!("{ip}:{BULK_PORT}"), &mut self.servers)?;
        }
        Ok(())
    }

    /// The namespace an endpoint lives in.
    pub fn ns(&self, host: Host) -> &Netns {
        match host {
            Host::Web => &self.web,
            Host::Client => &self.client,
            Host::External => &self.external,
        }
    }

    /// Working directory: `manifests/`, `logs/` (the proxy's), servers' request logs.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn manifests_dir(&self) -> PathBuf {
        self.dir.path().join("manifests")
    }

    pub fn log_dir(&self) -> PathBuf {
        self.dir.path().join("logs")
    }

    /// Appends `l7proxy run` on this lab's manifests and log directory, as the web Pod's
    /// proxy, to a wrapper command (`prlimit`, `setpriv`, ...); its stderr goes to `log`.
    pub fn wrapped_proxy<'c>(
        &self,
        cmd: &'c mut std::process::Command,
        log: &Path,
    ) -> &'c mut std::process::Command {
        cmd.arg(l7proxy_bin())
            .arg("run")
            .arg("--manifests")
            .arg(self.manifests_dir())
            .args(["--pod", "default/web", "--log-dir"])
            .arg(self.log_dir())
            .env("NO_COLOR", "1")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(log).expect("proxy log file"))
    }

    fn server_log_path(&self, name: &str) -> PathBuf {
        self.dir.path().join(format!("{name}-requests.jsonl"))
    }

    /// What the real server in `web` or `external` has seen so far.
    pub fn server_requests(&self, host: Host) -> Vec<RequestRecord> {
        let name = if host == Host::External {
            "external"
        } else {
            "web"
        };
        read_log(&self.server_log_path(name))
    }

    /// Labels added to the `web` Pod (e.g. `egress-restriction: internal-domain-only`);
    /// rewrites the lab objects file.
    pub fn set_web_labels(&mut self, labels: BTreeMap<String, String>) -> Result<()> {
        self.web_labels = labels;
        self.write_objects()
    }

    /// Write `lab-objects.yaml` (Namespace + Pods) into the manifests directory.
    pub fn write_objects(&self) -> Result<()> {
        let yaml = pods::objects_yaml(&self.web_labels).map_err(|e| Error::Other(e.to_string()))?;
        std::fs::write(self.manifests_dir().join("lab-objects.yaml"), yaml)?;
        Ok(())
    }

    /// Put a policy manifest into the manifests directory.
    pub fn add_manifest(&self, file_name: &str, yaml: &str) -> Result<()> {
        std::fs::write(self.manifests_dir().join(file_name), yaml)?;
        Ok(())
    }

    /// `l7proxy redirect install` (defaults) in `web`, then `l7proxy run` with the
    /// manifests directory; returns once both listeners are up.
    pub fn start_proxy(&mut self) -> Result<()> {
        self.start_proxy_with(&[], &[])
    }

    /// [`Lab::start_proxy`] with extra flags for `redirect install` and for `run`.
    pub fn start_proxy_with(
        &mut self,
        redirect_args: &[String],
        run_args: &[String],
    ) -> Result<()> {
        self.write_objects()?;
        let bin = l7proxy_bin();
        let mut install = vec!["redirect".to_string(), "install".to_string()];
        install.extend(redirect_args.iter().cloned());
        let out = self.web.exec(&bin.display().to_string(), &install)?;
        if !out.status.success() {
            return Err(Error::Other(format!(
                "l7proxy redirect install failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        let mut cmd = self.web.command(&bin);
        cmd.arg("run")
            .arg("--manifests")
            .arg(self.manifests_dir())
            .args(["--pod", "default/web", "--log-dir"])
            .arg(self.log_dir())
            .args(run_args)
            // Plain text in proxy.log (it ends up in failure messages).
            .env("NO_COLOR", "1")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(self.proxy_log_path())?);
        let mut child = self.web.spawn(cmd)?;
        let deadline = Instant::now() + Duration::from_secs(10);
        while !(self.listening(15006) && self.listening(15001)) {
            if let Some(status) = child.try_wait() {
                return Err(Error::Other(format!(
                    "l7proxy run exited ({status}):\n{}",
                    self.proxy_log()
                )));
            }
            if Instant::now() > deadline {
                return Err(Error::Timeout(format!(
                    "proxy listeners not up:\n{}",
                    self.proxy_log()
                )));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        self.proxy = Some(child);
        Ok(())
    }

    /// Stop the proxy gracefully (SIGTERM) and return its exit status.
    pub fn stop_proxy(&mut self) -> Option<std::process::ExitStatus> {
        self.proxy_stopped = true;
        self.proxy
            .as_mut()
            .and_then(|p| p.stop(Duration::from_secs(10)))
    }

    /// True after [`Lab::stop_proxy`]: the proxy is gone on purpose.
    pub fn proxy_stopped(&self) -> bool {
        self.proxy_stopped
    }

    /// PID of the proxy started by [`Lab::start_proxy`].
    pub fn proxy_pid(&self) -> Option<u32> {
        self.proxy.as_ref().map(ChildGuard::id)
    }

    /// True while the proxy started by [`Lab::start_proxy`] has not exited.
    pub fn proxy_running(&self) -> bool {
        self.proxy.as_ref().is_some_and(ChildGuard::is_running)
    }

    fn listening(&self, port: u16) -> bool {
        self.web
            .exec("ss", &["-Hltn", &format!("sport = :{port}")])
            .map(|o| !String::from_utf8_lossy(&o.stdout).trim().is_empty())
            .unwrap_or(false)
    }

    fn proxy_log_path(&self) -> PathBuf {
        self.dir.path().join("proxy.log")
    }

    /// The proxy's stderr so far (for failure messages).
    pub fn proxy_log(&self) -> String {
        std::fs::read_to_string(self.proxy_log_path()).unwrap_or_default()
    }

    /// The events once `done` holds for them, or as they are after `timeout`: the proxy
    /// writes events in batches a few milliseconds after they happen.
    pub fn events_until(
        &self,
        timeout: std::time::Duration,
        done: impl Fn(&[serde_json::Value]) -> bool,
    ) -> Vec<serde_json::Value> {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            let events = self.events();
            if done(&events) || std::time::Instant::now() > deadline {
                return events;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    /// Every EVE event line the proxy has written (all `eve-*.json` files of the log dir).
    pub fn events(&self) -> Vec<serde_json::Value> {
        let Ok(entries) = std::fs::read_dir(self.log_dir()) else {
            return Vec::new();
        };
        let mut files: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with("eve-") && n.ends_with(".json"))
            })
            .collect();
        files.sort();
        files
            .iter()
            .flat_map(|f| {
                std::fs::read_to_string(f)
                    .unwrap_or_default()
                    .lines()
                    .map(String::from)
                    .collect::<Vec<_>>()
            })
            .filter_map(|l| serde_json::from_str(&l).ok())
            .collect()
    }

    /// Socket address of a server port on an endpoint.
    pub fn addr(ep: &Endpoint, family: Family, port: u16) -> SocketAddr {
        SocketAddr::new(ep.ip(family), port)
    }
}

/// Wait until a server listens (probed from inside its namespace), or fail with its stderr.
fn wait_listening(ns: &Netns, addr: &str, servers: &mut [ChildGuard]) -> Result<()> {
    let addr: SocketAddr = addr
        .parse()
        .map_err(|e| Error::Other(format!("{addr}: {e}")))?;
    let result = ns.wait_tcp_listen(addr.ip(), addr.port(), Duration::from_secs(10));
    if result.is_err()
        && let Some(s) = servers.last_mut()
        && let Some(status) = s.try_wait()
    {
        return Err(Error::Other(format!("{} exited: {status}", s.what())));
    }
    result
}
