//! The benchmark network: a client namespace and a workload namespace joined by one veth
//! pair (no bridge, so the path adds as little as possible), the origin server pinned to the
//! load generator's CPU, and a working directory for manifests, configs and logs.
//!
//! Dropping a [`Topology`] kills its processes, deletes both namespaces, the client's
//! `/etc/netns/<name>` overlay and the working directory.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use crate::error::{Error, Result};
use crate::netns::Netns;
use crate::process::ChildGuard;

/// The workload (protected Pod) address.
pub const WEB_IP: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 10);
/// The client's primary address.
pub const CLIENT_IP: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 21);
/// Extra client addresses, so 10,000 spoofed-source upstreams fit in the proxies' source
/// port range (61000-65535 per client address).
pub const EXTRA_CLIENT_IPS: [Ipv4Addr; 4] = [
    Ipv4Addr::new(10, 77, 0, 31),
    Ipv4Addr::new(10, 77, 0, 32),
    Ipv4Addr::new(10, 77, 0, 33),
    Ipv4Addr::new(10, 77, 0, 34),
];
/// Name the client uses for the workload (HTTP Host and TLS SNI).
pub const WEB_HOST: &str = "web.bench";
pub const HTTP_PORT: u16 = 80;
pub const HTTPS_PORT: u16 = 443;
pub const BULK_PORT: u16 = 9000;
/// HTTP/2 cleartext (prior knowledge) on the origin.
pub const H2_PORT: u16 = 8080;
/// The origin server's stats port (loopback of the workload namespace, never captured).
pub const STATS_PORT: u16 = 9099;

/// CPUs: the proxy gets one, the load generator and the origin server share the other.
#[derive(Clone, Copy, Debug)]
pub struct Cpus {
    pub load: usize,
    pub proxy: usize,
}

/// Removes `/etc/netns/<ns>` (the files `ip netns exec` mounts over `/etc`).
struct EtcOverlay(PathBuf);

impl Drop for EtcOverlay {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The running network. Field order is drop order.
pub struct Topology {
    server: Option<ChildGuard>,
    _etc: EtcOverlay,
    pub client: Netns,
    pub web: Netns,
    dir: tempfile::TempDir,
    pub cpus: Cpus,
}

impl Topology {
    /// Build the namespaces and start the origin server (`self_exe serve ...`).
    pub fn new(prefix: &str, cpus: Cpus, self_exe: &Path) -> Result<Topology> {
        let client = Netns::new(prefix)?;
        let web = Netns::new(prefix)?;
        let etc = PathBuf::from("/etc/netns").join(client.name());
        std::fs::create_dir_all(&etc)?;
        let etc = EtcOverlay(etc);
        std::fs::write(
            etc.0.join("hosts"),
            format!("127.0.0.1 localhost\n{WEB_IP} {WEB_HOST}\n"),
        )?;
        let dir = tempfile::Builder::new()
            .prefix(&format!("{prefix}-{}-", std::process::id()))
            .tempdir()?;
        // HAProxy runs unprivileged and must read its configuration.
        set_mode(dir.path(), 0o755)?;
        let mut topo = Topology {
            server: None,
            _etc: etc,
            client,
            web,
            dir,
            cpus,
        };
        topo.wire()?;
        topo.start_server(self_exe)?;
        Ok(topo)
    }

    fn wire(&self) -> Result<()> {
        self.web.veth("eth0", &self.client, "eth0")?;
        self.web.add_addr("eth0", &format!("{WEB_IP}/24"))?;
        self.client.add_addr("eth0", &format!("{CLIENT_IP}/24"))?;
        for ip in EXTRA_CLIENT_IPS {
            self.client.add_addr("eth0", &format!("{ip}/24"))?;
        }
        // HAProxy's spoofed-source upstreams take kernel-chosen ports; keep them out of the
        // client's range (32768-60999) or their 4-tuples collide with live client
        // connections. l7proxy picks its own ports from the same range.
        self.web
            .sysctl("net/ipv4/ip_local_port_range", "61000 65535")?;
        for ns in [&self.web, &self.client] {
            ns.sysctl("net/core/somaxconn", "65535")?;
            ns.sysctl("net/ipv4/tcp_max_syn_backlog", "65535")?;
        }
        self.client.sysctl("net/ipv4/tcp_tw_reuse", "1")?;
        Ok(())
    }

    fn start_server(&mut self, self_exe: &Path) -> Result<()> {
        let mut cmd = self.web.command("taskset");
        cmd.arg("-c")
            .arg(self.cpus.load.to_string())
            .arg(self_exe)
            .arg("serve")
            .args(["--http", &format!("0.0.0.0:{HTTP_PORT}")])
            .args(["--https", &format!("0.0.0.0:{HTTPS_PORT}")])
            .args(["--h2", &format!("0.0.0.0:{H2_PORT}")])
            .args(["--bulk", &format!("0.0.0.0:{BULK_PORT}")])
            .args(["--stats", &format!("127.0.0.1:{STATS_PORT}")])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(self.path("server.stderr"))?);
        self.server = Some(self.web.spawn(cmd)?);
        self.web
            .wait_tcp_listen(IpAddr::V4(WEB_IP), BULK_PORT, Duration::from_secs(10))
            .map_err(|e| Error::Other(format!("origin server not up: {e}")))
    }

    /// Plain-HTTP connections the origin server has accepted so far: the difference over a
    /// step is how many upstream connections the step's requests took.
    pub fn http_accepted(&self) -> Result<u64> {
        let text = self.web.run_in(|| -> std::io::Result<String> {
            use std::io::Read;
            let addr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), STATS_PORT);
            let mut s = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
            s.set_read_timeout(Some(Duration::from_secs(2)))?;
            let mut text = String::new();
            s.read_to_string(&mut text)?;
            Ok(text)
        })??;
        text.trim()
            .parse()
            .map_err(|_| Error::Other(format!("origin server stats: {text:?}")))
    }

    /// A file in the working directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Address of a port on the workload.
    pub fn web_addr(port: u16) -> SocketAddr {
        SocketAddr::new(IpAddr::V4(WEB_IP), port)
    }
}

/// chmod.
pub fn set_mode(path: &Path, mode: u32) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
    Ok(())
}

/// Resident set size of a process, in bytes (`VmRSS`).
pub fn rss_bytes(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// CPU time (user + system) a process has used, in seconds.
pub fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    let hz = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .ok()
        .flatten()
        .unwrap_or(100) as f64;
    Some((utime + stime) / hz)
}

/// Busy and total time of one CPU since boot, in clock ticks, from `/proc/stat` (busy is
/// everything but idle and iowait). Two readings give the CPU's utilisation between them.
pub fn cpu_ticks(cpu: usize) -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    parse_cpu_ticks(&stat, cpu)
}

fn parse_cpu_ticks(stat: &str, cpu: usize) -> Option<(u64, u64)> {
    let name = format!("cpu{cpu}");
    let line = stat
        .lines()
        .find(|l| l.split_whitespace().next() == Some(name.as_str()))?;
    let ticks: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .map(|f| f.parse().ok())
        .collect::<Option<_>>()?;
    // user nice system idle iowait irq softirq steal guest guest_nice; guest time is
    // already counted in user.
    let total: u64 = ticks.iter().take(8).sum();
    let idle = ticks.get(3)? + ticks.get(4).copied().unwrap_or(0);
    Some((total - idle, total))
}

/// Percent of `before`..`after` (from [`cpu_ticks`]) the CPU was busy.
pub fn busy_pct(before: (u64, u64), after: (u64, u64)) -> Option<f64> {
    let total = after.1.checked_sub(before.1)?;
    (total > 0).then(|| (after.0.saturating_sub(before.0)) as f64 * 100.0 / total as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_ticks_reads_the_named_cpu() {
        let stat = "cpu  10 0 10 100 0 0 0 0 0 0\n\
                    cpu0 5 1 4 50 2 1 1 3 7 0\n\
                    cpu1 5 0 6 50 0 0 0 0 0 0\n";
        assert_eq!(parse_cpu_ticks(stat, 0), Some((15, 67)));
        assert_eq!(parse_cpu_ticks(stat, 1), Some((11, 61)));
        assert_eq!(parse_cpu_ticks(stat, 2), None);
        assert_eq!(busy_pct((15, 67), (45, 127)), Some(50.0));
        assert_eq!(busy_pct((15, 67), (15, 67)), None);
    }
}
