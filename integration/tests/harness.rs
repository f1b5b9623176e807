//! The netns harness itself: namespaces, veths, addresses, in-namespace threads and
//! processes, and that everything is gone after drop.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::Stdio;
use std::time::{Duration, Instant};

use l7proxy_integration::{Netns, require_root};

const PREFIX: &str = "l7t-lab";

fn pair() -> (Netns, Netns) {
    let a = Netns::new(PREFIX).unwrap();
    let b = Netns::new(PREFIX).unwrap();
    a.veth("eth0", &b, "eth0").unwrap();
    a.add_addr("eth0", "10.77.9.1/24").unwrap();
    b.add_addr("eth0", "10.77.9.2/24").unwrap();
    a.add_addr("eth0", "fd77:9::1/64").unwrap();
    b.add_addr("eth0", "fd77:9::2/64").unwrap();
    (a, b)
}

#[test]
fn veth_pair_carries_tcp_over_v4_and_v6() {
    if !require_root() {
        return;
    }
    let (a, b) = pair();
    for (listen, dial) in [
        ("10.77.9.2:7000", "10.77.9.2:7000"),
        ("[fd77:9::2]:7000", "[fd77:9::2]:7000"),
    ] {
        let listener = b.run_in(|| TcpListener::bind(listen)).unwrap().unwrap();
        let server = std::thread::spawn(move || {
            let (mut s, peer) = listener.accept().unwrap();
            let mut buf = [0u8; 5];
            s.read_exact(&mut buf).unwrap();
            s.write_all(&buf).unwrap();
            peer.ip()
        });
        let echoed = a
            .run_in(|| {
                let mut c = TcpStream::connect(dial).unwrap();
                c.write_all(b"hello").unwrap();
                let mut buf = [0u8; 5];
                c.read_exact(&mut buf).unwrap();
                buf
            })
            .unwrap();
        assert_eq!(&echoed, b"hello");
        let peer = server.join().unwrap();
        assert!(peer.to_string().starts_with(if listen.starts_with('[') {
            "fd77:9::1"
        } else {
            "10.77.9.1"
        }));
    }
}

#[test]
fn root_namespace_cannot_see_lab_addresses() {
    if !require_root() {
        return;
    }
    let (a, _b) = pair();
    let out = a.exec("ip", &["-br", "addr"]).unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("10.77.9.1"));
    let root = std::process::Command::new("ip")
        .args(["-br", "addr"])
        .output()
        .unwrap();
    assert!(!String::from_utf8_lossy(&root.stdout).contains("10.77.9.1"));
}

#[test]
fn sysctl_is_per_namespace() {
    if !require_root() {
        return;
    }
    let a = Netns::new(PREFIX).unwrap();
    a.sysctl("net.ipv4.ip_forward", "1").unwrap();
    let inside = a.exec("cat", &["/proc/sys/net/ipv4/ip_forward"]).unwrap();
    assert_eq!(String::from_utf8_lossy(&inside.stdout).trim(), "1");
    let b = Netns::new(PREFIX).unwrap();
    let other = b.exec("cat", &["/proc/sys/net/ipv4/ip_forward"]).unwrap();
    assert_eq!(String::from_utf8_lossy(&other.stdout).trim(), "0");
}

#[test]
fn drop_kills_processes_and_deletes_namespace() {
    if !require_root() {
        return;
    }
    let ns = Netns::new(PREFIX).unwrap();
    let name = ns.name().to_string();
    let mut cmd = ns.command("sleep");
    cmd.arg("600").stdout(Stdio::null());
    let child = ns.spawn(cmd).unwrap();
    let pid = child.id();
    // A grandchild the harness never saw: found through the namespace's PID list.
    let mut sh = ns.command("sh");
    sh.args(["-c", "sleep 600 & sleep 600"]);
    let guard = ns.spawn(sh).unwrap();
    std::mem::forget(guard);
    let deadline = Instant::now() + Duration::from_secs(5);
    while ns.pids().len() < 3 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(ns.pids().len() >= 3, "pids: {:?}", ns.pids());
    let all = ns.pids();
    drop(child);
    drop(ns);
    for p in all.iter().chain([&pid]) {
        let alive = || {
            let stat = std::fs::read_to_string(format!("/proc/{p}/stat")).unwrap_or_default();
            !(stat.is_empty() || stat.contains(") Z "))
        };
        let deadline = Instant::now() + Duration::from_secs(3);
        while alive() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(!alive(), "process {p} survived");
    }
    let list = std::process::Command::new("ip")
        .args(["netns", "list"])
        .output()
        .unwrap();
    assert!(!String::from_utf8_lossy(&list.stdout).contains(&format!("{name} ")));
    assert!(!std::path::Path::new("/run/netns").join(&name).exists());
}

#[test]
fn block_on_runs_tokio_inside_namespace() {
    if !require_root() {
        return;
    }
    let (a, b) = pair();
    let listener = b
        .block_on(|| async {
            tokio::net::TcpListener::bind("10.77.9.2:7001")
                .await
                .map(|l| l.into_std().unwrap())
        })
        .unwrap()
        .unwrap();
    listener.set_nonblocking(false).unwrap();
    let t = std::thread::spawn(move || listener.accept().map(|(_, p)| p));
    a.block_on(|| async {
        tokio::net::TcpStream::connect("10.77.9.2:7001")
            .await
            .unwrap()
    })
    .unwrap();
    assert_eq!(t.join().unwrap().unwrap().ip().to_string(), "10.77.9.1");
}

/// Re-runs one test of this binary as `nobody`: it must skip with a message, and fail when
/// `CI` is set (a skipped suite must never look green in CI).
#[test]
fn non_root_skips_but_fails_under_ci() {
    if !require_root() {
        return;
    }
    let exe = std::env::current_exe().unwrap();
    let run = |ci: bool| {
        let mut cmd = std::process::Command::new("setpriv");
        cmd.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(&exe)
            .args(["--exact", "sysctl_is_per_namespace", "--nocapture"])
            .env_remove("CI");
        if ci {
            cmd.env("CI", "1");
        }
        let out = cmd.output().unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), text)
    };
    let (ok, text) = run(false);
    assert!(ok && text.contains("SKIPPED"), "without CI: {text}");
    let (ok, text) = run(true);
    assert!(!ok && text.contains("CI is set"), "with CI: {text}");
}
