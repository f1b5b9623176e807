//! Install/uninstall lifecycle: idempotence, clean removal, both backends, IPv6 detection,
//! error messages, `render`.

use std::os::unix::fs::PermissionsExt;

use super::lab::{
    BIN, CLIENT_V4, CLIENT_V6, Lab, POD_V4, POD_V6, Proxy, Server, exchange, need_root, sa,
};

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
    // Re-installing with other options replaces the chains' content rather than adding to it.
    lab.install(&["--exclude-inbound-ports", "8081"]);
    let other = lab.pod.snapshot();
    assert!(other.contains("--dports 8081 -j RETURN"), "{other}");
    lab.install(&[]);
    assert_eq!(once, lab.pod.snapshot(), "back to the default rule set");
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

/// A failed IPv6 commit after the IPv4 one leaves neither family captured: install removes
/// the IPv4 chains and both families' routing again and reports the IPv6 error.
#[test]
fn a_failed_ipv6_install_leaves_no_ipv4_capture_behind() {
    if !need_root() {
        return;
    }
    let lab = Lab::new("half");
    // An ip6tables-restore that refuses every commit, first on PATH.
    let shadow = tempfile::tempdir().unwrap();
    let fake = shadow.path().join("ip6tables-restore");
    std::fs::write(
        &fake,
        "#!/bin/sh\ncat >/dev/null\necho 'ip6tables-restore: line 2 failed' >&2\nexit 1\n",
    )
    .unwrap();
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!(
        "PATH={}:{}",
        shadow.path().display(),
        std::env::var("PATH").unwrap()
    );
    let err = lab
        .pod
        .run_status(&[
            "env",
            &path,
            BIN.as_str(),
            "redirect",
            "install",
            "--ipv6",
            "on",
        ])
        .unwrap_err();
    assert!(
        err.contains("`ip6tables-restore --noflush --wait=10` failed"),
        "{err}"
    );
    assert!(err.contains("line 2 failed"), "{err}");
    let after = lab.pod.snapshot();
    for ours in ["L7PROXY", "lookup 133", "table 133"] {
        assert!(
            !after.contains(ours),
            "{ours} left behind:\n{after}\ninstall said:\n{err}"
        );
    }
}

/// The same capture works with `iptables-legacy` (also failing closed without a listener),
/// and uninstall cleans it up.
#[test]
fn legacy_backend_captures_and_uninstalls() {
    if !need_root() {
        return;
    }
    let lab = Lab::new("legacy");
    for cmd in ["iptables-legacy", "ip6tables-legacy"] {
        lab.pod.run(&[
            cmd, "-t", "mangle", "-A", "INPUT", "-p", "udp", "-j", "RETURN",
        ]);
    }
    let before = lab.pod.snapshot_with("legacy");
    lab.install(&["--backend", "legacy"]);
    let once = lab.pod.snapshot_with("legacy");
    lab.install(&["--backend", "legacy"]);
    assert_eq!(
        once,
        lab.pod.snapshot_with("legacy"),
        "legacy install is idempotent"
    );
    let app = Server::whoami(&lab.pod, &[sa("0.0.0.0:80"), sa("[::]:80")]);
    let remote = Server::whoami(&lab.client, &[sa("0.0.0.0:8080")]);
    let r = exchange(&lab.client, sa(&format!("{POD_V4}:80")));
    assert!(
        r.is_err(),
        "no listener: captured inbound must not reach the app: {r:?}"
    );
    assert_eq!(app.accept_count(), 0);
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

/// `--ipv6 auto` installs the IPv6 half only when the namespace has IPv6 (and `--ipv6 on`
/// refuses without it); uninstall still removes IPv6 rules when IPv6 was disabled after
/// install.
#[test]
fn ipv6_auto_follows_the_namespace() {
    if !need_root() {
        return;
    }
    let lab = Lab::new("nov6");
    let v6_installed = || {
        let rules = lab.pod.run(&["ip6tables-save"]).contains("L7PROXY");
        let rule = lab.pod.run(&["ip", "-6", "rule"]).contains("lookup 133");
        assert_eq!(rules, rule, "IPv6 rules and routing go together");
        rules
    };
    lab.install(&[]);
    assert!(v6_installed());
    lab.pod
        .run(&["sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1"]);
    lab.pod.run(&[BIN.as_str(), "redirect", "uninstall"]);
    assert!(
        !v6_installed(),
        "uninstall cleaned IPv6 although now disabled"
    );
    let err = lab
        .pod
        .run_status(&[BIN.as_str(), "redirect", "install", "--ipv6", "on"])
        .unwrap_err();
    assert!(
        err.contains("IPv6 capture requested but unavailable"),
        "{err}"
    );
    lab.install(&[]);
    assert!(
        lab.pod
            .run(&["iptables-save"])
            .contains("L7PROXY_PREROUTING")
    );
    assert!(!v6_installed(), "auto skipped IPv6");
}

/// Missing programs and missing privileges are reported plainly, before anything changes.
#[test]
fn missing_tools_and_privileges_fail_clearly_without_changes() {
    if !need_root() {
        return;
    }
    let lab = Lab::new("err");
    let before = lab.pod.snapshot();
    let only_ip = tempfile::tempdir().unwrap();
    let ip = lab.pod.run(&["sh", "-c", "command -v ip"]);
    std::os::unix::fs::symlink(ip.trim(), only_ip.path().join("ip")).unwrap();
    let path = format!("PATH={}", only_ip.path().display());
    let err = lab
        .pod
        .run_status(&["env", &path, BIN.as_str(), "redirect", "install"])
        .unwrap_err();
    assert!(
        err.contains("`iptables-restore` not found in PATH"),
        "{err}"
    );
    assert!(err.contains("install the `iptables` package"), "{err}");
    let err = lab
        .pod
        .run_status(&[
            "setpriv",
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--inh-caps=-all",
            BIN.as_str(),
            "redirect",
            "install",
        ])
        .unwrap_err();
    assert!(err.contains("not permitted"), "{err}");
    assert!(err.contains("CAP_NET_ADMIN"), "{err}");
    assert_eq!(
        before,
        lab.pod.snapshot(),
        "a failed install changes nothing"
    );
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
