//! Network-namespace guard for end-to-end tests.
//!
//! Every test builds its own small network out of namespaces it names uniquely
//! (`<prefix>-<pid>-<counter>`), because several test binaries run on the same machine at
//! the same time. Veth pairs are created *inside* the namespaces (never in the root
//! namespace), so interface names can repeat freely across tests. Dropping a [`Netns`]
//! kills every process living in it and deletes it, also when the test panics.

use std::ffi::OsStr;
use std::fs::File;
use std::net::IpAddr;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use nix::sched::{CloneFlags, setns};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::error::{Error, Result};
use crate::process::{ChildGuard, describe};

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A network namespace owned by the current test; deleted on drop.
#[derive(Debug)]
pub struct Netns {
    name: String,
    /// PIDs of processes started with [`Netns::spawn`]; killed on drop even if the
    /// [`ChildGuard`] was leaked on purpose.
    spawned: Mutex<Vec<u32>>,
}

impl Netns {
    /// Create `<prefix>-<pid>-<n>` with `lo` up.
    pub fn new(prefix: &str) -> Result<Netns> {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let name = format!("{prefix}-{}-{n}", std::process::id());
        run_checked(Command::new("ip").args(["netns", "add", &name]))?;
        let ns = Netns {
            name,
            spawned: Mutex::new(Vec::new()),
        };
        ns.ip(&["link", "set", "lo", "up"])?;
        Ok(ns)
    }

    /// The namespace's name as `ip netns` knows it.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// `/run/netns/<name>`, the bind mount that keeps the namespace alive.
    pub fn path(&self) -> PathBuf {
        PathBuf::from("/run/netns").join(&self.name)
    }

    /// Run `ip -n <ns> ARGS...` and fail with its stderr when it fails.
    pub fn ip(&self, args: &[&str]) -> Result<Output> {
        run_checked(Command::new("ip").arg("-n").arg(&self.name).args(args))
    }

    /// A `Command` that runs `program` inside the namespace (`ip netns exec`).
    pub fn command(&self, program: impl AsRef<OsStr>) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.name]).arg(program);
        cmd
    }

    /// Run a program to completion inside the namespace; returns its output whatever its
    /// exit status (callers judge the status: a failing curl is a probe result).
    pub fn exec<S: AsRef<OsStr>>(&self, program: &str, args: &[S]) -> Result<Output> {
        let mut cmd = self.command(program);
        cmd.args(args);
        cmd.output().map_err(|e| Error::spawn(&cmd, e))
    }

    /// Like [`Netns::exec`] but an unsuccessful exit status is an error.
    pub fn exec_checked<S: AsRef<OsStr>>(&self, program: &str, args: &[S]) -> Result<Output> {
        let mut cmd = self.command(program);
        cmd.args(args);
        run_checked(&mut cmd)
    }

    /// Start a long-running process built with [`Netns::command`] (set its stdio/env
    /// first). `ip netns exec` execs the program in place, so the child's PID is the
    /// program's PID: killing it by PID is exact. The PID is also remembered by the
    /// namespace, which kills it on drop.
    pub fn spawn(&self, mut cmd: Command) -> Result<ChildGuard> {
        let child = cmd.spawn().map_err(|e| Error::spawn(&cmd, e))?;
        if let Ok(mut pids) = self.spawned.lock() {
            pids.push(child.id());
        }
        Ok(ChildGuard::new(child, describe(&cmd)))
    }

    /// Run `f` on a fresh OS thread that has entered this namespace, and wait for it.
    /// Sockets created by `f` (and by threads it starts) live in the namespace.
    pub fn run_in<F, R>(&self, f: F) -> Result<R>
    where
        F: FnOnce() -> R + Send,
        R: Send,
    {
        let file = File::open(self.path())?;
        std::thread::scope(|s| {
            s.spawn(move || -> Result<R> {
                setns(&file, CloneFlags::CLONE_NEWNET)?;
                Ok(f())
            })
            .join()
            .map_err(|_| Error::Panicked(self.name.clone()))?
        })
    }

    /// Start `f` on a detached OS thread inside the namespace (for in-process servers).
    pub fn thread<F, R>(&self, f: F) -> Result<JoinHandle<Result<R>>>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        let file = File::open(self.path())?;
        Ok(std::thread::spawn(move || {
            setns(&file, CloneFlags::CLONE_NEWNET)?;
            Ok(f())
        }))
    }

    /// Run a future to completion on a current-thread tokio runtime inside the namespace.
    pub fn block_on<F, Fut, R>(&self, make: F) -> Result<R>
    where
        F: FnOnce() -> Fut + Send,
        Fut: std::future::Future<Output = R>,
        R: Send,
    {
        self.run_in(|| -> Result<R> {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            Ok(rt.block_on(make()))
        })?
    }

    /// Write a sysctl of this namespace, e.g. `net/ipv6/conf/all/disable_ipv6`. `/proc/sys/net`
    /// resolves to the network namespace of the task that opens it, so a thread inside the
    /// namespace sees (and writes) the namespace's own values.
    pub fn sysctl(&self, key: &str, value: &str) -> Result<()> {
        let path = PathBuf::from("/proc/sys").join(key.replace('.', "/"));
        let value = value.to_string();
        self.run_in(move || std::fs::write(&path, value))??;
        Ok(())
    }

    /// Create a veth pair: `local` in this namespace, `peer` in `other`, both up. Neither
    /// end ever exists in the root namespace.
    pub fn veth(&self, local: &str, other: &Netns, peer: &str) -> Result<()> {
        self.ip(&[
            "link",
            "add",
            local,
            "type",
            "veth",
            "peer",
            "name",
            peer,
            "netns",
            &other.name,
        ])?;
        self.ip(&["link", "set", local, "up"])?;
        other.ip(&["link", "set", peer, "up"])?;
        Ok(())
    }

    /// Add an address (`10.77.0.2/24`, `fd77::2/64`) to `dev`. IPv6 addresses get `nodad` so
    /// they are usable at once instead of after duplicate address detection.
    pub fn add_addr(&self, dev: &str, cidr: &str) -> Result<()> {
        if cidr.contains(':') {
            self.ip(&["-6", "addr", "add", cidr, "dev", dev, "nodad"])?;
        } else {
            self.ip(&["addr", "add", cidr, "dev", dev])?;
        }
        Ok(())
    }

    /// Add a route, e.g. `default via 10.77.0.1`.
    pub fn add_route(&self, args: &[&str]) -> Result<()> {
        let v6 = args.iter().any(|a| a.contains(':'));
        let mut full = vec![if v6 { "-6" } else { "-4" }, "route", "add"];
        full.extend_from_slice(args);
        self.ip(&full)?;
        Ok(())
    }

    /// PIDs of every process whose network namespace is this one.
    pub fn pids(&self) -> Vec<u32> {
        Command::new("ip")
            .args(["netns", "pids", &self.name])
            .output()
            .map(|o| {
                String::from_utf8_lossy(&o.stdout)
                    .split_whitespace()
                    .filter_map(|p| p.parse().ok())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Wait until something listens on TCP `addr:port` inside the namespace.
    pub fn wait_tcp_listen(&self, ip: IpAddr, port: u16, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        let want = std::net::SocketAddr::new(ip, port);
        loop {
            let ok = self.run_in(move || {
                std::net::TcpStream::connect_timeout(&want, Duration::from_millis(200)).is_ok()
            })?;
            if ok {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(Error::Timeout(format!(
                    "nothing listens on {want} in {}",
                    self.name
                )));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn kill_all(&self) {
        let me = std::process::id();
        let mut pids = self.spawned.lock().map(|p| p.clone()).unwrap_or_default();
        pids.extend(self.pids());
        for pid in pids.into_iter().filter(|&p| p != me) {
            let _ = kill(Pid::from_raw(pid as i32), Signal::SIGKILL);
        }
        // Reap our own children so no zombie keeps the namespace's PID list busy.
        if let Ok(pids) = self.spawned.lock() {
            for &pid in pids.iter() {
                let _ = nix::sys::wait::waitpid(
                    Pid::from_raw(pid as i32),
                    Some(nix::sys::wait::WaitPidFlag::WNOHANG),
                );
            }
        }
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        self.kill_all();
        // SIGKILL is delivered asynchronously: wait until the namespace has no process left
        // (and catch any that was being forked while we killed).
        let deadline = Instant::now() + Duration::from_secs(3);
        while !self.pids().is_empty() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
            self.kill_all();
        }
        for _ in 0..50 {
            let ok = Command::new("ip")
                .args(["netns", "del", &self.name])
                .stderr(Stdio::null())
                .status()
                .map(|s| s.success())
                .unwrap_or(false);
            if ok || !self.path().exists() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        eprintln!("warning: could not delete network namespace {}", self.name);
    }
}

/// Run a command, turning a non-zero exit into an error carrying its stderr.
pub fn run_checked(cmd: &mut Command) -> Result<Output> {
    let out = cmd.output().map_err(|e| Error::spawn(cmd, e))?;
    if out.status.success() {
        Ok(out)
    } else {
        Err(Error::Command {
            cmd: describe(cmd),
            status: out.status.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        })
    }
}
