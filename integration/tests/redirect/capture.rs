//! Capture behaviour: what is redirected to the proxy, what is not, and failing closed.

use std::net::SocketAddr;

use super::lab::{
    CLIENT_V4, CLIENT_V6, Lab, POD_V4, POD_V6, Proxy, Server, exchange, need_root, sa,
};

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

/// An excluded inbound port reaches the app directly, and its replies go back to the client
/// (they are not diverted by the outbound capture). The metrics port is not an exclusion:
/// it is captured for the proxy's own admin listener, so an app bound there is not reached.
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
    let v4 = exchange(&lab.client, sa(&format!("{POD_V4}:8081")));
    assert_eq!(v4.expect("excluded port answers"), CLIENT_V4);
    let v6 = exchange(&lab.client, sa(&format!("[{POD_V6}]:8081")));
    assert_eq!(v6.expect("excluded port answers"), CLIENT_V6);
    for dst in [format!("{POD_V4}:15020"), format!("[{POD_V6}]:15020")] {
        assert!(
            exchange(&lab.client, sa(&dst)).is_err(),
            "{dst} reached the app past the capture"
        );
    }
    assert_eq!(
        proxy.accepts(),
        vec![],
        "nothing was captured by the data listeners"
    );
    assert_eq!(app.accept_count(), 2);
}

/// Outbound exclusions (TCP/53, 169.254.169.254, the user's ports and CIDRs) leave the Pod
/// directly; a non-excluded destination next to them is captured.
#[test]
fn excluded_outbound_destinations_are_not_captured() {
    if !need_root() {
        return;
    }
    let lab = Lab::new("outx");
    lab.client
        .run(&["ip", "addr", "add", "169.254.169.254/32", "dev", "c0"]);
    lab.pod
        .run(&["ip", "route", "add", "169.254.169.254/32", "dev", "p0"]);
    lab.install(&[
        "--exclude-outbound-ports",
        "8081",
        "--exclude-outbound-cidrs",
        CLIENT_V6,
    ]);
    let addrs = [
        "0.0.0.0:53",
        "0.0.0.0:80",
        "0.0.0.0:8080",
        "0.0.0.0:8081",
        "[::]:8080",
    ];
    let remote = Server::whoami(&lab.client, &addrs.map(sa));
    let proxy = Proxy::start(&lab.pod);
    for dst in [
        format!("{CLIENT_V4}:53"),
        format!("{CLIENT_V4}:8081"),
        "169.254.169.254:80".to_owned(),
        format!("[{CLIENT_V6}]:8080"),
    ] {
        let seen = exchange(&lab.pod, sa(&dst)).expect("excluded destination answers");
        assert!(seen == POD_V4 || seen == POD_V6, "{dst}: {seen}");
        assert_eq!(proxy.accepts(), vec![], "{dst} was captured");
    }
    exchange(&lab.pod, sa(&format!("{CLIENT_V4}:8080"))).expect("captured and served");
    assert_eq!(
        proxy.accepts().len(),
        1,
        "the non-excluded destination was captured"
    );
    assert_eq!(remote.accept_count(), 5);
}

/// A socket of the proxy's UID that lacks the mark is still not captured (the backstop);
/// the same connection from another UID is.
#[test]
fn proxy_uid_is_not_captured() {
    if !need_root() {
        return;
    }
    let lab = Lab::new("uid");
    lab.install(&[]);
    let remote = Server::whoami(&lab.client, &[sa("0.0.0.0:8080")]);
    let proxy = Proxy::start(&lab.pod);
    let script = format!("exec 3<>/dev/tcp/{CLIENT_V4}/8080 && echo hello >&3 && cat <&3");
    for (uid, captured) in [("1337", 0), ("1338", 1)] {
        let ids = [format!("--reuid={uid}"), format!("--regid={uid}")];
        let seen = lab.pod.run(&[
            "timeout",
            "10",
            "setpriv",
            &ids[0],
            &ids[1],
            "--clear-groups",
            "bash",
            "-c",
            &script,
        ]);
        assert_eq!(seen.trim(), POD_V4, "uid {uid}");
        assert_eq!(proxy.accepts().len(), captured, "uid {uid}");
    }
    assert_eq!(remote.accept_count(), 2);
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
