//! Third-party servers for differential tests: Apache httpd (with h2c), nginx, Express 4,
//! Python `http.server` and a raw-byte recorder, each on its own port inside a lab
//! namespace, each writing what it executed to its own log. A differential test reads its
//! verdict there: what the server ran, not what the proxy believed it forwarded.
//!
//! Configurations live in `integration/realservers/`; `integration/run-tests.sh` installs
//! the programs (Debian `apache2`, `nginx`, `python3-requests`; Express from the committed
//! `package-lock.json` into [`express_modules`]).

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::env::workspace_dir;
use crate::error::{Error, Result};
use crate::netns::Netns;
use crate::process::ChildGuard;

/// Debian's Python: its `http.server` and `python3-requests`, whatever else is on `PATH`.
pub const PYTHON: &str = "/usr/bin/python3";
const APACHE: &str = "/usr/sbin/apache2";
const NGINX: &str = "/usr/sbin/nginx";
const NODE: &str = "node";

/// Which server runs on a port.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Apache httpd, `Protocols h2c http/1.1`; log line `%r uri=%U %>s`.
    Apache,
    /// nginx; log line `$request uri=$uri $status`.
    Nginx,
    /// Express 4 (`app.use('/admin')`, a WHATWG-URL router, override fields honoured); log
    /// lines `REQ ..`, `ADMIN ..`, `ADMIN-WHATWG ..`, `ADMIN-DELETE ..`, `OVERRIDE-.. ..`.
    Express,
    /// Python `http.server` (never reads GET bodies); one request line per log line;
    /// CONNECT answered 200, tunnelled bytes in [`RealServers::tunnel`].
    Python,
    /// Raw recorder answering the first request of a connection with two responses, the
    /// second one carrying `STALE-RESPONSE-MARKER`; the log is every byte received.
    RecorderTwoResponses,
    /// Raw recorder answering the first request of a connection with `101` to `h2c`, then
    /// recording whatever comes over the "switched" connection.
    RecorderH2c101,
    /// gRPC server (Debian's `python3-grpcio`): `helloworld.Greeter` with SayHello,
    /// DeleteAll, StreamHello, Chat; log line `METHOD <name>` per executed call.
    Grpc,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Apache => "apache",
            Kind::Nginx => "nginx",
            Kind::Express => "express",
            Kind::Python => "python",
            Kind::RecorderTwoResponses => "recorder",
            Kind::RecorderH2c101 => "recorder-101",
            Kind::Grpc => "grpc",
        }
    }
}

struct Running {
    kind: Kind,
    port: u16,
    dir: PathBuf,
    guard: ChildGuard,
}

/// Servers started by [`RealServers::start`]; dropping stops them (SIGTERM, then SIGKILL)
/// before their directory goes.
pub struct RealServers {
    running: Vec<Running>,
    root: tempfile::TempDir,
}

/// Where `run-tests.sh` installs Express (`L7PROXY_NODE_MODULES` overrides).
pub fn express_modules() -> PathBuf {
    std::env::var_os("L7PROXY_NODE_MODULES")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/cache/l7proxy-test/express/node_modules"))
}

/// What is missing to run every [`Kind`] (empty: all there).
pub fn missing() -> Vec<String> {
    let mut out = Vec::new();
    for bin in [APACHE, NGINX, PYTHON] {
        if !Path::new(bin).exists() {
            out.push(bin.to_string());
        }
    }
    if !express_modules().join("express").is_dir() {
        out.push(format!("{}/express", express_modules().display()));
    }
    let ok = |prog: &str, args: &[&str]| {
        Command::new(prog)
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if !ok(NODE, &["--version"]) {
        out.push(NODE.to_string());
    }
    if !ok(PYTHON, &["-c", "import requests"]) {
        out.push("python3-requests".to_string());
    }
    out
}

/// `integration/realservers/<rel>`.
pub fn config(rel: &str) -> PathBuf {
    workspace_dir()
        .join("integration")
        .join("realservers")
        .join(rel)
}

/// A config template with `@DIR@` and `@LISTEN@` filled in, written to `dir/name`.
fn render(template: &str, dir: &Path, listen: &str, name: &str) -> Result<PathBuf> {
    let text = std::fs::read_to_string(config(template))?
        .replace("@DIR@", &dir.display().to_string())
        .replace("@LISTEN@", listen);
    let out = dir.join(name);
    std::fs::write(&out, text)?;
    Ok(out)
}

impl RealServers {
    /// Start each `(kind, port)` in `ns`, listening on every IPv4 address, and wait until
    /// each one accepts on `ip` (an address of `ns`).
    pub fn start(ns: &Netns, ip: IpAddr, specs: &[(Kind, u16)]) -> Result<RealServers> {
        let root = tempfile::Builder::new().prefix("l7t-real-").tempdir()?;
        // Apache's workers run as www-data and must reach their document root.
        set_mode(root.path(), 0o755)?;
        let mut servers = RealServers {
            running: Vec::new(),
            root,
        };
        for &(kind, port) in specs {
            let dir = servers.root.path().join(format!("{}-{port}", kind.name()));
            std::fs::create_dir_all(&dir)?;
            set_mode(&dir, 0o755)?;
            let cmd = command(ns, kind, port, &dir)?;
            let guard = ns.spawn(cmd)?;
            servers.running.push(Running {
                kind,
                port,
                dir: dir.clone(),
                guard,
            });
            if let Err(e) = ns.wait_tcp_listen(ip, port, Duration::from_secs(15)) {
                let stderr = std::fs::read_to_string(dir.join("stderr")).unwrap_or_default();
                let errlog = std::fs::read_to_string(dir.join("error.log")).unwrap_or_default();
                return Err(Error::Other(format!(
                    "{} on {port} did not start ({e}):\n{stderr}\n{errlog}",
                    kind.name()
                )));
            }
        }
        Ok(servers)
    }

    fn get(&self, port: u16) -> &Running {
        self.running
            .iter()
            .find(|r| r.port == port)
            .unwrap_or_else(|| panic!("no real server on port {port}"))
    }

    /// The server on `port`.
    pub fn kind(&self, port: u16) -> Kind {
        self.get(port).kind
    }

    /// Its log: access log, request lines or raw bytes received (lossy UTF-8).
    pub fn log(&self, port: u16) -> String {
        let r = self.get(port);
        let file = match r.kind {
            Kind::Apache | Kind::Nginx => "access.log",
            _ => "requests.log",
        };
        read_lossy(&r.dir.join(file))
    }

    /// Bytes the Python server received inside CONNECT tunnels.
    pub fn tunnel(&self, port: u16) -> String {
        read_lossy(&self.get(port).dir.join("tunnel.log"))
    }

    /// Its stderr and error log (for failure messages).
    pub fn diagnostics(&self, port: u16) -> String {
        let r = self.get(port);
        format!(
            "{}{}",
            read_lossy(&r.dir.join("stderr")),
            read_lossy(&r.dir.join("error.log"))
        )
    }

    /// True while every server is still running.
    pub fn all_running(&self) -> std::result::Result<(), String> {
        match self.running.iter().find(|r| !r.guard.is_running()) {
            Some(r) => Err(format!(
                "{} on {} exited:\n{}",
                r.kind.name(),
                r.port,
                self.diagnostics(r.port)
            )),
            None => Ok(()),
        }
    }
}

impl Drop for RealServers {
    fn drop(&mut self) {
        for r in &mut self.running {
            // SIGTERM first: Apache and nginx stop their own children.
            r.guard.stop(Duration::from_secs(3));
        }
    }
}

fn command(ns: &Netns, kind: Kind, port: u16, dir: &Path) -> Result<Command> {
    let listen = format!("0.0.0.0:{port}");
    let log = dir.join("requests.log");
    let mut cmd = match kind {
        Kind::Apache => {
            std::fs::create_dir_all(dir.join("htdocs"))?;
            set_mode(&dir.join("htdocs"), 0o755)?;
            std::fs::write(dir.join("htdocs/index.html"), "apache ok\n")?;
            let conf = render("apache/httpd.conf", dir, &listen, "httpd.conf")?;
            let mut c = ns.command(APACHE);
            c.arg("-f").arg(conf).arg("-DFOREGROUND");
            c
        }
        Kind::Nginx => {
            let conf = render("nginx/nginx.conf", dir, &listen, "nginx.conf")?;
            let mut c = ns.command(NGINX);
            c.arg("-p").arg(dir).arg("-c").arg(conf);
            c
        }
        Kind::Express => {
            let mut c = ns.command(NODE);
            c.arg(config("express/app.js"))
                .arg(port.to_string())
                .arg(&log)
                .env("NODE_PATH", express_modules());
            c
        }
        Kind::Python => {
            let mut c = ns.command(PYTHON);
            c.arg(config("python/httpserver.py"))
                .arg(port.to_string())
                .arg(&log)
                .arg(dir.join("tunnel.log"));
            c
        }
        Kind::Grpc => {
            let mut c = ns.command(PYTHON);
            c.arg(config("grpc/server.py"))
                .arg(port.to_string())
                .arg(&log);
            c
        }
        Kind::RecorderTwoResponses | Kind::RecorderH2c101 => {
            let mode = if kind == Kind::RecorderH2c101 {
                "h2c101"
            } else {
                "two"
            };
            let mut c = ns.command(PYTHON);
            c.arg(config("python/recorder.py"))
                .arg(port.to_string())
                .arg(&log)
                .arg(mode);
            c
        }
    };
    cmd.stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join("stderr"))?);
    Ok(cmd)
}

fn set_mode(path: &Path, mode: u32) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
    Ok(())
}

fn read_lossy(path: &Path) -> String {
    std::fs::read(path)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default()
}
