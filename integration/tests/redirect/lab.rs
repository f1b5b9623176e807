//! Private helpers of the redirect tests: two namespaces and a veth pair, servers and a
//! minimal transparent proxy living in a namespace, clients that report what the server saw.
//! Everything is torn down by Drop guards, also when an assertion fails.

use std::fs::File;
use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use nix::sched::{CloneFlags, setns};
use socket2::{Domain, Socket, Type};

pub const CLIENT_V4: &str = "10.77.0.1";
pub const POD_V4: &str = "10.77.0.2";
pub const CLIENT_V6: &str = "fd77::1";
pub const POD_V6: &str = "fd77::2";
/// The proxy's socket mark (`l7proxy run` default).
const PROXY_MARK: u32 = 0x539;
const INBOUND_PORT: u16 = 15006;
const OUTBOUND_PORT: u16 = 15001;
/// Long enough for a loaded 2-core machine, short enough for the fail-closed cases.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
const IO_TIMEOUT: Duration = Duration::from_secs(5);

/// `<workspace>/target/debug/l7proxy` (or under `CARGO_TARGET_DIR`).
pub static BIN: LazyLock<String> = LazyLock::new(|| {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"));
    target.join("debug/l7proxy").to_string_lossy().into_owned()
});

/// True when the test can run; skips (with a message) when not root, fails when `CI` is set.
pub fn need_root() -> bool {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let euid = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|ids| ids.split_whitespace().nth(1))
        .unwrap_or("unknown");
    if euid != "0" {
        assert!(
            std::env::var_os("CI").is_none(),
            "redirect end-to-end tests need root (network namespaces, iptables); CI is set"
        );
        eprintln!("skipping: redirect end-to-end tests need root (euid {euid})");
        return false;
    }
    assert!(
        std::path::Path::new(BIN.as_str()).exists(),
        "{} missing: build it first with `cargo build`",
        BIN.as_str()
    );
    true
}

pub fn sa(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn sh(args: &[&str]) -> String {
    let out = Command::new(args[0]).args(&args[1..]).output().unwrap();
    assert!(
        out.status.success(),
        "`{}` failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A named network namespace, deleted on drop.
pub struct Netns {
    pub name: String,
}

impl Netns {
    fn new(name: String) -> Netns {
        sh(&["ip", "netns", "add", &name]);
        let ns = Netns { name };
        ns.run(&["ip", "link", "set", "lo", "up"]);
        // No DAD: addresses are usable at once and routes do not change under the tests.
        for key in ["all", "default"] {
            ns.run(&[
                "sysctl",
                "-qw",
                &format!("net.ipv6.conf.{key}.accept_dad=0"),
            ]);
        }
        ns
    }

    /// Runs a command inside the namespace; panics with its stderr on failure.
    pub fn run(&self, args: &[&str]) -> String {
        let mut full = vec!["ip", "netns", "exec", &self.name];
        full.extend_from_slice(args);
        sh(&full)
    }

    /// Runs a command inside the namespace; its stdout, or its stderr when it fails.
    pub fn run_status(&self, args: &[&str]) -> Result<String, String> {
        let out = Command::new("ip")
            .args(["netns", "exec", &self.name])
            .args(args)
            .output()
            .unwrap();
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }

    /// Everything install may touch, with volatile parts (comments, counters) removed.
    pub fn snapshot(&self) -> String {
        self.snapshot_with("nft")
    }

    pub fn snapshot_with(&self, backend: &str) -> String {
        let mut s = String::new();
        let (save4, save6) = (
            format!("iptables-{backend}-save"),
            format!("ip6tables-{backend}-save"),
        );
        let commands: [&[&str]; 6] = [
            &[&save4],
            &[&save6],
            &["ip", "-4", "rule"],
            &["ip", "-6", "rule"],
            &["ip", "-4", "route", "show", "table", "all"],
            &["ip", "-6", "route", "show", "table", "all"],
        ];
        for cmd in commands {
            s.push_str(&format!("## {}\n", cmd.join(" ")));
            for line in self.run(cmd).lines().filter(|l| !l.starts_with('#')) {
                let line = match line.split_once(" [") {
                    Some((head, _)) if line.starts_with(':') => format!("{head} [counters]"),
                    _ => line.to_owned(),
                };
                s.push_str(&line);
                s.push('\n');
            }
        }
        s
    }

    /// Runs `f` on a thread that entered this namespace; sockets it creates live here.
    pub fn enter<T: Send>(&self, f: impl FnOnce() -> T + Send) -> T {
        std::thread::scope(|s| s.spawn(|| self.on_this_thread(f)).join().unwrap())
    }

    /// Spawns a thread inside this namespace (threads it spawns stay in it too).
    fn spawn(&self, f: impl FnOnce() + Send + 'static) -> JoinHandle<()> {
        let path = format!("/var/run/netns/{}", self.name);
        std::thread::spawn(move || {
            setns(File::open(path).unwrap(), CloneFlags::CLONE_NEWNET).unwrap();
            f()
        })
    }

    fn on_this_thread<T>(&self, f: impl FnOnce() -> T) -> T {
        let file = File::open(format!("/var/run/netns/{}", self.name)).unwrap();
        setns(file, CloneFlags::CLONE_NEWNET).unwrap();
        f()
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

/// Client and Pod namespaces joined by `c0` <-> `p0`, v4 and v6 on one subnet.
pub struct Lab {
    pub client: Netns,
    pub pod: Netns,
}

static LAB_SEQ: AtomicUsize = AtomicUsize::new(0);

impl Lab {
    pub fn new(tag: &str) -> Lab {
        let n = LAB_SEQ.fetch_add(1, Ordering::Relaxed);
        let prefix = format!("l7t-rd-{}-{n}{tag}", std::process::id());
        let lab = Lab {
            client: Netns::new(format!("{prefix}-c")),
            pod: Netns::new(format!("{prefix}-p")),
        };
        let (c, p) = (&lab.client.name, &lab.pod.name);
        sh(&[
            "ip", "link", "add", "c0", "netns", c, "type", "veth", "peer", "name", "p0", "netns", p,
        ]);
        for (ns, dev, v4, v6) in [
            (&lab.client, "c0", CLIENT_V4, CLIENT_V6),
            (&lab.pod, "p0", POD_V4, POD_V6),
        ] {
            ns.run(&["ip", "addr", "add", &format!("{v4}/24"), "dev", dev]);
            ns.run(&[
                "ip",
                "addr",
                "add",
                &format!("{v6}/64"),
                "dev",
                dev,
                "nodad",
            ]);
            ns.run(&["ip", "link", "set", dev, "up"]);
        }
        lab
    }

    /// `l7proxy redirect install` inside the Pod namespace.
    pub fn install(&self, extra: &[&str]) {
        let mut args = vec![BIN.as_str(), "redirect", "install"];
        args.extend_from_slice(extra);
        self.pod.run(&args);
    }
}

fn listener(addr: SocketAddr, transparent: bool) -> TcpListener {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None).unwrap();
    socket.set_reuse_address(true).unwrap();
    if addr.is_ipv6() {
        socket.set_only_v6(true).unwrap();
    }
    if transparent {
        match addr {
            SocketAddr::V4(_) => socket.set_ip_transparent_v4(true).unwrap(),
            SocketAddr::V6(_) => socket.set_ip_transparent_v6(true).unwrap(),
        }
        socket.set_mark(PROXY_MARK).unwrap();
    }
    socket.bind(&addr.into()).unwrap();
    socket.listen(64).unwrap();
    socket.set_nonblocking(true).unwrap();
    socket.into()
}

/// Polls nonblocking listeners until stopped; `handle` gets each accepted connection.
fn accept_loop(
    listeners: Vec<TcpListener>,
    stop: Arc<AtomicBool>,
    handle: impl Fn(TcpStream, SocketAddr, &TcpListener) + Send + 'static,
) {
    while !stop.load(Ordering::Relaxed) {
        let mut idle = true;
        for l in &listeners {
            match l.accept() {
                Ok((stream, peer)) => {
                    idle = false;
                    stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
                    handle(stream, peer, l);
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(e) => panic!("accept: {e}"),
            }
        }
        if idle {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

/// Answers each connection's first line with the peer address it saw, then closes.
pub struct Server {
    accepted: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Server {
    pub fn whoami(ns: &Netns, addrs: &[SocketAddr]) -> Server {
        let listeners = ns.enter(|| addrs.iter().map(|a| listener(*a, false)).collect());
        let (accepted, stop) = (
            Arc::new(AtomicUsize::new(0)),
            Arc::new(AtomicBool::new(false)),
        );
        let count = accepted.clone();
        let thread = std::thread::spawn({
            let stop = stop.clone();
            move || {
                accept_loop(listeners, stop, move |mut stream, peer, _| {
                    count.fetch_add(1, Ordering::SeqCst);
                    let mut line = String::new();
                    let _ = BufReader::new(&stream).read_line(&mut line);
                    let _ = writeln!(stream, "{}", peer.ip());
                })
            }
        });
        Server {
            accepted,
            stop,
            thread: Some(thread),
        }
    }

    pub fn accept_count(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// One connection accepted by the transparent proxy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accept {
    pub listener_port: u16,
    /// The accepted socket's local address: the connection's original destination.
    pub local: SocketAddr,
    pub peer: SocketAddr,
}

/// The data path as `l7proxy run` does it, minimally: transparent, marked listeners on
/// 127.0.0.1/::1 at 15006 and 15001; each connection is relayed to its original destination
/// over a marked socket that, for inbound, binds the client's address transparently.
pub struct Proxy {
    accepts: Arc<Mutex<Vec<Accept>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Proxy {
    pub fn start(pod: &Netns) -> Proxy {
        let accepts = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (log, flag) = (accepts.clone(), stop.clone());
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let thread = pod.spawn(move || {
            let mut listeners = Vec::new();
            for port in [INBOUND_PORT, OUTBOUND_PORT] {
                listeners.push(listener(sa(&format!("127.0.0.1:{port}")), true));
                listeners.push(listener(sa(&format!("[::1]:{port}")), true));
            }
            ready_tx.send(()).unwrap();
            accept_loop(listeners, flag, move |client, peer, l| {
                let accept = Accept {
                    listener_port: l.local_addr().unwrap().port(),
                    local: client.local_addr().unwrap(),
                    peer,
                };
                log.lock().unwrap().push(accept.clone());
                // Spawned from a thread inside the Pod namespace: stays there.
                std::thread::spawn(move || relay(client, &accept));
            })
        });
        ready_rx.recv().unwrap();
        Proxy {
            accepts,
            stop,
            thread: Some(thread),
        }
    }

    pub fn accepts(&self) -> Vec<Accept> {
        self.accepts.lock().unwrap().clone()
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn relay(client: TcpStream, accept: &Accept) {
    let dst = accept.local;
    let socket = Socket::new(Domain::for_address(dst), Type::STREAM, None).unwrap();
    socket.set_mark(PROXY_MARK).unwrap();
    if accept.listener_port == INBOUND_PORT {
        // Keep the client's address toward the app.
        match dst {
            SocketAddr::V4(_) => socket.set_ip_transparent_v4(true).unwrap(),
            SocketAddr::V6(_) => socket.set_ip_transparent_v6(true).unwrap(),
        }
        socket
            .bind(&SocketAddr::new(accept.peer.ip(), 0).into())
            .unwrap();
    }
    if socket
        .connect_timeout(&dst.into(), CONNECT_TIMEOUT)
        .is_err()
    {
        return;
    }
    let upstream: TcpStream = socket.into();
    upstream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    let (c2, u2) = (client.try_clone().unwrap(), upstream.try_clone().unwrap());
    let forward = std::thread::spawn(move || pipe(c2, u2));
    pipe(upstream, client);
    let _ = forward.join();
}

fn pipe(mut from: TcpStream, mut to: TcpStream) {
    let mut buf = [0u8; 4096];
    while let Ok(n @ 1..) = from.read(&mut buf) {
        if to.write_all(&buf[..n]).is_err() {
            break;
        }
    }
    let _ = to.shutdown(Shutdown::Write);
}

/// Connects from inside `ns`, sends a line and returns the server's answer (the address it
/// saw the connection come from).
pub fn exchange(ns: &Netns, dst: SocketAddr) -> std::io::Result<String> {
    ns.enter(|| {
        let mut stream = TcpStream::connect_timeout(&dst, CONNECT_TIMEOUT)?;
        stream.set_read_timeout(Some(IO_TIMEOUT))?;
        stream.write_all(b"hello\n")?;
        let mut answer = String::new();
        stream.read_to_string(&mut answer)?;
        if answer.is_empty() {
            return Err(std::io::Error::new(ErrorKind::UnexpectedEof, "no answer"));
        }
        Ok(answer.trim().to_owned())
    })
}
