//! End-to-end tests of `l7proxy redirect` on the real kernel: a client namespace and a Pod
//! namespace joined by a veth pair (IPv4 + IPv6), the capture rules installed in the Pod by
//! the real binary, and a minimal transparent proxy (IP_TRANSPARENT + SO_MARK listeners that
//! relay to the original destination) standing in for `l7proxy run`.
//!
//! Needs root, `iproute2` and `iptables` (both `iptables-nft` and `iptables-legacy`, as
//! Debian's `iptables` package ships them). Build the binary first: `cargo build`.

#[path = "redirect/lab.rs"]
mod lab;

use std::net::SocketAddr;

use lab::{BIN, CLIENT_V4, CLIENT_V6, Lab, POD_V4, POD_V6, Proxy, Server, exchange, need_root, sa};

/// Inbound connections (v4 and v6) reach the inbound listener with the Pod's address as local
/// address; the proxy's spoofed-source upstream reaches the app, whose replies route back to
/// the proxy; the upstream is not captured again (one accept per client connection).
#[test]
fn inbound_v4_v6_reach_the_listener_with_original_destination() {
    if !need_root() {
        return;
    }
    let lab = Lab::new("in");
    lab.install(&[]);
    let app = Server::whoami(&lab.pod, &[sa("0.0.0.0:80"), sa("[::]:80")]);
    let proxy = Proxy::start(&lab.pod);
    for dst in [sa(&format!("{POD_V4}:80")), sa(&format!("[{POD_V6}]:80"))] {
        for _ in 0..3 {
            let seen = exchange(&lab.client, dst).expect("captured connection is served");
            let client_ip = if dst.is_ipv4() { CLIENT_V4 } else { CLIENT_V6 };
            assert_eq!(seen, client_ip, "the app sees the client's own address");
        }
    }
    let accepts = proxy.accepts();
    assert_eq!(
        accepts.len(),
        6,
        "one accept per client connection: {accepts:#?}"
    );
    for a in &accepts {
        assert_eq!(a.listener_port, 15006, "{a:?}");
        assert_eq!(a.local.port(), 80, "original destination port kept: {a:?}");
        let (pod, client) = if a.local.is_ipv4() {
            (POD_V4, CLIENT_V4)
        } else {
            (POD_V6, CLIENT_V6)
        };
        assert_eq!(
            a.local.ip().to_string(),
            pod,
            "original destination kept: {a:?}"
        );
        assert_eq!(a.peer.ip().to_string(), client, "{a:?}");
    }
    assert_eq!(accepts.iter().filter(|a| a.local.is_ipv6()).count(), 3);
    assert_eq!(
        app.accept_count(),
        6,
        "each connection reached the app once"
    );
}

/// New outbound connections of the app (v4 and v6) reach the outbound listener with the
/// remote address as local address; the proxy's marked upstream leaves the Pod (one accept
/// per connection, no loop back into the listener).
#[test]
fn outbound_v4_v6_reach_the_listener_with_original_destination() {
    if !need_root() {
        return;
    }
    let lab = Lab::new("out");
    lab.install(&[]);
    let remote = Server::whoami(&lab.client, &[sa("0.0.0.0:8080"), sa("[::]:8080")]);
    let proxy = Proxy::start(&lab.pod);
    for dst in [
        sa(&format!("{CLIENT_V4}:8080")),
        sa(&format!("[{CLIENT_V6}]:8080")),
    ] {
        for _ in 0..3 {
            let seen = exchange(&lab.pod, dst).expect("captured connection is served");
            let pod_ip = if dst.is_ipv4() { POD_V4 } else { POD_V6 };
            assert_eq!(seen, pod_ip, "the remote sees the Pod's address");
        }
    }
    let accepts = proxy.accepts();
    assert_eq!(accepts.len(), 6, "one accept per connection: {accepts:#?}");
    for a in &accepts {
        assert_eq!(a.listener_port, 15001, "{a:?}");
        let expected: SocketAddr = if a.local.is_ipv4() {
            sa(&format!("{CLIENT_V4}:8080"))
        } else {
            sa(&format!("[{CLIENT_V6}]:8080"))
        };
        assert_eq!(a.local, expected, "original destination kept");
    }
    assert_eq!(
        remote.accept_count(),
        6,
        "each connection left the Pod once"
    );
}

/// The Pod calling localhost or its own Pod IP goes straight to the app.
#[test]
fn pod_calling_itself_is_not_captured() {
    if !need_root() {
        return;
    }
    let lab = Lab::new("self");
    lab.install(&[]);
    let app = Server::whoami(&lab.pod, &[sa("0.0.0.0:80"), sa("[::]:80")]);
    let proxy = Proxy::start(&lab.pod);
    for (dst, src) in [
        ("127.0.0.1:80", "127.0.0.1"),
        ("[::1]:80", "::1"),
        (&format!("{POD_V4}:80")[..], POD_V4),
        (&format!("[{POD_V6}]:80")[..], POD_V6),
    ] {
        let seen = exchange(&lab.pod, sa(dst)).expect("direct connection works");
        assert_eq!(seen, src, "{dst} reached the app directly");
    }
    assert_eq!(proxy.accepts(), vec![], "nothing was captured");
    assert_eq!(app.accept_count(), 4);
}

/// An excluded inbound port (and the metrics port) reaches the app directly, and its replies
/// go back to the client (they are not diverted by the outbound capture).
#[test]
fn excluded_inbound_ports_reach_the_app_both_ways() {
    if !need_root() {
        return;
    }
    let lab = Lab::new("excl");
    lab.install(&["--exclude-inbound-ports", "8081"]);
    let addrs = ["0.0.0.0:8081", "[::]:8081", "0.0.0.0:15020", "[::]:15020"].map(sa);
    let app = Server::whoami(&lab.pod, &addrs);
    let proxy = Proxy::start(&lab.pod);
    for port in [8081, 15020] {
        let v4 = exchange(&lab.client, sa(&format!("{POD_V4}:{port}")));
        assert_eq!(v4.expect("excluded port answers"), CLIENT_V4);
        let v6 = exchange(&lab.client, sa(&format!("[{POD_V6}]:{port}")));
        assert_eq!(v6.expect("excluded port answers"), CLIENT_V6);
    }
    assert_eq!(proxy.accepts(), vec![], "nothing was captured");
    assert_eq!(app.accept_count(), 4);
}

/// With no proxy listening, captured connections (inbound and outbound, v4 and v6) reach
/// neither the app nor the remote; once a listener is up the same connections work.
#[test]
fn captured_connections_fail_closed_without_a_listener() {
    if !need_root() {
        return;
    }
    let lab = Lab::new("closed");
    lab.install(&[]);
    let app = Server::whoami(&lab.pod, &[sa("0.0.0.0:80"), sa("[::]:80")]);
    let remote = Server::whoami(&lab.client, &[sa("0.0.0.0:8080"), sa("[::]:8080")]);
    let inbound = [format!("{POD_V4}:80"), format!("[{POD_V6}]:80")].map(|a| sa(&a));
    let outbound = [format!("{CLIENT_V4}:8080"), format!("[{CLIENT_V6}]:8080")].map(|a| sa(&a));
    for dst in inbound {
        let r = exchange(&lab.client, dst);
        assert!(r.is_err(), "inbound {dst} must not reach the app: {r:?}");
    }
    for dst in outbound {
        let r = exchange(&lab.pod, dst);
        assert!(r.is_err(), "outbound {dst} must not leave the Pod: {r:?}");
    }
    assert_eq!(app.accept_count(), 0, "the app saw no captured connection");
    assert_eq!(
        remote.accept_count(),
        0,
        "the remote saw no captured connection"
    );
    // Control: the failures above were the missing listener, not a broken lab.
    let proxy = Proxy::start(&lab.pod);
    for dst in inbound {
        exchange(&lab.client, dst).expect("served once the proxy listens");
    }
    for dst in outbound {
        exchange(&lab.pod, dst).expect("served once the proxy listens");
    }
    assert_eq!(proxy.accepts().len(), 4);
}

/// Installing twice leaves one copy; uninstalling leaves iptables, ip6tables, rules and
/// routes exactly as before (including other components' rules, which stay untouched).
#[test]
fn install_twice_then_uninstall_restores_previous_state() {
    if !need_root() {
        return;
    }
    let lab = Lab::new("idem");
    for cmd in [
        "iptables -t mangle -A PREROUTING -p udp --dport 9 -j RETURN",
        "ip6tables -t mangle -A OUTPUT -p udp --dport 9 -j RETURN",
        "ip -4 rule add fwmark 0x7 lookup 77 pref 1000",
        "ip -4 route add local 10.99.0.0/16 dev lo table 77",
    ] {
        lab.pod.run(&cmd.split(' ').collect::<Vec<_>>());
    }
    let before = lab.pod.snapshot();
    lab.install(&[]);
    let once = lab.pod.snapshot();
    lab.install(&[]);
    let twice = lab.pod.snapshot();
    assert_eq!(once, twice, "a second install changes nothing");
    for (save, chain) in [
        ("iptables-save", "L7PROXY_PREROUTING"),
        ("ip6tables-save", "L7PROXY_OUTPUT"),
    ] {
        let out = lab.pod.run(&[save, "-t", "mangle"]);
        assert_eq!(out.matches(&format!("-j {chain}")).count(), 1, "{out}");
    }
    for family in ["-4", "-6"] {
        let rules = lab.pod.run(&["ip", family, "rule"]);
        assert_eq!(rules.matches("lookup 133").count(), 1, "{rules}");
    }
    assert_ne!(before, once, "install changed something");
    lab.pod.run(&[BIN.as_str(), "redirect", "uninstall"]);
    assert_eq!(
        before,
        lab.pod.snapshot(),
        "uninstall restores the state before install"
    );
    lab.pod.run(&[BIN.as_str(), "redirect", "uninstall"]);
    assert_eq!(before, lab.pod.snapshot(), "a second uninstall is harmless");
}

/// The same capture works with `iptables-legacy`, and uninstall cleans it up.
#[test]
fn legacy_backend_captures_and_uninstalls() {
    if !need_root() {
        return;
    }
    let lab = Lab::new("legacy");
    lab.pod.run(&[
        "iptables-legacy",
        "-t",
        "mangle",
        "-A",
        "INPUT",
        "-p",
        "udp",
        "-j",
        "RETURN",
    ]);
    lab.pod.run(&[
        "ip6tables-legacy",
        "-t",
        "mangle",
        "-A",
        "INPUT",
        "-p",
        "udp",
        "-j",
        "RETURN",
    ]);
    let before = lab.pod.snapshot_with("legacy");
    lab.install(&["--backend", "legacy"]);
    let app = Server::whoami(&lab.pod, &[sa("0.0.0.0:80"), sa("[::]:80")]);
    let remote = Server::whoami(&lab.client, &[sa("0.0.0.0:8080")]);
    let proxy = Proxy::start(&lab.pod);
    let seen = exchange(&lab.client, sa(&format!("[{POD_V6}]:80"))).expect("inbound served");
    assert_eq!(seen, CLIENT_V6);
    let seen = exchange(&lab.pod, sa(&format!("{CLIENT_V4}:8080"))).expect("outbound served");
    assert_eq!(seen, POD_V4);
    let ports: Vec<u16> = proxy.accepts().iter().map(|a| a.listener_port).collect();
    assert_eq!(ports, vec![15006, 15001]);
    assert_eq!((app.accept_count(), remote.accept_count()), (1, 1));
    assert!(
        lab.pod
            .run(&["iptables-nft-save"])
            .lines()
            .all(|l| !l.contains("L7PROXY"))
    );
    lab.pod
        .run(&[BIN.as_str(), "redirect", "uninstall", "--backend", "legacy"]);
    assert_eq!(before, lab.pod.snapshot_with("legacy"));
}

/// Strict reverse-path filtering and `src_valid_mark=1` do not break either direction.
#[test]
fn capture_survives_strict_rp_filter_and_src_valid_mark() {
    if !need_root() {
        return;
    }
    let lab = Lab::new("rpf");
    for key in ["all", "default", "p0", "lo"] {
        lab.pod
            .run(&["sysctl", "-qw", &format!("net.ipv4.conf.{key}.rp_filter=1")]);
        lab.pod.run(&[
            "sysctl",
            "-qw",
            &format!("net.ipv4.conf.{key}.src_valid_mark=1"),
        ]);
    }
    lab.install(&[]);
    let app = Server::whoami(&lab.pod, &[sa("0.0.0.0:80")]);
    let remote = Server::whoami(&lab.client, &[sa("0.0.0.0:8080")]);
    let proxy = Proxy::start(&lab.pod);
    let seen = exchange(&lab.client, sa(&format!("{POD_V4}:80"))).expect("inbound served");
    assert_eq!(seen, CLIENT_V4);
    let seen = exchange(&lab.pod, sa(&format!("{CLIENT_V4}:8080"))).expect("outbound served");
    assert_eq!(seen, POD_V4);
    assert_eq!(proxy.accepts().len(), 2);
    assert_eq!((app.accept_count(), remote.accept_count()), (1, 1));
}

/// `render` names the backend the system's `iptables` is and prints both families and routes.
#[test]
fn render_names_the_backend() {
    if !std::path::Path::new(BIN.as_str()).exists() {
        panic!(
            "{} missing: build it first with `cargo build`",
            BIN.as_str()
        );
    }
    let out = std::process::Command::new(BIN.as_str())
        .args(["redirect", "render", "--ipv6", "on"])
        .output()
        .expect("run l7proxy");
    let text = String::from_utf8_lossy(&out.stdout);
    let version = std::process::Command::new("iptables")
        .arg("--version")
        .output();
    let expected = match version.map(|o| String::from_utf8_lossy(&o.stdout).into_owned()) {
        Ok(v) if v.contains("(nf_tables)") => "# backend: iptables-nft",
        Ok(v) if v.contains("(legacy)") => "# backend: iptables-legacy",
        _ => "# backend: unknown",
    };
    if !out.status.success() {
        // Only acceptable reason: this machine has no IPv6 or no ip6tables.
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("IPv6") || err.contains("ip6tables"), "{err}");
        return;
    }
    assert!(text.starts_with(expected), "{text}");
    assert!(
        text.contains("--on-ip 127.0.0.1") && text.contains("--on-ip ::1"),
        "{text}"
    );
    assert!(
        text.contains("ip -6 route replace local ::/0 dev lo table 133"),
        "{text}"
    );
}
